"""gaugenet's STREAM triad (csrc/kernels/stream.h): the bandwidth roofline of the suite, measured in
the same run with the same ranks and threads per rank as the kernels it is compared with."""
import numpy as np

from .._backend import core
from .timing import time_call


def triad_array_bytes(quick=False, ranks=1):
    """Bytes per array and rank: four times the last-level cache over all ranks (STREAM's rule),
    at least 64 MB; 64 MB in quick mode."""
    if quick:
        return 64 << 20
    from .machine import cache_bytes
    llc = max([b for _, b in cache_bytes()] + [32 << 20])
    return max(64 << 20, 4 * llc // ranks)


def stream_triad(comm, threads, array_bytes, min_time=0.3):
    """Aggregate triad bandwidth in GB/s (sum over ranks) with `threads` OpenMP threads per rank."""
    n = array_bytes // 8
    a = np.zeros(n)
    b = np.full(n, 1.0)
    c = np.full(n, 2.0)
    core.set_num_threads(threads)
    core.stream_triad(a, b, c, 3.0)  # first touch of a
    sec, _ = time_call(lambda: core.stream_triad(a, b, c, 3.0), comm, min_time=min_time, batches=5)
    if not np.all(a[:: max(1, n // 97)] == 7.0):
        raise RuntimeError("stream triad produced wrong values")
    per_rank = 24.0 * n / sec
    return comm.allreduce(per_rank) / 1e9, sec
