"""The coarse operator D~ = R D P as a one-hop stencil with a dense n x n matrix per coarse site
and hop (no links, no gauge index: the cLPTC shape of seed 000), built by the Galerkin product."""
import numpy as np

from .._backend import core, to_host
from ..fields import CoarseField, FermionField
from ..operators.gamma import wilson_hop_weights
from ..stencil import StencilRunner

_REV = [1, 0, 3, 2, 5, 4, 7, 6]


class CoarseOperator:
    """out(y) = sum_k A_k(y) in(y + k), k = 0..7 hops (2 mu: +mu, 2 mu + 1: -mu) and 8 the site term.

    A: (V_coarse_local, 9, n, n) array on the coarse lattice `lat`.
    """

    def __init__(self, lat, A):
        self.lat = lat
        A = np.ascontiguousarray(A, dtype=lat.complex_dtype)
        if A.ndim != 4 or A.shape[:2] != (lat.local_volume, 9) or A.shape[2] != A.shape[3]:
            raise ValueError(f"coarse matrices must have shape (V, 9, n, n), got {A.shape}")
        self.A = A
        self.n = A.shape[2]
        self.runner = StencilRunner(lat, lat.zero_boundary_links)
        self._adj = None

    def _apply(self, c, A):
        if not isinstance(c, CoarseField) or c.n_basis != self.n:
            raise ValueError(f"coarse operator acts on CoarseField with {self.n} components")
        V = self.lat.local_volume
        src = c.data.reshape(V, -1)
        out = c.zeros_like()
        dst = out.data.reshape(V, -1)
        h = self.runner.halo

        def kernel(halo, sites):
            core.coarse_hop(dst, src, halo, A, h.table("nbr", src), sites, 0x1FF, self.n, c.nvec, V, h.Vh)

        self.runner.run(kernel, src)
        return out

    def __call__(self, c):
        return self._apply(c, self.A)

    def adjoint(self, c):
        """D~^dag: (A^dag)_k(y) = A_{-k}(y + k)^dag."""
        if self._adj is None:
            h = self.lat.halo(1)
            Ad = np.empty_like(self.A)
            Ad[:, 8] = np.conj(np.swapaxes(self.A[:, 8], -1, -2))
            for k in range(8):
                mu, sign = k // 2, (+1 if k % 2 == 0 else -1)
                shifted = h.shift(np.ascontiguousarray(self.A[:, _REV[k]]), mu, sign, zero_boundary=False)
                Ad[:, k] = np.conj(np.swapaxes(shifted, -1, -2))
            self._adj = Ad
        return self._apply(c, self._adj)

    @classmethod
    def galerkin(cls, op, blocking, basis):
        """D~ = R D P for a Wilson-type fine operator `op` (Wilson, WilsonClover) and a block-orthonormal basis."""
        blocking._check_basis(basis)
        fine = blocking.fine
        V = fine.local_volume
        nb, N = basis.nvec, basis.N
        L = op.links
        runner = StencilRunner(fine, L.zero_boundary)
        h = runner.halo
        W = wilson_hop_weights(dagger=False).astype(fine.complex_dtype)
        coords = fine.local_coordinates()
        A = np.zeros((blocking.coarse.local_volume, 9, nb, nb), dtype=np.complex128)
        src = basis.data.reshape(V, -1)
        # site term, block-local
        st = op.site_term(basis)
        A[:, 8] += np.swapaxes(to_host(blocking.project(st, basis).data).reshape(-1, nb, nb), -1, -2)
        for k in range(8):
            mu, fwd = k // 2, k % 2 == 0
            out = np.zeros_like(basis.data)
            dst = out.reshape(V, -1)

            def kernel(halo, sites, dst=dst, k=k):
                core.hop(dst, src, halo, L.U, L.U_halo, h.table("nbr", src), sites, W, False, 1 << k, nb, 1, 1, 4,
                         N, V, h.Vh)

            runner.run(kernel, src)
            b = blocking.block[mu]
            cross = (coords[:, mu] % b == b - 1) if fwd else (coords[:, mu] % b == 0)
            hop = FermionField(fine, out)
            inside = hop.copy()
            inside.data.reshape(V, -1)[cross] = 0
            hop.data.reshape(V, -1)[~cross] = 0
            # R of h_j gives [y, j, i] = <u_i, h_j>; the matrix element A[i, j]
            A[:, k] += np.swapaxes(to_host(blocking.project(hop, basis).data).reshape(-1, nb, nb), -1, -2)
            A[:, 8] += np.swapaxes(to_host(blocking.project(inside, basis).data).reshape(-1, nb, nb), -1, -2)
        return cls(blocking.coarse, A)
