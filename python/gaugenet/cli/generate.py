"""`python -m gaugenet generate`: a quenched SU(N) ensemble for the Wilson gauge action.

Heat bath (Cabibbo-Marinari) + overrelaxation sweeps (gaugenet.gauge.heatbath), identical for any
number of ranks. After `--therm` sweeps, a configuration is written every `--sep` sweeps, `--count`
of them, as DIR/cfg_<sweeps done>.<ext>. The plaquette after every sweep goes to the log (rank 0)
and to DIR/plaquette.log. DIR/generate.json records the parameters, the sweeps done and the
configurations written; running the command again on the same DIR continues from the last
configuration (the chain is the same as an uninterrupted run, since the random numbers are keyed
by the sweep number), so --count can also be raised to extend an ensemble. The defaults make the
seed-000 ensemble: 8^3 x 16, SU(3), beta = 6.0.

Between configurations the run keeps a checkpoint, DIR/checkpoint.h5 (every --checkpoint-every sweeps,
and when the job is asked to stop: SIGTERM or SIGUSR1 on any rank, agreed by all ranks at the next
sweep boundary; the run then exits with status 75 and says how to resume). Every file is written
atomically (temporary name, fsync, rename), so a kill at any moment leaves the last good state; a rerun
continues from the newest of the last configuration and the checkpoint, bitwise as the uninterrupted
run. DIR/plaquette.png plots the plaquette history (matplotlib; --no-plots to skip).
"""
import logging
import os
import time

import numpy as np

from ..util.atomic import atomic_write_text
from ..util.log import log
from ..util.signals import EXIT_INTERRUPTED, GracefulStop, inject
from .state import read_state, write_json

STATE = "generate.json"
PLAQ_LOG = "plaquette.log"
CHECKPOINT = "checkpoint.h5"       # always gaugenet HDF5 (double precision, bitwise)
PLOT = "plaquette.png"
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
    p.add_argument("--checkpoint-every", type=int, default=10,
                   help="write DIR/checkpoint.h5 every this many sweeps between configurations (0: only when "
                        "stopped by SIGTERM/SIGUSR1; default 10)")
    p.add_argument("--no-plots", action="store_true", help="do not write DIR/plaquette.png")
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
    if args.checkpoint_every < 0:
        bad.append("--checkpoint-every must be >= 0")
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


def _header(args, dims):
    return (f"# gaugenet generate: lattice {'x'.join(map(str, dims))} SU({args.N}) beta {args.beta} "
            f"seed {args.seed} start {args.start} or_steps {args.or_steps}\n# sweep plaquette\n")


def _rewrite_plaquette_log(lat, out, upto, header):
    """Keep the plaquette log up to sweep `upto` (sweeps beyond the resume point are redone); a log
    cut inside a line by a kill loses that line. Rewritten atomically (rank 0); a fresh log (upto 0 or no
    log) is the header alone."""
    if lat.rank != 0:
        return
    path = os.path.join(out, PLAQ_LOG)
    keep = []
    if upto > 0 and os.path.exists(path):
        with open(path) as f:
            for line in f:
                fields = line.split()
                if not line.endswith("\n"):
                    continue                     # the tail of a killed write
                try:
                    if line.startswith("# saved"):
                        if int(fields[2]) <= upto:
                            keep.append(line)
                    elif line.startswith("#") or not fields:
                        keep.append(line)
                    elif len(fields) == 2 and int(fields[0]) <= upto:
                        float(fields[1])
                        keep.append(line)
                except (ValueError, IndexError):
                    continue
    if not keep:
        keep = [header]
    atomic_write_text(path, "".join(keep))


def _load_checked(gio, lat, path, fmt, entry, what):
    """A configuration or checkpoint named in the state file, checked against the plaquette recorded
    there; a damaged file is refused with a message naming it."""
    import gaugenet as gn
    from ..io import GaugeFileError
    try:
        U = gio.load_gauge(path, lat, format=fmt)
    except GaugeFileError as exc:
        err = GaugeFileError(exc.path, exc.check, f"{exc.detail} (the {what} of sweep {entry['sweep']} recorded in "
                                                  f"{STATE} is damaged: delete it to continue from the one before)")
        raise err from None
    plaq = gn.plaquette(U)
    lat.check(abs(plaq - entry["plaquette"]) <= 1e-12 * max(1.0, abs(plaq)),
              f"{path}: plaquette {plaq:.15f} differs from {entry['plaquette']:.15f} recorded in {STATE} (the "
              f"{what} does not belong to this chain: delete it to continue from the one before)", RuntimeError)
    return U, plaq


