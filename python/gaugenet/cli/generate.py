"""`python -m gaugenet generate`: a quenched SU(N) ensemble for the Wilson gauge action.

Heat bath (Cabibbo-Marinari) + overrelaxation sweeps (gaugenet.gauge.heatbath), identical for any
number of ranks. After `--therm` sweeps, a configuration is written every `--sep` sweeps, `--count`
of them, as DIR/cfg_<sweeps done>.<ext>. The plaquette after every sweep goes to the log (rank 0)
and to DIR/plaquette.log. DIR/generate.json records the parameters, the sweeps done and the
configurations written; running the command again on the same DIR continues from the last
configuration (the chain is the same as an uninterrupted run, since the random numbers are keyed
by the sweep number), so --count can also be raised to extend an ensemble. The defaults make the
seed-000 ensemble: 8^3 x 16, SU(3), beta = 6.0.
"""
import os
import time

import numpy as np

from ..util.log import log
from .state import read_state, write_json

STATE = "generate.json"
PLAQ_LOG = "plaquette.log"
EXTENSIONS = {"hdf5": "h5", "nersc": "nersc", "ildg": "lime"}
# parameters that must agree when a run continues in an existing directory
_CHAIN_KEYS = ("lattice", "N", "beta", "seed", "start", "or_steps", "reunitarize_every", "therm", "sep", "format")


def add_arguments(p):
    p.add_argument("--lattice", default="8.8.8.16", help="global lattice Lx.Ly.Lz.Lt (default 8.8.8.16)")
    p.add_argument("--beta", type=float, default=6.0, help="Wilson gauge coupling beta = 2N/g^2 (default 6.0)")
    p.add_argument("--N", type=int, default=3, choices=(2, 3), help="gauge group SU(N) (default 3)")
    p.add_argument("--seed", type=int, default=0, help="seed of the chain (default 0)")
    p.add_argument("--mpi", default=None, help="process grid Px.Py.Pz.Pt (default: chosen from the rank count)")
    p.add_argument("--therm", type=int, default=200, help="thermalisation sweeps before the first saved one")
    p.add_argument("--sep", type=int, default=10, help="sweeps between saved configurations")
    p.add_argument("--count", type=int, default=10, help="number of configurations to write")
    p.add_argument("--or-steps", type=int, default=4, help="overrelaxation passes per sweep (after the heat bath)")
    p.add_argument("--start", choices=("cold", "hot"), default="cold", help="unit links or Haar-random links")
    p.add_argument("--reunitarize-every", type=int, default=10, help="project links onto SU(N) every this many sweeps")
    p.add_argument("--out", default="ensemble", help="output directory (default ./ensemble)")
    p.add_argument("--format", choices=tuple(EXTENSIONS), default="hdf5", help="gauge-file format (default hdf5)")
    p.add_argument("--verbose", action="store_true")


def _params(args, dims):
    return {"lattice": list(dims), "N": args.N, "beta": args.beta, "seed": args.seed, "start": args.start,
            "or_steps": args.or_steps, "reunitarize_every": args.reunitarize_every, "therm": args.therm,
            "sep": args.sep, "format": args.format}


def _io_module():
    """gaugenet.io with save_gauge/load_gauge, or a clear error."""
    try:
        import gaugenet.io as gio
    except ImportError as exc:
        raise RuntimeError(f"writing configurations needs gaugenet.io (gauge-file I/O), which failed to import: {exc}")
    for name in ("save_gauge", "load_gauge"):
        if not hasattr(gio, name):
            raise RuntimeError(f"gaugenet.io has no {name}(): cannot write or resume configurations")
    return gio


def _validate(args, dims):
    bad = []
    if args.therm < 0 or args.count < 0:
        bad.append("--therm and --count must be >= 0")
    if args.sep < 1:
        bad.append("--sep must be >= 1")
    if args.or_steps < 0:
        bad.append("--or-steps must be >= 0")
    if args.reunitarize_every < 0:
        bad.append("--reunitarize-every must be >= 0")
    if args.beta <= 0:
        bad.append("--beta must be positive")
    if any(d % 2 for d in dims):
        bad.append(f"checkerboard updates need even extents, lattice is {'x'.join(map(str, dims))}")
    if bad:
        err = ValueError("generate: " + "; ".join(bad))
        err.collective = True   # every rank checks the same arguments
        raise err


def _read_state(lat, out):
    """The state file (rank 0 reads, all ranks get it) or None; a directory holding configurations
    but no state file is an error."""
    return read_state(lat, out, STATE, "cfg_", "configurations")


def _write_state(lat, out, state):
    write_json(lat, os.path.join(out, STATE), state)


def _rewrite_plaquette_log(lat, out, upto):
    """Keep the plaquette log up to sweep `upto` (sweeps beyond the last saved configuration are redone)."""
    if lat.rank != 0:
        return
    path = os.path.join(out, PLAQ_LOG)
    if not os.path.exists(path):
        return
    keep = []
    with open(path) as f:
        for line in f:
            fields = line.split()
            if line.startswith("#") or not fields:
                if line.startswith("# saved") and int(fields[2]) > upto:
                    continue
                keep.append(line)
            elif int(fields[0]) <= upto:
                keep.append(line)
    with open(path, "w") as f:
        f.writelines(keep)


