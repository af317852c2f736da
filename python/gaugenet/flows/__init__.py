"""Normalizing flows and trivializing maps (seed 003). So far the scalar reference: two-dimensional phi^4
with affine coupling layers on checkerboard masks, periodic CNNs with hand-written backprop, reverse-KL
training, ESS, reweighting and an independence Metropolis sampler (docs/flows.md)."""
from .cnn import CNN, Chain, PeriodicConv2d, Tanh
from .coupling import AffineCoupling, Flow, check_lattice, checkerboard
from .phi4 import LocalMetropolis, Phi4, make_theory, primary_series
from .sampler import ess, ess_with_error, gamma_error, independence_metropolis, measure_chain, reweight
from .train import kl_cost, train

__all__ = ["CNN", "Chain", "PeriodicConv2d", "Tanh", "AffineCoupling", "Flow", "check_lattice", "checkerboard",
           "LocalMetropolis", "Phi4", "make_theory", "primary_series", "ess", "ess_with_error", "gamma_error",
           "independence_metropolis", "measure_chain", "reweight", "kl_cost", "train"]
