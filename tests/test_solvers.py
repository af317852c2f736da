"""Krylov solvers: true residuals, even-odd solves, flexible preconditioning, identical iteration
counts for any process grid, clear failure when not converged."""
import numpy as np
import pytest
from mpi4py import MPI

import gaugenet as gn
from gaugenet.solvers import NotConvergedError, bicgstab, cg, cgnr, fgmres
from gaugenet.solvers.baselines import solve_wilson

from conftest import NRANKS, assert_close, grids

DIMS = (4, 4, 4, 8)


def _problem(lat, N=3, mass=0.05):
    U = gn.GaugeField.random(lat, N, seed=61)
    D = gn.WilsonClover(U, mass=mass, csw=1.0, boundary_phases=(0, 0, 0, np.pi))
    b = gn.FermionField.random(lat, N, seed=62)
    return D, b


def _rel_res(D, x, b):
    return (b - D(x)).norm() / b.norm()


@pytest.mark.mpi
def test_cg_on_normal_equations():
    lat = gn.Lattice(DIMS)
    D, b = _problem(lat)
    res = cg(D.MdagM, D.adjoint(b), tol=1e-10, maxiter=2000)
    assert res.converged and res.residual < 1e-10
    assert _rel_res(D, res.x, b) < 1e-8
    assert res.history[-1] < 1e-10 and len(res.history) == res.iterations


@pytest.mark.mpi
def test_bicgstab_and_evenodd():
    lat = gn.Lattice(DIMS)
    D, b = _problem(lat)
    full = bicgstab(D, b, tol=1e-10, maxiter=2000)
    assert _rel_res(D, full.x, b) < 1e-9
    eo = gn.EvenOdd(D)
    bp = eo.prepare_source(b)
    r = bicgstab(eo, bp, tol=1e-11, maxiter=2000)
    x = eo.reconstruct(r.x, b)
    assert _rel_res(D, x, b) < 1e-9
    assert r.iterations < full.iterations  # the Schur complement is better conditioned
    # CG on the even-odd normal equations
    r2 = cg(eo.MdagM, eo.adjoint(bp), tol=1e-11, maxiter=3000)
    assert _rel_res(D, eo.reconstruct(r2.x, b), b) < 1e-8


@pytest.mark.mpi
def test_cgnr_stops_on_the_residual_of_the_original_system():
    lat = gn.Lattice(DIMS)
    D, b = _problem(lat)
    for tol in (1e-6, 1e-9):
        r = cgnr(D, b, tol=tol, maxiter=3000)
        true = _rel_res(D, r.x, b)
        assert r.converged and true < tol and abs(true - r.residual) < 1e-3 * tol
        assert true > 0.05 * tol        # stops when asked: not orders of magnitude below tol
        assert r.history[-1] < tol and r.operator_applications >= 2 * r.iterations


@pytest.mark.mpi
def test_packed_bicgstab_baseline_meets_the_tolerance():
    """BiCGStab on the packed layout: same problem, the true residual of the unpacked solution below tol
    (on grids that split x the local x extent stays a multiple of 8)."""
    lat = gn.Lattice((16, 4, 4, 8), mpi=(2, 1, 1, 1) if NRANKS == 2 else None)
    D, b = _problem(lat)
    if lat.local_dims[0] % 8:
        pytest.skip(f"local x extent {lat.local_dims[0]}")
    x, rec = solve_wilson(D, b, method="packed-bicgstab", tol=1e-8)
    assert rec["converged"] and rec["residual"] < 1e-8 and rec["setup_seconds"] > 0
    assert abs(_rel_res(D, x, b) - rec["residual"]) < 1e-10
    ref, rec_ref = solve_wilson(D, b, method="bicgstab", tol=0.5e-8)
    assert abs(rec["iterations"] - rec_ref["iterations"]) <= 2   # the same iteration up to rounding


@pytest.mark.mpi
@pytest.mark.parametrize("method", ["eo-cg", "eo-bicgstab"])
def test_evenodd_baselines_meet_the_full_tolerance(method):
    lat = gn.Lattice(DIMS)
    D, b = _problem(lat)
    x, rec = solve_wilson(D, b, method=method, tol=1e-8)
    assert rec["converged"] and rec["residual"] < 1e-8
    assert abs(_rel_res(D, x, b) - rec["residual"]) < 1e-10
    if method == "eo-cg":
        assert rec["residual"] > 1e-10   # the Schur system is not over-solved


