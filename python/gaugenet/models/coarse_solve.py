"""Exact coarse-grid solve c -> D~^{-1} c as a (weightless) layer: the alternative to the learned
coarse layer (cLPTC) in the multigrid model when the coarse grid is small enough for a dense LU.

D~ is assembled as a dense (n_c, n_c) matrix, n_c = coarse volume x basis size, by applying the
coarse stencil to all unit vectors at once (one kernel call with n_c right-hand sides); every rank
gathers the rows and factorises the same matrix (identical on all ranks, no reduction in the
apply beyond one allgather of the coarse vector). It is limited to MAX_DIM unknowns (8192: a 1 GiB
matrix in double precision, inverted in about a minute on two cores) and says so otherwise.
"""
import copy

import numpy as np

from .._backend import core
from ..coarse.bf16 import to_bf16
from ..fields import CoarseField
from ..ml.layer import Layer


def _lu(a):
    """LU with partial pivoting (no SciPy dependency): returns (lu, perm)."""
    a = np.array(a, dtype=np.complex128)
    n = a.shape[0]
    perm = np.arange(n)
    for k in range(n - 1):
        p = k + int(np.argmax(np.abs(a[k:, k])))
        if a[p, k] == 0:
            raise np.linalg.LinAlgError("the coarse operator is singular")
        if p != k:
            a[[k, p]] = a[[p, k]]
            perm[[k, p]] = perm[[p, k]]
        a[k + 1:, k] /= a[k, k]
        a[k + 1:, k + 1:] -= np.outer(a[k + 1:, k], a[k, k + 1:])
    return a, perm


class _Bf16Rows:
    """Rows of D~^-1 in bfloat16: a (m, 2n) uint16 array of (re, im) bit patterns, shape (m, n)."""

    def __init__(self, a, shape):
        self.a, self.shape = a, shape


MAX_DIM = 8192


def check_coarse_size(n_unknowns, max_dim=MAX_DIM):
    """The error a CoarseSolve of n_unknowns would raise, before any work is spent on the set-up."""
    if n_unknowns > max_dim:
        raise ValueError(f"CoarseSolve: the coarse system has {n_unknowns} unknowns, more than max_dim={max_dim}; "
                         f"use the learned coarse layer (cLPTC) or a larger block size")


