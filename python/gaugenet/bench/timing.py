"""Timing a callable identically on every rank: a warm-up call, then batches of calls; each batch
is timed from a barrier and its time is the slowest rank's; the result is the fastest batch (the
machine is shared, so the minimum is the least disturbed estimate) and the number of calls made."""
import time


def time_call(fn, comm, min_time=0.3, batches=3, max_calls=100000, before_batch=None, pairs=None):
    """(best seconds per call, calls). before_batch: called (on every rank) right before each timed batch;
    with a list `pairs`, (its result, that batch's seconds per call) is appended per batch - at least one
    batch is timed then, even when the warm-up call alone took min_time."""
    fn()
    comm.Barrier()
    t0 = time.perf_counter()
    fn()
    one = comm.allreduce(time.perf_counter() - t0, op=_max())
    per_batch = max(1, min(max_calls, int(min_time / batches / max(one, 1e-9))))
    best = one
    calls = 2
    for _ in range(batches if one < min_time else (1 if pairs is not None else 0)):
        pre = before_batch() if before_batch is not None else None
        comm.Barrier()
        t0 = time.perf_counter()
        for _ in range(per_batch):
            fn()
        dt = comm.allreduce((time.perf_counter() - t0) / per_batch, op=_max())
        best = min(best, dt)
        calls += per_batch
        if pairs is not None:
            pairs.append((pre, dt))
    return best, calls


def _max():
    from mpi4py import MPI
    return MPI.MAX
