"""Products of links along arbitrary lattice paths and covariant transport of matrix fields, with their
vector-Jacobian products down to the links: the general part of gaugenet's link-network core.

The stout network's plaquette staples have dedicated compiled kernels (links/core.py); everything else that
builds loops or moves matrix fields (CASK's rectangle staples, the L-CNN's L-Conv, the Wilson-loop
actions of learned flows and improved gauge actions, Wilson loops as regression targets) goes through
this module. Every step is one one-hop shift (the lattice's depth-1 halo: compiled gather plus the
halo exchange of lattice/halo.py on a process grid) and one batched matrix product, so any path works on
any process grid with results independent of it.

Conventions.
- A hop is (mu, s) with s = +1 or -1. Its link at x is H_(mu,+)(x) = U_mu(x) and H_(mu,-)(x) = U_mu(x-mu)^dag,
  so the product along a path from x, P(x) = H_1(x) H_2(x + h_1) ... H_n(x + h_1 + ... + h_(n-1)), transforms
  as P(x) -> g(x) P(x) g(x + d)^dag (d the path's displacement), and a closed path gives a loop at x.
- Cotangents (vector-Jacobian products) use the pairing <G, dA> = sum_x Re tr(G(x) dA(x)): a scalar L with
  dL = sum Re tr(G dP) has, for the links, dL = sum_{x,mu} Re tr(dU_mu(x) Sigma_mu(x)) with Sigma (4, V, N, N)
  accumulated by the `*_vjp` methods. `force(Sigma)` turns Sigma into gaugenet's force representation
  (gauge.action.gauge_force: dL/dt = 2 sum tr(X F) for U -> exp(t X) U): F = TA(U Sigma) / 2.
- Matrix fields are site-major arrays (V, ..., N, N) (any number of channel axes between the site and the
  matrix axes), transforming as W(x) -> g(x) W(x) g(x)^dag. The covariant one-hop transport along (mu, s) is
  T W(x) = H(x) W(x + h) H(x)^dag.

Compiled kernels (csrc/kernels/transport.h, docs/links.md). Path steps, transports and link transports, with
their VJPs, run on compiled site kernels when the built module has them (`Paths.compiled`, True then): the hop
links H of all eight hops are kept as one site-major field (V, 8, N, N) with its halo, every kernel reads only
one-hop neighbours, and the VJPs accumulate a hop-link cotangent (V, 8, N, N) that one last kernel turns into the
link cotangent Sigma. Setting `compiled = False` on an instance (or the class) runs the NumPy bodies, kept as
the reference the tests compare against (tests/test_link_paths.py, 1e-13).
"""
import numpy as np

from .._backend import core, to_host
from ..gauge.group import dag, traceless_antihermitian

_KERNELS = ("transport_forward", "transport_back_push", "transport_back_pull", "hop_sigma")
HAVE_KERNELS = all(hasattr(core, f) for f in _KERNELS)


def _hop_index(nu, s):
    """Index of the hop (nu, s) in the hop-link field: 2 nu + (s < 0), the neighbour table's column of x + h."""
    return 2 * nu + (1 if s < 0 else 0)


def _hops(path):
    out = []
    for h in path:
        mu, s = int(h[0]), int(h[1])
        if mu not in (0, 1, 2, 3) or s not in (1, -1):
            raise ValueError(f"a hop is (mu, sign) with mu in 0..3 and sign +1 or -1, got {tuple(h)!r}")
        out.append((mu, s))
    if not out:
        raise ValueError("a path needs at least one hop")
    return out


def _mid(H, A):
    """H (V, N, N) broadcast against A (V, ..., N, N)."""
    return H.reshape(H.shape[:1] + (1,) * (A.ndim - 3) + H.shape[1:])


