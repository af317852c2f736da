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

Products of two traces (neighbour couplings). "MxN*MxN" is Re(tr A(x) tr B(x + d)) for two congruent M x N
rectangles A, B side by side sharing an edge (d = M along the first side or N along the second), "MxN*MxN:conj"
is Re(tr A conj tr B); "MxN:adj" is the product of a loop with its own conjugate (B = A, d = 0). These are the
terms of the next order of Lüscher's expansion in two dimensions, where a link's push on one plaquette is seen by
its neighbour. "figure8" is the closed path around two plaquettes sharing a link, one of them run backwards (the
shared link is passed twice in the same direction). With f = tr A, g = tr B (or conj tr B) and no loop meeting its
own links, Delta(f g) = g Delta f + f Delta g + 2 grad f . grad g, and the cross term lives on the links that A and
B share: for hops i of A and j of B on one link (signs sigma_i, sigma_j) the Fierz identity gives

    2 Re(grad f . grad g)_(i, j) = epsilon sigma_i sigma_j (Re tr C - Re(f g) / N)

with C the closed path "A from the insertion point, then B from it" (B reversed for the conjugate product,
epsilon = +1; epsilon = -1 for the plain product), which is a rectangle or a figure eight (or nothing for the
adjoint: tr C = N). So Delta W = -C_F (len A + len B) W + sum_(i, j) epsilon sigma_i sigma_j (Re tr C - W / N).
The force of a product is that of A with the per-corner coefficient g and of B with f; the force's
vector-Jacobian product differentiates both factors (LoopSecondOrder).

