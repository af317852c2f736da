"""Blocking (R, P = R^dag), block orthonormalisation and the Galerkin coarse operator D~ = R D P."""
import numpy as np
import pytest
from mpi4py import MPI

import gaugenet as gn
from gaugenet.coarse import Blocking, CoarseOperator
from gaugenet.fields import CoarseField
from gaugenet.lattice import DecompositionError

from conftest import assert_close, grids

DIMS = (4, 4, 4, 8)


def _setup(grid, nb=4, block=(2, 2, 2, 2), zero_boundary=False, N=3):
    lat = gn.Lattice(DIMS, mpi=grid, zero_boundary_links=zero_boundary)
    U = gn.GaugeField.random(lat, N, seed=41)
    blk = Blocking(lat, block)
    basis = blk.orthonormalize(gn.FermionField.random(lat, N, nvec=nb, seed=42))
    return lat, U, blk, basis


@pytest.mark.mpi
@pytest.mark.parametrize("grid", grids(DIMS))
def test_restriction_prolongation(grid):
    lat, U, blk, basis = _setup(grid)
    c = CoarseField.random(blk.coarse, 4, nvec=2, seed=43)
    # R P = 1 on the coarse space
    assert_close(blk.project(blk.promote(c, basis), basis).data, c.data, 1e-13, "R P")
    # P = R^dag
    f = gn.FermionField.random(lat, 3, nvec=2, seed=44)
    assert_close(blk.project(f, basis).inner(c), f.inner(blk.promote(c, basis)), 1e-13, "<R f, c> = <f, P c>")
    # orthonormal within every block
    v = basis.data.reshape(lat.local_volume, 4, 12)[blk.block_sites]   # (Vc, bs, nb, 12)
    gram = np.einsum("ybie,ybje->yij", np.conj(v), v)
    assert_close(gram, np.broadcast_to(np.eye(4), gram.shape), 1e-13, "block Gram matrix")


@pytest.mark.parametrize("block,nb,N,nrhs", [((2, 2, 2, 2), 4, 3, 1), ((2, 2, 2, 2), 24, 3, 3), ((4, 2, 1, 2), 6, 2, 2),
                                              ((4, 4, 4, 8), 12, 3, 1), ((1, 1, 1, 1), 3, 3, 1)])
@pytest.mark.parametrize("precision", ["double", "single"])
def test_projection_promotion_against_einsum(block, nb, N, nrhs, precision):
    """R and P against the definitions summed by numpy: the CPU projection runs in memory order over slabs of
    whole blocks where there are enough slabs for the threads, else block by block (one block per lattice)."""
    lat = gn.Lattice(DIMS, precision=precision)
    blk = Blocking(lat, block)
    basis = blk.orthonormalize(gn.FermionField.random(lat, N, nvec=nb, seed=45))
    f = gn.FermionField.random(lat, N, nvec=nrhs, seed=46)
    c = CoarseField.random(blk.coarse, nb, nvec=nrhs, seed=47)
    u = np.asarray(basis.data).reshape(lat.local_volume, nb, 4 * N).astype(np.complex128)
    fs = np.asarray(f.data).reshape(lat.local_volume, nrhs, 4 * N).astype(np.complex128)
    cs = np.asarray(c.data).reshape(blk.coarse.local_volume, nrhs, nb).astype(np.complex128)
    ref_r = np.zeros_like(cs)
    np.add.at(ref_r, blk.block_of, np.einsum("xie,xre->xri", np.conj(u), fs))
    ref_p = np.einsum("xie,xri->xre", u, cs[blk.block_of])
    tol = 1e-13 if precision == "double" else 3e-6
    got_r = np.asarray(blk.project(f, basis).data).reshape(ref_r.shape)
    got_p = np.asarray(blk.promote(c, basis).data).reshape(ref_p.shape)
    assert_close(got_r, ref_r, tol, "R f")
    assert_close(got_p, ref_p, tol, "P c")
    # into given fields (the preconditioner's buffers): the same numbers, the given objects returned
    rc, pf = c.zeros_like(), f.zeros_like()
    assert blk.project(f, basis, out=rc) is rc and blk.promote(c, basis, out=pf) is pf
    assert np.array_equal(np.asarray(rc.data).reshape(ref_r.shape), got_r)
    assert np.array_equal(np.asarray(pf.data).reshape(ref_p.shape), got_p)
    with pytest.raises(ValueError, match="out must be"):
        blk.project(f, basis, out=pf)
    with pytest.raises(ValueError, match="out must be"):
        blk.promote(c, basis, out=rc)


