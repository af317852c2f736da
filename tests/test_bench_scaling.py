"""The scaling model of `bench --project` (bench/scaling.py, issue 21): its limits, hand-solved cases, the halo
bytes against what the real exchange sends, the validation fit, and the command line."""
import json
import math

import pytest
from mpi4py import MPI

import gaugenet as gn
from gaugenet.bench import scaling as S
from gaugenet.cli.main import main

COMM = MPI.COMM_WORLD


def flat_profile(ns_per_site=20.0, fgmres_ns=None, precision="double"):
    """A profile whose time per site does not depend on the volume (the hand-solvable case)."""
    return S.Profile(operator=[(16, ns_per_site * 1e-9)], cores=2, precision=precision,
                     fgmres=None if fgmres_ns is None else [(16, fgmres_ns * 1e-9)], source="synthetic")


def test_halo_bytes_per_face_site():
    assert S.halo_bytes_per_face_site(3, "double") == 192   # 4 spins x 3 colours x 16 bytes
    assert S.halo_bytes_per_face_site(3, "single") == 96
    assert S.halo_bytes_per_face_site(2, "double", nvec=3) == 4 * 2 * 3 * 16
    assert S.halo_bytes_per_face_site(3, "double", spin_projected=True) == 96
    with pytest.raises(ValueError, match="precision"):
        S.halo_bytes_per_face_site(3, "half")


def test_one_node_is_compute_only():
    prof, net = flat_profile(), S.Network()
    dec = S.decompose((32, 32, 32, 64), 1)
    assert dec.node_grid == (1, 1, 1, 1) and S.exchange_traffic(dec, 192) == (0, 0, 0, 0)
    for kind in ("operator", "fgmres"):
        p = S.point(dec, prof, net, kind)
        assert p["comm_s"] == 0.0 and p["time_s"] == p["comp_s"] == p["time_overlap_s"]
        assert p["comp_s"] == pytest.approx(20e-9 * 32 ** 3 * 64)


def test_zero_boundary_sends_nothing():
    prof, net = flat_profile(), S.Network()
    for n in (2, 16, 1024):
        dec = S.decompose((64, 64, 64, 128), n)
        normal = S.point(dec, prof, net, "operator", "normal")
        zb = S.point(dec, prof, net, "operator", "zero_boundary")
        assert normal["comm_s"] > 0
        assert zb["comm_s"] == 0.0 and zb["time_s"] == zb["comp_s"] == normal["comp_s"]
        assert zb["messages_off_node"] == zb["bytes_off_node"] == zb["exchanges"] == 0
    # an FGMRES iteration with a zero-boundary preconditioner still exchanges the outer operator's halo
    mg = S.Profile(operator=[(16, 2e-8)], cores=2, multigrid={"seconds_per_site": 1.2e-7, "sites": 16,
                                                               "exchanges": 6, "note": "synthetic"})
    dec = S.decompose((32, 32, 32, 64), 64)
    a = S.point(dec, mg, net, "fgmres_multigrid", "normal")
    b = S.point(dec, mg, net, "fgmres_multigrid", "zero_boundary")
    assert a["halo_s"] == pytest.approx(6 * b["halo_s"]) and b["halo_s"] > 0
    assert a["comp_s"] == pytest.approx(1.2e-7 * 32 ** 3 * 64 / 64)


def test_traffic_by_hand_two_ranks_per_node():
    # 8^4 on 2 nodes: node grid splits t (ties go to t), each node's 8.8.8.4 over 2 ranks splits z
    dec = S.decompose((8, 8, 8, 8), 2, ranks_per_node=2)
    assert dec.node_grid == (1, 1, 1, 2) and dec.rank_grid_in_node == (1, 1, 2, 1)
    assert dec.rank_local == (8, 8, 4, 4)
    area = 8 * 8 * 4 * 4 // 4   # a face of the 8.8.4.4 block in z or t
    # t: both ranks send both faces off the node; z: both ranks send both faces to each other
    assert S.exchange_traffic(dec, 192) == (4, 4 * area * 192, 4, 4 * area * 192)
    net = S.Network(bandwidth_gbs=2.0, latency_us=3.0, ranks_per_node=2, shm_bandwidth_gbs=8.0, shm_latency_us=0.5)
    want = 4 * 3e-6 + 4 * area * 192 / 2e9 + 4 * 0.5e-6 + 4 * area * 192 / 8e9
    assert S.halo_seconds(S.exchange_traffic(dec, 192), net) == pytest.approx(want)


