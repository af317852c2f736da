"""Wilson-loop actions S~ = sum_i c_i W_i for learned gradient flows, their force Z and their Lie-algebra
Laplacian (the divergence of the flow), all built on the link-network core (links/paths.py).

Loop types. A type "m x n" (names "1x1" = "plaquette", "1x2" = "rectangle", "1x3", "2x2", ...) is the set of
closed paths m hops along +mu, n along +nu, m along -mu, n along -nu, for every plane mu < nu of the flowed
directions `dirs`, in both orientations (m along mu and m along nu) when m != n. "m x n ^ k" is the same path
run k times (Re tr P^k: "1x1^2" is Re tr U_p^2 = Re (chi_sym - chi_antisym)(U_p), so plaquette windings span the
class functions of the plaquette that a flow in two dimensions, where plaquettes are nearly independent, needs;
larger loops there are products of independent plaquettes). "m x n : adj" is the loop in the adjoint
representation, |tr P|^2 = chi_adj(P) + 1 (for SU(3) the class functions of P are functions of tr P, and Re tr P,
Re tr P^2 = Re (tr P)^2 - 2 Re tr P and |tr P|^2 are all of them to second order; the windings miss |tr P|^2).
Its Laplacian is closed: each link met once conjugates an insertion, so Delta |tr P|^2 = -N len (|tr P|^2 - 1)
(adjoint Casimir N); adjoint types must fit in the lattice (checked). The value of a fundamental type is

    W_i(U) = sum_x sum_(paths of type i) Re tr P(x)          (no 1/N, no "1 -": the flow only needs derivatives)

The force. With the Lie-algebra derivative of shared/CONVENTIONS.md, d^a f = d/ds f(exp(i s T^a) U) at s = 0,
and e_a = i T^a (tr(e_a e_b) = -delta_ab / 2), the flow field is Z = sum_a e_a Z^a, Z^a = -d^a S~. For any f
with link cotangent Sigma (df = sum Re tr(dU Sigma)) one has d^a f = Re tr(e_a U Sigma) and
sum_a e_a Re tr(e_a M) = -TA(M) / 2, so Z = +TA(U Sigma_S~) / 2 = Paths.force(Sigma_S~).
Lüscher's Wilson flow is c_plaquette = -1 (S~ = sum_p Re tr(1 - U_p)): then Z = (N / beta) gauge_force(U, beta)
(tested).

The Laplacian. Delta f = sum_(links l) sum_a d^a_l d^a_l f. For a loop in which the link l occurs at hops k
(H_k = U_l or U_l^dag), U_l -> exp(s e) U_l inserts exp(s e) before H_k (H_k = U_l) or exp(-s e) after H_k
(H_k = U_l^dag). With sum_a e_a e_a = -C_F (C_F = (N^2 - 1) / (2N)) and the Fierz identity
sum_a tr(e_a X e_a Y) = -(tr X tr Y - tr(X Y) / N) / 2 the second derivative is

    Delta_l Re tr W = -C_F n_l Re tr W - sum_(pairs i < j of hops on l) sigma_i sigma_j Re(tr X tr Y - tr W / N)

(n_l the number of hops on l, sigma = +1 / -1 for U / U^dag, X the product of the hops between the two
insertion points, Y the rest of the loop). When no link occurs twice in a loop (every loop fits in the
lattice), the Laplacian of W_i is simply -C_F len_i W_i. On small lattices loops wrap around and meet their own
links; the pairs are found once per loop and lattice (they do not depend on the corner x) and the second term
is evaluated from the two sub-path products (tested against finite second derivatives and against the
finite-difference Jacobian of the whole flow).

The flow's divergence with respect to the Haar measure is div Z = sum_(l,a) d^a_l Z^a_l = -Delta S~ (the
vector fields U -> e_a U are Haar-divergence free), so d log det F_* / dt = -Delta S~.

Sample axis. Every quantity is also available per slice of one lattice direction (`per_slice`): a lattice
16 x 16 x B x 1 with the flow in the (0, 1) plane holds B independent two-dimensional configurations, and the
per-slice sums are their actions and log-determinants (docs/flows.md).
"""
import re

