"""The benchmark suite: the NumPy references equal the C++ kernels, the SIMD Wilson kernel equals the
site-by-site one, and `python -m gaugenet bench` writes a report with the documented JSON schema
(tiny volumes; timings are never asserted)."""
import json

import numpy as np
import pytest
from mpi4py import MPI

import gaugenet as gn
from gaugenet._backend import core
from gaugenet.bench import numpy_ref
from gaugenet.bench.suite import END_TO_END as _E2E

END_TO_END = {k for k, _ in _E2E} | {"multigrid_model_apply", "multigrid_setup", "hmc_cost_per_sample"}
from gaugenet.cli.main import main

COMM = MPI.COMM_WORLD

RECORD_KEYS = {"kernel", "local_volume", "precision", "threads", "ranks", "seconds_per_call", "gflops",
               "gbytes_per_s", "roofline_fraction", "speedup_vs_numpy"}


def _rel(a, b):
    return float(np.abs(a - b).max() / np.abs(b).max())


@pytest.mark.parametrize("precision,N", [("double", 3), ("single", 3), ("double", 2)])
def test_numpy_wilson_hop_equals_kernel(precision, N):
    lat = gn.Lattice((4, 6, 2, 8), comm=MPI.COMM_SELF, precision=precision)
    U = gn.GaugeField.random(lat, N, seed=3)
    psi = gn.FermionField.random(lat, N, seed=4)
    got = gn.Wilson(U, mass=0.2).hop(psi).data
    ref = numpy_ref.wilson_hop(U.data, psi.data)
    assert got.dtype == ref.dtype
    assert _rel(got, ref) < (1e-14 if precision == "double" else 1e-5)


@pytest.mark.parametrize("nin,nout", [(1, 1), (2, 2), (1, 3)])
def test_numpy_one_hop_layer_equals_kernel(nin, nout):
    from gaugenet.stencil import OneHop, StencilLinks
    lat = gn.Lattice((4, 4, 6, 4), comm=MPI.COMM_SELF)
    U = gn.GaugeField.random(lat, 3, seed=5)
    rng = np.random.default_rng(6)
    W = rng.standard_normal((9, nout, nin, 4, 4)) + 1j * rng.standard_normal((9, nout, nin, 4, 4))
    phi = gn.FermionField.random(lat, 3, nvec=nin, seed=7)
    got = OneHop(StencilLinks(U), ns=4, nin=nin, nout=nout).apply_array(phi.data.reshape(lat.local_volume, -1), W, 1)
    ref = numpy_ref.one_hop_layer(U.data, phi.data.reshape(lat.local_shape + (nin, 4, 3)), W)
    assert _rel(got.reshape(ref.shape), ref) < 1e-14


def _wilson_setup(precision, seed):
    """dtype, tolerance, generator, volume and neighbour table of the SIMD-vs-generic Wilson tests
    (an 8x4x4x6 lattice: whole groups of eight sites in x, several t-slices)."""
    dt = np.complex128 if precision == "double" else np.complex64
    tol = 1e-14 if precision == "double" else 2e-6
    lat = gn.Lattice((8, 4, 4, 6), comm=MPI.COMM_SELF)
    return dt, tol, np.random.default_rng(seed), lat.local_volume, lat.halo(1).nbr


@pytest.mark.skipif(core.wilson_variant() != "simd", reason="this build has no SIMD Wilson kernel")
@pytest.mark.parametrize("precision", ["double", "single"])
def test_simd_wilson_kernel_equals_site_by_site(precision):
    """Hop, clover, dagger, several right-hand sides, site lists (gaps, contiguous ranges, whole
    t-slices: the blocked traversal) and a partial last group of eight sites."""
    dt, tol, rng, V, nbr = _wilson_setup(precision, 8)
    St = V // 6
    lists = [None, np.arange(1, V, 3, dtype=np.int32), np.arange(5, V - 2, dtype=np.int32),
             np.arange(St, 4 * St, dtype=np.int32)]
    try:
        for N, nrhs in ((3, 1), (3, 5), (2, 2)):
            def rnd(*s):
                return (rng.standard_normal(s) + 1j * rng.standard_normal(s)).astype(dt)
            U, psi, clov = rnd(4, V, N, N), rnd(V, nrhs * 4 * N), rnd(V, 2, 2 * N, 2 * N)
            for cl, diag in ((None, 0.0), (None, 3.5), (clov, 0.0)):
                for dagger in (False, True):
                    for sites in lists:
                        res = []
                        for variant in ("generic", "simd"):
                            core.wilson_variant(variant)
                            out = np.full_like(psi, 7.0)  # sites not listed must stay untouched
                            core.wilson(out, psi, None, U, None, nbr, sites, cl, diag, -0.5, nrhs, N, V, 0, dagger)
                            res.append(out)
                        assert _rel(res[1], res[0]) < tol, (N, nrhs, cl is None, diag, dagger)
    finally:
        core.wilson_variant("simd")


