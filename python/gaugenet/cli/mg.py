"""`python -m gaugenet mg`: the seed-000 experiment end to end. Train the gauge-equivariant
multigrid preconditioner for the Wilson-clover operator (high-mode model, near-null vectors, coarse
grid, smoother, combined model) and compare FGMRES time-to-solution with and without it against the
non-learned baselines (gaugenet.models.experiment). Defaults: 8^3 x 16, beta = 6.0 (heat bath from
a cold start unless --config is given), m = -0.6, c_sw = 1, 4^3 x 2 blocks (coarse 2^3 x 8; the
paper: 4^4, --block 4.4.4.4), 24 basis vectors, a smoother of three learned defect-correction steps,
relative residual 1e-8; the solve with the model on the packed layout with a bfloat16 basis where that
applies. --quick shrinks every stage for a smoke run (4^3 x 8, a few steps).
"""
import numpy as np

from ..models.experiment import ANSWER, REFERENCE, summary_line
from ..util.atomic import atomic_write_json
from ..util.log import log
from .solve import gauge_field


def add_arguments(p):
    p.add_argument("--config", default=None, help="gauge configuration file (NERSC, ILDG or HDF5)")
    p.add_argument("--lattice", default="8.8.8.16", help="lattice when no --config is given (default 8.8.8.16)")
    p.add_argument("--beta", type=float, default=6.0, help="heat-bath coupling when no --config is given")
    p.add_argument("--sweeps", type=int, default=100, help="heat-bath sweeps when no --config is given")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--mass", type=float, default=-0.6)
    p.add_argument("--csw", type=float, default=1.0)
    p.add_argument("--antiperiodic-t", action="store_true", help="antiperiodic fermion boundary in time")
    p.add_argument("--block", default=None, help="block size bx.by.bz.bt (default 4.4.4.2; the paper 4.4.4.4; quick 2.2.2.2)")
    p.add_argument("--n-basis", type=int, default=24, help="near-null vectors (default 24; the paper used 12)")
    p.add_argument("--model-precision", choices=("single", "double"), default="single",
                   help="precision the multigrid model is applied in inside the double-precision FGMRES (default single)")
    p.add_argument("--layout", choices=("packed", "ordinary"), default="packed",
                   help="FGMRES + multigrid on the packed layout (Krylov vectors, outer operator and smoother; default, "
                        "where the packed kernels apply: defect smoother, local x extent %% 8 == 0, AVX-512) or on "
                        "FermionFields with only the smoother packed")
    p.add_argument("--basis", choices=("bf16", "full"), default="bf16",
                   help="storage of the block basis in the packed multigrid solve: bfloat16 (default; half the bytes "
                        "restriction and prolongation stream, same iterations on seed 000) or the model's precision")
    p.add_argument("--coarse", choices=("solve", "clptc"), default="solve",
                   help="coarse-grid part: exact dense solve of D~ or the learned cLPTC layer (default solve)")
    p.add_argument("--smoother", choices=("ptc", "defect"), default=None,
                   help="ptc: 2r PTC layers 2 -> 2 (seed 000); defect: r defect-correction steps u += L_k(b - D u) "
                        "with the operator and one learned PTC layer each (default: see docs/mg.md)")
    p.add_argument("--smoother-layers", type=int, default=None,
                   help="PTC layers (ptc) or defect-correction steps (defect); default: see docs/mg.md")
    p.add_argument("--steps", default=None,
                   help="training steps high,smoother,coarse,mg (default 200,150,500,20)")
    p.add_argument("--save", default=None, metavar="FILE.npz",
                   help="write the trained high-mode and smoother weights (rank 0)")
    p.add_argument("--load", default=None, metavar="FILE.npz",
                   help="start from weights saved by --save (transfer to another configuration: near-null vectors and "
                        "the coarse part are rebuilt; default steps then 0,0,500,20: only the coarse layer and the "
                        "combined model are retrained, as in seed 000)")
    p.add_argument("--tol", type=float, default=1e-8)
    p.add_argument("--maxiter", type=int, default=20000,
                   help="iteration limit of the FGMRES solves with the learned models (default 20000); the learned "
                        "multigrid solve not converging within it is an error (nonzero exit)")
    p.add_argument("--reference-maxiter", type=int, default=2000,
                   help="iteration cap of the unpreconditioned FGMRES reference, solved once (first round only; "
                        "default 2000). Where it stops unconverged (as at the seed-000 mass, where even 20000 "
                        "iterations reach only |r|/|b| ~ 1e-2) the table and JSON mark the gains over it as lower "
                        "bounds; that is a measured result, not an error")
    p.add_argument("--restart", type=int, default=30, help="(F)GMRES restart length (default 30)")
    p.add_argument("--baselines", default="gmres,eo-bicgstab,eo-cg",
                   help="comma-separated non-learned solvers to compare with (gmres, bicgstab, packed-bicgstab: "
                        "skipped where the local x extent is not a multiple of 8, eo-bicgstab, eo-cg, "
                        "conventional-mg or amg: FGMRES + a conventional aggregation multigrid K-cycle on the learned "
                        "model's blocks and near-null vectors, settings --amg-*; amg-exact: the same with the exact "
                        "coarse solve of the learned model)")
    # --- the conventional multigrid baseline (gaugenet.mg, docs/mg.md "Conventional multigrid")
    p.add_argument("--amg-pre", type=int, default=0, help="conventional multigrid: pre-smoothing steps (default 0)")
    p.add_argument("--amg-post", type=int, default=6, help="conventional multigrid: post-smoothing steps (default 6)")
    p.add_argument("--amg-smoother", choices=("mr", "gmres"), default="mr",
                   help="conventional multigrid: smoother, minimal residual or one GMRES(k) cycle (default mr)")
    p.add_argument("--amg-omega", type=float, default=1.0, help="conventional multigrid: MR relaxation (default 1)")
    p.add_argument("--amg-coarse", choices=("gmres", "exact"), default="gmres",
                   help="conventional multigrid: coarse solve by FGMRES to --amg-coarse-tol (default) or the exact "
                        "dense solve the learned model uses")
    p.add_argument("--amg-coarse-tol", type=float, default=0.05,
                   help="conventional multigrid: relative residual of the coarse FGMRES solve (default 0.05)")
    p.add_argument("--amg-levels", type=int, default=2,
                   help="conventional multigrid: 2 levels, or 3 (a third grid from near-null vectors of the coarse "
                        "operator; --amg-coarse-block, --amg-coarse-basis)")
    p.add_argument("--amg-coarse-block", default="1.1.1.2",
                   help="conventional multigrid, 3 levels: coarse sites per block bx.by.bz.bt (default 1.1.1.2)")
    p.add_argument("--amg-coarse-basis", type=int, default=24,
                   help="conventional multigrid, 3 levels: near-null vectors of the coarse operator (default 24)")
    p.add_argument("--levels", type=int, default=2,
                   help="grids of the learned multigrid: 2 (default), or 3: the model is trained as with 2 levels "
                        "(--coarse), then solves with a coarse part that is a loose FGMRES on the coarse grid "
                        "preconditioned by the conventional K-cycle on a third grid (near-null vectors of the coarse "
                        "operator, --amg-coarse-block, --amg-coarse-basis, --amg-coarse-tol, --amg-coarse, "
                        "--amg-post/--amg-smoother on the coarse grid)")
    p.add_argument("--repeat", type=int, default=1,
                   help="rounds of timed solves, every method once per round in turn; the reported seconds are the "
                        "medians (default 1)")
    p.add_argument("--high-mode-variants", default="",
                   help="comma-separated high-mode models of seed 000 Figs. 6-7 to train (the high-mode steps of "
                        "--steps) and solve with beside the pipeline: ptc, lptc, ptc-1-1-1, ptc-1-2-1, ptc-2hop, "
                        "each also as NAME-zb (zero boundary links at the rank boundaries: communication avoiding); "
                        "results under high_mode_study in the JSON (default none)")
    p.add_argument("--no-high-mode-solve", action="store_true",
                   help="leave out the comparison solve with FGMRES + the high-mode model alone (a component of the "
                        "multigrid model; thousands of iterations near criticality, hours at large volumes)")
    p.add_argument("--propagator-rhs", type=int, default=2,
                   help="after the comparison, solve this many of the 12 point sources of a propagator (0-12) with "
                        "every method that converged there (not FGMRES + high-mode model alone) and report "
                        "seconds_per_propagator (below 12: the mean per source x 12) and break_even_propagators "
                        "(default 2; 0: none)")
    p.add_argument("--propagator-batch", type=int, default=0,
                   help="with --propagator-rhs: also solve those sources with the learned multigrid this many at a "
                        "time in lockstep (one application of the model and of D per FGMRES step to the Krylov vectors "
                        "of all of them; packed layout), reported as fgmres_multigrid_multi_rhs (default 0: not; "
                        "memory: 2 x restart + 1 vectors per source)")
    p.add_argument("--quick", action="store_true", help="small lattice and few steps (smoke run)")
    p.add_argument("--precision", choices=("double", "single"), default="double")
    p.add_argument("--mpi", default=None, help="process grid Px.Py.Pz.Pt")
    p.add_argument("--json", default=None, help="write the results to this JSON file (rank 0)")
    p.add_argument("--no-plots", action="store_true",   # plots: util/plots.py, written by _plots below
                   help="do not write FILE.training.png and FILE.residuals.png beside --json")
    p.add_argument("--verbose", action="store_true")