@pytest.mark.mpi
@pytest.mark.parametrize("grid", grids(DIMS))
@pytest.mark.parametrize("zero_boundary", [False, True])
def test_coarse_operator_is_galerkin_product(grid, zero_boundary):
    lat, U, blk, basis = _setup(grid, zero_boundary=zero_boundary)
    D = gn.WilsonClover(U, mass=-0.6, csw=1.0, boundary_phases=(0, 0, 0, np.pi))
    Dc = CoarseOperator.galerkin(D, blk, basis)
    c = CoarseField.random(blk.coarse, 4, nvec=3, seed=45)
    h = blk.coarse.halo(1)
    n0 = h.messages_sent
    got = Dc(c)
    if zero_boundary:
        assert h.messages_sent == n0
    ref = blk.project(D(blk.promote(c, basis)), basis)
    assert_close(got.data, ref.data, 1e-12, "D~ c = R D P c")
    a = CoarseField.random(blk.coarse, 4, nvec=3, seed=46)
    assert_close(a.inner(Dc(c)), Dc.adjoint(a).inner(c), 1e-12, "<a, D~ c> = <D~^dag a, c>")
    # the same numbers as one rank holding the whole lattice (no zero-boundary links there)
    if not zero_boundary:
        u, b, cc = U.to_numpy(), basis.to_numpy(), c.to_numpy()
        lat1 = gn.Lattice(DIMS, comm=MPI.COMM_SELF)
        blk1 = Blocking(lat1, (2, 2, 2, 2))
        D1 = gn.WilsonClover(gn.GaugeField.from_numpy(lat1, u), mass=-0.6, csw=1.0, boundary_phases=(0, 0, 0, np.pi))
        Dc1 = CoarseOperator.galerkin(D1, blk1, gn.FermionField.from_numpy(lat1, b))
        ref1 = Dc1(CoarseField.from_numpy(blk1.coarse, cc)).to_numpy()
        assert_close(got.to_numpy(), ref1, 1e-12, "coarse operator independent of the process grid")


def test_coarse_dense_matrix_small():
    """Dense check on one rank: D~ as a matrix equals R D P built column by column."""
    lat = gn.Lattice((4, 4, 4, 4), comm=MPI.COMM_SELF)
    U = gn.GaugeField.random(lat, 2, seed=47)
    blk = Blocking(lat, (2, 2, 4, 2))
    nb = 3
    basis = blk.orthonormalize(gn.FermionField.random(lat, 2, nvec=nb, seed=48))
    D = gn.Wilson(U, mass=0.2)
    Dc = CoarseOperator.galerkin(D, blk, basis)
    n = blk.coarse.local_volume * nb
    eye = np.eye(n).reshape((n,) + blk.coarse.local_shape + (nb,))
    cols = CoarseField(blk.coarse, np.moveaxis(eye, 0, 4).copy())   # batch of unit vectors
    M = np.moveaxis(Dc(cols).data, 4, 0).reshape(n, n).T
    ref = np.moveaxis(blk.project(D(blk.promote(cols, basis)), basis).data, 4, 0).reshape(n, n).T
    assert_close(M, ref, 1e-12, "dense coarse matrix")
    # the coarse matrix is not trivial: it couples neighbouring blocks
    assert np.abs(Dc.A[:, :8]).max() > 1e-2


def test_blocks_must_not_straddle_ranks():
    lat = gn.Lattice((4, 4, 4, 6), comm=MPI.COMM_SELF)
    with pytest.raises(DecompositionError, match="does not divide the local extent 6"):
        Blocking(lat, (2, 2, 2, 4))


@pytest.mark.parametrize("precision", ["double", "single"])
@pytest.mark.parametrize("N,nrhs", [(3, 1), (3, 2), (2, 1)])
def test_bf16_basis(precision, N, nrhs):
    """R and P with the basis stored in bfloat16 (coarse/bf16.py): the same as with the rounded basis in full
    precision (the kernels widen it exactly); rounding to nearest even; formats the kernels refuse."""
    from gaugenet.coarse import Bf16Basis
    from gaugenet.coarse.bf16 import from_bf16, to_bf16
    lat = gn.Lattice(DIMS, precision=precision)
    blk = Blocking(lat, (2, 2, 2, 2))
    basis = blk.orthonormalize(gn.FermionField.random(lat, N, nvec=6, seed=48))
    b16 = Bf16Basis(basis)
    rounded = b16.to_field(lat.complex_dtype)
    rel = np.abs(rounded.data - basis.data).max() / np.abs(basis.data).max()
    assert 0 < rel < 2.0 ** -8
    f = gn.FermionField.random(lat, N, nvec=nrhs, seed=49)
    c = CoarseField.random(blk.coarse, 6, nvec=nrhs, seed=50)
    tol = 1e-13 if precision == "double" else 3e-6
    assert_close(blk.project(f, b16).data, blk.project(f, rounded).data, tol, "R with a bf16 basis")
    assert_close(blk.promote(c, b16).data, blk.promote(c, rounded).data, tol, "P with a bf16 basis")
    # rounding: to nearest, ties to even; NaN stays NaN
    x = np.array([1.0, 1.0 + 2.0 ** -8, 1.0 + 3 * 2.0 ** -8, 1.0 + 2.0 ** -9, np.nan, -2.5], dtype=np.float32)
    y = from_bf16(to_bf16(x))
    assert y[0] == 1.0 and y[1] == 1.0 and y[2] == 1.0 + 4 * 2.0 ** -8 and y[3] == 1.0 and np.isnan(y[4])
    assert y[5] == -2.5


def test_bf16_basis_errors():
    from gaugenet.coarse import Bf16Basis
    lat = gn.Lattice(DIMS)
    with pytest.raises(TypeError, match="batched FermionField"):
        Bf16Basis(gn.FermionField.random(lat, 3, seed=1))
    blk = Blocking(lat, (2, 2, 2, 2))
    basis = Bf16Basis(blk.orthonormalize(gn.FermionField.random(lat, 4, nvec=4, seed=2)))   # S = 16
    with pytest.raises(ValueError, match="bfloat16 basis needs"):
        blk.project(gn.FermionField.random(lat, 4, seed=3), basis)
    with pytest.raises(TypeError, match="near-null vectors"):
        blk.orthonormalize(basis)
