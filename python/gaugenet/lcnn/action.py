"""Task 2 of issue 23: an L-CNN gauge action learned from action values AND derivatives (the seed's loss
w1 L1 + w2 L2), and the network action as a Hamiltonian piece (action and force) for HMC.

Network (NETWORK): plaq; conv 12 12 2 +id; bilin 12 12 1; trace 1 sum, i.e.
    A_theta[U] = sum_x Re tr sum_{j,k} a_jk A_j(x) B_k(x),   A = (L, L^dag, 1), B = (P, P^dag, 1),
    L_i = sum_{j, o} w_ijo T_o P_j   (T_o: the transport along kernel offset o = 0 or one hop in +-mu),
with the 12 oriented plaquettes P. It represents every action built from plaquettes and 2x1 rectangles
(tr(T_mu P_munu P_munu) is the trace of the rectangle two hops along mu), so Symanzik, Iwasaki and DBW2 exactly;
a plaquette-only model ('plaq; trace 12 sum') cannot represent them (it is the baseline of the table).

Parametrisation (the documented simpler one instead of the seed's local prefactor and power series): the weights
are tied by the lattice's axis permutations (S4 acting on plaquette orientations and hop directions; the target
actions are invariant under it) and restricted to connect channels of the same plane (as Task 1's blockwise
training). The network output is real-linear in the bilinear weights a for fixed conv weights w and real-linear
in w for fixed a, and so are its link derivatives; each half-step of the alternating least squares (ALS) minimises
    L = w1 sum_c (A_theta[U_c] - S[U_c])^2 / sum_c S[U_c]^2 + w2 sum_c |F_theta[U_c] - F[U_c]|^2 / sum_c |F[U_c]|^2
exactly (F the force, the derivative dS/dU in the Lie algebra; |.|^2 the sum over links and colours). A feature's
derivative is one vector-Jacobian product through the layers (lcnn/layers.py), so a half-step costs one VJP per
tied weight and configuration.
"""
import itertools
import time

import numpy as np

from .compose import apply, value_and_grads
from .layers import DIRECTIONS, PLANES, LBilin
from .model_io import parse_network

NETWORK = "plaq; conv 12 12 2 +id; bilin 12 12 1; trace 1 sum"
PLAQUETTE_ONLY = "plaq; trace 12 sum"


# ---------------------------------------------------------------------------------------------- the network action
class NetworkGaugeAction:
    """A_theta[U] of an L-CNN whose last layer is Trace(..., 1, reduce='sum'), with its force (gauge_force's
    representation, the interface of gaugenet.hmc's Hamiltonian pieces: `action(U)`, `force(U)`)."""

    def __init__(self, model, weights):
        if not model.scalar_out or model.c_out != 1 or model.layers[-1].reduce != "sum":
            raise ValueError("a network action must end in a Trace layer with one output summed over the lattice "
                             "('trace C 1 sum')")
        self.model, self.weights = model, weights

    def action(self, U):
        _, y, _, _ = apply(self.model, self.weights, U)
        return float(np.asarray(y)[0])

    def force(self, U):
        _, _, F = value_and_grads(self.model, self.weights, U, lambda y: np.ones(1), weight_grads=False)
        return np.asarray(F, dtype=np.complex128)

    def action_and_force(self, U):
        """Both from one forward and one backward pass."""
        y, _, F = value_and_grads(self.model, self.weights, U, lambda y: np.ones(1), weight_grads=False)
        return float(np.asarray(y)[0]), np.asarray(F, dtype=np.complex128)


# ---------------------------------------------------------------------------------------------- symmetry tying
def _oriented(k):
    """Plaq channel k -> its ordered pair (a, b): the loop a b -a -b."""
    mu, nu = PLANES[k % 6]
    return (mu, nu) if k < 6 else (nu, mu)


_CHANNEL = {_oriented(k): k for k in range(12)}
_PERMS = list(itertools.permutations(range(4)))


def _pc(p, k):
    """Plaq channel k under the axis permutation p."""
    a, b = _oriented(k)
    return _CHANNEL[(p[a], p[b])]