Sample axis. Every quantity is also available per slice of one lattice direction (`per_slice`): a lattice
16 x 16 x B x 1 with the flow in the (0, 1) plane holds B independent two-dimensional configurations, and the
per-slice sums are their actions and log-determinants (docs/flows.md).
"""
import re
from typing import NamedTuple

import numpy as np

from ...links.paths import Paths

ALIASES = {"plaquette": "1x1", "rectangle": "1x2"}
DEFAULT_LOOPS = ("1x1", "1x2", "1x3", "2x2", "2x3", "3x3", "1x4")   # our 7 loop types of "model A"
KINDS = ("fund", "adj", "prod", "prod:conj", "fig8")


def parse_loop(name):
    """(m, n, k, kind) with m <= n of a loop type name: 'plaquette', 'rectangle', 'MxN', 'MxN^K' (the M x N loop
    wound K times: Re tr P^K), 'MxN:adj' (|tr P|^2 = chi_adj(P) + 1), 'MxN*MxN' (Re tr A tr B of two neighbouring
    rectangles), 'MxN*MxN:conj' (Re tr A conj tr B) or 'figure8' (two plaquettes sharing a link, one reversed)."""
    key = str(name).strip().lower()
    if key in ("figure8", "1x1:fig8"):
        return 1, 1, 1, "fig8"
    mt = re.fullmatch(r"(plaquette|rectangle|\d+x\d+)(?:\^(\d+))?(:adj)?", key)
    mp = re.fullmatch(r"(plaquette|rectangle|\d+x\d+)\*(plaquette|rectangle|\d+x\d+)(:conj)?", key)
    bad = not (mt or mp)
    if mt:
        m, n = (int(x) for x in ALIASES.get(mt.group(1), mt.group(1)).split("x"))
        k = int(mt.group(2)) if mt.group(2) else 1
        kind = "adj" if mt.group(3) else "fund"
        bad = min(m, n, k) < 1 or (kind == "adj" and k != 1)
    elif mp:
        a, b = (sorted(int(x) for x in ALIASES.get(g, g).split("x")) for g in mp.group(1, 2))
        (m, n), k = a, 1
        kind = "prod:conj" if mp.group(3) else "prod"
        bad = a != b or min(m, n) < 1
    if bad:
        raise ValueError(f"unknown loop type {name!r}: use 'plaquette', 'rectangle', 'MxN' (e.g. '2x3'), "
                         f"'MxN^K' (wound K >= 1 times, e.g. '1x1^2' for Re tr P^2), 'MxN:adj' (|tr P|^2), "
                         f"'MxN*MxN' or 'MxN*MxN:conj' (traces of two neighbouring loops) or 'figure8'")
    m, n = sorted((m, n))
    return m, n, k, kind


def loop_name(m, n, k=1, kind="fund"):
    if kind == "fig8":
        return "figure8"
    base = f"{m}x{n}"
    if kind.startswith("prod"):
        return f"{base}*{base}" + (":conj" if kind == "prod:conj" else "")
    return base + (f"^{k}" if k != 1 else "") + (":adj" if kind == "adj" else "")


def rectangle_path(mu, nu, m, n):
    return [(mu, 1)] * m + [(nu, 1)] * n + [(mu, -1)] * m + [(nu, -1)] * n


def inverse_path(p):
    return tuple((mu, -s) for mu, s in reversed(p))


def reduce_closed(p):
    """(offset hops, path): a closed path with backtracking hops cancelled, the start moved by `offset` where the
    cancellation crosses the start (tr is unchanged: tr(H M H^dag) = tr M)."""
    out = []
    for h in p:
        if out and out[-1] == (h[0], -h[1]):
            out.pop()
        else:
            out.append(h)
    off = []
    while len(out) >= 2 and out[0] == (out[-1][0], -out[-1][1]):
        off.append(out[0])
        out = out[1:-1]
    return tuple(off), tuple(out)


def _hop_sites(path, start=()):
    """Per hop: the link it runs on (mu, x) in unwrapped coordinates, its insertion slot and sign sigma."""
    pos = np.zeros(4, dtype=int)
    for mu, s in start:
        pos[mu] += s
    out = []
    for k, (mu, s) in enumerate(path):
        site = pos.copy()
        if s < 0:
            site[mu] -= 1
        out.append(((mu,) + tuple(int(v) for v in site), (k, 1) if s > 0 else (k + 1, -1)))
        pos[mu] += s
    return out


def _wrap(key, dims):
    return (key[0],) + tuple(key[1 + d] % dims[d] for d in range(4))


class Term(NamedTuple):
    """One summand of a loop type at corner x: Re tr A(x) (b None), or Re(tr A(x) tr B(x + d)) / with conj tr B.
    `cross`: for a product, (epsilon sigma sigma', offset, C) per pair of hops of A and B on one link (module
    docstring), C the reduced closed path that starts at x + offset."""
    a: tuple
    b: tuple = None
    d: tuple = ()
    conj: bool = False
    cross: tuple = ()


def product_term(a, b, d, conj):
    a, b, d = tuple(a), tuple(b), tuple(d)
    ha, hb = _hop_sites(a), _hop_sites(b, d)
    cross = []
    for i, (la, (sa, ga)) in enumerate(ha):
        for j, (lb, (sb, gb)) in enumerate(hb):
            if la != lb:
                continue
            ra, rb = a[sa:] + a[:sa], b[sb:] + b[:sb]
            off, C = reduce_closed(ra + (inverse_path(rb) if conj else rb))
            cross.append(((1 if conj else -1) * ga * gb, a[:sa] + off, C))
    return Term(a, b, d, conj, tuple(cross))


def check_dirs(dirs):
    d = tuple(sorted(set(int(x) for x in dirs)))
    if len(d) != len(tuple(dirs)) or len(d) < 2 or any(x not in (0, 1, 2, 3) for x in d):
        raise ValueError(f"flow directions {tuple(dirs)!r}: need at least two distinct directions in 0..3")
    return d


def casimir(N):
    return (N * N - 1) / (2.0 * N)


class LoopSet:
    """The terms (closed paths, or pairs of them) of each loop type over the planes of `dirs`, and the
    self-overlap pairs on a lattice."""

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
        self.terms = [self._terms(*t) for t in types]
        self.paths = [[tm.a for tm in ts] for ts in self.terms]
        self._pairs = {}
        self._fits = {}

    def _terms(self, m, n, k, kind):
        out = []
        for i, mu in enumerate(self.dirs):
            for nu in self.dirs[i + 1:]:
                for a, b in ((mu, nu), (nu, mu)) if m != n else ((mu, nu),):
                    r = tuple(rectangle_path(a, b, m, n))
                    sides = ([(a, 1)] * m, [(b, 1)] * n)
                    if kind == "fund":
                        out.append(Term(r * k))
                    elif kind == "adj":
                        out.append(product_term(r, r, (), True))
                    elif kind == "fig8":
                        out.extend(Term(product_term(r, r, d, True).cross[0][2]) for d in sides)
                    else:
                        out.extend(product_term(r, r, d, kind == "prod:conj") for d in sides)
        return out

    def __len__(self):
        return len(self.shapes)

    def pairs(self, dims, path):
        """[(pa, pb, sign)]: the insertion slots 0 <= pa <= pb <= len(path) and sigma_i sigma_j of every pair of
        hops of `path` on the same link of a lattice with global `dims` (x, y, z, t)."""
        key = (tuple(dims), tuple(path))
        if key not in self._pairs:
            hs = [(_wrap(lk, dims), sl) for lk, sl in _hop_sites(path)]
            out = []
            for i in range(len(hs)):
                for j in range(i + 1, len(hs)):
                    if hs[i][0] == hs[j][0]:
                        a, b = sorted((hs[i][1][0], hs[j][1][0]))
                        out.append((a, b, hs[i][1][1] * hs[j][1][1]))
            self._pairs[key] = out
        return self._pairs[key]

    def fits(self, dims, term):
        """A product term fits the lattice when neither loop meets its own links and the two loops share exactly
        the links they share on an infinite lattice (cached per lattice, as the pairs)."""
        key = (tuple(dims), term)
        if key not in self._fits:
            ha = [_wrap(lk, dims) for lk, _ in _hop_sites(term.a)]
            hb = [_wrap(lk, dims) for lk, _ in _hop_sites(term.b, term.d)]
            self._fits[key] = (not self.pairs(dims, term.a) and not self.pairs(dims, term.b)
                               and sum(x == y for x in ha for y in hb) == len(term.cross))
        return self._fits[key]


def per_slice(lat, a, axis):
    """Sums of a per-site field a (V,) over the sites of each slice x_axis = const: (L_axis,), global."""
    loc = np.asarray(a, dtype=np.float64).reshape(lat.local_shape)
    keep = 3 - axis                                  # local_shape is (t, z, y, x)
    s = loc.sum(axis=tuple(d for d in range(4) if d != keep))
    out = np.zeros(lat.dims[axis])
    out[lat.origin[axis]:lat.origin[axis] + lat.local_dims[axis]] = s
    return np.asarray(lat.allreduce(out), dtype=np.float64)


def _acc(G, p, x):
    G[p] = G[p] + x if p in G else x


class LoopEvaluation:
    """The loop sums of one link configuration: `site[i]` (V,) = sum over the terms of type i at corner x;
    `laplacian_site[i]` (V,) the per-corner Laplacian Delta W_i; `sigma(c)` the link cotangent of sum c_i W_i.
    Every distinct closed path is multiplied out once (`loop`) and shared by all types that use it."""

    def __init__(self, lat, links, loops, laplacian=True):
        self.lat, self.loops = lat, loops
        self.T = Paths(lat=lat, links=links)
        self.N = self.T.N
        self._loops = {}
        self.site = []
        self.laplacian_site = [] if laplacian else None
        for name, kind, terms in zip(loops.names, loops.reps, loops.terms):
            if kind in ("adj", "prod", "prod:conj") and not all(loops.fits(lat.dims, tm) for tm in terms):
                raise ValueError(f"loop {name} meets its own links on the lattice {tuple(lat.dims)}: adjoint loop "
                                 f"types need every loop to fit in the lattice (product types too)")
            w = np.zeros(self.T.V)
            lap = np.zeros(self.T.V)
            for tm in terms:
                val = self.value(tm)
                w += val
                if laplacian:
                    lap += self._term_laplacian(tm, val)
            self.site.append(w)
            if laplacian:
                self.laplacian_site.append(lap)

    def loop(self, p):
        """(tr P(x) (V,) complex, ctx) of the closed path p at every corner (cached; the empty path has tr = N)."""
        p = tuple(p)
        if p not in self._loops:
            if not p:
                self._loops[p] = (np.full(self.T.V, self.N, dtype=np.complex128), None)
            else:
                P, ctx = self.T.loop(p)
                self._loops[p] = (np.trace(P, axis1=-2, axis2=-1), ctx)
        return self._loops[p]

    def _factor(self, tm):
        """g(x) = tr B(x + d) or its conjugate: the second factor of a product term at corner x."""
        tb = self.loop(tm.b)[0]
        return _carry(self.T, np.conj(tb) if tm.conj else tb, tm.d, -1)

    def _cofactor(self, tm):
        """The coefficient of tr B(y) in d Re(f g) at B's corner y: f(y - d), conjugated for conj products."""
        ta = self.loop(tm.a)[0]
        return _carry(self.T, np.conj(ta) if tm.conj else ta, tm.d, +1)

    def value(self, tm):
        ta = self.loop(tm.a)[0]
        return ta.real.copy() if tm.b is None else (ta * self._factor(tm)).real

    def _term_laplacian(self, tm, val):
        C_F = casimir(self.N)
        if tm.b is None:
            return -C_F * len(tm.a) * val + self._pair_terms(tm.a, val)
        out = -C_F * (len(tm.a) + len(tm.b)) * val
        for sg, off, C in tm.cross:
            out += sg * (_carry(self.T, self.loop(C)[0].real, off, -1) - val / self.N)
        return out

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

    def add_term_coefficients(self, G, tm, coef):
        """G[path] += the per-corner coefficient g with sum Re(g tr dP) = coef d(term): coef for Re tr A; for a
        product, coef g on A and coef f on B."""
        if tm.b is None:
            _acc(G, tm.a, coef)
        else:
            _acc(G, tm.a, coef * self._factor(tm))
            _acc(G, tm.b, coef * self._cofactor(tm))

    def flush(self, G, Sigma):
        """Sigma += the link cotangent of sum_paths sum_x Re(G_p(x) tr P(x))."""
        eye = np.eye(self.N, dtype=np.complex128)
        for p, g in G.items():
            ctx = self.loop(p)[1]
            if ctx is not None:
                g = np.broadcast_to(np.asarray(g), (self.T.V,))
                self.T.path_vjp(ctx, np.ascontiguousarray(g[:, None, None] * eye), Sigma)
        return Sigma

    def sigma(self, c):
        """Link cotangent of sum_i c_i W_i, (4, V, N, N)."""
        G = {}
        for ci, terms in zip(c, self.loops.terms):
            if ci != 0.0:
                for tm in terms:
                    self.add_term_coefficients(G, tm, float(ci))
        return self.flush(G, self.T.zeros_sigma())

    def force(self, c):
        """Z = -d S~ (anti-hermitian traceless, (4, V, N, N)) for S~ = sum_i c_i W_i."""
        return self.T.force(self.sigma(c))

    def _lap_weight(self, tm):
        """Delta(term) = weight * term + (pair terms, cross paths): the coefficient of the term itself."""
        if tm.b is None:
            pairs = self.loops.pairs(self.lat.dims, tm.a)
            return -casimir(self.N) * len(tm.a) + sum(sg for _, _, sg in pairs) / self.N
        return -casimir(self.N) * (len(tm.a) + len(tm.b)) - sum(sg for sg, _, _ in tm.cross) / self.N

    def laplacian_sigma(self, c, sigmas=None):
        """Link cotangent of sum_i c_i Delta W_i (the gradient of the flow's divergence, up to the sign), (4, V, N, N).
        Each term's Laplacian is a multiple of the term plus, for loops that meet their own links, the pair terms
        -sigma sigma' Re(tr X tr Y - tr W / N) (differentiated through their two arcs), and for products the
        cross paths epsilon sigma sigma' Re tr C. `sigmas`: the per-type cotangents of W_i when the caller has them
        (LoopSecondOrder.sigmas); types whose Laplacian is a multiple of themselves then cost nothing more."""
        Sigma = self.T.zeros_sigma()
        G = {}
        for i, (ci, terms) in enumerate(zip(c, self.loops.terms)):
            if ci == 0.0:
                continue
            ws = [self._lap_weight(tm) for tm in terms]
            closed = all(not self.loops.pairs(self.lat.dims, tm.a) if tm.b is None
                         else all(not C for _, _, C in tm.cross) for tm in terms)
            if sigmas is not None and closed and np.allclose(ws, ws[0], rtol=0, atol=1e-14):
                Sigma += (ws[0] * ci) * sigmas[i]
                continue
            for tm, wt in zip(terms, ws):
                self.add_term_coefficients(G, tm, ci * wt)
                if tm.b is None:
                    for a, b, sg in self.loops.pairs(self.lat.dims, tm.a):
                        self._pair_vjp(tm.a[a:b], tm.a[b:] + tm.a[:a], -sg * ci, Sigma)
                else:
                    for sg, _, C in tm.cross:
                        if C:
                            _acc(G, C, ci * sg)
        return self.flush(G, Sigma)

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


