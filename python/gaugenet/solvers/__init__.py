"""Krylov solvers on distributed fields: CG, BiCGStab, flexible GMRES (one or two reductions per step)."""
from .bicgstab import bicgstab
from .cg import cg
from .fgmres import fgmres
from .result import NotConvergedError, SolverResult

__all__ = ["cg", "bicgstab", "fgmres", "NotConvergedError", "SolverResult"]
