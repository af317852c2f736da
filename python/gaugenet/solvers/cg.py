"""Conjugate gradient for hermitian positive-definite operators (e.g. D^dag D, the even-odd M^dag M)."""
import math

from .result import Monitor


def cg(A, b, x0=None, tol=1e-8, maxiter=1000, raise_on_fail=True):
    """Solve A x = b, A hermitian positive definite. Stops on |r|/|b| < tol (recursive residual), then
    checks the true residual. Returns a SolverResult; raises NotConvergedError otherwise."""
    bnorm = b.norm()
    mon = Monitor("CG", bnorm, tol, maxiter)
    if bnorm == 0.0:
        return mon.finish(b.zeros_like(), 0.0, raise_on_fail)
    x, r = mon.start(A, b, x0)
    p = r.copy()
    rr = r.norm2()
    for _ in range(maxiter):
        Ap = A(p)
        mon.applications += 1
        pAp = p.inner(Ap).real
        if pAp <= 0 or not math.isfinite(pAp):
            mon.record(float("nan") if not math.isfinite(pAp) else math.sqrt(rr) / bnorm)
            break  # not positive definite: report through the true residual
        alpha = rr / pAp
        x.axpy(alpha, p)
        rr_new = r.axpy(-alpha, Ap, norm=True)
        if mon.record(math.sqrt(rr_new) / bnorm):
            break
        p.xpay(rr_new / rr, r)
        rr = rr_new
    true = (b - A(x)).norm() / bnorm
    mon.applications += 1
    return mon.finish(x, true, raise_on_fail)
