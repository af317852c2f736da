"""The K-cycle of the conventional aggregation multigrid and the outer flexible solve.

One application M v on level l (x = 0, r = v on entry):
    pre-smoothing   `pre` smoother steps on A_l x = v
    coarse          c = R r;  e ~ A_{l+1}^{-1} c by FGMRES on level l+1 to relative residual coarse_tol (at most
                    coarse_maxiter iterations, restart coarse_restart), preconditioned by the K-cycle of level
                    l+1 unless that is the coarsest; on the coarsest level optionally the exact dense solve
                    (coarse="exact", models.coarse_solve.CoarseSolve) instead;  x += P e
    post-smoothing  r = v - A_l x, `post` smoother steps
The inner Krylov solve makes M a nonlinear (iteration-dependent) map, hence flexible GMRES outside.
This is the structure of QUDA's multigrid (MR smoother, K-cycle with loose inner Krylov solves on the
coarse grids, outer flexible Krylov solver); DD-alphaAMG has the same aggregation and K-cycle but a
Schwarz-alternating-procedure smoother (see docs/mg.md).
"""
import time
from dataclasses import asdict, dataclass

import numpy as np

from .._backend import core
from ..fields import FermionField
from ..solvers import fgmres
from ..util.memory import aligned_empty
from .level import PRECISIONS, three_level, two_level
from .smoothers import SMOOTHERS, apply_into, make_smoother

COARSE_SOLVERS = ("gmres", "exact")


@dataclass
class AMGSettings:
    pre: int = 0                  # pre-smoothing steps
    post: int = 6                 # post-smoothing steps (seed-000 problem: 4 -> 34, 6 -> 27, 8 -> 23 iterations)
    smoother: str = "mr"          # "mr" (minimal residual) or "gmres" (one GMRES(k) cycle)
    omega: float = 1.0            # MR relaxation
    coarse: str = "gmres"         # coarsest-level solve: "gmres" (FGMRES to coarse_tol) or "exact" (dense inverse)
    coarse_tol: float = 0.05      # relative residual of the inner coarse solves
    coarse_maxiter: int = 100
    coarse_restart: int = 30
    coarse_precond: str = "jacobi"  # right preconditioner of the coarse FGMRES: "jacobi" (inverse coarse site
                                  # blocks A_8(y)^-1) or "none"
    precision: str = "single"     # precision of the cycle inside the double-precision outer FGMRES
    packed: bool = True           # fine level on the packed layout where it applies
    basis: str = "full"           # "full" or "bf16" (single precision only)
    levels: int = 2               # 2, or 3: a third grid below the coarse one (mg.level.three_level)
    coarse_block: tuple = (2, 2, 2, 2)   # third grid: coarse sites per block
    coarse_basis: int = 24        # third grid: near-null vectors of the coarse operator

    def check(self):
        """ValueError naming the first bad setting."""
        for name in ("pre", "post"):
            v = getattr(self, name)
            if int(v) != v or v < 0:
                raise ValueError(f"conventional multigrid: {name}-smoothing steps must be a non-negative integer, "
                                 f"got {v!r}")
        if self.pre + self.post < 1:
            raise ValueError("conventional multigrid: at least one pre- or post-smoothing step is needed "
                             f"(pre={self.pre}, post={self.post})")
        if self.smoother not in SMOOTHERS:
            raise ValueError(f"conventional multigrid: smoother must be one of {', '.join(SMOOTHERS)}, "
                             f"got {self.smoother!r}")
        if not 0.0 < self.omega < 2.0:
            raise ValueError(f"conventional multigrid: MR relaxation omega must lie in (0, 2), got {self.omega!r}")
        if self.coarse not in COARSE_SOLVERS:
            raise ValueError(f"conventional multigrid: coarse solve must be one of {', '.join(COARSE_SOLVERS)}, "
                             f"got {self.coarse!r}")
        if not 0.0 < self.coarse_tol < 1.0:
            raise ValueError(f"conventional multigrid: coarse_tol must lie in (0, 1), got {self.coarse_tol!r}")
        if self.coarse_precond not in ("jacobi", "none"):
            raise ValueError(f"conventional multigrid: coarse_precond must be 'jacobi' or 'none', "
                             f"got {self.coarse_precond!r}")
        for name in ("coarse_maxiter", "coarse_restart"):
            v = getattr(self, name)
            if int(v) != v or v < 1:
                raise ValueError(f"conventional multigrid: {name} must be a positive integer, got {v!r}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"conventional multigrid: precision must be one of {', '.join(PRECISIONS)}, "
                             f"got {self.precision!r}")
        if self.basis not in ("full", "bf16"):
            raise ValueError(f"conventional multigrid: basis must be 'full' or 'bf16', got {self.basis!r}")
        if self.levels not in (2, 3):
            raise ValueError(f"conventional multigrid: levels must be 2 or 3, got {self.levels!r}")
        if self.levels == 3:
            cb = tuple(self.coarse_block)
            if len(cb) != 4 or any(int(b) != b or b < 1 for b in cb):
                raise ValueError(f"conventional multigrid: coarse_block must be four positive integers, got {cb!r}")
            if int(self.coarse_basis) != self.coarse_basis or self.coarse_basis < 1:
                raise ValueError(f"conventional multigrid: coarse_basis must be a positive integer, "
                                 f"got {self.coarse_basis!r}")
        if self.basis == "bf16" and self.precision != "single":
            raise ValueError("conventional multigrid: basis='bf16' needs precision='single'")
        return self


