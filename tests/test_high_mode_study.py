"""The high-mode variants of seed 000 Figs. 6-7 (models/high_mode_study.py, `mg --high-mode-variants`)."""
import json

import numpy as np
import pytest
from mpi4py import MPI

import gaugenet as gn
from gaugenet.cli.main import main
from gaugenet.models.high_mode_study import BASES, VARIANTS, build, check_variants, two_hop_paths
from gaugenet.models.optim import Adam
from gaugenet.models.training import high_mode_batch, train

COMM = MPI.COMM_WORLD


def _operator(seed=3):
    lat = gn.Lattice((4, 4, 4, 8))
    U = gn.GaugeField.random(lat, 3, seed=seed)
    return gn.WilsonClover(U, mass=-0.3, csw=1.0)


def test_two_hop_paths_are_the_65_of_the_paper():
    paths = two_hop_paths()
    keys = [tuple(map(tuple, p)) for p in paths]
    assert len(paths) == 65 and len(set(keys)) == 65
    assert sum(len(p) == 0 for p in paths) == 1 and sum(len(p) == 1 for p in paths) == 8
    for p in paths:
        if len(p) == 2:
            (a, s), (b, t) = p
            assert not (a == b and s == -t), f"backtracking path {p}"


@pytest.mark.mpi
@pytest.mark.parametrize("name", BASES + ("ptc-1-2-1-zb",))
def test_every_variant_starts_as_the_inverse_site_term(name):
    """All variants start at the same model, v -> v / (4 + m) (1 -> 2 -> 1: the random second feature is
    multiplied by zero weights), so that the study compares what training makes of them."""
    D = _operator()
    model, w = build(D, name)
    v = gn.FermionField.random(D.lat, 3, seed=5)
    out = model(w, v)
    assert np.allclose(out.data, v.data / (4.0 + D.mass), atol=1e-13)


@pytest.mark.mpi
@pytest.mark.parametrize("name", ["ptc", "lptc", "ptc-1-2-1", "ptc-2hop"])
def test_training_lowers_the_cost(name):
    D = _operator()
    model, w = build(D, name)
    alpha = 1e-3 if name == "lptc" else 1e-2       # run_study: a tenth of the rate for LPTC
    hist = train(model, w, high_mode_batch(D, 7), 25, Adam(alpha=alpha))
    first, last = hist[0][1], np.mean([h[1] for h in hist[-5:]])
    assert last < 0.8 * first, f"{name}: cost {first:.3e} -> {last:.3e}"


@pytest.mark.mpi
def test_zero_boundary_links_cut_only_at_rank_boundaries():
    """-zb: the same model where no direction is split over ranks, a different one where one is."""
    D = _operator()
    a, wa = build(D, "ptc")
    b, wb = build(D, "ptc-zb")
    rng = np.random.default_rng(1)
    w = rng.standard_normal(wa[0].shape) + 1j * rng.standard_normal(wa[0].shape)
    v = gn.FermionField.random(D.lat, 3, seed=2)
    same = np.allclose(a([w], v).to_numpy(), b([w], v).to_numpy(), atol=1e-12)
    assert same == all(g == 1 for g in D.lat.grid)


def test_bad_variants_are_named():
    with pytest.raises(ValueError, match="unknown high-mode variant 'ptc-3hop'"):
        check_variants(["ptc", "ptc-3hop"])
    with pytest.raises(ValueError, match="listed twice"):
        check_variants(["ptc", "ptc"])
    assert set(VARIANTS) >= {"lptc-zb", "ptc-2hop-zb"}


def test_mg_command_bad_variant(capsys):
    assert main(["mg", "--quick", "--high-mode-variants", "ptc,mlp"]) == 1
    assert "unknown high-mode variant 'mlp'" in capsys.readouterr().err


@pytest.mark.mpi
def test_mg_command_runs_the_study(tmp_path):
    """The study's `ptc` is the experiment's own M_h (same start, batches, rate, steps): the same FGMRES
    iterations as the fgmres_high_mode record; 1 -> 2 -> 1 needs fewer iterations than unpreconditioned FGMRES."""
    out = COMM.bcast(str(tmp_path / "mg.json") if COMM.Get_rank() == 0 else None, root=0)
    assert main(["mg", "--quick", "--no-plots", "--baselines", "gmres", "--propagator-rhs", "0",
                 "--high-mode-variants", "ptc,ptc-1-2-1", "--json", out]) == 0
    COMM.Barrier()
    with open(out) as f:
        rep = json.load(f)
    study = {r["variant"]: r for r in rep["high_mode_study"]}
    solves = {r["method"]: r for r in rep["solves"]}
    assert set(study) == {"ptc", "ptc-1-2-1"}
    assert study["ptc"]["iterations"] == solves["fgmres_high_mode"]["iterations"]
    assert study["ptc"]["real_parameters"] == 2 * 9 * 16 and study["ptc-1-2-1"]["layers"] == 2
    for r in study.values():
        assert r["converged"] and r["training_steps"] == rep["config"]["high_steps"] == 20
        assert len(r["cost_history"]) == 20 and r["cost_last"] < r["cost_first"]
        assert r["iterations"] < solves["fgmres_unpreconditioned"]["iterations"] and r["iteration_gain"] > 1
