"""Krylov solvers on distributed fields: CG, CGNR, BiCGStab, flexible GMRES (one or two reductions per step)."""
from .bicgstab import bicgstab
from .cg import cg
from .cgnr import cgnr
from .fgmres import fgmres
from .result import NotConvergedError, SolverResult

__all__ = ["cg", "cgnr", "bicgstab", "fgmres", "NotConvergedError", "SolverResult"]
