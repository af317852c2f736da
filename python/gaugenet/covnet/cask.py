"""CASK: covariant attention with stout kernel (seed 004, Tomiya et al.), one layer with hand-written backprop.

    U^Q, U^K, U^V = three stout layers of the input U (gauge/stout.py; 3 weights each)
    C^s_mu[W](x)  = sum_{nu != mu, sigma = +-1} W_(nu,sigma)^s(x) W_mu(x + s sigma nu) W_(nu,-sigma)^s(...)
                    the 1 x s rectangle staples of the link (mu, x): s hops along sigma nu, one along mu,
                    s back; s = 1 is the plaquette staple, s = 3 the seed's "7-link rectangle staple
                    (= 3 plaquettes)". C^s_mu(x) W_mu(x)^dag is the sum of the 6 loops through the link.
    q_s(x, mu)    = Re tr(C^s[U^K] U^Q^dag) / (6 N)  -  Re tr(C^s[U] U^dag) / (6 N)
                    the score: a query link against the key staples, measured against the same trace
                    of the unsmeared field (zero when the Q and K maps are the identity)
    a_s(x, mu)    = softmax_s(tau q_s)                 the attention weights (sum to 1)
    Omega         = sum_s rho_s a_s C^s[U^V] U^V^dag,   U'_mu(x) = exp(TA(Omega)) U^V_mu(x)

Weights (flat, in this order): the Q, K and V stout weights (rho_plaq, rho_poly_t, rho_poly_s each), tau,
rho_1 .. rho_S; 10 + S in all.

Why a softmax: the weights a_s are gauge invariant (traces of closed loops), bounded in (0, 1) and sum to
one, so the attention redistributes the update among the loop shapes but can never blow it up: |Omega| is
bounded by max_s |rho_s| |C^s|, as for a stout layer, whatever the scores. A squashing map per loop
(sigmoid) would allow all loops to switch on at once, which the training then has to prevent. With
tau = 0 (or identical Q/K maps and unsmeared scores) the attention is uniform, a_s = 1/S, and the layer is a
stout layer of U^V with loop coefficients rho_s / S; with S = 1 it is exactly a plaquette stout layer.

Backprop (cotangents <G, dA> = sum Re tr(G dA), links/paths.py): for the cotangent Sigma' of U',
Gamma = pullback of exp at Q = TA(Omega) of U^V Sigma' (gauge/expderiv.py: Re tr(d exp(Q) M) = tr(dQ Gamma)),
and then Omega's cotangent is Gamma; the staples go through Paths.path_vjp, the scores and the softmax by the
chain rule, the three stout maps by their own backward passes (force representation in and out).
"""
import numpy as np

from ..gauge.group import dag, traceless_antihermitian
from ..gauge.stout import StoutLayer
from ..links.core import exp_pullback, exp_update, expm
from ..links.paths import Paths

N_STOUT = 3


def _tr_real(a, b):
    """Re tr(a b) per matrix of two stacks (..., N, N)."""
    return np.einsum("...ij,...ji->...", a, b).real


def staple_paths(mu, s):
    """The six 1 x s rectangle staple paths of a link along mu, from x to x + mu."""
    out = []
    for nu in range(4):
        if nu == mu:
            continue
        for sg in (1, -1):
            out.append([(nu, sg)] * s + [(mu, 1)] + [(nu, -sg)] * s)
    return out


COMBOS = [(mu, nu, sg) for mu in range(4) for nu in range(4) if nu != mu for sg in (1, -1)]   # 24 channels
_MUS = np.array([mu for mu, _, _ in COMBOS])