def test_crossover_solved_by_hand():
    """4^3 x 1024 splits only t (local t >= 4 = the other extents, ties to t): every node sends its two 4^3
    faces, 2 x 64 x 192 bytes, whatever the node count. With 1 GB/s and no latency t_comm = 24.576 us, and with
    c s/site t_comp = c 65536 / n: equal at n* = c 65536 / 24.576 us; c = 18 ns puts n* at 48."""
    c = 48 * 24.576e-6 / 65536
    prof = S.Profile(operator=[(16, c)], cores=2)
    net = S.Network(bandwidth_gbs=1.0, latency_us=0.0)
    st = S.strong_scaling((4, 4, 4, 1024), prof, net, max_nodes=256, kinds=["operator"])[0]
    rows = {r["nodes"]: r for r in st["rows"]}
    for n in (2, 8, 256):
        assert rows[n]["node_grid"] == f"1.1.1.{n}"
        assert rows[n]["comm_s"] == pytest.approx(24.576e-6)
        assert rows[n]["time_overlap_s"] == pytest.approx(max(c * 65536 / n, 24.576e-6))
        assert rows[n]["time_s"] == pytest.approx(c * 65536 / n + 24.576e-6)
    assert rows[32]["comm_s"] < rows[32]["comp_s"] and rows[64]["comm_s"] > rows[64]["comp_s"]
    assert st["comm_dominates_from"] == 64
    assert st["crossover_nodes"] == pytest.approx(48.0)
    # strong-scaling efficiency with overlap: t(1) / (n max(comp, comm)) = 1 until n*, then n* / n
    assert rows[32]["efficiency_overlap"] == pytest.approx(1.0)
    assert rows[256]["efficiency_overlap"] == pytest.approx(48 / 256)
    # latency adds 2 messages x alpha per node: n* moves to c 65536 / (24.576 + 2 alpha) us
    net2 = S.Network(bandwidth_gbs=1.0, latency_us=12.288)
    st2 = S.strong_scaling((4, 4, 4, 1024), prof, net2, max_nodes=256, kinds=["operator"])[0]
    assert st2["crossover_nodes"] == pytest.approx(24.0)
    assert st2["comm_dominates_from"] == 32


def test_fgmres_reductions_are_log2_latency():
    prof = flat_profile(fgmres_ns=30.0)
    net = S.Network(latency_us=2.0)
    for n in (1, 2, 64, 1024):
        dec = S.decompose((64, 64, 64, 128), n)
        p = S.point(dec, prof, net, "fgmres")
        assert p["reduce_s"] == pytest.approx(2 * math.ceil(math.log2(n)) * 2e-6)
        op = S.point(dec, prof, net, "operator")
        assert p["halo_s"] == pytest.approx(op["halo_s"])
        assert p["comp_s"] == pytest.approx(1.5 * op["comp_s"])
        # overlap hides the halo behind the operator's part of the iteration, never the reductions
        assert p["time_overlap_s"] == pytest.approx(p["comp_s"] - op["comp_s"] + max(op["comp_s"], op["halo_s"])
                                                    + p["reduce_s"])


def test_monotonic_behaviour():
    prof = flat_profile()
    base = S.Network()
    for dims in S.DEFAULT_STRONG:
        st = S.strong_scaling(dims, prof, base, kinds=["operator"])[0]
        rows = [r for r in st["rows"] if "error" not in r]
        assert [r["nodes"] for r in rows] == S.node_counts(1024)
        for a, b in zip(rows, rows[1:]):
            assert b["comp_s"] == pytest.approx(a["comp_s"] / 2)
            assert b["comm_over_comp"] >= a["comm_over_comp"]    # surface / volume grows
            assert b["efficiency"] <= a["efficiency"] + 1e-12
        # a faster network never makes it slower, a slower one never faster
        fast = S.strong_scaling(dims, prof, S.Network(bandwidth_gbs=50, latency_us=1.0), kinds=["operator"])[0]
        slow = S.strong_scaling(dims, prof, S.Network(bandwidth_gbs=5, latency_us=5.0), kinds=["operator"])[0]
        for f, r, s in zip(fast["rows"], st["rows"], slow["rows"]):
            assert f["time_s"] <= r["time_s"] <= s["time_s"]
        assert (slow["comm_dominates_from"] or 2048) <= (st["comm_dominates_from"] or 2048)
    weak = S.weak_scaling((16, 16, 16, 16), prof, base, kinds=["operator"])[0]
    rows = weak["rows"]
    assert all(r["sites_per_node"] == 16 ** 4 for r in rows)
    for a, b in zip(rows, rows[1:]):
        assert b["time_s"] >= a["time_s"] and b["efficiency"] <= a["efficiency"]
    # from 16 nodes on every direction is split: the weak-scaling time stops changing
    assert rows[-1]["time_s"] == pytest.approx(rows[4]["time_s"])


