"""`python -m gaugenet hmc`: HMC or self-learning HMC for SU(N) with Nf = 4 staggered quarks (seed 002).

The chain is numbered by trajectory: `--therm` HMC trajectories, then (SLHMC only) `--train` HMC trajectories
each followed by one Adam step on the stout weights (L = 1/2 |S_theta - S|^2, gaugenet.hmc.slhmc), then
`--trajectories` production trajectories with `--algorithm` (the stout weights fixed). Every trajectory's
plaquette, dH, exp(-dH), accept flag, time and CG iterations, the four Polyakov loops and the chiral condensate
(`--condensate-vectors` Z2 noise vectors; gaugenet.hmc.observables) go to the log (rank 0), to DIR/hmc.log (one
line each) and to DIR/hmc.jsonl (one JSON object each, with every measurement). At the end the production
summary (means with Gamma-method errors and tau_int of every observable) is printed, stored in DIR/hmc.json
and, with `--json FILE`, written to FILE.

Checkpoint and resume. Every `--checkpoint-every` trajectories the field is written to DIR/checkpoint_<n>.h5
and DIR/hmc.json records it with the trajectories done, the plaquette and the training state (weights and
Adam moments). Running the command again on the same DIR continues from there; since every random number
is keyed by the trajectory number (gaugenet.hmc.streams) the continued chain is the chain of an
uninterrupted run, and trajectories after the last checkpoint are redone identically. Raising
--trajectories extends a finished run. The defaults are the seed-002 setup: SU(2), 4^4, beta = 2.7,
m = 0.3, m_h = 0.4, trajectory length 1.

The SLHMC network (`--network`): "stout" (seed 002, default: two stout layers, 6 weights, `--rho`), "cask"
(seed 004: one CASK attention layer, 13 weights) or any covnet.LinkNetwork spec such as "stout,cask:2". The
initial weights come from `--weights` (flat, comma-separated, any network), `--rho` (stout only) or
`--load-weights FILE.h5` (covnet.io: a file of another network, group or lattice is refused); default zeros.
The spec and the initial weights are chain parameters (a resume checks them); the current weights and the
Adam moments are in the checkpoint. `--save-weights FILE.h5` writes the weights at the end (rank 0, atomic).

Long jobs: rank 0 shows the progress over the trajectories (gaugenet.util.progress); SIGTERM or SIGUSR1 on any
rank makes every rank write a checkpoint at the next trajectory boundary and exit with status 75
(util.signals.EXIT_INTERRUPTED); rerunning the command continues the chain bitwise. DIR/hmc.png plots the
records at the end (--no-plots to skip).
"""
import json
import os

import numpy as np

from ..util.log import log
from .state import read_state, write_json

STATE = "hmc.json"
LOG = "hmc.log"
RECORDS = "hmc.jsonl"
_CHAIN_KEYS = ("algorithm", "lattice", "N", "beta", "mass", "m_h", "steps", "tau", "integrator", "seed", "start",
               "therm", "train", "lr", "train_samples", "rho", "cg_tol", "action_tol", "condensate_vectors", "network")
# keys that states written before they existed lack, with the value those runs had
_LEGACY = {"network": lambda old: "stout" if old.get("algorithm") == "slhmc" else None}
# MD integrator options (--gauge-substeps, --chrono): recorded as None at their defaults, so states written
# before they existed continue
_CHAIN_KEYS = _CHAIN_KEYS + ("gauge_substeps", "chrono")
# target and MD actions (--gauge-action, --fermions, --md-action): None at the defaults, as above
_CHAIN_KEYS = _CHAIN_KEYS + ("gauge_action", "fermions", "md_action")
# the log's columns; a line of a training trajectory adds the loss and the weights
_LOG_COLUMNS = ("traj phase accepted dH exp(-dH) plaquette seconds forces cg_iterations "
                "polyakov_x polyakov_y polyakov_z polyakov_t chiral_condensate")
