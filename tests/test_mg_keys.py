"""The issue-19 keys of `python -m gaugenet mg --json`: training_seconds, seconds_per_propagator (point sources
solved per method, --propagator-rhs), break_even_propagators, levels; the atomic JSON write; the propagator
helpers (models/propagator.py)."""
import json
import os

import numpy as np
import pytest
from mpi4py import MPI

from conftest import NRANKS
from gaugenet.cli.main import main
from gaugenet.models.propagator import RHS_PER_PROPAGATOR, break_even, point_source, training_seconds

COMM = MPI.COMM_WORLD
NON_LEARNED = ("eo-cg", "eo-bicgstab", "fgmres_unpreconditioned", "conventional_mg", "conventional_mg_exact")


def _path(tmp_path, name):
    return COMM.bcast(str(tmp_path / name) if COMM.Get_rank() == 0 else None, root=0)


# --quick's 4^3 x 8 has no packed layout (local x extent 4): the lockstep multi-rhs solve needs 8
PACKED_SMALL = ["--lattice", "8.4.4.8", "--block", "4.2.2.2", "--sweeps", "10", "--mass", "-0.3", "--steps", "20,10,20,3",
                "--n-basis", "6"]


def _run(tmp_path, *extra, quick=True):
    out = _path(tmp_path, "mg.json")
    assert main(["mg", "--no-plots", "--json", out] + (["--quick"] if quick else PACKED_SMALL) + list(extra)) == 0
    COMM.Barrier()
    with open(out) as f:
        return json.load(f)


@pytest.mark.mpi
def test_propagator_keys_with_two_sources(tmp_path):
    """Two point sources per method, scaled to 12; the capped reference and the high-mode model are skipped with a
    reason; break-even is training / (seconds saved against the fastest converged non-learned method)."""
    rep = _run(tmp_path, "--baselines", "gmres,eo-cg,amg-exact", "--reference-maxiter", "3", "--propagator-rhs", "2")
    for key in ("config", "setup", "setup_seconds", "model_seconds_per_application", "solves", "lattice", "ranks",
                "plaquette"):
        assert key in rep, f"existing key {key} lost"
    assert rep["levels"] == 2
    stages = {s["stage"]: s["seconds"] for s in rep["setup"]}
    assert rep["training_seconds"] == pytest.approx(sum(v for k, v in stages.items() if k.endswith("_training")))
    assert 0 < rep["training_seconds"] < rep["setup_seconds"]      # near-null vectors are set-up, not training
    prop = rep["propagator"]
    assert prop["rhs_solved"] == 2 and prop["rhs_per_propagator"] == 12 and prop["extrapolated"] is True
    assert set(prop["skipped"]) == {"fgmres_unpreconditioned", "fgmres_high_mode"}
    assert "did not converge" in prop["skipped"]["fgmres_unpreconditioned"]
    spp = rep["seconds_per_propagator"]
    assert set(spp) == {"eo-cg", "conventional_mg_exact", "fgmres_multigrid"}
    for m, s in spp.items():
        p = prop["methods"][m]
        assert len(p["seconds_per_rhs"]) == len(p["iterations"]) == 2 and p["converged"]
        assert max(p["residuals"]) < 1e-8 and min(p["iterations"]) > 0
        assert s == pytest.approx(6 * sum(p["seconds_per_rhs"]))
    # the multigrid needs fewer iterations per source than CG on the normal equations
    assert max(prop["methods"]["fgmres_multigrid"]["iterations"]) < min(prop["methods"]["eo-cg"]["iterations"])
    best = min(("eo-cg", "conventional_mg_exact"), key=spp.get)
    assert rep["break_even_against"] == best
    saved = spp[best] - spp["fgmres_multigrid"]
    assert rep["seconds_saved_per_propagator"] == pytest.approx(saved)
    if saved > 0:
        assert rep["break_even_propagators"] == pytest.approx(rep["training_seconds"] / saved)
        assert "break_even_reason" not in rep
    else:
        assert rep["break_even_propagators"] is None and "saves no time" in rep["break_even_reason"]


def test_a_whole_propagator_and_none(tmp_path):
    """--propagator-rhs 12 solves all twelve sources (not extrapolated), and with --propagator-batch 5 the learned
    multigrid solves them again 5 at a time in lockstep (8 x 4 x 4 x 8: the packed layout); 0 measures nothing and
    says so."""
    rep = _run(tmp_path, "--baselines", "eo-cg", "--propagator-rhs", "12", "--propagator-batch", "5", quick=False)
    prop = rep["propagator"]
    assert prop["rhs_solved"] == 12 and prop["extrapolated"] is False
    for m in ("eo-cg", "fgmres_multigrid", "fgmres_multigrid_multi_rhs"):
        p = prop["methods"][m]
        assert len(p["iterations"]) == 12 and p["converged"]
        assert rep["seconds_per_propagator"][m] == pytest.approx(sum(p["seconds_per_rhs"]))
    # in lockstep, 5 + 5 + 2 sources: each source takes the iterations it takes alone
    multi = prop["methods"]["fgmres_multigrid_multi_rhs"]
    assert multi["batch"] == 5 and len(multi["batch_seconds"]) == 3
    assert multi["iterations"] == prop["methods"]["fgmres_multigrid"]["iterations"]
    assert sum(multi["seconds_per_rhs"]) == pytest.approx(sum(multi["batch_seconds"]))
    assert rep["config"]["propagator_batch"] == 5
    assert "fgmres_high_mode" in prop["skipped"]
    rep0 = _run(tmp_path, "--baselines", "eo-cg", "--propagator-rhs", "0")
    assert rep0["seconds_per_propagator"] == {} and rep0["propagator"] is None
    assert rep0["break_even_propagators"] is None and "not measured" in rep0["break_even_reason"]
    assert rep0["levels"] == 2 and rep0["training_seconds"] > 0