def _times(a, M):
    """a (scalar or (V,)) times the site field M (V, N, N)."""
    return a * M if np.ndim(a) == 0 else a[:, None, None] * M


class LoopSecondOrder:
    """Second-order data of a loop action at one configuration W, for backprop through the flow.

    `sigmas()`: the link cotangent of each W_i separately (the force of each loop type).
    `directional_sigma(c, Gam)`: the link cotangent (gradient with respect to W) of
        D_Gam Phi_c(W) = d/ds Phi_c(exp(s Gam) W) at s = 0 = sum_l Re tr(Gam_l W_l Sigma_l(W)),   Phi_c = sum c_i W_i,
    for a fixed algebra field Gam (4, V, N, N): the vector-Jacobian product of the force, since
    sum tr(Gam Z) = sum Re tr(Gam W Sigma) / 2 for Z = TA(W Sigma) / 2 and Gam anti-hermitian traceless.
    Every distinct loop is rotated so that each of its hops in turn comes first; that hop takes its link from
    W' = Gam W (the insertion), the open rest of the loop from W, both through links/paths.py, weighted by the
    loop's corner coefficient summed over all types (1 for Re tr P; for a product f g, g on f's loop and f on g's).
    A product also varies through its other factor: D f . dg + df . D g, with D f the inserted traces of the
    same pass. Cost: the square of the loop length in one-hop products per distinct loop (about ten forces for the
    seven loops of model A). Loops that meet their own links (windings, or loops wrapping a small lattice) need
    nothing special here: the insertion is made at one hop at a time and the rest of the loop, with its repeated
    links, is differentiated as it stands."""

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
        Tp = Paths(lat=ev.lat, links=np.einsum("mvij,mvjk->mvik", Gam, T.U))
        Sigma = T.zeros_sigma()
        Sp = T.zeros_sigma()
        corner, products = {}, []
        for ci, terms in zip(c, ev.loops.terms):
            if ci == 0.0:
                continue
            for tm in terms:
                ev.add_term_coefficients(corner, tm, float(ci))
                if tm.b is not None:
                    products.append((float(ci), tm))
        need = {p for _, tm in products for p in (tm.a, tm.b)}
        D = {p: self._insert(T, Tp, p, cx, p in need, Sigma, Sp) for p, cx in corner.items()}
        G = {}
        for ci, tm in products:         # the other factor: Re(D f g) through g, Re(f D g) through f
            Da, Db = (np.conj(D[tm.a]), np.conj(D[tm.b])) if tm.conj else (D[tm.a], D[tm.b])
            _acc(G, tm.b, ci * _carry(T, Da, tm.d, +1))
            _acc(G, tm.a, ci * _carry(T, Db, tm.d, -1))
        ev.flush(G, Sigma)
        Sigma += Sp @ Gam
        return Sigma

    @staticmethod
    def _insert(T, Tp, p, cx, want, Sigma, Sp):
        """One pass over the hops of the closed path p with corner coefficient cx (scalar or (V,)): the cotangents
        of sum_x Re(cx(x) D tr P(x)) into Sigma (the open rests) and Sp (the inserted hops); returns D tr P (V,)
        when `want`."""
        dt = np.zeros(T.V, dtype=np.complex128) if want else None
        for k in range(len(p)):
            q = p[k:] + p[:k]
            mu, s = q[0]
            R, ctx = T.path(q[1:])
            Hp = Tp.hop_link(mu, s)
            Rs = T.shift(R, mu, s)
            cy = cx if np.ndim(cx) == 0 else _carry(T, cx, p[:k], +1)    # the corner's coefficient at the start y
            if want:
                dt += _carry(T, np.einsum("vij,vji->v", Hp, Rs), p[:k], -1)
            _add_hop_cotangent(T, Sp, mu, s, _times(cy, Rs))
            T.path_vjp(ctx, np.ascontiguousarray(T.shift(_times(cy, Hp), mu, -s)), Sigma)
        return dt


def _carry(T, a, hops, sign):
    """a (V,) moved along the displacement d of `hops`: sign +1 gives a(y - d), sign -1 gives a(x + d)."""
    if not hops or np.ndim(a) == 0:
        return a
    out = a[:, None]
    for mu, s in hops:
        out = T.shift(out, mu, -sign * s)
    return out[:, 0]