import numpy as np

from ...links.paths import Paths

ALIASES = {"plaquette": "1x1", "rectangle": "1x2"}
DEFAULT_LOOPS = ("1x1", "1x2", "1x3", "2x2", "2x3", "3x3", "1x4")   # our 7 loop types of "model A"


def parse_loop(name):
    """(m, n, k, rep) with m <= n of a loop type name: 'plaquette', 'rectangle', 'MxN', 'MxN^K' (the M x N loop
    wound K times: Re tr P^K) or 'MxN:adj' (the loop in the adjoint representation: |tr P|^2 = chi_adj(P) + 1)."""
    key = str(name).strip().lower()
    mt = re.fullmatch(r"(plaquette|rectangle|\d+x\d+)(?:\^(\d+))?(:adj)?", key)
    if mt:
        m, n = (int(x) for x in ALIASES.get(mt.group(1), mt.group(1)).split("x"))
        k = int(mt.group(2)) if mt.group(2) else 1
    if not mt or min(m, n, k) < 1 or (mt.group(3) and k != 1):
        raise ValueError(f"unknown loop type {name!r}: use 'plaquette', 'rectangle', 'MxN' (e.g. '2x3'), "
                         f"'MxN^K' (wound K >= 1 times, e.g. '1x1^2' for Re tr P^2) or 'MxN:adj' (|tr P|^2)")
    m, n = sorted((m, n))
    return m, n, k, "adj" if mt.group(3) else "fund"


def loop_name(m, n, k=1, rep="fund"):
    return f"{m}x{n}" + (f"^{k}" if k != 1 else "") + (":adj" if rep == "adj" else "")


def rectangle_path(mu, nu, m, n):
    return [(mu, 1)] * m + [(nu, 1)] * n + [(mu, -1)] * m + [(nu, -1)] * n


def check_dirs(dirs):
    d = tuple(sorted(set(int(x) for x in dirs)))
    if len(d) != len(tuple(dirs)) or len(d) < 2 or any(x not in (0, 1, 2, 3) for x in d):
        raise ValueError(f"flow directions {tuple(dirs)!r}: need at least two distinct directions in 0..3")
    return d


def casimir(N):
    return (N * N - 1) / (2.0 * N)


class LoopSet:
    """The closed paths of each loop type over the planes of `dirs`, and the self-overlap pairs on a lattice."""

    def __init__(self, names=DEFAULT_LOOPS, dirs=(0, 1, 2, 3)):
        names = list(names)
        if not names:
            raise ValueError("a loop set needs at least one loop type")
        self.dirs = check_dirs(dirs)
        types = [parse_loop(x) for x in names]
        if len(set(types)) != len(types):
            raise ValueError(f"loop types {names} name the same loop twice")
        self.shapes = [(m, n) for m, n, _, _ in types]
        self.reps = [r for _, _, _, r in types]
        self.names = [loop_name(*t) for t in types]
        self.paths = []
        for m, n, k, _ in types:
            ps = []
            for a, mu in enumerate(self.dirs):
                for nu in self.dirs[a + 1:]:
                    ps.append(rectangle_path(mu, nu, m, n) * k)
                    if m != n:
                        ps.append(rectangle_path(nu, mu, m, n) * k)
            self.paths.append(ps)
        self._pairs = {}

    def __len__(self):
        return len(self.shapes)

    def pairs(self, dims, path):
        """[(pa, pb, sign)]: the insertion slots 0 <= pa <= pb <= len(path) and sigma_i sigma_j of every pair of
        hops of `path` on the same link of a lattice with global `dims` (x, y, z, t)."""
        key = (tuple(dims), tuple(path))
        if key not in self._pairs:
            pos = np.zeros(4, dtype=int)
            links, slots = [], []
            for k, (mu, s) in enumerate(path):
                site = pos.copy()
                if s < 0:
                    site[mu] -= 1
                links.append((mu,) + tuple(int(site[d]) % dims[d] for d in range(4)))
                slots.append((k, 1) if s > 0 else (k + 1, -1))
                pos[mu] += s
            out = []
            for i in range(len(path)):
                for j in range(i + 1, len(path)):
                    if links[i] == links[j]:
                        a, b = sorted((slots[i][0], slots[j][0]))
                        out.append((a, b, slots[i][1] * slots[j][1]))
            self._pairs[key] = out
        return self._pairs[key]