def _arg_error(message):
    """An error that follows from the arguments alone: raised identically on every rank (collective), so
    every rank exits with it instead of the job being aborted."""
    err = ValueError(message)
    err.collective = True
    return err


def smoother_args(args):
    """--smoother / --smoother-layers as MGConfig fields (the configuration's defaults where not given)."""
    from ..models.experiment import MGConfig, default_smoother_layers
    kind = args.smoother or MGConfig.smoother
    layers = args.smoother_layers if args.smoother_layers is not None else default_smoother_layers(kind)
    if layers < 1:
        raise _arg_error(f"--smoother-layers must be at least 1, got {layers}")
    return dict(smoother=kind, smoother_layers=layers)


def _high_mode_variants(args):
    from ..models.high_mode_study import check_variants
    try:
        return check_variants([v.strip() for v in args.high_mode_variants.split(",") if v.strip()])
    except ValueError as exc:
        raise _arg_error(f"{exc} (--high-mode-variants)") from None


def config_from_args(args):
    from ..models.experiment import MGConfig
    try:
        block = tuple(int(v) for v in (args.block or "4.4.4.2").split("."))
    except ValueError:
        block = ()
    if len(block) != 4:
        raise _arg_error(f"--block must be bx.by.bz.bt (four integers), got {args.block!r}")
    if not 0 <= args.propagator_rhs <= 12:
        raise _arg_error(f"--propagator-rhs must be 0 to 12 (point sources of one propagator), got {args.propagator_rhs}")
    if args.propagator_batch < 0 or args.propagator_batch == 1:
        raise _arg_error(f"--propagator-batch must be 0 (none) or at least 2, got {args.propagator_batch}")
    if args.levels not in (2, 3):
        raise _arg_error(f"--levels must be 2 or 3, got {args.levels}")
    if args.repeat < 1:
        raise _arg_error(f"--repeat must be at least 1, got {args.repeat}")
    for name in ("maxiter", "reference_maxiter"):
        if getattr(args, name) < 1:
            raise _arg_error(f"--{name.replace('_', '-')} must be at least 1, got {getattr(args, name)}")
    cfg = MGConfig(block=block, n_basis=args.n_basis, precision=args.model_precision, coarse=args.coarse,
                   packed=args.layout == "packed", basis=args.basis,
                   **smoother_args(args), tol=args.tol, restart=args.restart,
                   baselines=tuple(m.strip() for m in args.baselines.split(",") if m.strip()), repeat=args.repeat,
                   propagator_rhs=args.propagator_rhs, propagator_batch=args.propagator_batch,
                   high_mode_variants=_high_mode_variants(args),
                   maxiter=args.maxiter, reference_maxiter=args.reference_maxiter, levels=args.levels,
                   compare_high_mode=not args.no_high_mode_solve)
    try:
        cblock = tuple(int(v) for v in args.amg_coarse_block.split("."))
    except ValueError:
        cblock = ()
    if len(cblock) != 4:
        raise _arg_error(f"--amg-coarse-block must be bx.by.bz.bt (four integers), got {args.amg_coarse_block!r}")
    cfg.amg = dict(pre=args.amg_pre, post=args.amg_post, smoother=args.amg_smoother, omega=args.amg_omega,
                   coarse=args.amg_coarse, coarse_tol=args.amg_coarse_tol, precision=cfg.precision,
                   levels=args.amg_levels, coarse_block=cblock, coarse_basis=args.amg_coarse_basis)
    from ..mg import AMGSettings
    try:
        AMGSettings(**cfg.amg).check()
    except ValueError as exc:
        raise _arg_error(f"{exc} (--amg-*)") from None
    if cfg.levels == 3:                # the third grid of the learned model's coarse solve takes the --amg-* settings
        try:
            AMGSettings(**dict(cfg.amg, levels=3)).check()
        except ValueError as exc:
            raise _arg_error(f"{exc} (--amg-* of --levels 3)") from None
    if args.quick:
        cfg.high_steps, cfg.smoother_steps, cfg.coarse_steps, cfg.mg_steps = 20, 10, 20, 3
        cfg.n_basis, cfg.nn_maxiter, cfg.nn_refine_maxiter, cfg.log_every = min(cfg.n_basis, 6), 50, 10, 10
    if args.load and not args.steps:
        cfg.high_steps, cfg.smoother_steps = 0, 0
    if args.steps:
        vals = [int(v) for v in args.steps.split(",")]
        if len(vals) != 4:
            raise _arg_error(f"--steps needs four numbers high,smoother,coarse,mg, got {args.steps!r}")
        cfg.high_steps, cfg.smoother_steps, cfg.coarse_steps, cfg.mg_steps = vals
    return cfg


