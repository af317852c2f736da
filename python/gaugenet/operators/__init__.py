"""Dirac operators on the distributed lattice."""
from .wilson import Wilson, WilsonClover
from .staggered import Staggered
from .evenodd import EvenOdd
from .packed import PackedFermion, PackedWilson

__all__ = ["Wilson", "WilsonClover", "Staggered", "EvenOdd", "PackedWilson", "PackedFermion"]
