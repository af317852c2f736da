"""Issue 23, Task 2b: the blocking kernel of the fixed-point action, the minimisation and the FP data
(gaugenet.lcnn.fixed_point)."""
import numpy as np
import pytest

import gaugenet as gn
from gaugenet.gauge.expderiv import expm_su
from gaugenet.gauge.group import dag
from gaugenet.gauge.improved import ImprovedGaugeAction
from gaugenet.lcnn import fixed_point as fp


def _algebra(rng, shape, N):
    X = rng.standard_normal(shape + (N, N)) + 1j * rng.standard_normal(shape + (N, N))
    X = X - dag(X)
    return X - np.trace(X, axis1=-2, axis2=-1)[..., None, None] * np.eye(N) / N


def _moved(U, X, s):
    return gn.GaugeField(U.lat, (expm_su(s * X) @ U.sites()).reshape(U.data.shape))


def _grid():
    from mpi4py import MPI
    return {1: "1.1.1.1", 2: "1.1.1.2", 4: "1.1.2.2"}[MPI.COMM_WORLD.Get_size()]


@pytest.mark.parametrize("N", [2, 3])
def test_max_trace_is_special_unitary_and_maximal(N):
    rng = np.random.default_rng(N)
    X = rng.standard_normal((100, N, N)) + 1j * rng.standard_normal((100, N, N))
    W, m = fp.max_trace_su(X)
    assert np.abs(W @ dag(W) - np.eye(N)).max() < 1e-13
    assert np.abs(np.linalg.det(W) - 1).max() < 1e-13
    assert np.allclose(m, np.trace(W @ X, axis1=-2, axis2=-1).real, atol=1e-12)
    for k in range(20):                               # no small SU(N) move increases the trace
        W2 = expm_su(_algebra(rng, (100,), N) * 1e-3) @ W
        assert np.all(np.trace(W2 @ X, axis1=-2, axis2=-1).real <= m + 1e-12)
    if N == 2:                                        # SU(2): max Re tr(W X) = 2 |r| of X's quaternion part
        r = np.stack(fp._su2_part(X), axis=-1)
        assert np.allclose(m, 2 * np.linalg.norm(r, axis=-1), atol=1e-12)


@pytest.mark.parametrize("N", [2, 3])
def test_kernel_is_nonnegative_zero_at_the_projection_and_gauge_invariant(N):
    lat = gn.Lattice((2, 2, 2, 2))
    latf = fp.fine_lattice(lat)
    K = fp.BlockingKernel()
    U = gn.GaugeField.random(latf, N, seed=4)
    V = gn.GaugeField.random(lat, N, seed=3)
    t = K.evaluate(U, V, derivatives=False)
    assert t > 0
    Q, _ = K.blocked(U)
    W, _ = fp.max_trace_su(dag(Q))
    Vp = gn.GaugeField(lat, W.reshape(V.data.shape))
    assert abs(K.evaluate(U, Vp, derivatives=False)) < 1e-11
    # gauge transformation g on the fine lattice, g(2 n_B) on the coarse one
    from gaugenet.gauge.group import haar_su
    g = haar_su(latf, (), N, seed=9).reshape(latf.local_volume, N, N)
    T = fp.Paths(U)
    Ug = np.stack([g @ U.sites()[mu] @ dag(T.shift(g, mu, +1)) for mu in range(4)])
    gc = fp._corners(latf, g[None])[0]
    Vs = V.sites()
    from gaugenet.links.paths import Paths as _P
    Tc = _P(V)
    Vg = np.stack([gc @ Vs[mu] @ dag(Tc.shift(gc, mu, +1)) for mu in range(4)])
    tg = K.evaluate(gn.GaugeField(latf, Ug.reshape(U.data.shape)), gn.GaugeField(lat, Vg.reshape(V.data.shape)),
                    derivatives=False)
    assert abs(tg - t) < 1e-11 * abs(t)