def run(args):
    import gaugenet as gn
    from ..models.experiment import run_experiment
    from ..solvers.baselines import METHODS
    if args.quick and args.config is None:
        args.lattice, args.sweeps = "4.4.4.8", min(args.sweeps, 10)
        args.block = args.block or "2.2.2.2"
        args.mass = max(args.mass, -0.3)   # a small, well-conditioned problem
    cfg = config_from_args(args)
    from ..mg.compare import NAMES as CONVENTIONAL_MG
    for m in cfg.baselines:
        if m not in METHODS + CONVENTIONAL_MG:
            raise _arg_error(f"unknown baseline {m!r}; choose from {', '.join(METHODS + CONVENTIONAL_MG)}")
    U = gauge_field(args)
    lat = U.lat
    from ..coarse import Blocking
    Blocking(lat, cfg.block)          # a block size that does not fit fails here, before any training
    if cfg.amg.get("levels") == 3 and set(cfg.baselines) & set(CONVENTIONAL_MG):   # and so does the third grid's
        Blocking(Blocking(lat, cfg.block).coarse, cfg.amg["coarse_block"])
    if cfg.levels == 3:                # the learned model's third grid: block and vector count, before any training
        from ..mg import AMGSettings
        from ..models.coarse_kcycle import check_third_grid
        try:
            check_third_grid(Blocking(lat, cfg.block).coarse, cfg.n_basis, AMGSettings(**dict(cfg.amg, levels=3)))
        except ValueError as exc:
            raise _arg_error(f"{exc} (--levels 3: --amg-coarse-block, --amg-coarse-basis)") from None
    phases = (0, 0, 0, np.pi) if args.antiperiodic_t else (0, 0, 0, 0)
    D = gn.WilsonClover(U, mass=args.mass, csw=args.csw, boundary_phases=phases)
    log.info("seed-000 multigrid: Wilson-clover m=%g c_sw=%g on %s, %d ranks (grid %s), blocks %s, %d vectors, "
             "coarse %s%s", args.mass, args.csw, "x".join(map(str, lat.dims)), lat.size, ".".join(map(str, lat.grid)),
             "x".join(map(str, cfg.block)), cfg.n_basis, cfg.coarse,
             "" if cfg.levels == 2 else f" in training, three levels in the solves (third-grid blocks "
             f"{'x'.join(map(str, cfg.amg['coarse_block']))}, {cfg.amg['coarse_basis']} vectors)")
    init = None
    if args.load:
        from ..models.experiment import load_weights
        problem = None
        try:
            init = load_weights(args.load, cfg)
        except ValueError as exc:      # every rank reads the file: agree before raising (no abort, no hang)
            problem = str(exc)
        lat.check(problem is None, problem or "")
        log.info("starting from the weights in %s (high-mode, %d smoother layers)", args.load, len(init[1]))
    # --- progress, histories for the plots, and (with --json F.json) checkpoints of the training loops in
    # F.checkpoint/ on SIGTERM/SIGUSR1 and every 25 steps: a rerun continues (models/training.py, docs/cli.md)
    import contextlib
    from ..models.training import TrainingCheckpoint, TrainingInterrupted, TrainingRecorder, recording
    from ..util.signals import GracefulStop
    with contextlib.ExitStack() as stack:
        ck = None
        if args.json:
            stop = stack.enter_context(GracefulStop())
            stem = args.json[:-5] if args.json.endswith(".json") else args.json
            ck = TrainingCheckpoint(stem + ".checkpoint", lat.cart, stop=stop)
        training = stack.enter_context(recording(TrainingRecorder(checkpoint=ck)))
        try:
            out = run_experiment(D, cfg, init=init, save=args.save)
        except TrainingInterrupted as exc:
            log.warning("%s; exit status %d (interrupted, resumable). To continue: rerun the same command (same "
                        "--json)", exc, exc.exit_status)
            return exc.exit_status
    if ck is not None:
        ck.clear()
    out.update(lattice=list(lat.dims), ranks=lat.size, grid=list(lat.grid), mass=args.mass, csw=args.csw,
               plaquette=gn.plaquette(U))
    if args.json and lat.rank == 0:   # atomic: a run killed while writing leaves the old file or the new one
        atomic_write_json(args.json, out, indent=1, default=str)
    _plots(args, out, training, lat)
    print_table(out, cfg)
    mg = next(r for r in out["solves"] if r["method"] == ANSWER)
    if not mg["converged"]:
        from ..solvers import NotConvergedError
        raise NotConvergedError(f"the learned multigrid solve did not converge to {cfg.tol:g} within {cfg.maxiter} "
                                f"iterations (|r|/|b| = {mg['residual']:.2e}; see the table above)")
    return 0