class BlockJacobi:
    """c -> A_8(y)^-1 c(y): the inverse of a coarse operator's site blocks (CoarseOperator.A[:, 8]), the
    right preconditioner of the coarse FGMRES (cheap, local: no communication)."""

    def __init__(self, op):
        A8 = np.asarray(op.A[:, 8])
        self.inv = np.linalg.inv(A8.astype(np.complex128)).astype(A8.dtype)

    def __call__(self, c):
        V = self.inv.shape[0]
        d = c.data.reshape(V, -1, self.inv.shape[1])
        return c._new(np.einsum("vij,vrj->vri", self.inv, d).reshape(c.data.shape))


class KCycle:
    """v -> M v on `level` (a gaugenet.mg.Level with a coarse level). `timers` accumulates seconds per part
    (smoother, transfer, coarse) and `coarse_iterations` the inner iterations, over all applications."""

    def __init__(self, level, settings):
        if level.coarsest:
            raise ValueError("KCycle: the level has no coarser level")
        s = self.settings = settings
        self.level = level
        self.pre = make_smoother(s.smoother, level.A, s.pre, s.omega) if s.pre else None
        self.post = make_smoother(s.smoother, level.A, s.post, s.omega) if s.post else None
        c = level.coarse
        self.inner = None if c.coarsest else KCycle(c, settings)
        self.exact = None
        if c.coarsest and s.coarse == "exact":
            from ..models.coarse_solve import CoarseSolve
            grid = level.grid
            if grid is None:
                raise ValueError("KCycle: the exact coarse solve needs the level's CoarseGrid")
            self.exact = CoarseSolve(grid)
        self.jacobi = None
        if c.coarsest and self.exact is None and s.coarse_precond == "jacobi":
            self.jacobi = BlockJacobi(c.A)
        self.timers = {"smoother": 0.0, "transfer": 0.0, "coarse": 0.0}
        self.applications = 0
        self.coarse_iterations = 0
        self.copy_out = True      # False: the result lives in a buffer overwritten by the next application

    def coarse_solve(self, c):
        if self.exact is not None:
            return self.exact([], c)
        M = self.inner if self.inner is not None else self.jacobi
        s = self.settings
        r = fgmres(self.level.coarse.A, c, M=M, tol=s.coarse_tol, maxiter=s.coarse_maxiter, restart=s.coarse_restart,
                   raise_on_fail=False)
        self.coarse_iterations += r.iterations
        return r.x

    def __call__(self, v):
        T, t = self.timers, time.perf_counter
        self.applications += 1
        t0 = t()
        x, r = self._work(v)
        x.data[...] = 0
        r.data[...] = v.data
        if self.pre is not None:
            self.pre(x, r)
        t1 = t()
        c = self.level.transfer.restrict(r)
        t2 = t()
        e = self.coarse_solve(c)
        t3 = t()
        x.axpy(1.0, self.level.transfer.prolong(e))
        t4 = t()
        if self.post is not None:
            apply_into(self.level.A, x, r)      # r = A x
            r.xpay(-1.0, v)                     # r = v - A x
            self.post(x, r, keep_residual=False)
        t5 = t()
        T["smoother"] += (t1 - t0) + (t5 - t4)
        T["transfer"] += (t2 - t1) + (t4 - t3)
        T["coarse"] += t3 - t2
        return x.copy() if self.copy_out else x

    def _work(self, v):
        """x and r for an application to v, kept between applications (__call__ returns a copy of x unless
        copy_out is False)."""
        key = (type(v), v.data.shape, v.data.dtype)
        if getattr(self, "_key", None) != key:
            self._x, self._r, self._key = v.zeros_like(), v.copy(), key
        return self._x, self._r

    def reset_timers(self):
        for k in self.timers:
            self.timers[k] = 0.0
        self.applications = self.coarse_iterations = 0
        if self.inner is not None:
            self.inner.reset_timers()