@pytest.mark.parametrize("N", [2, 3])
def test_kernel_forces_match_finite_differences(N):
    rng = np.random.default_rng(7 + N)
    lat = gn.Lattice((2, 2, 2, 2))
    latf = fp.fine_lattice(lat)
    K = fp.BlockingKernel(kappa=5.0, c=0.2)
    U = gn.GaugeField.random(latf, N, seed=1)
    V = gn.GaugeField.random(lat, N, seed=2)
    _, FU, FV = K.evaluate(U, V)
    h = 1e-5
    X = _algebra(rng, FU.shape[:2], N)
    fd = (K.evaluate(_moved(U, X, h), V, False) - K.evaluate(_moved(U, X, -h), V, False)) / (2 * h)
    an = 2 * np.sum(np.trace(X @ FU, axis1=-2, axis2=-1)).real
    assert abs(fd - an) < 1e-6 * max(1.0, abs(an))
    Y = _algebra(rng, FV.shape[:2], N)
    fd = (K.evaluate(U, _moved(V, Y, h), False) - K.evaluate(U, _moved(V, Y, -h), False)) / (2 * h)
    an = 2 * np.sum(np.trace(Y @ FV, axis1=-2, axis2=-1)).real
    assert abs(fd - an) < 1e-6 * max(1.0, abs(an))


def test_minimum_and_envelope_derivative():
    """The FP value is a converged minimum, and its derivative in V is dT/dV at the minimum (envelope theorem):
    finite differences of the minimised value along a random coarse direction."""
    N = 2
    rng = np.random.default_rng(3)
    lat = gn.Lattice((2, 2, 2, 2))
    V = gn.GaugeField.random(lat, N, seed=5)
    A = ImprovedGaugeAction(1.0, "wilson")
    K = fp.BlockingKernel()
    d = fp.fp_data(A, K, V, tol=1e-11, maxiter=3000)
    assert d.info["converged"] and d.info["rms_force"] < 1e-11
    U0 = fp.unblocked_start(V, d.U.lat)
    assert d.value < A.action(U0) + K.evaluate(U0, V, False)
    assert d.value > 0
    for s in (1e-3, -1e-3):                          # a nearby field does not go lower
        X = _algebra(rng, (4, d.U.lat.local_volume), N)
        Un = _moved(d.U, X, s)
        assert A.action(Un) + K.evaluate(Un, V, False) > d.value
    Y = _algebra(rng, (4, lat.local_volume), N)
    h = 1e-4
    vals = [fp.fp_data(A, K, _moved(V, Y, s), U_start=d.U, tol=1e-11, maxiter=3000).value for s in (h, -h)]
    fd = (vals[0] - vals[1]) / (2 * h)
    an = 2 * np.sum(np.trace(Y @ d.F, axis1=-2, axis2=-1)).real
    assert abs(fd - an) < 1e-6 * max(1.0, abs(an))


def test_fp_action_of_the_unit_field_and_the_quadratic_limit():
    """The unit coarse field has A_FP = 0 (the unit fine field, T = 0); a field exp(e X) has A_FP quadratic in e
    for small e (ratio 4 when e doubles), like every action's classical weak-field limit."""
    N = 3
    lat = gn.Lattice((2, 2, 2, 2))
    A = ImprovedGaugeAction(1.0, "wilson")
    K = fp.BlockingKernel()
    one = gn.GaugeField.unit(lat, N)
    d0 = fp.fp_data(A, K, one, tol=1e-12, maxiter=100)
    assert abs(d0.value) < 1e-13 and np.abs(d0.F).max() < 1e-13
    X = _algebra(np.random.default_rng(4), (4, lat.local_volume), N)
    v1, v2 = (fp.fp_data(A, K, _moved(one, X, e), tol=1e-12, maxiter=3000).value for e in (1e-3, 2e-3))
    assert v1 > 0 and abs(v2 / v1 - 4.0) < 1e-3


