"""`python -m gaugenet flow [CONFIG.toml] [--save model.h5] [--json out.json]`: the scalar normalizing-flow
reference of seed 003 (docs/flows.md).

Trains a flow of affine coupling layers (checkerboard masks, periodic CNN scale/shift networks) for 2D phi^4
by the reverse KL cost, then at L and at every further multiple in --scales (default 1,2: the same weights
applied at 2L) measures the ESS of independent model samples, runs the independence Metropolis sampler on
them and compares its magnetisation, susceptibility and zero-momentum correlator G(t) with a local
Metropolis reference chain on the same lattice (Gamma-method errors, tau_int). The summary is printed and,
with --json, written as JSON; --save writes the weights to HDF5, --load starts from saved weights.

One MPI rank: the model is small and NumPy-vectorised over a batch of configurations; a run on several
ranks is refused with a clear error on every rank (nothing would be gained by replicating it).
"""
import json
import os

from ..util.log import log


class FlowError(ValueError):
    """Bad input for `flow`, raised identically on every rank."""
    collective = True


def _scales(text):
    try:
        vals = [int(v) for v in str(text).split(",") if v.strip()]
    except ValueError:
        raise FlowError(f"--scales: expected comma-separated positive integers (multiples of L), got {text!r}") \
            from None
    return vals


def add_arguments(p):
    p.add_argument("--theory", default="phi4", help="the theory (only phi4 so far)")
    p.add_argument("--beta", type=float, default=0.576,
                   help="hopping coupling beta (= 2 kappa) of S = sum -beta phi_x phi_{x+mu} + phi^2 + "
                        "lambda (phi^2 - 1)^2 (default 0.576, the seed's L = 4 row)")
    p.add_argument("--lambda", type=float, default=0.5, help="quartic coupling lambda (default 0.5)")
    p.add_argument("--L", type=int, default=4, help="training lattice L x L, L even (default 4)")
    p.add_argument("--scales", default="1,2",
                   help="comma-separated multiples of L at which the trained flow is measured (default 1,2)")
    p.add_argument("--layers", type=int, default=4, help="affine coupling layers (default 4)")
    p.add_argument("--hidden", type=int, default=8, help="hidden channels of each CNN (default 8)")
    p.add_argument("--kernel", type=int, default=3, help="odd kernel size of the convolutions (default 3)")
    p.add_argument("--depth", type=int, default=2, help="convolutions per CNN (default 2)")
    p.add_argument("--z2", action="store_true",
                   help="Z2-equivariant coupling layers (s even, t odd in the passive field: q(-phi) = q(phi))")
    p.add_argument("--steps", type=int, default=1000, help="training steps (default 1000)")
    p.add_argument("--batch", type=int, default=256, help="prior samples per training step (default 256)")
    p.add_argument("--lr", type=float, default=3e-3, help="Adam learning rate (default 3e-3)")
    p.add_argument("--samples", type=int, default=20000,
                   help="model samples per lattice for the ESS and the independence Metropolis chain (default 20000)")
    p.add_argument("--chunk", type=int, default=1000, help="samples generated at once (default 1000)")
    p.add_argument("--ref-sweeps", type=int, default=20000,
                   help="measured sweeps of the local Metropolis reference (default 20000)")
    p.add_argument("--ref-therm", type=int, default=1000, help="thermalisation sweeps of the reference (default 1000)")
    p.add_argument("--ref-delta", type=float, default=1.5, help="local Metropolis step size (default 1.5)")
    p.add_argument("--seed", type=int, default=0, help="seed of training, sampling and reference (default 0)")
    p.add_argument("--load", default=None, metavar="MODEL.h5", help="start from saved weights (then --steps more)")
    p.add_argument("--save", default=None, metavar="MODEL.h5", help="write the trained weights (HDF5)")
    p.add_argument("--json", default=None, metavar="FILE", help="write the summary as JSON")
    p.add_argument("--verbose", action="store_true")


