"""Lattice geometry, MPI process grid, halo exchange and reproducible random numbers."""
from .grid import DecompositionError, auto_grid, parse_mpi
from .lattice import Lattice

__all__ = ["Lattice", "DecompositionError", "auto_grid", "parse_mpi"]
