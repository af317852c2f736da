"""Gauge-covariant link networks for self-learning HMC: a stack of stout layers (gauge/stout.py) and CASK
attention layers (covnet/cask.py) applied in order, with one flat weight vector.

Every layer has the same three pieces: `params` (flat weights, settable), `forward(U) -> (U', ctx)` and
`backward(ctx, F') -> (F, dS/dweights)` with forces in gauge_force's representation. LinkNetwork composes
them like gauge.stout.StoutNetwork (which it generalises: a network of stout layers only gives the same
fields, forces and gradients), so SLHMC's smeared action and its trainer use either without special cases.

Specs (the command line's `--network`, the weight files): "stout" (seed 002: two stout layers),
"cask" (seed 004: one CASK layer with S = 3), or a list such as "stout,cask:2" (layer kinds in order;
cask:S sets the kernel set size).
"""
import numpy as np

from ..gauge.stout import StoutLayer
from .cask import CaskLayer

NETWORKS = ("stout", "cask")


class _Stout:
    """A StoutLayer with the flat-params interface."""

    kind = "stout"
    n_weights = 3

    def __init__(self, weights=None):
        self.layer = StoutLayer()
        if weights is not None:
            self.params = weights

    @property
    def params(self):
        return self.layer.rho.copy()

    @params.setter
    def params(self, values):
        v = np.asarray(values, dtype=np.float64).ravel()
        if v.size != 3 or not np.all(np.isfinite(v)):
            raise ValueError(f"a stout layer needs 3 finite weights (rho_plaq, rho_poly_t, rho_poly_s), got {v.size}")
        self.layer.rho = v.copy()

    def forward(self, U):
        return self.layer.forward(U)

    def backward(self, ctx, force):
        F, g = self.layer.backward(ctx, force)
        return F, np.asarray(g, dtype=np.float64).ravel()

    def spec(self):
        return "stout"


def _layer_from_spec(item):
    item = item.strip()
    name, _, arg = item.partition(":")
    if name == "stout" and not arg:
        return _Stout()
    if name == "cask":
        try:
            S = int(arg) if arg else 3
        except ValueError:
            S = 0
        if S < 1:
            raise ValueError(f"network layer {item!r}: cask:S needs an integer S >= 1")
        layer = CaskLayer(S)
        layer.spec = lambda S=S: f"cask:{S}"
        return layer
    raise ValueError(f"unknown network layer {item!r}; choose from stout, cask, cask:S "
                     f"(or the networks {', '.join(NETWORKS)})")


def parse_spec(spec):
    """Layer list of a network spec: 'stout' = two stout layers (seed 002), 'cask' = one CASK layer with S = 3
    (seed 004), else comma-separated layers."""
    spec = str(spec).strip()
    if spec == "stout":
        return ["stout", "stout"]
    if spec == "cask":
        return ["cask:3"]
    return [s for s in spec.split(",") if s.strip()]


class LinkNetwork:
    """Layers applied in order; forward(U) keeps the contexts, backward(F') returns (F, flat gradient)."""

    def __init__(self, spec="stout", params=None):
        items = parse_spec(spec)
        if not items:
            raise ValueError(f"empty network spec {spec!r}")
        self.layers = [_layer_from_spec(i) for i in items]
        self.spec = ",".join(l.spec() for l in self.layers)
        self.contexts = None
        self.fields = None
        if params is not None:
            self.params = params

    def __len__(self):
        return len(self.layers)

    @property
    def n_weights(self):
        return int(sum(l.n_weights for l in self.layers))

    @property
    def params(self):
        return np.concatenate([l.params for l in self.layers])

    @params.setter
    def params(self, values):
        v = np.asarray(values, dtype=np.float64).ravel()
        if v.size != self.n_weights:
            raise ValueError(f"network {self.spec!r} has {self.n_weights} weights, got {v.size}")
        if not np.all(np.isfinite(v)):
            raise ValueError(f"network {self.spec!r}: the weights must be finite, got {v.tolist()}")
        k = 0
        for l in self.layers:
            l.params = v[k:k + l.n_weights]
            k += l.n_weights

    def __call__(self, U):
        for l in self.layers:
            U = l.forward(U)[0]
        return U

    def forward(self, U):
        self.fields, self.contexts = [U], []
        for l in self.layers:
            U, ctx = l.forward(U)
            self.contexts.append(ctx)
            self.fields.append(U)
        return U

    def backward(self, force):
        if self.contexts is None:
            raise RuntimeError("LinkNetwork.backward: call forward(U) first")
        grads = []
        F = force
        for l, ctx in zip(reversed(self.layers), reversed(self.contexts)):
            F, g = l.backward(ctx, F)
            grads.append(g)
        return F, np.concatenate(list(reversed(grads)))
