"""Affine coupling layers with checkerboard masks and the normalizing flow built from them.

A coupling layer with parity p splits the sites of a periodic L0 x L1 lattice by (x0 + x1) mod 2: the
"active" sites (parity p) are transformed, the "passive" ones (parity 1 - p) are kept and condition the
transformation (seed 003, "affine/CNN layers"):

    y_P = x_P,      y_A = x_A * exp(s(x_P)) + t(x_P),      log |det dy/dx| = sum_{A} s(x_P)

where (s, t) = CNN(x * mask_P) are the two output channels of a small periodic CNN (gaugenet.flows.cnn)
read on the active sites. The inverse is x_A = (y_A - t(y_P)) * exp(-s(y_P)). Layers alternate the parity,
so two layers move every site. The checkerboard needs even extents; the CNN is translation equivariant
and the masks are invariant under even shifts, so a flow trained on L x L applies to 2L x 2L unchanged.

With z2=True the layer is equivariant under phi -> -phi: the CNN is evaluated on x_P and on -x_P and

    s = (s(x_P) + s(-x_P)) / 2   (even),      t = (t(x_P) - t(-x_P)) / 2   (odd),

so y(-x) = -y(x) and a flow of such layers maps the symmetric prior to a Z2-symmetric model density, like
the phi^4 target (a reverse-KL fit cannot then collapse onto one sign of the magnetisation).

Protocol (gaugenet.ml.layer, on real arrays with a batch axis): a coupling layer maps a field x[b, x0, x1]
to the pair (y, logdet[b]); for the cost C = sum(left_y * y) + sum(left_logdet * logdet),

    projected_gradient_adj(weights, x, (left_y, left_logdet)) -> [dC/dW_0, ..., dC/dx].

`Flow` chains such layers (the flow f: z -> phi with the standard-normal prior r(z)) with the same
protocol: f(weights, z) -> (phi, log det f*(z)), and `inverse`.
"""
import math

import numpy as np

from .cnn import CNN, _check_weights


def check_lattice(shape, who="flow"):
    """(L0, L1) of a batch of fields (batch, L0, L1); both extents even (the checkerboard) and >= 2."""
    if len(shape) != 3:
        raise ValueError(f"{who}: expected fields of shape (batch, L0, L1), got shape {tuple(shape)}")
    l0, l1 = shape[1], shape[2]
    if l0 < 2 or l1 < 2 or l0 % 2 or l1 % 2:
        raise ValueError(f"{who}: the checkerboard masks of the coupling layers need even lattice extents "
                         f"(>= 2), got {l0} x {l1}")
    return l0, l1


_MASKS = {}


def checkerboard(l0, l1, parity):
    """Float mask (L0, L1): 1 on the sites with (x0 + x1) % 2 == parity."""
    key = (l0, l1, parity)
    if key not in _MASKS:
        x0, x1 = np.meshgrid(np.arange(l0), np.arange(l1), indexing="ij")
        m = ((x0 + x1) % 2 == parity).astype(np.float64)
        m.setflags(write=False)
        _MASKS[key] = m
    return _MASKS[key]


class AffineCoupling:
    """One affine coupling layer: sites of parity `parity` are active (module docstring)."""

    def __init__(self, parity, hidden=8, kernel=3, depth=2, z2=False):
        if parity not in (0, 1):
            raise ValueError(f"AffineCoupling: parity must be 0 or 1, got {parity!r}")
        self.parity = parity
        self.z2 = bool(z2)
        self.net = CNN(1, 2, hidden, kernel, depth)

    @property
    def weight_shapes(self):
        return self.net.weight_shapes

    @property
    def n_parameters(self):
        return self.net.n_parameters

    def weights(self, seed=0, scale=1.0):
        return self.net.weights(seed, scale)

    def _masks(self, x):
        l0, l1 = check_lattice(np.shape(x), "AffineCoupling")
        return checkerboard(l0, l1, self.parity), checkerboard(l0, l1, 1 - self.parity)

    def _scale_shift(self, weights, xp):
        """(s, t, trace) of the passive field xp[b, L0, L1]."""
        if not self.z2:
            st, tr = self.net.forward_trace(weights, xp[:, None])
            return st[:, 0], st[:, 1], tr
        b = xp.shape[0]
        st, tr = self.net.forward_trace(weights, np.concatenate([xp, -xp])[:, None])
        return 0.5 * (st[:b, 0] + st[b:, 0]), 0.5 * (st[:b, 1] - st[b:, 1]), tr

    def _scale_shift_backward(self, weights, tr, ds, dt):
        """[dW..., d/dxp] of sum(ds * s + dt * t)."""
        if not self.z2:
            g = self.net.backward(weights, tr, np.stack([ds, dt], axis=1))
            return g[:-1] + [g[-1][:, 0]]
        left = 0.5 * np.concatenate([np.stack([ds, dt], axis=1), np.stack([ds, -dt], axis=1)])
        g = self.net.backward(weights, tr, left)
        b = ds.shape[0]
        return g[:-1] + [g[-1][:b, 0] - g[-1][b:, 0]]

    def forward_trace(self, weights, x):
        x = np.asarray(x, dtype=np.float64)
        ma, mp = self._masks(x)
        s, t, net_trace = self._scale_shift(weights, x * mp)
        es = np.exp(s)
        y = mp * x + ma * (x * es + t)
        logdet = (ma * s).sum(axis=(1, 2))
        return (y, logdet), (x, es, net_trace)

    def backward(self, weights, trace, left):
        x, es, net_trace = trace
        ly, ll = left
        ly = np.asarray(ly, dtype=np.float64)
        ma, mp = checkerboard(x.shape[1], x.shape[2], self.parity), checkerboard(x.shape[1], x.shape[2],
                                                                                  1 - self.parity)
        ll = np.zeros(x.shape[0]) if ll is None else np.asarray(ll, dtype=np.float64).reshape(x.shape[0])
        ds = ma * (ly * x * es + ll[:, None, None])
        dt = ma * ly
        g = self._scale_shift_backward(weights, net_trace, ds, dt)
        dx = mp * ly + ma * ly * es + mp * g[-1]
        return g[:-1] + [dx]

    def __call__(self, weights, x):
        return self.forward_trace(weights, x)[0]

    def projected_gradient_adj(self, weights, x, left):
        weights = _check_weights(weights, self.weight_shapes, "AffineCoupling")
        return self.backward(weights, self.forward_trace(weights, x)[1], left)

    def inverse(self, weights, y):
        """(x, logdet of the forward map at x) with y = layer(x)."""
        y = np.asarray(y, dtype=np.float64)
        ma, mp = self._masks(y)
        s, t, _ = self._scale_shift(weights, y * mp)
        x = mp * y + ma * (y - t) * np.exp(-s)
        return x, (ma * s).sum(axis=(1, 2))


