"""Coarse grids: blocking (restriction / prolongation), block orthonormalisation, coarse operator."""
from .bf16 import Bf16Basis
from .blocking import Blocking
from .operator import CoarseOperator

__all__ = ["Bf16Basis", "Blocking", "CoarseOperator"]
