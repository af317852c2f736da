"""The suite: STREAM triad, then every case over local volumes x precisions x threads per rank, the
NumPy references side by side, the many-right-hand-side scan, zero-boundary-link mode against the
normal one, halo exchange alone, the layer/coarse/stout kernels, and strong scaling at a fixed
global volume. Identical on every rank (collective timings); the report is built on every rank.

Weak scaling: the main loop keeps the local volume per rank fixed, so runs of the command under
mpiexec -n 1, 2, 4 give the weak-scaling table (table.scaling_tables merges their JSON files).
Strong scaling: the `strong` records split one global volume over the ranks of the run.
"""
import datetime
import gc
import os
import sys
import time
from dataclasses import dataclass

import numpy as np

from .._backend import core
from ..util.log import log
from . import cases as C
from . import models
from . import targets
from .machine import machine_info
from .stream import SCATTER_CHUNK_BYTES, SCATTER_PREFETCH, ScatteredRead, Triad, stream_triad, triad_array_bytes
from .timing import time_call

# end-to-end items (gaugenet.bench.endtoend): record names and what runs them
END_TO_END = [
    ("fgmres_seed000", "FGMRES time-to-solution on the seed-000 problem: unpreconditioned, high-mode model, "
                       "multigrid model, even-odd BiCGStab/CG"),
    ("multigrid_training_step", "cost of a training step of each stage of the multigrid model"),
    ("slhmc_cost_per_sample", "SLHMC vs HMC cost per independent sample (seed-002 setup)"),
]


@dataclass
class SuiteConfig:
    quick: bool = False
    volumes: tuple = None          # local volumes per rank, (lx, ly, lz, lt) tuples
    precisions: tuple = ("double", "single")
    threads: tuple = (1, 2)        # OpenMP threads per rank (those that oversubscribe the cores are dropped)
    nvecs: tuple = (1, 2, 4, 8, 12)
    side_volume: tuple = None      # local volume of the nvec scan, zero-boundary, halo, layers, coarse, stout
    strong_global: tuple = None    # global volume of the strong-scaling records
    numpy: bool = True
    layer_max_sites: int = 16 ** 4  # onehop/PTC (and their numpy versions) up to this local volume
    min_time: float = None         # seconds of timed calls per case
    N: int = 3
    seed: int = 1
    kernels: tuple = None          # only these record names (None: all)
    end_to_end: bool = True        # seed-000 multigrid solves and training, SLHMC vs HMC (minutes)
    seed000_config: str = None     # gauge file for the seed-000 problem (default: heat bath in the run)

    def resolved(self):
        c = SuiteConfig(**self.__dict__)
        if c.volumes is None:
            c.volumes = ((4,) * 4, (8,) * 4) if c.quick else ((4,) * 4, (8,) * 4, (16,) * 4, (24,) * 4, (32,) * 4)
        if c.side_volume is None:
            c.side_volume = (8,) * 4 if c.quick else (16,) * 4
        if c.strong_global is None:
            c.strong_global = (8, 8, 8, 8) if c.quick else (16, 16, 16, 32)
        if c.min_time is None:
            c.min_time = 0.08 if c.quick else 0.3
        return c


def process_grid(ranks):
    """Split the ranks over t first, then z, y, x (factors of 2 and 3 first)."""
    grid = [1, 1, 1, 1]
    n, mu = ranks, 3
    for p in (2, 3, 5, 7):
        while n % p == 0:
            grid[mu] *= p
            n //= p
            mu = (mu - 1) % 4
    if n > 1:
        grid[3] *= n
    return tuple(grid)


def _vol(dims):
    return ".".join(str(d) for d in dims)


