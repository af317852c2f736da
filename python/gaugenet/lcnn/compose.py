"""Composition of L-CNN layers (Sequence, Parallel) and the model-level calls (apply, predict, gradients).

Both containers follow the layer protocol of lcnn/layers.py, so they nest. A model is a Sequence whose first
layer is a source (Plaq, Poly, or a Parallel of sources: the input channels of a model are empty) and whose
last layer is usually a Trace; `Sequence.N` records the gauge group the weights were trained for.
"""
import numpy as np

from ..links.paths import Paths
from .layers import Layer


def _check_weights_list(layers, weights, name):
    n = sum(len(lay.weight_shapes) for lay in layers)
    if len(weights) != n:
        raise ValueError(f"{name}: expects {n} weight arrays, got {len(weights)}")
    out, i = [], 0
    for lay in layers:
        k = len(lay.weight_shapes)
        out.append(list(weights[i:i + k]))
        i += k
    return out


class Sequence(Layer):
    """Layers applied one after the other; the weight list is the concatenation of the layers' lists."""

    def __init__(self, *layers, N=None):
        if not layers:
            raise ValueError("Sequence: give at least one layer")
        for i, lay in enumerate(layers):
            if not isinstance(lay, Layer):
                raise ValueError(f"Sequence: element {i} is not an L-CNN layer: {lay!r}")
            if i + 1 < len(layers) and lay.scalar_out:
                raise ValueError(f"Sequence: layer {i} ({lay.name}) gives gauge-invariant scalars; "
                                 f"no layer can follow it (it must be the last)")
            if i > 0 and lay.c_in is not None and lay.c_in != layers[i - 1].c_out:
                raise ValueError(f"channel mismatch between layers: layer {i} ({lay.name}) expects {lay.c_in} input "
                                 f"channels but layer {i - 1} ({layers[i - 1].name}) gives {layers[i - 1].c_out}")
        self.layers = list(layers)
        self.c_in, self.c_out = layers[0].c_in, layers[-1].c_out
        self.changes_links = any(lay.changes_links for lay in layers)
        self.scalar_out = layers[-1].scalar_out
        self.N = None if N is None else int(N)

    @property
    def weight_shapes(self):
        return [s for lay in self.layers for s in lay.weight_shapes]

    def weights(self, seed=0, scale=1.0):
        return [w for i, lay in enumerate(self.layers) for w in lay.weights(seed + 101 * i, scale)]

    def check_lattice(self, lat):
        for lay in self.layers:
            lay.check_lattice(lat)

    def forward(self, weights, T, W, keep=True):
        ctxs = []
        for lay, w in zip(self.layers, _check_weights_list(self.layers, weights, self.name)):
            T, W, c = lay.forward(w, T, W, keep)
            ctxs.append(c)
        return T, W, (ctxs if keep else None)

    def vjp(self, weights, ctx, G, Sigma, weight_grads=True):
        ws = _check_weights_list(self.layers, weights, self.name)
        grads = []
        for lay, w, c in reversed(list(zip(self.layers, ws, ctx))):
            g, G, Sigma = lay.vjp(w, c, G, Sigma, weight_grads)
            grads = list(g) + grads
        return grads, G, Sigma

    def spec(self):
        d = {"type": "Sequence", "layers": [lay.spec() for lay in self.layers]}
        if self.N is not None:
            d["N"] = self.N
        return d