@pytest.mark.mpi
@pytest.mark.parametrize("N", [2, 3])
def test_kernel_identical_on_process_grids(N):
    dims = (2, 2, 4, 4)
    out = []
    from mpi4py import MPI
    for grid, comm in (("1.1.1.1", MPI.COMM_SELF), (_grid(), MPI.COMM_WORLD)):
        lat = gn.Lattice(dims, mpi=grid, comm=comm)
        latf = fp.fine_lattice(lat)
        U = gn.GaugeField.random(latf, N, seed=1)
        V = gn.GaugeField.random(lat, N, seed=2)
        t, FU, FV = fp.BlockingKernel().evaluate(U, V)
        gU = gn.GaugeField(latf, FU.reshape(U.data.shape)).to_numpy()
        gV = gn.GaugeField(lat, FV.reshape(V.data.shape)).to_numpy()
        out.append((t, gU, gV))
    assert abs(out[0][0] - out[1][0]) < 1e-12 * abs(out[0][0])
    assert np.abs(out[0][1] - out[1][1]).max() < 1e-13
    assert np.abs(out[0][2] - out[1][2]).max() < 1e-13


def test_bad_kernel_parameters():
    with pytest.raises(ValueError, match="kappa"):
        fp.BlockingKernel(kappa=0.0)
    with pytest.raises(ValueError, match="smearing c"):
        fp.BlockingKernel(c=1.5)


# ---------------------------------------------------------------------------------------------- the command
def _run(args, timeout=600):
    import os
    import subprocess
    import sys
    from conftest import GAUGENET_PATH          # the package the tests imported (installed in CI, not the tree)
    env = dict(os.environ, PYTHONPATH=GAUGENET_PATH + os.pathsep + os.environ.get("PYTHONPATH", ""),
               OMP_NUM_THREADS="1")
    return subprocess.run([sys.executable, "-m", "gaugenet"] + args, env=env, capture_output=True, text=True,
                          timeout=timeout)


def test_fixed_point_command(tmp_path):
    """One FP step with the Wilson action and one with the fitted network (SU(2), coarse 4^4, one training and
    one held-out configuration): the summary's keys, converged minimisations, and the fitted network closer to
    the data of one RG step than the Wilson action that produced them."""
    import json
    js = str(tmp_path / "fp.json")
    r = _run(["lcnn", "--task", "fixed-point", "--N", "2", "--betas", "3.0", "--train-configs", "1",
              "--test-configs", "1", "--sweeps", "10", "--steps", "1", "--all-planes", "--fp-tol", "1e-6",
              "--json", js, "--save", str(tmp_path / "fp.h5")])
    assert r.returncode == 0, r.stderr[-2000:]
    s = json.load(open(js))
    assert s["task"] == "fixed-point" and s["N"] == 2 and s["fine_volume"] == [8, 8, 8, 8]
    st0, st1 = s["steps"]
    assert st0["fine_action"] == "wilson" and st0["minimiser_converged"] and st1["minimiser_converged"]
    assert st0["fit_test_derivative_rel_error"] < st0["fp_residual_derivative"]
    assert abs(st0["network_action_of_unit_field"]) < 1e-6 * st0["fp_values_test"][0]   # A[1] = 0 imposed
    assert np.isfinite(st1["fp_residual_value"]) and np.isfinite(st1["fp_residual_derivative"])
    assert (tmp_path / "fp.h5").exists()


@pytest.mark.parametrize("args,msg", [
    (["--kappa", "0"], "kappa must be positive"),
    (["--smearing-c", "1.2"], "smearing c must be in [0, 1)"),
    (["--fp-iterations", "0"], "--fp-iterations must be >= 1"),
    (["--fp-tol", "-1"], "--fp-tol must be positive"),
    (["--network", "plaq; trace 12 sum"], "--network is not used by the fixed-point task"),
])
def test_fixed_point_command_bad_input(args, msg):
    r = _run(["lcnn", "--task", "fixed-point"] + args, timeout=120)
    assert r.returncode != 0 and msg in r.stderr, r.stderr[-1500:]
