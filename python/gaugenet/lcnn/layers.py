"""L-CNN layers (Favoni, Ipp, Mueller, Schuh, PRL 128 (2022) 032003; seed 001) on gaugenet's link-network core.

Data. A layer acts on a pair (T, W): T a `links.paths.Paths` (the links U and their halo), W a site-major
array (V, C, N, N) of C covariant matrix channels, W_x -> g_x W_x g_x^dag. Only L-Exp changes the links;
Trace turns W into real gauge-invariant scalars (V, n_out) (or (n_out,) after a sum / mean).

Protocol (as gaugenet.ml's layers: weights, forward, hand-written backward):
    weight_shapes                              [(shape, dtype), ...]
    weights(seed=0, scale=1.0)                 -> list of arrays (random initial values)
    forward(weights, T, W, keep=True)          -> (T_out, W_out, ctx)     (ctx None when keep=False)
    vjp(weights, ctx, G, Sigma)                -> (grads, G_in, Sigma_in)
For a real cost C: G is the cotangent of the output, dC = sum_x Re tr(G dW_out) for matrix channels (the
pairing of links/paths.py) and dC = sum G dy for real outputs; Sigma (4, V, N, N) is the link cotangent of the
output links, dC = sum Re tr(dU Sigma) (None: zero). vjp returns the weight gradients in gaugenet.ml's
convention (dC/dRe w + i dC/dIm w for complex weights, dC/dw for real ones, summed over all ranks), the
cotangent G_in of the input channels and the link cotangent Sigma_in of the input links (Sigma accumulated in
place where the layer keeps the links). `T.force(Sigma)` turns it into gauge_force's representation.

Weights: L-Conv and L-Bilin weights are complex (as in the seed's lge-cnn code, where a complex weight can
rotate a channel W into i W, whose trace moves from Re to Im); Trace's read-out and L-Exp's b are real.
"""
import numpy as np

from ..gauge.group import dag, traceless_antihermitian

# the 8 hop directions of L-Conv, in kernel order
DIRECTIONS = tuple((mu, s) for mu in range(4) for s in (1, -1))
PLANES = tuple((mu, nu) for mu in range(4) for nu in range(mu + 1, 4))


def _tr(a):
    return np.trace(a, axis1=-2, axis2=-1)


def _flat(a):
    """(V, C, N, N) -> (V, C, N*N) view."""
    return a.reshape(a.shape[:2] + (-1,))


def _pair_tr(G, X):
    """sum_v tr(G_vi X_vj) for G (V, I, N, N), X (V, J, N, N) -> (I, J) complex."""
    return np.tensordot(_flat(G), _flat(np.swapaxes(X, -1, -2)), axes=([0, 2], [0, 2]))


def _mix(w, X):
    """sum_j w_ij X_vj for w (I, J), X (V, J, N, N) -> (V, I, N, N)."""
    V, J, N, _ = X.shape
    return np.matmul(w, X.reshape(V, J, N * N)).reshape(V, w.shape[0], N, N)


def _complex_init(rng, shape, scale):
    return (scale * (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)) / np.sqrt(2.0)).astype(np.complex128)


def _check_channels(W, c, name):
    if W is None or W.ndim != 4 or W.shape[1] != c:
        got = "no channels" if W is None else f"{W.shape[1] if W.ndim == 4 else W.shape} channels"
        raise ValueError(f"{name}: expects {c} input channels, got {got}")


class Layer:
    """Base of the L-CNN layers. c_in: input channels (None: the layer ignores its input channels);
    c_out: output channels (for Trace: scalar outputs per site)."""
    c_in = None
    c_out = None
    changes_links = False
    scalar_out = False

    @property
    def weight_shapes(self):
        return []

    @property
    def n_weights(self):
        """Number of real parameters (a complex weight counts twice)."""
        return int(sum(np.prod(s) * (2 if np.dtype(d).kind == "c" else 1) for s, d in self.weight_shapes))

    def weights(self, seed=0, scale=1.0):
        return []

    def check(self, weights):
        shapes = self.weight_shapes
        if len(weights) != len(shapes):
            raise ValueError(f"{self.name}: expects {len(shapes)} weight arrays, got {len(weights)}")
        out = []
        for w, (s, d) in zip(weights, shapes):
            w = np.asarray(w)
            if w.shape != tuple(s):
                raise ValueError(f"{self.name}: weight of shape {w.shape}, expected {tuple(s)}")
            out.append(w.astype(d, copy=False))
        return out

    def check_lattice(self, lat):
        """Raise ValueError if the layer cannot act on this lattice."""

    @property
    def name(self):
        return type(self).__name__

    def spec(self):
        """JSON-able description (model_io)."""
        raise NotImplementedError

    def _reduce(self, T, g):
        """Sum of a weight gradient over all ranks."""
        return T.lat.allreduce(g)

    def _no_grads(self):
        """The weight gradients of vjp(..., weight_grads=False): None for every weight array (only the input
        and link cotangents are wanted, e.g. the force of a network action)."""
        return [None] * len(self.weight_shapes)