class _Staples:
    """C^s_mu for s = 1..S of one field, with what the backward pass needs. The 1 x s staple along (nu, sigma)
    is the link U_mu moved s times by Paths.link_transports, all 24 (mu, nu, sigma) at once (S steps; compiled
    kernels, links/paths.py). COMBOS is mu-major, six channels per mu, so the sums over (nu, sigma) are sums
    over one axis of length 6."""

    def __init__(self, paths: Paths, S):
        self.paths, self.S = paths, S
        U = paths.U
        V, N = paths.V, paths.N
        A = [np.ascontiguousarray(U[_MUS].transpose(1, 0, 2, 3))]                      # (V, 24, N, N)
        C = np.empty((S, 4) + U.shape[1:], dtype=np.complex128)
        for s in range(1, S + 1):
            A.append(paths.link_transports(A[-1], COMBOS))
            C[s - 1] = A[-1].reshape(V, 4, 6, N, N).sum(axis=2).transpose(1, 0, 2, 3)
        self.A, self.C = A, C

    def vjp(self, G, Sigma):
        """Accumulate the link cotangent of sum Re tr(G[s-1, mu] dC^s_mu) into Sigma."""
        V, N = self.paths.V, self.paths.N
        acc = None
        for s in range(self.S, 0, -1):          # cotangent of A[s] = G[s-1] (per channel) + what A[s+1] passed down
            g = np.ascontiguousarray(G[s - 1][_MUS].transpose(1, 0, 2, 3))
            if acc is not None:
                g += acc
            acc = self.paths.link_transports_vjp(self.A[s - 1], COMBOS, g, Sigma)
        Sigma += acc.reshape(V, 4, 6, N, N).sum(axis=2).transpose(1, 0, 2, 3)   # A[0] = U_mu


def _force_field(U_field, L, Sigma):
    """Sigma as a force on U_field (a GaugeField of su(N) matrices, GaugeField-shaped)."""
    F = 0.5 * traceless_antihermitian(L @ Sigma)
    return U_field._new(U_field.xp.asarray(F.astype(U_field.data.dtype).reshape(U_field.data.shape)))


class CaskContext:
    pass


