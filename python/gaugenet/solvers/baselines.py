"""The non-learned baseline solves of the Wilson(-clover) equation D x = b, side by side:
unpreconditioned (F)GMRES and BiCGStab on D, BiCGStab on D in the packed eight-site-block layout
(operators/packed.py: same iteration, transpose-free kernel), and BiCGStab / CG (CGNR: CG on the normal
equations, stopped on the residual of the original system) on the even-odd Schur complement (on
half-lattice fields, operators/evenodd.py).
Every result is checked against the full operator (|b - D x| / |b|), and the cost is reported as
wall-clock time and as applications of D (an even-odd M_pp or M_pp^dag application counts as one)."""
import time

from ..operators import EvenOdd, PackedWilson
from .bicgstab import bicgstab
from .cgnr import cgnr
from .fgmres import fgmres

METHODS = ("gmres", "bicgstab", "packed-bicgstab", "eo-bicgstab", "eo-cg")


def packed_applicable(D):
    """Whether packed-bicgstab applies to D: a host gauge field with a local x extent that is a multiple of 8."""
    return not D.U.on_device and D.lat.local_dims[0] % 8 == 0


def solve_wilson(D, b, method="eo-bicgstab", tol=1e-8, maxiter=20000, restart=30, raise_on_fail=True):
    """Solve D x = b with one of METHODS. Returns (x, record) where record holds the method,
    iterations, D applications, seconds (source preparation, solve and reconstruction; the even-odd
    set-up of the operator, done once per gauge field like a preconditioner's, is setup_seconds) and the
    true residual."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    t0 = time.perf_counter()
    setup = 0.0
    if method == "gmres":
        r = fgmres(D, b, tol=tol, maxiter=maxiter, restart=restart, raise_on_fail=raise_on_fail)
        x, apps = r.x, r.operator_applications
    elif method == "bicgstab":
        r = bicgstab(D, b, tol=tol, maxiter=maxiter, raise_on_fail=raise_on_fail)
        x, apps = r.x, r.operator_applications
    elif method == "packed-bicgstab":
        t_p = time.perf_counter()
        P = PackedWilson(D)  # links and clover packed once per gauge field: set-up
        setup = time.perf_counter() - t_p
        # margin of 2 on the recursive residual, as for eo-bicgstab
        r = bicgstab(P, P.pack(b), tol=0.5 * tol, maxiter=maxiter, raise_on_fail=raise_on_fail)
        x, apps = P.unpack(r.x), r.operator_applications
    else:
        t_eo = time.perf_counter()
        eo = EvenOdd(D)      # per gauge field (clover blocks inverted): set-up, not part of the solve time
        setup = time.perf_counter() - t_eo
        bp = eo.prepare_source(b, half=True)   # the solve runs on half-lattice fields
        # The full residual of the reconstructed solution is exactly the Schur residual b'_p - M_pp x_p on the
        # p sites (zero on the q sites), so the Schur system is solved to tol |b| / |b'_p|: no more, no less.
        inner_tol = tol * b.norm() / max(bp.norm(), 1e-300)
        if method == "eo-bicgstab":
            # BiCGStab stops on its recursive residual, which drifts from the true one by rounding: a margin of 2
            r = bicgstab(eo, bp, tol=0.5 * inner_tol, maxiter=maxiter, raise_on_fail=raise_on_fail)
        else:
            # CGNR stops on the recursive |b'_p - M_pp x_p| and checks the true one itself
            r = cgnr(eo, bp, tol=inner_tol, maxiter=maxiter, raise_on_fail=raise_on_fail)
        apps = r.operator_applications
        x = eo.reconstruct(r.x, b)
    seconds = time.perf_counter() - t0 - setup
    true = (b - D(x)).norm() / b.norm()
    rec = {"method": method, "iterations": r.iterations, "operator_applications": int(apps), "seconds": seconds,
           "setup_seconds": setup, "residual": true, "converged": bool(true < tol),
           "history": [float(h) for h in r.history]}   # the solver's relative residual per iteration (plots)
    return x, rec