_LOG_HEADER = "# " + _LOG_COLUMNS + " [loss rho...]   (polyakov_<d>: Re of the undivided trace, averaged over " \
              "the 3-volume orthogonal to d)\n"


def add_arguments(p):
    p.add_argument("--algorithm", choices=("hmc", "slhmc"), default="hmc", help="production algorithm (default hmc)")
    p.add_argument("--lattice", default="4.4.4.4", help="global lattice Lx.Ly.Lz.Lt (default 4.4.4.4)")
    p.add_argument("--N", type=int, default=2, choices=(2, 3), help="gauge group SU(N) (default 2)")
    p.add_argument("--beta", type=float, default=2.7, help="Wilson gauge coupling (default 2.7)")
    p.add_argument("--gauge-action", default="wilson",
                   help="gauge action of the target: wilson, symanzik, iwasaki, dbw2 or a rectangle coefficient c1 "
                        "(gaugenet.gauge.improved; default wilson)")
    p.add_argument("--fermions", choices=("staggered", "none"), default="staggered",
                   help="staggered: Nf = 4 staggered quarks of mass --mass (default); none: the pure gauge theory "
                        "(--mass then only sets the valence condensate measurement)")
    p.add_argument("--md-action", default=None, metavar="MODEL.h5",
                   help="pure gauge: the production trajectories integrate the force of this L-CNN action "
                        "(lcnn --task action --save) and accept with the target action (exact for any network)")
    p.add_argument("--mass", type=float, default=0.3, help="staggered quark mass m of the target action (default 0.3)")
    p.add_argument("--m-h", type=float, default=0.4, help="SLHMC: quark mass in the MD action (default 0.4)")
    p.add_argument("--steps", type=int, default=5, help="MD steps per trajectory (default 5)")
    p.add_argument("--tau", type=float, default=1.0, help="trajectory length (default 1)")
    p.add_argument("--integrator", choices=("omelyan", "leapfrog"), default="omelyan")
    p.add_argument("--seed", type=int, default=0, help="seed of the chain (default 0)")
    p.add_argument("--start", choices=("cold", "hot"), default="cold", help="unit or Haar-random start field")
    p.add_argument("--therm", type=int, default=20, help="HMC thermalisation trajectories (default 20)")
    p.add_argument("--train", type=int, default=0, help="SLHMC: HMC trajectories with online training (default 0)")
    p.add_argument("--lr", type=float, default=5e-3, help="SLHMC: Adam learning rate (default 5e-3)")
    p.add_argument("--train-samples", type=int, default=1, help="SLHMC: pseudofermions per training step")
    p.add_argument("--rho", default=None, help="SLHMC: initial stout weights, 6 comma-separated values "
                   "(rho_plaq, rho_poly_t, rho_poly_s per layer; default zeros)")
    p.add_argument("--network", default=None,
                   help="SLHMC: the MD action's link network: stout (seed 002, default), cask (seed 004) or a "
                        "layer list such as stout,cask:2 (docs/covnet.md)")
    p.add_argument("--weights", default=None, help="SLHMC: initial network weights, comma-separated (the "
                   "network's flat weight vector, any network; default zeros)")
    p.add_argument("--load-weights", default=None, metavar="FILE.h5",
                   help="SLHMC: initial network weights from an HDF5 weight file (same network, N and lattice)")
    p.add_argument("--save-weights", default=None, metavar="FILE.h5",
                   help="SLHMC: write the network weights (after training) to an HDF5 file at the end")
    p.add_argument("--no-plots", action="store_true", help="do not write DIR/hmc.png")
    p.add_argument("--trajectories", type=int, default=100, help="production trajectories (default 100)")
    p.add_argument("--cg-tol", type=float, default=1e-10, help="CG tolerance of the MD forces")
    p.add_argument("--action-tol", type=float, default=1e-12, help="CG tolerance of the Metropolis energies")
    p.add_argument("--maxiter", type=int, default=5000, help="CG iteration limit")
    p.add_argument("--checkpoint-every", type=int, default=1, help="trajectories between checkpoints (default 1)")
    p.add_argument("--condensate-vectors", type=int, default=4,
                   help="Z2 noise vectors per trajectory for the chiral condensate (default 4; 0: not measured)")
    p.add_argument("--json", default=None, metavar="FILE",
                   help="write the production summary (means, Gamma-method errors, tau_int) to FILE as JSON")
    p.add_argument("--save-every", type=int, default=0,
                   help="write the production field every this many trajectories as DIR/cfg_<n>.h5 (0: never)")
    p.add_argument("--mpi", default=None, help="process grid Px.Py.Pz.Pt (default: chosen from the rank count)")
    p.add_argument("--out", default="hmc_run", help="output directory (default ./hmc_run)")
    p.add_argument("--verbose", action="store_true")
    _add_md_arguments(p)