def _aligned_like(a, offset):
    """An array shaped like a whose data start `offset` bytes past a 64-byte boundary."""
    raw = np.empty(a.nbytes + 128, dtype=np.uint8)
    start = (-raw.ctypes.data) % 64 + offset
    out = raw[start:start + a.nbytes].view(a.dtype).reshape(a.shape)
    assert out.ctypes.data % 64 == offset
    return out


@pytest.mark.skipif(core.wilson_variant() != "simd", reason="this build has no SIMD Wilson kernel")
@pytest.mark.parametrize("precision", ["double", "single"])
def test_simd_wilson_streaming_stores_equal_site_by_site(precision):
    """With the streaming-store threshold at 0 every output takes the streaming path (but the
    single-precision clover term with one right-hand side, which keeps plain stores): whole-register
    streaming stores (64-byte aligned output), 16-byte ones (numpy's usual alignment) and plain
    stores (8-byte aligned); hop and clover, one and several right-hand sides, a partial last group."""
    dt, tol, rng, V, nbr = _wilson_setup(precision, 9)
    sites = np.arange(3, V - 2, dtype=np.int32)  # a partial last group

    def rnd(*s):
        return (rng.standard_normal(s) + 1j * rng.standard_normal(s)).astype(dt)

    old = core.stream_store_bytes()
    try:
        for nrhs in (1, 3):
            U, psi, clov = rnd(4, V, 3, 3), rnd(V, nrhs * 12), rnd(V, 2, 6, 6)
            for cl in (None, clov):
                for sl in (None, sites):
                    core.wilson_variant("generic")
                    ref = np.full_like(psi, 7.0)
                    core.wilson(ref, psi, None, U, None, nbr, sl, cl, 0.0, -0.5, nrhs, 3, V, 0, False)
                    core.wilson_variant("simd")
                    core.stream_store_bytes(0)
                    for offset in (0, 16, 8):
                        out = _aligned_like(psi, offset)
                        out[...] = 7.0  # sites not listed must stay untouched
                        core.wilson(out, psi, None, U, None, nbr, sl, cl, 0.0, -0.5, nrhs, 3, V, 0, False)
                        assert _rel(out, ref) < tol, (nrhs, cl is None, sl is None, offset)
    finally:
        core.stream_store_bytes(old)
        core.wilson_variant("simd")
    with pytest.raises(ValueError, match=">= 0"):
        core.stream_store_bytes(-1)


def test_wilson_variant_rejects_unknown_name():
    with pytest.raises(ValueError, match="simd' or 'generic"):
        core.wilson_variant("fast")


def test_stream_triad_values():
    a, b, c = np.zeros(1000), np.arange(1000.0), np.full(1000, 2.0)
    core.stream_triad(a, b, c, 0.5)
    assert np.array_equal(a, b + 1.0)
    with pytest.raises(ValueError, match="same size"):
        core.stream_triad(a, b[:10], c, 1.0)


