"""The layer interface (as in GPT's gpt.ml) and a chain of layers.

A layer is three methods:
    weights(seed=0, scale=1.0)                  -> list of weight arrays (random initial values)
    __call__(weights, phi)                      -> the output field psi = L(W, phi)
    projected_gradient_adj(weights, phi, left)  -> [dC/dW_0, ..., dC/dW_{n-1}, dC/dphi]
for the real cost C = Re <left, L(W, phi)>, <a, b> = sum over sites, spins, colours, features and
right-hand sides of conj(a) b. Every gradient of a real function C of a complex variable z is
dC/dRe z + i dC/dIm z (= 2 dC/dz*, shared/CONVENTIONS.md). With it the first-order change of C is
Re sum conj(grad) dz, and for a linear layer dC/dphi = L^dag left. Any cost built from the output
chains through it: for C = |L(W, phi) - target|^2 one passes left = 2 (L(W, phi) - target).
"""
from .parameters import check_weights


class Layer:
    """Base class: subclasses define n_in, n_out, weight_shapes, weights, __call__, projected_gradient_adj."""

    n_in = 1
    n_out = 1

    @property
    def weight_shapes(self):
        raise NotImplementedError

    @property
    def n_weights(self):
        return len(self.weight_shapes)

    def weights(self, seed=0, scale=1.0):
        raise NotImplementedError

    def check(self, weights):
        return check_weights(weights, self.weight_shapes, type(self).__name__)

    def __call__(self, weights, phi):
        raise NotImplementedError

    def projected_gradient_adj(self, weights, phi, left):
        raise NotImplementedError


class Sequential(Layer):
    """Layers applied one after the other: L = L_k ... L_2 L_1. The weight list is the concatenation
    of the layers' lists; backprop runs the layers' projected_gradient_adj in reverse order, each on
    the input its layer saw in the forward pass."""

    def __init__(self, *layers):
        if not layers:
            raise ValueError("Sequential: give at least one layer")
        for i in range(1, len(layers)):
            if layers[i].n_in != layers[i - 1].n_out:
                raise ValueError(f"Sequential: layer {i - 1} has {layers[i - 1].n_out} output features but "
                                 f"layer {i} expects {layers[i].n_in} input features")
        self.layers = list(layers)
        self.n_in, self.n_out = layers[0].n_in, layers[-1].n_out

    @property
    def weight_shapes(self):
        return [s for lay in self.layers for s in lay.weight_shapes]

    def weights(self, seed=0, scale=1.0):
        """Each layer's weights(seed + i, scale), concatenated."""
        return [w for i, lay in enumerate(self.layers) for w in lay.weights(seed + i, scale)]

    def _split(self, weights):
        weights = self.check(weights)
        out, i = [], 0
        for lay in self.layers:
            out.append(weights[i:i + lay.n_weights])
            i += lay.n_weights
        return out

    def __call__(self, weights, phi):
        for lay, w in zip(self.layers, self._split(weights)):
            phi = lay(w, phi)
        return phi

    def projected_gradient_adj(self, weights, phi, left):
        ws = self._split(weights)
        inputs = []
        for lay, w in zip(self.layers, ws):
            inputs.append(phi)
            phi = lay(w, phi)
        grads = []
        for lay, w, x in reversed(list(zip(self.layers, ws, inputs))):
            g = lay.projected_gradient_adj(w, x, left)
            grads = g[:-1] + grads
            left = g[-1]
        return grads + [left]


def quadratic_cost(layer, weights, phi, target):
    """C = |L(W, phi) - target|^2 and its gradients [dC/dW..., dC/dphi] (GPT's model.cost())."""
    out = layer(weights, phi)
    delta = out - target
    return delta.norm2(), layer.projected_gradient_adj(weights, phi, delta * 2.0)