def _floats(text):
    try:
        return [float(v) for v in text.split(",")]
    except ValueError:
        return None


def _network(args):
    """The network spec of an SLHMC run (None for HMC)."""
    if args.algorithm != "slhmc":
        return None
    return "stout" if args.network is None else str(args.network).strip()


def _n_weights(spec):
    from ..covnet import LinkNetwork
    return 6 if spec == "stout" else LinkNetwork(spec).n_weights


def _rho(args):
    """The initial network weights (flat list; None when the flags give no valid list)."""
    loaded = getattr(args, "_loaded_weights", None)
    if loaded is not None:
        return [float(v) for v in loaded]
    if args.weights is not None:
        return _floats(args.weights)
    if args.rho is not None:
        return _floats(args.rho)
    spec = _network(args) or "stout"
    return [0.0] * _n_weights(spec)


def _params(args, dims):
    return {"algorithm": args.algorithm, "lattice": list(dims), "N": args.N, "beta": args.beta, "mass": args.mass,
            "m_h": args.m_h if args.algorithm == "slhmc" else None, "steps": args.steps, "tau": args.tau,
            "integrator": args.integrator, "seed": args.seed, "start": args.start, "therm": args.therm,
            "train": args.train, "lr": args.lr if args.algorithm == "slhmc" else None,
            "train_samples": args.train_samples if args.algorithm == "slhmc" else None,
            "rho": _rho(args) if args.algorithm == "slhmc" else None, "cg_tol": args.cg_tol,
            "action_tol": args.action_tol, "condensate_vectors": args.condensate_vectors,
            "network": _network(args)}


def _can_make_dir(d):
    """Whether directory d exists and is writable, or can be made (its nearest existing ancestor is a
    writable directory)."""
    while not os.path.exists(d):
        parent = os.path.dirname(d)
        if parent == d:
            return False
        d = parent
    return os.path.isdir(d) and os.access(d, os.W_OK)