def test_scattered_read_sums_every_chunk_once():
    """The scattered read visits the chunks in the given order, each once, whatever the thread count and the
    prefetch distance; bad arguments are refused by name."""
    chunk = 64
    a = np.random.default_rng(3).standard_normal(chunk * 37)
    order = np.random.default_rng(4).permutation(37).astype(np.int64)
    want = float(a.sum())
    for threads in (1, 2):
        core.set_num_threads(threads)
        for pf in (0, 1, 4, 100):
            assert core.scattered_read(a, order, chunk, pf) == pytest.approx(want, rel=1e-12)
    core.set_num_threads(1)
    # a chunk listed twice is read twice, one left out is not read
    twice = np.array([0, 0, 5], dtype=np.int64)
    assert core.scattered_read(a, twice, chunk, 4) == pytest.approx(2 * a[:chunk].sum() + a[5 * chunk:6 * chunk].sum())
    # ones in any order sum exactly (the suite's self-check)
    ones = np.ones(chunk * 1000)
    assert core.scattered_read(ones, np.arange(1000, dtype=np.int64)[::-1].copy(), chunk) == 64000.0
    with pytest.raises(ValueError, match="outside the array"):
        core.scattered_read(a, np.array([37], dtype=np.int64), chunk)
    with pytest.raises(ValueError, match="outside the array"):
        core.scattered_read(a, np.array([-1], dtype=np.int64), chunk)
    with pytest.raises(ValueError, match="multiple of 32"):
        core.scattered_read(a, order, 48)
    with pytest.raises(ValueError, match="int64"):
        core.scattered_read(a, order.astype(np.int32), chunk)
    with pytest.raises(ValueError, match="float64"):
        core.scattered_read(a.astype(np.float32), order, chunk)
    with pytest.raises(ValueError, match="prefetch"):
        core.scattered_read(a, order, chunk, -1)
    with pytest.raises(ValueError, match="shorter than one chunk"):
        core.scattered_read(a[:10], order[:0], chunk)