def test_cores_per_node_scales_compute():
    prof = flat_profile()
    dec = S.decompose((32, 32, 32, 64), 8)
    a = S.point(dec, prof, S.Network(), "operator")
    b = S.point(dec, prof, S.Network(cores_per_node=8), "operator")   # measured on 2 cores
    assert b["comp_s"] == pytest.approx(a["comp_s"] / 4) and b["comm_s"] == a["comm_s"]


def test_node_memory_bandwidth_scales_compute():
    prof = flat_profile()
    prof.stream_gbs = 50.0
    dec = S.decompose((32, 32, 32, 64), 8)
    a = S.point(dec, prof, S.Network(), "operator")
    b = S.point(dec, prof, S.Network(node_stream_gbs=400.0), "operator")
    assert b["comp_s"] == pytest.approx(a["comp_s"] / 8) and b["comm_s"] == a["comm_s"]
    with pytest.raises(ValueError, match="not both"):
        S.project(prof, S.Network(node_stream_gbs=400.0, cores_per_node=64), max_nodes=2)
    prof.stream_gbs = None
    with pytest.raises(ValueError, match="STREAM"):
        S.project(prof, S.Network(node_stream_gbs=400.0), max_nodes=2)


def test_interpolation_in_the_volume():
    prof = S.Profile(operator=[(256, 100e-9), (65536, 50e-9)], cores=2)
    assert prof.operator_per_site(16) == 100e-9 and prof.operator_per_site(10 ** 7) == 50e-9
    assert prof.operator_per_site(4096) == pytest.approx(math.exp(0.5 * (math.log(100e-9) + math.log(50e-9))))


def test_bad_inputs_raise():
    prof = flat_profile()
    for net in (S.Network(bandwidth_gbs=-1), S.Network(bandwidth_gbs=0), S.Network(latency_us=-0.5),
                S.Network(ranks_per_node=0), S.Network(cores_per_node=0), S.Network(shm_bandwidth_gbs=float("nan"))):
        with pytest.raises(ValueError):
            S.project(prof, net, max_nodes=4)
    with pytest.raises(ValueError, match="even"):
        S.parse_dims("33.32.32.64")
    with pytest.raises(ValueError):
        S.parse_dims("32.32.64")
    with pytest.raises(ValueError):
        S.node_counts(0)
    # a lattice that cannot be split further: the row says so and the study stops there
    st = S.strong_scaling((4, 4, 4, 4), prof, S.Network(), max_nodes=64, kinds=["operator"])[0]
    assert "error" in st["rows"][-1] and st["rows"][-1]["nodes"] == 32


def _synthetic_reports(c=40e-9, alpha_us=3.0, beta_gbs=10.0):
    """A one-rank report with a flat profile and 2-rank records that follow the model exactly."""
    one = {"ranks": 1, "date": "synthetic", "command": "test", "results": [
        {"kernel": "wilson_clover", "precision": "double", "nvec": 1, "mode": "normal", "layout": "site",
         "scaling": "weak", "ranks": 1, "threads": 2, "local_volume": v, "global_volume": v,
         "seconds_per_call": c * S._prod(S.parse_dims(v)), "oversubscribed": False}
        for v in ("8.8.8.16", "16.16.16.32")]}
    # one thread: half the node's speed (the per-rank reading: each one-thread rank a node of its own)
    one["results"] += [dict(r, threads=1, seconds_per_call=2 * c * S._prod(S.parse_dims(lv)), local_volume=lv,
                            global_volume=lv) for r, lv in zip(list(one["results"]), ("8.8.8.8", "16.16.16.16"))]
    two = {"ranks": 2, "results": []}
    for lv, gv in (("8.8.8.8", "8.8.8.16"), ("16.16.16.16", "16.16.16.32")):
        area = S._prod(S.parse_dims(lv)) // 16 if lv == "16.16.16.16" else 512
        nbytes = 4 * area * 192
        comm = 4 * alpha_us * 1e-6 + nbytes / (beta_gbs * 1e9)
        comp = c * 2 * S._prod(S.parse_dims(lv))
        base = {"kernel": "wilson_clover", "precision": "double", "nvec": 1, "layout": "site", "ranks": 2,
                "threads": 1, "process_grid": "1.1.1.2", "local_volume": lv, "global_volume": gv,
                "oversubscribed": False}
        two["results"].append(dict(base, mode="normal", scaling="weak", seconds_per_call=comp + comm))
        two["results"].append(dict(base, mode="zero_boundary", scaling="weak", seconds_per_call=comp))
        two["results"].append({"kernel": "halo", "ranks": 2, "seconds_per_call": comm, "messages_per_exchange": 4,
                               "bytes_per_exchange": nbytes, "oversubscribed": False})
    return one, two


