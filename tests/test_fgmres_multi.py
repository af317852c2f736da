"""FGMRES for several right-hand sides in lockstep (solvers/fgmres_multi.py, PackedMultigridSolver.solve_many):
every right-hand side takes the iterations, residual history and solution of fgmres on it alone, with the model
as preconditioner and without one, when the right-hand sides converge at different iterations and restarts (the
batch shrinks), with a zero right-hand side, on 1, 2 and 4 ranks; the batch split/join kernels; errors."""
import numpy as np
import pytest

import gaugenet as gn
from gaugenet._backend import core
from gaugenet.models import CoarseGrid, MultigridModel, PackedMultigridSolver, smoother_model
from gaugenet.solvers import fgmres
from gaugenet.solvers.fgmres_multi import fgmres_multi

from conftest import assert_close, grids

DIMS = (8, 4, 4, 8)
BLOCK = (4, 2, 2, 2)
pytestmark = pytest.mark.skipif(not core.packed_available(), reason="no AVX-512 kernels in this build")


def _packed_grids():
    return [g for g in grids(DIMS) if g is None or (DIMS[0] // g[0]) % 8 == 0]


def _solver(lat, mass=-0.2, precision=None):
    U = gn.GaugeField.random(lat, 3, seed=1)
    D = gn.WilsonClover(U, mass=mass, csw=1.0)
    cg = CoarseGrid(D, BLOCK, gn.FermionField.random(lat, 3, nvec=6, seed=2))
    model = MultigridModel(cg, smoother_model(D, 2, kind="defect"), coarse="solve")
    w = model.weights(seed=5, scale=0.05)
    return D, PackedMultigridSolver(D, model, w, precision=precision)


def _sources(lat, k, zero=None):
    b = gn.FermionField.random(lat, 3, nvec=k, seed=7)
    scale = np.linspace(1.0, 3.0, k)           # different norms: the relative tests must be per right-hand side
    b.data[...] *= scale[:, None, None]
    if zero is not None:
        b.data[..., zero, :, :] = 0
    return b


def _one(b, i):
    return gn.FermionField(b.lat, np.ascontiguousarray(b.data[..., i, :, :]))


def test_split_join_round_trip():
    lat = gn.Lattice(DIMS)
    _, S = _solver(lat)
    b = _sources(lat, 3)
    pb = S.A.pack(b)
    V = lat.local_volume
    rows = np.empty((3, pb.data.size // 3), dtype=pb.data.dtype)
    core.packed_rhs_split(pb.data, rows, 3, V)
    for i in range(3):
        assert np.array_equal(rows[i], S.A.pack(_one(b, i)).data.ravel())
    # into a strided column of a basis, and back
    basis = np.zeros((3, 4, rows.shape[1]), dtype=rows.dtype)
    core.packed_rhs_split(pb.data, basis[:, 2], 3, V)
    assert np.array_equal(basis[:, 2], rows) and not basis[:, 1].any()
    back = np.zeros_like(pb.data)
    core.packed_rhs_join(basis[:, 2], back, 3, V)
    assert np.array_equal(back, pb.data)
    with pytest.raises(ValueError, match="multiple of nrhs|whole vectors"):
        core.packed_rhs_split(pb.data, rows[:2], 2, V + 8)
    with pytest.raises(ValueError, match="contiguous"):
        core.packed_rhs_split(pb.data, basis[:, :, ::2].reshape(3, -1)[:, ::2], 3, V)


@pytest.mark.mpi
@pytest.mark.parametrize("grid", _packed_grids())
def test_multi_rhs_equals_one_at_a_time(grid):
    """The learned multigrid on a batch of 4 sources (one of them zero) against PackedMultigridSolver.solve per
    source: the same iterations, residual histories and solutions, in double and with the model in single
    precision; untrained model, 20 iterations with restart 8 (two restarts and a partial cycle)."""
    lat = gn.Lattice(DIMS, mpi=grid)
    for prec, tol in ((None, 1e-9), ("single", 1e-5)):
        D, S = _solver(lat, precision=prec)
        b = _sources(lat, 4, zero=2)
        many = S.solve_many(b, tol=1e-12, maxiter=20, restart=8, raise_on_fail=False)
        assert len(many) == 4
        for i, r in enumerate(many):
            if i == 2:
                assert r.iterations == 0 and r.converged and r.x.norm() == 0
                continue
            ref = S.solve(_one(b, i), tol=1e-12, maxiter=20, restart=8, raise_on_fail=False)
            assert r.iterations == ref.iterations == 20
            assert r.operator_applications == ref.operator_applications
            assert_close(np.array(r.history), np.array(ref.history), tol, f"history rhs {i} ({prec})")
            assert_close(r.x.data, ref.x.data, tol, f"solution rhs {i} ({prec})")
            assert abs(r.residual - ref.residual) <= tol * ref.residual
            assert abs((_one(b, i) - D(r.x)).norm() / _one(b, i).norm() - r.residual) < 1e-10


@pytest.mark.mpi
@pytest.mark.parametrize("grid", _packed_grids())
def test_lockstep_when_sources_finish_at_different_steps(grid):
    """Unpreconditioned GMRES(6) on the free field, sources of different difficulty (an eigenvector, one close to
    it, a random one): each right-hand side stops at its own iteration, the batch shrinks at the restarts, and
    every one matches fgmres on it alone (converged solves with a trained model: tests/test_mg_keys.py)."""
    from gaugenet.operators.packed import PackedWilson
    lat = gn.Lattice(DIMS, mpi=grid)
    U = gn.GaugeField.random(lat, 3, seed=1)
    U.data[...] = np.eye(3)                    # free field: a constant spinor is an eigenvector of D
    A = PackedWilson(gn.Wilson(U, mass=0.4))
    b = _sources(lat, 3)
    b.data[..., 0, :, :] = 1.0                 # converges in one step (mid-cycle: rides along as zeros)
    b.data[..., 1, :, :] = 1.0 + 1e-6 * b.data[..., 1, :, :]  # a few steps
    many = fgmres_multi(A, A.pack(b), tol=1e-9, maxiter=500, restart=6)
    its = []
    for i, r in enumerate(many):
        ref = fgmres(A, A.pack(_one(b, i)), tol=1e-9, maxiter=500, restart=6)
        assert r.iterations == ref.iterations and r.converged
        assert_close(np.array(r.history), np.array(ref.history), 1e-8, f"history rhs {i}")
        assert_close(r.x.data, ref.x.data, 1e-9, f"solution rhs {i}")
        its.append(r.iterations)
    assert its[0] == 1 and its[0] < its[1] < its[2] and its[2] > 6, its   # different steps, across restarts


def test_errors():
    lat = gn.Lattice(DIMS)
    D, S = _solver(lat)
    b = _sources(lat, 2)
    with pytest.raises(TypeError, match="PackedFermion"):
        fgmres_multi(S.A, b)
    with pytest.raises(TypeError, match="apply"):
        fgmres_multi(D.__call__, S.A.pack(b))
    with pytest.raises(ValueError, match="restart"):
        fgmres_multi(S.A, S.A.pack(b), restart=0)
    with pytest.raises(gn.solvers.NotConvergedError, match="not converged"):
        S.solve_many(b, tol=1e-12, maxiter=3, restart=8)