class Identity(Layer):
    """W -> W (a branch of Parallel that keeps the input channels)."""

    def __init__(self, c):
        self.c_in = self.c_out = int(c)

    def forward(self, weights, T, W, keep=True):
        _check_channels(W, self.c_in, self.name)
        return T, W, (() if keep else None)

    def vjp(self, weights, ctx, G, Sigma, weight_grads=True):
        return [], G, Sigma

    def spec(self):
        return {"type": "Identity", "c": self.c_in}


# ---------------------------------------------------------------------------------------------- sources
class Plaq(Layer):
    """The plaquettes U_{x,mu nu} = U_mu(x) U_nu(x+mu) U_mu(x+nu)^dag U_nu(x)^dag for mu < nu (6 channels, the
    planes in the order (0,1), (0,2), (0,3), (1,2), (1,3), (2,3)) followed by the opposite orientations
    U_{x,nu mu} = U_{x,mu nu}^dag (6 more): 12 channels. The input channels are ignored."""
    c_out = 12

    def forward(self, weights, T, W, keep=True):
        Ps, ctxs = [], []
        for mu, nu in PLANES:
            P, ctx = T.loop([(mu, 1), (nu, 1), (mu, -1), (nu, -1)])
            Ps.append(P)
            ctxs.append(ctx)
        P = np.stack(Ps, axis=1)
        out = np.concatenate([P, dag(P)], axis=1)
        return T, out, ((T, ctxs) if keep else None)

    def vjp(self, weights, ctx, G, Sigma, weight_grads=True):
        T, ctxs = ctx
        if Sigma is None:
            Sigma = T.zeros_sigma()
        for k, c in enumerate(ctxs):     # Re tr(G_k dP) + Re tr(G_(k+6) dP^dag) = Re tr((G_k + G_(k+6)^dag) dP)
            T.path_vjp(c, G[:, k] + dag(G[:, k + 6]), Sigma)
        return [], None, Sigma

    def spec(self):
        return {"type": "Plaq"}


class Poly(Layer):
    """The Polyakov loops P_mu(x) = U_mu(x) U_mu(x+mu) ... U_mu(x+(L_mu-1) mu), mu = 0..3 (4 channels, covariant
    at x since the path wraps the lattice). The input channels are ignored."""
    c_out = 4

    def forward(self, weights, T, W, keep=True):
        Ps, ctxs = [], []
        for mu in range(4):
            P, ctx = T.path([(mu, 1)] * int(T.lat.dims[mu]))
            Ps.append(P)
            ctxs.append(ctx)
        return T, np.stack(Ps, axis=1), ((T, ctxs) if keep else None)

    def vjp(self, weights, ctx, G, Sigma, weight_grads=True):
        T, ctxs = ctx
        if Sigma is None:
            Sigma = T.zeros_sigma()
        for mu, c in enumerate(ctxs):
            T.path_vjp(c, np.ascontiguousarray(G[:, mu]), Sigma)
        return [], None, Sigma

    def spec(self):
        return {"type": "Poly"}