def test_scattered_read_probe_counts_the_array():
    from gaugenet.bench.stream import ScatteredRead
    probe = ScatteredRead(1 << 20, chunk_bytes=1536, prefetch=2)
    assert probe.a.size == (1 << 20) // 1536 * 192
    assert sorted(probe.order) == list(range((1 << 20) // 1536))
    gbs, sec = probe.measure(COMM, 1, min_time=0.01, batches=2)
    assert gbs > 0 and sec > 0
    with pytest.raises(ValueError, match="multiple of 256"):
        ScatteredRead(1 << 20, chunk_bytes=1000)
    with pytest.raises(ValueError, match="smaller than one chunk"):
        ScatteredRead(100)


def _shared_path(tmp_path, name):
    return COMM.bcast(str(tmp_path / name) if COMM.Get_rank() == 0 else None, root=0)


def _check_report(rep):
    assert rep["ranks"] == COMM.Get_size()
    assert rep["stream_triad_gbytes_per_s"] > 0
    assert rep["machine"]["cpu_model"] and rep["machine"]["cores"] >= 1
    assert "read once" in rep["traffic_model"]
    kernels = {r["kernel"] for r in rep["results"]}
    for r in rep["results"]:
        assert RECORD_KEYS <= set(r), set(RECORD_KEYS) - set(r)
        assert r["ranks"] == COMM.Get_size()
        if r["kernel"] in ("stream_triad", "scattered_read"):
            assert r["gbytes_per_s"] > 0
            continue
        if r["kernel"] in END_TO_END:
            assert r["seconds_per_call"] > 0
            continue
        if r["kernel"] != "halo":
            assert r["local_volume"].count(".") == 3
        assert r["seconds_per_call"] > 0 and r["gbytes_per_s"] > 0
        if r["roofline_fraction"] is not None:
            assert r["roofline_fraction"] == pytest.approx(
                r["gbytes_per_s"] / rep["stream_triad"][str(r["threads"])]["gbytes_per_s"])
            assert r["scattered_read_fraction"] == pytest.approx(
                r["gbytes_per_s"] / rep["scattered_read"][str(r["threads"])]["gbytes_per_s"])
    assert rep["targets"] and all({"target", "threshold", "measured", "met", "detail"} <= set(t) for t in rep["targets"])
    scat = [r for r in rep["results"] if r["kernel"] == "scattered_read"]
    assert {r["threads"] for r in scat} == set(rep["threads_per_rank"])
    assert rep["scattered_read_gbytes_per_s"] == rep["scattered_read"][str(max(rep["threads_per_rank"]))]["gbytes_per_s"]
    return kernels


def test_bench_command_writes_schema(tmp_path, capsys):
    if COMM.Get_size() > 1:
        pytest.skip("the full-kernel smoke test runs on one rank (test_bench_command_mpi covers ranks)")
    out = tmp_path / "bench.json"
    assert main(["bench", "--quick", "--volumes", "4", "--side-volume", "4", "--strong", "4.4.4.4",
                 "--nvec", "1,2", "--min-time", "0.005", "--no-end-to-end", "--json", str(out)]) == 0
    rep = json.loads(out.read_text())
    kernels = _check_report(rep)
    assert {"stream_triad", "wilson_hop", "wilson_clover", "staggered", "staggered_evenodd", "ptc_forward",
            "ptc_backward", "onehop"} <= kernels
    hop = [r for r in rep["results"] if r["kernel"] == "wilson_hop" and r["local_volume"] == "4.4.4.4"]
    assert {r["precision"] for r in hop} == {"double", "single"}
    assert any(r["speedup_vs_numpy"] for r in hop)
    assert {r["nvec"] for r in hop} >= {1, 2}
    assert {r["mode"] for r in hop} == {"normal", "zero_boundary"}
    assert any(r["scaling"] == "strong" for r in hop)
    assert any(n["kernel"] == "fgmres_seed000" and "not run" in n["reason"] for n in rep["not_available"])
    text = capsys.readouterr().out
    assert "STREAM triad" in text and "wilson_hop" in text and "not available yet" in text
    assert "scattered read" in text and "targets (issue 4)" in text
    # 4^4 only and no end-to-end part: the out-of-cache and end-to-end targets are not claimed either way
    big = [t for t in rep["targets"] if "out of cache" in t["target"] or t["target"].startswith("learned")]
    assert big and all(t["met"] is None for t in big)
    # scaling tables from two reports (here the same run relabelled as two rank counts)
    rep2 = json.loads(out.read_text())
    for r in rep2["results"]:
        r["ranks"] = 2
    out2 = tmp_path / "bench2.json"
    out2.write_text(json.dumps(rep2))
    assert main(["bench", "--compare", str(out), str(out2)]) == 0
    assert "weak scaling" in capsys.readouterr().out


def test_bench_end_to_end_multigrid(tmp_path, capsys):
    """The seed-000 part of the suite in quick mode: every solver converges and is recorded, the
    multigrid model lowers the iteration count, the training stages are timed."""
    if COMM.Get_size() > 1:
        pytest.skip("one rank (the model itself is tested on 2 and 4 ranks in test_models.py)")
    out = tmp_path / "e2e.json"
    assert main(["bench", "--quick", "--kernels", "fgmres_seed000,multigrid_training_step", "--json",
                 str(out)]) == 0
    rep = json.loads(out.read_text())
    _check_report(rep)
    solves = {r["method"]: r for r in rep["results"] if r["kernel"] == "fgmres_seed000"}
    assert set(solves) == {"fgmres_unpreconditioned", "eo-bicgstab", "eo-cg", "fgmres_high_mode", "fgmres_multigrid"}
    assert all(r["converged"] and r["residual"] < 1e-8 for r in solves.values())
    assert solves["fgmres_multigrid"]["iteration_gain"] > 1.5
    stages = {r["stage"] for r in rep["results"] if r["kernel"] == "multigrid_training_step"}
    assert {"high_mode_training", "multigrid_training"} <= stages   # the default defect smoother has no stage 4
    assert "end to end:" in capsys.readouterr().out


@pytest.mark.mpi
def test_bench_command_mpi(tmp_path):
    out = _shared_path(tmp_path, "bench_mpi.json")
    assert main(["bench", "--quick", "--volumes", "8.4.4.4", "--side-volume", "4", "--strong", "4.4.4.8",
                 "--precisions", "double", "--nvec", "1", "--no-numpy", "--min-time", "0.005",
                 "--kernels", "wilson_hop,wilson_clover,halo", "--json", out]) == 0
    COMM.Barrier()
    with open(out) as f:
        rep = json.load(f)
    kernels = _check_report(rep)
    assert {"wilson_hop", "wilson_clover", "stream_triad"} <= kernels
    # the packed-layout rows (local x extent 8) next to the ordinary ones, same volume and threads
    layouts = {(r["kernel"], r.get("layout")) for r in rep["results"] if r["local_volume"] == "8.4.4.4"}
    want = {("wilson_hop", "site"), ("wilson_clover", "site")}
    if core.packed_available():
        want |= {("wilson_hop", "packed"), ("wilson_clover", "packed")}
    assert want <= layouts
    if core.packed_available():   # the doubled-link rows (SU(3), two-row storage) count eight links per site
        for k in ("wilson_hop", "wilson_clover"):
            recs = {bool(r.get("doubled_links")): r for r in rep["results"] if r["kernel"] == k
                    and r.get("layout") == "packed" and r.get("link_rows") == 2 and r["local_volume"] == "8.4.4.4"}
            assert set(recs) == {False, True}, k
            assert recs[True]["bytes_per_site"] - recs[False]["bytes_per_site"] == 4 * 3 * 2 * 16
    if COMM.Get_size() > 1:
        halo = [r for r in rep["results"] if r["kernel"] == "halo"]
        assert halo and halo[0]["messages_per_exchange"] > 0 and halo[0]["bytes_per_exchange"] > 0
    else:
        assert "halo" not in kernels


def test_bench_adjacent_triad(tmp_path, monkeypatch):
    """Out-of-cache cases (here: every volume) get a triad measured right before their group and a roofline fraction
    against it, and a paired roofline (a triad before each batch of a second timing); the run's roofline stays the
    best of all measurements."""
    from gaugenet.bench import suite
    if COMM.Get_size() > 1:
        pytest.skip("one rank")
    from gaugenet.bench import machine
    monkeypatch.setattr(suite, "ADJACENT_TRIAD_SITES", 1)
    monkeypatch.setattr(suite, "triad_array_bytes", lambda quick=False, ranks=1: 8 << 20)
    monkeypatch.setattr(machine, "last_level_cache_bytes", lambda: 1 << 16)  # every case counts as out of cache
    out = tmp_path / "bench.json"
    assert main(["bench", "--volumes", "8", "--precisions", "double", "--threads", "1", "--kernels",
                 "wilson_hop,stream_triad", "--side-volume", "4", "--strong", "4.4.4.4", "--nvec", "1",
                 "--min-time", "0.005", "--no-numpy", "--no-end-to-end", "--json", str(out)]) == 0
    rep = json.loads(out.read_text())
    hops = [r for r in rep["results"] if r["kernel"] == "wilson_hop" and r["local_volume"] == "8.8.8.8"]
    assert hops
    meas = rep["stream_triad"]["1"]["measurements"]
    assert len(meas) == 3 and rep["stream_triad"]["1"]["gbytes_per_s"] == max(meas)
    for r in hops:
        assert r["stream_triad_adjacent_gbytes_per_s"] == meas[1]
        assert r["roofline_fraction_adjacent"] == pytest.approx(r["gbytes_per_s"] / meas[1])
        assert r["roofline_fraction"] == pytest.approx(r["gbytes_per_s"] / max(meas))
        # paired roofline: one triad right before each of the three batches of a second timing
        pairs = r["paired_triad"]
        assert len(pairs) == 3 and all(g > 0 and dt > 0 for g, dt in pairs)
        fr = [r["bytes_per_site"] * 8 ** 4 / dt / 1e9 / g for g, dt in pairs]
        assert r["roofline_fraction_paired"] == pytest.approx(float(np.median(fr)))
        # and a scattered read right before each batch too
        spairs = r["paired_scattered_read"]
        assert [dt for _, dt in spairs] == [dt for _, dt in pairs] and all(sc > 0 for sc, _ in spairs)
        fs = [r["bytes_per_site"] * 8 ** 4 / dt / 1e9 / sc for sc, dt in spairs]
        assert r["scattered_read_fraction_paired"] == pytest.approx(float(np.median(fs)))
    side = [r for r in rep["results"] if r["kernel"] == "wilson_hop" and r["local_volume"] == "4.4.4.4"]
    assert side and all("roofline_fraction_adjacent" not in r for r in side)


def _rec(kernel, vol, prec, sec, layout="site", rows=None, features=None, threads=2, **kw):
    r = {"kernel": kernel, "local_volume": vol, "precision": prec, "threads": threads, "nvec": 1, "mode": "normal",
         "scaling": "weak", "layout": layout, "link_rows": rows, "features": features, "seconds_per_call": sec,
         "gbytes_per_s": 1.0, "speedup_vs_numpy": None}
    r.update(kw)
    return r


def test_targets_are_judged_from_the_records():
    """The targets summary reads the report's records only: the best layout's roofline fraction (paired first),
    numpy speed-up, single/double, PTC ratios within one layout, end-to-end speed-ups; None where not measured."""
    from gaugenet.bench.targets import evaluate, targets_table
    v32, v16 = "32.32.32.32", "16.16.16.16"
    res = [
        _rec("wilson_hop", v32, "double", 0.030, roofline_fraction=0.80, roofline_fraction_paired=0.66,
             speedup_vs_numpy=150.0),
        _rec("wilson_hop", v32, "double", 0.026, layout="packed", roofline_fraction=0.9,
             roofline_fraction_paired=0.72, scattered_read_fraction_paired=0.95, speedup_vs_numpy=170.0),
        _rec("wilson_hop", v32, "double", 0.020, threads=1, roofline_fraction_paired=0.99),  # other threads: ignored
        _rec("wilson_hop", v32, "single", 0.012, layout="packed"),
        _rec("wilson_clover", v32, "double", 0.050, roofline_fraction=0.60),
        _rec("wilson_hop", v16, "double", 0.002, layout="packed"),
        _rec("wilson_hop", v16, "double", 0.0015, layout="packed", rows=2),
        _rec("ptc_forward", v16, "double", 0.0028, layout="packed", features="1->1"),
        _rec("ptc_forward", v16, "double", 0.0027, layout="packed", rows=2, features="1->1"),
        _rec("ptc_backward", v16, "double", 0.0050, layout="packed", features="1->1"),
        _rec("ptc_backward", v16, "double", 0.0060, layout="packed", rows=2, features="1->1"),
        {"kernel": "fgmres_seed000", "method": "fgmres_multigrid", "seconds_per_call": 0.1, "iterations": 27,
         "speedup_vs_unpreconditioned": 130.0, "speedup_vs_best_baseline": 1.9, "best_baseline": "eo-cg",
         "converged": True, "threads": 2, "precision": "double", "local_volume": "8.8.8.16"},
    ]
    t = {e["target"].split(":")[0]: e for e in evaluate({"threads_per_rank": [1, 2], "results": res})}
    hop = t["wilson_hop, double, out of cache (>= 32^4 local), 2 thread(s)"]
    assert hop["measured"] == 0.72 and hop["met"] and "packed" in hop["detail"] and "95.0% of the scattered" in hop["detail"]
    clover = t["wilson_clover, double, out of cache (>= 32^4 local), 2 thread(s)"]
    assert clover["measured"] == 0.60 and clover["met"] is False and "best triad" in clover["detail"]
    assert t["wilson_hop, double, out of cache"]["measured"] == 170.0
    sd = t["wilson_hop, out of cache"]
    assert sd["measured"] == pytest.approx(0.026 / 0.012) and sd["met"]
    assert t["wilson_clover, out of cache"]["met"] is None  # no single-precision clover record
    fwd = next(e for e in t.values() if e["target"].startswith("ptc_forward"))
    assert fwd["measured"] == pytest.approx(0.0028 / 0.002) and fwd["met"]  # packed vs packed: 1.40x
    assert "packed 2-row 1.80x" in fwd["detail"]
    bwd = next(e for e in t.values() if e["target"].startswith("ptc_backward"))
    assert bwd["measured"] == pytest.approx(0.0050 / 0.0028) and bwd["met"]
    assert "packed 2-row 2.22x" in bwd["detail"]
    e2e = [e for e in evaluate({"threads_per_rank": [2], "results": res}) if e["target"].startswith("learned")]
    assert [e["met"] for e in e2e] == [True, False] and e2e[1]["measured"] == 1.9
    # nothing measured: every target None, none claimed
    empty = evaluate({"threads_per_rank": [2], "results": []})
    assert empty and all(e["met"] is None and e["measured"] is None for e in empty)
    text = targets_table(evaluate({"threads_per_rank": [1, 2], "results": res}))
    assert "[met         ] wilson_hop, double" in text and "MISSED" in text and "72.0%" in text
    # an unconverged unpreconditioned solve makes the speed-up a lower bound (said), still met
    res.append({"kernel": "fgmres_seed000", "method": "fgmres_unpreconditioned", "seconds_per_call": 13.0,
                "iterations": 20000, "converged": False, "threads": 2, "precision": "double",
                "local_volume": "8.8.8.16"})
    e2e = [e for e in evaluate({"threads_per_rank": [2], "results": res}) if e["target"].startswith("learned")]
    assert e2e[0]["met"] and "lower bound" in e2e[0]["detail"]
    res.pop()
    # a solve that did not converge meets nothing
    res[-1]["converged"] = False
    e2e = [e for e in evaluate({"threads_per_rank": [2], "results": res}) if e["target"].startswith("learned")]
    assert [e["met"] for e in e2e] == [False, False] and "NOT CONVERGED" in e2e[0]["detail"]
