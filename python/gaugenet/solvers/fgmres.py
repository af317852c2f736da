"""Flexible GMRES with restarts (right preconditioning by any callable, which may change from one
iteration to the next - a neural-network preconditioner, an inner Krylov solve, a multigrid cycle).

Orthogonalisation is classical Gram-Schmidt in one pass (one read of the basis for the projections,
one for the update, two global reductions per iteration, |w|^2 travelling with the projections), with
a second pass only when the first one cancelled nearly all of the new vector: |w'| < reorth |w|
(|w'| estimated from |w|^2 - |h|^2). One pass leaves the basis orthogonal to about eps |w| / |w'|,
so with the default reorth = 1e-3 to about 1e-13, far below any tolerance of a double-precision solve,
while the classical Daniel-Gragg-Kaufman-Stewart threshold 1/sqrt(2) (full orthogonality to eps)
re-orthogonalises at nearly every step of a well-preconditioned solve (w = A M v is then almost the
last basis vector) and doubles the cost of the orthogonalisation (measured: 311 projections for 160
steps of the seed-000 problem). The Krylov basis lives in one (restart + 1, n_local) array so that
projections are matrix-vector products.
"""
import inspect
import math

import numpy as np

from .._backend import core
from ..util.memory import aligned_empty
from .result import Monitor


def _rows(xp, m, n, dtype):
    """An (m, n) basis; on the host on a 64-byte boundary, so that rows of whole cache lines can be handed to
    kernels with aligned loads (the packed layout's)."""
    return xp.empty((m, n), dtype=dtype) if xp is not np else aligned_empty((m, n), dtype)


def _givens(a, c):
    """Rotation (cs, sn) with [[cs, sn], [-conj(sn), conj(cs)]] (a, c) = (r, 0)."""
    den = math.hypot(abs(a), abs(c))
    if den == 0.0:
        return 1.0 + 0j, 0j, 0j
    return np.conj(a) / den, np.conj(c) / den, den


def rotate_column(H, cs, sn, g, j):
    """The least-squares step of GMRES on the new column j of the Hessenberg matrix H: the earlier Givens rotations
    applied to it, its own rotation formed (cs[j], sn[j]; H[j + 1, j] becomes 0), and the right-hand side g
    rotated, so that |g[j + 1]| is the residual norm."""
    for i in range(j):
        t = cs[i] * H[i, j] + sn[i] * H[i + 1, j]
        H[i + 1, j] = -np.conj(sn[i]) * H[i, j] + np.conj(cs[i]) * H[i + 1, j]
        H[i, j] = t
    cs[j], sn[j], H[j, j] = _givens(H[j, j], H[j + 1, j])
    H[j + 1, j] = 0.0
    g[j + 1] = -np.conj(sn[j]) * g[j]
    g[j] = cs[j] * g[j]


