"""Time per propagator and the break-even number of propagators of the learned multigrid (issue 19).

A propagator is the solution of D x = b for the 12 point sources of one site (4 spins x 3 colours, SU(3)):
`measure_propagators` solves the first `nrhs` of them (`mg --propagator-rhs`) with every method of the
comparison, the methods in turn for each source, and reports the measured solve seconds. With nrhs < 12 the
seconds per propagator are the measured mean per right-hand side times 12, and the record says so
(`extrapolated: true`); with nrhs = 12 they are the measured sum. Set-up work done once per gauge field (the
even-odd clover inversion, the multigrid hierarchies, training) is not part of it, as in the solve records.

With `batch` > 1 (`mg --propagator-batch`) the learned multigrid solves the same sources once more, `batch` at a
time in lockstep (PackedMultigridSolver.solve_many, solvers/fgmres_multi.py: one application of the model and of
D per step to the Krylov vectors of all sources of the batch): the method MULTI_RHS, its seconds per source the
batch's wall time divided by its size.

`break_even` compares the learned multigrid with the fastest non-learned method whose propagator solves all
converged: break_even_propagators = training_seconds / (seconds saved per propagator), or None with
`break_even_reason` when nothing is saved.
"""
import time

import numpy as np

from ..fields import FermionField
from ..mg.compare import VARIANTS as CONVENTIONAL_VARIANTS
from ..solvers import fgmres
from ..solvers.baselines import solve_wilson
from ..util.log import log

MULTI_RHS = "fgmres_multigrid_multi_rhs"
RHS_PER_PROPAGATOR = 12          # 4 spins x 3 colours (the propagator of SU(3) Wilson fermions)
# comparison records left out of the propagator: the high-mode model alone is a component of the learned
# multigrid, not a solver one would use (thousands of iterations per solve at the seed-000 problem)
SKIPPED = {"fgmres_high_mode": "the high-mode model alone is a component of the multigrid model, not a "
                               "propagator solver"}