class _Recorder:
    def __init__(self, cfg, comm, stream_gbs, scatter_gbs, grid):
        self.cfg, self.comm, self.stream, self.scatter, self.grid = cfg, comm, stream_gbs, scatter_gbs, grid
        self.results = []
        self.numpy_sec = {}
        self.cores = os.cpu_count() or 1
        self.adjacent = {}  # threads -> triad measured right before the current group of cases (out of cache)
        self.paired = None  # Triad for the paired roofline of cases out of the last-level cache (full runs)
        self.paired_scatter = None  # ScatteredRead measured beside it
        self.paired_min_bytes = 0

    def wanted(self, kernel):
        return self.cfg.kernels is None or kernel in self.cfg.kernels or kernel.split("_numpy")[0] in self.cfg.kernels

    def time(self, case, lat, threads, scaling="weak", numpy=False):
        if not self.wanted(case.kernel):
            return None
        sec, calls = time_call(case.fn, self.comm, min_time=self.cfg.min_time)
        R = self.comm.Get_size()
        sites = case.sites * R
        rec = {
            "kernel": case.kernel,
            "local_volume": _vol(lat.local_dims),
            "global_volume": _vol(lat.dims),
            "precision": lat.precision,
            "threads": threads,
            "ranks": R,
            "process_grid": _vol(lat.grid),
            "scaling": scaling,
            "nvec": case.info.get("nvec", 1),
            "features": case.info.get("features"),
            "mode": case.info.get("mode", "normal"),
            "layout": case.info.get("layout", "site"),
            "link_rows": case.info.get("link_rows"),
            "doubled_links": bool(case.info.get("doubled_links", False)),
            "seconds_per_call": sec,
            "flops_per_site": case.flops_per_site,
            "bytes_per_site": case.bytes_per_site,
            "gflops": None if case.flops_per_site is None else case.flops_per_site * sites / sec / 1e9,
            "gbytes_per_s": case.bytes_per_site * sites / sec / 1e9,
            "roofline_fraction": None,
            "speedup_vs_numpy": None,
            "calls": calls,
            "oversubscribed": R * threads > self.cores,
            "note": case.info.get("note"),
        }
        if not numpy and threads in self.stream:
            rec["roofline_fraction"] = rec["gbytes_per_s"] / self.stream[threads]
            rec["scattered_read_fraction"] = rec["gbytes_per_s"] / self.scatter[threads]
        if not numpy and threads in self.adjacent:
            rec["stream_triad_adjacent_gbytes_per_s"] = self.adjacent[threads]
            rec["roofline_fraction_adjacent"] = rec["gbytes_per_s"] / self.adjacent[threads]
        if not numpy and self.paired is not None and case.bytes_per_site * case.sites >= self.paired_min_bytes:
            self._pair(case, rec, threads, sites)
        if numpy:
            rec["note"] = (rec["note"] or "") + " (numpy, single-threaded BLAS-free einsum)"
        key = (case.numpy_key, _vol(lat.local_dims), lat.precision)
        if numpy:
            self.numpy_sec[key] = sec
        elif case.numpy_key is not None and key in self.numpy_sec:
            rec["speedup_vs_numpy"] = self.numpy_sec[key] / sec
        self.results.append(rec)
        log.info("%-22s %-12s %-6s t=%d r=%d %-5s %-13s %10.4f ms %8.2f GFLOP/s %7.2f GB/s%s%s", rec["kernel"],
                 rec["local_volume"], rec["precision"], threads, R, rec["features"] or f"nv={rec['nvec']}",
                 rec["mode"] + ("/packed" if rec["layout"] == "packed" else "")
                 + ("/2row" if rec["link_rows"] == 2 else ""),
                 sec * 1e3, rec["gflops"] or 0.0, rec["gbytes_per_s"],
                 "" if rec["roofline_fraction"] is None else f" {100 * rec['roofline_fraction']:5.1f}% roof",
                 "" if rec["speedup_vs_numpy"] is None else f" x{rec['speedup_vs_numpy']:.0f} numpy")
        return rec

    def _pair(self, case, rec, threads, sites):
        """The paired roofline of an out-of-cache case: a second timing whose every batch comes right after a
        short triad and a short scattered read on the same threads (the host's bandwidth can change between two
        batches), the kernel's GB/s of each batch over the triad (scattered read) before it, and their medians
        (`roofline_fraction_paired`, `scattered_read_fraction_paired`)."""
        pairs = []

        def before():
            g = self.paired.measure(self.comm, threads, min_time=0.05, batches=2)[0]
            return g, self.paired_scatter.measure(self.comm, threads, min_time=0.05, batches=2)[0]

        time_call(case.fn, self.comm, min_time=self.cfg.min_time, batches=3, pairs=pairs, before_batch=before)
        core.set_num_threads(threads)
        triads, scattered, dts = ([g for (g, _), _ in pairs], [sc for (_, sc), _ in pairs], [dt for _, dt in pairs])
        gbs = [case.bytes_per_site * sites / dt / 1e9 for dt in dts]
        rec["paired_triad"] = [list(p) for p in zip(triads, dts)]
        rec["roofline_fraction_paired"] = float(np.median(np.divide(gbs, triads)))
        rec["paired_scattered_read"] = [list(p) for p in zip(scattered, dts)]
        rec["scattered_read_fraction_paired"] = float(np.median(np.divide(gbs, scattered)))


def _threads_for(cfg, ranks):
    cores = os.cpu_count() or 1
    ts = [t for t in cfg.threads if ranks * t <= max(cores, ranks)]
    return ts or [1]