def run(args):
    import gaugenet as gn
    from ..gauge.heatbath import QuenchedUpdater
    from ..util.progress import Progress

    dims = tuple(int(v) for v in args.lattice.split("."))
    _validate(args, dims)
    lat = gn.Lattice(dims, mpi=args.mpi)
    out = args.out
    params = _params(args, dims)
    total = args.therm + args.count * args.sep
    saves = {args.therm + k * args.sep for k in range(1, args.count + 1)}   # sweeps done at each save
    gio = _io_module()
    ckpt_path = os.path.join(out, CHECKPOINT)

    problem = None
    if lat.rank == 0:
        try:
            os.makedirs(out, exist_ok=True)
            probe = os.path.join(out, f".write-test-{os.getpid()}")
            with open(probe, "w"):
                pass
            os.remove(probe)
        except OSError as exc:
            problem = f"generate: cannot write to the output directory {out}: {exc}"
    problem = lat.cart.bcast(problem, root=0)
    lat.check(problem is None, problem or "", OSError)
    state = _read_state(lat, out)

    if state is not None:
        old = state.get("params", {})
        diff = [f"{k}: {old.get(k)!r} in {STATE}, {params[k]!r} now" for k in _CHAIN_KEYS if old.get(k) != params[k]]
        lat.check(not diff, f"cannot continue the chain in {out}: parameters differ ({'; '.join(diff)})", ValueError)
        configs = state.get("configs", [])
        ckpt = state.get("checkpoint")
    else:
        configs, ckpt = [], None
    # the newest saved state: the last configuration or the checkpoint (if its file is still there)
    if ckpt is not None:
        there = lat.cart.bcast(os.path.exists(ckpt_path) if lat.rank == 0 else None, root=0)
        if not there:
            log.warning("%s names the checkpoint %s of sweep %d, which is missing: continuing from the last "
                        "configuration instead", STATE, ckpt_path, ckpt["sweep"])
            ckpt = None
    last = configs[-1] if configs else None
    if ckpt is not None and (last is None or ckpt["sweep"] > last["sweep"]):
        U, plaq = _load_checked(gio, lat, ckpt_path, "hdf5", ckpt, "checkpoint")
        start, source = int(ckpt["sweep"]), CHECKPOINT
    elif last is not None:
        U, plaq = _load_checked(gio, lat, os.path.join(out, last["file"]), args.format, last, "configuration")
        start, source = int(last["sweep"]), last["file"]
        ckpt = None
    else:
        start, source, ckpt = 0, None, None
    if start:
        log.info("continuing the chain in %s from %s (%d sweeps done, plaquette %.12f)", out, source, start, plaq)
    else:
        U = gn.GaugeField.unit(lat, args.N) if args.start == "cold" else \
            gn.GaugeField.random(lat, args.N, seed=args.seed, stream=0x5354415254)   # "START"
    _rewrite_plaquette_log(lat, out, start, _header(args, dims))
    configs = [c for c in configs if c["sweep"] <= start]
    state = {"params": params, "sweeps_done": start, "configs": configs}
    if ckpt is not None:
        state["checkpoint"] = ckpt
    _write_state(lat, out, state)

    log.info("generate: lattice %s, SU(%d), beta %g, %d ranks (grid %s), sweeps %d..%d (therm %d, sep %d, count %d, "
             "%d OR per heat bath), output %s (%s), checkpoint every %s", "x".join(map(str, dims)), args.N, args.beta,
             lat.size, ".".join(map(str, lat.grid)), start + 1, total, args.therm, args.sep, args.count,
             args.or_steps, out, args.format,
             f"{args.checkpoint_every} sweeps" if args.checkpoint_every else "stop signal only")
    updater = QuenchedUpdater(args.beta, seed=args.seed, or_steps=args.or_steps,
                              reunitarize_every=args.reunitarize_every)
    plog = open(os.path.join(out, PLAQ_LOG), "a") if lat.rank == 0 else None

    def sync_log():
        # the log up to this sweep reaches the disk before a checkpoint or state names the sweep
        if plog is not None and not plog.closed:
            plog.flush()
            os.fsync(plog.fileno())

    def checkpoint(done, plaq):
        sync_log()
        gio.save_gauge(ckpt_path, U, format="hdf5")
        lat.cart.Barrier()
        state["checkpoint"] = {"sweep": done, "file": CHECKPOINT, "plaquette": plaq}
        state["sweeps_done"] = done
        _write_state(lat, out, state)
        log.debug("checkpoint at sweep %d written to %s", done, ckpt_path)

    times, plaqs = [], []
    stopped = None
    with GracefulStop() as stop, Progress(total, "generate", unit="sweep", initial=start) as bar:
        sweep_level = logging.DEBUG if bar.mode == "bar" else logging.INFO   # a live bar shows the sweeps
        try:
            for s in range(start, total):
                t0 = time.perf_counter()
                updater.sweep(U, s)
                dt = time.perf_counter() - t0
                done = s + 1
                inject("generate.sweep", done, lat.rank)
                plaq = gn.plaquette(U)
                times.append(dt)
                plaqs.append(plaq)
                phase = "therm" if done <= args.therm else "sep"
                log.log(sweep_level, "sweep %d/%d (%s) plaquette %.12f  (%.3f s)", done, total, phase, plaq, dt)
                if plog is not None:
                    plog.write(f"{done} {plaq:.16f}\n")
                    plog.flush()
                saved = False
                if done in saves:
                    name = f"cfg_{done:06d}.{EXTENSIONS[args.format]}"
                    gio.save_gauge(os.path.join(out, name), U, format=args.format)
                    lat.cart.Barrier()     # every rank's part is on disk before the state names the file
                    if plog is not None:
                        plog.write(f"# saved {done} {name}\n")
                    sync_log()
                    state["configs"].append({"sweep": done, "file": name, "plaquette": plaq})
                    state["sweeps_done"] = done
                    state.pop("checkpoint", None)      # the configuration is the newer restart point
                    _write_state(lat, out, state)
                    log.info("wrote %s", os.path.join(out, name))
                    saved = True
                bar.update(1, plaquette=f"{plaq:.6f}")
                if stop.requested(lat.cart):
                    if not saved:
                        checkpoint(done, plaq)
                    stopped = done
                    break
                if not saved and args.checkpoint_every and done % args.checkpoint_every == 0 and done < total:
                    checkpoint(done, plaq)
            if stopped is None and total not in saves and total > start:
                checkpoint(total, plaqs[-1])    # no configuration at the end (--count 0): keep where it got
        finally:
            if plog is not None:
                plog.close()
    if stopped is None and state.get("checkpoint") is None and lat.rank == 0 and os.path.exists(ckpt_path):
        os.remove(ckpt_path)                    # superseded by the last configuration
    if times:
        log.info("%s: %d sweeps, %.3f s per sweep (heat bath + %d OR) on %d ranks; last plaquette %.12f",
                 "stopped" if stopped is not None else "done", len(times), float(np.mean(times)), args.or_steps,
                 lat.size, plaqs[-1])
    else:
        log.info("nothing to do: %d sweeps already done in %s", start, out)
    if state["configs"]:
        p = [c["plaquette"] for c in state["configs"]]
        log.info("ensemble in %s: %d configurations, mean plaquette %.6f", out, len(p), float(np.mean(p)))
    if not args.no_plots and lat.rank == 0 and times:
        from ..util.plots import plot_plaquette_log
        plot_plaquette_log(os.path.join(out, PLAQ_LOG), os.path.join(out, PLOT), therm=args.therm,
                           title=f"generate: {'x'.join(map(str, dims))} SU({args.N}) beta {args.beta}")
    if stopped is not None:
        saved_what = (f"configuration cfg_{stopped:06d}" if stopped in saves else f"checkpoint {ckpt_path}")
        log.warning("%s", stop.message(f"{stopped} of {total} sweeps done, {saved_what} written",
                                       "rerun the same command (same --out); it continues from sweep "
                                       f"{stopped + 1}"))
        return EXIT_INTERRUPTED
    return 0