def _po(p, o, K):
    """LConv kernel offset o under p."""
    if o == 0:
        return 0
    d, k = divmod(o - 1, K - 1)
    mu, s = DIRECTIONS[d]
    return 1 + DIRECTIONS.index((p[mu], s)) * (K - 1) + k


def _paug(p, j, c):
    """Channel j of an L-Bilin augmentation (X, X^dag, 1) of c plaquette-labelled channels under p."""
    if j == 2 * c:
        return j
    return (c if j >= c else 0) + _pc(p, j % c)


def _orbits(shape, act, mask):
    """Labels (int array of `shape`, -1 outside mask) of the orbits of the S4 action `act(p, idx) -> idx`."""
    label = -np.ones(shape, dtype=np.int64)
    n = 0
    for idx in np.ndindex(*shape):
        if mask[idx] and label[idx] < 0:
            for p in _PERMS:
                j = act(p, idx)
                if not mask[j]:
                    raise ValueError("the weight mask is not invariant under the axis permutations")
                label[j] = n
            n += 1
    return label, n


def tied_orbits(K=2, all_planes=False):
    """(conv labels (12, 12, 1 + 8 (K-1)), n_conv, bilin labels (25, 25), n_bilin) for NETWORK: the orbits of
    the axis permutations on the plane-diagonal weights (all_planes: on all weights, which adds products of
    loops in different planes, e.g. chairs)."""
    no = 1 + 8 * (K - 1)
    mw = np.zeros((12, 12, no), dtype=bool)
    for i in range(12):
        for j in range(12):
            mw[i, j, :] = all_planes or (i % 6) == (j % 6)
    lw, nw = _orbits(mw.shape, lambda p, t: (_pc(p, t[0]), _pc(p, t[1]), _po(p, t[2], K)), mw)
    plane = [j % 6 for j in range(24)] + [None]
    ma = np.array([[all_planes or plane[j] is None or plane[k] is None or plane[j] == plane[k] for k in range(25)]
                   for j in range(25)])
    la, na = _orbits(ma.shape, lambda p, t: (_paug(p, t[0], 12), _paug(p, t[1], 12)), ma)
    return lw, nw, la, na


def _expand(labels, theta):
    """Complex weights from the real orbit parameters theta = (Re part per orbit, Im part per orbit)."""
    n = (len(theta)) // 2
    z = theta[:n] + 1j * theta[n:]
    out = np.zeros(labels.shape, dtype=np.complex128)
    m = labels >= 0
    out[m] = z[labels[m]]
    return out


def _indicators(labels, n):
    return [(labels == o).astype(np.complex128) for o in range(n)]


# ---------------------------------------------------------------------------------------------- data
class ActionSample:
    """One configuration: the target action value S and force F, and the network's fixed inputs (plaquettes,
    their transports, the Plaq/LConv contexts for the VJPs)."""

    def __init__(self, model, U, target):
        from ..links.paths import Paths
        self.U, self.T, self.lat = U, Paths(U), U.lat
        self.S = float(target.action(U))
        self.F = np.asarray(target.force(U), dtype=np.complex128)
        plaq, par = model.layers[0], model.layers[1]
        conv = par.branches[0]
        _, self.W, self.plaq_ctx = plaq.forward([], self.T, None, True)
        _, _, self.conv_ctx = conv.forward(conv.weights(), self.T, self.W, True)
        _, Wc, outs = self.conv_ctx
        X = [self.W]
        for d in range(len(DIRECTIONS)):
            X += list(outs[d][1:])
        self.X = np.stack(X, axis=2)                    # (V, 12, n_offsets, N, N) in LConv's offset order
        self.B = LBilin._augment(self.W)


def _links_from(sample, model, G_conv_w, GL, GW):
    """Force of a feature: the link cotangent of the conv (weights G_conv_w, output cotangent GL) plus the plaquette
    cotangent GW (identity branch), through Plaq."""
    plaq, conv = model.layers[0], model.layers[1].branches[0]
    Sigma = sample.T.zeros_sigma()
    if GL is not None:
        _, GWc, Sigma = conv.vjp([G_conv_w], sample.conv_ctx, GL, Sigma)
        GW = GW + GWc
    plaq.vjp([], sample.plaq_ctx, GW, Sigma)
    return sample.T.force(Sigma)