def _validate(args, dims):
    bad = []
    if len(dims) != 4:
        bad.append(f"--lattice needs four extents, got {args.lattice}")
    for name in ("therm", "train", "trajectories"):
        if getattr(args, name) < 0:
            bad.append(f"--{name} must be >= 0")
    if args.steps < 1:
        bad.append("--steps must be >= 1")
    for name in ("tau", "beta", "mass", "m_h", "cg_tol", "action_tol", "lr"):
        v = getattr(args, name)
        if not (np.isfinite(v) and v > 0):
            bad.append(f"--{name.replace('_', '-')} must be positive and finite, got {v}")
    if args.checkpoint_every < 1:
        bad.append("--checkpoint-every must be >= 1")
    if args.save_every < 0:
        bad.append("--save-every must be >= 0")
    if not 0 <= args.condensate_vectors <= 1000:
        bad.append(f"--condensate-vectors must be 0..1000, got {args.condensate_vectors}")
    if args.json is not None and not os.path.isdir(os.path.dirname(os.path.abspath(args.json))):
        bad.append(f"--json {args.json}: its directory does not exist")
    if args.algorithm == "hmc" and args.train:
        bad.append("--train needs --algorithm slhmc")
    spec = _network(args)
    if args.algorithm != "slhmc":
        for flag, v in (("--network", args.network), ("--weights", args.weights), ("--rho", args.rho),
                        ("--load-weights", args.load_weights), ("--save-weights", args.save_weights)):
            if v is not None:
                bad.append(f"{flag} needs --algorithm slhmc")
    else:
        n = None
        try:
            n = _n_weights(spec)
        except ValueError as e:
            bad.append(f"--network {spec!r}: {e}")
        given = [f for f, v in (("--weights", args.weights), ("--rho", args.rho),
                                ("--load-weights", args.load_weights)) if v is not None]
        if len(given) > 1:
            bad.append(f"give the initial weights once: {' and '.join(given)}")
        if args.rho is not None and spec != "stout":
            bad.append(f"--rho sets the stout network's weights; for --network {spec} use --weights")
        if args.rho is not None:
            rho = _floats(args.rho)
            if rho is None or len(rho) != 6 or not all(np.isfinite(rho)):
                bad.append(f"--rho must be 6 finite comma-separated numbers, got {args.rho!r}")
        if args.weights is not None and n is not None:
            w = _floats(args.weights)
            if w is None or not all(np.isfinite(w)):
                bad.append(f"--weights must be finite comma-separated numbers, got {args.weights!r}")
            elif len(w) != n:
                bad.append(f"--weights: network {spec!r} has {n} weights, got {len(w)}")
        if args.save_weights is not None and not _can_make_dir(os.path.dirname(os.path.abspath(args.save_weights))):
            bad.append(f"--save-weights {args.save_weights}: its directory cannot be created or written")
    if not 1 <= args.train_samples <= 200:
        bad.append("--train-samples must be 1..200")
    if bad:
        err = ValueError("hmc: " + "; ".join(bad))
        err.collective = True
        raise err


def _read_state(lat, out):
    return read_state(lat, out, STATE, "checkpoint_", "checkpoints")


_write_json = write_json


def _truncate_log(lat, path, done, header):
    """Keep the log's header and the trajectories < done (later ones are redone)."""
    if lat.rank != 0:
        return
    keep = []
    if os.path.exists(path) and done > 0:
        with open(path) as f:
            for line in f:
                if line.startswith("#"):
                    keep.append(line)
                elif line.split() and int(line.split()[0]) < done:
                    keep.append(line)
    else:
        keep = header
    with open(path, "w") as f:
        f.writelines(keep)


def _truncate_records(lat, path, done):
    """Keep the JSON-lines records of the trajectories < done (later ones are redone)."""
    if lat.rank != 0:
        return
    keep = []
    if os.path.exists(path) and done > 0:
        with open(path) as f:
            keep = [line for line in f if line.strip() and json.loads(line)["traj"] < done]
    with open(path, "w") as f:
        f.writelines(keep)


def read_records(path):
    """The per-trajectory records of an hmc.jsonl as a list of dicts (every measurement; see
    gaugenet.hmc.observables)."""
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def read_log(path):
    """The records of an hmc.log as a list of dicts (traj, phase, accepted, dH, exp_mdH, plaquette, seconds,
    forces, cg_iterations[, polyakov_loop_x .. polyakov_loop_t, chiral_condensate][, loss]). Logs written before
    the Polyakov-loop columns existed are read too (their header names no polyakov column)."""
    recs = []
    observables = False
    with open(path) as f:
        for line in f:
            v = line.split()
            if line.startswith("#"):
                observables = observables or "polyakov_t" in line
                continue
            if not v:
                continue
            r = {"traj": int(v[0]), "phase": v[1], "accepted": v[2] == "1", "dH": float(v[3]),
                 "exp_mdH": float(v[4]), "plaquette": float(v[5]), "seconds": float(v[6]), "forces": int(v[7]),
                 "cg_iterations": int(v[8])}
            rest = v[9:]
            if observables:
                for d, x in zip("xyzt", rest[:4]):
                    r[f"polyakov_loop_{d}"] = float(x)
                r["chiral_condensate"] = None if rest[4] == "-" else float(rest[4])
                rest = rest[5:]
            if rest:
                r["loss"] = float(rest[0])
            recs.append(r)
    return recs


