"""flows/gauge/hmc.py: the force of the flowed action S_F = S(F(V)) - log det F_* on the input links against finite
differences (SU(2), SU(3)); flow HMC: reversibility, the identity flow reproducing plain HMC trajectory by
trajectory, plain HMC of the 4D Wilson action reproducing gaugenet.hmc.HMC, dH ~ eps^2, chains against the exact
2D torus plaquette; the independence Metropolis sampler for gauge fields against the exact value with a poor
flow; the exact 2D plaquette against Bessel functions and the strong-coupling series; process grids; the
command (JSON keys, errors)."""
import math

import numpy as np
import pytest

import gaugenet as gn
from gaugenet.flows.gauge.hmc import (FlowHMC, FlowedAction, PlaneWilsonAction, exact_plaquette_2d,
                                      flowed_action_and_force, independence_sampler, logdet_discretisation,
                                      run_flow_hmc)
from gaugenet.flows.gauge.model import GaugeFlowModel, leading_order_theta, wilson_action
from gaugenet.gauge.expderiv import expm_su
from gaugenet.gauge.group import traceless_antihermitian

from conftest import grids, random_su_global


def _links(dims, N, seed, mpi=None, comm=None):
    lat = gn.Lattice(dims, coarse=mpi is None, mpi=mpi, comm=comm)
    return lat, gn.GaugeField.random(lat, N=N, seed=seed).sites().astype(np.complex128)


def _model(names, N, beta, n_steps, extra=None, n_t=2):
    m = GaugeFlowModel(names, n_t=n_t, n_steps=n_steps)
    m.theta = leading_order_theta(m, beta, N)
    if extra is not None:
        m.theta = m.theta + np.asarray(extra)
    return m


def _alg(shape, seed, frozen=(2, 3)):
    r = np.random.default_rng(seed)
    X = traceless_antihermitian(r.standard_normal(shape) + 1j * r.standard_normal(shape))
    for d in frozen:
        X[d] = 0
    return X


@pytest.mark.parametrize("N,names", [(2, ["1x1", "1x2"]), (3, ["1x1", "1x2"]), (3, ["1x1", "1x1^2"])])
def test_flowed_force_against_finite_differences(N, names):
    lat, V = _links((4, 4, 2, 1), N, 3)
    m = _model(names, N, 3.0, 3, [[0.0, 0.05], [0.04, -0.03]])
    ev = flowed_action_and_force(m, lat, V, 3.0)
    U, ld = m.forward(lat, V, slice_axis=2)
    S = wilson_action(lat, U, 3.0, (0, 1), 2)
    assert np.allclose(ev.action, S - ld, rtol=1e-13) and np.allclose(ev.U, U, atol=1e-14)
    assert np.all(ev.force[2:] == 0)                                 # frozen directions feel no force
    X = _alg(V.shape, 0)
    h = 1e-5

    def SF(s):
        W = np.stack([expm_su(s * X[d]) @ V[d] for d in range(4)])
        return float(flowed_action_and_force(m, lat, W, 3.0).action.sum())

    fd = (SF(h) - SF(-h)) / (2 * h)
    pred = 2.0 * float(np.sum(np.trace(X @ ev.force, axis1=-2, axis2=-1).real))   # dS/ds = 2 tr(X F)
    assert abs(fd - pred) < 1e-7 * abs(pred), (fd, pred)
    # the flow changes the force: it is not the plain Wilson force at V nor zero
    from gaugenet.flows.gauge.hmc import plane_wilson_action_and_force
    Fp = plane_wilson_action_and_force(lat, V, 3.0).force
    assert np.abs(ev.force - Fp).max() > 1e-2


