"""`python -m gaugenet flow [CONFIG.toml] [--save model.h5] [--json out.json]`: the scalar normalizing-flow
reference of seed 003 (docs/flows.md).

Trains a flow of affine coupling layers (checkerboard masks, periodic CNN scale/shift networks) for 2D phi^4
by the reverse KL cost, then at L and at every further multiple in --scales (default 1,2: the same weights
applied at 2L) measures the ESS of independent model samples, runs the independence Metropolis sampler on
them and compares its magnetisation, susceptibility and zero-momentum correlator G(t) with a local
Metropolis reference chain on the same lattice (Gamma-method errors, tau_int). The summary is printed and,
with --json, written as JSON; --save writes the weights to HDF5, --load starts from saved weights.

Gauge theories (--theory su3-2d / su2-2d): the learned gradient flow, its ESS and independence Metropolis
chain, and with --hmc-trajectories flow HMC (and plain HMC with --compare-hmc) against the exact 2D torus
plaquette (docs/flows.md, "Gauge fields"). --theory su3-4d / su2-4d: the same flow on an L^4 lattice in all
six planes, a batch of `batch` lattices per training step (no exact log Z in 4D: the summary gives the cost
-<log w> instead of the KL; no flow HMC); 4D runs on any number of MPI ranks.

One MPI rank (scalar and 2D gauge theories): the model is small and NumPy-vectorised over a batch of configurations; a run on several
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
    p.add_argument("--theory", default="phi4",
                   help="phi4, or su3-2d / su2-2d: the learned gradient flow for 2D SU(N) Yang-Mills, or su3-4d / "
                        "su2-4d: the same on an L^4 lattice (default phi4)")
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
    # the gauge-field gradient flow (theory su3-2d / su2-2d; docs/flows.md "Gauge fields"); --L, --beta, --steps,
    # --batch (2D configurations per step, the z slices of one lattice), --lr, --samples, --seed, --json are shared
    p.add_argument("--loops", default="1x1,1x2,1x3,2x2,2x3,3x3,1x4",
                   help="gauge flow: comma-separated loop types of S~: MxN (Re tr of the M x N loop), MxN^K (wound "
                        "K times, Re tr P^K), MxN:adj (|tr P|^2), MxN*MxN and MxN*MxN:conj (Re tr A tr B, Re tr A conj "
                        "tr B of two neighbouring loops), figure8 (default the 7 rectangles of model A)")
    p.add_argument("--n-t", type=int, default=2, help="gauge flow: terms of the t-expansion of c_i(t) (default 2)")
    p.add_argument("--flow-steps", type=int, default=20,
                   help="gauge flow: steps of Lüscher's RK3 integrator from t = 0 to 1 (default 20)")
    p.add_argument("--init", default="leading-order", choices=("leading-order", "luscher-nlo", "zero"),
                   help="gauge flow: initial coefficients: the leading-order trivializing flow (default), Lüscher's "
                        "next-to-leading-order flow (2D; needs the loops 1x1, 1x1^2, 1x1:adj, 1x2, figure8, 1x1*1x1, "
                        "1x1*1x1:conj and n_t >= 2), or zero")
    # flow HMC and plain HMC: 2D gauge theories (docs/flows.md "Gauge fields: flow HMC") and phi^4
    # (docs/flows.md "The scalar flow HMC")
    p.add_argument("--hmc-trajectories", type=int, default=0,
                   help="flow HMC: measured flow-HMC trajectories with the trained flow (default 0: none; >= 10)")
    p.add_argument("--hmc-therm", type=int, default=10,
                   help="flow HMC: thermalisation trajectories before the measured ones (default 10)")
    p.add_argument("--hmc-steps", type=int, default=10, help="flow HMC: MD steps per trajectory (default 10)")
    p.add_argument("--hmc-tau", type=float, default=1.0, help="flow HMC: trajectory length (default 1)")
    p.add_argument("--hmc-integrator", default="omelyan", help="flow HMC: omelyan (default) or leapfrog")
    p.add_argument("--hmc-batch", type=int, default=0,
                   help="flow HMC: independent chains run at once (gauge: z slices; default 0: --batch)")
    p.add_argument("--compare-hmc", action="store_true",
                   help="flow HMC: also run plain HMC of the same theory (keys hmc_* and 'hmc' in the summary)")
    p.add_argument("--plain-hmc-trajectories", type=int, default=0,
                   help="flow HMC: measured plain-HMC trajectories (default 0: as --hmc-trajectories)")
    p.add_argument("--plain-hmc-steps", type=int, default=0,
                   help="flow HMC: MD steps of plain HMC (default 0: as --hmc-steps)")


def _config(args):
    return {"theory": args.theory, "beta": args.beta, "lam": getattr(args, "lambda"), "L": args.L,
            "scales": _scales(args.scales), "layers": args.layers, "hidden": args.hidden, "kernel": args.kernel,
            "depth": args.depth, "z2": args.z2,
            "steps": args.steps, "batch": args.batch, "lr": args.lr, "samples": args.samples,
            "chunk": max(int(args.chunk), 1), "ref_sweeps": args.ref_sweeps, "ref_therm": args.ref_therm,
            "ref_delta": args.ref_delta, "seed": args.seed, "hmc": _hmc_config(args)}


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
    if str(args.theory).lower() in GAUGE_THEORIES:
        return run_gauge(args)
    from mpi4py import MPI
    from ..flows.experiment import run_experiment, validate
    from ..flows.model_io import load_flow, save_flow
    from .config import write_atomic

    size = MPI.COMM_WORLD.Get_size()
    if size > 1:
        raise FlowError(f"`flow` runs on one MPI rank (the scalar model is NumPy-vectorised over a batch); got "
                        f"{size} ranks: run it without mpiexec or with -n 1")
    try:
        cfg = _config(args)
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


# ---------------------------------------------------------------------------------------------- gauge fields
GAUGE_THEORIES = {"su3-2d": 3, "su2-2d": 2, "su3-4d": 3, "su2-4d": 2}


def run_gauge(args):
    """Train the learned gradient flow (flows/gauge) for 2D SU(N) Yang-Mills on L x L (or 4D on L^4), then
    measure the ESS of the trained model and of the leading-order trivializing flow. The 2D configurations of a
    batch are the z slices of an L x L x batch x 1 lattice flowed in the (x, y) plane (the z and t links are
    frozen); in 4D each configuration is one L^4 lattice (any process grid) and a batch is `batch` of them."""
    import time
    import numpy as np
    from mpi4py import MPI
    import gaugenet as gn
    from ..flows.gauge.hmc import exact_plaquette_2d, independence_sampler, log_partition_2d
    from ..flows.gauge.model import GaugeFlowModel, leading_order_theta, luscher_nlo_theta, measure_ess, train
    from .config import write_atomic

    N = GAUGE_THEORIES[str(args.theory).lower()]
    four_d = str(args.theory).lower().endswith("-4d")
    if MPI.COMM_WORLD.Get_size() > 1 and not four_d:
        raise FlowError("`flow` for 2D gauge theories runs on one MPI rank (the batch lies along z); run it with "
                        "-n 1 (4D theories, su3-4d / su2-4d, run on any number of ranks)")
    if four_d and int(args.hmc_trajectories) > 0:
        raise FlowError("flow HMC in the `flow` command is two-dimensional only (su3-2d / su2-2d); set "
                        "hmc_trajectories = 0 for a 4D theory")
    dirs = (0, 1, 2, 3) if four_d else (0, 1)
    slice_axis = None if four_d else 2
    if args.L < 2 or args.batch < 1 or args.samples < 1 or args.steps < 0 or args.lr <= 0:
        raise FlowError(f"gauge flow: need L >= 2, batch >= 1, samples >= 1, steps >= 0, lr > 0 (got L {args.L}, "
                        f"batch {args.batch}, samples {args.samples}, steps {args.steps}, lr {args.lr})")
    try:
        loops = [x for x in str(args.loops).split(",") if x.strip()]
        model = GaugeFlowModel(loops, n_t=args.n_t, dirs=dirs, n_steps=args.flow_steps)
        if args.init == "leading-order":
            model.theta = leading_order_theta(model, args.beta, N)
        elif args.init == "luscher-nlo":
            model.theta, _ = luscher_nlo_theta(model, args.beta, N)
        lo = GaugeFlowModel(["1x1"], n_t=1, dirs=dirs, n_steps=args.flow_steps)
        lo.theta = leading_order_theta(lo, args.beta, N)
        lat = gn.Lattice((args.L,) * 4 if four_d else (args.L, args.L, args.batch, 1), coarse=True)
        hmc_cfg = _hmc_config(args)
    except ValueError as exc:
        raise FlowError(str(exc)) from None
    per_batch = 1 if four_d else int(args.batch)          # configurations per lattice
    n_batches = -(-int(args.samples) // per_batch)
    t0 = time.perf_counter()
    hist = train(model, lat, args.beta, N, args.steps, lr=args.lr, seed=args.seed, slice_axis=slice_axis,
                 log=log.info if args.verbose else None, configs=int(args.batch) if four_d else 1)
    t_train = time.perf_counter() - t0
    t0 = time.perf_counter()
    ind = independence_sampler(model, lat, args.beta, N, n_batches, seed=args.seed + 1, slice_axis=slice_axis)
    e, err = ind["ess"], ind["ess_err"]
    t_meas = time.perf_counter() - t0
    e_lo, err_lo, lw_lo = measure_ess(lo, lat, args.beta, N, n_batches, seed=args.seed + 1, slice_axis=slice_axis)
    summary = {"theory": str(args.theory).lower(), "beta": args.beta, "lattice": list(lat.dims) if four_d
               else [args.L, args.L], "N": N,
               "loops": model.loops.names, "n_t": model.n_t, "flow_steps": model.n_steps,
               "n_parameters": model.n_parameters, "theta": model.theta.tolist(),
               "ess": e, "ess_err": err, "samples": n_batches * per_batch,
               "ess_leading_order": e_lo, "ess_leading_order_err": err_lo,
               "training_seconds": t_train, "training_steps": int(args.steps), "batch": int(args.batch),
               "measure_seconds": t_meas,
               "history": [{"step": h[0], "cost": h[1], "batch_ess": h[2], "seconds": h[3]} for h in hist]}
    # the reverse-KL cost per configuration, -<log w> (log w = -S + log det): KL - log Z
    for key, lw in (("cost", ind["logw"]), ("cost_leading_order", lw_lo)):
        lw = np.asarray(lw, dtype=np.float64)
        summary[key] = float(-lw.mean())
        summary[key + "_err"] = float(lw.std(ddof=1) / np.sqrt(len(lw))) if len(lw) > 1 else float("nan")
    if not four_d:
        summary["exact_plaquette"] = exact_plaquette_2d(N, args.beta, args.L * args.L)
        # the absolute reverse KL per configuration, KL = -<log w> + log Z (log w = -S + log det), from the exact
        # partition function: a quality measure that, unlike the ESS, does not need the weights' tails resolved
        log_z = log_partition_2d(N, args.beta, args.L * args.L)
        for key in ("", "_leading_order"):          # KL = cost + log Z, the same error
            summary["kl" + key] = summary["cost" + key] + log_z
            summary["kl" + key + "_err"] = summary["cost" + key + "_err"]
        summary["log_z_exact"] = log_z
        for h in summary["history"]:
            h["kl"] = h["cost"] + log_z
    summary["independence"] = {k: v for k, v in ind.items() if k not in ("logw", "proposal_plaquette")}
    if hmc_cfg["trajectories"] > 0:
        summary.update(_run_hmc(model, N, args, hmc_cfg))
    q = ("KL", "kl") if not four_d else ("-<log w>", "cost")
    log.info(f"flow summary: {summary['theory']} beta {args.beta} on {'x'.join(map(str, summary['lattice']))}, "
             f"{model.n_parameters} parameters ({model.n_t}_t x {len(model.loops)}_W), {args.steps} training steps "
             f"of {args.batch} in {t_train:.1f} s: ESS {e:.3f}({err:.3f}); leading-order flow ESS "
             f"{e_lo:.3f}({err_lo:.3f}) ({summary['samples']} samples each); {q[0]} {summary[q[1]]:.3f}"
             f"({summary[q[1] + '_err']:.3f}), leading order {summary[q[1] + '_leading_order']:.3f}"
             f"({summary[q[1] + '_leading_order_err']:.3f})"
             + (f" (exact log Z {summary['log_z_exact']:.4f})" if not four_d else ""))
    if hmc_cfg["trajectories"] > 0:
        msg = (f"flow HMC ({hmc_cfg['batch']} chains, {hmc_cfg['trajectories']} trajectories): acceptance "
               f"{summary['acceptance']:.3f}, plaquette {summary['plaquette']:.5f}({summary['plaquette_err']:.5f}), "
               f"tau_int {summary['tau_int_plaquette']:.2f}({summary['tau_int_plaquette_err']:.2f}), "
               f"{summary['flow_hmc']['seconds_per_trajectory']:.3f} s/trajectory")
        if "hmc" in summary:
            msg += (f"; plain HMC: acceptance {summary['hmc_acceptance']:.3f}, plaquette "
                    f"{summary['hmc_plaquette']:.5f}({summary['hmc_plaquette_err']:.5f}), tau_int "
                    f"{summary['hmc_tau_int_plaquette']:.2f}({summary['hmc_tau_int_plaquette_err']:.2f}), "
                    f"{summary['hmc']['seconds_per_trajectory']:.4f} s/trajectory")
        log.info(msg + f"; exact {summary['exact_plaquette']:.5f}")
    if args.save:
        import h5py
        with h5py.File(args.save, "w") as f:
            f["theta"] = model.theta
            for k in ("theory", "beta", "N", "n_t", "flow_steps"):
                f.attrs[k] = summary[k]
            f.attrs["loops"] = ",".join(model.loops.names)
        log.info("coefficients saved to %s", args.save)
    if args.json:
        write_atomic(args.json, json.dumps(summary, indent=1) + "\n")
        log.info("summary written to %s", args.json)
    return 0


def _hmc_config(args):
    """The flow-HMC settings, checked (ValueError naming the problem)."""
    from ..hmc.integrators import INTEGRATORS
    n = int(args.hmc_trajectories)
    if n < 0 or 0 < n < 10:
        raise ValueError(f"hmc_trajectories must be 0 (no flow HMC) or >= 10 (for the autocorrelation), got {n}")
    if int(args.hmc_steps) < 1:
        raise ValueError(f"hmc_steps (MD steps per trajectory) must be >= 1, got {args.hmc_steps}")
    if not (args.hmc_tau > 0 and args.hmc_tau < float("inf")):
        raise ValueError(f"hmc_tau (trajectory length) must be positive and finite, got {args.hmc_tau}")
    if int(args.hmc_therm) < 0:
        raise ValueError(f"hmc_therm must be >= 0, got {args.hmc_therm}")
    if args.hmc_integrator not in INTEGRATORS:
        raise ValueError(f"hmc_integrator {args.hmc_integrator!r}: choose one of {', '.join(INTEGRATORS)}")
    if int(args.hmc_batch) < 0 or int(args.plain_hmc_trajectories) < 0 or int(args.plain_hmc_steps) < 0:
        raise ValueError("hmc_batch, plain_hmc_trajectories and plain_hmc_steps must be >= 0 (0: the default)")
    if 0 < int(args.plain_hmc_trajectories) < 10:
        raise ValueError(f"plain_hmc_trajectories must be 0 (as hmc_trajectories) or >= 10, got "
                         f"{args.plain_hmc_trajectories}")
    if n > 0 and not args.beta > 0:
        raise ValueError(f"flow HMC needs beta > 0, got {args.beta}")
    return {"trajectories": n, "therm": int(args.hmc_therm), "steps": int(args.hmc_steps), "tau": float(args.hmc_tau),
            "integrator": args.hmc_integrator, "batch": int(args.hmc_batch) or int(args.batch),
            "compare": bool(args.compare_hmc),
            "plain_trajectories": int(args.plain_hmc_trajectories) or n,
            "plain_steps": int(args.plain_hmc_steps) or int(args.hmc_steps)}


def _run_hmc(model, N, args, c):
    """Flow HMC with the (trained) flow and, if asked, plain HMC of the same 2D theory; both start from the same
    Haar-random V. Summary keys: acceptance, plaquette, plaquette_err, tau_int_plaquette(_err) and 'flow_hmc'
    (the full record); with compare_hmc the same with the prefix hmc_ and 'hmc'."""
    import numpy as np
    import gaugenet as gn
    from ..flows.gauge.hmc import FlowedAction, PlaneWilsonAction, run_flow_hmc

    lat = gn.Lattice((args.L, args.L, c["batch"], 1), coarse=True)
    V0 = gn.GaugeField.random(lat, N=N, seed=args.seed + 2).sites().astype(np.complex128)
    settings = {k: c[k] for k in ("therm", "steps", "tau", "integrator", "batch")}

    def progress(name, total):
        def cb(V, U, rec):
            if (rec.traj + 1) % max(total // 10, 1) == 0:
                log.info(f"{name} trajectory {rec.traj + 1}/{total}: acceptance {rec.accepted.mean():.3f}, "
                         f"plaquette {rec.plaquette.mean():.5f}, {rec.seconds:.3f} s")
        return cb

    fs, _, _ = run_flow_hmc(FlowedAction(model, lat, args.beta), N, V0, c["trajectories"], c["therm"], c["steps"],
                            c["tau"], c["integrator"], seed=args.seed + 3,
                            callback=progress("flow HMC", c["therm"] + c["trajectories"]))
    fs.update(settings)
    out = {"acceptance": fs["acceptance"], "plaquette": fs["plaquette"], "plaquette_err": fs["plaquette_err"],
           "tau_int_plaquette": fs["tau_int_plaquette"], "tau_int_plaquette_err": fs["tau_int_plaquette_err"],
           "flow_hmc": fs}
    if c["compare"]:
        ps, _, _ = run_flow_hmc(PlaneWilsonAction(lat, args.beta), N, V0, c["plain_trajectories"], c["therm"],
                                c["plain_steps"], c["tau"], c["integrator"], seed=args.seed + 3,
                                callback=progress("plain HMC", c["therm"] + c["plain_trajectories"]))
        ps.update(settings)
        ps["steps"] = c["plain_steps"]
        out.update({"hmc_acceptance": ps["acceptance"], "hmc_plaquette": ps["plaquette"],
                    "hmc_plaquette_err": ps["plaquette_err"], "hmc_tau_int_plaquette": ps["tau_int_plaquette"],
                    "hmc_tau_int_plaquette_err": ps["tau_int_plaquette_err"], "hmc": ps})
        fe, pe = fs["plaquette_err"], ps["plaquette_err"]
        out["plaquette_difference_sigma"] = (fs["plaquette"] - ps["plaquette"]) / max((fe ** 2 + pe ** 2) ** 0.5,
                                                                                      1e-300)
        out["cost_ratio"] = fs["seconds_per_trajectory"] / ps["seconds_per_trajectory"]
        out["tau_int_ratio"] = fs["tau_int_plaquette"] / ps["tau_int_plaquette"]
    return out