def _bilin_cotangents(a, A, B):
    """For y = sum_x Re tr sum_jk a_jk A_j B_k: the cotangents of L (first 12 of A) and of P (first 12 of B)."""
    GA = np.einsum("jk,vkab->vjab", a, B)                 # d/dA_j: sum_k a_jk B_k
    GB = np.einsum("jk,vjab->vkab", a, A)                 # d/dB_k: sum_j a_jk A_j
    GL = GA[:, :12] + np.conj(np.swapaxes(GA[:, 12:24], -1, -2))
    GP = GB[:, :12] + np.conj(np.swapaxes(GB[:, 12:24], -1, -2))
    return GL, GP


def _value(a, A, B, lat):
    z = np.einsum("vjab,vkba->jk", A, B)
    return float(lat.allreduce(float(np.sum(a * z).real)))


# ---------------------------------------------------------------------------------------------- training
class _Normal:
    """Accumulates the weighted least-squares problem of L for a linear model y = y0 + sum_i theta_i y_i (values and
    forces) as a triangular factor (row blocks folded in by QR, so the conditioning is that of the features, not
    its square as in the normal equations); the ranks' factors are combined by one more QR."""

    def __init__(self, n, sv, sf, w1, w2):
        self.n = n
        self.R = np.zeros((0, n))
        self.qb = np.zeros(0)
        self.cv, self.cf = np.sqrt(w1 / sv), np.sqrt(w2 / sf)

    def _fold(self, rows, rhs):
        q, r = np.linalg.qr(np.vstack([self.R, rows]))
        self.qb = q.T @ np.concatenate([self.qb, rhs])
        self.R = r

    def add(self, lat, v, v0, S, F, F0, Ft, weight=1.0):
        """One configuration's rows; `weight` multiplies its terms of the loss (a constraint: a large weight)."""
        v = np.asarray(v, dtype=np.float64)
        Fm = np.stack([f.ravel() for f in F], axis=1)     # (links * N^2, n)
        r = (Ft - F0).ravel()
        sw = np.sqrt(weight)
        rows = sw * self.cf * np.vstack([Fm.real, Fm.imag])
        rhs = sw * self.cf * np.concatenate([r.real, r.imag])
        if lat.rank == 0:                                 # the value row once (it is global)
            rows = np.vstack([rows, sw * self.cv * v[None]])
            rhs = np.concatenate([rhs, [sw * self.cv * (S - v0)]])
        self._fold(rows, rhs)

    def solve(self, lat, rcond=1e-13):
        parts = lat.cart.allgather((self.R, self.qb))
        R = np.vstack([p[0] for p in parts])
        qb = np.concatenate([p[1] for p in parts])
        return np.linalg.lstsq(R, qb, rcond=rcond)[0]


def _norms(samples):
    lat = samples[0].lat
    sv = sum(s.S ** 2 for s in samples)
    sf = sum(float(lat.allreduce(float(np.sum(np.abs(s.F) ** 2)))) for s in samples)
    return sv, sf


def evaluate(model, weights, samples_or_configs, target=None):
    """(value relative error, derivative relative error) of the network against the target: RMS over the
    configurations of |A_theta - S| / |S|, and sqrt(sum |F_theta - F|^2 / sum |F|^2) over all links and colours."""
    net = NetworkGaugeAction(model, weights)
    ev, nf, df = [], 0.0, 0.0
    for item in samples_or_configs:
        if isinstance(item, ActionSample):
            U, U_lat, S, F = item.U, item.lat, item.S, item.F
        else:
            U = item
            U_lat, S, F = U.lat, float(target.action(U)), np.asarray(target.force(U))
        A = net.action(U)
        Fn = net.force(U)
        ev.append(((A - S) / S) ** 2)
        df += float(U_lat.allreduce(float(np.sum(np.abs(Fn - F) ** 2))))
        nf += float(U_lat.allreduce(float(np.sum(np.abs(F) ** 2))))
    return float(np.sqrt(np.mean(ev))), float(np.sqrt(df / nf))