def per_slice(lat, a, axis):
    """Sums of a per-site field a (V,) over the sites of each slice x_axis = const: (L_axis,), global."""
    loc = np.asarray(a, dtype=np.float64).reshape(lat.local_shape)
    keep = 3 - axis                                  # local_shape is (t, z, y, x)
    s = loc.sum(axis=tuple(d for d in range(4) if d != keep))
    out = np.zeros(lat.dims[axis])
    out[lat.origin[axis]:lat.origin[axis] + lat.local_dims[axis]] = s
    return np.asarray(lat.allreduce(out), dtype=np.float64)


class LoopEvaluation:
    """The loop sums of one link configuration: `site[i]` (V,) = sum over the paths of type i of Re tr P(x);
    `laplacian_site[i]` (V,) the per-corner Laplacian Delta W_i; `sigma(c)` the link cotangent of sum c_i W_i."""

    def __init__(self, lat, links, loops, laplacian=True):
        self.lat, self.loops = lat, loops
        self.T = Paths(lat=lat, links=links)
        self.N = self.T.N
        self.ctx = []
        self.trace = []              # per type, per path: tr P(x) (complex), kept for the adjoint types
        self.site = []
        self.laplacian_site = [] if laplacian else None
        for name, rep, ps in zip(loops.names, loops.reps, loops.paths):
            if rep == "adj" and any(loops.pairs(lat.dims, p) for p in ps):
                raise ValueError(f"loop {name} meets its own links on the lattice {tuple(lat.dims)}: adjoint loop "
                                 f"types need every loop to fit in the lattice")
            ctxs, trs = [], []
            w = np.zeros(self.T.V)
            lap = np.zeros(self.T.V)
            for p in ps:
                P, ctx = self.T.loop(p)
                ctxs.append(ctx)
                tr = np.trace(P, axis1=-2, axis2=-1)
                if rep == "adj":               # |tr P|^2 = chi_adj + 1; Delta chi_adj = -len N chi_adj
                    trs.append(tr)
                    val = np.abs(tr) ** 2
                    w += val
                    if laplacian:
                        lap += -self._lap_coef(rep, p) * (val - 1.0)
                    continue
                trW = tr.real
                w += trW
                if laplacian:
                    lap += -casimir(self.N) * len(p) * trW + self._pair_terms(p, trW)
            self.ctx.append(ctxs)
            self.trace.append(trs)
            self.site.append(w)
            if laplacian:
                self.laplacian_site.append(lap)

    def _lap_coef(self, rep, p):
        """Delta W = -coef W (+ const) for a loop that meets no link twice: C_F len (fundamental), N len (adjoint)."""
        return (self.N if rep == "adj" else casimir(self.N)) * len(p)

    def _path_cotangent(self, i, j, coef):
        """G (V, N, N) with sum Re tr(G dP) = coef d(value of path j of type i): coef 1 for Re tr P, 2 conj(tr P)
        for |tr P|^2."""
        eye = np.broadcast_to(np.eye(self.N, dtype=np.complex128), (self.T.V, self.N, self.N))
        if self.loops.reps[i] == "adj":
            return np.ascontiguousarray((2.0 * coef) * np.conj(self.trace[i][j])[:, None, None] * eye)
        return np.ascontiguousarray(coef * eye)

    def _arc(self, path):
        """(tr A(x) (V,) complex, ctx or None) of the open sub-path A of a loop; an empty arc has tr = N."""
        if not path:
            return np.full(self.T.V, self.N, dtype=np.complex128), None
        A, ctx = self.T.path(path)
        return np.trace(A, axis1=-2, axis2=-1), ctx

    def _pair_terms(self, p, trW):
        """-sum_pairs sigma sigma Re(tr X tr Y - tr W / N) at every corner x (zero if no link occurs twice)."""
        out = np.zeros(self.T.V)
        for a, b, sg in self.loops.pairs(self.lat.dims, p):
            xp = p[a:b]
            trX, _ = self._arc(xp)
            trY, _ = self._arc(p[b:] + p[:a])
            trY = _carry(self.T, trY, xp, -1)          # Y starts where X ends: tr Y(x + displacement of X)
            out -= sg * ((trX * trY).real - trW / self.N)
        return out

    def totals(self):
        """W_i summed over the global lattice, (n_loops,)."""
        return np.array([float(self.lat.allreduce(float(np.sum(w)))) for w in self.site])

    def sigma(self, c):
        """Link cotangent of sum_i c_i W_i, (4, V, N, N)."""
        Sigma = self.T.zeros_sigma()
        for i, (ci, ctxs) in enumerate(zip(c, self.ctx)):
            if ci == 0.0:
                continue
            for j, ctx in enumerate(ctxs):
                self.T.path_vjp(ctx, self._path_cotangent(i, j, ci), Sigma)
        return Sigma

    def force(self, c):
        """Z = -d S~ (anti-hermitian traceless, (4, V, N, N)) for S~ = sum_i c_i W_i."""
        return self.T.force(self.sigma(c))

    def laplacian_sigma(self, c, sigmas=None):
        """Link cotangent of sum_i c_i Delta W_i (the gradient of the flow's divergence, up to the sign), (4, V, N, N).
        Without self-meeting loops Delta W_i = -C_F len_i W_i; otherwise each pair term
        -sigma sigma' Re(tr X tr Y - tr W / N) is differentiated through its two sub-paths. `sigmas`: the per-type
        cotangents of W_i when the caller has them (LoopSecondOrder.sigmas), else they are recomputed."""
        N, T = self.N, self.T
        Sigma = T.zeros_sigma()
        for i, (ci, ps) in enumerate(zip(c, self.loops.paths)):
            if ci == 0.0:
                continue
            pair_lists = [self.loops.pairs(self.lat.dims, p) for p in ps]
            if sigmas is not None and not any(pair_lists):
                Sigma += (-self._lap_coef(self.loops.reps[i], ps[0]) * ci) * sigmas[i]
                continue
            for j, (p, ctx, pairs) in enumerate(zip(ps, self.ctx[i], pair_lists)):
                w_coef = -self._lap_coef(self.loops.reps[i], p) + sum(sg for _, _, sg in pairs) / N
                T.path_vjp(ctx, self._path_cotangent(i, j, ci * w_coef), Sigma)
                for a, b, sg in pairs:
                    self._pair_vjp(p[a:b], p[b:] + p[:a], -sg * ci, Sigma)
        return Sigma

    def _pair_vjp(self, xp, yp, coef, Sigma):
        """Sigma += the link cotangent of coef sum_x Re(tr X(x) tr Y(x + d_X)) (empty paths: tr = N)."""
        T = self.T
        trX, ctxX = self._arc(xp)
        trY, ctxY = self._arc(yp)
        eye = np.eye(self.N, dtype=np.complex128)
        if ctxX is not None:                          # d Re(trX trY) = Re tr(dX trY(x + d_X))
            ty = _carry(T, trY, xp, -1)
            T.path_vjp(ctxX, np.ascontiguousarray(coef * ty[:, None, None] * eye), Sigma)
        if ctxY is not None:                          # ... + Re tr(dY(y) trX(y - d_X))
            tx = _carry(T, trX, xp, +1)
            T.path_vjp(ctxY, np.ascontiguousarray(coef * tx[:, None, None] * eye), Sigma)

    def divergence_site(self, c):
        """div Z per site, -sum_i c_i Delta W_i(x) (V,)."""
        out = np.zeros(self.T.V)
        for ci, lap in zip(c, self.laplacian_site):
            out -= ci * lap
        return out


