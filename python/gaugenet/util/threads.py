"""OpenMP threads per rank when the user has not chosen any (no OMP_NUM_THREADS).

The OpenMP runtime gives every process as many threads as the node has cores, so `mpirun -n 2` on a 2-core
machine runs 4 threads that busy-wait on each other's cores: measured on the seed-000 multigrid model (8^3 x 16,
2 ranks), the packed smoother took 108 ms per application instead of 1.9 ms, restriction 8.0 ms instead of 0.2 ms.
balance_threads() shares the cores among the ranks of a node (the first Lattice calls it, collectively): cores
available to the process (its affinity mask) over the ranks on the node, at least one. OMP_NUM_THREADS, when set,
always wins, and core.set_num_threads() changes it at any time (the benchmark suite does, per case).
"""
import os

from .log import log

_state = {"done": False, "threads": None}


def balance_threads(comm):
    """Once per process: set the OpenMP threads of this rank to its node's share of the cores, where the
    user set no OMP_NUM_THREADS and more than one rank runs on the node. Collective over comm (the first call
    only). Returns the thread count set, or None where nothing was changed."""
    if _state["done"]:
        return _state["threads"]
    _state["done"] = True
    if "OMP_NUM_THREADS" in os.environ:
        return None
    from mpi4py import MPI
    local = comm.Split_type(MPI.COMM_TYPE_SHARED)
    try:
        n_local = local.Get_size()
    finally:
        local.Free()
    if n_local <= 1:
        return None
    cores = os.cpu_count() or 1
    try:
        mine = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        mine = cores
    n = max(1, min(mine, cores // n_local))
    from .._backend import core
    core.set_num_threads(n)
    _state["threads"] = n
    log.info("OpenMP: %d thread(s) per rank (%d ranks share %d cores on this node; OMP_NUM_THREADS overrides)",
             n, n_local, cores)
    return n