# ---------------------------------------------------------------------------------------------- L-Conv
class LConv(Layer):
    """W'_{x,i} = sum_{j, mu, s, k} w_{i j (mu,s,k)} U_{x -> x + k s mu} W_{x + k s mu, j} U_{x -> x + k s mu}^dag
    (+ b_i 1 with unit=True) for k = 0 .. K-1 straight hops in the 8 directions (mu, s): 1 + 8 (K-1) kernel
    offsets (k = 0 is shared by all directions). The optional unit channel is transported into itself, so its
    kernel collapses to one complex weight b_i per output channel. Weights w (c_out, c_in, 1 + 8 (K-1)) complex,
    offset index 0 for k = 0, then 1 + d (K-1) + (k-1) for direction d of DIRECTIONS."""

    def __init__(self, c_in, c_out, K=2, unit=False):
        self.c_in, self.c_out, self.K, self.unit = int(c_in), int(c_out), int(K), bool(unit)
        if self.c_in < 1 or self.c_out < 1 or self.K < 1:
            raise ValueError(f"LConv: channels and kernel size must be >= 1, got c_in={c_in} c_out={c_out} K={K}")

    @property
    def n_offsets(self):
        return 1 + 8 * (self.K - 1)

    @property
    def weight_shapes(self):
        s = [((self.c_out, self.c_in, self.n_offsets), np.complex128)]
        if self.unit:
            s.append(((self.c_out,), np.complex128))
        return s

    def weights(self, seed=0, scale=1.0):
        rng = np.random.default_rng(seed)
        ws = [_complex_init(rng, (self.c_out, self.c_in, self.n_offsets), scale / np.sqrt(self.c_in * self.n_offsets))]
        if self.unit:
            ws.append(_complex_init(rng, (self.c_out,), 0.1 * scale))
        return ws

    def check_lattice(self, lat):
        for mu in range(4):
            if lat.dims[mu] < 2 * self.K - 1:
                raise ValueError(f"LConv: kernel size K={self.K} spans {2 * self.K - 1} sites along direction {mu} "
                                 f"but the lattice has only {lat.dims[mu]}: the lattice is smaller than the kernel")

    def forward(self, weights, T, W, keep=True):
        ws = self.check(weights)
        w = ws[0]
        _check_channels(W, self.c_in, self.name)
        out = _mix(w[:, :, 0], W)
        outs = {}
        if self.K > 1:
            for d, (mu, s) in enumerate(DIRECTIONS):
                wd = w[:, :, 1 + d * (self.K - 1):1 + (d + 1) * (self.K - 1)]
                if not wd.any() and not keep:            # nothing to add, no gradient to keep
                    continue
                tr = T.transports(W, mu, s, self.K)
                for k in range(1, self.K):
                    out += _mix(wd[:, :, k - 1], tr[k])
                if keep:
                    outs[d] = tr
        if self.unit:
            out += ws[1][None, :, None, None] * np.eye(W.shape[-1])
        return T, out, ((T, W, outs) if keep else None)

    def vjp(self, weights, ctx, G, Sigma, weight_grads=True):
        ws = self.check(weights)
        w = ws[0]
        T, W, outs = ctx
        if Sigma is None:
            Sigma = T.zeros_sigma()
        gw = np.zeros(w.shape, dtype=np.complex128)
        if weight_grads:
            gw[:, :, 0] = np.conj(_pair_tr(G, W))
        GW = _mix(w[:, :, 0].T, G)                      # cotangent of X_j: sum_i w_ij G_i
        if self.K > 1:
            for d, (mu, s) in enumerate(DIRECTIONS):
                tr = outs.get(d)
                if tr is None:                          # direction skipped in forward (all its weights zero)
                    continue
                Gs = [None]
                for k in range(1, self.K):
                    o = 1 + d * (self.K - 1) + k - 1
                    if weight_grads:
                        gw[:, :, o] = np.conj(_pair_tr(G, tr[k]))
                    Gs.append(_mix(w[:, :, o].T, G) if w[:, :, o].any() else None)
                GW += T.transports_vjp(tr, mu, s, Gs, Sigma)
        if not weight_grads:
            return self._no_grads(), GW, Sigma
        grads = [self._reduce(T, gw)]
        if self.unit:
            grads.append(self._reduce(T, np.conj(_tr(G).sum(axis=0))))
        return grads, GW, Sigma

    def spec(self):
        return {"type": "LConv", "c_in": self.c_in, "c_out": self.c_out, "K": self.K, "unit": self.unit}


