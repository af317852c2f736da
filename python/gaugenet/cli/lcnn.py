"""`python -m gaugenet lcnn [CONFIG.toml] [--save model.h5] [--json out.json]`: L-CNN tasks of seed 001.

Task `wilson-loops` (issue 23, Task 1): an L-CNN (gaugenet.lcnn) regresses the per-site m x n Wilson-loop
target (mean over the six planes of (1/N) Re tr of the loop with corner x, both orientations averaged when
m != n) on quenched heat-bath configurations at several beta; it is trained on --train-volume and tested with
the same weights on every --test-volumes entry (normalised MSE per volume), and the gauge invariance of the
predictions is measured under a random gauge transformation. --network gives the layers in the text form of
lcnn/model_io.py (default: the smallest network found for the loop, docs/lcnn.md). The summary (rank 0)
holds task, loop, N, n_weights, train_volume, test [{volume, nmse}], gauge_invariance_error,
training_seconds; --json writes it, --save the model (HDF5), --init starts from a saved model.

Task `action` (issue 23, Task 2): the L-CNN of gaugenet.lcnn.action learns the gauge action --target-action
(symanzik, iwasaki, dbw2, wilson or a coefficient c1) at --target-beta from its values and its derivatives (the
force on every link) with the loss w1 L1 + w2 L2 (--loss-weights), by alternating exact least squares
(--steps iterations); tested on fresh configurations of every --test-volumes entry together with a plaquette-only
baseline. The summary's `test` entries hold volume, value_rel_error and derivative_rel_error; --save writes the
model that `hmc --md-action` uses.

Task `fixed-point` (issue 23, Task 2b): the classical fixed-point action of the blocking kernel of
gaugenet.lcnn.fixed_point (--kappa, --smearing-c) on coarse --train-volume configurations at --betas: FP data by
minimisation on the fine lattice of twice the extents (--fp-tol), the Wilson action standing in on the fine side
first, then the fitted network (--fp-iterations times); the summary's `steps` hold each step's FP residual and
fit errors; --save writes the last network.
"""
import json
import math

from ..util.log import log


