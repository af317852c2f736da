"""Lattice geometry and process-grid choice (serial and under MPI)."""
import numpy as np
import pytest

import gaugenet as gn
from gaugenet.lattice.grid import DecompositionError, auto_grid, check_decomposition, parse_mpi

from conftest import NRANKS


def test_auto_grid_prefers_t_then_z():
    assert auto_grid((8, 8, 8, 16), 1) == (1, 1, 1, 1)
    assert auto_grid((8, 8, 8, 16), 2) == (1, 1, 1, 2)
    assert auto_grid((8, 8, 8, 16), 4) == (1, 1, 1, 4)
    assert auto_grid((8, 8, 8, 16), 8) == (1, 1, 2, 4)
    assert auto_grid((8, 8, 8, 8), 4) == (1, 1, 2, 2)
    assert auto_grid((16, 16, 16, 16), 16) == (2, 2, 2, 2)
    assert auto_grid((4, 4, 4, 4), 2) == (1, 1, 1, 2)


def test_auto_grid_error_names_problem():
    with pytest.raises(DecompositionError, match="cannot split lattice 4x4x4x4 over 64 ranks"):
        auto_grid((4, 4, 4, 4), 64)
    with pytest.raises(DecompositionError):
        auto_grid((6, 6, 6, 6), 5)


def test_parse_mpi():
    assert parse_mpi("1.1.2.2") == (1, 1, 2, 2)
    assert parse_mpi("1,2,1,2") == (1, 2, 1, 2)
    assert parse_mpi((2, 1, 1, 1)) == (2, 1, 1, 1)
    with pytest.raises(DecompositionError, match="four positive"):
        parse_mpi("1.2.2")
    with pytest.raises(DecompositionError, match="not of the form"):
        parse_mpi("a.b.c.d")


def test_check_decomposition_messages():
    with pytest.raises(DecompositionError, match="Lz=6 is not divisible by the 4 ranks"):
        check_decomposition((8, 8, 6, 8), (1, 1, 4, 1))
    with pytest.raises(DecompositionError, match="local extent 3 in direction t"):
        check_decomposition((8, 8, 8, 6), (1, 1, 1, 2))
    check_decomposition((8, 8, 8, 16), (1, 1, 2, 4))


@pytest.mark.mpi
def test_bad_lattice_raises_on_every_rank():
    # every rank raises the same error (no rank waits in a collective)
    Lt = 5 if NRANKS == 1 else 10  # 1 rank: odd extent; 2 ranks: odd local extent; 4 ranks: not divisible
    with pytest.raises(DecompositionError, match="not divisible|must be even"):
        gn.Lattice((4, 4, 4, Lt), mpi=(1, 1, 1, NRANKS))
    with pytest.raises(DecompositionError, match="has 3 ranks but the job runs on"):
        gn.Lattice((4, 4, 4, 6), mpi=(1, 1, 1, 3))
    with pytest.raises(DecompositionError, match="four positive extents"):
        gn.Lattice((4, 4, 4))


@pytest.mark.mpi
def test_coordinates_cover_the_lattice():
    lat = gn.Lattice((4, 4, 6, 8) if NRANKS != 4 else (4, 4, 4, 8))
    gi = lat.global_index()
    allidx = np.sort(np.concatenate(lat.cart.allgather(gi)))
    assert np.array_equal(allidx, np.arange(lat.global_volume))
    c = lat.global_coordinates()
    Lx, Ly, Lz, Lt = lat.dims
    assert np.array_equal(gi, c[:, 0] + Lx * (c[:, 1] + Ly * (c[:, 2] + Lz * c[:, 3])))
    # parity is checkerboard and balanced
    assert lat.allreduce(int(lat.parity().sum())) == lat.global_volume // 2


@pytest.mark.mpi
def test_cartesian_rank_order_and_neighbours():
    lat = gn.Lattice((4, 4, 4, 8))
    # MPI Cartesian order: the last grid direction (t) varies fastest
    Px, Py, Pz, Pt = lat.grid
    cx, cy, cz, ct = lat.mpi_coords
    assert lat.rank == ((cx * Py + cy) * Pz + cz) * Pt + ct
    for mu in range(4):
        fwd = lat.cart.Get_coords(lat.neighbour_rank(mu, +1))
        assert fwd[mu] == (lat.mpi_coords[mu] + 1) % lat.grid[mu]


@pytest.mark.mpi
def test_threads_shared_among_the_ranks_of_a_node(monkeypatch):
    """Without OMP_NUM_THREADS the first Lattice gives each rank its node's share of the cores (at least one);
    with it set, or with one rank per node, nothing changes."""
    import os
    from mpi4py import MPI
    from gaugenet._backend import core
    from gaugenet.util import threads
    before = core.max_threads()
    n_local = MPI.COMM_WORLD.Split_type(MPI.COMM_TYPE_SHARED).Get_size()
    try:
        monkeypatch.setattr(threads, "_state", {"done": False, "threads": None})
        monkeypatch.setenv("OMP_NUM_THREADS", "1")
        assert threads.balance_threads(MPI.COMM_WORLD) is None
        monkeypatch.setattr(threads, "_state", {"done": False, "threads": None})
        monkeypatch.delenv("OMP_NUM_THREADS")
        core.set_num_threads(os.cpu_count() or 1)
        n = threads.balance_threads(MPI.COMM_WORLD)
        if n_local == 1:
            assert n is None and core.max_threads() == (os.cpu_count() or 1)
        else:
            want = max(1, min(len(os.sched_getaffinity(0)), (os.cpu_count() or 1) // n_local))
            assert n == want and core.max_threads() == want
        assert threads.balance_threads(MPI.COMM_WORLD) == n  # once per process
    finally:
        core.set_num_threads(before)