def test_bad_propagator_rhs_is_an_error(capsys):
    assert main(["mg", "--quick", "--propagator-rhs", "13"]) == 1
    assert "--propagator-rhs must be 0 to 12" in capsys.readouterr().err
    assert main(["mg", "--quick", "--propagator-rhs", "-1"]) == 1
    assert "--propagator-rhs must be 0 to 12" in capsys.readouterr().err
    assert main(["mg", "--quick", "--propagator-batch", "1"]) == 1
    assert "--propagator-batch must be 0 (none) or at least 2" in capsys.readouterr().err


def _prop(**secs):
    """A propagator record with the given seconds per propagator; a negative value means not converged."""
    return {"methods": {m: {"seconds_per_propagator": abs(s), "converged": s >= 0} for m, s in secs.items()}}


def test_break_even_arithmetic_and_reasons():
    ans = "fgmres_multigrid"
    be = break_even(_prop(fgmres_multigrid=1.0, **{"eo-cg": 3.0, "eo-bicgstab": 2.5}), 10.0, 40.0, ans, NON_LEARNED)
    assert be["break_even_against"] == "eo-bicgstab" and be["seconds_saved_per_propagator"] == pytest.approx(1.5)
    assert be["break_even_propagators"] == pytest.approx(10.0 / 1.5)
    assert be["break_even_propagators_setup"] == pytest.approx(40.0 / 1.5)
    # an unconverged method is not a competitor, however fast
    be = break_even(_prop(fgmres_multigrid=1.0, **{"eo-cg": 3.0, "eo-bicgstab": -0.1}), 10.0, 40.0, ans, NON_LEARNED)
    assert be["break_even_against"] == "eo-cg" and be["break_even_propagators"] == pytest.approx(5.0)
    # no saving: None with the reason and the numbers
    be = break_even(_prop(fgmres_multigrid=2.0, conventional_mg_exact=1.5), 10.0, 40.0, ans, NON_LEARNED)
    assert be["break_even_propagators"] is None and be["break_even_against"] == "conventional_mg_exact"
    assert "saves no time" in be["break_even_reason"] and "1.500 s" in be["break_even_reason"]
    be = break_even(_prop(fgmres_multigrid=-1.0, **{"eo-cg": 3.0}), 10.0, 40.0, ans, NON_LEARNED)
    assert be["break_even_propagators"] is None and "learned multigrid did not converge" in be["break_even_reason"]
    be = break_even(_prop(fgmres_multigrid=1.0, fgmres_high_mode=0.5), 10.0, 40.0, ans, NON_LEARNED)
    assert be["break_even_propagators"] is None and "no non-learned method" in be["break_even_reason"]
    assert training_seconds([{"stage": "high_mode_training", "seconds": 1.5}, {"stage": "near_null_vectors",
                             "seconds": 9.0}, {"stage": "multigrid_training", "seconds": 2.0}]) == pytest.approx(3.5)


@pytest.mark.mpi
def test_point_sources_are_the_twelve_unit_vectors_of_the_origin():
    import gaugenet as gn
    lat = gn.Lattice((4, 4, 4, 8))
    seen = np.zeros((4, 3))
    for k in range(RHS_PER_PROPAGATOR):
        a = point_source(lat, 3, k).to_numpy()
        assert a.shape == (8, 4, 4, 4, 4, 3)
        nz = np.argwhere(a != 0)
        assert len(nz) == 1 and tuple(nz[0][:4]) == (0, 0, 0, 0) and a[tuple(nz[0])] == 1.0
        seen[tuple(nz[0][4:])] += 1
    assert (seen == 1).all(), "each spin-colour component exactly once"


@pytest.mark.skipif(NRANKS > 1, reason="the failing write is on rank 0 only")
def test_json_write_is_atomic(tmp_path, monkeypatch):
    """A write that fails half way leaves the previous JSON file whole (a plain open() would have truncated it)
    and no temporary file; the next successful run replaces it."""
    out = tmp_path / "mg.json"
    out.write_text('{"old": true}')
    import gaugenet.util.atomic as atomic

    def broken_dump(obj, fh, **kw):
        fh.write('{"solves": [')
        raise OSError("disk full (simulated)")
    monkeypatch.setattr(atomic.json, "dump", broken_dump)
    assert main(["mg", "--quick", "--no-plots", "--baselines", "eo-cg", "--propagator-rhs", "1",
                 "--json", str(out)]) != 0
    assert json.loads(out.read_text()) == {"old": True}
    assert not [f for f in os.listdir(tmp_path) if f.endswith("gaugenet-part")]
    monkeypatch.undo()
    rep = _run(tmp_path, "--baselines", "eo-cg", "--propagator-rhs", "1")
    assert rep["levels"] == 2 and set(rep["seconds_per_propagator"]) == {"eo-cg", "fgmres_multigrid"}