def add_arguments(p):
    p.add_argument("--task", choices=("wilson-loops", "action", "fixed-point"), default="wilson-loops",
                   help="the task (wilson-loops: Wilson-loop regression; action: a learned gauge action from "
                        "values and derivatives of --target-action; fixed-point: the classical FP action)")
    p.add_argument("--kappa", type=float, default=8.0, help="fixed-point task: blocking kernel kappa (default 8)")
    p.add_argument("--smearing-c", type=float, default=0.1,
                   help="fixed-point task: staple weight c of the blocked links (default 0.1)")
    p.add_argument("--fp-iterations", type=int, default=1,
                   help="fixed-point task: FP steps with the network on the fine side (default 1)")
    p.add_argument("--fp-tol", type=float, default=1e-8,
                   help="fixed-point task: RMS force per link and colour that ends a minimisation (default 1e-8)")
    p.add_argument("--fp-maxiter", type=int, default=3000,
                   help="fixed-point task: iteration limit of a minimisation (default 3000)")
    p.add_argument("--target-action", default="symanzik",
                   help="action task: the target gauge action, wilson, symanzik, iwasaki, dbw2 or a rectangle "
                        "coefficient c1 (default symanzik)")
    p.add_argument("--target-beta", type=float, default=4.2,
                   help="action task: the target action's beta (default 4.2)")
    p.add_argument("--loss-weights", default="1,1",
                   help="action task: w1,w2 of the loss w1 L1 (values) + w2 L2 (derivatives), each normalised "
                        "by the sum of squares of the targets (default 1,1)")
    p.add_argument("--loop", default="2x2", help="the Wilson loop MxN of the target (default 2x2)")
    p.add_argument("--N", type=int, default=3, choices=(2, 3), help="gauge group SU(N) (default 3)")
    p.add_argument("--betas", default="5.6,5.8,6.0,6.2,6.4",
                   help="comma-separated couplings of the ensembles (default 5.6,5.8,6.0,6.2,6.4)")
    p.add_argument("--train-volume", default="4", help="training lattice L or Lx.Ly.Lz.Lt (default 4)")
    p.add_argument("--train-configs", type=int, default=10, help="training configurations (default 10)")
    p.add_argument("--test-volumes", default="4,8,12,16",
                   help="comma-separated test lattices, each L or Lx.Ly.Lz.Lt (default 4,8,12,16)")
    p.add_argument("--test-configs", type=int, default=2, help="test configurations per volume (default 2)")
    p.add_argument("--sweeps", type=int, default=20, help="thermalisation sweeps per chain (default 20)")
    p.add_argument("--sep", type=int, default=5, help="sweeps between configurations of a chain (default 5)")
    p.add_argument("--seed", type=int, default=1, help="seed of the chains and of the initial weights")
    p.add_argument("--network", default=None, help="the layers, e.g. 'plaq; conv 12 12 2 +id; bilin 12 12 1; "
                                                    "trace 1' (default: chosen by --loop)")
    p.add_argument("--optimizer", choices=("adam", "als", "blockwise"), default="adam",
                   help="adam (any network); als: alternating exact least squares of the conv and bilinear "
                        "weights (one-block networks: source; conv +id; bilin ... 1; trace 1); blockwise: greedy "
                        "block-by-block least squares (ALS, then Gauss-Newton) of a multi-block network, the "
                        "blocks before the last supervised by the --curriculum loop matrices")
    p.add_argument("--curriculum", default=None,
                   help="blockwise: the loop matrices each block before the last is trained to output, stages "
                        "separated by ';', shapes by ',': AxB (mu^A nu^B mu^-A nu^-B, corner x, for the six planes "
                        "mu < nu) or ~AxB (the same loop reversed), e.g. '~1x2' for the 2x2 loop (default: the "
                        "curriculum of the loop's default network, lcnn/tasks.py DEFAULT_CURRICULA)")
    p.add_argument("--gn-steps", type=int, default=10,
                   help="blockwise: Gauss-Newton (Levenberg-Marquardt) iterations per block after its --steps ALS "
                        "iterations (default 10; stops early once exact)")
    p.add_argument("--stage-configs", type=int, default=0,
                   help="blockwise: training configurations used by the matrix-supervised blocks (0: all)")
    p.add_argument("--all-planes", action="store_true",
                   help="blockwise and fixed-point: let every weight connect channels of different planes "
                        "(default: the plane-diagonal restriction, channel index mod 6 = plane)")
    p.add_argument("--steps", type=int, default=None,
                   help="Adam steps, ALS iterations, or ALS iterations per block (default 1500; action task: "
                        "ALS iterations, default 3)")
    p.add_argument("--batch", type=int, default=0,
                   help="configurations per Adam step, taken in turn (0: all, full batch; default 0)")
    p.add_argument("--lr", type=float, default=0.01, help="initial Adam step size (default 0.01)")
    p.add_argument("--lr-final", type=float, default=1e-4, help="final step size (exponential decay; default 1e-4)")
    p.add_argument("--log-every", type=int, default=50, help="log the training loss every this many steps")
    p.add_argument("--init", default=None, metavar="MODEL.h5", help="start from a saved model")
    p.add_argument("--save", default=None, metavar="MODEL.h5", help="write the trained model (HDF5)")
    p.add_argument("--json", default=None, metavar="FILE.json", help="write the summary as JSON (rank 0)")
    p.add_argument("--curve", default=None, metavar="FILE", help="write the loss curve (step, train nmse)")
    p.add_argument("--mpi", default=None, help="process grid Px.Py.Pz.Pt (default: chosen from the rank count)")
    p.add_argument("--verbose", action="store_true")


def _error(msg):
    e = ValueError(msg)
    e.collective = True       # every rank checks the same arguments
    return e