@pytest.mark.parametrize("scheme", ["omelyan", "leapfrog"])
def test_reversibility(scheme):
    lat, V = _links((4, 4, 2, 1), 3, 4)
    m = _model(["1x1", "1x2"], 3, 4.0, 3, [[0.0, 0.02], [0.01, -0.01]])
    h = FlowHMC(FlowedAction(m, lat, 4.0), 3, n_steps=2, tau=0.6, integrator=scheme, seed=2)
    P = h.momenta(0)
    assert np.all(P[2:] == 0)
    V1, P1, nf = h.molecular_dynamics(V, P)
    assert np.abs(V1 - V).max() > 1e-2
    V2, P2, _ = h.molecular_dynamics(V1, -P1)
    assert np.abs(V2 - V).max() < 1e-11 and np.abs(P2 + P).max() < 1e-10
    assert nf == (3 if scheme == "leapfrog" else 5)


def test_identity_flow_is_plain_hmc():
    """theta = 0: flow HMC in V is plain HMC, trajectory by trajectory (per-slice tests included)."""
    lat, V = _links((4, 4, 4, 1), 2, 5)
    m = GaugeFlowModel(["1x1", "1x2"], n_t=2, n_steps=3)
    hf = FlowHMC(FlowedAction(m, lat, 2.5), 2, n_steps=2, tau=1.4, integrator="leapfrog", seed=9)
    hp = FlowHMC(PlaneWilsonAction(lat, 2.5), 2, n_steps=2, tau=1.4, integrator="leapfrog", seed=9)
    Vf, Vp = V, V
    mixed = False
    for t in range(4):
        Vf, rf, Uf = hf.trajectory(Vf, t)
        Vp, rp, Up = hp.trajectory(Vp, t)
        assert np.array_equal(rf.accepted, rp.accepted)
        assert np.abs(rf.dH - rp.dH).max() < 1e-10 and np.abs(rf.plaquette - rp.plaquette).max() < 1e-12
        assert np.abs(Vf - Vp).max() < 1e-11 and np.abs(Uf - Vf).max() < 1e-13
        mixed |= bool(rf.accepted.any() and not rf.accepted.all())
    assert mixed                                  # some trajectory accepted only part of the slices


def test_plain_4d_is_gaugenet_hmc():
    """The per-slice machinery with one slice (slice_axis None) and all four directions is gaugenet.hmc.HMC:
    same momenta, same Metropolis uniform, same chain."""
    from gaugenet.hmc import HMC
    lat = gn.Lattice((4, 4, 4, 4))
    U = gn.GaugeField.random(lat, N=2, seed=5)
    V = U.sites().astype(np.complex128).copy()
    h = HMC(1.5, None, n_steps=2, tau=1.5, integrator="leapfrog", seed=7)
    f = FlowHMC(PlaneWilsonAction(lat, 1.5, dirs=(0, 1, 2, 3), slice_axis=None), 2, n_steps=2, tau=1.5,
                integrator="leapfrog", seed=7)
    acc = []
    for t in range(4):
        U, rec = h.trajectory(U, t)
        V, r2, _ = f.trajectory(V, t)
        acc.append(rec.accepted)
        assert rec.accepted == bool(r2.accepted[0]) and abs(rec.dH - r2.dH[0]) < 1e-9 * max(1, abs(rec.dH))
        assert abs(rec.plaquette - r2.plaquette[0]) < 1e-13 and np.abs(U.sites() - V).max() < 1e-12
    assert not all(acc)                            # the chains also agree on rejections


def test_dH_scales_as_eps_squared():
    lat, V = _links((4, 4, 2, 1), 2, 6)
    m = _model(["1x1", "1x2"], 2, 3.0, 2, [[0.0, 0.03], [0.02, -0.02]])
    act = FlowedAction(m, lat, 3.0)
    dh = []
    for n in (3, 6, 12):
        h = FlowHMC(act, 2, n_steps=n, tau=0.5, integrator="leapfrog", seed=3)
        P = h.momenta(0)
        V1, P1, _ = h.molecular_dynamics(V, P)
        H = [h._kinetic(Q) + act.evaluate(W).action for Q, W in ((P, V), (P1, V1))]
        dh.append(np.abs(H[1] - H[0]).sum())
    r1, r2 = dh[0] / dh[1], dh[1] / dh[2]
    assert 3.3 < r1 < 4.7 and 3.7 < r2 < 4.3, dh