@pytest.mark.mpi
@pytest.mark.parametrize("grid", grids(DIMS))
def test_fgmres_same_iterations_on_any_grid(grid):
    lat = gn.Lattice(DIMS, mpi=grid)
    D, b = _problem(lat)
    res = fgmres(D, b, tol=1e-8, restart=20, maxiter=2000)
    assert res.converged and _rel_res(D, res.x, b) < 1e-8
    lat1 = gn.Lattice(DIMS, comm=MPI.COMM_SELF)
    D1, b1 = _problem(lat1)
    ref = fgmres(D1, b1, tol=1e-8, restart=20, maxiter=2000)
    assert res.iterations == ref.iterations
    assert_close(res.x.to_numpy(), ref.x.to_numpy(), 1e-9, "solution")


@pytest.mark.mpi
def test_fgmres_with_flexible_preconditioner():
    lat = gn.Lattice(DIMS)
    D, b = _problem(lat)
    plain = fgmres(D, b, tol=1e-8, restart=30, maxiter=2000)

    def M(v):  # a few BiCGStab steps: a nonlinear, changing preconditioner
        return bicgstab(D, v, tol=1e-2, maxiter=6, raise_on_fail=False).x

    pre = fgmres(D, b, M=M, tol=1e-8, restart=30, maxiter=500)
    assert pre.converged and _rel_res(D, pre.x, b) < 1e-8
    assert pre.iterations * 3 < plain.iterations


@pytest.mark.mpi
def test_fgmres_writes_into_the_basis_rows():
    """A with apply(z, out=) and M with M_out=True write straight into the Krylov rows: the same residual history
    and solution as returning new fields (packed layout: PackedWilson has apply(out=); DIMS has x % 8 != 0, so
    an 8.4.4.16 lattice split in t only)."""
    lat = gn.Lattice((8, 4, 4, 16), mpi=(1, 1, 1, NRANKS))
    D, b = _problem(lat)
    P = gn.PackedWilson(D)
    pb = P.pack(b)

    class NoOut:  # the same operator without apply(): fgmres copies A(z) into the row
        def __call__(self, x):
            return P(x)

    def M(v):
        return v * 0.3

    def M_into(v, out):
        np.multiply(v.data, 0.3, out=out.data)
        return out

    ref = fgmres(NoOut(), pb, M=M, tol=1e-9, restart=12, maxiter=500)
    res = fgmres(P, pb, M=M_into, M_out=True, tol=1e-9, restart=12, maxiter=500)
    assert res.converged and res.iterations == ref.iterations
    assert np.array_equal(np.asarray(res.history), np.asarray(ref.history))
    assert np.array_equal(res.x.data, ref.x.data)


def test_not_converged_is_a_clear_error():
    lat = gn.Lattice(DIMS, comm=MPI.COMM_SELF)
    D, b = _problem(lat)
    for solver in (lambda: fgmres(D, b, tol=1e-12, maxiter=5),
                   lambda: bicgstab(D, b, tol=1e-12, maxiter=3),
                   lambda: cg(D.MdagM, b, tol=1e-12, maxiter=3),
                   lambda: cgnr(D, b, tol=1e-12, maxiter=3)):
        with pytest.raises(NotConvergedError, match="not converged after"):
            solver()
    r = fgmres(D, b, tol=1e-12, maxiter=5, raise_on_fail=False)
    assert not r.converged and r.iterations == 5


def test_nan_source_is_reported():
    lat = gn.Lattice(DIMS, comm=MPI.COMM_SELF)
    D, b = _problem(lat)
    b.data[0, 0, 0, 0, 0, 0] = np.nan
    with pytest.raises(NotConvergedError, match="NaN"):
        fgmres(D, b, tol=1e-8, maxiter=50)
    with pytest.raises(NotConvergedError, match="right-hand side contains NaN"):
        cgnr(D, b, tol=1e-8, maxiter=50)
    with pytest.raises(NotConvergedError, match="right-hand side contains NaN"):   # even-odd CG: its tolerance
        solve_wilson(D, b, "eo-cg", tol=1e-8, maxiter=50)                          # is derived from b