def run(args):
    from mpi4py import MPI

    from ..lcnn.model_io import parse_network, save_model
    from ..lcnn.tasks import parse_loop, parse_volume, wilson_loop_task
    from .config import write_atomic

    if args.steps is None:
        args.steps = 3 if args.task == "action" else 1500
    try:
        m, n = parse_loop(args.loop)
        betas = [float(b) for b in str(args.betas).split(",") if b.strip()]
        train_volume = parse_volume(args.train_volume)
        test_volumes = [parse_volume(v) for v in str(args.test_volumes).split(",") if v.strip()]
        mpi = tuple(int(x) for x in args.mpi.split(".")) if args.mpi else None
        if not betas or any(not b > 0 for b in betas):
            raise ValueError(f"--betas: positive couplings needed, got {args.betas!r}")
        if not test_volumes:
            raise ValueError("--test-volumes: give at least one volume")
        for name in ("train_configs", "test_configs"):
            if getattr(args, name) < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be >= 1")
        if args.batch < 0:
            raise ValueError("--batch must be >= 0")
        if args.steps < 0 or args.sweeps < 0 or args.sep < 1:
            raise ValueError("--steps and --sweeps must be >= 0 and --sep >= 1")
        if not (args.lr > 0 and args.lr_final > 0):
            raise ValueError("--lr and --lr-final must be positive")
        if args.network is not None:
            parse_network(args.network, N=args.N)          # unknown layers / channel mismatches, before any work
        if args.gn_steps < 0 or args.stage_configs < 0:
            raise ValueError("--gn-steps and --stage-configs must be >= 0")
        if args.optimizer == "blockwise":
            from ..lcnn.train_blockwise import parse_curriculum
            if args.curriculum is not None:
                parse_curriculum(args.curriculum)
    except ValueError as exc:
        raise _error(f"lcnn: {exc}") from None

    if args.task == "action":
        return _run_action(args, train_volume, test_volumes, betas, mpi)
    if args.task == "fixed-point":
        return _run_fixed_point(args, train_volume, betas, mpi)
    try:
        model, weights, summary, curve = wilson_loop_task(
            args.network, f"{m}x{n}", args.N, betas, train_volume, args.train_configs, test_volumes,
            args.test_configs, args.sweeps, args.sep, args.seed, args.steps, args.lr, args.lr_final,
            init=args.init, mpi=mpi, log=log.info, log_every=max(1, args.log_every), optimizer=args.optimizer,
            batch=args.batch or None,
            curriculum=args.curriculum, gn_steps=args.gn_steps, stage_configs=args.stage_configs or None,
            planes=not args.all_planes)
    except ValueError as exc:
        raise _error(f"lcnn: {exc}") from None
    summary["network"] = args.network or summary.get("network")
    summary["ranks"] = MPI.COMM_WORLD.Get_size()
    rank0 = MPI.COMM_WORLD.Get_rank() == 0
    lines = [f"lcnn {summary['task']} loop {summary['loop']} SU({args.N}): {summary['n_weights']} real weights "
             f"({summary['n_trained_weights']} trained), "
             f"trained {summary['training_seconds']:.1f} s on {'x'.join(map(str, train_volume))} "
             f"(final train nmse {summary['final_train_nmse']:.3e})" if curve else
             f"lcnn {summary['task']} loop {summary['loop']} SU({args.N}): {summary['n_weights']} real weights"]
    for t in summary["test"]:
        lines.append(f"  test {'x'.join(map(str, t['volume']))}: nmse {t['nmse']:.3e}")
    lines.append(f"  gauge invariance error {summary['gauge_invariance_error']:.2e}")
    log.info("\n".join(lines))
    if args.save:
        save_model(args.save, model, weights, meta={k: summary[k] for k in ("task", "loop", "train_volume")})
        log.info("model saved to %s", args.save)
    if rank0 and args.json:
        write_atomic(args.json, json.dumps(summary, indent=1) + "\n")
        log.info("summary written to %s", args.json)
    if rank0 and args.curve:
        write_atomic(args.curve, "".join(f"{s} {v:.6e}\n" for s, v in curve))
    if any(not math.isfinite(t["nmse"]) for t in summary["test"]):
        raise _error("lcnn: the network's predictions are not finite (diverging training: lower --lr)")
    return 0


def _loss_weights(text):
    """w1, w2 of --loss-weights (the action and fixed-point tasks)."""
    try:
        w1, w2 = (float(v) for v in str(text).split(","))
    except ValueError:
        raise ValueError(f"--loss-weights takes two numbers w1,w2, got {text!r}") from None
    if not (w1 >= 0 and w2 >= 0 and w1 + w2 > 0):
        raise ValueError(f"--loss-weights must be >= 0 and not both 0, got {text!r}")
    return w1, w2


