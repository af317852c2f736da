"""BiCGStab for general (non-hermitian) operators such as the Wilson-clover D or its even-odd form."""
import math

from .result import Monitor


def bicgstab(A, b, x0=None, tol=1e-8, maxiter=1000, raise_on_fail=True):
    """Solve A x = b. Stops on the recursive residual, then checks the true residual."""
    bnorm = b.norm()
    mon = Monitor("BiCGStab", bnorm, tol, maxiter)
    if bnorm == 0.0:
        return mon.finish(b.zeros_like(), 0.0, raise_on_fail)
    x, r = mon.start(A, b, x0)
    rhat = r.copy()
    rho = alpha = omega = 1.0
    v = b.zeros_like()
    p = b.zeros_like()
    for _ in range(maxiter):
        rho_new = rhat.inner(r)
        if rho_new == 0:
            break  # breakdown: report through the true residual
        beta = (rho_new / rho) * (alpha / omega)
        p = r + (p - v * omega) * beta
        v = A(p)
        alpha = rho_new / rhat.inner(v)
        s = r - v * alpha
        t = A(s)
        mon.applications += 2
        tt = t.norm2()
        omega = t.inner(s) / tt if tt > 0 else 0.0
        x.axpy(alpha, p)
        x.axpy(omega, s)
        r = s - t * omega
        rho = rho_new
        if mon.record(math.sqrt(r.norm2()) / bnorm) or omega == 0:
            break
    true = (b - A(x)).norm() / bnorm
    mon.applications += 1
    return mon.finish(x, true, raise_on_fail)
