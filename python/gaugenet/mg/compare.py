"""The conventional multigrid as one more non-learned comparison in `python -m gaugenet mg`
(models/experiment.py): built from the learned model's blocks and near-null vectors, solved by FGMRES +
K-cycle, reported in the same table and JSON."""
import time

from ..util.log import log
from .kcycle import AMGSettings, ConventionalMG

# accepted in --baselines: name -> (the solve record's method, coarse solve forced on the --amg-* settings)
VARIANTS = {"conventional-mg": ("conventional_mg", None), "amg": ("conventional_mg", None),
            "amg-exact": ("conventional_mg_exact", "exact")}
NAMES = tuple(VARIANTS)
METHODS = tuple(sorted({m for m, _ in VARIANTS.values()}))


def build(D, grid, settings):
    """ConventionalMG on the blocks and near-null vectors of the learned model's CoarseGrid, with its own
    set-up timed: block orthonormalisation and Galerkin coarse operator recomputed from the grid's basis (the
    same basis again: it is block-orthonormal already), casts and packing. Returns (solver, seconds)."""
    from ..models.multigrid import CoarseGrid
    t0 = time.perf_counter()
    own = CoarseGrid(D, grid.blocking.block, grid.basis)
    solver = ConventionalMG(D, own, settings)
    return solver, time.perf_counter() - t0


def make_run(D, b, grid, cfg, name="amg", near_null_seconds=None):
    """A callable that solves D x = b once with FGMRES + conventional multigrid (the baseline `name` of
    VARIANTS, settings cfg.amg) and returns its solve record (compare_solvers' keys, plus setup_seconds, the
    near-null vectors' time it shares with the learned model when given, the settings and the per-part seconds
    of the cycle in this solve)."""
    if name not in VARIANTS:
        raise ValueError(f"unknown conventional multigrid baseline {name!r}; choose from {', '.join(NAMES)}")
    METHOD, coarse = VARIANTS[name]
    kw = dict(cfg.amg or {})
    if coarse is not None:
        kw["coarse"] = coarse
    settings = AMGSettings(**kw).check()
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
