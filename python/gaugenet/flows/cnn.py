"""Small periodic two-dimensional CNNs with hand-written backprop (the scale/shift networks of the
affine coupling layers, gaugenet.flows.coupling).

Every layer follows the three-method protocol of gaugenet.ml.layer on real numpy arrays:

    weights(seed=0, scale=1.0)                  -> list of weight arrays (random initial values)
    __call__(weights, x)                        -> y = L(W, x)
    projected_gradient_adj(weights, x, left)    -> [dC/dW_0, ..., dC/dW_{n-1}, dC/dx]

for the real cost C = sum(left * L(W, x)) (all entries summed), so any cost built on the output chains
through it by passing left = dC/dy. Fields carry a batch axis and a channel axis: x[b, channel, x0, x1].
Every layer is periodic in both lattice directions and translation equivariant, and none depends on the
lattice extent: weights trained on one lattice apply unchanged on any other.

`forward_trace` / `backward` are the same computations split so that a chain of layers evaluates its
forward pass once and keeps what the backward pass needs (the protocol's projected_gradient_adj
recomputes the forward pass, as GPT's does).
"""
import numpy as np


def _check_field(x, n_in, who):
    x = np.asarray(x)
    if x.ndim != 4:
        raise ValueError(f"{who}: expected a field of shape (batch, channels, L0, L1), got shape {x.shape}")
    if x.shape[1] != n_in:
        raise ValueError(f"{who}: expected {n_in} input channel(s), got {x.shape[1]}")
    return x


def _check_weights(weights, shapes, who):
    if not isinstance(weights, (list, tuple)):
        raise TypeError(f"{who}: weights must be a list of arrays (as returned by weights()), "
                        f"got {type(weights).__name__}")
    if len(weights) != len(shapes):
        raise ValueError(f"{who}: expected {len(shapes)} weight array(s), got {len(weights)}")
    for i, (w, s) in enumerate(zip(weights, shapes)):
        if tuple(np.shape(w)) != tuple(s):
            raise ValueError(f"{who}: weight array {i} has shape {tuple(np.shape(w))}, expected {tuple(s)}")
    return list(weights)


class PeriodicConv2d:
    """y[b, o, X] = bias[o] + sum_{i, d} W[o, i, d0, d1] x[b, i, X + d - c]   (c = (k - 1) / 2, periodic).

    Weights: [W of shape (n_out, n_in, k, k), bias of shape (n_out,)]."""

    def __init__(self, n_in, n_out, kernel=3):
        for name, v in (("n_in", n_in), ("n_out", n_out), ("kernel", kernel)):
            if not isinstance(v, (int, np.integer)) or v < 1:
                raise ValueError(f"PeriodicConv2d: {name} must be a positive integer, got {v!r}")
        if kernel % 2 != 1:
            raise ValueError(f"PeriodicConv2d: the kernel size must be odd (a centred stencil), got {kernel}")
        self.n_in, self.n_out, self.kernel = int(n_in), int(n_out), int(kernel)
        c = (self.kernel - 1) // 2
        # np.roll(x, s)[X] = x[X - s]: the tap d reads x[X + d - c], a roll by c - d
        self._shifts = [(c - d0, c - d1) for d0 in range(self.kernel) for d1 in range(self.kernel)]

    @property
    def weight_shapes(self):
        return [(self.n_out, self.n_in, self.kernel, self.kernel), (self.n_out,)]

    @property
    def n_parameters(self):
        return sum(int(np.prod(s)) for s in self.weight_shapes)

    def weights(self, seed=0, scale=1.0):
        """Gaussian weights of standard deviation scale / sqrt(fan-in), bias of standard deviation scale / 10."""
        rng = np.random.default_rng(seed)
        fan_in = self.n_in * self.kernel ** 2
        return [scale * rng.standard_normal(self.weight_shapes[0]) / np.sqrt(fan_in),
                0.1 * scale * rng.standard_normal(self.weight_shapes[1])]

    def _taps(self, x):
        """x at every tap: (batch, n_in * k * k, L0 * L1), ordered (i, d0, d1) like W.reshape(n_out, -1)."""
        b, _, l0, l1 = x.shape
        t = np.stack([np.roll(x, s, axis=(2, 3)) for s in self._shifts], axis=2)
        return t.reshape(b, self.n_in * len(self._shifts), l0 * l1)

    def forward_trace(self, weights, x):
        w, bias = _check_weights(weights, self.weight_shapes, "PeriodicConv2d")
        x = _check_field(x, self.n_in, "PeriodicConv2d")
        taps = self._taps(x)
        y = np.matmul(w.reshape(self.n_out, -1), taps) + bias[None, :, None]
        return y.reshape(x.shape[0], self.n_out, x.shape[2], x.shape[3]), (taps, x.shape)

    def backward(self, weights, trace, left):
        w, _ = weights
        taps, shape = trace
        b, _, l0, l1 = shape
        lf = np.asarray(left).reshape(b, self.n_out, l0 * l1)
        dw = np.tensordot(lf, taps, axes=([0, 2], [0, 2])).reshape(w.shape)
        db = lf.sum(axis=(0, 2))
        dtaps = np.matmul(w.reshape(self.n_out, -1).T, lf).reshape(b, self.n_in, len(self._shifts), l0, l1)
        dx = np.zeros(shape)
        for j, s in enumerate(self._shifts):
            dx += np.roll(dtaps[:, :, j], (-s[0], -s[1]), axis=(2, 3))
        return [dw, db, dx]

    def __call__(self, weights, x):
        return self.forward_trace(weights, x)[0]

    def projected_gradient_adj(self, weights, x, left):
        weights = _check_weights(weights, self.weight_shapes, "PeriodicConv2d")
        return self.backward(weights, self.forward_trace(weights, x)[1], left)


