"""The conventional multigrid as one more non-learned comparison in `python -m gaugenet mg`
(models/experiment.py): built from the learned model's blocks and near-null vectors, solved by FGMRES +
K-cycle, reported in the same table and JSON."""
import time

from ..util.log import log
from .kcycle import AMGSettings, ConventionalMG

NAMES = ("conventional-mg", "amg")   # accepted in --baselines
METHOD = "conventional_mg"            # the solve record's method


def build(D, grid, settings):
    """ConventionalMG on the blocks and near-null vectors of the learned model's CoarseGrid, with its own
    set-up timed: block orthonormalisation and Galerkin coarse operator recomputed from the grid's basis (the
    same basis again: it is block-orthonormal already), casts and packing. Returns (solver, seconds)."""
    from ..models.multigrid import CoarseGrid
    t0 = time.perf_counter()
    own = CoarseGrid(D, grid.blocking.block, grid.basis)
    solver = ConventionalMG(D, own, settings)
    return solver, time.perf_counter() - t0


def make_run(D, b, grid, cfg, near_null_seconds=None):
    """A callable that solves D x = b once with FGMRES + conventional multigrid and returns its solve record
    (compare_solvers' keys, plus setup_seconds, the near-null vectors' time it shares with the learned model,
    and the per-part seconds of the cycle in this solve)."""
    settings = AMGSettings(**dict(cfg.amg or {})).check()
    state = {}

    def run():
        if "solver" not in state:
            state["solver"], state["setup"] = build(D, grid, settings)
        mg = state["solver"]
        mg.cycle.reset_timers()
        r = mg.solve(b, tol=cfg.tol, maxiter=cfg.maxiter, restart=cfg.mg_restart or cfg.restart, raise_on_fail=False)
        layout = "packed" if mg.packed else "ordinary"
        log.info("%-22s %6d iterations  %8.3f s  |r|/|b| = %.2e  (%s layout)%s", METHOD, r.iterations, r.seconds,
                 r.residual, layout, "" if r.converged else "  NOT CONVERGED")
        rec = {"method": METHOD, "iterations": r.iterations, "operator_applications": r.operator_applications,
               "seconds": r.seconds, "residual": r.residual, "converged": r.converged, "layout": layout,
               "maxiter": cfg.maxiter, "setup_seconds": state["setup"]}
        if near_null_seconds is not None:
            rec["near_null_seconds"] = near_null_seconds
        rec.update(mg.record())
        return rec
    return run