def fit_action(model, samples, iters=10, w1=1.0, w2=1.0, seed=0, log=None, all_planes=False):
    """ALS of the tied NETWORK weights on the loss L (module docstring). Returns (weights, curve, n_parameters):
    curve [(iteration, L)] after every full iteration, n_parameters the number of trained real parameters.
    all_planes: tie by the axis permutations only, without the same-plane restriction (tied_orbits)."""
    lw, nw, la, na = tied_orbits(model.layers[1].branches[0].K, all_planes)
    Ew, Ea = _indicators(lw, nw), _indicators(la, na)
    lat = samples[0].lat
    sv, sf = _norms(samples)
    rng = np.random.default_rng(seed)
    tw = rng.standard_normal(2 * nw) / np.sqrt(nw)
    ta = np.zeros(2 * na)
    curve = []
    for it in range(iters):
        # 1) a for fixed w
        w = _expand(lw, tw)
        ne = _Normal(2 * na, sv, sf, w1, w2)
        for s in samples:
            A = LBilin._augment(np.einsum("jlo,vloab->vjab", w, s.X))
            vals, forces = [], []
            for c in (1.0, 1j):
                for E in Ea:
                    vals.append(_value(c * E, A, s.B, lat))
                    GL, GP = _bilin_cotangents(c * E, A, s.B)
                    forces.append(_links_from(s, model, w, GL, GP))
            ne.add(lat, vals, 0.0, s.S, forces, 0.0, s.F, getattr(s, "weight", 1.0))
        ta = ne.solve(lat)
        a = _expand(la, ta)
        # 2) w for fixed a: y = y0 (the unit channel of A) + real-linear in w
        ne = _Normal(2 * nw, sv, sf, w1, w2)
        for s in samples:
            V, N = s.X.shape[0], s.X.shape[-1]
            A0 = np.zeros((V, 25, N, N), dtype=np.complex128)
            A0[:, 24] = np.eye(N)
            v0 = _value(a, A0, s.B, lat)
            _, GP0 = _bilin_cotangents(a, A0, s.B)
            F0 = _links_from(s, model, None, None, GP0)
            GLa, _ = _bilin_cotangents(a, A0, s.B)         # d/dL does not depend on L (bilinear)
            vals, forces = [], []
            for c in (1.0, 1j):
                for E in Ew:
                    L = np.einsum("jlo,vloab->vjab", c * E, s.X)
                    A = LBilin._augment(L)
                    A[:, 24] = 0.0
                    vals.append(_value(a, A, s.B, lat))
                    _, GP = _bilin_cotangents(a, A, s.B)
                    forces.append(_links_from(s, model, c * E, GLa, GP))
            ne.add(lat, vals, v0, s.S, forces, F0, s.F, getattr(s, "weight", 1.0))
        tw = ne.solve(lat)
        weights = assemble(model, lw, tw, la, ta)
        ev, ef = evaluate(model, weights, [s for s in samples if getattr(s, "weight", 1.0) == 1.0])
        curve.append((it, w1 * ev ** 2 + w2 * ef ** 2, ev, ef))
        if log:
            log(f"action ALS iteration {it:3d}: value rel. error {ev:.3e}, derivative rel. error {ef:.3e}")
    return assemble(model, lw, tw, la, ta), curve, 2 * (nw + na)


def assemble(model, lw, tw, la, ta):
    """The model's full weight list from the tied parameters (read-out fixed to Re tr, no bias)."""
    w = _expand(lw, tw)
    a = _expand(la, ta)[None]
    return [w, a, np.array([[1.0, 0.0]]), np.zeros(1)]