ADJACENT_TRIAD_SITES = 16 ** 4  # local sites from which the cases get a triad measured right before them


def run_suite(cfg, comm=None):
    if comm is None:
        from mpi4py import MPI
        comm = MPI.COMM_WORLD
    cfg = cfg.resolved()
    t_start = time.time()
    threads_before = core.max_threads()
    try:
        return _run(cfg, comm, t_start)
    finally:
        core.set_num_threads(threads_before)


def _run(cfg, comm, t_start):
    import gaugenet as gn
    R = comm.Get_size()
    grid = process_grid(R)
    cores = os.cpu_count() or 1
    threads = _threads_for(cfg, R)
    notes = []
    if R > cores:
        notes.append(f"{R} ranks oversubscribe the {cores} cores of this machine: timings include time-sharing")
    dropped = [t for t in cfg.threads if t not in threads]
    if dropped:
        notes.append(f"threads per rank {dropped} skipped: {R} ranks x {max(dropped)} threads would oversubscribe "
                     f"{cores} cores")
    log.info("gaugenet bench: %d rank(s), process grid %s, threads per rank %s, %s mode", R, _vol(grid), threads,
             "quick" if cfg.quick else "full")

    # ---- STREAM triad: the roofline, with the same ranks and threads
    abytes = triad_array_bytes(cfg.quick, R)
    stream_meas = {t: [] for t in threads}
    scatter_meas = {t: [] for t in threads}

    def measure_stream():
        scattered = ScatteredRead(abytes)
        for t in threads:
            gbs, _ = stream_triad(comm, t, abytes, min_time=cfg.min_time)
            stream_meas[t].append(gbs)
            sgbs, _ = scattered.measure(comm, t, min_time=cfg.min_time)
            scatter_meas[t].append(sgbs)
            log.info("STREAM triad: %d rank(s) x %d thread(s): %.2f GB/s (arrays of %d MB per rank); scattered "
                     "read %.2f GB/s", R, t, gbs, abytes >> 20, sgbs)

    measure_stream()
    stream_gbs = {t: max(v) for t, v in stream_meas.items()}
    scatter_gbs = {t: max(v) for t, v in scatter_meas.items()}
    rec = _Recorder(cfg, comm, stream_gbs, scatter_gbs, grid)
    if not cfg.quick:  # paired roofline for the cases whose traffic per call is at least 4x the last-level cache
        from .machine import last_level_cache_bytes
        rec.paired = Triad(abytes)
        rec.paired_scatter = ScatteredRead(abytes)
        rec.paired_min_bytes = 4 * last_level_cache_bytes()

    # ---- main loop: local volumes x precisions x threads (weak scaling across runs)
    for dims in cfg.volumes:
        glob = tuple(dims[mu] * grid[mu] for mu in range(4))
        lat = gn.Lattice(glob, mpi=grid, precision="double")
        fields = C.Fields(lat, cfg.N, cfg.seed)
        for prec in cfg.precisions:
            U = fields.gauge(prec)
            cases = C.wilson_cases(fields, U) + C.staggered_cases(U)
            if U.lat.local_volume <= cfg.layer_max_sites:
                cases += C.onehop_cases(U) + C.ptc_cases(U)
            else:  # the PTC 1->1 layer at every volume (the target compares it with the Wilson hop)
                cases += C.ptc_cases(U, features=((1, 1),), numpy=False)
            if cfg.numpy:
                for key, case in C.numpy_cases(U).items():
                    if any(c.numpy_key == key for c in cases):
                        case.numpy_key = key
                        rec.time(case, U.lat, 1, numpy=True)
            for t in threads:
                core.set_num_threads(t)
                if U.lat.local_volume >= ADJACENT_TRIAD_SITES and not cfg.quick:
                    # the host's memory bandwidth can change within a run (this machine: 81 -> 48 GB/s): a triad
                    # right before the out-of-cache cases, recorded beside the run's roofline
                    rec.adjacent = {t: stream_triad(comm, t, abytes, min_time=cfg.min_time)[0]}
                    stream_meas[t].append(rec.adjacent[t])
                for case in cases:
                    rec.time(case, U.lat, t)
                rec.adjacent = {}
            del cases, U
            gc.collect()
        del fields, lat
        gc.collect()

    # ---- side studies at one local volume, double precision, the most threads
    tmax = max(threads)
    core.set_num_threads(tmax)
    dims = cfg.side_volume
    glob = tuple(dims[mu] * grid[mu] for mu in range(4))
    lat = gn.Lattice(glob, mpi=grid, precision="double")
    fields = C.Fields(lat, cfg.N, cfg.seed)
    U = fields.U_d
    for nv in cfg.nvecs:  # many right-hand sides
        for case in C.wilson_cases(fields, U, nvec=nv):
            if case.kernel == "wilson_hop" or nv == 1:
                rec.time(case, lat, tmax)
    latz = lat.like(zero_boundary_links=True)
    Uz = gn.GaugeField(latz, U.data)
    for case in C.wilson_cases(fields, Uz, mode="zero_boundary"):
        rec.time(case, latz, tmax)
    if R > 1:  # halo exchange alone
        psi = gn.FermionField.random(lat, cfg.N, seed=30)
        h = lat.halo(1)
        local = psi.data.reshape(lat.local_volume, -1)
        buf = h.empty_halo(local)
        m0, b0 = h.messages_sent, h.bytes_sent
        h.exchange(local, buf)
        msgs, nbytes = h.messages_sent - m0, h.bytes_sent - b0
        sec, calls = time_call(lambda: h.exchange(local, buf), comm, min_time=cfg.min_time)
        tot_bytes = comm.allreduce(nbytes)
        tot_msgs = comm.allreduce(msgs)
        rec.results.append({
            "kernel": "halo", "local_volume": _vol(lat.local_dims), "global_volume": _vol(lat.dims),
            "precision": "double", "threads": tmax, "ranks": R, "process_grid": _vol(grid), "scaling": "weak",
            "nvec": 1, "features": None, "mode": "normal", "seconds_per_call": sec, "flops_per_site": 0,
            "bytes_per_site": None, "gflops": None, "gbytes_per_s": tot_bytes / sec / 1e9, "roofline_fraction": None,
            "speedup_vs_numpy": None, "calls": calls, "oversubscribed": R * tmax > cores,
            "bytes_per_exchange": tot_bytes, "messages_per_exchange": tot_msgs,
            "note": "depth-1 halo of a Wilson fermion (pack, Isend/Irecv, wait), all ranks; GB/s = bytes sent / time"})
        log.info("halo exchange: %d messages, %.2f MB per exchange (all ranks), %.3f ms", tot_msgs, tot_bytes / 1e6,
                 sec * 1e3)
    else:
        notes.append("halo exchange alone: not measured on one rank (no neighbours); run under mpiexec -n 2 or 4")
    side = C.ptc_cases(U, features=((1, 1),), two_hop=True) + C.ptc_cases(U, features=((1, 1),), local=True)
    side += C.coarse_cases(U) + C.stout_cases(U)
    for case in side:
        rec.time(case, lat, tmax)
    del side, fields, U, Uz
    gc.collect()

    # ---- strong scaling: one global volume over the ranks of this run
    G = cfg.strong_global
    if all(G[mu] % grid[mu] == 0 and (G[mu] // grid[mu]) % 2 == 0 for mu in range(4)):
        lat = gn.Lattice(G, mpi=grid, precision="double")
        fields = C.Fields(lat, cfg.N, cfg.seed)
        for case in C.wilson_cases(fields, fields.U_d):
            rec.time(case, lat, tmax, scaling="strong")
        del fields
        gc.collect()
    else:
        notes.append(f"strong scaling: global volume {_vol(G)} does not split into even local extents over "
                     f"{_vol(grid)}")

    if cfg.end_to_end:
        from . import endtoend
        cores = os.cpu_count() or 1
        t = max(threads)
        core.set_num_threads(t)
        for name, fn in (("fgmres_seed000", lambda: endtoend.multigrid_records(cfg.quick, t, R, cores,
                                                                                cfg.seed000_config)),
                         ("slhmc_cost_per_sample", lambda: endtoend.hmc_records(cfg.quick, t, R, cores))):
            if rec.wanted(name) or (name == "fgmres_seed000" and rec.wanted("multigrid_training_step")) or \
                    (name == "slhmc_cost_per_sample" and rec.wanted("hmc_cost_per_sample")):
                rec.results.extend(fn())
        gc.collect()

    measure_stream()  # again at the end: the roofline is the best of both
    for t in threads:
        stream_gbs[t] = max(stream_meas[t])
        scatter_gbs[t] = max(scatter_meas[t])
    for r in rec.results:
        if r["roofline_fraction"] is not None:
            r["roofline_fraction"] = r["gbytes_per_s"] / stream_gbs[r["threads"]]
            r["scattered_read_fraction"] = r["gbytes_per_s"] / scatter_gbs[r["threads"]]

    for t in threads:  # the roofline itself, as records
        rec.results.insert(0, {
            "kernel": "stream_triad", "local_volume": None, "global_volume": None, "precision": "double",
            "threads": t, "ranks": R, "process_grid": _vol(grid), "scaling": "weak", "nvec": 1, "features": None,
            "mode": "normal", "seconds_per_call": None, "flops_per_site": None, "bytes_per_site": 24,
            "gflops": None, "gbytes_per_s": stream_gbs[t], "roofline_fraction": 1.0, "speedup_vs_numpy": None,
            "calls": len(stream_meas[t]), "oversubscribed": R * t > cores,
            "note": f"best of {len(stream_meas[t])} measurements (start and end of the run, and right before each group of "
                    f"out-of-cache cases), {abytes >> 20} MB arrays "
                    f"per rank"})
    for t in threads:  # the scattered read, as records after the triad's
        rec.results.insert(len(threads), {
            "kernel": "scattered_read", "local_volume": None, "global_volume": None, "precision": "double",
            "threads": t, "ranks": R, "process_grid": _vol(grid), "scaling": "weak", "nvec": 1, "features": None,
            "mode": "normal", "seconds_per_call": None, "flops_per_site": None, "bytes_per_site": 8,
            "gflops": None, "gbytes_per_s": scatter_gbs[t], "roofline_fraction": scatter_gbs[t] / stream_gbs[t],
            "scattered_read_fraction": 1.0, "speedup_vs_numpy": None, "calls": len(scatter_meas[t]),
            "oversubscribed": R * t > cores,
            "note": f"best of {len(scatter_meas[t])} measurements (start and end of the run): {abytes >> 20} MB per "
                    f"rank read in {SCATTER_CHUNK_BYTES}-byte chunks in a random order, software "
                    f"prefetch {SCATTER_PREFETCH} chunks ahead"})
    available = {r["kernel"] for r in rec.results}
    not_available = []
    for kernel, reason in [
        ("ptc_forward", "gaugenet.ml (PTC layer) is not in this build"),
        ("ptc_two_hop_forward", "gaugenet.ml (paths of two hops) is not in this build"),
        ("lptc_forward", "gaugenet.ml (LPTC layer) is not in this build"),
        ("block_project", "gaugenet.coarse (block project/promote) is not in this build"),
        ("coarse_operator", "gaugenet.coarse (coarse operator) is not in this build"),
        ("stout_forward", "gaugenet.gauge.stout is not in this build"),
    ]:
        if kernel not in available and (cfg.kernels is None or kernel in cfg.kernels):
            not_available.append({"kernel": kernel, "reason": reason})
    if not cfg.end_to_end:
        for kernel, what in END_TO_END:
            not_available.append({"kernel": kernel, "reason": f"{what}: not run (end-to-end part switched off)"})
    if "ptc_forward" in available:
        notes.append("ptc_forward/ptc_backward time the gaugenet.ml PTC layer over the one-hop paths (backward = "
                     "projected_gradient_adj: dC/dW and dC/dphi); 'onehop' is the bare core.hop kernel under it")
    elif rec.wanted("ptc_forward"):
        notes.append("the PTC layer itself is not built yet: 'onehop' (core.hop, ns=4, 1->1 and 2->2) is its proxy")
    if any(int(np.prod(d)) > cfg.layer_max_sites for d in cfg.volumes):
        notes.append(f"onehop, PTC 2->2 and the numpy layer reference run up to local volume {cfg.layer_max_sites} sites; "
                     f"PTC 1->1 at every volume (the forward writes into one output buffer, layer(W, phi, out=...), "
                     f"as the Wilson hop does)")
    notes.append("numpy references run single-threaded on the same local volume; speedup_vs_numpy = numpy time / "
                 "kernel time at the same volume and precision")

    report = {
        "gaugenet_bench": 1,
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "command": " ".join(sys.argv),
        "quick": cfg.quick,
        "ranks": R,
        "process_grid": _vol(grid),
        "threads_per_rank": threads,
        "machine": machine_info(),
        "stream_triad_gbytes_per_s": stream_gbs[max(threads)],
        "stream_triad": {str(t): {"gbytes_per_s": stream_gbs[t], "measurements": stream_meas[t],
                                  "array_bytes_per_rank": abytes} for t in threads},
        "scattered_read_gbytes_per_s": scatter_gbs[max(threads)],
        "scattered_read": {str(t): {"gbytes_per_s": scatter_gbs[t], "measurements": scatter_meas[t],
                                    "array_bytes_per_rank": abytes} for t in threads},
        "traffic_model": models.TRAFFIC_MODEL,
        "flop_conventions": models.FLOP_CONVENTIONS,
        "notes": notes,
        "not_available": not_available,
        "results": rec.results,
        "elapsed_s": time.time() - t_start,
    }
    report["targets"] = targets.evaluate(report)
    return report