def test_exact_plaquette_2d():
    def bessel_i(n, x):
        return sum((x / 2) ** (2 * k + n) / (math.factorial(k) * math.factorial(k + n)) for k in range(60))

    for b in (0.5, 2.0, 5.0):                     # SU(2), infinite lattice: I_2(beta) / I_1(beta)
        assert abs(exact_plaquette_2d(2, b, np.inf) - bessel_i(2, b) / bessel_i(1, b)) < 1e-12
        assert abs(exact_plaquette_2d(2, b, 10 ** 6) - bessel_i(2, b) / bessel_i(1, b)) < 1e-12
    b = 0.05                                      # SU(3) strong coupling: beta/18 + beta^2/216 + O(beta^3)
    assert abs(exact_plaquette_2d(3, b, np.inf) - (b / 18 + b * b / 216)) < 1e-6 * b ** 2
    # a small torus differs from the infinite lattice (the other irreps), a large one does not
    assert abs(exact_plaquette_2d(3, 6.0, 4) - exact_plaquette_2d(3, 6.0, np.inf)) > 5e-3
    assert abs(exact_plaquette_2d(3, 6.0, 1024) - exact_plaquette_2d(3, 6.0, np.inf)) < 1e-12
    # convergence in the irrep cutoff
    assert abs(exact_plaquette_2d(3, 5.0, 4, cutoff=8) - exact_plaquette_2d(3, 5.0, 4, cutoff=12)) < 1e-10
    with pytest.raises(ValueError, match="N must be 2 or 3"):
        exact_plaquette_2d(4, 1.0, 4)


def _haar(r, n, N):
    """n Haar-random SU(N) matrices (QR of Gaussian matrices with the phases fixed, then det 1)."""
    Z = r.standard_normal((n, N, N)) + 1j * r.standard_normal((n, N, N))
    Q, R = np.linalg.qr(Z)
    d = np.diagonal(R, axis1=1, axis2=2)
    Q = Q * (d / np.abs(d))[:, None, :]
    Q[:, :, 0] /= np.linalg.det(Q)[:, None]
    return Q


@pytest.mark.parametrize("N,beta", [(2, 2.0), (3, 3.0)])
def test_exact_plaquette_on_one_plaquette_torus(N, beta):
    """The 1 x 1 torus (plaquette U0 U1 U0^dag U1^dag) by importance sampling of Haar pairs, independently of the
    character expansion: the torus formula with all its irreps."""
    r = np.random.default_rng(1)
    A, B = _haar(r, 100000, N), _haar(r, 100000, N)
    dag = lambda M: np.conj(np.swapaxes(M, 1, 2))
    P = np.trace(A @ B @ dag(A) @ dag(B), axis1=1, axis2=2).real / N
    w = np.exp(beta * P)
    mean = float(np.sum(w * P) / np.sum(w))
    err = float(np.sqrt(np.sum((w * (P - mean)) ** 2)) / np.sum(w))
    ex = exact_plaquette_2d(N, beta, 1)
    assert abs(mean - ex) < 4 * err and abs(ex - exact_plaquette_2d(N, beta, np.inf)) > 50 * err


@pytest.mark.parametrize("N,beta,n", [(2, 2.0, 4), (3, 4.0, 256), (3, 6.0, 64)])
def test_log_partition_2d(N, beta, n):
    """d log Z / d beta = -<S> / beta = -n (1 - <Re tr U_p / N>) against exact_plaquette_2d, and the 1 x 1 torus
    Z = < exp(-S) >_Haar by direct sampling of Haar pairs."""
    from gaugenet.flows.gauge.hmc import log_partition_2d
    h = 1e-4
    d = (log_partition_2d(N, beta + h, n) - log_partition_2d(N, beta - h, n)) / (2 * h)
    assert abs(d + n * (1.0 - exact_plaquette_2d(N, beta, n))) < 1e-6 * n
    r = np.random.default_rng(2)
    A, B = _haar(r, 200000, N), _haar(r, 200000, N)
    P = np.trace(A @ B @ np.conj(np.swapaxes(A, 1, 2)) @ np.conj(np.swapaxes(B, 1, 2)), axis1=1, axis2=2).real / N
    w = np.exp(-beta * (1.0 - P))
    assert abs(np.log(w.mean()) - log_partition_2d(N, beta, 1)) < 4 * w.std() / w.mean() / np.sqrt(w.size)
    with pytest.raises(ValueError, match="n_plaquettes >= 1"):
        log_partition_2d(N, beta, 0)


