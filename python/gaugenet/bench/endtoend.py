"""End-to-end records of the suite (issue 4): FGMRES time-to-solution on the seed-000 problem with
and without the trained multigrid model, next to the non-learned baselines; the cost of a training
step of every model stage; SLHMC vs HMC cost per independent sample (gaugenet.bench.hmc_cost).

The seed-000 problem: Wilson-clover m = -0.6, c_sw = 1 on an 8^3 x 16 SU(3) beta = 6.0 gauge field
(read from `config`, or made by heat bath in the run), one Gaussian source, relative residual 1e-8.
Quick mode: 4^3 x 8 after 20 heat-bath sweeps, m = -0.3, 2^4 blocks, a few training steps (a smoke run; its
numbers say nothing about the target problem).
"""
import time

import numpy as np

from ..util.log import log

SEED000 = dict(dims=(8, 8, 8, 16), beta=6.0, mass=-0.6, csw=1.0, sweeps=150, block=(4, 4, 4, 2))
QUICK = dict(dims=(4, 4, 4, 8), beta=6.0, mass=-0.3, csw=1.0, sweeps=20, block=(2, 2, 2, 2))


def _base(kernel, lat, threads, ranks, cores, **kw):
    rec = {"kernel": kernel, "local_volume": ".".join(map(str, lat.local_dims)),
           "global_volume": ".".join(map(str, lat.dims)), "precision": lat.precision, "threads": threads,
           "ranks": ranks, "process_grid": ".".join(map(str, lat.grid)), "scaling": None, "nvec": 1, "features": None,
           "mode": "normal", "flops_per_site": None, "bytes_per_site": None, "gflops": None, "gbytes_per_s": None,
           "roofline_fraction": None, "speedup_vs_numpy": None, "calls": 1, "oversubscribed": ranks * threads > cores}
    rec.update(kw)
    return rec


def seed000_gauge_field(quick, config=None, seed=0):
    import gaugenet as gn
    from ..gauge.heatbath import QuenchedUpdater
    p = QUICK if quick else SEED000
    if config:
        U = gn.io.load_gauge(config)
        return U, f"read from {config}"
    lat = gn.Lattice(p["dims"])
    U = gn.GaugeField.unit(lat, 3)
    t0 = time.perf_counter()
    QuenchedUpdater(p["beta"], seed=seed, or_steps=4).run(U, 0, p["sweeps"])
    return U, (f"heat bath + 4 OR, {p['sweeps']} sweeps from a cold start at beta {p['beta']} "
               f"({time.perf_counter() - t0:.0f} s), seed {seed}")


def _smoother_words(cfg):
    if cfg.smoother == "defect":
        return f"smoother: {cfg.smoother_layers} learned defect-correction steps"
    return f"{cfg.smoother_layers}-layer PTC smoother"


