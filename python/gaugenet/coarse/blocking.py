"""Blocking of a fine lattice into coarse sites: restriction R, prolongation P = R^dag and
block orthonormalisation of near-null vectors (shared/CONVENTIONS.md, "Learned preconditioners").

Blocks never straddle ranks: the coarse lattice uses the fine process grid, so R and P are
local (no communication). With u_i the block-orthonormalised basis,
  (R f)(y)_i = sum_{x in B(y)} <u_i(x), f(x)>,   (P c)(x) = sum_i u_i(x) c(y(x))_i,   R P = 1.
"""
import numpy as np

from .._backend import array_module, core
from ..fields import CoarseField, FermionField
from ..lattice import DecompositionError, Lattice
from .bf16 import Bf16Basis


class Blocking:
    """Geometry of the blocking `fine -> coarse` with blocks of `block` = (bx, by, bz, bt) sites."""

    def __init__(self, fine, block):
        block = tuple(int(b) for b in block)
        if len(block) != 4 or min(block) < 1:
            raise ValueError(f"block size {block} must have four positive entries (bx, by, bz, bt)")
        for mu in range(4):
            if fine.local_dims[mu] % block[mu]:
                raise DecompositionError(
                    f"block size {block[mu]} in direction {'xyzt'[mu]} does not divide the local extent "
                    f"{fine.local_dims[mu]} (lattice {fine.dims[mu]} over {fine.grid[mu]} ranks): blocks must not "
                    f"straddle ranks")
        self.fine, self.block = fine, block
        self.coarse = Lattice(tuple(fine.dims[mu] // block[mu] for mu in range(4)), mpi=fine.grid, comm=fine.comm,
                              precision=fine.precision, zero_boundary_links=fine.zero_boundary_links, coarse=True)
        c = fine.local_coordinates() // np.asarray(block)
        self.block_of = np.ascontiguousarray(self.coarse.local_index(c).astype(np.int32))
        order = np.argsort(self.block_of, kind="stable")
        self.block_size = int(np.prod(block))
        self.block_sites = np.ascontiguousarray(order.reshape(self.coarse.local_volume, self.block_size).astype(np.int32))
        self._dev = {}

    def _tables(self, like):
        if array_module(like) is np:
            return self.block_sites, self.block_of
        if "t" not in self._dev:
            xp = array_module(like)
            self._dev["t"] = (xp.asarray(self.block_sites), xp.asarray(self.block_of))
        return self._dev["t"]

    def _check_basis(self, basis):
        if not isinstance(basis, (FermionField, Bf16Basis)) or not basis.batched:
            raise TypeError("the basis must be a batched FermionField [t, z, y, x, n_basis, 4, N] (or its Bf16Basis)")
        if basis.lat.dims != self.fine.dims:
            raise ValueError("basis lives on a different lattice than the blocking")

    # ------------------------------------------------------------------ R and P
    @staticmethod
    def _out(out, shape, like, who):
        """A new array of `shape` like `like`, or the data of the field `out` after checking it fits."""
        if out is None:
            return array_module(like).empty(shape, dtype=like.dtype)
        a = out.data
        if a.shape != shape or a.dtype != like.dtype or not a.flags.c_contiguous or array_module(a) is not \
                array_module(like):
            raise ValueError(f"Blocking.{who}: out must be a contiguous field of shape {shape} and dtype {like.dtype}")
        return a

    def project(self, f, basis, out=None):
        """R f: FermionField (optionally batched) -> CoarseField [.., (nrhs,) n_basis] (written into the
        CoarseField `out` when given)."""
        self._check_basis(basis)
        nb, S = basis.nvec, 4 * basis.N
        nrhs = f.nvec
        given = out
        out = self._out(out, self.coarse.local_shape + ((nrhs,) if f.batched else ()) + (nb,), f.data, "project")
        bs, bo = self._tables(f.data)
        core.block_project(out, f.data, basis.data, bs, bo, self.coarse.local_volume, self.fine.local_volume, nb, S,
                           nrhs)
        return given if given is not None else CoarseField(self.coarse, out)

    def promote(self, c, basis, out=None):
        """P c: CoarseField (optionally batched) -> FermionField (written into the FermionField `out` when
        given)."""
        self._check_basis(basis)
        nb, S = basis.nvec, 4 * basis.N
        if c.n_basis != nb:
            raise ValueError(f"coarse field has {c.n_basis} components, basis has {nb} vectors")
        nrhs = c.nvec
        given = out
        out = self._out(out, self.fine.local_shape + ((nrhs,) if c.batched else ()) + (4, basis.N), c.data, "promote")
        bs, bo = self._tables(c.data)
        core.block_promote(out, c.data, basis.data, bs, bo, self.coarse.local_volume, self.fine.local_volume, nb, S,
                           nrhs)
        return given if given is not None else FermionField(self.fine, out)

    def orthonormalize(self, vectors):
        """Block-orthonormalise a batch of near-null vectors (Gram-Schmidt per block via QR):
        within every block the n_basis vectors become orthonormal in (sites, spin, colour)."""
        if not isinstance(vectors, FermionField):
            raise TypeError("orthonormalize: the near-null vectors must be a batched FermionField")
        self._check_basis(vectors)
        nb, N = vectors.nvec, vectors.N
        if nb > 12 * self.block_size:
            raise ValueError(f"{nb} vectors exceed the dimension {12 * self.block_size} of a block")
        v = np.asarray(vectors.data).reshape(self.fine.local_volume, nb, 4 * N)
        blocks = v[self.block_sites]                               # (Vc, bs, nb, S)
        mats = blocks.transpose(0, 1, 3, 2).reshape(self.coarse.local_volume, -1, nb)  # (Vc, bs*S, nb)
        q, r = np.linalg.qr(mats)
        d = np.abs(np.diagonal(r, axis1=-2, axis2=-1))
        if (d < 1e-12 * max(d.max(), 1e-300)).any():
            raise ValueError("near-null vectors are linearly dependent on some block: cannot orthonormalise")
        # canonical form: R with a real positive diagonal (the Cholesky factor of the block Gram matrix),
        # so that gauge-transformed vectors give exactly the gauge-transformed basis
        q = q * (np.diagonal(r, axis1=-2, axis2=-1) / np.maximum(d, 1e-300))[:, None, :]
        q = q.reshape(self.coarse.local_volume, self.block_size, 4 * N, nb).transpose(0, 1, 3, 2)
        out = np.empty_like(v)
        out[self.block_sites] = q
        return FermionField(self.fine, out.reshape(vectors.data.shape))
