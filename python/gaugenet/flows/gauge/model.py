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
(Lüscher 2009, leading order; his next-to-leading-order map, the seed's "Lüscher, NL", adds t-dependent
larger loops and is not reproduced here). `leading_order_theta` sets it, and training starts from it.
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
    S = wilson_action(lat, U, beta, model.loops.dirs, slice_axis)
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