def multigrid_records(quick, threads, ranks, cores, config=None):
    """Train the seed-000 multigrid model and time the solves; one record per solver, per training
    stage and for the model application."""
    import gaugenet as gn
    from ..models.experiment import MGConfig, run_experiment
    p = QUICK if quick else SEED000
    U, origin = seed000_gauge_field(quick, config)
    lat = U.lat
    plaq = gn.plaquette(U)
    log.info("seed-000 problem: %s, plaquette %.6f (%s)", "x".join(map(str, lat.dims)), plaq, origin)
    D = gn.WilsonClover(U, mass=p["mass"], csw=p["csw"])
    cfg = MGConfig(block=p["block"], repeat=1 if quick else 3)   # medians of three rounds of solves, in turn
    if quick:
        cfg.high_steps, cfg.smoother_steps, cfg.mg_steps, cfg.n_basis = 20, 10, 3, 6
        cfg.nn_maxiter, cfg.nn_refine_maxiter, cfg.log_every, cfg.maxiter = 50, 10, 0, 5000
    out = run_experiment(D, cfg)
    common = dict(problem=f"Wilson-clover m={p['mass']} c_sw={p['csw']}, {'x'.join(map(str, lat.dims))} SU(3) "
                          f"beta={p['beta']} (plaquette {plaq:.6f}; {origin})", tolerance=cfg.tol,
                  restart=cfg.restart)
    recs = []
    for s in out["solves"]:
        note = {"fgmres_unpreconditioned": "FGMRES without preconditioner (restarted GMRES)",
                "fgmres_high_mode": "FGMRES preconditioned by the trained one-layer high-mode PTC model",
                "fgmres_multigrid": f"FGMRES preconditioned by the trained multigrid model (coarse: {cfg.coarse}; "
                                    f"model application {out['model_seconds_per_application'] * 1e3:.1f} ms, "
                                    f"included)",
                "packed-bicgstab": "non-learned baseline (BiCGStab on D, packed layout)"}.get(
                    s["method"], "non-learned baseline (even-odd Schur complement)")
        recs.append(_base("fgmres_seed000", lat, threads, ranks, cores, method=s["method"],
                          seconds_per_call=s["seconds"], seconds_all=s.get("seconds_all"), iterations=s["iterations"],
                          operator_applications=s["operator_applications"], residual=s["residual"],
                          iteration_gain=s.get("iteration_gain"),
                          speedup_vs_unpreconditioned=s.get("speedup_vs_unpreconditioned"), converged=s["converged"],
                          gain_is_lower_bound=s.get("gain_is_lower_bound"),
                          note=note if s["converged"] else "NOT CONVERGED: " + note, **common))
    mg = next(s for s in out["solves"] if s["method"] == "fgmres_multigrid")
    if "best_baseline" in out:
        recs[-1]["speedup_vs_best_baseline"] = out["multigrid_speedup_vs_best_baseline"]
        recs[-1]["best_baseline"] = out["best_baseline"]
    recs.append(_base("multigrid_model_apply", lat, threads, ranks, cores,
                      seconds_per_call=out["model_seconds_per_application"],
                      note=f"one application of the trained multigrid model ({_smoother_words(cfg)}, "
                           f"{cfg.coarse} coarse part, {cfg.n_basis} vectors on {cfg.block} blocks)", **common))
    for st in out["setup"]:
        if "seconds_per_step" in st:
            recs.append(_base("multigrid_training_step", lat, threads, ranks, cores, stage=st["stage"],
                              seconds_per_call=st["seconds_per_step"], steps=st["steps"], stage_seconds=st["seconds"],
                              cost_first=st["cost_first"], cost_last=st["cost_last"],
                              note="median seconds per Adam step (batch generation, forward, backprop, update)",
                              **common))
    recs.append(_base("multigrid_setup", lat, threads, ranks, cores, seconds_per_call=out["setup_seconds"],
                      stages={st["stage"]: st["seconds"] for st in out["setup"]},
                      note="training of all stages + near-null vectors + coarse grid (once per gauge field)",
                      **common))
    log.info("seed-000: multigrid %.3f s (%d iterations) vs unpreconditioned %.3f s; best baseline %s %.3f s",
             mg["seconds"], mg["iterations"],
             next(s["seconds"] for s in out["solves"] if s["method"] == "fgmres_unpreconditioned"),
             out.get("best_baseline"), next((s["seconds"] for s in out["solves"]
                                             if s["method"] == out.get("best_baseline")), float("nan")))
    return recs


def hmc_records(quick, threads, ranks, cores):
    import gaugenet as gn
    from .hmc_cost import hmc_vs_slhmc
    lat = gn.Lattice((4, 4, 4, 4))
    recs = []
    for r in hmc_vs_slhmc(quick=quick, log=log.info):
        base = _base(r["kernel"], lat, threads, ranks, cores, seconds_per_call=r["seconds_per_trajectory"],
                     note=f"{r['algorithm'].upper()}: seconds per trajectory x 2 tau_int(plaquette)")
        base.update(r)
        recs.append(base)
    return recs
