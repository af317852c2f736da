"""gaugenet's link-network core: loops of links, the su(N) exponential and backprop to the links,
compiled (csrc/kernels/loops.h, matfield.h) on the distributed lattice. Used by the stout layers of
self-learning HMC (gauge/stout.py); CASK attention, L-CNN layers and learned flows build on it.
docs/links.md lists what it offers and its conventions.
"""
from .core import LinkField, exp_pullback, exp_update, exp_update_backward, expm, plaquette_force, staples
from .lines import polyakov_backward, polyakov_forward

__all__ = ["LinkField", "staples", "plaquette_force", "expm", "exp_pullback", "exp_update", "exp_update_backward",
           "polyakov_forward", "polyakov_backward"]
