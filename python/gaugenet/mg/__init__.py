"""Conventional (non-learned) adaptive aggregation multigrid, beside the learned model of gaugenet.models:
levels (level.py), smoothers (smoothers.py), the K-cycle and the outer FGMRES solve (kcycle.py)."""
from .kcycle import COARSE_SOLVERS, AMGSettings, BlockJacobi, ConventionalMG, KCycle
from .coarse_level import CoarseBlocking, CoarseGridOf, coarse_near_null
from .level import Level, Transfer, cast_operator, three_level, two_level
from .smoothers import SMOOTHERS, GMRESSmoother, MRSmoother, make_smoother

__all__ = ["AMGSettings", "BlockJacobi", "CoarseBlocking", "CoarseGridOf", "coarse_near_null", "three_level", "COARSE_SOLVERS", "ConventionalMG", "GMRESSmoother", "KCycle", "Level", "MRSmoother",
           "SMOOTHERS", "Transfer", "cast_operator", "make_smoother", "two_level"]