def _run_action(args, train_volume, test_volumes, betas, mpi):
    """Task `action` (issue 23, Task 2): gaugenet.lcnn.action."""
    from mpi4py import MPI

    from ..gauge.improved import gauge_action_c1
    from ..lcnn.action import action_task
    from ..lcnn.model_io import save_model
    from .config import write_atomic
    try:
        gauge_action_c1(args.target_action)
        if not (math.isfinite(args.target_beta) and args.target_beta > 0):
            raise ValueError(f"--target-beta must be positive and finite, got {args.target_beta}")
        w1, w2 = _loss_weights(args.loss_weights)
        if args.steps < 1:
            raise ValueError("--steps (ALS iterations) must be >= 1 for the action task")
        for flag in ("network", "init", "curriculum"):
            if getattr(args, flag) is not None:
                raise ValueError(f"--{flag} is not used by the action task (its network is fixed, lcnn/action.py)")
        model, weights, summary, curve = action_task(
            args.target_action, args.target_beta, args.N, betas, train_volume, args.train_configs, test_volumes,
            args.test_configs, args.sweeps, args.sep, args.seed, args.steps, w1, w2, mpi=mpi, log=log.info)
    except ValueError as exc:
        raise _error(f"lcnn: {exc}") from None
    summary["ranks"] = MPI.COMM_WORLD.Get_size()
    lines = [f"lcnn action (target {summary['target_action']}, beta {summary['target_beta']}) SU({args.N}): "
             f"{summary['n_weights']} real weights ({summary['n_trained_weights']} tied parameters trained), "
             f"{summary['training_seconds']:.1f} s on {'x'.join(map(str, train_volume))}"]
    for t in summary["test"]:
        lines.append(f"  test {'x'.join(map(str, t['volume']))}: value rel. error {t['value_rel_error']:.2e}, "
                     f"derivative rel. error {t['derivative_rel_error']:.2e}   (plaquette-only model: "
                     f"{t['plaquette_only_value_rel_error']:.2e}, {t['plaquette_only_derivative_rel_error']:.2e})")
    lines.append(f"  gauge invariance error {summary['gauge_invariance_error']:.2e}")
    log.info("\n".join(lines))
    if args.save:
        save_model(args.save, model, weights, meta={k: summary[k] for k in ("task", "target_action", "target_beta",
                                                                            "train_volume")})
        log.info("model saved to %s", args.save)
    if MPI.COMM_WORLD.Get_rank() == 0:
        if args.json:
            write_atomic(args.json, json.dumps(summary, indent=1) + "\n")
            log.info("summary written to %s", args.json)
        if args.curve:
            write_atomic(args.curve, "".join(f"{s} {v:.6e}\n" for s, v in curve))
    if any(not (math.isfinite(t["value_rel_error"]) and math.isfinite(t["derivative_rel_error"]))
           for t in summary["test"]):
        raise _error("lcnn: the learned action is not finite on a test configuration")
    return 0


def _run_fixed_point(args, train_volume, betas, mpi):
    """Task `fixed-point` (issue 23, Task 2b): gaugenet.lcnn.fixed_point."""
    from mpi4py import MPI

    from ..lcnn.fixed_point import BlockingKernel, fp_iteration
    from ..lcnn.model_io import save_model
    from .config import write_atomic
    try:
        BlockingKernel(args.kappa, args.smearing_c)
        w1, w2 = _loss_weights(args.loss_weights)
        if args.steps < 1:
            raise ValueError("--steps (ALS iterations) must be >= 1 for the fixed-point task")
        if args.fp_iterations < 1:
            raise ValueError("--fp-iterations must be >= 1")
        if not (args.fp_tol > 0 and args.fp_maxiter >= 1):
            raise ValueError("--fp-tol must be positive and --fp-maxiter >= 1")
        for flag in ("network", "init", "curriculum"):
            if getattr(args, flag) is not None:
                raise ValueError(f"--{flag} is not used by the fixed-point task (its network is fixed, "
                                 "lcnn/action.py)")
        t0 = MPI.Wtime()
        model, weights, summary = fp_iteration(
            args.N, train_volume, betas, args.train_configs, args.test_configs, args.fp_iterations, args.steps,
            args.kappa, args.smearing_c, args.fp_tol, args.fp_maxiter, args.sweeps, args.sep, args.seed, w1, w2,
            all_planes=args.all_planes, mpi=mpi, log=log.info)
        summary["seconds"] = MPI.Wtime() - t0
    except ValueError as exc:
        raise _error(f"lcnn: {exc}") from None
    summary["ranks"] = MPI.COMM_WORLD.Get_size()
    lines = [f"lcnn fixed-point SU({args.N}): coarse {'x'.join(map(str, train_volume))}, kappa {args.kappa}, "
             f"c {args.smearing_c}, {summary['seconds']:.0f} s"]
    for st in summary["steps"]:
        line = (f"  step {st['step']} (fine side: {st['fine_action']}): own FP equation residual value "
                f"{st['fp_residual_value']:.2e}, derivative {st['fp_residual_derivative']:.2e}")
        if "fit_test_value_rel_error" in st:
            line += (f"; network fitted: test value {st['fit_test_value_rel_error']:.2e}, derivative "
                     f"{st['fit_test_derivative_rel_error']:.2e}")
        lines.append(line)
    log.info("\n".join(lines))
    if args.save:
        save_model(args.save, model, weights, meta={"task": "fixed-point", "kappa": args.kappa,
                                                    "smearing_c": args.smearing_c,
                                                    "train_volume": list(train_volume)})
        log.info("model saved to %s", args.save)
    if MPI.COMM_WORLD.Get_rank() == 0 and args.json:
        write_atomic(args.json, json.dumps(summary, indent=1) + "\n")
        log.info("summary written to %s", args.json)
    if any(not (math.isfinite(st["fp_residual_value"]) and math.isfinite(st["fp_residual_derivative"]))
           for st in summary["steps"]):
        raise _error("lcnn: the fixed-point residual is not finite")
    return 0