class Tanh:
    """y = tanh(x) elementwise; no weights."""

    def __init__(self, n=1):
        self.n_in = self.n_out = int(n)

    weight_shapes = []
    n_parameters = 0

    def weights(self, seed=0, scale=1.0):
        return []

    def forward_trace(self, weights, x):
        y = np.tanh(x)
        return y, y

    def backward(self, weights, trace, left):
        return [np.asarray(left) * (1.0 - trace * trace)]

    def __call__(self, weights, x):
        return np.tanh(x)

    def projected_gradient_adj(self, weights, x, left):
        return self.backward(weights, np.tanh(x), left)


class Chain:
    """Layers applied one after another (weights concatenated); backprop in reverse order on the traces
    kept by the forward pass."""

    def __init__(self, *layers):
        if not layers:
            raise ValueError("Chain: give at least one layer")
        for i in range(1, len(layers)):
            if layers[i].n_in != layers[i - 1].n_out:
                raise ValueError(f"Chain: layer {i - 1} has {layers[i - 1].n_out} output channels but layer {i} "
                                 f"expects {layers[i].n_in}")
        self.layers = list(layers)
        self.n_in, self.n_out = layers[0].n_in, layers[-1].n_out

    @property
    def weight_shapes(self):
        return [s for lay in self.layers for s in lay.weight_shapes]

    @property
    def n_parameters(self):
        return sum(lay.n_parameters for lay in self.layers)

    def weights(self, seed=0, scale=1.0):
        return [w for i, lay in enumerate(self.layers) for w in lay.weights(seed + i, scale)]

    def split(self, weights):
        weights = _check_weights(weights, self.weight_shapes, type(self).__name__)
        out, i = [], 0
        for lay in self.layers:
            n = len(lay.weight_shapes)
            out.append(weights[i:i + n])
            i += n
        return out

    def forward_trace(self, weights, x):
        traces = []
        for lay, w in zip(self.layers, self.split(weights)):
            x, t = lay.forward_trace(w, x)
            traces.append(t)
        return x, traces

    def backward(self, weights, traces, left):
        grads = []
        for lay, w, t in reversed(list(zip(self.layers, self.split(weights), traces))):
            g = lay.backward(w, t, left)
            grads = g[:-1] + grads
            left = g[-1]
        return grads + [left]

    def __call__(self, weights, x):
        return self.forward_trace(weights, x)[0]

    def projected_gradient_adj(self, weights, x, left):
        return self.backward(weights, self.forward_trace(weights, x)[1], left)


class CNN(Chain):
    """The scale/shift network: periodic conv (n_in -> hidden, k x k), tanh, [conv (hidden -> hidden), tanh]
    x (depth - 2), periodic conv (hidden -> n_out, k x k). depth >= 1 convolutions (depth 1: one linear conv)."""

    def __init__(self, n_in=1, n_out=2, hidden=8, kernel=3, depth=2):
        if not isinstance(depth, (int, np.integer)) or depth < 1:
            raise ValueError(f"CNN: depth (number of convolutions) must be at least 1, got {depth!r}")
        if depth > 1 and (not isinstance(hidden, (int, np.integer)) or hidden < 1):
            raise ValueError(f"CNN: hidden channels must be a positive integer, got {hidden!r}")
        widths = [n_in] + [hidden] * (depth - 1) + [n_out]
        layers = []
        for j in range(depth):
            layers.append(PeriodicConv2d(widths[j], widths[j + 1], kernel))
            if j < depth - 1:
                layers.append(Tanh(widths[j + 1]))
        super().__init__(*layers)
        self.hidden, self.kernel, self.depth = hidden, kernel, depth

    def weights(self, seed=0, scale=1.0):
        """Random weights; the last convolution starts ten times smaller, so that a fresh coupling layer is
        close to the identity."""
        ws = super().weights(seed, scale)
        ws[-2] = ws[-2] * 0.1
        ws[-1] = ws[-1] * 0.1
        return ws
