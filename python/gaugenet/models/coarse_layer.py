"""cLPTC: the coarse-grid layer of seed 000 (Sec. V), an LPTC with unit links and no gauge index:

    psi(y) = sum_k W_k(y) phi(y + e_k),   k = 0..7 the one-hop neighbours (2 mu: +mu, 2 mu + 1: -mu),
                                          k = 8 the site itself; W_k(y) an n x n complex matrix.

Fields are CoarseFields [t, z, y, x, (nrhs,) n] on the coarse lattice of a Blocking; weights one array
of shape (V_coarse_local, 9, n, n) per rank (memory order t, z, y, x). The forward and adjoint maps
are the coarse stencil kernel (gaugenet.coarse.CoarseOperator); the weight gradient of
C = Re <left, psi> is dC/dW_k(y) = sum_r left_r(y) phi_r(y + e_k)^dag (one shift of phi per hop, no
reduction: the weights are per site). In zero-boundary-link mode the hops that leave the rank's
sub-volume are absent (their weights get zero gradient).
"""
import numpy as np

from ..coarse import CoarseOperator
from ..fields import CoarseField
from ..ml.layer import Layer
from ..ml.parameters import random_per_site


class CoarseLPTC(Layer):
    n_in = n_out = 1

    def __init__(self, coarse_lat, n_basis):
        self.lat = coarse_lat
        self.n = int(n_basis)
        if self.n < 1:
            raise ValueError(f"CoarseLPTC: n_basis must be positive, got {n_basis}")
        self._op = None

    @property
    def weight_shapes(self):
        return [(self.lat.local_volume, 9, self.n, self.n)]

    def weights(self, seed=0, scale=1.0):
        return [random_per_site(self.lat, (9, self.n, self.n), seed, scale)]

    @staticmethod
    def from_operator(op, order=1):
        """Initial weights from a coarse operator D~ = A_8 + sum_k A_k: the block-Jacobi inverse
        A_8^{-1} (order 0) plus the first Neumann term -A_8^{-1}(y) A_k(y) A_8^{-1}(y + e_k) (order 1)."""
        A = np.asarray(op.A)
        inv = np.linalg.inv(A[:, 8])
        W = np.zeros_like(A)
        W[:, 8] = inv
        if order >= 1:
            h = op.lat.halo(1)
            zb = op.lat.zero_boundary_links
            for k in range(8):
                mu, sign = k // 2, (1 if k % 2 == 0 else -1)
                inv_nb = h.shift(np.ascontiguousarray(inv), mu, sign, zero_boundary=zb)
                W[:, k] = -inv @ A[:, k] @ inv_nb
        return [W]

    def _operator(self, W):
        W = self.check([W])[0]
        if self._op is None:
            self._op = CoarseOperator(self.lat, W)
        else:
            self._op.A = np.ascontiguousarray(W, dtype=self.lat.complex_dtype)
            self._op._adj = None
        return self._op

    def _source(self, c, what):
        if not isinstance(c, CoarseField) or c.n_basis != self.n:
            raise TypeError(f"CoarseLPTC: {what} must be a CoarseField with {self.n} components")
        return c

    def __call__(self, weights, phi):
        return self._operator(weights[0])(self._source(phi, "phi"))

    def adjoint(self, weights, chi):
        return self._operator(weights[0]).adjoint(self._source(chi, "chi"))

    def projected_gradient_adj(self, weights, phi, left):
        self._source(phi, "phi")
        self._source(left, "left")
        V, n = self.lat.local_volume, self.n
        ph = np.asarray(phi.data).reshape(V, -1, n)
        lf = np.asarray(left.data).reshape(V, -1, n)
        if ph.shape != lf.shape:
            raise ValueError(f"CoarseLPTC: left holds {lf.shape[1]} vectors, phi {ph.shape[1]}")
        h = self.lat.halo(1)
        zb = self.lat.zero_boundary_links
        G = np.empty((V, 9, n, n), dtype=self.lat.complex_dtype)
        G[:, 8] = np.einsum("vri,vrj->vij", lf, np.conj(ph))
        flat = np.ascontiguousarray(ph.reshape(V, -1))
        for k in range(8):
            mu, sign = k // 2, (1 if k % 2 == 0 else -1)
            nb = h.shift(flat, mu, sign, zero_boundary=zb).reshape(V, -1, n)
            G[:, k] = np.einsum("vri,vrj->vij", lf, np.conj(nb))
        return [G, self.adjoint(weights, left)]
