"""Coarse grids: blocking (restriction / prolongation), block orthonormalisation, coarse operator."""
from .blocking import Blocking
from .operator import CoarseOperator

__all__ = ["Blocking", "CoarseOperator"]
