"""Learned gradient flows for SU(N) gauge fields with exact Jacobians (seed 003, after Bacchio et al. 2022):
Wilson-loop actions and their force and Laplacian (loops.py), Lüscher's third-order Lie-group integrator with
the log-determinant along the flow (integrate.py), the t-expansion of the coefficients and the target/ESS
(model.py), flow HMC, the independence Metropolis sampler and the exact 2D torus plaquette (hmc.py).
docs/flows.md, section "Gauge fields"."""
from .integrate import integrate, invert, rk3_step
from .loops import DEFAULT_LOOPS, LoopEvaluation, LoopSet, parse_loop, per_slice
from .hmc import (FlowHMC, FlowedAction, PlaneWilsonAction, exact_plaquette_2d, flowed_action_and_force,
                  independence_sampler, run_flow_hmc)

__all__ = ["integrate", "invert", "rk3_step", "DEFAULT_LOOPS", "LoopEvaluation", "LoopSet", "parse_loop",
           "per_slice", "FlowHMC", "FlowedAction", "PlaneWilsonAction", "exact_plaquette_2d",
           "flowed_action_and_force", "independence_sampler", "run_flow_hmc"]
