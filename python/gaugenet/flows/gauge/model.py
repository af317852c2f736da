"""The learned gradient flow as a model: coefficients c_i(t) = sum_k theta[k, i] t^k (n_t terms for each of
the n_W loop types; the seed's model A is 2_t x 7_W), the Wilson target in the flowed planes, the log-weights of
flowed Haar samples and their ESS.

Batches of two-dimensional configurations. A lattice L0 x L1 x B x 1 flowed in the plane dirs = (0, 1) holds B
independent two-dimensional SU(N) configurations in its z slices: every loop lies in one slice, and the links
along z and t are never used nor moved (frozen; they may hold anything). Actions and log-determinants are
then reported per slice (`slice_axis = 2`), and one pass of the flow treats the whole batch.

Weights. V is Haar distributed (q_0 = 1), U = F(V), log q(U) = -log det F_*(V), and the importance weight of
U for the target p ~ exp(-S) is log w = -S(U) + log det F_*(V) (up to a constant); ESS = (sum w)^2 / (N sum w^2).

The leading-order trivializing flow. With q_t ~ exp(-t S) to first order in beta, the continuity equation
needs Delta S~ = -S + const; for the Wilson action S = beta sum_p (1 - Re tr U_p / N) and S~ = a W_plaquette,
Delta W_plaquette = -4 C_F W_plaquette gives a = -beta / (2 (N^2 - 1)) (-beta / 16 for SU(3)), constant in t
(Lüscher 2009, leading order). `leading_order_theta` sets it. His next-to-leading-order map (the seed's
"Lüscher, NL") adds t S~_1 with S~_1 a combination of the rectangle, the figure eight, plaquette windings and
products of neighbouring plaquette traces; `luscher_nlo_theta` solves for it exactly in that loop set.
"""
import numpy as np

from ..sampler import ess_with_error
from .integrate import check_steps, integrate, invert
from .loops import DEFAULT_LOOPS, LoopEvaluation, LoopSet, per_slice


class GaugeFlowModel:
    """theta (n_t, n_loops); the flow t = 0 -> 1 in n_steps steps of Lüscher's RK3 scheme."""

    def __init__(self, loops=DEFAULT_LOOPS, n_t=2, dirs=(0, 1), n_steps=20, theta=None):
        self.loops = loops if isinstance(loops, LoopSet) else LoopSet(loops, dirs)
        if int(n_t) != n_t or int(n_t) < 1:
            raise ValueError(f"n_t (terms of the t-expansion) must be >= 1, got {n_t!r}")
        self.n_t = int(n_t)
        self.n_steps = check_steps(n_steps)
        shape = (self.n_t, len(self.loops))
        self.theta = np.zeros(shape) if theta is None else np.array(theta, dtype=np.float64)
        if self.theta.shape != shape:
            raise ValueError(f"theta of shape {self.theta.shape}, the model needs {shape} (n_t x n_loops)")

    @property
    def n_parameters(self):
        return self.theta.size

    def coeff(self, t):
        return np.polynomial.polynomial.polyval(t, self.theta)      # sum_k theta[k] t^k, (n_loops,)

    def forward(self, lat, V, slice_axis=None, logdet=True):
        return integrate(lat, V, self.loops, self.coeff, self.n_steps, logdet=logdet, slice_axis=slice_axis)

    def inverse(self, lat, U):
        return invert(lat, U, self.loops, self.coeff, self.n_steps)


def leading_order_theta(model, beta, N):
    """theta of the leading-order trivializing flow (module docstring): c_plaquette = -beta / (2 (N^2 - 1))."""
    if "1x1" not in model.loops.names:
        raise ValueError("the leading-order flow needs the plaquette among the loop types")
    th = np.zeros_like(model.theta)
    th[0, model.loops.names.index("1x1")] = -float(beta) / (2.0 * (N * N - 1))
    return th