def test_validation_recovers_a_consistent_machine():
    one, two = _synthetic_reports()
    bw, lat, pts = S.fit_shm([one, two])
    assert bw == pytest.approx(10.0) and lat == pytest.approx(3.0)
    v = S.validate([one, two])
    assert len(v["records"]) == 4
    for r in v["records"]:
        assert r["relative_error"] == pytest.approx(0.0, abs=1e-9)
        if r["mode"] == "normal":
            assert r["comm_relative_error"] == pytest.approx(0.0, abs=1e-9)
    assert "validation" in S.format_validation(v)
    # per rank: every one-thread rank a node, the shared memory its network: two messages and half the bytes
    # per rank, so the fit gives twice the latency and half the bandwidth, and the same times
    bw, lat, _ = S.fit_shm([one, two], per_rank=True)
    assert bw == pytest.approx(5.0) and lat == pytest.approx(6.0)
    v = S.validate([one, two], per="rank")
    assert len(v["records"]) == 4 and v["per"] == "rank"
    for r in v["records"]:
        assert r["relative_error"] == pytest.approx(0.0, abs=1e-9)
    with pytest.raises(ValueError, match="one-rank"):
        S.validate([two])
    # noise larger than the latency term (the bigger exchange timed faster): a bandwidth-only fit, still positive
    noisy = {"ranks": 2, "results": [{"kernel": "halo", "ranks": 2, "seconds_per_call": t, "messages_per_exchange": 4,
                                      "bytes_per_exchange": b} for b, t in ((1e4, 2e-5), (1e6, 1e-5))]}
    bw, lat, _ = S.fit_shm([noisy])
    assert lat == 0.0 and bw > 0


@pytest.mark.mpi
def test_model_bytes_equal_what_the_exchange_sends():
    """Apply the Wilson-clover operator once on this communicator and count what its halo sent (all ranks): the
    model, given the same process grid inside one node, predicts the same messages and bytes."""
    R = COMM.Get_size()
    for precision in ("double", "single"):
        lat = gn.Lattice((8, 8, 8, 16), precision=precision)
        U = gn.GaugeField.random(lat, 3, seed=1)
        D = gn.WilsonClover(U, mass=-0.5, csw=1.0)
        psi = gn.FermionField.random(lat, 3, seed=2)
        h = D.runner.halo
        m0, b0 = h.messages_sent, h.bytes_sent
        D(psi)
        msgs = COMM.allreduce(h.messages_sent - m0)
        nbytes = COMM.allreduce(h.bytes_sent - b0)
        dec = S.decompose(lat.dims, 1, R, node_grid=(1, 1, 1, 1), rank_grid=lat.grid)
        m_off, b_off, m_on, b_on = S.exchange_traffic(dec, S.halo_bytes_per_face_site(3, precision))
        assert (m_off, b_off) == (0, 0)
        assert (m_on, b_on) == (msgs, nbytes)
        if R > 1:
            assert nbytes > 0
        # the code's own grid chooser is the model's: the same grid for the same lattice and rank count
        assert S.decompose(lat.dims, 1, R).grid == lat.grid
        # zero-boundary links: nothing is sent
        Dz = gn.WilsonClover(U, mass=-0.5, csw=1.0, zero_boundary_links=True)
        hz = Dz.runner.halo
        m0 = hz.messages_sent
        Dz(psi)
        assert COMM.allreduce(hz.messages_sent - m0) == 0


# ------------------------------------------------------------------------------------------------ command line
def _write_report(path):
    one, _ = _synthetic_reports()
    path.write_text(json.dumps(one))
    return str(path)