@pytest.mark.parametrize("dtype", [np.complex128, np.complex64])
@pytest.mark.parametrize("k", [1, 5, 8])
def test_gram_schmidt_kernels(dtype, k):
    """The OpenMP Gram-Schmidt steps under FGMRES (rows in groups of four, then one by one): equal to numpy,
    and bitwise the same for 1 and 2 threads."""
    from gaugenet._backend import core
    rng = np.random.default_rng(5)
    n = 3 * 4096 + 17
    V = (rng.standard_normal((k + 2, n)) + 1j * rng.standard_normal((k + 2, n))).astype(dtype)
    w = (rng.standard_normal(n) + 1j * rng.standard_normal(n)).astype(dtype)
    eps = 1e-13 if dtype == np.complex128 else 1e-5
    Vd, wd = V.astype(np.complex128), w.astype(np.complex128)
    threads = core.max_threads()
    outs = []
    try:
        for t in (1, 2):
            core.set_num_threads(t)
            p = core.gram_project(V, w, k)
            w2 = w.copy()
            s = core.gram_update(V, p[:k], w2, k)
            outs.append((p, w2, s))
    finally:
        core.set_num_threads(threads)
    p, w2, s = outs[0]
    ref = np.concatenate([Vd[:k].conj() @ wd, [np.vdot(wd, wd)]])
    assert np.abs(p - ref).max() < eps * np.abs(ref).max()
    upd = wd - p[:k] @ Vd[:k]
    assert np.abs(w2 - upd).max() < eps * np.abs(upd).max() * 10
    assert abs(s - np.vdot(w2.astype(np.complex128), w2).real) < 1e-12 * s
    assert np.array_equal(outs[0][0], outs[1][0]) and np.array_equal(outs[0][1], outs[1][1]) and outs[0][2] == outs[1][2]
    with pytest.raises(ValueError, match="k exceeds"):
        core.gram_project(V, w, k + 3)


@pytest.mark.mpi
@pytest.mark.parametrize("precision", ["double", "single"])
def test_fused_vector_updates(precision):
    """Field.axpy / xpay (one-pass host kernels core.axpy / core.xpay) against plain numpy, |x|^2 fused."""
    lat = gn.Lattice(DIMS, precision=precision)
    x, y = gn.FermionField.random(lat, 3, seed=71), gn.FermionField.random(lat, 3, seed=72)
    eps = 1e-14 if precision == "double" else 1e-6
    a = 0.25 - 0.5j
    ref = x.data + np.asarray(a, dtype=x.data.dtype) * y.data
    z = x.copy()
    n2 = z.axpy(a, y, norm=True)
    assert np.abs(z.data - ref).max() < eps * np.abs(ref).max()
    zd = z.data.astype(np.complex128)
    assert abs(n2 - lat.allreduce(float(np.vdot(zd, zd).real))) < 1e-12 * n2   # accumulated in double
    assert z.axpy(2.0, y) is z
    ref = y.data + np.asarray(a, dtype=x.data.dtype) * x.data
    w = x.copy()
    w.xpay(a, y)
    assert np.abs(w.data - ref).max() < eps * np.abs(ref).max()


def test_convert_between_precisions():
    """core.convert: float64 <-> float32 (real or complex views of the same reals) as numpy's cast, every
    direction; clear errors for sizes, types and aliasing."""
    from gaugenet._backend import core
    rng = np.random.default_rng(3)
    a = rng.standard_normal(100003)
    for src, dst in ((a, np.empty(a.size, np.float32)), (a.astype(np.float32), np.empty(a.size)),
                     (a, np.empty(a.size)), (a.astype(np.float32), np.empty(a.size, np.float32)),
                     (a[:-1].view(np.complex128), np.empty((a.size - 1) // 2, np.complex64))):
        core.convert(src, dst)
        assert np.array_equal(dst, src.astype(dst.dtype))
    with pytest.raises(ValueError, match="different numbers"):
        core.convert(a, np.empty(10, np.float32))
    with pytest.raises(ValueError, match="float32/float64"):
        core.convert(np.zeros(4, np.int32), np.zeros(4))
    with pytest.raises(ValueError, match="alias"):
        core.convert(a, a)


def test_lowest_eigenvalue_of_the_normal_operator_against_dense():
    """Inverse iteration (solvers/spectrum.py) against the dense spectrum of D^dag D on a tiny lattice, at a mass
    that makes the lowest mode well separated enough to converge in the step budget."""
    from gaugenet.solvers.spectrum import lowest_normal_eigenvalue
    from test_wilson_dense import matrix_of
    if NRANKS > 1:
        pytest.skip("dense matrix on one rank")
    lat = gn.Lattice((2, 2, 2, 4), mpi=(1, 1, 1, 1))
    U = gn.GaugeField.random(lat, 2, seed=5)
    D = gn.WilsonClover(U, mass=-0.2, csw=1.0, boundary_phases=(0, 0, 0, np.pi))
    M = matrix_of(D, lat, 2)
    exact = np.linalg.eigvalsh(M.conj().T @ M)[0]
    lam, hist = lowest_normal_eigenvalue(D, steps=200, rtol=1e-12)
    assert hist[0] >= exact * (1 - 1e-9)          # the Rayleigh quotient of the inverse bounds it from above
    assert abs(lam - exact) < 1e-6 * exact, (lam, exact, len(hist))
    with pytest.raises(ValueError, match="steps must be at least 1"):
        lowest_normal_eigenvalue(D, steps=0)
