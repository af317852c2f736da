"""Conventional (non-learned) smoothers for the aggregation multigrid of gaugenet.mg.

Every smoother improves an iterate x of A x = b in place, given the residual r = b - A x on entry, and
leaves r = b - A x on exit (so that a K-cycle can restrict it without another application of A).
They work on any vector type with the Krylov operations (`axpy`, `copy`, `data`, `lat`): FermionField,
PackedFermion (operators/packed.py) and CoarseField alike, and with any operator A that is callable
(and, optionally, has `apply(x, out=...)`, e.g. PackedWilson, to write into a kept buffer).

  MR (minimal residual): x += w a r, r -= w a A r with a = <A r, r> / |A r|^2; one application of A and
     one global reduction per step (QUDA's default multigrid smoother; w the over/under-relaxation).
  GMRES(k): k steps of GMRES on A e = r from e = 0, then x += e, r -= A e; k + 2 applications of A (GMRES
     checks its true residual once at the end).
"""
import inspect

import numpy as np

from .._backend import core


_WRITES_OUT = {}


def apply_into(A, x, out):
    """out = A x, written into the existing vector `out` (through A.apply(x, out=out) where A offers it)."""
    kind = type(A)
    if kind not in _WRITES_OUT:
        ap = getattr(A, "apply", None)
        _WRITES_OUT[kind] = callable(ap) and "out" in inspect.signature(ap).parameters
    if _WRITES_OUT[kind]:
        A.apply(x, out=out)
    else:
        out.data[...] = A(x).data
    return out


def local_dot(x, y):
    """sum conj(x) y over this rank's part (packed vectors pair their real and imaginary parts)."""
    if getattr(x, "packed", False):
        return complex(core.packed_dot(x.data, y.data))
    return complex(x.xp.vdot(x.data, y.data))


def dots(x, pairs):
    """[<a, b> for (a, b) in pairs] with one global reduction (x: any vector of the lattice)."""
    loc = np.array([local_dot(a, b) for a, b in pairs], dtype=np.complex128)
    return np.asarray(x.lat.allreduce(loc))


SMOOTHERS = ("mr", "gmres")


class MRSmoother:
    """`steps` minimal-residual steps with relaxation `omega` (0 < omega < 2)."""

    def __init__(self, A, steps, omega=1.0):
        if int(steps) != steps or steps < 1:
            raise ValueError(f"MR smoother: the number of steps must be a positive integer, got {steps!r}")
        if not 0.0 < omega < 2.0:
            raise ValueError(f"MR smoother: the relaxation omega must lie in (0, 2), got {omega!r}")
        self.A, self.steps, self.omega = A, int(steps), float(omega)
        self._p = None

    def __call__(self, x, r, keep_residual=True):
        """keep_residual=False: r is not needed afterwards (the last update of r is skipped)."""
        if self._p is None or self._p.data.shape != r.data.shape or self._p.data.dtype != r.data.dtype:
            self._p = r.copy()
        p = self._p
        for k in range(self.steps):
            apply_into(self.A, r, p)
            pr, pp = dots(r, [(p, r), (p, p)])
            if pp.real == 0.0:          # r = 0: nothing left to smooth
                break
            a = self.omega * pr / pp.real
            x.axpy(a, r)
            if keep_residual or k < self.steps - 1:
                r.axpy(-a, p)
        return x, r


class GMRESSmoother:
    """`steps` GMRES steps (one cycle of GMRES(steps)) on the residual equation."""

    def __init__(self, A, steps):
        if int(steps) != steps or steps < 1:
            raise ValueError(f"GMRES smoother: the number of steps must be a positive integer, got {steps!r}")
        self.A, self.steps = A, int(steps)

    def __call__(self, x, r, keep_residual=True):
        from ..solvers import fgmres
        e = fgmres(self.A, r, tol=1e-30, maxiter=self.steps, restart=self.steps, raise_on_fail=False).x
        x.axpy(1.0, e)
        if keep_residual:
            r.axpy(-1.0, self.A(e))
        return x, r


def make_smoother(kind, A, steps, omega=1.0):
    if kind == "mr":
        return MRSmoother(A, steps, omega)
    if kind == "gmres":
        return GMRESSmoother(A, steps)
    raise ValueError(f"smoother must be one of {', '.join(SMOOTHERS)}, got {kind!r}")
