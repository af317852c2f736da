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
    from .machine import last_level_cache_bytes
    llc = last_level_cache_bytes()
    return max(64 << 20, 4 * llc // ranks)


class Triad:
    """The triad's three arrays (bytes per array and rank), allocated and first touched once, so that it
    can be measured again and again in a run (e.g. right before each timed batch of a kernel)."""

    def __init__(self, array_bytes):
        n = array_bytes // 8
        self.n = n
        self.a = np.zeros(n)
        self.b = np.full(n, 1.0)
        self.c = np.full(n, 2.0)

    def _call(self):
        core.stream_triad(self.a, self.b, self.c, 3.0)

    def measure(self, comm, threads, min_time=0.3, batches=5):
        """Aggregate triad bandwidth in GB/s (sum over ranks) with `threads` OpenMP threads per rank."""
        core.set_num_threads(threads)
        self._call()  # first touch of a (and warm-up)
        sec, _ = time_call(self._call, comm, min_time=min_time, batches=batches)
        n = self.n
        if not np.all(self.a[:: max(1, n // 97)] == 7.0):
            raise RuntimeError("stream triad produced wrong values")
        return comm.allreduce(24.0 * n / sec) / 1e9, sec


def stream_triad(comm, threads, array_bytes, min_time=0.3):
    """Aggregate triad bandwidth in GB/s (sum over ranks) with `threads` OpenMP threads per rank, on
    freshly allocated arrays: (GB/s, seconds per call)."""
    return Triad(array_bytes).measure(comm, threads, min_time=min_time)