class CoarseSolve(Layer):
    n_in = n_out = 1

    def __init__(self, grid, max_dim=MAX_DIM):
        self.grid = grid
        lat = grid.lat
        self.lat, self.n = lat, grid.n_basis
        nc = int(np.prod(lat.dims)) * self.n
        check_coarse_size(nc, max_dim)
        self.nc = nc
        gidx = np.asarray(lat.global_index())
        self.rows = (gidx[:, None] * self.n + np.arange(self.n)[None, :]).reshape(-1)   # local -> global unknowns
        V = lat.local_volume
        unit = np.zeros((V, nc, self.n), dtype=lat.complex_dtype)
        for i in range(self.n):
            unit[np.arange(V), gidx * self.n + i, i] = 1.0
        cols = grid.op(CoarseField(lat, unit.reshape(lat.local_shape + (nc, self.n))))
        local_rows = np.asarray(cols.data).reshape(V, nc, self.n).transpose(0, 2, 1).reshape(V * self.n, nc)
        all_rows = lat.cart.allgather(self.rows)
        all_vals = lat.cart.allgather(local_rows)
        A = np.empty((nc, nc), dtype=np.complex128)
        for r, v in zip(all_rows, all_vals):
            A[r] = v
        self.matrix = A
        inv = np.linalg.inv(A)         # n_c <= MAX_DIM: the explicit inverse makes an apply one GEMV
        # each rank keeps only the rows of its own unknowns (the GEMV is split over the ranks), in double and,
        # for a model applied in single precision, in single; the columns in the order in which an Allgather
        # lays out the ranks' unknowns, so the gathered vector multiplies them as it is
        order = np.concatenate(all_rows)
        self._rows = {"fwd": np.ascontiguousarray(inv[np.ix_(self.rows, order)]),
                      "adj": np.ascontiguousarray(np.conj(inv.T)[np.ix_(self.rows, order)])}
        self._cast = {}
        self._bf16 = False

    def in_bf16(self):
        """The same solve with its single-precision rows stored in bfloat16 (coarse/bf16.py): half the bytes the
        product streams per application, ~3 significant digits of D~^-1 (a preconditioner's coarse correction;
        seed 000: the same FGMRES iterations). Double-precision applications keep the full rows. Host only;
        the matrix and rows are shared with this solve."""
        c = copy.copy(self)
        c._cast, c._bf16 = {}, True
        return c

    def prepare(self, dtype, adjoint=False):
        """Build the rows of the forward (and, with adjoint, the adjoint) applications in `dtype` now instead of at
        the first application."""
        for which in ("fwd", "adj") if adjoint else ("fwd",):
            self._local_rows(which, dtype)

    def _local_rows(self, which, dtype):
        key = (which, np.dtype(dtype).name)
        if key not in self._cast:
            rows = self._rows[which].astype(np.complex64 if dtype == np.complex64 else np.complex128)
            if self._bf16 and rows.dtype == np.complex64:
                m, n = rows.shape
                rows = _Bf16Rows(to_bf16(rows.view(np.float32)).reshape(m, 2 * n), (m, n))
            self._cast[key] = rows
        return self._cast[key]

    @property
    def weight_shapes(self):
        return []

    def weights(self, seed=0, scale=1.0):
        return []

    def _apply(self, which, c):
        if not isinstance(c, CoarseField) or c.n_basis != self.n:
            raise TypeError(f"CoarseSolve: expected a CoarseField with {self.n} components")
        lat = self.lat
        V = lat.local_volume
        dtype = c.data.dtype
        loc = np.ascontiguousarray(np.asarray(c.data).reshape(V, -1, self.n).transpose(0, 2, 1)).reshape(V * self.n, -1)
        if lat.size > 1:               # every rank has V * n unknowns: one Allgather, in rank order
            full = np.empty((lat.size * V * self.n, loc.shape[1]), dtype=dtype)
            lat.cart.Allgather(loc, full)
        else:
            full = loc
        sol = self._product(self._local_rows(which, dtype), full)   # this rank's unknowns, in the precision of c
        out = sol.reshape(V, self.n, -1).transpose(0, 2, 1)
        return c._new(np.ascontiguousarray(out).reshape(c.data.shape))

    @staticmethod
    def _product(rows, full):
        """rows @ full: gaugenet's dense kernel (kernels/dense.h, on the OpenMP threads of the other kernels) for
        host arrays and bfloat16 rows, else numpy/cupy. gaugenet keeps numpy's BLAS on one thread per rank
        (util/blas.py); 1536 unknowns in single precision, 1 rank x 2 threads: 0.39 ms from memory, 0.14 ms from
        cache, against 0.75 / 0.36 ms for the one-thread BLAS GEMV (on one thread the two are alike)."""
        bf16 = isinstance(rows, _Bf16Rows)
        if (bf16 or isinstance(rows, np.ndarray)) and isinstance(full, np.ndarray) and hasattr(core, "dense_matvec"):
            m, n = rows.shape
            r = full.shape[1]
            x = np.ascontiguousarray(full.T)
            y = np.empty((r, m), dtype=full.dtype)
            core.dense_matvec(rows.a if bf16 else rows, x, y, m, n, r)
            return y.T
        if bf16:
            raise ValueError("CoarseSolve: bfloat16 rows need host (numpy) fields and gaugenet's dense_matvec kernel")
        return rows @ full

    def __call__(self, weights, c):
        return self._apply("fwd", c)

    def adjoint(self, weights, c):
        return self._apply("adj", c)

    def projected_gradient_adj(self, weights, phi, left):
        return [self.adjoint(weights, left)]