def summarize(recs, phase="prod"):
    """Acceptance, plaquette with its autocorrelation-corrected error, tau_int, time per trajectory of a phase."""
    from ..hmc.autocorr import tau_int
    rs = [r for r in recs if r["phase"] == phase]
    if not rs:
        return {}
    plaq = np.array([r["plaquette"] for r in rs])
    out = {"n_trajectories": len(rs), "acceptance": float(np.mean([r["accepted"] for r in rs])),
           "seconds_per_trajectory": float(np.mean([r["seconds"] for r in rs])),
           "plaquette": float(plaq.mean()), "mean_exp_mdH": float(np.mean([r["exp_mdH"] for r in rs])),
           "cg_iterations_per_trajectory": float(np.mean([r["cg_iterations"] for r in rs]))}
    if len(rs) >= 10:
        a = tau_int(plaq)
        out.update(plaquette_error=a.error_of_mean, tau_int_plaquette=a.tau_int, tau_int_error=a.tau_int_error,
                   tau_int_window=a.window)
    return out


# ---- MD integrator options (multiple time scales, chronological CG guess; docs/hmc.md) ----
def _add_md_arguments(p):
    p.add_argument("--gauge-substeps", type=int, default=1,
                   help="two time scales: every drift of the fermion-force scheme becomes this many steps of the "
                        "same scheme with the gauge force alone (default 1: one scale)")
    p.add_argument("--chrono", action="store_true",
                   help="start each MD force CG from the previous force's solution (reversible only to about "
                        "--cg-tol: use a tight --cg-tol)")


def _md_params(args):
    return {"gauge_substeps": args.gauge_substeps if args.gauge_substeps != 1 else None,
            "chrono": True if args.chrono else None,
            "gauge_action": None if str(args.gauge_action).strip().lower() == "wilson" else args.gauge_action,
            "fermions": None if args.fermions == "staggered" else args.fermions,
            "md_action": os.path.abspath(args.md_action) if args.md_action else None}


def _validate_actions(args):
    from ..gauge.improved import gauge_action_c1
    bad = []
    try:
        gauge_action_c1(args.gauge_action)
    except ValueError as e:
        bad.append(f"--gauge-action: {e}")
    if args.fermions == "none":
        if args.algorithm == "slhmc":
            bad.append("--algorithm slhmc needs fermions (its network smears the pseudofermion's links)")
        if args.gauge_substeps != 1:
            bad.append("--gauge-substeps needs fermions (it nests the gauge force inside the fermion force)")
        if args.chrono:
            bad.append("--chrono needs fermions (it is a CG start guess)")
    if args.md_action is not None:
        if args.fermions != "none":
            bad.append("--md-action needs --fermions none (a learned pure-gauge MD action)")
        if args.algorithm != "hmc":
            bad.append("--md-action needs --algorithm hmc")
        if not os.path.isfile(args.md_action):
            bad.append(f"--md-action {args.md_action}: no such file")
    if bad:
        err = ValueError("hmc: " + "; ".join(bad))
        err.collective = True
        raise err


def _configure_md(args, *samplers):
    if not 1 <= args.gauge_substeps <= 1000:
        err = ValueError(f"hmc: --gauge-substeps must be 1..1000, got {args.gauge_substeps}")
        err.collective = True
        raise err
    for s in samplers:
        if s is not None:
            s.configure_md(args.gauge_substeps, args.chrono)
# ---- end of the MD integrator options ----