# ---------------------------------------------------------------------------------------------- L-Bilin
class LBilin(Layer):
    """W''_{x,i} = sum_{j,k} a_{ijk} A_{x,j} B_{x,k}: the input channels are split into a left group (the first
    c_left) and a right group (the next c_right); each group is augmented by its daggers and the unit matrix,
    A = (L_1..L_cl, L_1^dag..L_cl^dag, 1), B likewise. Weights a (c_out, 2 c_left + 1, 2 c_right + 1) complex.
    With a Parallel(LConv, Identity) in front this is the seed's W_conv x W_in product."""

    def __init__(self, c_left, c_right, c_out):
        self.c_left, self.c_right, self.c_out = int(c_left), int(c_right), int(c_out)
        if min(self.c_left, self.c_right, self.c_out) < 1:
            raise ValueError(f"LBilin: channel counts must be >= 1, got {c_left}, {c_right}, {c_out}")
        self.c_in = self.c_left + self.c_right

    @property
    def weight_shapes(self):
        return [((self.c_out, 2 * self.c_left + 1, 2 * self.c_right + 1), np.complex128)]

    def weights(self, seed=0, scale=1.0):
        rng = np.random.default_rng(seed)
        nA, nB = 2 * self.c_left + 1, 2 * self.c_right + 1
        return [_complex_init(rng, (self.c_out, nA, nB), scale / np.sqrt(nA * nB))]

    @staticmethod
    def _augment(X):
        V, c, N, _ = X.shape
        out = np.empty((V, 2 * c + 1, N, N), dtype=np.complex128)
        out[:, :c] = X
        out[:, c:2 * c] = dag(X)
        out[:, 2 * c] = np.eye(N)
        return out

    def forward(self, weights, T, W, keep=True):
        a = self.check(weights)[0]
        _check_channels(W, self.c_in, self.name)
        A = self._augment(W[:, :self.c_left])
        B = self._augment(W[:, self.c_left:])
        V, _, N, _ = W.shape
        out = np.empty((V, self.c_out, N, N), dtype=np.complex128)
        for i in range(self.c_out):                     # one output channel at a time (memory ~ V x 2c x N^2)
            M = _mix(a[i], B)                           # M_j = sum_k a_ijk B_k
            out[:, i] = (A @ M).sum(axis=1)
        return T, out, ((T, A, B) if keep else None)

    def vjp(self, weights, ctx, G, Sigma, weight_grads=True):
        a = self.check(weights)[0]
        T, A, B = ctx
        ga = np.empty(a.shape, dtype=np.complex128)
        GA = np.zeros_like(A)
        GB = np.zeros_like(B)
        for i in range(self.c_out):
            Gi = G[:, i][:, None]                       # (V, 1, N, N)
            GAi = Gi @ A                                # G_i A_j
            if weight_grads:
                ga[i] = np.conj(_pair_tr(GAi, B))       # sum_v tr(G_i A_j B_k)
            GA += _mix(a[i], B) @ Gi                    # d/dA_j: sum_k a_ijk B_k G_i
            GB += _mix(a[i].T, GAi)                     # d/dB_k: sum_j a_ijk G_i A_j
        cl, cr = self.c_left, self.c_right
        GL = GA[:, :cl] + dag(GA[:, cl:2 * cl])
        GR = GB[:, :cr] + dag(GB[:, cr:2 * cr])
        grads = [self._reduce(T, ga)] if weight_grads else self._no_grads()
        return grads, np.concatenate([GL, GR], axis=1), Sigma

    def spec(self):
        return {"type": "LBilin", "c_left": self.c_left, "c_right": self.c_right, "c_out": self.c_out}


# ---------------------------------------------------------------------------------------------- L-Act
class LAct(Layer):
    """W -> nu(Re tr W) W per channel: 'relu' nu(s) = 1 for s > 0 else 0 (W kept where its trace is positive),
    'tanh' nu(s) = tanh(s). No weights."""
    KINDS = ("relu", "tanh")

    def __init__(self, c, kind="relu"):
        if kind not in self.KINDS:
            raise ValueError(f"LAct: unknown activation {kind!r} (known: {', '.join(self.KINDS)})")
        self.c_in = self.c_out = int(c)
        self.kind = kind

    def _nu(self, s):
        if self.kind == "relu":
            return (s > 0).astype(np.float64), np.zeros_like(s)
        t = np.tanh(s)
        return t, 1.0 - t * t

    def forward(self, weights, T, W, keep=True):
        _check_channels(W, self.c_in, self.name)
        nu, _ = self._nu(_tr(W).real)
        return T, nu[..., None, None] * W, ((T, W) if keep else None)

    def vjp(self, weights, ctx, G, Sigma, weight_grads=True):
        T, W = ctx
        nu, dnu = self._nu(_tr(W).real)
        # dC = Re tr(G (nu dW + nu' Re tr(dW) W)) -> G_W = nu G + nu' Re tr(G W) 1
        GW = nu[..., None, None] * G + (dnu * _tr(G @ W).real)[..., None, None] * np.eye(W.shape[-1])
        return [], GW, Sigma

    def spec(self):
        return {"type": "LAct", "c": self.c_in, "kind": self.kind}