def luscher_nlo_theta(model, beta, N, L=8, configs=24, seed=0, tol=1e-9):
    """theta of Lüscher's trivializing flow to next-to-leading order in beta, S~_t = S~_0 + t S~_1, in two
    dimensions (model.loops.dirs = (0, 1)). With S = -(beta / N) W_plaquette + const and S~_0 = a W_plaquette
    (leading order), the continuity equation at order beta^2 asks Delta S~_1 = dS~_0 . dS + const
    = -(a beta / N) sum_(l, a) (d^a_l W_plaquette)^2 + const. The right side is a sum of Fierz products: of one
    plaquette with itself (Re tr P^2, |tr P|^2, Re tr P) and of two plaquettes sharing a link (the rectangle, the
    figure eight, Re(tr P tr Q), Re(tr P conj tr Q)), and Delta maps that span into itself; so S~_1 = sum_i b_i W_i
    over the seven types 1x1, 1x1^2, 1x1:adj, 1x2, figure8, 1x1*1x1, 1x1*1x1:conj, 8 non-zero coefficients in
    all with S~_0 (the seed's "Lüscher, NL: 8 non-zero values"). The b_i are found by solving the identity on
    `configs` Haar-random L x L configurations (least squares with a constant; exact, so the residual is at
    rounding level, else the loop set lacks a needed type: ValueError). Returns (theta, relative residual)."""
    from mpi4py import MPI
    from ...fields.gauge import GaugeField
    from ...lattice import Lattice
    if tuple(model.loops.dirs) != (0, 1):
        raise ValueError("Lüscher's next-to-leading-order flow is built here for two dimensions (dirs (0, 1)); "
                         "in 4D it needs non-planar loops (chairs) that are not loop types")
    if model.n_t < 2:
        raise ValueError("the next-to-leading-order flow is linear in t: it needs n_t >= 2")
    th = leading_order_theta(model, beta, N)
    a = th[0, model.loops.names.index("1x1")]
    lat = Lattice((int(L), int(L), int(configs), 1), coarse=True, comm=MPI.COMM_SELF)
    V = GaugeField.random(lat, N=N, seed=seed, stream=4242).sites().astype(np.complex128)
    ev = LoopEvaluation(lat, V, model.loops)
    Zp = LoopEvaluation(lat, V, LoopSet(["1x1"], (0, 1)), laplacian=False).force([1.0])    # -dW_plaquette
    grad2 = -2.0 * np.einsum("mvij,mvji->v", Zp, Zp).real                                      # sum_a (d^a W)^2
    rhs = per_slice(lat, -(a * float(beta) / N) * grad2, 2)
    A = np.stack([per_slice(lat, x, 2) for x in ev.laplacian_site] + [np.ones(int(configs))], axis=1)
    b, *_ = np.linalg.lstsq(A, rhs, rcond=None)
    res = float(np.linalg.norm(A @ b - rhs) / np.linalg.norm(rhs))
    if not res < tol:
        raise ValueError(f"the loop set {model.loops.names} does not hold Lüscher's next-to-leading-order flow "
                         f"(relative residual {res:.2e}); it needs 1x1, 1x1^2, 1x1:adj, 1x2, figure8, 1x1*1x1, "
                         f"1x1*1x1:conj")
    th[1] = b[:-1]
    return th, res


def wilson_action(lat, links, beta, dirs=(0, 1), slice_axis=None):
    """S = beta sum_(x, planes mu < nu in dirs) (1 - Re tr U_munu(x) / N): a float, or one value per slice."""
    ls = LoopSet(["1x1"], dirs)
    ev = LoopEvaluation(lat, links, ls, laplacian=False)
    n_planes = len(ls.paths[0])
    site = float(beta) * (n_planes - ev.site[0] / ev.N)
    if slice_axis is None:
        return float(lat.allreduce(float(site.sum())))
    return per_slice(lat, site, slice_axis)


def log_weights(model, lat, V, beta, slice_axis=2):
    """(log w per slice, S per slice, log det per slice) of the flowed batch V."""
    U, ld = model.forward(lat, V, slice_axis=slice_axis)
    S = np.atleast_1d(wilson_action(lat, U, beta, model.loops.dirs, slice_axis))
    ld = np.atleast_1d(ld)
    return -S + ld, S, ld


def measure_ess(model, lat, beta, N, n_batches, seed, slice_axis=2):
    """ESS (with jackknife error) of the model over n_batches Haar batches of the lattice's slices."""
    from ...fields.gauge import GaugeField
    logw = []
    for b in range(int(n_batches)):
        V = GaugeField.random(lat, N=N, seed=seed, stream=b).sites().astype(np.complex128)
        lw, _, _ = log_weights(model, lat, V, beta, slice_axis)
        logw.append(lw)
    logw = np.concatenate(logw)
    e, err = ess_with_error(logw)
    return e, err, logw


