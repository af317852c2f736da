"""gaugenet.lcnn.action (issue 23, Task 2) and HMC with a learned MD action (Task 3): the S4-tied weights, exact
fits of the improved actions from values and derivatives, the plaquette-only baseline failing, the network action's
force against finite differences and on every process grid, the pure-gauge and learned-action HMC (exactness,
energy conservation), and the commands' interfaces and bad input."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import gaugenet as gn
from gaugenet.gauge.algebra import random_algebra
from gaugenet.gauge.expderiv import expm_su
from gaugenet.gauge.improved import ImprovedGaugeAction
from gaugenet.hmc import HMC
from gaugenet.hmc.learned import LearnedActionHMC
from gaugenet.hmc.momenta import link_array, with_links
from gaugenet.lcnn.action import (NETWORK, ActionSample, NetworkGaugeAction, _expand, _pc, _po, _paug, _PERMS,
                                  assemble, evaluate, fit_action, fit_plaquette_only, tied_orbits)
from gaugenet.lcnn.model_io import parse_network, save_model
from gaugenet.lcnn.tasks import ensemble

from conftest import GAUGENET_PATH, grids, random_su_global

DIMS = (4, 4, 4, 4)


def _random_weights(model, seed):
    lw, nw, la, na = tied_orbits()
    rng = np.random.default_rng(seed)
    return assemble(model, lw, rng.standard_normal(2 * nw), la, 0.1 * rng.standard_normal(2 * na))


def test_tied_weights_are_invariant_under_axis_permutations():
    lw, nw, la, na = tied_orbits()
    assert (nw, na) == (14, 13)
    rng = np.random.default_rng(0)
    w, a = _expand(lw, rng.standard_normal(2 * nw)), _expand(la, rng.standard_normal(2 * na))
    for p in _PERMS[::5]:
        for idx in np.ndindex(*w.shape):
            assert w[idx] == w[_pc(p, idx[0]), _pc(p, idx[1]), _po(p, idx[2], 2)]
        for j, k in np.ndindex(*a.shape):
            assert a[j, k] == a[_paug(p, j, 12), _paug(p, k, 12)]
    # plane-diagonal: no weight connects different planes
    assert np.all(w[0, 1] == 0) and a[0, 1] == 0 and a[24, 3] != 0


@pytest.mark.parametrize("N,name", [(2, "symanzik"), (3, "iwasaki")])
def test_fit_is_exact_and_plaquette_only_is_not(N, name):
    target = ImprovedGaugeAction(2.0 if N == 2 else 4.0, name)
    model = parse_network(NETWORK, N=N)
    cfgs = ensemble(DIMS, N, [2.3] if N == 2 else [5.9], 2, 5, 2, seed=3)
    samples = [ActionSample(model, U, target) for _, U in cfgs[:1]]
    weights, curve, n_par = fit_action(model, samples, iters=1)
    assert n_par == 54 and len(curve) == 1
    ev, ef = evaluate(model, weights, [cfgs[1][1]], target)           # a configuration not trained on
    assert ev < 1e-11 and ef < 1e-11, (ev, ef)
    bm, bw = fit_plaquette_only(samples)
    bv, bf = evaluate(bm, bw, [cfgs[1][1]], target)
    assert bf > 1e-2 and bv > 1e-4, (bv, bf)


def test_wilson_target_needs_no_rectangles():
    """For the Wilson action the plaquette-only model is exact too (a check of the baseline's fit)."""
    target = ImprovedGaugeAction(2.2, "wilson")
    cfgs = ensemble(DIMS, 2, [2.3], 2, 5, 2, seed=4)
    model = parse_network(NETWORK, N=2)
    samples = [ActionSample(model, cfgs[0][1], target)]
    bm, bw = fit_plaquette_only(samples)
    bv, bf = evaluate(bm, bw, [cfgs[1][1]], target)
    assert bv < 1e-12 and bf < 1e-12


def test_network_action_force_matches_finite_differences():
    N = 3
    lat = gn.Lattice(DIMS)
    U = gn.GaugeField.random(lat, N, seed=5)
    model = parse_network(NETWORK, N=N)
    net = NetworkGaugeAction(model, _random_weights(model, 1))
    Z = random_algebra(lat, N, 7, lead_shape=(4,)).reshape(4, -1, N, N)
    F = net.force(U)
    an = float(lat.allreduce(2.0 * float(np.sum(Z * np.swapaxes(F, -1, -2)).real)))
    L = link_array(U)

    def d(h):
        return (net.action(with_links(U, expm_su(h * Z) @ L)) - net.action(with_links(U, expm_su(-h * Z) @ L))) / (2 * h)
    fd = (4 * d(1e-3) - d(2e-3)) / 3
    assert abs(an - fd) < 1e-8 * max(1.0, abs(fd)), (an, fd)


@pytest.mark.mpi
@pytest.mark.parametrize("grid", grids(DIMS))
def test_network_action_on_every_grid(grid):
    from mpi4py import MPI
    N = 2
    u = random_su_global(DIMS, N, seed=8)
    model = parse_network(NETWORK, N=N)
    net = NetworkGaugeAction(model, _random_weights(model, 2))
    lat = gn.Lattice(DIMS, mpi=grid)
    U = gn.GaugeField.from_numpy(lat, u)
    lat1 = gn.Lattice(DIMS, comm=MPI.COMM_SELF)
    U1 = gn.GaugeField.from_numpy(lat1, u)
    a, a1 = net.action(U), net.action(U1)
    assert abs(a - a1) < 1e-12 * abs(a1)
    F = lat.gather_global(net.force(U).reshape((4,) + tuple(lat.local_shape) + (N, N)), lead=1)
    F1 = net.force(U1).reshape(F.shape)
    assert np.abs(F - F1).max() < 1e-12 * np.abs(F1).max()


def test_network_action_needs_a_summed_scalar():
    with pytest.raises(ValueError, match="summed over the lattice"):
        NetworkGaugeAction(parse_network("plaq; trace 12", N=2), None)


# ---------------------------------------------------------------------------------------------- HMC
def _hmc_pair(md_action, steps=6):
    kw = dict(n_steps=steps, tau=0.5, seed=3)
    return HMC(2.0, None, gauge_action="symanzik", **kw), LearnedActionHMC(2.0, md_action, "symanzik", **kw)


def test_learned_action_hmc_is_the_target_hmc_for_an_exact_network():
    lat = gn.Lattice(DIMS)
    U = gn.GaugeField.random(lat, 2, seed=1)
    target = ImprovedGaugeAction(2.0, "symanzik")
    model = parse_network(NETWORK, N=2)
    weights, _, _ = fit_action(model, [ActionSample(model, U, target)], iters=1)
    h, l = _hmc_pair(NetworkGaugeAction(model, weights))
    for t in range(2):
        U1, r1 = h.trajectory(U, t)
        U2, r2 = l.trajectory(U, t)
        assert r1.accepted == r2.accepted and abs(r1.dH - r2.dH) < 1e-8 and r1.H0 == r2.H0
        U = U1


def test_learned_action_hmc_with_a_poor_network_still_uses_the_target_energy():
    """The plaquette-only network's MD differs (other dH), but H0 and the Metropolis test are the target's."""
    lat = gn.Lattice(DIMS)
    U = gn.GaugeField.random(lat, 2, seed=2)
    model = parse_network(NETWORK, N=2)
    bm, bw = fit_plaquette_only([ActionSample(model, U, ImprovedGaugeAction(2.0, "symanzik"))])
    h, l = _hmc_pair(NetworkGaugeAction(bm, bw))
    _, r1 = h.trajectory(U, 0)
    _, r2 = l.trajectory(U, 0)
    assert r1.H0 == r2.H0 and abs(r1.dH - r2.dH) > 1e-6


def test_pure_gauge_symanzik_md_conserves_energy_at_second_order():
    lat = gn.Lattice(DIMS)
    U = gn.GaugeField.random(lat, 3, seed=4)
    U = HMC(4.0, None, gauge_action="symanzik", n_steps=5, tau=0.3).trajectory(U, 0)[0]
    dH = []
    for n in (8, 16):
        h = HMC(4.0, None, gauge_action="symanzik", n_steps=n, tau=0.5, integrator="leapfrog", seed=1)
        _, _, H0, H1, _ = h.molecular_dynamics(U, 1)
        dH.append(abs(H1 - H0))
    assert 3.0 < dH[0] / dH[1] < 5.5, dH               # leapfrog: dH ~ eps^2


# ---------------------------------------------------------------------------------------------- commands
def _run(args, timeout=300):
    env = dict(os.environ, PYTHONPATH=GAUGENET_PATH + os.pathsep + os.environ.get("PYTHONPATH", ""),
               OMP_NUM_THREADS="1")
    return subprocess.run([sys.executable, "-m", "gaugenet"] + args, env=env, capture_output=True, text=True,
                          timeout=timeout)


def test_lcnn_action_command_and_hmc_with_its_model(tmp_path):
    js, model = str(tmp_path / "a.json"), str(tmp_path / "a.h5")
    r = _run(["lcnn", "--task", "action", "--N", "2", "--train-configs", "1", "--test-volumes", "4",
              "--test-configs", "1", "--betas", "2.3", "--sweeps", "3", "--steps", "1", "--target-beta", "2.0",
              "--json", js, "--save", model])
    assert r.returncode == 0, r.stderr[-2000:]
    s = json.load(open(js))
    for k in ("task", "loop", "N", "n_weights", "train_volume", "test", "gauge_invariance_error",
              "training_seconds"):
        assert k in s
    assert s["task"] == "action" and s["N"] == 2
    t = s["test"][0]
    assert t["volume"] == [4, 4, 4, 4] and t["value_rel_error"] < 1e-10 and t["derivative_rel_error"] < 1e-10
    out = str(tmp_path / "run")
    r = _run(["hmc", "--N", "2", "--beta", "2.0", "--gauge-action", "symanzik", "--fermions", "none",
              "--md-action", model, "--therm", "1", "--trajectories", "2", "--steps", "4",
              "--condensate-vectors", "0", "--no-plots", "--out", out, "--json", str(tmp_path / "h.json")])
    assert r.returncode == 0, r.stderr[-2000:]
    h = json.load(open(tmp_path / "h.json"))
    assert h["trajectories"] == 2 and h["network"] == "lcnn:a.h5" and h["gauge_action"] == "symanzik"
    # a model for another gauge group is refused
    r = _run(["hmc", "--N", "3", "--fermions", "none", "--md-action", model, "--therm", "0", "--trajectories", "1",
              "--out", str(tmp_path / "run3")])
    assert r.returncode != 0 and "SU(2), not SU(3)" in r.stderr


@pytest.mark.parametrize("args,msg", [
    (["lcnn", "--task", "action", "--target-action", "luscher"], "unknown gauge action 'luscher'"),
    (["lcnn", "--task", "action", "--loss-weights", "1"], "--loss-weights takes two numbers"),
    (["lcnn", "--task", "action", "--network", "plaq; trace 12 sum"], "--network is not used by the action task"),
    (["hmc", "--gauge-action", "dbw3"], "unknown gauge action 'dbw3'"),
    (["hmc", "--md-action", "x.h5"], "--md-action needs --fermions none"),
    (["hmc", "--fermions", "none", "--algorithm", "slhmc"], "slhmc needs fermions"),
    (["hmc", "--fermions", "none", "--md-action", "missing.h5"], "missing.h5: no such file"),
])
def test_bad_input(tmp_path, args, msg):
    r = _run(args + (["--out", str(tmp_path / "o")] if args[0] == "hmc" else []), timeout=120)
    assert r.returncode != 0 and msg in r.stderr, r.stderr[-1500:]


def test_force_without_weight_gradients_matches_and_zero_directions_are_skipped():
    """value_and_grads(..., weight_grads=False) (the MD force of NetworkGaugeAction) gives the same link force
    with None for every weight gradient; an L-Conv whose weights of some directions are zero gives the same
    output whether or not forward skips their transports (keep=False skips them)."""
    from gaugenet.lcnn.compose import apply, value_and_grads
    model = parse_network(NETWORK, N=3)
    weights = _random_weights(model, 5)
    U = gn.GaugeField(gn.Lattice(DIMS), random_su_global(DIMS, 3, seed=8))
    y1, g1, F1 = value_and_grads(model, weights, U, lambda y: np.ones(1))
    y2, g2, F2 = value_and_grads(model, weights, U, lambda y: np.ones(1), weight_grads=False)
    assert np.allclose(F1, F2, rtol=0, atol=1e-13 * np.abs(F1).max()) and y1 == y2
    assert all(g is None for g in g2) and len(g2) == len(g1) and all(g is not None for g in g1)
    w2 = [w.copy() for w in weights]
    conv_w = next(i for i, w in enumerate(w2) if w.ndim == 3 and w.shape[-1] == 9)
    w2[conv_w][:, :, 1:5] = 0                       # directions 0 .. 3 (mu = 0, 1, both signs) switched off
    y_skip = apply(model, w2, U, keep=False)[1]
    y_keep = apply(model, w2, U, keep=True)[1]
    assert abs(y_skip[0] - y_keep[0]) <= 1e-12 * abs(y_keep[0])
    assert abs(y_skip[0] - apply(model, weights, U)[1][0]) > 1e-6 * abs(y_keep[0])