class ConventionalMG:
    """FGMRES (double precision) preconditioned by the K-cycle of a non-learned aggregation multigrid on the
    blocks, basis and Galerkin operator of a models.multigrid.CoarseGrid (two levels; settings.levels = 3 adds a
    third grid built from near-null vectors of the coarse operator, mg.level.three_level).

    ConventionalMG(D, grid, settings).solve(b, tol=..., maxiter=..., restart=..., raise_on_fail=...) returns a
    SolverResult with x a FermionField (seconds: the whole solve, layout conversion included);
    precondition(v) is the preconditioner on the outer vectors; setup_seconds the time the hierarchy took to
    build here (casts, packing; the near-null vectors and the Galerkin operator come with the grid)."""

    def __init__(self, D, grid, settings=None):
        t0 = time.perf_counter()
        if isinstance(settings, dict):
            settings = AMGSettings(**settings)
        self.settings = s = (settings or AMGSettings()).check()
        self.D = D
        if s.levels == 3:
            self.level, self.packed, self.grid3 = three_level(D, grid, tuple(s.coarse_block), s.coarse_basis,
                                                              precision=s.precision, packed=s.packed, basis=s.basis)
        else:
            self.level, self.packed = two_level(D, grid, precision=s.precision, packed=s.packed, basis=s.basis)
        self.cycle = KCycle(self.level, s)
        self.cycle.copy_out = False       # precondition() copies or converts the result itself
        if self.packed:
            from ..operators.packed import PackedWilson
            self.A = PackedWilson(D)      # the outer operator, in D's precision
        else:
            self.A = D
        if self.cycle.exact is not None:
            self.cycle.exact.prepare(self.level.A.U.dtype if self.packed else self.level.A.lat.complex_dtype)
        if s.levels == 3 and self.cycle.inner.exact is not None:
            self.cycle.inner.exact.prepare(self.level.coarse.A.lat.complex_dtype)
        self._buf = None
        self.setup_seconds = time.perf_counter() - t0

    @property
    def levels(self):
        return self.level.levels

    def _inner_vector(self, v):
        """v (outer precision) as a vector of the cycle's precision (a kept buffer, or v itself)."""
        if self.packed:
            dtype = self.level.A.U.dtype
            if v.data.dtype == dtype:
                return v
            if self._buf is None or self._buf.data.shape != v.data.shape:
                self._buf = v._new(aligned_empty(v.data.shape, dtype))
            core.convert(v.data, self._buf.data)
            return self._buf
        lat = self.level.A.lat
        if v.data.dtype == lat.complex_dtype:
            return v
        return FermionField(lat, v.xp.ascontiguousarray(v.data.astype(lat.complex_dtype)))

    def precondition(self, v, out=None):
        u = self.cycle(self._inner_vector(v))
        if out is None:
            return u.copy() if u.data.dtype == v.data.dtype else v._new(u.data.astype(v.data.dtype))
        if self.packed:
            core.convert(u.data, out.data)
        else:
            out.data[...] = u.data
        return out

    def solve(self, b, **kw):
        t0 = time.perf_counter()
        if self.packed:
            r = fgmres(self.A, self.A.pack(b), M=self.precondition, M_out=True, **kw)
            r.x = self.A.unpack(r.x)
        else:
            r = fgmres(self.A, b, M=self.precondition, **kw)
        r.seconds = time.perf_counter() - t0
        return r

    def record(self):
        """The settings and the per-part seconds and counts accumulated since the last reset_timers() (for three
        levels also those of the coarse level's cycle, `coarse_cycle`)."""
        c = self.cycle
        extra = {}
        if c.inner is not None:
            extra["coarse_cycle"] = {"applications": c.inner.applications,
                                     "coarse_iterations": c.inner.coarse_iterations, "seconds": dict(c.inner.timers)}
        return {**extra, "settings": asdict(self.settings), "levels": self.levels,
                "layout": "packed" if self.packed else "ordinary", "cycle_applications": c.applications,
                "coarse_iterations": c.coarse_iterations, "cycle_seconds": dict(c.timers)}