class Paths:
    """Path products and transports over the links of one gauge field.

    U: a GaugeField, or lat with a (4, V, N, N) array `links` (host memory, complex).
    `compiled`: use the compiled kernels (default: when the module has them); False gives the NumPy reference."""

    compiled = HAVE_KERNELS

    def __init__(self, U=None, lat=None, links=None):
        if U is not None:
            lat, links = U.lat, U.sites()
        if lat is None or links is None:
            raise ValueError("Paths: give a GaugeField, or lat and a (4, V, N, N) array of links")
        L = np.ascontiguousarray(to_host(links), dtype=np.complex128)
        V = lat.local_volume
        if L.ndim != 4 or L.shape[:2] != (4, V) or L.shape[2] != L.shape[3]:
            raise ValueError(f"Paths: links of shape {L.shape}, need (4, {V}, N, N)")
        self.lat, self.U, self.N, self.V = lat, L, L.shape[-1], V
        self.halo = lat.halo(1)
        self._back = {}
        self._hops_field = None
        self._chans = {}

    # ------------------------------------------------------------------ basics
    def shift(self, a, mu, s):
        """a(x + s mu) for a site-major array (V, ...)."""
        return self.halo.shift(np.ascontiguousarray(a), mu, s)

    def hop_link(self, mu, s):
        """H_(mu,s)(x): U_mu(x) for s = +1, U_mu(x - mu)^dag for s = -1 (cached)."""
        if s > 0:
            return self.U[mu]
        if mu not in self._back:
            self._back[mu] = dag(self.shift(self.U[mu], mu, -1))
        return self._back[mu]

    def _add_link_cotangent(self, Sigma, mu, s, K):
        """Sigma += the link cotangent of a hop-link cotangent K (V, N, N) (Re tr(K dH) summed over x)."""
        if s > 0:
            Sigma[mu] += K
        else:   # H(x) = U_mu(x - mu)^dag: Re tr(K dU^dag) = Re tr(dU K^dag), at the link x - mu
            Sigma[mu] += self.shift(dag(K), mu, +1)

    def zeros_sigma(self):
        return np.zeros_like(self.U)

    def force(self, Sigma):
        """Force field (4, V, N, N) in gauge_force's representation from a link cotangent Sigma."""
        return 0.5 * traceless_antihermitian(self.U @ Sigma)

    # ------------------------------------------------------------------ compiled machinery
    def _use_kernels(self, A):
        return self.compiled and HAVE_KERNELS and A.size > 0

    def _exchange(self, a):
        """Halo of a site-major array (V, ...) (None on an unsplit lattice)."""
        return self.halo.exchange(a, zero_boundary=False) if self.halo.Vh else None

    def _hop_links(self):
        """(Hf, Hf_halo): the hop links H_(nu,s)(x) of all eight hops as one site-major field (V, 8, N, N),
        hop 2 nu + (s < 0), with its halo (cached)."""
        if self._hops_field is None:
            N, V = self.N, self.V
            Hf = np.empty((V, 8, N, N), dtype=np.complex128)
            for mu in range(4):
                Hf[:, 2 * mu] = self.U[mu]
                Hf[:, 2 * mu + 1] = self.hop_link(mu, -1)
            self._hops_field = (Hf, self._exchange(Hf))
        return self._hops_field

    def _chan(self, rows):
        """The kernels' channel table (n, 2) int32 of (hop, right factor) rows (cached)."""
        key = tuple(rows)
        c = self._chans.get(key)
        if c is None:
            c = np.ascontiguousarray(np.array(rows, dtype=np.int32).reshape(-1, 2))
            self._chans[key] = c
        return c

    def _channels(self, A, what):
        """A (V, ..., N, N) as a contiguous complex128 (V, n, N, N) array."""
        A = np.asarray(A)
        if A.ndim < 3 or A.shape[0] != self.V or A.shape[-2:] != (self.N, self.N):
            raise ValueError(f"{what}: need a site-major field (V = {self.V}, ..., {self.N}, {self.N}), "
                             f"got shape {A.shape}")
        return np.ascontiguousarray(A, dtype=np.complex128).reshape((self.V, -1, self.N, self.N))

    def _fwd(self, A, chan):
        """The compiled transport of A (V, n, N, N) channel by channel (kernels/transport.h)."""
        Hf, Hh = self._hop_links()
        out = np.empty_like(A)
        core.transport_forward(Hf, Hh, A, self._exchange(A), chan, self.halo.nbr, out, self.V, self.halo.Vh,
                               self.N)
        return out

    def _vjp(self, A, chan, G, sh):
        """Cotangent of A (V, n, N, N) for the output cotangent G of _fwd(A, chan); the hop-link cotangent is
        accumulated into sh (V, 8, N, N)."""
        Hf, Hh = self._hop_links()
        G = np.ascontiguousarray(np.broadcast_to(G, A.shape), dtype=np.complex128)
        V, Vh, N = self.V, self.halo.Vh, self.N
        buf = np.empty((V, A.shape[1], 2, N, N), dtype=np.complex128)
        loc = np.empty((A.shape[1], V, N, N), dtype=np.complex128)
        core.transport_back_push(Hf, Hh, A, self._exchange(A), G, chan, self.halo.nbr, buf, loc, V, Vh, N)
        gA = np.empty_like(A)
        core.transport_back_pull(Hf, buf, self._exchange(buf), loc, chan, self.halo.nbr, gA, sh, V, Vh, N)
        return gA

    def _zeros_sh(self):
        return np.zeros((self.V, 8, self.N, self.N), dtype=np.complex128)

    def _sh_into_sigma(self, sh, Sigma):
        """Sigma += the link cotangent of the hop-link cotangent sh (V, 8, N, N)."""
        shh = self._exchange(sh)
        args = (self.halo.nbr, self.V, self.halo.Vh, self.N)
        if (isinstance(Sigma, np.ndarray) and Sigma.dtype == np.complex128 and Sigma.flags.c_contiguous
                and Sigma.shape == self.U.shape):
            core.hop_sigma(sh, shh, args[0], Sigma, *args[1:])
        else:
            tmp = np.zeros_like(self.U)
            core.hop_sigma(sh, shh, args[0], tmp, *args[1:])
            Sigma += tmp

    # ------------------------------------------------------------------ path products
    def path(self, path):
        """(P, ctx): P(x) (V, N, N) the product of the hop links along `path` from x; ctx for path_vjp."""
        hops = _hops(path)
        R = [None] * len(hops)
        mu, s = hops[-1]
        R[-1] = self.hop_link(mu, s).copy()
        if self._use_kernels(R[-1]):               # R_k(x) = H_k(x) R_(k+1)(x + h_k): right factor none
            for k in range(len(hops) - 2, -1, -1):
                mu, s = hops[k]
                R[k] = self._fwd(R[k + 1][:, None], self._chan([(_hop_index(mu, s), -2)]))[:, 0]
            return R[0], ("compiled", hops, R)
        shifted = [None] * len(hops)
        for k in range(len(hops) - 2, -1, -1):        # R_k(x) = H_k(x) R_(k+1)(x + h_k)
            mu, s = hops[k]
            shifted[k] = self.shift(R[k + 1], mu, s)
            R[k] = self.hop_link(mu, s) @ shifted[k]
        return R[0], (hops, shifted)

    def path_vjp(self, ctx, G, Sigma):
        """Accumulate into Sigma (4, V, N, N) the link cotangent of sum_x Re tr(G(x) dP(x))."""
        if len(ctx) == 3:                          # from the compiled path(): (tag, hops, R)
            _, hops, R = ctx
            sh = self._zeros_sh()
            G = np.ascontiguousarray(np.broadcast_to(G, R[0].shape), dtype=np.complex128)
            for k, (mu, s) in enumerate(hops):
                if k == len(hops) - 1:
                    sh[:, _hop_index(mu, s)] += G
                    break
                G = self._vjp(R[k + 1][:, None], self._chan([(_hop_index(mu, s), -2)]), G[:, None], sh)[:, 0]
            self._sh_into_sigma(sh, Sigma)
            return
        hops, shifted = ctx
        for k, (mu, s) in enumerate(hops):
            H = self.hop_link(mu, s)
            if k == len(hops) - 1:
                self._add_link_cotangent(Sigma, mu, s, G)
                break
            self._add_link_cotangent(Sigma, mu, s, shifted[k] @ G)   # cot H_k(x) = R_(k+1)(x + h_k) G_k(x)
            G = self.shift(G @ H, mu, -s)                            # cot R_(k+1)(y) = (G_k H_k)(y - h_k)

    def loop(self, path):
        """(P, ctx) for a closed path (checked): the Wilson loop with corner x."""
        d = np.zeros(4, dtype=int)
        for mu, s in _hops(path):
            d[mu] += s
        if d.any():
            raise ValueError(f"path {list(path)} is not closed (displacement {tuple(d)})")
        return self.path(path)

    # ------------------------------------------------------------------ matrix-field transport
    def transport(self, W, mu, s):
        """T W(x) = H(x) W(x + h) H(x)^dag for a matrix field W (V, ..., N, N): covariant one-hop transport."""
        if self._use_kernels(np.asarray(W)):
            A = self._channels(W, "transport")
            return self._fwd(A, self._chan([(_hop_index(mu, s), -1)] * A.shape[1])).reshape(np.shape(W))
        H = _mid(self.hop_link(mu, s), W)
        return H @ self.shift(W, mu, s) @ dag(H)

    def transport_vjp(self, W, mu, s, G, Sigma):
        """Cotangent of W (V, ..., N, N) for the output cotangent G of transport(W, mu, s); the link part is
        accumulated into Sigma."""
        if self._use_kernels(np.asarray(W)):
            sh = self._zeros_sh()
            gW = self._transport_vjp_sh(W, mu, s, G, sh)
            self._sh_into_sigma(sh, Sigma)
            return gW
        Hs = self.hop_link(mu, s)
        H = _mid(Hs, W)
        Ws = self.shift(W, mu, s)
        # dT = dH Ws H^dag + H dWs H^dag + H Ws dH^dag
        K = Ws @ dag(H) @ G + dag(Ws) @ dag(H) @ dag(G)   # Re tr(G dT) = Re tr(K dH) + Re tr(H^dag G H dWs)
        K = K.reshape((K.shape[0], -1) + K.shape[-2:]).sum(axis=1)
        self._add_link_cotangent(Sigma, mu, s, K)
        return self.shift(dag(H) @ G @ H, mu, -s)

    def _transport_vjp_sh(self, W, mu, s, G, sh):
        A = self._channels(W, "transport_vjp")
        G = np.reshape(np.broadcast_to(G, np.shape(W)), A.shape)
        return self._vjp(A, self._chan([(_hop_index(mu, s), -1)] * A.shape[1]), G, sh).reshape(np.shape(W))

    def link_transport(self, A, mu, nu, s):
        """B(x) = H(x) A(x + h) H(x + mu)^dag with H the hop link of (nu, s): moves a link-like field A
        (V, ..., N, N), transforming as A(x) -> g(x) A(x) g(x + mu)^dag, one hop along (nu, s) while keeping its
        end points x and x + mu joined. Starting from A = U_mu and applying it k times gives the 1 x k rectangle
        staple [(nu, s)^k, (mu, +1), (nu, -s)^k] in k steps instead of 2k + 1 hops."""
        if self._use_kernels(np.asarray(A)):
            X = self._channels(A, "link_transport")
            return self._fwd(X, self._chan([(_hop_index(nu, s), 2 * mu)] * X.shape[1])).reshape(np.shape(A))
        H = self.hop_link(nu, s)
        K = self.shift(H, mu, +1)
        return _mid(H, A) @ self.shift(A, nu, s) @ dag(_mid(K, A))

    def link_transport_vjp(self, A, mu, nu, s, G, Sigma):
        """Cotangent of A for the output cotangent G of link_transport(A, mu, nu, s); links into Sigma."""
        if self._use_kernels(np.asarray(A)):
            X = self._channels(A, "link_transport_vjp")
            sh = self._zeros_sh()
            G = np.reshape(np.broadcast_to(G, np.shape(A)), X.shape)
            gA = self._vjp(X, self._chan([(_hop_index(nu, s), 2 * mu)] * X.shape[1]), G, sh)
            self._sh_into_sigma(sh, Sigma)
            return gA.reshape(np.shape(A))
        Hs = self.hop_link(nu, s)
        H = _mid(Hs, A)
        K = _mid(self.shift(Hs, mu, +1), A)
        As = self.shift(A, nu, s)
        # dB = dH As K^dag + H dAs K^dag + H As dK^dag
        cH = As @ dag(K) @ G
        cK = dag(As) @ dag(H) @ dag(G)
        flat = (cH.shape[0], -1) + cH.shape[-2:]
        cH = cH.reshape(flat).sum(axis=1) + self.shift(cK.reshape(flat).sum(axis=1), mu, -1)   # K(x) = H(x + mu)
        self._add_link_cotangent(Sigma, nu, s, cH)
        return self.shift(dag(K) @ G @ H, nu, -s)

    # ------------------------------------------------------------------ many link transports at once
    def _stack_hops(self, combos):
        """(H, K) stacked (V, n, N, N): H_(nu,s)(x) and H_(nu,s)(x + mu) for each (mu, nu, s) of combos."""
        key = ("stack", tuple(combos))
        if key not in self._back:
            H = np.stack([self.hop_link(nu, s) for mu, nu, s in combos], axis=1)
            K = np.stack([self.shift(self.hop_link(nu, s), mu, +1) for mu, nu, s in combos], axis=1)
            self._back[key] = (H, K)
        return self._back[key]

    def _shift_channels(self, A, dirs):
        """A(x + d_c) channel by channel for A (V, n, N, N) and one direction (nu, s) per channel."""
        out = np.empty_like(A)
        for c, (nu, s) in enumerate(dirs):
            out[:, c] = self.shift(A[:, c], nu, s)
        return out

    def _combo_chan(self, combos):
        rows = []
        for mu, nu, s in combos:
            if mu not in (0, 1, 2, 3) or nu not in (0, 1, 2, 3) or s not in (1, -1):
                raise ValueError(f"link transport (mu, nu, s) needs mu, nu in 0..3 and s = +-1, got {(mu, nu, s)!r}")
            rows.append((_hop_index(nu, s), 2 * mu))
        return self._chan(rows)

    def _link_channels(self, A, combos, what):
        X = self._channels(A, what)
        if np.ndim(A) != 4 or X.shape[1] != len(combos):
            raise ValueError(f"{what}: A of shape {np.shape(A)} needs (V, n, N, N) with n = len(combos) = {len(combos)}")
        return X

    def link_transports(self, A, combos):
        """link_transport of channel c of A (V, n, N, N) along its own (mu, nu, s) = combos[c], with the matrix
        products of all channels batched (the form the CASK staples use: all 24 (mu, nu, s) at once)."""
        if self._use_kernels(np.asarray(A)):
            X = self._link_channels(A, combos, "link_transports")
            return self._fwd(X, self._combo_chan(combos))
        H, K = self._stack_hops(combos)
        return H @ self._shift_channels(A, [(nu, s) for _, nu, s in combos]) @ dag(K)

    def link_transports_vjp(self, A, combos, G, Sigma):
        """Cotangent of A (V, n, N, N) for the output cotangent G of link_transports(A, combos); links into Sigma."""
        if self._use_kernels(np.asarray(A)):
            X = self._link_channels(A, combos, "link_transports_vjp")
            sh = self._zeros_sh()
            gA = self._vjp(X, self._combo_chan(combos), G, sh)
            self._sh_into_sigma(sh, Sigma)
            return gA
        H, K = self._stack_hops(combos)
        As = self._shift_channels(A, [(nu, s) for _, nu, s in combos])
        cH = As @ dag(K) @ G
        cK = dag(As) @ dag(H) @ dag(G)
        for c, (mu, nu, s) in enumerate(combos):
            self._add_link_cotangent(Sigma, nu, s, cH[:, c] + self.shift(cK[:, c], mu, -1))
        return self._shift_channels(dag(K) @ G @ H, [(nu, -s) for _, nu, s in combos])

    def transports(self, W, mu, s, K):
        """[W, T W, T^2 W, ..., T^(K-1) W]: straight covariant transports of 0 .. K-1 hops along (mu, s)."""
        out = [W]
        for _ in range(1, K):
            out.append(self.transport(out[-1], mu, s))
        return out

    def transports_vjp(self, outs, mu, s, Gs, Sigma):
        """Cotangent of W for output cotangents Gs[k] of transports(W, mu, s, K)[k] (None: zero)."""
        if self._use_kernels(np.asarray(outs[0])):     # one hop-link cotangent for all steps
            sh = self._zeros_sh()
            acc = None
            for k in range(len(outs) - 1, 0, -1):
                g = Gs[k]
                if acc is not None:
                    g = acc if g is None else g + acc
                acc = None if g is None else self._transport_vjp_sh(outs[k - 1], mu, s, g, sh)
            self._sh_into_sigma(sh, Sigma)
            g = Gs[0]
            if acc is not None:
                g = acc if g is None else g + acc
            return g if g is not None else np.zeros_like(outs[0])
        acc = None
        for k in range(len(outs) - 1, -1, -1):
            g = Gs[k]
            if acc is not None:
                g = acc if g is None else g + acc
            if k == 0:
                return g if g is not None else np.zeros_like(outs[0])
            acc = None if g is None else self.transport_vjp(outs[k - 1], mu, s, g, Sigma)