# ---------------------------------------------------------------------------------------------- training
def _coeff_grad_rows(model, t):
    """d c_i(t) / d theta[k, i] = t^k, (n_t,)."""
    return np.array([t ** k for k in range(model.n_t)])


def _stage_backward(model, lat, W, c, t, eps, GamZ, b_div, gtheta=None):
    """Link cotangent of the stage's force Z = eps force(W, c) with cotangent GamZ (sum tr(dZ GamZ)) and of
    -eps b_div div(W, c) (the cost's -log det); with gtheta (n_t, n_loops) the theta gradient is accumulated
    into it (local sums); without, only the link cotangent is formed (the V-gradient of flow HMC)."""
    from .loops import LoopSecondOrder
    ev = LoopEvaluation(lat, W, model.loops, laplacian=bool(b_div) and gtheta is not None)
    so = LoopSecondOrder(ev)
    G = 0.5 * eps * so.directional_sigma(c, GamZ)
    if gtheta is None:
        if b_div:                     # -log det = -sum eps b div, div = -sum c_i Delta W_i
            G += (eps * b_div) * ev.laplacian_sigma(c)
        return G
    sig = so.sigmas()
    rows = _coeff_grad_rows(model, t)
    for j, sj in enumerate(sig):
        Fj = ev.T.force(sj)
        dc = eps * float(np.sum(np.einsum("mvij,mvji->mv", Fj, GamZ).real))
        if b_div:
            dc += eps * b_div * float(np.sum(ev.laplacian_site[j]))
        gtheta[:, j] += rows * dc
    if b_div:
        G += (eps * b_div) * ev.laplacian_sigma(c, sigmas=sig)
    return G


def _exp_backward(X, Wprev, G, dirs):
    """For W = exp(X) Wprev with link cotangent G of W: (cotangent of Wprev, algebra cotangent of X)."""
    from ...gauge.expderiv import SUExp
    Gp = G.copy()
    GamX = np.zeros_like(G)
    for d in dirs:
        se = SUExp(X[d])
        GamX[d] = se.pullback(Wprev[d] @ G[d])
        Gp[d] = G[d] @ se.exp
    return Gp, GamX


def forward_with_tape(model, lat, V):
    """The flow of V as integrate() computes it, keeping what the backward pass needs: (U = F(V), the per-site
    log det F_* (V,), the tape of every step: stage links W_0, W_1, W_2, exponents X_0, X_1, X_2, stage times and
    coefficients)."""
    from .integrate import A21, B, C, _expmul
    dirs = model.loops.dirs
    n = model.n_steps
    eps = 1.0 / n
    U = np.ascontiguousarray(V, dtype=np.complex128)
    tape = []
    ld = np.zeros(lat.local_volume)
    for k in range(n):
        t = k * eps
        ts = [t + C[i] * eps for i in range(3)]
        cs = [np.asarray(model.coeff(x), dtype=np.float64) for x in ts]
        W0 = U
        e0 = LoopEvaluation(lat, W0, model.loops)
        Z0 = eps * e0.force(cs[0])
        X0 = A21 * Z0
        W1 = _expmul(W0, X0, dirs)
        Z1 = eps * LoopEvaluation(lat, W1, model.loops, laplacian=False).force(cs[1])
        X1 = (8.0 / 9.0) * Z1 - (17.0 / 36.0) * Z0
        W2 = _expmul(W1, X1, dirs)
        e2 = LoopEvaluation(lat, W2, model.loops)
        Z2 = eps * e2.force(cs[2])
        X2 = 0.75 * Z2 - (8.0 / 9.0) * Z1 + (17.0 / 36.0) * Z0
        U = _expmul(W2, X2, dirs)
        ld += eps * (B[0] * e0.divergence_site(cs[0]) + B[2] * e2.divergence_site(cs[2]))
        tape.append((W0, W1, W2, X0, X1, X2, ts, cs))
    return U, ld, tape


