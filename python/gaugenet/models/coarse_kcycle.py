"""The coarse part of a three-level learned multigrid (`mg --levels 3`): c -> ~D~^{-1} c by a loose FGMRES solve
on the coarse grid, preconditioned by the conventional two-level K-cycle of gaugenet.mg on the coarse operator.

The learned model of models.multigrid is M b = M_s(P M~ R b, b); with two levels M~ is the dense exact solve
(CoarseSolve) or the learned cLPTC layer. Here M~ is a third grid below the coarse one, built like the
conventional multigrid's (mg.level.three_level): n near-null vectors of D~ (mg.coarse_level.coarse_near_null),
blocked by `coarse_block` coarse sites and block-orthonormalised, their Galerkin operator D~~
(mg.coarse_level.CoarseGridOf). One application solves D~ e = c by FGMRES to relative residual coarse_tol (at
most coarse_maxiter iterations), preconditioned by mg.kcycle.KCycle on the coarse level: MR (or GMRES) smoothing
with D~, restriction to the third grid, the third-grid solve (FGMRES with the block-Jacobi preconditioner to
coarse_tol, or the exact dense solve with coarse="exact"), prolongation. The settings are mg.kcycle.AMGSettings
(`--amg-*` of `python -m gaugenet mg`; its `levels` field plays no part here).

The result depends on c nonlinearly (an inner Krylov solve), so the layer has no gradient: the learned model
is trained with a differentiable coarse part (the exact solve or cLPTC) and this layer is swapped in for the
solves (models.experiment.three_level_model). It has no weights.
"""
import time

import numpy as np

from ..coarse import CoarseOperator
from ..fields import CoarseField
from ..ml.layer import Layer
from ..solvers import fgmres


def check_third_grid(coarse_lat, n_basis, settings):
    """The errors the third grid of `settings` (AMGSettings) below a coarse lattice with n_basis components per
    site would raise, before any work is spent: the block must divide the coarse lattice's local extents, and the
    vectors must fit into a block. Raises ValueError naming the problem."""
    from ..mg.coarse_level import CoarseBlocking
    block = tuple(settings.coarse_block)
    CoarseBlocking(coarse_lat, block)       # block size checks (coarse.Blocking): "block size ... does not divide"
    dim = n_basis * int(np.prod(block))
    if settings.coarse_basis > dim:
        raise ValueError(f"third grid: {settings.coarse_basis} near-null vectors of the coarse operator exceed the "
                         f"dimension {dim} of a coarse block ({n_basis} components x {int(np.prod(block))} sites); "
                         f"use fewer vectors (--amg-coarse-basis) or a larger --amg-coarse-block")