def _config(args):
    return {"theory": args.theory, "beta": args.beta, "lam": getattr(args, "lambda"), "L": args.L,
            "scales": _scales(args.scales), "layers": args.layers, "hidden": args.hidden, "kernel": args.kernel,
            "depth": args.depth, "z2": args.z2,
            "steps": args.steps, "batch": args.batch, "lr": args.lr, "samples": args.samples,
            "chunk": max(int(args.chunk), 1), "ref_sweeps": args.ref_sweeps, "ref_therm": args.ref_therm,
            "ref_delta": args.ref_delta, "seed": args.seed}


def _print_summary(s):
    lines = [f"flow summary: {s['theory']} beta {s['beta']} lambda {s['lambda']} (kappa {s['kappa']}), trained at "
             f"{s['lattice'][0]}x{s['lattice'][1]}, {s['n_parameters']} parameters, "
             f"training {s['training_seconds']:.1f} s",
             f"{'lattice':>8} {'ESS':>16} {'acceptance':>11} {'|M|/V flow':>18} {'|M|/V reference':>18} "
             f"{'chi flow':>16} {'chi reference':>16} {'tau |M| f/r':>12}"]
    for a in s["applied"]:
        fo, ro = a["flow"]["observables"], a["reference"]["observables"]
        lines.append(f"{a['lattice'][0]:>8} {a['ess']:>9.4g}({a['ess_err']:.1g}) {a['acceptance']:>11.4g} "
                     f"{fo['abs_m']['value']:>10.5f}({fo['abs_m']['error']:.5f}) "
                     f"{ro['abs_m']['value']:>10.5f}({ro['abs_m']['error']:.5f}) "
                     f"{fo['chi']['value']:>8.4f}({fo['chi']['error']:.4f}) "
                     f"{ro['chi']['value']:>8.4f}({ro['chi']['error']:.4f}) "
                     f"{fo['abs_m']['tau_int']:>5.1f}/{ro['abs_m']['tau_int']:<5.1f}")
    if "seed_table" in s:
        st = s["seed_table"]
        lines.append(f"seed 003 table at L = {st['L']}, beta = {st['beta']}: acceptance {st['acceptance_L']} at L, "
                     f"{st['acceptance_2L']} at 2L")
    log.info("\n".join(lines))


def run(args):
    from mpi4py import MPI
    from ..flows.experiment import run_experiment, validate
    from ..flows.model_io import load_flow, save_flow
    from .config import write_atomic

    size = MPI.COMM_WORLD.Get_size()
    if size > 1:
        raise FlowError(f"`flow` runs on one MPI rank (the scalar model is NumPy-vectorised over a batch); got "
                        f"{size} ranks: run it without mpiexec or with -n 1")
    cfg = _config(args)
    try:
        theory = validate(cfg)
    except ValueError as exc:
        raise FlowError(str(exc)) from None
    model = None
    if args.load:
        flow, weights, attrs = load_flow(args.load)
        if attrs.get("theory") != theory.name:
            raise FlowError(f"{args.load} holds a model for theory {attrs.get('theory')!r}, not {theory.name!r}")
        model = (flow, weights)
        log.info("loaded %s (trained at %s, beta %s, lambda %s)", args.load, attrs.get("trained_lattice"),
                 attrs.get("beta"), attrs.get("lambda"))
    summary, flow, weights = run_experiment(cfg, log, model)
    summary["config"] = {k: v for k, v in cfg.items()}
    if model is not None:
        summary["loaded_from"] = os.path.abspath(args.load)
    _print_summary(summary)
    if args.save:
        save_flow(args.save, flow, weights, theory, summary["lattice"],
                  {"training_steps": summary["training"]["steps"]})
        log.info("weights saved to %s", args.save)
    if args.json:
        write_atomic(args.json, json.dumps(summary, indent=1) + "\n")
        log.info("summary written to %s", args.json)
    else:
        log.debug(json.dumps(summary))
    return 0