def run(args):
    import gaugenet as gn
    from ..gauge.heatbath import QuenchedUpdater

    dims = tuple(int(v) for v in args.lattice.split("."))
    _validate(args, dims)
    lat = gn.Lattice(dims, mpi=args.mpi)
    out = args.out
    params = _params(args, dims)
    total = args.therm + args.count * args.sep
    saves = {args.therm + k * args.sep for k in range(1, args.count + 1)}   # sweeps done at each save
    gio = _io_module() if args.count > 0 else None

    if lat.rank == 0:
        os.makedirs(out, exist_ok=True)
    lat.cart.Barrier()
    state = _read_state(lat, out)

    start = 0
    if state is not None:
        old = state.get("params", {})
        diff = [f"{k}: {old.get(k)!r} in {STATE}, {params[k]!r} now" for k in _CHAIN_KEYS if old.get(k) != params[k]]
        lat.check(not diff, f"cannot continue the chain in {out}: parameters differ ({'; '.join(diff)})", ValueError)
        configs = state.get("configs", [])
    else:
        configs = []
    if configs:
        last = configs[-1]
        path = os.path.join(out, last["file"])
        U = gio.load_gauge(path, lat, format=args.format)
        plaq = gn.plaquette(U)
        lat.check(abs(plaq - last["plaquette"]) <= 1e-12 * max(1.0, abs(plaq)),
                  f"{path}: plaquette {plaq:.15f} differs from {last['plaquette']:.15f} recorded in {STATE}",
                  RuntimeError)
        start = int(last["sweep"])
        log.info("continuing the chain in %s from %s (%d sweeps done, plaquette %.12f)", out, last["file"], start, plaq)
    else:
        U = gn.GaugeField.unit(lat, args.N) if args.start == "cold" else \
            gn.GaugeField.random(lat, args.N, seed=args.seed, stream=0x5354415254)   # "START"
        if lat.rank == 0:
            with open(os.path.join(out, PLAQ_LOG), "w") as f:
                f.write(f"# gaugenet generate: lattice {'x'.join(map(str, dims))} SU({args.N}) beta {args.beta} "
                        f"seed {args.seed} start {args.start} or_steps {args.or_steps}\n# sweep plaquette\n")
    _rewrite_plaquette_log(lat, out, start)
    configs = [c for c in configs if c["sweep"] <= start]
    state = {"params": params, "sweeps_done": start, "configs": configs}
    _write_state(lat, out, state)

    log.info("generate: lattice %s, SU(%d), beta %g, %d ranks (grid %s), sweeps %d..%d (therm %d, sep %d, count %d, "
             "%d OR per heat bath), output %s (%s)", "x".join(map(str, dims)), args.N, args.beta, lat.size,
             ".".join(map(str, lat.grid)), start + 1, total, args.therm, args.sep, args.count, args.or_steps, out,
             args.format)
    updater = QuenchedUpdater(args.beta, seed=args.seed, or_steps=args.or_steps,
                              reunitarize_every=args.reunitarize_every)
    plog = open(os.path.join(out, PLAQ_LOG), "a") if lat.rank == 0 else None
    times, plaqs = [], []
    try:
        for s in range(start, total):
            t0 = time.perf_counter()
            updater.sweep(U, s)
            dt = time.perf_counter() - t0
            done = s + 1
            plaq = gn.plaquette(U)
            times.append(dt)
            plaqs.append(plaq)
            phase = "therm" if done <= args.therm else "sep"
            log.info("sweep %d/%d (%s) plaquette %.12f  (%.3f s)", done, total, phase, plaq, dt)
            if plog is not None:
                plog.write(f"{done} {plaq:.16f}\n")
                plog.flush()
            if done in saves:
                name = f"cfg_{done:06d}.{EXTENSIONS[args.format]}"
                gio.save_gauge(os.path.join(out, name), U, format=args.format)
                lat.cart.Barrier()     # every rank's part is on disk before the state names the file
                state["configs"].append({"sweep": done, "file": name, "plaquette": plaq})
                state["sweeps_done"] = done
                _write_state(lat, out, state)
                if plog is not None:
                    plog.write(f"# saved {done} {name}\n")
                    plog.flush()
                log.info("wrote %s", os.path.join(out, name))
    finally:
        if plog is not None:
            plog.close()
    if times:
        log.info("done: %d sweeps, %.3f s per sweep (heat bath + %d OR) on %d ranks; last plaquette %.12f",
                 len(times), float(np.mean(times)), args.or_steps, lat.size, plaqs[-1])
    else:
        log.info("nothing to do: %d sweeps already done in %s", start, out)
    if state["configs"]:
        p = [c["plaquette"] for c in state["configs"]]
        log.info("ensemble in %s: %d configurations, mean plaquette %.6f", out, len(p), float(np.mean(p)))
    return 0