def test_cli_project_from_report(tmp_path, capsys):
    if COMM.Get_size() > 1:
        pytest.skip("bench --project is a one-process command (its refusal under more ranks is tested below)")
    rep = _write_report(tmp_path / "run.json")
    out = tmp_path / "proj.json"
    assert main(["bench", "--project", "--project-from", rep, "--network-bandwidth", "12.5", "--network-latency",
                 "2", "--ranks-per-node", "2", "--project-volumes", "16.16.16.32,32.32.32.64", "--json",
                 str(out)]) == 0
    doc = json.loads(out.read_text())
    assert set(S.JSON_KEYS) - {"validation", "rows"} <= set(doc)
    assert doc["network"]["bandwidth_gbs"] == 12.5 and doc["network"]["ranks_per_node"] == 2
    assert {s["global_volume"] for s in doc["strong"]} == {"16.16.16.32", "32.32.32.64"}
    assert {(s["kind"], s["mode"]) for s in doc["strong"]} == {("operator", "normal"), ("operator", "zero_boundary"),
                                                               ("fgmres", "normal")}
    assert doc["weak"][0]["node_volume"] == "16.16.16.16"
    row = doc["strong"][0]["rows"][3]
    assert {"nodes", "comp_s", "comm_s", "time_s", "time_overlap_s", "efficiency", "comm_fraction"} <= set(row)
    text = capsys.readouterr().out
    assert "communication exceeds compute" in text and "where communication starts to dominate" in text
    assert main(["bench", "--project", "--project-from", rep, "--project-max-nodes", "4", "--markdown"]) == 0
    text = capsys.readouterr().out
    assert "| nodes | node grid |" in text and "t zero-bdy" in text
    assert main(["bench", "--project", "--project-from", rep, "--project-max-nodes", "4", "--mg-iteration-seconds",
                 "3.5e-3", "--mg-apply-seconds", "3.1e-3", "--json", str(out)]) == 0
    doc = json.loads(out.read_text())
    assert doc["profile"]["multigrid"]["exchanges"] == 1 + round(3.1e-3 / (40e-9 * 8192))
    assert any(s["kind"] == "fgmres_multigrid" and s["mode"] == "zero_boundary" for s in doc["strong"])
    assert "learned multigrid" in capsys.readouterr().out


def test_cli_project_measures_and_validates(tmp_path, capsys, monkeypatch):
    if COMM.Get_size() > 1:
        pytest.skip("one process")
    real = S.measure_profile
    monkeypatch.setattr(S, "measure_profile", lambda precision="double": real(
        volumes=((4, 4, 4, 4), (4, 4, 4, 8)), precision=precision, min_time=0.01, fgmres_iterations=6))
    one, two = _synthetic_reports()
    (tmp_path / "one.json").write_text(json.dumps(one))
    (tmp_path / "two.json").write_text(json.dumps(two))
    out = tmp_path / "p.json"
    assert main(["bench", "--project", "--project-max-nodes", "8", "--project-validate", str(tmp_path / "one.json"),
                 str(tmp_path / "two.json"), "--json", str(out)]) == 0
    doc = json.loads(out.read_text())
    assert doc["profile"]["fgmres"] and len(doc["profile"]["operator"]) == 2
    assert doc["strong"][0]["rows"][-1]["nodes"] == 8
    assert doc["validation"]["node"]["shm_bandwidth_gbs"] == pytest.approx(10.0)
    assert "rank" in doc["validation"] or "rank_skipped" in doc["validation"]
    assert "validation on this machine" in capsys.readouterr().out


@pytest.mark.mpi
@pytest.mark.parametrize("argv, words", [
    (["--network-bandwidth", "-5"], "bandwidth"),
    (["--network-latency", "-1"], "latency"),
    (["--ranks-per-node", "0"], "ranks per node"),
    (["--ranks-per-node", "3"], "ranks per node"),
    (["--project-volumes", "33.32.32.64"], "even"),
    (["--project-volumes", "32.32.64"], "volume"),
    (["--project-weak-volume", "x"], "volume"),
    (["--project-max-nodes", "0"], "node count"),
    (["--project-from", "/nonexistent/run.json"], "cannot read"),
    (["--mg-iteration-seconds", "0.003"], "go together"),
    (["--mg-iteration-seconds", "0.003", "--mg-apply-seconds", "0.004"], "less than"),
])
def test_cli_project_bad_input(tmp_path, capsys, argv, words):
    rep = _write_report(tmp_path / f"run{COMM.Get_rank()}.json")
    if "--project-from" not in argv:
        argv = argv + ["--project-from", rep]
    assert main(["bench", "--project"] + argv) != 0
    err = capsys.readouterr().err
    assert words in err or (COMM.Get_size() > 1 and "one process" in err)