class Flow:
    """f = g_n o ... o g_1 of affine coupling layers with alternating parities (0, 1, 0, ...), acting on
    fields z ~ r(z) = prod_x exp(-z_x^2 / 2) / sqrt(2 pi) (the standard-normal prior).

    f(weights, z) -> (phi, log det f*(z)); the model density is log q(phi) = log r(z) - log det f*(z)."""

    def __init__(self, n_layers=4, hidden=8, kernel=3, depth=2, z2=False):
        if isinstance(n_layers, bool) or not isinstance(n_layers, (int, np.integer)) or n_layers < 1:
            raise ValueError(f"Flow: the number of coupling layers must be an integer >= 1, got {n_layers!r}")
        self.layers = [AffineCoupling(i % 2, hidden, kernel, depth, z2) for i in range(n_layers)]
        self.n_layers, self.hidden, self.kernel, self.depth = int(n_layers), hidden, kernel, depth
        self.z2 = bool(z2)

    @property
    def weight_shapes(self):
        return [s for lay in self.layers for s in lay.weight_shapes]

    @property
    def n_parameters(self):
        return sum(lay.n_parameters for lay in self.layers)

    def weights(self, seed=0, scale=1.0):
        return [w for i, lay in enumerate(self.layers) for w in lay.weights(seed + 1000 * i, scale)]

    def split(self, weights):
        weights = _check_weights(weights, self.weight_shapes, "Flow")
        out, i = [], 0
        for lay in self.layers:
            n = len(lay.weight_shapes)
            out.append(weights[i:i + n])
            i += n
        return out

    def forward_trace(self, weights, z):
        z = np.asarray(z, dtype=np.float64)
        check_lattice(z.shape, "Flow")
        logdet = np.zeros(z.shape[0])
        traces = []
        for lay, w in zip(self.layers, self.split(weights)):
            (z, ld), t = lay.forward_trace(w, z)
            logdet += ld
            traces.append(t)
        return (z, logdet), traces

    def backward(self, weights, traces, left):
        ly, ll = left
        grads = []
        for lay, w, t in reversed(list(zip(self.layers, self.split(weights), traces))):
            g = lay.backward(w, t, (ly, ll))   # every layer's logdet enters the total with weight 1
            grads = g[:-1] + grads
            ly = g[-1]
        return grads + [ly]

    def __call__(self, weights, z):
        return self.forward_trace(weights, z)[0]

    def projected_gradient_adj(self, weights, z, left):
        return self.backward(weights, self.forward_trace(weights, z)[1], left)

    def inverse(self, weights, phi):
        """(z, log det f*(z)) with phi = f(z)."""
        phi = np.asarray(phi, dtype=np.float64)
        check_lattice(phi.shape, "Flow")
        logdet = np.zeros(phi.shape[0])
        for lay, w in reversed(list(zip(self.layers, self.split(weights)))):
            phi, ld = lay.inverse(w, phi)
            logdet += ld
        return phi, logdet

    # ------------------------------------------------------------------ the prior and the model density
    @staticmethod
    def log_prior(z):
        """log r(z) per configuration (standard normal on every site)."""
        z = np.asarray(z)
        n = z[0].size
        return -0.5 * (z * z).sum(axis=(1, 2)) - 0.5 * n * math.log(2.0 * math.pi)

    def sample(self, weights, n, shape, rng):
        """n fields of lattice `shape` (L0, L1) from the model: (phi, log q(phi), z)."""
        z = rng.standard_normal((int(n),) + tuple(shape))
        phi, logdet = self(weights, z)
        return phi, self.log_prior(z) - logdet, z

    def log_density(self, weights, phi):
        """log q(phi) of given fields (through the inverse)."""
        z, logdet = self.inverse(weights, phi)
        return self.log_prior(z) - logdet