def fit_plaquette_only(samples, w1=1.0, w2=1.0):
    """The baseline: A = c sum_x sum_planes Re tr P + const (all a plaquette-only L-CNN can do under the same
    symmetry), fitted on the same loss. Returns (model, weights)."""
    model = parse_network(PLAQUETTE_ONLY, N=samples[0].F.shape[-1])
    lat = samples[0].lat
    sv, sf = _norms(samples)
    ne = _Normal(2, sv, sf, w1, w2)
    plaq = model.layers[0]
    for s in samples:
        V, N = s.W.shape[0], s.W.shape[-1]
        v = float(lat.allreduce(float(np.trace(s.W, axis1=-2, axis2=-1).real.sum())))
        G = np.zeros_like(s.W)
        G[:] = np.eye(N)
        Sigma = s.T.zeros_sigma()
        plaq.vjp([], s.plaq_ctx, G, Sigma)
        F1 = s.T.force(Sigma)
        ne.add(lat, [v, float(lat.global_volume)], 0.0, s.S, [F1, np.zeros_like(F1)], 0.0, s.F)
    c, bias = ne.solve(lat)
    weights = [np.concatenate([np.full((1, 12), c), np.zeros((1, 12))], axis=1), np.array([bias])]
    return model, weights


# ---------------------------------------------------------------------------------------------- the task
def action_gauge_invariance_error(model, weights, U, seed=12345):
    """|A(U^g) - A(U)| / |A(U)| for a random gauge transformation g."""
    import gaugenet as gn
    g = gn.GaugeField.random(U.lat, U.N, seed=seed)

    class _Om:
        def sites(self):
            return g.sites()[0]
    net = NetworkGaugeAction(model, weights)
    a = net.action(U)
    return float(abs(net.action(U.transform(_Om())) - a) / abs(a))


def action_task(target_name, target_beta, N, betas, train_volume, train_configs, test_volumes, test_configs,
                sweeps, sep, seed, iters, w1=1.0, w2=1.0, mpi=None, log=None):
    """Train NETWORK on (values, derivatives) of the target action on train_volume configurations and test it on
    fresh configurations of every test volume; the plaquette-only baseline is fitted and tested alike.
    Returns (model, weights, summary dict, curve)."""
    from ..gauge.improved import ImprovedGaugeAction
    from .tasks import ensemble
    target = ImprovedGaugeAction(target_beta, target_name)
    model = parse_network(NETWORK, N=N)
    train_set = ensemble(train_volume, N, betas, train_configs, sweeps, sep, seed, mpi, log)
    model.check_lattice(train_set[0][1].lat)
    samples = [ActionSample(model, U, target) for _, U in train_set]
    t0 = time.time()
    weights, curve, n_par = fit_action(model, samples, iters, w1, w2, seed=seed, log=log)
    seconds = time.time() - t0
    base_model, base_weights = fit_plaquette_only(samples, w1, w2)
    tests, gi = [], 0.0
    for k, dims in enumerate(test_volumes):
        cfgs = [U for _, U in ensemble(dims, N, betas, test_configs, sweeps, sep, seed + 5000 + 31 * k, mpi, log)]
        model.check_lattice(cfgs[0].lat)
        ev, ef = evaluate(model, weights, cfgs, target)
        bv, bf = evaluate(base_model, base_weights, cfgs, target)
        gi = max(gi, action_gauge_invariance_error(model, weights, cfgs[0]))
        tests.append({"volume": list(dims), "value_rel_error": ev, "derivative_rel_error": ef,
                      "plaquette_only_value_rel_error": bv, "plaquette_only_derivative_rel_error": bf,
                      "configs": len(cfgs)})
        if log:
            log(f"test {'x'.join(map(str, dims))}: value rel. error {ev:.3e}, derivative rel. error {ef:.3e} "
                f"(plaquette-only model: {bv:.3e}, {bf:.3e})")
    summary = {"task": "action", "loop": None, "N": int(N), "target_action": target.name or target_name,
               "target_c1": target.c1, "target_beta": float(target_beta), "network": NETWORK,
               "n_weights": int(model.n_weights), "n_trained_weights": int(n_par),
               "train_volume": list(train_volume), "train_configs": len(samples), "betas": list(betas),
               "optimizer": "als-tied", "steps": int(iters), "loss_weights": [float(w1), float(w2)],
               "final_train_loss": curve[-1][1] if curve else None, "test": tests,
               "gauge_invariance_error": gi, "training_seconds": seconds}
    return model, weights, summary, [(c[0], c[1]) for c in curve]