def fgmres(A, b, M=None, x0=None, tol=1e-8, maxiter=1000, restart=30, raise_on_fail=True, callback=None,
           reorth=1e-3, M_out=False):
    """Solve A x = b; M(v) approximates A^{-1} v (None: unpreconditioned GMRES).
    Iterations count applications of A (one per Krylov step). reorth: a second Gram-Schmidt pass when
    |w'| < reorth |w| (1/sqrt(2): the DGKS criterion, orthogonal to rounding at every step).
    Results go straight into the Krylov basis rows where the callables allow it: A z through
    A.apply(z, out=row) when A has an `apply` taking `out` (PackedWilson, EvenOdd), M v through M(v, out=row)
    with M_out=True (models.multigrid.PackedMultigridSolver); otherwise they are copied there."""
    bnorm = b.norm()
    mon = Monitor("FGMRES" if M is not None else "GMRES", bnorm, tol, maxiter)
    if bnorm == 0.0:
        return mon.finish(b.zeros_like(), 0.0, raise_on_fail)
    if restart < 1:
        raise ValueError(f"FGMRES: restart length must be at least 1, got {restart}")
    xp, lat = b.xp, b.lat
    x = b.zeros_like() if x0 is None else x0.copy()
    n = b.data.size
    Vb = _rows(xp, restart + 1, n, b.data.dtype)
    Zb = _rows(xp, restart, n, b.data.dtype) if M is not None else None
    shape = b.data.shape

    def field(row):
        return b._new(row.reshape(shape))

    host = xp is np
    a_out = callable(getattr(A, "apply", None)) and "out" in inspect.signature(A.apply).parameters
    packed = bool(getattr(b, "packed", False))   # packed real vectors (operators/packed.py): host kernels only

    def project(j, w):
        """h_i = <V_i, w> and |w|^2 in one reduction; w -= V h. Returns (h, |w|^2 before, local |w|^2 after or
        None). Host arrays: the OpenMP kernels of kernels/gram.h (one pass over the basis each, thread-count
        independent, |w|^2 fused); device arrays: GEMVs without copying the basis."""
        if host:
            h = np.asarray(lat.allreduce(core.gram_project(Vb, w, j + 1, packed)))
            w2 = float(h[j + 1].real)
            h = h[:j + 1]
            return h, w2, core.gram_update(Vb, h, w, j + 1, packed)
        wc = xp.conj(w)
        loc = np.empty(j + 2, dtype=np.complex128)
        loc[:j + 1] = np.asarray(Vb[:j + 1] @ wc)
        loc[j + 1] = complex(xp.vdot(w, w))
        red = np.asarray(lat.allreduce(loc))
        h = np.conj(red[:j + 1])
        w -= xp.asarray(h.astype(Vb.dtype)) @ Vb[:j + 1]
        return h, float(red[j + 1].real), None

    done = False
    while not done and len(mon.history) < maxiter:
        r = b - A(x) if (x0 is not None or mon.history) else b.copy()
        beta = r.norm()
        if beta / bnorm < tol:
            break
        Vb[0] = r.data.reshape(-1) / beta
        H = np.zeros((restart + 1, restart), dtype=np.complex128)
        cs = np.zeros(restart, dtype=np.complex128)
        sn = np.zeros(restart, dtype=np.complex128)
        g = np.zeros(restart + 1, dtype=np.complex128)
        g[0] = beta
        j = -1
        for j in range(restart):
            v = field(Vb[j])
            if M is None:
                z = v
            elif M_out:
                z = M(v, out=field(Zb[j]))
            else:
                z = M(v)
                Zb[j] = z.data.reshape(-1)
            w = Vb[j + 1]                 # A z is orthogonalised and normalised in place, in the next basis row
            if a_out:
                A.apply(z, out=field(w))
            else:
                w[...] = A(z).data.reshape(-1)
            mon.applications += 1
            h, w2, after = project(j, w)
            if w2 - float(np.vdot(h, h).real) < reorth ** 2 * w2:   # severe cancellation: orthogonalise once more
                h2, _, after = project(j, w)
                h = h + h2
            H[:j + 1, j] = h
            hn = math.sqrt(float(lat.allreduce(after if after is not None else float(xp.vdot(w, w).real))))
            H[j + 1, j] = hn
            rotate_column(H, cs, sn, g, j)
            rel = abs(g[j + 1]) / bnorm
            if callback is not None:
                callback(len(mon.history) + 1, rel)
            if mon.record(rel) or len(mon.history) >= maxiter or hn == 0.0:  # hn = 0: happy breakdown
                done = True
                break
            w *= 1.0 / hn
        k = j + 1
        if k:
            y = np.linalg.solve(np.triu(H[:k, :k]), g[:k])
            basis = Zb if M is not None else Vb
            if host:   # x += basis^T y in one pass (the update kernel with -y)
                core.gram_update(basis, -y, x.data.reshape(-1), k, packed)
            else:
                x.data += (xp.asarray(y.astype(Vb.dtype)) @ basis[:k]).reshape(shape)
    true = (b - A(x)).norm() / bnorm
    mon.applications += 1
    return mon.finish(x, true, raise_on_fail)