def _plots(args, out, training, lat):
    """Training cost and iteration gain vs step, residual histories of the compared solvers: PNGs beside
    --json (rank 0; skipped with --no-plots or without --json)."""
    if not args.json or args.no_plots or lat.rank != 0:
        return
    from ..util.plots import beside, plot_residuals, plot_training
    # iteration gain per step: iterations the unpreconditioned reference needed to reach the per-step solve's
    # tolerance (from its residual history, on the comparison source) over the per-step solve's iterations
    ref = next((r for r in out["solves"] if r["method"] == REFERENCE), None)
    rows = next(iter(training.solves.values()), [])
    ref_its = None
    if ref and ref.get("history") and rows:
        ref_its = next((i + 1 for i, h in enumerate(ref["history"]) if h < rows[0][3]), len(ref["history"]))
    plot_training(beside(args.json, "training"), training.histories,
                  iterations={k: [(s, i) for s, i, _, _ in v] for k, v in training.solves.items()},
                  reference_iterations=ref_its,
                  title=f"mg: training on {'x'.join(map(str, lat.dims))}, m={args.mass}")
    plot_residuals(beside(args.json, "residuals"), out["solves"],
                   title=f"mg: residual histories, tolerance {args.tol:g}")


def print_table(out, cfg):
    """The comparison table (rank 0), then the one-line result: the job's last lines."""
    log.info("%-24s %10s %10s %10s %9s %10s", "method", "iterations", "seconds", "|r|/|b|", "gain", "speed-up")
    notes = []
    for r in out["solves"]:
        bound = ">=" if r.get("gain_is_lower_bound") else ""
        gain = f"{bound}{r['iteration_gain']:.1f}" if "iteration_gain" in r else "-"
        speed = f"{bound}{r['speedup_vs_unpreconditioned']:.2f}" if "speedup_vs_unpreconditioned" in r else "-"
        flag = "" if r["converged"] else " *"
        log.info("%-24s %10s %10.3f %10.2e %9s %10s", r["method"], f"{r['iterations']}{flag}", r["seconds"],
                 r["residual"], gain, speed)
        if not r["converged"]:
            why = (f"within its cap of {r['maxiter']} iterations" if r["iterations"] >= r["maxiter"] else
                   f"(it broke down after {r['iterations']} of at most {r['maxiter']} iterations)")
            notes.append(f"* {r['method']} did not reach the tolerance {cfg.tol:g} {why}"
                         + (": the gains over it are lower bounds (>=)" if r["method"] == REFERENCE else ""))
    for n in notes:
        log.info("%s", n)
    log.info("gain: iterations of unpreconditioned FGMRES / iterations; speed-up: its seconds / seconds "
             "(median of %d round(s); the reference is solved once)", cfg.repeat)
    prop = out.get("propagator")
    if prop:
        log.info("per propagator (%d right-hand sides%s): %s", prop["rhs_per_propagator"],
                 f", {prop['rhs_solved']} solved and scaled" if prop["extrapolated"] else "",
                 ", ".join(f"{m} {s:.3f} s" for m, s in out["seconds_per_propagator"].items()))
        be = out["break_even_propagators"]
        log.info("training %.1f s: %s", out["training_seconds"],
                 f"break-even after {be:.1f} propagators against {out['break_even_against']} "
                 f"({out['seconds_saved_per_propagator']:.3f} s saved per propagator)" if be is not None
                 else f"no break-even: {out['break_even_reason']}")
    log.info("result: %s", summary_line(out))