def point_source(lat, N, k, site=(0, 0, 0, 0)):
    """The point source of spin-colour component k (spin k // N, colour k % N) at `site` (t, z, y, x), |b| = 1."""
    a = np.zeros(tuple(lat.global_shape) + (4, N), dtype=lat.complex_dtype)
    a[tuple(site) + (k // N, k % N)] = 1.0
    return FermionField.from_numpy(lat, a)


def _solvers(D, recs, model, weights, cfg):
    """{method: solve(b) -> (seconds, iterations, converged, residual)} for the comparison's methods (recs)
    that a propagator is measured for, and {method: reason} for those it is not."""
    from .experiment import ANSWER, REFERENCE, mg_solver, preconditioner
    solve, skipped = {}, {}
    kw = dict(tol=cfg.tol, raise_on_fail=False)

    def from_result(r):
        return r.seconds, r.iterations, bool(r.converged), float(r.residual)

    for rec in recs:
        m = rec["method"]
        if m in SKIPPED:
            skipped[m] = SKIPPED[m]
        elif not rec["converged"]:
            # a solver that did not converge on the comparison source would run to its cap 12 times
            skipped[m] = "did not converge on the comparison source"
        elif m == ANSWER:
            s = mg_solver(D, model, weights, cfg)
            restart = cfg.mg_restart or cfg.restart
            if s is not None:
                solve[m] = lambda b, s=s: from_result(s.solve(b, maxiter=cfg.maxiter, restart=restart, **kw))
            else:
                M = preconditioner(model, weights, precision=cfg.precision)
                solve[m] = lambda b, M=M: from_result(fgmres(D, b, M=M, maxiter=cfg.maxiter, restart=restart, **kw))
        elif m in {v[0] for v in CONVENTIONAL_VARIANTS.values()}:
            from ..mg.compare import build
            from ..mg.kcycle import AMGSettings
            coarse = {v[0]: v[1] for v in CONVENTIONAL_VARIANTS.values()}[m]
            settings = dict(cfg.amg or {})
            if coarse is not None:
                settings["coarse"] = coarse
            amg, _ = build(D, model.grid, AMGSettings(**settings).check())
            solve[m] = lambda b, amg=amg: from_result(amg.solve(b, maxiter=cfg.maxiter,
                                                                restart=cfg.mg_restart or cfg.restart, **kw))
        else:
            method = {REFERENCE: "gmres"}.get(m, m)
            maxiter = cfg.reference_maxiter if m == REFERENCE else cfg.maxiter

            def run(b, method=method, maxiter=maxiter):
                _, r = solve_wilson(D, b, method=method, tol=cfg.tol, maxiter=maxiter, restart=cfg.restart,
                                    raise_on_fail=False)
                return r["seconds"], r["iterations"], bool(r["converged"]), float(r["residual"])
            solve[m] = run
    return solve, skipped


def _multi_rhs(D, model, weights, cfg, nrhs, batch):
    """The learned multigrid on the first nrhs point sources, `batch` at a time in lockstep: the per-source record
    of measure_propagators (seconds per source: the batch's wall time over its size), or (None, reason)."""
    from .experiment import mg_solver
    s = mg_solver(D, model, weights, cfg)
    if s is None:
        return None, "the lockstep solve needs the packed layout (PackedMultigridSolver)"
    rec = {"seconds_per_rhs": [], "iterations": [], "residuals": [], "converged": True, "batch": batch,
           "batch_seconds": []}
    for k0 in range(0, nrhs, batch):
        ks = range(k0, min(nrhs, k0 + batch))
        b = FermionField.stack([point_source(D.lat, D.N, k) for k in ks])
        rs = s.solve_many(b, tol=cfg.tol, maxiter=cfg.maxiter, restart=cfg.mg_restart or cfg.restart,
                          raise_on_fail=False)
        rec["batch_seconds"].append(float(rs[0].seconds))
        for r in rs:
            rec["seconds_per_rhs"].append(float(r.seconds) / len(ks))
            rec["iterations"].append(int(r.iterations))
            rec["residuals"].append(float(r.residual))
            rec["converged"] = rec["converged"] and bool(r.converged)
    return rec, None


def measure_propagators(D, recs, model, weights, cfg, nrhs, batch=0):
    """Solve the first nrhs point sources (1 <= nrhs <= 12) with every method of `recs` (the comparison's solve
    records) that converged there, except those in SKIPPED; with batch > 1 also the learned multigrid on them
    `batch` at a time in lockstep (MULTI_RHS). Returns the `propagator` record of the mg JSON."""
    if not 1 <= nrhs <= RHS_PER_PROPAGATOR:
        raise ValueError(f"propagator right-hand sides must be 1 to {RHS_PER_PROPAGATOR}, got {nrhs}")
    if batch < 0 or batch == 1:
        raise ValueError(f"propagator batch must be 0 (none) or at least 2, got {batch}")
    solve, skipped = _solvers(D, recs, model, weights, cfg)
    per = {m: {"seconds_per_rhs": [], "iterations": [], "residuals": [], "converged": True} for m in solve}
    t0 = time.perf_counter()
    for k in range(nrhs):
        b = point_source(D.lat, D.N, k)
        for m, fn in solve.items():          # the methods in turn per source: a change of the host's load hits all
            s, its, ok, res = fn(b)
            p = per[m]
            p["seconds_per_rhs"].append(float(s))
            p["iterations"].append(int(its))
            p["residuals"].append(res)
            p["converged"] = p["converged"] and ok
    from .experiment import ANSWER
    if batch and ANSWER in solve:
        rec, why = _multi_rhs(D, model, weights, cfg, nrhs, min(batch, nrhs))
        if rec is None:
            skipped[MULTI_RHS] = why
        else:
            per[MULTI_RHS] = rec
    for m, p in per.items():
        total = float(np.sum(p["seconds_per_rhs"]))
        p["seconds"] = total
        p["seconds_per_propagator"] = total * RHS_PER_PROPAGATOR / nrhs
        log.info("propagator %-22s %2d rhs: %8.3f s, %6.1f iterations per rhs -> %8.3f s per propagator%s%s", m,
                 nrhs, total, float(np.mean(p["iterations"])), p["seconds_per_propagator"],
                 " (x 12/%d)" % nrhs if nrhs < RHS_PER_PROPAGATOR else "",
                 "" if p["converged"] else "  NOT CONVERGED on every source")
    return {"rhs_per_propagator": RHS_PER_PROPAGATOR, "rhs_solved": nrhs, "extrapolated": nrhs < RHS_PER_PROPAGATOR,
            "sources": f"point sources at the origin, spin-colour components 0..{nrhs - 1} (spin k // {D.N}, "
                       f"colour k % {D.N})",
            "seconds": time.perf_counter() - t0, "methods": per, "skipped": skipped}


def training_seconds(report):
    """Wall time of the training loops (the set-up stages named *_training: Adam steps with their batches)."""
    return float(sum(s["seconds"] for s in report if s["stage"].endswith("_training")))


def break_even(prop, training, setup, answer, non_learned):
    """The break-even keys of the mg JSON from a `propagator` record (or None: not measured)."""
    none = {"break_even_propagators": None}
    if prop is None:
        return dict(none, break_even_reason="propagators not measured (--propagator-rhs 0)")
    methods = prop["methods"]
    mine = methods.get(answer)
    if mine is None or not mine["converged"]:
        return dict(none, break_even_reason="the learned multigrid did not converge on every propagator source")
    base = {m: p for m, p in methods.items() if m in non_learned and p["converged"]}
    if not base:
        return dict(none, break_even_reason="no non-learned method converged on every propagator source")
    best = min(base, key=lambda m: base[m]["seconds_per_propagator"])
    saved = base[best]["seconds_per_propagator"] - mine["seconds_per_propagator"]
    out = {"break_even_against": best, "seconds_saved_per_propagator": saved}
    if saved <= 0:
        return dict(none, **out, break_even_reason=(
            f"the learned multigrid saves no time per propagator: {mine['seconds_per_propagator']:.3f} s against "
            f"{base[best]['seconds_per_propagator']:.3f} s for {best}"))
    return dict(out, break_even_propagators=training / saved, break_even_propagators_setup=setup / saved)