class CaskLayer:
    """One CASK layer with S rectangle-staple kernels (S = 3: the seed's kernel set up to the 7-link staple)."""

    kind = "cask"

    def __init__(self, S=3, weights=None):
        if int(S) < 1:
            raise ValueError(f"CASK: the kernel set needs S >= 1 rectangle staples, got S = {S}")
        self.S = int(S)
        self.w = np.zeros(self.n_weights)
        if weights is not None:
            self.params = weights

    @property
    def n_weights(self):
        return 3 * N_STOUT + 1 + self.S

    @property
    def params(self):
        return self.w.copy()

    @params.setter
    def params(self, values):
        v = np.asarray(values, dtype=np.float64).ravel()
        if v.size != self.n_weights or not np.all(np.isfinite(v)):
            raise ValueError(f"CASK layer with S = {self.S} needs {self.n_weights} finite weights "
                             f"(Q, K, V stout triples, tau, rho_1..rho_{self.S}), got {v.size}")
        self.w = v.copy()

    def _stouts(self):
        return [StoutLayer(*self.w[3 * i:3 * i + 3]) for i in range(3)]

    @property
    def tau(self):
        return self.w[9]

    @property
    def rho(self):
        return self.w[10:]

    def __repr__(self):
        return f"CaskLayer(S={self.S}, weights={np.round(self.w, 6).tolist()})"

    def __call__(self, U):
        return self.forward(U)[0]

    def forward(self, U):
        """(U', ctx)."""
        if U.N not in (2, 3):
            raise ValueError(f"CASK needs SU(2) or SU(3), got N = {U.N}")
        N, S = U.N, self.S
        sq, sk, sv = self._stouts()
        (UQ, cq), (UK, ck), (UV, cv) = sq.forward(U), sk.forward(U), sv.forward(U)
        ctx = CaskContext()
        ctx.U, ctx.UQ, ctx.UK, ctx.UV, ctx.stouts, ctx.sctx = U, UQ, UK, UV, (sq, sk, sv), (cq, ck, cv)
        ctx.L = U.sites().astype(np.complex128)
        ctx.LQ, ctx.LK, ctx.LV = (F.sites().astype(np.complex128) for F in (UQ, UK, UV))
        ctx.P0, ctx.PK, ctx.PV = (Paths(lat=U.lat, links=L) for L in (ctx.L, ctx.LK, ctx.LV))
        ctx.C0, ctx.CK = _Staples(ctx.P0, S), _Staples(ctx.PK, S)
        ctx.CV = _Staples(ctx.PV, S)
        norm = 1.0 / (6.0 * N)
        q = norm * (_tr_real(ctx.CK.C, dag(ctx.LQ)[None]) - _tr_real(ctx.C0.C, dag(ctx.L)[None]))   # (S, 4, V)
        z = self.tau * q
        z = z - z.max(axis=0, keepdims=True)
        e = np.exp(z)
        a = e / e.sum(axis=0, keepdims=True)
        c = self.rho[:, None, None] * a                                                                # (S, 4, V)
        omega = np.einsum("smv,smvij->mvij", c, ctx.CV.C) @ dag(ctx.LV)
        out, Q = exp_update(ctx.LV, omega)            # exp(TA(Omega)) U^V, compiled (links.core)
        ctx.q, ctx.a, ctx.c, ctx.omega, ctx.Q, ctx.Lout, ctx.norm = q, a, c, omega, Q, out, norm
        return UV._new(UV.xp.asarray(out.astype(UV.data.dtype).reshape(UV.data.shape))), ctx

    def backward(self, ctx, force):
        """(F, dS/dweights): the force on the input links (GaugeField of su(N) matrices, gauge_force's
        representation, like `force` on the output links) and the gradient of the weights (flat)."""
        S, lat = self.S, ctx.U.lat
        L, LQ, LK, LV = ctx.L, ctx.LQ, ctx.LK, ctx.LV
        Lout = ctx.Lout
        F = np.asarray(getattr(force, "sites", lambda: force)()).reshape(L.shape).astype(np.complex128)
        Sig_out = 2.0 * dag(Lout) @ F                        # cotangent of U' (Re tr(dU' Sigma'))
        Gam = exp_pullback(ctx.Q, LV @ Sig_out)              # cotangent of Q = TA(Omega), and of Omega
        SigV = Sig_out @ expm(ctx.Q)                         # U' = exp(Q) U^V: the U^V part
        # Omega = sum_s c_s C^s[U^V] U^V^dag
        Csum = np.einsum("smv,smvij->mvij", ctx.c, ctx.CV.C)
        SigV += dag(Gam @ Csum)                              # from dU^V^dag
        GV = ctx.c[..., None, None] * (dag(LV) @ Gam)[None]  # cotangent of C^s[U^V]
        ctx.CV.vjp(GV, SigV)
        g_c = _tr_real(ctx.CV.C, (dag(LV) @ Gam)[None])      # (S, 4, V): d/dc_s
        g_rho = (ctx.a * g_c).sum(axis=(1, 2))
        g_a = self.rho[:, None, None] * g_c
        g_z = ctx.a * (g_a - (ctx.a * g_a).sum(axis=0, keepdims=True))
        g_tau = float((g_z * ctx.q).sum())
        g_q = self.tau * g_z * ctx.norm                      # (S, 4, V), the 1/(6N) folded in
        # q = Re tr(C^s[U^K] U^Q^dag) - Re tr(C^s[U] U^dag) (times norm)
        SigK = np.zeros_like(L)
        ctx.CK.vjp(g_q[..., None, None] * dag(LQ)[None], SigK)
        SigQ = dag(np.einsum("smv,smvij->mvij", g_q, ctx.CK.C))
        Sig0 = -dag(np.einsum("smv,smvij->mvij", g_q, ctx.C0.C))
        ctx.C0.vjp(-g_q[..., None, None] * dag(L)[None], Sig0)
        grads = np.zeros(self.n_weights)
        Ftot = 0.5 * traceless_antihermitian(L @ Sig0)
        for i, (Sig, Lx, Ux) in enumerate(((SigQ, LQ, ctx.UQ), (SigK, LK, ctx.UK), (SigV, LV, ctx.UV))):
            Fi, gi = ctx.stouts[i].backward(ctx.sctx[i], _force_field(Ux, Lx, Sig))
            Ftot = Ftot + Fi.sites().reshape(L.shape)
            grads[3 * i:3 * i + 3] = gi
        local = np.concatenate([[g_tau], g_rho])
        grads[9:] = np.asarray(lat.allreduce(local), dtype=np.float64)
        return ctx.U._new(ctx.U.xp.asarray(Ftot.astype(ctx.U.data.dtype).reshape(ctx.U.data.shape))), grads
