"""Lattice gauge equivariant CNNs (L-CNN, seed 001): layers on covariant matrix fields W_x -> g_x W_x g_x^dag with
hand-written vector-Jacobian products to the weights, the input channels and the links, built on the
link-network core gaugenet.links.paths (docs/lcnn.md)."""
from .compose import Parallel, Sequence, apply, predict, value_and_grads
from .layers import LAct, LBilin, LConv, LExp, Identity, Plaq, Poly, Trace
from .model_io import from_spec, load_model, parse_network, save_model

__all__ = ["Plaq", "Poly", "LConv", "LBilin", "LAct", "LExp", "Trace", "Identity", "Sequence", "Parallel",
           "apply", "predict", "value_and_grads", "save_model", "load_model", "parse_network", "from_spec"]