def test_flow_hmc_chain_matches_exact_2x2_torus():
    """Flow HMC (a flow away from the trivializing one, so S_F differs from S) on 96 independent 2 x 2 tori of
    SU(2) at beta = 4, where the torus value differs from the infinite-lattice one by several errors."""
    lat, V0 = _links((2, 2, 96, 1), 2, 7)
    beta = 4.0
    m = _model(["1x1"], 2, beta, 2, [[0.15]], n_t=1)
    s, recs, _ = run_flow_hmc(FlowedAction(m, lat, beta), 2, V0, 14, 2, 2, 1.0, "omelyan", seed=4)
    ex = exact_plaquette_2d(2, beta, 4)
    assert abs(ex - exact_plaquette_2d(2, beta, np.inf)) > 5 * s["plaquette_err"]
    assert abs(s["plaquette"] - ex) < 3.5 * s["plaquette_err"], (s["plaquette"], s["plaquette_err"], ex)
    assert 0.7 < s["acceptance"] < 1.0 and s["forces_per_trajectory"] == 4
    # the flow's log-det is accurate enough at 2 steps (at 1 step its error, std 0.12, biases the chain by
    # 8 standard deviations: measured, docs/flows.md)
    assert logdet_discretisation(m, lat, V0).std() < 0.02
    # plain HMC of the same theory, same test
    s2, _, _ = run_flow_hmc(PlaneWilsonAction(lat, beta), 2, V0, 60, 5, 3, 1.0, seed=4)
    assert abs(s2["plaquette"] - ex) < 3.5 * s2["plaquette_err"], (s2["plaquette"], s2["plaquette_err"], ex)


def test_independence_sampler_exact_with_a_poor_flow():
    """A flow three times too strong (its own samples are far too ordered), reweighted by the independence
    Metropolis chain to the exact torus plaquette of SU(3) 2 x 2 tori at beta = 3."""
    lat = gn.Lattice((2, 2, 64, 1), coarse=True)
    beta = 3.0
    m = GaugeFlowModel(["1x1"], n_t=1, n_steps=3)
    m.theta = 3.0 * leading_order_theta(m, beta, 3)
    out = independence_sampler(m, lat, beta, 3, 16, seed=2)
    ex = exact_plaquette_2d(3, beta, 4)
    assert out["proposals"] == 1024 and 0.05 < out["acceptance"] < 0.9
    assert abs(out["plaquette"] - ex) < 3.5 * out["plaquette_err"], (out["plaquette"], out["plaquette_err"], ex)
    assert out["model_plaquette"] - ex > 8 * out["model_plaquette_err"]       # the model alone is wrong
    # the accumulated log-det is accurate here: its discretisation error is far below the weights' spread
    V = gn.GaugeField.random(lat, N=3, seed=2, stream=0).sites().astype(np.complex128)
    d = logdet_discretisation(m, lat, V)
    assert np.abs(d).max() < 1e-2 * out["logw"].std()


def test_errors():
    lat, V = _links((4, 4, 2, 1), 2, 1)
    m = GaugeFlowModel(["1x1"], n_t=1, n_steps=2)
    act = FlowedAction(m, lat, 2.0)
    with pytest.raises(ValueError, match="number of MD steps"):
        FlowHMC(act, 2, n_steps=0)
    with pytest.raises(ValueError, match="trajectory length"):
        FlowHMC(act, 2, tau=-1.0)
    with pytest.raises(ValueError, match="unknown integrator"):
        FlowHMC(act, 2, integrator="euler")
    with pytest.raises(ValueError, match="beta must be positive"):
        FlowedAction(m, lat, 0.0)
    with pytest.raises(ValueError, match="slice axis"):
        PlaneWilsonAction(lat, 2.0, slice_axis=1)
    with pytest.raises(ValueError, match=">= 10 measured"):
        run_flow_hmc(act, 2, V, 5, 0, 2, 1.0)
    with pytest.raises(ValueError, match="at least one batch"):
        independence_sampler(m, lat, 2.0, 2, 0, seed=1)


