"""Dirac operators on the distributed lattice."""
from .wilson import Wilson, WilsonClover

__all__ = ["Wilson", "WilsonClover"]
