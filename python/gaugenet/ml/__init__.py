"""Gauge-equivariant layers with hand-written backprop (seed 000, GPT's gpt.ml conventions).

Layer interface (gaugenet.ml.layer): weights(seed, scale) -> list of arrays; layer(weights, phi) ->
output field; layer.projected_gradient_adj(weights, phi, left) -> [dC/dW..., dC/dphi] for
C = Re <left, layer(weights, phi)>, complex gradients dC/dRe w + i dC/dIm w.
"""
from .layer import Layer, Sequential, quadratic_cost
from .paths import PathSet, one_hop_paths
from .ptc import LPTC, PTC
from .ptc_packed import PackedPTC

__all__ = ["Layer", "Sequential", "quadratic_cost", "PTC", "LPTC", "PackedPTC", "PathSet", "one_hop_paths"]
