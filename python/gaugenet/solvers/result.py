"""What a solve returns, and the error when it does not converge."""
import math
import time
from dataclasses import dataclass, field


class NotConvergedError(RuntimeError):
    """The solver reached maxiter (or broke down) above the tolerance. Residuals come from global
    reductions, so every rank raises it together."""
    collective = True

    def __init__(self, message, result=None):
        super().__init__(message)
        self.result = result


@dataclass
class SolverResult:
    x: object
    iterations: int
    residual: float                 # final true relative residual |b - A x| / |b|
    converged: bool
    history: list = field(default_factory=list)   # relative residual estimate per iteration
    seconds: float = 0.0
    operator_applications: int = 0
    name: str = ""

    def __repr__(self):
        return (f"SolverResult({self.name}: {'converged' if self.converged else 'NOT converged'} after "
                f"{self.iterations} iterations, |r|/|b| = {self.residual:.3e}, {self.seconds:.3f} s)")


class Monitor:
    """Shared bookkeeping: iteration count, history, NaN detection, time.

    observer: None, or a callable(monitor, rel) run after every recorded iteration of every solve (a
    progress display: util.progress.solve_progress sets it for the duration of a command's solves)."""
    observer = None

    def __init__(self, name, bnorm, tol, maxiter):
        if not math.isfinite(bnorm):      # first: a NaN source also makes tolerances derived from it NaN
            raise NotConvergedError(f"{name}: the right-hand side contains NaN/Inf (|b| = {bnorm})")
        if not (tol > 0):
            raise ValueError(f"{name}: tolerance must be positive, got {tol}")
        if maxiter < 1:
            raise ValueError(f"{name}: maxiter must be at least 1, got {maxiter}")
        self.name, self.bnorm, self.tol, self.maxiter = name, bnorm, tol, maxiter
        self.history, self.t0, self.applications = [], time.perf_counter(), 0

    def start(self, A, b, x0):
        """The initial iterate and residual: x = 0 and r = b without x0, else a copy of x0 and
        r = b - A x0 (one operator application, counted)."""
        if x0 is None:
            return b.zeros_like(), b.copy()
        self.applications += 1
        x = x0.copy()
        return x, b - A(x)

    def record(self, rel):
        if not math.isfinite(rel):
            err = NotConvergedError(f"{self.name}: the residual became {rel} after {len(self.history)} iterations "
                                    f"(NaN/Inf in the operator, preconditioner or source)")
            raise err
        self.history.append(rel)
        if Monitor.observer is not None:
            Monitor.observer(self, rel)
        return rel < self.tol

    def finish(self, x, true_rel, raise_on_fail):
        res = SolverResult(x, len(self.history), true_rel, bool(true_rel < self.tol * 1.0000001 or
                                                                 true_rel < self.tol), list(self.history),
                           time.perf_counter() - self.t0, self.applications, self.name)
        if not math.isfinite(true_rel):
            raise NotConvergedError(f"{self.name}: the true residual is {true_rel} (NaN/Inf)", res)
        if not res.converged and raise_on_fail:
            raise NotConvergedError(
                f"{self.name}: not converged after {res.iterations} iterations: |b - A x|/|b| = {true_rel:.3e} > "
                f"tolerance {self.tol:.1e} (raise maxiter, improve the preconditioner, or check the operator)", res)
        return res
