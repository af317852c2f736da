"""CG on the normal equations (CGNR, in the CGLS form) for a non-hermitian operator M: minimises
|b - M x| over the Krylov space of M^dag M, updating the residual r = b - M x of the original system
alongside the normal-equation residual s = M^dag r. It can therefore stop when |b - M x| / |b| < tol
(the accuracy the caller asked for) instead of on |M^dag r|, which over- or under-solves by up to
the condition number of M. Two operator applications (M and M^dag) per iteration."""
import math

from .result import Monitor


def cgnr(M, b, x0=None, tol=1e-8, maxiter=1000, raise_on_fail=True, max_checks=5):
    """Solve M x = b through M^dag M x = M^dag b; M needs __call__ and adjoint. Stops on the recursive
    |r|/|b| < tol, then checks the true residual; if rounding let the two drift apart, it continues
    from the true residual (at most max_checks times). operator_applications counts M and M^dag."""
    bnorm = b.norm()
    mon = Monitor("CGNR", bnorm, tol, maxiter)
    if bnorm == 0.0:
        return mon.finish(b.zeros_like(), 0.0, raise_on_fail)
    x, r = mon.start(M, b, x0)
    checks = 0
    while True:
        s = M.adjoint(r)
        mon.applications += 1
        p = s.copy()
        ss = s.norm2()
        converged = False
        while len(mon.history) < maxiter:
            q = M(p)
            mon.applications += 1
            qq = q.norm2()
            if qq <= 0 or not math.isfinite(qq):
                mon.record(float("nan") if not math.isfinite(qq) else r.norm() / bnorm)
                break  # M p = 0: the Krylov space is exhausted; the true residual tells
            alpha = ss / qq
            x.axpy(alpha, p)
            if mon.record(math.sqrt(r.axpy(-alpha, q, norm=True)) / bnorm):
                converged = True
                break
            s = M.adjoint(r)
            mon.applications += 1
            ss_new = s.norm2()
            p.xpay(ss_new / ss, s)         # p = s + beta p, in place
            ss = ss_new
        r = b - M(x)
        mon.applications += 1
        true = r.norm() / bnorm
        checks += 1
        if not converged or true < tol or checks >= max_checks or len(mon.history) >= maxiter:
            return mon.finish(x, true, raise_on_fail)
