"""A further level below a coarse grid: blocking of CoarseFields, block orthonormalisation of coarse
near-null vectors, and the Galerkin product of the coarse stencil itself (for a three-level hierarchy).

The coarse grid of `models.multigrid.CoarseGrid` is a lattice of sites with n components and a one-hop
stencil `CoarseOperator` (9 dense n x n matrices per site). Blocking it again works like the fine blocking
(coarse.Blocking's geometry and its restriction / promotion kernels, which take any number S of components
per site), and D~~ = P~^dag D~ P~ is again a one-hop stencil: the hop k of D~ applied to the basis, split
into the part that stays inside a block (site term of D~~) and the part that crosses into the next block
(hop k of D~~), each restricted with the basis.
"""
import numpy as np

from .._backend import core, to_host
from ..coarse import Blocking, CoarseOperator
from ..fields import CoarseField
from ..solvers import fgmres


class CoarseBlocking:
    """Blocking of a coarse lattice (CoarseFields with S components per site) into `block` sites."""

    def __init__(self, lat, block):
        self.geometry = Blocking(lat, block)        # block tables and the next coarse lattice
        self.fine, self.coarse, self.block = lat, self.geometry.coarse, self.geometry.block
        self.block_sites, self.block_of = self.geometry.block_sites, self.geometry.block_of

    def _check(self, basis):
        if not isinstance(basis, CoarseField) or not basis.batched or basis.lat.dims != self.fine.dims:
            raise ValueError("CoarseBlocking: the basis must be a batched CoarseField on the blocked lattice")
        return basis.nvec, basis.n_basis

    def project(self, f, basis):
        nb, S = self._check(basis)
        if f.n_basis != S:
            raise ValueError(f"CoarseBlocking.project: the field has {f.n_basis} components, the basis {S}")
        nrhs = f.nvec
        out = np.empty(self.coarse.local_shape + ((nrhs,) if f.batched else ()) + (nb,), dtype=f.data.dtype)
        core.block_project(out, f.data, basis.data, self.block_sites, self.block_of, self.coarse.local_volume,
                           self.fine.local_volume, nb, S, nrhs)
        return CoarseField(self.coarse, out)

    def promote(self, c, basis):
        nb, S = self._check(basis)
        if c.n_basis != nb:
            raise ValueError(f"CoarseBlocking.promote: the field has {c.n_basis} components, the basis {nb} vectors")
        nrhs = c.nvec
        out = np.empty(self.fine.local_shape + ((nrhs,) if c.batched else ()) + (S,), dtype=c.data.dtype)
        core.block_promote(out, c.data, basis.data, self.block_sites, self.block_of, self.coarse.local_volume,
                           self.fine.local_volume, nb, S, nrhs)
        return CoarseField(self.fine, out)

    def orthonormalize(self, vectors):
        """Per block, the vectors orthonormal in (sites, components); canonical (positive real diagonal of R)."""
        nb, S = self._check(vectors)
        if nb > S * int(np.prod(self.block)):
            raise ValueError(f"{nb} vectors exceed the dimension {S * int(np.prod(self.block))} of a block")
        Vc = self.coarse.local_volume
        v = np.asarray(vectors.data).reshape(self.fine.local_volume, nb, S)
        mats = v[self.block_sites].transpose(0, 1, 3, 2).reshape(Vc, -1, nb)
        q, r = np.linalg.qr(mats)
        d = np.diagonal(r, axis1=-2, axis2=-1)
        if (np.abs(d) < 1e-12 * max(np.abs(d).max(), 1e-300)).any():
            raise ValueError("coarse near-null vectors are linearly dependent on some block: cannot orthonormalise")
        q = q * (d / np.abs(d))[:, None, :]
        out = np.empty_like(v)
        out[self.block_sites] = q.reshape(Vc, -1, S, nb).transpose(0, 1, 3, 2)
        return CoarseField(self.fine, out.reshape(vectors.data.shape))


def coarse_hops(op, c, mask):
    """The hops of the coarse stencil `op` selected by the 9-bit `mask` (bit k: hop k, bit 8: site term)."""
    V = op.lat.local_volume
    src = c.data.reshape(V, -1)
    out = c.zeros_like()
    dst = out.data.reshape(V, -1)
    h = op.runner.halo

    def kernel(halo, sites):
        core.coarse_hop(dst, src, halo, op.A, h.table("nbr", src), sites, mask, op.n, c.nvec, V, h.Vh)

    op.runner.run(kernel, src)
    return out


def galerkin(op, blocking, basis):
    """D~~ = P^dag D~ P of the coarse stencil `op` for the CoarseBlocking `blocking` and its block-orthonormal
    `basis`, as a CoarseOperator on the next coarse lattice."""
    nb, _ = blocking._check(basis)
    lat = blocking.fine
    V = lat.local_volume
    coords = lat.local_coordinates()
    A = np.zeros((blocking.coarse.local_volume, 9, nb, nb), dtype=np.complex128)

    def matrices(f):
        # R of h_j gives [y, j, i] = <u_i, h_j>, the matrix element A[i, j]
        return np.swapaxes(to_host(blocking.project(f, basis).data).reshape(-1, nb, nb), -1, -2)

    A[:, 8] += matrices(coarse_hops(op, basis, 1 << 8))
    for k in range(8):
        mu, fwd = k // 2, k % 2 == 0
        hop = coarse_hops(op, basis, 1 << k)
        b = blocking.block[mu]
        cross = (coords[:, mu] % b == b - 1) if fwd else (coords[:, mu] % b == 0)
        inside = hop.copy()
        inside.data.reshape(V, -1)[cross] = 0
        hop.data.reshape(V, -1)[~cross] = 0
        A[:, k] += matrices(hop)
        A[:, 8] += matrices(inside)
    return CoarseOperator(blocking.coarse, A)


class CoarseGridOf:
    """The next grid below a coarse grid: CoarseBlocking, block-orthonormal basis of near-null vectors of the
    coarse operator `op`, Galerkin operator (the attributes a KCycle's exact solve and models.coarse_solve use:
    lat, n_basis, op)."""

    def __init__(self, op, block, vectors):
        self.blocking = CoarseBlocking(op.lat, block)
        self.basis = self.blocking.orthonormalize(vectors)
        self.n_basis = self.basis.nvec
        self.op = galerkin(op, self.blocking, self.basis)
        self.parent = op

    @property
    def lat(self):
        return self.blocking.coarse

    def restrict(self, f):
        return self.blocking.project(f, self.basis)

    def prolong(self, c):
        return self.blocking.promote(c, self.basis)


def coarse_near_null(op, n, seed=29, tol=1e-3, maxiter=200, restart=30):
    """n near-null vectors of the coarse operator as for the fine one (models.multigrid.near_null_vectors):
    GMRES on op u = 0 from random u_0 (loose: a set-up pass). Returns a batched CoarseField."""
    vecs = []
    for i in range(n):
        u0 = CoarseField.random(op.lat, op.n, seed=seed, stream=1000 + i)
        r = fgmres(op, op(u0), tol=tol, maxiter=maxiter, restart=restart, raise_on_fail=False)
        vecs.append((u0 - r.x).data)
    return CoarseField(op.lat, np.ascontiguousarray(np.stack(vecs, axis=len(op.lat.local_shape))))
