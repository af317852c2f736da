"""The lowest eigenvalue of D^dag D for a Wilson(-clover) operator, by inverse iteration with the even-odd CG
solves of solvers/baselines.py. It tells how close a mass is to critical on a given gauge field: the
conditioning that decides which Krylov solvers converge (docs/operators.md, "Masses near critical").

(D^dag D)^{-1} v = D^{-1} (D^dag)^{-1} v, and (D^dag)^{-1} = gamma5 D^{-1} gamma5 (gamma5-hermiticity), so one
step is two solves of D. The estimate is the Rayleigh quotient of (D^dag D)^{-1} at the normalised iterate,
lambda = 1 / <v, (D^dag D)^{-1} v>, which converges from above at the rate (lambda_1/lambda_2)^2 per step."""
import numpy as np

from .baselines import solve_wilson


def lowest_normal_eigenvalue(D, steps=30, rtol=1e-4, tol=1e-10, seed=0, maxiter=20000):
    """(lambda_min, history) of D^dag D: inverse iteration from a random vector until two successive estimates
    agree to rtol (relative) or `steps` steps are done. Raises NotConvergedError if a solve fails."""
    from ..fields import FermionField
    if steps < 1:
        raise ValueError(f"steps must be at least 1, got {steps}")
    v = FermionField.random(D.lat, N=D.N, seed=seed, stream=9)
    v = v * (1.0 / v.norm())
    hist = []
    for _ in range(steps):
        y, _ = solve_wilson(D, v.gamma5(), "eo-cg", tol=tol, maxiter=maxiter)     # D^-1 g5 v
        z, _ = solve_wilson(D, y.gamma5(), "eo-cg", tol=tol, maxiter=maxiter)     # D^-1 g5 D^-1 g5 v
        mu = float(np.real(v.inner(z)))                                           # <v, (D^dag D)^-1 v>
        hist.append(1.0 / mu)
        v = z * (1.0 / z.norm())
        if len(hist) > 1 and abs(hist[-1] - hist[-2]) <= rtol * hist[-1]:
            break
    return hist[-1], hist
