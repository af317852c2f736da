"""Dirac operators on the distributed lattice."""
from .wilson import Wilson, WilsonClover
from .staggered import Staggered
from .evenodd import EvenOdd

__all__ = ["Wilson", "WilsonClover", "Staggered", "EvenOdd"]