@pytest.mark.mpi
def test_process_grids_agree():
    """Flow HMC (per-slice Metropolis) and the independence sampler give the same chain on every process grid and
    on one unsplit rank."""
    from mpi4py import MPI
    dims = (4, 4, 4, 2)
    u = random_su_global(dims, 2, 21)
    m = _model(["1x1"], 2, 2.0, 2, [[0.1]], n_t=1)

    def chain(lat):
        V = gn.GaugeField.from_numpy(lat, u).sites().astype(np.complex128)
        h = FlowHMC(FlowedAction(m, lat, 2.0), 2, n_steps=2, tau=1.0, seed=3)
        V, recs = h.run(V, 0, 3)
        glob = lat.gather_global(V.reshape((4,) + lat.local_shape + (2, 2)).transpose(1, 2, 3, 4, 0, 5, 6))
        ind = independence_sampler(m, lat, 2.0, 2, 3, seed=5)
        return glob, [r.dH for r in recs], [r.accepted for r in recs], ind["logw"], ind["acceptance"]

    ref = chain(gn.Lattice(dims, mpi=(1, 1, 1, 1), comm=MPI.COMM_SELF))
    for grid in grids(dims):
        out = chain(gn.Lattice(dims, mpi=grid))
        assert np.abs(out[0] - ref[0]).max() < 1e-12
        for a, b in zip(out[1], ref[1]):
            assert np.abs(a - b).max() < 1e-10
        assert all(np.array_equal(a, b) for a, b in zip(out[2], ref[2]))
        assert np.abs(out[3] - ref[3]).max() < 1e-10 and out[4] == ref[4]


def test_cli_flow_hmc(tmp_path, capsys):
    import json
    from gaugenet.cli.main import main
    js = str(tmp_path / "f.json")
    args = ["flow", "--theory", "su2-2d", "--L", "4", "--batch", "4", "--steps", "0", "--loops", "1x1", "--n-t",
            "1", "--flow-steps", "2", "--samples", "16", "--beta", "2.0"]
    assert main(args + ["--hmc-trajectories", "10", "--hmc-therm", "1", "--hmc-steps", "2", "--compare-hmc",
                        "--plain-hmc-trajectories", "20", "--json", js]) == 0
    s = json.load(open(js))
    for k in ("acceptance", "plaquette", "plaquette_err", "tau_int_plaquette", "hmc_acceptance", "hmc_plaquette",
              "hmc_plaquette_err", "hmc_tau_int_plaquette", "exact_plaquette", "cost_ratio", "tau_int_ratio",
              "ess", "ess_err", "independence"):
        assert k in s, k
    assert s["flow_hmc"]["trajectories"] == 10 and s["hmc"]["trajectories"] == 20 and s["flow_hmc"]["slices"] == 4
    assert 0 < s["acceptance"] <= 1 and 0 < s["plaquette"] < 1 and s["plaquette_err"] > 0
    assert abs(s["exact_plaquette"] - exact_plaquette_2d(2, 2.0, 16)) < 1e-14
    for flags, msg in ((["--hmc-trajectories", "10", "--hmc-steps", "0"], "hmc_steps"),
                       (["--hmc-trajectories", "5"], "hmc_trajectories"),
                       (["--hmc-trajectories", "10", "--hmc-tau", "0"], "hmc_tau"),
                       (["--hmc-trajectories", "10", "--hmc-integrator", "euler"], "hmc_integrator"),
                       (["--hmc-trajectories", "10", "--hmc-therm", "-1"], "hmc_therm")):
        assert main(args + flags) == 1
        assert msg in capsys.readouterr().err