# ---------------------------------------------------------------------------------------------- L-Exp
class LExp(Layer):
    """U_mu(x) -> exp(Q_mu(x)) U_mu(x), Q_mu(x) = sum_j b_{mu j} TA(W_{x,j}) (TA: traceless anti-Hermitian part,
    so the links stay in SU(N)); real weights b (4, c). The channels pass through unchanged; later layers see the
    new links. N = 2, 3 (gauge.expderiv)."""
    changes_links = True

    def __init__(self, c):
        self.c_in = self.c_out = int(c)

    @property
    def weight_shapes(self):
        return [((4, self.c_in), np.float64)]

    def weights(self, seed=0, scale=1.0):
        rng = np.random.default_rng(seed)
        return [0.1 * scale * rng.standard_normal((4, self.c_in)) / np.sqrt(self.c_in)]

    def forward(self, weights, T, W, keep=True):
        from ..gauge.expderiv import SUExp
        from ..links.paths import Paths
        b = self.check(weights)[0]
        _check_channels(W, self.c_in, self.name)
        TAW = traceless_antihermitian(W)                               # (V, c, N, N)
        Q = np.einsum("mj,vjab->mvab", b, TAW)
        E = SUExp(Q, derivatives=keep)
        T2 = Paths(lat=T.lat, links=E.exp @ T.U)
        return T2, W, ((T, TAW, E) if keep else None)

    def vjp(self, weights, ctx, G, Sigma, weight_grads=True):
        b = self.check(weights)[0]
        T, TAW, E = ctx
        if Sigma is None:
            return ([np.zeros_like(b)] if weight_grads else self._no_grads()), G, None
        # dC = Re tr(d(E U) Sigma') = Re tr(dE (U Sigma')) + Re tr(dU Sigma' E)
        Gam = E.pullback(T.U @ Sigma)                                  # Re tr(dE M) = tr(dQ Gam)
        Sigma_in = Sigma @ E.exp
        gb = np.einsum("vjab,mvba->mj", TAW, Gam).real                 # tr(TA(W_j) Gam_mu)
        GW = np.einsum("mj,mvab->vjab", b, Gam)                        # Re tr(TA(dW) Gam) = Re tr(Gam dW)
        if G is not None:
            GW = GW + G
        return ([self._reduce(T, gb)] if weight_grads else self._no_grads()), GW, Sigma_in

    def spec(self):
        return {"type": "LExp", "c": self.c_in}


# ---------------------------------------------------------------------------------------------- Trace
class Trace(Layer):
    """y_{x,o} = sum_j (c_{o,j} Re tr W_{x,j} + c_{o,c+j} Im tr W_{x,j}) + bias_o: gauge-invariant scalars per
    site (V, n_out); reduce='sum' or 'mean' gives the lattice sum / mean (n_out,) on every rank. Real weights
    c (n_out, 2 c_in) and bias (n_out,)."""
    scalar_out = True
    REDUCE = (None, "sum", "mean")

    def __init__(self, c, n_out=1, reduce=None):
        if reduce not in self.REDUCE:
            raise ValueError(f"Trace: reduce must be one of none, sum, mean, got {reduce!r}")
        self.c_in, self.c_out, self.reduce = int(c), int(n_out), reduce

    @property
    def weight_shapes(self):
        return [((self.c_out, 2 * self.c_in), np.float64), ((self.c_out,), np.float64)]

    def weights(self, seed=0, scale=1.0):
        rng = np.random.default_rng(seed)
        return [scale * rng.standard_normal((self.c_out, 2 * self.c_in)) / np.sqrt(2 * self.c_in),
                np.zeros(self.c_out)]

    def forward(self, weights, T, W, keep=True):
        c, bias = self.check(weights)
        _check_channels(W, self.c_in, self.name)
        t = _tr(W)
        f = np.concatenate([t.real, t.imag], axis=1)                  # (V, 2c)
        y = f @ c.T + bias
        if self.reduce is not None:
            y = T.lat.allreduce(y.sum(axis=0))
            if self.reduce == "mean":
                y = y / T.lat.global_volume
        return T, y, ((T, f, W.shape) if keep else None)

    def vjp(self, weights, ctx, G, Sigma, weight_grads=True):
        c, bias = self.check(weights)
        T, f, shape = ctx
        G = np.asarray(G, dtype=np.float64)
        if self.reduce is not None:
            scale = 1.0 / T.lat.global_volume if self.reduce == "mean" else 1.0
            G = np.broadcast_to(G * scale, (f.shape[0], self.c_out))
        gc = G.T @ f
        gbias = G.sum(axis=0)
        gf = G @ c                                                    # (V, 2c)
        cin = self.c_in
        gt = gf[:, :cin] - 1j * gf[:, cin:]                           # Re tr(gt 1 dW) = gre Re tr dW + gim Im tr dW
        N = shape[-1]
        GW = gt[..., None, None] * np.eye(N)
        grads = [self._reduce(T, gc), self._reduce(T, gbias)] if weight_grads else self._no_grads()
        return grads, GW, Sigma

    def spec(self):
        return {"type": "Trace", "c": self.c_in, "n_out": self.c_out, "reduce": self.reduce}
