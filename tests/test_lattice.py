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