def run(args):
    import gaugenet as gn
    from ..hmc import HMC, SLHMC, SLHMCTrainer
    from ..hmc.observables import Measurements, production_summary, summary_table
    from ..hmc.streams import START, stream

    dims = tuple(int(v) for v in args.lattice.split("."))
    _validate(args, dims)
    _validate_actions(args)
    lat = gn.Lattice(dims, mpi=args.mpi)
    out = args.out
    spec = _network(args)
    if spec is not None and args.load_weights is not None:
        from ..covnet.io import load_weights_collective
        rec = load_weights_collective(lat.cart, args.load_weights, spec=spec, N=args.N, lattice=dims)
        args._loaded_weights = rec["weights"].tolist()
        log.info("initial %s weights from %s: %s", spec, args.load_weights, np.round(rec["weights"], 6).tolist())
    params = _params(args, dims)
    params.update(_md_params(args))
    therm, train = args.therm, args.train
    total = therm + train + args.trajectories
    import gaugenet.io as gio

    if lat.rank == 0:
        os.makedirs(out, exist_ok=True)
    lat.cart.Barrier()
    state = _read_state(lat, out)

    kw = dict(n_steps=args.steps, tau=args.tau, integrator=args.integrator, seed=args.seed, cg_tol=args.cg_tol,
              action_tol=args.action_tol, maxiter=args.maxiter)
    hmc = HMC(args.beta, None if args.fermions == "none" else args.mass, gauge_action=args.gauge_action, **kw)
    slhmc = SLHMC(args.beta, args.mass, args.m_h, rho=_rho(args), network=spec, **kw) \
        if args.algorithm == "slhmc" else None
    if args.md_action is not None:          # production with the learned MD action (plays SLHMC's part below)
        from ..hmc.learned import LearnedActionHMC, load_md_action
        slhmc = LearnedActionHMC(args.beta, load_md_action(args.md_action, args.N), args.gauge_action, **kw)
    _configure_md(args, hmc, slhmc)
    trainer = SLHMCTrainer(slhmc, lr=args.lr, samples=args.train_samples) \
        if args.algorithm == "slhmc" else None
    hmc.measurements = Measurements(args.mass, args.seed, condensate_vectors=args.condensate_vectors,
                                    tol=args.cg_tol, maxiter=args.maxiter)
    if slhmc is not None:
        slhmc.measurements = hmc.measurements

    done = 0
    if state is not None:
        old = state.get("params", {})
        oldv = {k: old[k] if k in old else (_LEGACY[k](old) if k in _LEGACY else None) for k in _CHAIN_KEYS}
        diff = [f"{k}: {oldv[k]!r} in {STATE}, {params[k]!r} now" for k in _CHAIN_KEYS if oldv[k] != params[k]]
        lat.check(not diff, f"cannot continue the chain in {out}: parameters differ ({'; '.join(diff)})", ValueError)
        ck = state.get("checkpoint")
        if ck:
            path = os.path.join(out, ck["file"])
            U = gio.load_gauge(path, lat, format="hdf5")
            plaq = gn.plaquette(U)
            lat.check(abs(plaq - ck["plaquette"]) <= 1e-12 * max(1.0, abs(plaq)),
                      f"{path}: plaquette {plaq:.15f} differs from {ck['plaquette']:.15f} recorded in {STATE}",
                      RuntimeError)
            done = int(ck["done"])
            if trainer is not None and state.get("training"):
                trainer.load_state(state["training"])
            log.info("continuing the chain in %s from %s (%d trajectories done, plaquette %.12f)", out, ck["file"],
                     done, plaq)
    if done == 0:
        U = gn.GaugeField.unit(lat, args.N) if args.start == "cold" else \
            gn.GaugeField.random(lat, args.N, seed=args.seed, stream=stream(0, START))
        state = {"params": params, "checkpoint": None}
    header = [f"# gaugenet hmc: {args.algorithm} lattice {'x'.join(map(str, dims))} SU({args.N}) beta {args.beta} "
              f"m {args.mass}" + (f" m_h {args.m_h}" if args.algorithm == "slhmc" else "") +
              f" {args.integrator} steps {args.steps} tau {args.tau} seed {args.seed}\n",
              _LOG_HEADER]
    _truncate_log(lat, os.path.join(out, LOG), done, header)
    _truncate_records(lat, os.path.join(out, RECORDS), done)
    state["params"] = params
    if done < total:
        state.pop("summary", None)          # the summary of a shorter run no longer describes the chain

    log.info("hmc: %s on %s SU(%d), beta %g, m %g%s, %s %d steps tau %g, %d ranks (grid %s); trajectories %d..%d "
             "(therm %d, train %d, production %d), output %s", args.algorithm, "x".join(map(str, dims)), args.N,
             args.beta, args.mass, f", m_h {args.m_h}" if args.algorithm == "slhmc" else "", args.integrator, args.steps, args.tau,
             lat.size, ".".join(map(str, lat.grid)), done, total - 1, therm, train, args.trajectories, out)

    from ..util.progress import Progress
    from ..util.signals import EXIT_INTERRUPTED, GracefulStop, inject
    flog = open(os.path.join(out, LOG), "a") if lat.rank == 0 else None
    fjson = open(os.path.join(out, RECORDS), "a") if lat.rank == 0 else None
    stopped = None
    n_acc = n_run = 0
    try:
        with GracefulStop() as stop, Progress(total, "hmc", unit="traj", initial=done) as bar:
            for t in range(done, total):
                inject("hmc.trajectory", t + 1, lat.rank)
                phase = "therm" if t < therm else ("train" if t < therm + train else "prod")
                sampler = slhmc if (phase == "prod" and slhmc is not None) else hmc
                U, rec = sampler.trajectory(U, t)
                extra = ""
                d = dict(rec.as_dict(), phase=phase)
                if phase == "train":
                    tr = trainer.step(U, t)
                    extra = f" {tr['loss']:.6e} " + " ".join(f"{v:.8f}" for v in tr["params"])
                    d.update(loss=tr["loss"], rho=list(tr["params"]))
                pbp = d.get("chiral_condensate")
                log.info("traj %d (%s) %s dH %+.6f exp(-dH) %.4f plaquette %.10f L_t %+.4f L_s %+.4f pbp %s  %.3f s "
                         "(+%.3f s measuring), %d CG iterations%s", t, phase,
                         "accepted" if rec.accepted else "rejected",
                         rec.dH, rec.exp_mdH, rec.plaquette, d["polyakov_loop_t"],
                         (d["polyakov_loop_x"] + d["polyakov_loop_y"] + d["polyakov_loop_z"]) / 3,
                         "-" if pbp is None else f"{pbp:.6f}", rec.seconds, d["measure_seconds"], rec.cg_iterations,
                         f", loss {tr['loss']:.4g}, weights {np.round(tr['params'], 5).tolist()}"
                         if phase == "train" else "")
                if flog is not None:
                    obs = " ".join(f"{d[f'polyakov_loop_{c}']:+.16e}" for c in "xyzt") + \
                        (" -" if pbp is None else f" {pbp:.16e}")
                    flog.write(f"{t} {phase} {int(rec.accepted)} {rec.dH:.12e} {rec.exp_mdH:.12e} {rec.plaquette:.16f} "
                               f"{rec.seconds:.6f} {rec.forces} {rec.cg_iterations} {obs}{extra}\n")
                    flog.flush()
                    fjson.write(json.dumps(d) + "\n")
                    fjson.flush()
                n = t + 1
                if args.save_every and phase == "prod" and (n - therm - train) % args.save_every == 0:
                    gio.save_gauge(os.path.join(out, f"cfg_{n:06d}.h5"), U, format="hdf5")
                n_acc += int(rec.accepted)
                n_run += 1
                bar.update(1, phase=phase, plaquette=f"{rec.plaquette:.6f}", acc=f"{n_acc / n_run:.2f}")
                halt = stop.requested(lat.cart)
                if n % args.checkpoint_every == 0 or n == total or halt:
                    _checkpoint(lat, gio, out, U, n, rec.plaquette, state, trainer)
                if halt:
                    stopped = n
                    break
    finally:
        if flog is not None:
            flog.close()
            fjson.close()

    if args.save_weights and args.algorithm == "slhmc":
        _save_weights(lat, args.save_weights, spec, args.N, dims, slhmc.params)
    if stopped is not None:
        log.warning("%s", stop.message(f"{stopped} of {total} trajectories done, checkpoint "
                                       f"{state['checkpoint']['file']} written", "rerun the same command"))
        return EXIT_INTERRUPTED
    summary = None
    if lat.rank == 0:
        recs = read_records(os.path.join(out, RECORDS))
        summary = {ph: summarize(recs, ph) for ph in ("therm", "train", "prod")}
        summary["production"] = production_summary([r for r in recs if r["phase"] == "prod"], args.algorithm,
                                                   network=spec if args.md_action is None else
                                                   f"lcnn:{os.path.basename(args.md_action)}")
        summary["production"].update(gauge_action=args.gauge_action, fermions=args.fermions)
        if args.algorithm == "slhmc":
            summary["rho"] = slhmc.params.tolist()
            summary["weights"] = slhmc.params.tolist()
        if not args.no_plots:
            from ..util.plots import plot_hmc
            plot_hmc(os.path.join(out, "hmc.png"), recs,
                     title=f"{args.algorithm}" + (f" ({spec})" if spec else "") + f", {'x'.join(map(str, dims))}")
    summary = lat.cart.bcast(summary, root=0)
    state["summary"] = summary
    _write_json(lat, os.path.join(out, STATE), state)
    if args.json:
        _write_json(lat, args.json, summary["production"])
    if lat.rank == 0 and summary["production"]["trajectories"]:
        print("\n".join(summary_table(summary["production"])), flush=True)
    s = summary.get("prod") or {}
    if s:
        log.info("production (%s): %d trajectories, acceptance %.3f, plaquette %.6f(%s), tau_int %s, %.4f s per "
                 "trajectory", args.algorithm, s["n_trajectories"], s["acceptance"], s["plaquette"],
                 f"{s.get('plaquette_error', float('nan')):.6f}",
                 f"{s['tau_int_plaquette']:.2f}({s['tau_int_error']:.2f})" if "tau_int_plaquette" in s else "n/a",
                 s["seconds_per_trajectory"])
    return 0