def test_cli_project_from_report_without_records(tmp_path, capsys):
    p = tmp_path / f"empty{COMM.Get_rank()}.json"
    p.write_text(json.dumps({"results": []}))
    assert main(["bench", "--project", "--project-from", str(p)]) != 0
    assert "wilson_clover" in capsys.readouterr().err or COMM.Get_size() > 1


@pytest.mark.mpi
def test_cli_project_measure_writes_validation_data(tmp_path, capsys):
    """`bench --project-measure` on this communicator: the one-rank readings and the R-rank records in the suite's
    format; with more than one rank --project-validate compares them with the model."""
    R = COMM.Get_size()
    out = COMM.bcast(str(tmp_path / "pm.json") if COMM.Get_rank() == 0 else None, root=0)
    assert main(["bench", "--project-measure", out, "--project-measure-volumes", "4,8",
                 "--project-measure-repeats", "1"]) == 0
    COMM.Barrier()
    with open(out) as f:
        doc = json.load(f)
    one, many = doc["reports"]
    assert one["ranks"] == 1 and many["ranks"] == R
    assert {(r["threads"], r["local_volume"]) for r in one["results"]} >= {(1, "4.4.4.4"), (1, "8.8.8.8")}
    modes = {(r["kernel"], r["mode"]) for r in many["results"]}
    assert {("wilson_clover", "normal"), ("wilson_clover", "zero_boundary")} <= modes
    assert all(r["seconds_per_call"] > 0 for rep in doc["reports"] for r in rep["results"])
    if R > 1:
        halo = [r for r in many["results"] if r["kernel"] == "halo"]
        assert len(halo) == 2 and all(r["messages_per_exchange"] == 2 * R * sum(g > 1 for g in
                                      S.parse_dims_grid(r["process_grid"])) for r in halo)
        if COMM.Get_rank() == 0:
            v = S.validate(doc["reports"], per="node")
            assert len(v["records"]) == 4 and all(r["predicted_s"] > 0 for r in v["records"])
    COMM.Barrier()


def test_profile_from_report_with_the_seed000_records():
    """The learned-multigrid iteration from the suite's end-to-end records: compute per site from the solve, halo
    exchanges = 1 (outer operator) + the model application in operator applications; zero-boundary links leave
    the outer operator's exchange only."""
    one, _ = _synthetic_reports(c=40e-9)
    op = 40e-9 * 8192
    one["results"] += [
        {"kernel": "fgmres_seed000", "method": "fgmres_unpreconditioned", "global_volume": "8.8.8.16",
         "iterations": 100, "seconds_per_call": 100 * 1.5 * op},
        {"kernel": "fgmres_seed000", "method": "fgmres_multigrid", "global_volume": "8.8.8.16",
         "iterations": 20, "seconds_per_call": 20 * 9.0 * op},
        {"kernel": "multigrid_model_apply", "global_volume": "8.8.8.16", "seconds_per_call": 7.0 * op}]
    prof = S.profile_from_report(one)
    assert prof.fgmres == [(8192, pytest.approx(1.5 * 40e-9))]
    assert prof.multigrid["exchanges"] == 8 and prof.multigrid["seconds_per_site"] == pytest.approx(9 * 40e-9)
    net = S.Network()
    dec = S.decompose((32, 32, 32, 64), 16)
    opp = S.point(dec, prof, net, "operator")
    mg = S.point(dec, prof, net, "fgmres_multigrid")
    zb = S.point(dec, prof, net, "fgmres_multigrid", "zero_boundary")
    assert mg["comp_s"] == pytest.approx(9 * opp["comp_s"])
    assert mg["halo_s"] == pytest.approx(8 * opp["halo_s"]) and zb["halo_s"] == pytest.approx(opp["halo_s"])
    doc = S.project(prof, net, max_nodes=4)
    assert {(s["kind"], s["mode"]) for s in doc["strong"]} >= {("fgmres_multigrid", "normal"),
                                                               ("fgmres_multigrid", "zero_boundary")}


@pytest.mark.mpi
def test_cli_project_options_need_project(tmp_path, capsys):
    rep = _write_report(tmp_path / f"r{COMM.Get_rank()}.json")
    assert main(["bench", "--project-from", rep]) != 0
    assert "go with --project" in capsys.readouterr().err
    assert main(["bench", "--project-measure", str(tmp_path / "x.json"), "--project-measure-volumes", "5"]) != 0
    assert "even extents" in capsys.readouterr().err
