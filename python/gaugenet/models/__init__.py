"""Models built from gauge-equivariant layers and their training (seed 000): the high-mode, coarse,
smoother and two-level multigrid preconditioners, near-null vectors, Adam, cost functions."""
from .coarse_layer import CoarseLPTC
from .defect_smoother import DefectSmoother
from .features import join_features, split_features
from .multigrid import (CoarseGrid, MultigridModel, PackedMultigridSolver, high_mode_model, near_null_vectors, preconditioner,
                        smoother_initial_weights, smoother_model, wilson_ptc_weights)
from .optim import Adam
from .training import (coarse_batch, high_mode_batch, multigrid_batch, smoother_batch, train)

__all__ = ["CoarseLPTC", "DefectSmoother", "join_features", "split_features", "CoarseGrid", "MultigridModel", "PackedMultigridSolver",
           "high_mode_model", "near_null_vectors", "preconditioner", "smoother_initial_weights", "smoother_model",
           "wilson_ptc_weights", "Adam", "coarse_batch", "high_mode_batch", "multigrid_batch",
           "smoother_batch", "train"]
