"""Structure-preserving integration of the gradient flow dU/dt = Z_t(U) U with its log-determinant.

Scheme: Lüscher's third-order Lie-group Runge-Kutta method for the Wilson flow (M. Lüscher, JHEP 08 (2010) 071,
appendix C), a Crouch-Grossman-type scheme built from exponentials only, so the links stay in SU(N) to rounding.
With Z_i = eps Z_(t + c_i eps)(W_i):

    W_0 = U_t
    W_1 = exp(Z_0 / 4) W_0                                      c_1 = 1/4
    W_2 = exp(8/9 Z_1 - 17/36 Z_0) W_1                          c_2 = 2/3 (the exponents so far add up to 2/3)
    U_(t+eps) = exp(3/4 Z_2 - 8/9 Z_1 + 17/36 Z_0) W_2

Its Butcher tableau is c = (0, 1/4, 2/3), a21 = 1/4, a31 = -2/9, a32 = 8/9, b = (1/4, 0, 3/4), so for a
time-dependent Z each stage is evaluated at t + c_i eps, and the log-determinant, d log det F_* / dt = div Z,
is integrated with the same weights as the augmented variable of the ODE: log det += eps (div_0 / 4 + 3 div_2 / 4).
The result is the log-determinant of the continuous flow to O(eps^3) (like the links); the tests measure its
distance to the finite-difference Jacobian determinant of the discrete map and its third-order convergence.

`invert` inverts the discrete map exactly (to a tolerance): step by step, V = E(V)^dag U_(t+eps) with
E(V) = U_(t+eps)(V) V^dag, iterated from the backward step (a contraction for small eps) with a projection
onto SU(N) after each update.
"""
import numpy as np

from ...gauge.expderiv import expm_su
from ...gauge.group import dag, project_su
from .loops import LoopEvaluation, per_slice

A21, A31, A32 = 0.25, -2.0 / 9.0, 8.0 / 9.0
B = (0.25, 0.0, 0.75)
C = (0.0, 0.25, 2.0 / 3.0)


def check_steps(n_steps):
    if int(n_steps) != n_steps or int(n_steps) < 1:
        raise ValueError(f"the flow integrator needs a step count >= 1, got {n_steps!r}")
    return int(n_steps)


def _expmul(links, X, dirs):
    out = links.copy()
    for d in dirs:
        out[d] = expm_su(X[d]) @ links[d]
    return out


def rk3_step(lat, links, loops, coeff, t, eps, logdet=True):
    """One step of the scheme: (links at t + eps, per-site eps * sum_i b_i div Z_i or None)."""
    dirs = loops.dirs
    W0 = links
    e0 = LoopEvaluation(lat, W0, loops, laplacian=logdet)
    c0 = np.asarray(coeff(t + C[0] * eps), dtype=np.float64)
    Z0 = eps * e0.force(c0)
    W1 = _expmul(W0, A21 * Z0, dirs)
    e1 = LoopEvaluation(lat, W1, loops, laplacian=False)          # b_1 = 0: no divergence needed
    Z1 = eps * e1.force(np.asarray(coeff(t + C[1] * eps), dtype=np.float64))
    W2 = _expmul(W1, (8.0 / 9.0) * Z1 - (17.0 / 36.0) * Z0, dirs)
    e2 = LoopEvaluation(lat, W2, loops, laplacian=logdet)
    c2 = np.asarray(coeff(t + C[2] * eps), dtype=np.float64)
    Z2 = eps * e2.force(c2)
    W3 = _expmul(W2, 0.75 * Z2 - (8.0 / 9.0) * Z1 + (17.0 / 36.0) * Z0, dirs)
    div = None
    if logdet:
        div = eps * (B[0] * e0.divergence_site(c0) + B[2] * e2.divergence_site(c2))
    return W3, div


def integrate(lat, links, loops, coeff, n_steps, t0=0.0, t1=1.0, logdet=True, slice_axis=None):
    """Integrate from t0 to t1 in n_steps steps. links: local (4, V, N, N); coeff(t) -> (n_loops,) coefficients.
    Returns (links at t1, log det F_*): a float (global sum) or, with slice_axis, one value per slice."""
    n = check_steps(n_steps)
    eps = (float(t1) - float(t0)) / n
    U = np.ascontiguousarray(links, dtype=np.complex128)
    acc = np.zeros(lat.local_volume) if logdet else None
    for k in range(n):
        U, div = rk3_step(lat, U, loops, coeff, t0 + k * eps, eps, logdet)
        if logdet:
            acc += div
    if not logdet:
        return U, None
    if slice_axis is None:
        return U, float(lat.allreduce(float(acc.sum())))
    return U, per_slice(lat, acc, slice_axis)


def invert(lat, links, loops, coeff, n_steps, t0=0.0, t1=1.0, tol=1e-13, max_iter=100):
    """The V with integrate(V, ...)[0] = links (the discrete map inverted by fixed-point iteration per step)."""
    n = check_steps(n_steps)
    eps = (float(t1) - float(t0)) / n
    U = np.ascontiguousarray(links, dtype=np.complex128)
    for k in range(n - 1, -1, -1):
        t = t0 + k * eps
        V, _ = rk3_step(lat, U, loops, coeff, t + eps, -eps, logdet=False)   # first guess: the backward step
        for it in range(max_iter):
            img, _ = rk3_step(lat, V, loops, coeff, t, eps, logdet=False)
            Vn = V.copy()
            for d in loops.dirs:
                # E^dag U; the projection removes the non-unitary rounding mode the update would double
                Vn[d] = project_su(V[d] @ dag(img[d]) @ U[d])
            change = _global_max(lat, float(np.abs(Vn - V).max()))
            V = Vn
            if change < tol:
                break
        else:
            raise ValueError(f"flow inversion did not converge in {max_iter} iterations at step {k} "
                             f"(last change {change:.2e}); use more integration steps")
        U = V
    return U


def _global_max(lat, x):
    from mpi4py import MPI
    return float(lat.cart.allreduce(x, op=MPI.MAX))