class Parallel(Layer):
    """Branches applied to the same input; their output channels are concatenated in order. Branches may not
    change the links (L-Exp) or end in a Trace."""

    def __init__(self, *branches):
        if not branches:
            raise ValueError("Parallel: give at least one branch")
        cins = {b.c_in for b in branches if b.c_in is not None}
        if len(cins) > 1:
            raise ValueError(f"channel mismatch between layers: the branches of Parallel expect different input "
                             f"channels {sorted(cins)}")
        for i, b in enumerate(branches):
            if not isinstance(b, Layer):
                raise ValueError(f"Parallel: branch {i} is not an L-CNN layer: {b!r}")
            if b.changes_links or b.scalar_out:
                raise ValueError(f"Parallel: branch {i} ({b.name}) changes the links or gives scalars; "
                                 f"only matrix-channel layers can run in parallel")
        self.branches = list(branches)
        self.c_in = cins.pop() if cins else None
        self.c_out = sum(b.c_out for b in branches)

    @property
    def weight_shapes(self):
        return [s for b in self.branches for s in b.weight_shapes]

    def weights(self, seed=0, scale=1.0):
        return [w for i, b in enumerate(self.branches) for w in b.weights(seed + 37 * i, scale)]

    def check_lattice(self, lat):
        for b in self.branches:
            b.check_lattice(lat)

    def forward(self, weights, T, W, keep=True):
        outs, ctxs = [], []
        for b, w in zip(self.branches, _check_weights_list(self.branches, weights, self.name)):
            _, o, c = b.forward(w, T, W, keep)
            outs.append(o)
            ctxs.append(c)
        return T, np.concatenate(outs, axis=1), (ctxs if keep else None)

    def vjp(self, weights, ctx, G, Sigma, weight_grads=True):
        ws = _check_weights_list(self.branches, weights, self.name)
        grads, Gin, i = [], None, 0
        for b, w, c in zip(self.branches, ws, ctx):
            g, gi, Sigma = b.vjp(w, c, G[:, i:i + b.c_out], Sigma, weight_grads)
            i += b.c_out
            grads += list(g)
            if gi is not None:
                Gin = gi if Gin is None else Gin + gi
        return grads, Gin, Sigma

    def spec(self):
        return {"type": "Parallel", "branches": [b.spec() for b in self.branches]}


# ---------------------------------------------------------------------------------------------- model calls
def _paths(model, U):
    """Paths of a GaugeField after the model's checks (gauge group, lattice size, source first)."""
    if getattr(model, "c_in", None) is not None:
        raise ValueError(f"the first layer of an L-CNN model must be a source of channels (Plaq, Poly), "
                         f"got {type(model).__name__} expecting {model.c_in} input channels")
    N = getattr(model, "N", None)
    if N is not None and U.N != N:
        raise ValueError(f"the model was made for SU({N}) but the gauge field is SU({U.N})")
    model.check_lattice(U.lat)
    return Paths(U)


def apply(model, weights, U, keep=False):
    """(T_out, y, ctx, T_in) of the model on the GaugeField U."""
    T = _paths(model, U)
    T2, y, ctx = model.forward(weights, T, None, keep)
    return T2, y, ctx, T


def predict(model, weights, U):
    """The model's per-site scalar output as a global numpy array (Lt, Lz, Ly, Lx) on every rank
    ((Lt, Lz, Ly, Lx, n_out) for several outputs)."""
    if not model.scalar_out:
        raise ValueError("predict: the model does not end in a Trace layer (no scalar output per site)")
    _, y, _, T = apply(model, weights, U)
    if np.ndim(y) == 1:
        raise ValueError("predict: the model's Trace reduces over the lattice (reduce = sum/mean); "
                         "it has no output per site")
    lat = U.lat
    y = y.reshape(tuple(lat.local_shape) + ((y.shape[1],) if y.shape[1] > 1 else ()))
    return lat.gather_global(y)


def value_and_grads(model, weights, U, G_of_y, weight_grads=True):
    """(y, grads, link force): y the model output, G_of_y(y) the cotangent of the cost with respect to y;
    grads the weight gradients (summed over ranks; None entries with weight_grads=False, when only the force is
    wanted), force = T.force(Sigma) in gauge_force's representation (dC/dt = 2 sum tr(X F) for U -> exp(t X) U)."""
    T2, y, ctx, T = apply(model, weights, U, keep=True)
    grads, _, Sigma = model.vjp(weights, ctx, G_of_y(y), None, weight_grads)
    F = T.force(Sigma) if Sigma is not None else np.zeros_like(T.U)
    return y, grads, F


def n_weights(model):
    """Number of real parameters."""
    return model.n_weights
