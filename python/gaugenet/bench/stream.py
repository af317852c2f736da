"""gaugenet's STREAM triad (csrc/kernels/stream.h): the bandwidth roofline of the suite, measured in
the same run with the same ranks and threads per rank as the kernels it is compared with; and the
scattered read, the bandwidth of a read in chunks at scattered addresses with software prefetch (the
ceiling of a stencil whose neighbours the hardware prefetchers cannot follow)."""
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


SCATTER_CHUNK_BYTES = 1536  # one packed double spinor block (8 sites x 12 complex): 24 cache lines
SCATTER_PREFETCH = 4        # chunks ahead, as the packed Wilson kernel prefetches blocks


class ScatteredRead:
    """An array of `array_bytes` per rank read once per call in chunks of `chunk_bytes`, visited in a fixed
    random order, each chunk software-prefetched `prefetch` chunks ahead, with next to no arithmetic
    (core.scattered_read). Counted traffic: the array's bytes. On a core whose hardware prefetchers follow
    only sequential streams this is what software prefetch can pull from memory: the pace of a stencil
    kernel's neighbour blocks, beside the triad's pace of plain streams."""

    def __init__(self, array_bytes, chunk_bytes=SCATTER_CHUNK_BYTES, prefetch=SCATTER_PREFETCH, seed=20261201):
        if chunk_bytes <= 0 or chunk_bytes % 256:
            raise ValueError(f"ScatteredRead: chunk_bytes must be a positive multiple of 256, got {chunk_bytes}")
        self.chunk = chunk_bytes // 8
        nchunks = array_bytes // chunk_bytes
        if nchunks < 1:
            raise ValueError(f"ScatteredRead: array_bytes ({array_bytes}) is smaller than one chunk ({chunk_bytes})")
        self.a = np.ones(nchunks * self.chunk)
        self.order = np.random.default_rng(seed).permutation(nchunks).astype(np.int64)
        self.prefetch = prefetch
        self.chunk_bytes = chunk_bytes

    def _call(self):
        return core.scattered_read(self.a, self.order, self.chunk, self.prefetch)

    def measure(self, comm, threads, min_time=0.3, batches=5):
        """Aggregate bandwidth in GB/s (sum over ranks) with `threads` OpenMP threads per rank, and the
        seconds per call."""
        core.set_num_threads(threads)
        total = self._call()
        if total != float(self.a.size):  # a sum of ones in any order is exact
            raise RuntimeError(f"scattered read summed {total}, expected {self.a.size}")
        sec, _ = time_call(self._call, comm, min_time=min_time, batches=batches)
        return comm.allreduce(8.0 * self.a.size / sec) / 1e9, sec