def backward_through_flow(model, lat, tape, G, gtheta=None):
    """Backprop through the stored steps of forward_with_tape. G: the link cotangent (4, V, N, N) of a function
    f at the flowed links U = F(V). Returns the link cotangent at V of f(F(V)) - log det F_*(V) (the -log det
    term is always included: it is the cost's and the flowed action's). With gtheta (n_t, n_loops), the local
    theta gradient of the same function is added to it."""
    from .integrate import A21, B
    dirs = model.loops.dirs
    eps = 1.0 / model.n_steps
    for W0, W1, W2, X0, X1, X2, ts, cs in reversed(tape):
        G2, GamX2 = _exp_backward(X2, W2, G, dirs)
        G2 += _stage_backward(model, lat, W2, cs[2], ts[2], eps, 0.75 * GamX2, B[2], gtheta)
        G1, GamX1 = _exp_backward(X1, W1, G2, dirs)
        G1 += _stage_backward(model, lat, W1, cs[1], ts[1], eps, (8.0 / 9.0) * (GamX1 - GamX2), 0.0, gtheta)
        G0, GamX0 = _exp_backward(X0, W0, G1, dirs)
        GamZ0 = (17.0 / 36.0) * (GamX2 - GamX1) + A21 * GamX0
        G = G0 + _stage_backward(model, lat, W0, cs[0], ts[0], eps, GamZ0, B[0], gtheta)
    return G


def wilson_sigma(lat, U, beta, dirs):
    """Link cotangent of the Wilson action over the planes of dirs (wilson_action), (4, V, N, N)."""
    from .loops import LoopSet
    N = U.shape[-1]
    return LoopEvaluation(lat, U, LoopSet(["1x1"], dirs), laplacian=False).sigma([-float(beta) / N])


def per_config(lat, a, slice_axis):
    """Per-configuration sums of a per-site field: per slice (a batch of 2D configurations), or the whole lattice
    as one configuration (slice_axis None)."""
    if slice_axis is None:
        return np.array([float(lat.allreduce(float(np.sum(a))))])
    return per_slice(lat, a, slice_axis)


def cost_and_gradient(model, lat, V, beta, slice_axis=2):
    """The reverse-KL cost C = < S(F(V)) - log det F_*(V) > over the configurations of V (its slices, or V itself
    for slice_axis None), its exact gradient with respect to theta (backprop through the stored stages of the
    discrete flow: W_0, W_1, W_2 and the exponents of every step are kept, the loop products are recomputed),
    and the per-configuration log-weights."""
    dirs = model.loops.dirs
    U, ld, tape = forward_with_tape(model, lat, V)
    S = np.atleast_1d(wilson_action(lat, U, beta, dirs, slice_axis))
    lds = per_config(lat, ld, slice_axis)
    nb = len(S)
    cost = float(np.mean(S - lds))
    G = wilson_sigma(lat, U, beta, dirs)
    gtheta = np.zeros_like(model.theta)
    backward_through_flow(model, lat, tape, G, gtheta)
    gtheta = np.asarray(lat.allreduce(gtheta), dtype=np.float64) / nb
    return cost, gtheta, -S + lds


def train(model, lat, beta, N, steps, lr=0.01, seed=0, slice_axis=2, log=None, configs=1):
    """Adam on theta for the reverse-KL cost, one fresh Haar batch per step: the lattice's slices, times
    `configs` lattices (in 4D, slice_axis None, each lattice is one configuration).
    Returns the history [(step, cost, ESS of the batch, seconds)]."""
    import time
    from ...fields.gauge import GaugeField
    from ..sampler import ess
    m1 = np.zeros_like(model.theta)
    m2 = np.zeros_like(model.theta)
    b1, b2 = 0.9, 0.999
    hist = []
    t0 = time.perf_counter()
    for k in range(int(steps)):
        parts = []
        for j in range(int(configs)):
            V = GaugeField.random(lat, N=N, seed=seed, stream=100000 + k * int(configs) + j).sites()
            parts.append(cost_and_gradient(model, lat, V.astype(np.complex128), beta, slice_axis))
        cost = float(np.mean([p[0] for p in parts]))
        g = np.mean([p[1] for p in parts], axis=0)
        lw = np.concatenate([p[2] for p in parts])
        m1 = b1 * m1 + (1 - b1) * g
        m2 = b2 * m2 + (1 - b2) * g * g
        model.theta = model.theta - lr * (m1 / (1 - b1 ** (k + 1))) / (np.sqrt(m2 / (1 - b2 ** (k + 1))) + 1e-8)
        hist.append((k, cost, ess(lw), time.perf_counter() - t0))
        if log is not None:
            log(f"step {k} cost {cost:.4f} batch ESS {hist[-1][2]:.3f} ({hist[-1][3]:.1f} s)")
    return hist