class CoarseKCycleSolve(Layer):
    """Weightless layer c -> e ~ D~^{-1} c (module docstring) on the CoarseGrid `grid` of the learned model.
    settings: mg.kcycle.AMGSettings (or a dict of its fields). seed: the random starts of the coarse near-null
    vectors. record() reports the counts and seconds accumulated since reset()."""
    n_in = n_out = 1
    any_precision = True      # MultigridModel.in_precision shares this layer: it casts D~ to its input's precision

    def __init__(self, grid, settings=None, seed=29, nn_tol=1e-3, nn_maxiter=200):
        from ..mg.coarse_level import CoarseGridOf, coarse_near_null
        from ..mg.kcycle import AMGSettings
        t0 = time.perf_counter()
        if isinstance(settings, dict):
            settings = AMGSettings(**settings)
        self.settings = s = (settings or AMGSettings()).check()
        self.grid = grid
        self.lat, self.n = grid.lat, grid.n_basis
        check_third_grid(grid.lat, grid.n_basis, s)
        vecs = coarse_near_null(grid.op, int(s.coarse_basis), seed=seed, tol=nn_tol, maxiter=nn_maxiter)
        self.grid2 = CoarseGridOf(grid.op, tuple(s.coarse_block), vecs)
        self._hier = []           # (coarse lattice, operator D~ on it, KCycle): one per lattice (precision) met
        self.setup_seconds = time.perf_counter() - t0
        self.reset()

    @property
    def third_lattice(self):
        return self.grid2.lat

    def _hierarchy(self, lat):
        """D~ and the K-cycle on the coarse lattice `lat` (the grid's own, or a copy in another precision)."""
        from ..mg.coarse_level import CoarseBlocking
        from ..mg.kcycle import KCycle
        from ..mg.level import Level, Transfer
        for known, op, cycle in self._hier:
            if known is lat:
                return op, cycle
        g2 = self.grid2
        if lat is self.grid.lat:
            op, blocking, B, op3 = self.grid.op, g2.blocking, g2.basis, g2.op
        else:
            if tuple(lat.dims) != tuple(self.lat.dims) or tuple(lat.grid) != tuple(self.lat.grid):
                raise ValueError("CoarseKCycleSolve: the field lives on another coarse lattice than the grid's")
            op = CoarseOperator(lat, self.grid.op.A)        # cast to the lattice's precision
            blocking = CoarseBlocking(lat, g2.blocking.block)
            B = CoarseField(lat, np.ascontiguousarray(g2.basis.data.astype(lat.complex_dtype)))
            op3 = CoarseOperator(blocking.coarse, g2.op.A)
        level = Level(op, Transfer(blocking, B), Level(op3, depth=2), depth=1, grid=g2)
        cycle = KCycle(level, self.settings)
        if cycle.exact is not None:
            cycle.exact.prepare(lat.complex_dtype)
        self._hier.append((lat, op, cycle))
        return op, cycle

    @property
    def weight_shapes(self):
        return []

    def weights(self, seed=0, scale=1.0):
        return []

    def __call__(self, weights, c):
        if not isinstance(c, CoarseField) or c.n_basis != self.n:
            raise TypeError(f"CoarseKCycleSolve: expected a CoarseField with {self.n} components")
        if c.batched:
            raise ValueError("CoarseKCycleSolve: one right-hand side at a time (the inner FGMRES is per vector)")
        t0 = time.perf_counter()
        op, cycle = self._hierarchy(c.lat)
        s = self.settings
        r = fgmres(op, c, M=cycle, tol=s.coarse_tol, maxiter=s.coarse_maxiter, restart=s.coarse_restart,
                   raise_on_fail=False)
        self.applications += 1
        self.iterations += r.iterations
        self.seconds += time.perf_counter() - t0
        return r.x

    def projected_gradient_adj(self, weights, phi, left):
        raise NotImplementedError("CoarseKCycleSolve is an inner Krylov solve (nonlinear in its input) and has no "
                                  "gradient: train with the exact or cLPTC coarse part and swap this layer in")

    def reset(self):
        """Zero the counters and timers (also those of the K-cycles)."""
        self.applications = self.iterations = 0
        self.seconds = 0.0
        for _, _, cycle in self._hier:
            cycle.reset_timers()

    def record(self):
        """Counts and seconds since reset(): coarse solves, their FGMRES iterations on D~ (= K-cycle applications),
        the third-grid iterations, the seconds of the coarse part, and the set-up."""
        third = sum(c.coarse_iterations for _, _, c in self._hier)
        cyc = {}
        for _, _, c in self._hier:
            for k, v in c.timers.items():
                cyc[k] = cyc.get(k, 0.0) + v
        s = self.settings
        return {"coarse_solves": self.applications, "coarse_iterations": self.iterations,
                "coarse_iterations_per_solve": self.iterations / max(1, self.applications),
                "third_grid_iterations": third, "coarse_seconds": self.seconds, "coarse_cycle_seconds": cyc,
                "third_lattice": list(self.third_lattice.dims), "coarse_block": list(s.coarse_block),
                "coarse_basis": int(s.coarse_basis), "coarse_tol": s.coarse_tol, "third_grid_solve": s.coarse,
                "setup_seconds": self.setup_seconds}