def _save_weights(lat, path, spec, N, dims, weights):
    """The network weights to an HDF5 file (covnet.io), written by rank 0; an error reaches every rank."""
    err = None
    if lat.rank == 0:
        from ..covnet.io import save_weights
        try:
            save_weights(path, spec, N, dims, weights)
        except (OSError, ValueError) as e:
            err = f"--save-weights {path}: {e}"
    err = lat.cart.bcast(err, root=0)
    if err is not None:
        e = ValueError(err)
        e.collective = True
        raise e
    log.info("network weights (%s) written to %s", spec, path)


def _checkpoint(lat, gio, out, U, done, plaq, state, trainer):
    """Write checkpoint_<done>.h5, then the state naming it, then remove the previous checkpoint
    (a crash at any point leaves a consistent pair)."""
    name = f"checkpoint_{done:06d}.h5"
    gio.save_gauge(os.path.join(out, name), U, format="hdf5")
    lat.cart.Barrier()
    prev = (state.get("checkpoint") or {}).get("file")
    state["checkpoint"] = {"file": name, "done": done, "plaquette": plaq}
    if trainer is not None:
        state["training"] = trainer.state()
    _write_json(lat, os.path.join(out, STATE), state)
    if lat.rank == 0 and prev and prev != name and os.path.exists(os.path.join(out, prev)):
        os.remove(os.path.join(out, prev))
