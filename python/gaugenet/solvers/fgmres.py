"""Flexible GMRES with restarts (right preconditioning by any callable, which may change from one
iteration to the next - a neural-network preconditioner, an inner Krylov solve, a multigrid cycle).

Orthogonalisation is classical Gram-Schmidt applied twice (CGS2): two global reductions per
iteration whatever the Krylov dimension, as stable as modified Gram-Schmidt in practice.
"""
import math

import numpy as np

from .linalg import combine, inner_many
from .result import Monitor


def fgmres(A, b, M=None, x0=None, tol=1e-8, maxiter=1000, restart=30, raise_on_fail=True, callback=None):
    """Solve A x = b; M(v) approximates A^{-1} v (None: unpreconditioned GMRES).
    Iterations count applications of A (one per Krylov step)."""
    bnorm = b.norm()
    mon = Monitor("FGMRES" if M is not None else "GMRES", bnorm, tol, maxiter)
    if bnorm == 0.0:
        return mon.finish(b.zeros_like(), 0.0, raise_on_fail)
    if restart < 1:
        raise ValueError(f"FGMRES: restart length must be at least 1, got {restart}")
    x = b.zeros_like() if x0 is None else x0.copy()
    done = False
    while not done and len(mon.history) < maxiter:
        r = b - A(x) if (x0 is not None or mon.history) else b.copy()
        beta = r.norm()
        if beta / bnorm < tol:
            break
        V = [r * (1.0 / beta)]
        Z = []
        H = np.zeros((restart + 1, restart), dtype=np.complex128)
        cs = np.zeros(restart, dtype=np.complex128)
        sn = np.zeros(restart, dtype=np.complex128)
        g = np.zeros(restart + 1, dtype=np.complex128)
        g[0] = beta
        j = -1
        for j in range(restart):
            z = M(V[j]) if M is not None else V[j]
            Z.append(z)
            w = A(z)
            mon.applications += 1
            for _ in range(2):  # CGS2
                h = inner_many(V, w)
                combine(V, -h, w)
                H[:j + 1, j] += h
            hn = w.norm()
            H[j + 1, j] = hn
            # Givens rotations on the new column
            for i in range(j):
                t = cs[i] * H[i, j] + sn[i] * H[i + 1, j]
                H[i + 1, j] = -np.conj(sn[i]) * H[i, j] + np.conj(cs[i]) * H[i + 1, j]
                H[i, j] = t
            a, c = H[j, j], H[j + 1, j]
            den = math.hypot(abs(a), abs(c))
            cs[j] = a / den if den else 1.0
            sn[j] = c / den if den else 0.0
            cs[j], sn[j] = (np.conj(cs[j]), np.conj(sn[j]))
            H[j, j] = cs[j] * a + sn[j] * c
            H[j + 1, j] = 0.0
            g[j + 1] = -np.conj(sn[j]) * g[j]
            g[j] = cs[j] * g[j]
            rel = abs(g[j + 1]) / bnorm
            if callback is not None:
                callback(len(mon.history) + 1, rel)
            if mon.record(rel) or len(mon.history) >= maxiter:
                done = True
                break
            if hn == 0.0:  # happy breakdown: the Krylov space contains the solution
                done = True
                break
            V.append(w * (1.0 / hn))
        k = j + 1
        y = np.linalg.solve(np.triu(H[:k, :k]), g[:k]) if k else np.zeros(0)
        combine(Z, y, x)
    true = (b - A(x)).norm() / bnorm
    mon.applications += 1
    return mon.finish(x, true, raise_on_fail)