def _add_hop_cotangent(T, Sigma, mu, s, K):
    """Sigma += the link cotangent of a hop-link cotangent K (V, N, N) of the hop (mu, s)."""
    if s > 0:
        Sigma[mu] += K
    else:        # H(x) = U_mu(x - mu)^dag: Re tr(K dU^dag) = Re tr(dU K^dag) at the link x - mu
        Sigma[mu] += T.shift(np.conj(np.swapaxes(K, -1, -2)), mu, +1)


class LoopSecondOrder:
    """Second-order data of a loop action at one configuration W, for backprop through the flow.

    `sigmas()`: the link cotangent of each W_i separately (the force of each loop type).
    `directional_sigma(c, Gam)`: the link cotangent (gradient with respect to W) of
        D_Gam Phi_c(W) = d/ds Phi_c(exp(s Gam) W) at s = 0 = sum_l Re tr(Gam_l W_l Sigma_l(W)),   Phi_c = sum c_i W_i,
    for a fixed algebra field Gam (4, V, N, N): the vector-Jacobian product of the force, since
    sum tr(Gam Z) = sum Re tr(Gam W Sigma) / 2 for Z = TA(W Sigma) / 2 and Gam anti-hermitian traceless.
    Every loop is rotated so that each of its hops in turn comes first; that hop takes its link from
    W' = Gam W (the insertion), the open rest of the loop from W, both through links/paths.py. Cost: the square
    of the loop length in one-hop products per loop (about ten forces for the seven loops of model A).
    Loops that meet their own links (windings, or loops wrapping a small lattice) need nothing special here: the
    insertion is made at one hop at a time and the rest of the loop, with its repeated links, is differentiated
    as it stands."""

    def __init__(self, ev):
        self.ev = ev

    def sigmas(self):
        ev = self.ev
        out = []
        for i in range(len(ev.loops)):
            c = np.zeros(len(ev.loops))
            c[i] = 1.0
            out.append(ev.sigma(c))
        return out

    def directional_sigma(self, c, Gam):
        ev = self.ev
        T = ev.T
        Wp = np.einsum("mvij,mvjk->mvik", Gam, T.U)
        Tp = Paths(lat=ev.lat, links=Wp)
        Sigma = T.zeros_sigma()
        Sp = T.zeros_sigma()
        for i, (ci, ps) in enumerate(zip(c, ev.loops.paths)):
            if ci == 0.0:
                continue
            adj = ev.loops.reps[i] == "adj"
            for j, p in enumerate(ps):
                # the corner coefficient: ci for Re tr P; 2 ci conj(tr P(x)) for |tr P|^2 (its derivative is
                # 2 Re(conj(tr P) D tr P)), carried to the rotated loop's start y = x + d_k
                cx = 2.0 * ci * np.conj(ev.trace[i][j]) if adj else None
                dtr = np.zeros(T.V, dtype=np.complex128) if adj else None
                for k in range(len(p)):
                    q = p[k:] + p[:k]
                    mu, s = q[0]
                    R, ctx = T.path(q[1:])
                    Hp = Tp.hop_link(mu, s)
                    Rs = T.shift(R, mu, s)
                    if adj:
                        cy = _carry(T, cx, p[:k], +1)
                        dtr += _carry(T, np.einsum("vij,vji->v", Hp, Rs), p[:k], -1)
                        _add_hop_cotangent(T, Sp, mu, s, cy[:, None, None] * Rs)
                        T.path_vjp(ctx, np.ascontiguousarray(T.shift(cy[:, None, None] * Hp, mu, -s)), Sigma)
                    else:
                        _add_hop_cotangent(T, Sp, mu, s, ci * Rs)
                        T.path_vjp(ctx, np.ascontiguousarray(ci * T.shift(Hp, mu, -s)), Sigma)
                if adj:                 # through conj(tr P): d Re(conj(t) Dt) = Re(conj(Dt) dt)
                    eye = np.eye(ev.N, dtype=np.complex128)
                    T.path_vjp(ev.ctx[i][j], np.ascontiguousarray(2.0 * ci * np.conj(dtr)[:, None, None] * eye),
                               Sigma)
        Sigma += Sp @ Gam
        return Sigma


def _carry(T, a, hops, sign):
    """a (V,) moved along the displacement d of `hops`: sign +1 gives a(y - d), sign -1 gives a(x + d)."""
    out = a[:, None]
    for mu, s in hops:
        out = T.shift(out, mu, -sign * s)
    return out[:, 0]
