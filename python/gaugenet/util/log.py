"""Logging on rank 0 only; errors reported by every rank with its rank number."""
import logging
import sys
import time

log = logging.getLogger("gaugenet")
ABORT_GRACE_SECONDS = 0.5     # between the error message of a failing rank and its MPI_Abort (see fail)


def world_rank():
    try:
        from mpi4py import MPI
        return MPI.COMM_WORLD.Get_rank()
    except Exception:  # pragma: no cover
        return 0


def configure_logging(verbose=False):
    rank = world_rank()
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("%(asctime)s gaugenet %(levelname)s: %(message)s", "%H:%M:%S"))
    log.handlers[:] = [handler]
    log.propagate = False
    log.setLevel(logging.DEBUG if verbose else logging.INFO)
    if rank != 0:
        log.setLevel(logging.ERROR)


def fail(exc):
    """Report an exception on this rank (stderr) and return the exit status 1.

    Errors raised identically on every rank (decomposition errors, collective checks: they carry
    `collective = True`) let every rank exit by itself; any other error on a multi-rank job aborts
    the whole job so that the other ranks never hang in a collective."""
    print(f"gaugenet error [rank {world_rank()}]: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
    try:
        from mpi4py import MPI
        if MPI.COMM_WORLD.Get_size() > 1 and not getattr(exc, "collective", False):
            sys.stderr.flush()
            # the launcher forwards stderr through a pipe: give it a moment to pass the message on before
            # MPI_Abort makes it kill every process (an immediate abort could lose the one line that says why)
            time.sleep(ABORT_GRACE_SECONDS)
            MPI.COMM_WORLD.Abort(1)
    except ImportError:  # pragma: no cover
        pass
    return 1
