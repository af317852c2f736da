"""Flow HMC and the independence Metropolis sampler for SU(N) gauge fields with a learned gradient flow
(issue 20, part 2; docs/flows.md, "Gauge fields: flow HMC").

Flowed action. For the flow F of a GaugeFlowModel (V at t = 0 -> U = F(V) at t = 1) and the Wilson target S,

    S_F(V) = S(F(V)) - log det F_*(V),

with log det F_* the log-determinant accumulated along the flow (integrate.py). If V ~ exp(-S_F(V)) (Haar
measure dV), then U = F(V) ~ exp(-S(U)) dU, because exp(-S_F(V)) dV = exp(-S(U)) det F_*(V) dV = exp(-S(U)) dU.
(Caveat: the accumulated log-det is the continuous flow's to O(eps^3), not the exact Jacobian of the discrete
map; the samples of U therefore carry an O(eps^3) bias, which `logdet_discretisation` estimates by comparing
step counts. For theta = 0 the map is the identity and everything is exact.)

Force. The MD force of S_F on the input links V in the representation of gaugenet.hmc (gauge_force: for
V -> exp(s X) V, dS_F/ds = 2 sum tr(X F); F = -d S_F with the Lie-algebra derivative of shared/CONVENTIONS.md)
is Paths.force(G_V) = TA(V G_V) / 2, where G_V is the link cotangent of S_F at V. G_V comes from the backward
pass of the training gradient (model.backward_through_flow): the cotangent of S at U, carried back through the
stored RK3 stages of the flow together with the -log det term, without the theta gradient.

Batches of 2D configurations. On a lattice L x L x B x 1 flowed in the plane (0, 1), the B z slices are
independent 2D systems: S_F, the kinetic energy and the molecular dynamics separate slice by slice (momenta
only in the flowed directions; the frozen z and t links never move). FlowHMC therefore runs B independent
chains at once: one trajectory integrates the whole lattice, and the Metropolis test is made per slice with
the per-slice energy change dH_z and its own uniform (counter-based, from the chain's seed, the trajectory
number and the slice index: the same on any process grid). With slice_axis=None the whole lattice is one
system with one test; with the plain Wilson action in all four directions this is exactly gaugenet.hmc.HMC
(same momenta, same uniform; tested trajectory by trajectory).

Plain HMC of the same 2D theory is FlowHMC with `PlaneWilsonAction` (S_F = S, no flow).

Independence Metropolis. Proposals V Haar, U = F(V), log w = -S(U) + log det F_*(V); the chain accepts U'
with min(1, w(U') / w(U)) (flows.sampler.independence_metropolis) and samples exp(-S) for any theta (with the
same O(eps^3) caveat).

Exact 2D reference. On an L0 x L1 torus (n = L0 L1 plaquettes) the 2D Wilson theory is solved by the character
expansion: with f(U) = exp((beta / N) Re tr U) = sum_r d_r a_r chi_r(U), a_r = (1/d_r) int dU f chi_r^*,
Z = sum_r a_r^n (the torus has Euler characteristic 0) and <Re tr U_p / N> = sum_r a'_r a_r^(n-1) / sum_r a_r^n,
a'_r = da_r/dbeta. `exact_plaquette_2d` evaluates the a_r by Weyl's integration formula on a uniform grid of
eigenphases (exponentially accurate for these periodic integrands), summing the irreps (p) of SU(2) or (p, q)
of SU(3) up to a cutoff; for n -> infinity and SU(2) it is I_2(beta) / I_1(beta) (tested).
"""
import math
import time
from dataclasses import dataclass, field

import numpy as np

from ...hmc import streams
from ...hmc.autocorr import tau_int
from ...hmc.integrators import INTEGRATORS, check_steps
from ...hmc.integrators import integrate as md_integrate
from ...hmc.momenta import draw_momenta
from ..sampler import ess_with_error, independence_metropolis
from .loops import LoopEvaluation, LoopSet, per_slice
from .model import backward_through_flow, forward_with_tape, wilson_action, wilson_sigma


def _force_from_sigma(V, G):
    from ...gauge.group import traceless_antihermitian
    return 0.5 * traceless_antihermitian(V @ G)


def _reduce(lat, site, slice_axis):
    """Per-slice sums (array) or the global sum as a length-1 array."""
    if slice_axis is None:
        return np.array([float(lat.allreduce(float(np.sum(site))))])
    return per_slice(lat, site, slice_axis)


@dataclass
class Evaluation:
    """An action at one configuration V: per-slice actions (length 1 without slices), the MD force
    (4, V, N, N), the flowed links U (V itself without a flow) and the per-slice target action S(U)."""
    action: np.ndarray
    force: np.ndarray
    U: np.ndarray
    target: np.ndarray
    extra: dict = field(default_factory=dict)


def flowed_action_and_force(model, lat, V, beta, slice_axis=2):
    """S_F(V) = S(F(V)) - log det F_*(V) per slice (or as a length-1 array for slice_axis=None), its MD force
    on the input links V (gaugenet.hmc's representation, module docstring), U = F(V), S(U) and log det per slice.
    Returns an Evaluation (extra: 'logdet')."""
    dirs = model.loops.dirs
    V = np.ascontiguousarray(V, dtype=np.complex128)
    U, ld_site, tape = forward_with_tape(model, lat, V)
    S_site = _wilson_site(lat, U, beta, dirs)
    S = _reduce(lat, S_site, slice_axis)
    ld = _reduce(lat, ld_site, slice_axis)
    G = backward_through_flow(model, lat, tape, wilson_sigma(lat, U, beta, dirs))
    return Evaluation(action=S - ld, force=_force_from_sigma(V, G), U=U, target=S, extra={"logdet": ld})


def _wilson_site(lat, U, beta, dirs):
    ls = LoopSet(["1x1"], dirs)
    ev = LoopEvaluation(lat, U, ls, laplacian=False)
    return float(beta) * (len(ls.paths[0]) - ev.site[0] / ev.N)


def plane_wilson_action_and_force(lat, V, beta, dirs=(0, 1), slice_axis=2):
    """The Wilson action over the planes of dirs per slice and its MD force (= gauge_force in 4D)."""
    V = np.ascontiguousarray(V, dtype=np.complex128)
    S = _reduce(lat, _wilson_site(lat, V, beta, dirs), slice_axis)
    F = _force_from_sigma(V, wilson_sigma(lat, V, beta, dirs))
    return Evaluation(action=S, force=F, U=V, target=S)


class _CachedAction:
    """Keeps the last evaluations (the force at the end of a trajectory gives H1 and the next start)."""

    def __init__(self, lat, beta, dirs, slice_axis):
        if not (math.isfinite(float(beta)) and float(beta) > 0):
            raise ValueError(f"flow HMC: beta must be positive and finite, got {beta!r}")
        if slice_axis is not None and (int(slice_axis) not in (0, 1, 2, 3) or int(slice_axis) in dirs):
            raise ValueError(f"flow HMC: the slice axis {slice_axis!r} must be a direction that is not flowed "
                             f"(flowed: {tuple(dirs)})")
        self.lat, self.beta, self.dirs = lat, float(beta), tuple(dirs)
        self.slice_axis = None if slice_axis is None else int(slice_axis)
        self._cache = []
        self.evaluations = 0

    @property
    def n_slices(self):
        return 1 if self.slice_axis is None else int(self.lat.dims[self.slice_axis])

    @property
    def plaquettes_per_slice(self):
        n_planes = len(self.dirs) * (len(self.dirs) - 1) // 2
        return n_planes * self.lat.global_volume // self.n_slices

    def plaquette(self, target):
        """Per-slice plaquette (1 on unit links) from the per-slice Wilson action."""
        return 1.0 - np.asarray(target) / (self.beta * self.plaquettes_per_slice)

    def remember(self, V, ev):
        self._cache = [(V, ev)] + [c for c in self._cache if c[0] is not V][:1]

    def evaluate(self, V):
        for W, ev in self._cache:
            if W is V or (W.shape == V.shape and np.array_equal(W, V)):
                return ev
        V = np.array(V, dtype=np.complex128, copy=True)
        ev = self._evaluate(V)
        self.evaluations += 1
        self.remember(V, ev)
        return ev


class FlowedAction(_CachedAction):
    """S_F of a GaugeFlowModel with the Wilson target at beta."""

    def __init__(self, model, lat, beta, slice_axis=2):
        super().__init__(lat, beta, model.loops.dirs, slice_axis)
        self.model = model

    def _evaluate(self, V):
        return flowed_action_and_force(self.model, self.lat, V, self.beta, self.slice_axis)


class PlaneWilsonAction(_CachedAction):
    """The plain Wilson action over the planes of dirs (plain HMC of the same theory)."""

    def __init__(self, lat, beta, dirs=(0, 1), slice_axis=2):
        from .loops import check_dirs
        super().__init__(lat, beta, check_dirs(dirs), slice_axis)

    def _evaluate(self, V):
        return plane_wilson_action_and_force(self.lat, V, self.beta, self.dirs, self.slice_axis)


def _slice_mask(lat, axis, values):
    """Per local site: values[slice of the site] (values indexed by the global slice coordinate)."""
    keep = 3 - axis                              # local_shape is (t, z, y, x)
    coord = lat.origin[axis] + np.arange(lat.local_dims[axis])
    shape = [1, 1, 1, 1]
    shape[keep] = -1
    return np.broadcast_to(np.asarray(values)[coord].reshape(shape), lat.local_shape).reshape(-1)


@dataclass
class FlowTrajectory:
    traj: int
    accepted: np.ndarray          # per slice
    dH: np.ndarray
    plaquette: np.ndarray         # per slice, of the chain's U after the test
    seconds: float
    forces: int

    def as_dict(self):
        return {"traj": self.traj, "accepted": [bool(a) for a in self.accepted], "dH": self.dH.tolist(),
                "plaquette": self.plaquette.tolist(), "seconds": self.seconds, "forces": self.forces}


class FlowHMC:
    """HMC in the variables V with the action of `action` (FlowedAction: flow HMC; PlaneWilsonAction: plain
    HMC). n_steps MD steps of `integrator` (gaugenet.hmc.integrators: omelyan or leapfrog) over length tau;
    random numbers from gaugenet.hmc.streams keyed by (seed, trajectory)."""

    def __init__(self, action, N, n_steps=10, tau=1.0, integrator="omelyan", seed=0):
        if integrator not in INTEGRATORS:
            raise ValueError(f"flow HMC: unknown integrator {integrator!r}; choose one of {', '.join(INTEGRATORS)}")
        check_steps(n_steps, tau)
        if int(N) not in (2, 3):
            raise ValueError(f"flow HMC: N must be 2 or 3, got {N!r}")
        self.action, self.N = action, int(N)
        self.n_steps, self.tau, self.integrator, self.seed = int(n_steps), float(tau), integrator, int(seed)
        self.lat = action.lat

    def _kinetic(self, P):
        site = -np.einsum("mvij,mvji->v", P, P).real
        return _reduce(self.lat, site, self.action.slice_axis)

    def _uniforms(self, traj):
        from ...lattice import rng
        return rng.uniform(self.seed, streams.stream(traj, streams.METROPOLIS),
                           np.arange(self.action.n_slices, dtype=np.uint64))

    def momenta(self, traj):
        P = draw_momenta(self.lat, self.N, self.seed, streams.stream(traj, streams.MOMENTA))
        for d in range(4):
            if d not in self.action.dirs:
                P[d] = 0.0
        return P

    def molecular_dynamics(self, V, P):
        """(V', P', force evaluations) of the MD integration from (V, P) (no test)."""
        from ...fields.gauge import GaugeField
        lat, N = self.lat, self.N
        if V.shape != (4, lat.local_volume, N, N):
            raise ValueError(f"flow HMC: links of shape {V.shape}, the sampler needs (4, {lat.local_volume}, {N}, {N})")
        nforce = [0]

        def force(Uf):
            nforce[0] += 1
            return self.action.evaluate(np.asarray(Uf.sites(), dtype=np.complex128)).force

        Vf = GaugeField(lat, np.ascontiguousarray(V).reshape((4,) + lat.local_shape + (N, N)))
        Vf1, P1 = md_integrate(Vf, P, force, self.n_steps, self.tau, self.integrator)
        return np.ascontiguousarray(np.asarray(Vf1.sites(), dtype=np.complex128)), P1, nforce[0]

    def trajectory(self, V, traj):
        """One trajectory from V (4, V, N, N); returns (the chain's next V, FlowTrajectory, its flowed U)."""
        t0 = time.perf_counter()
        n0 = self.action.evaluations
        P = self.momenta(traj)
        ev0 = self.action.evaluate(V)
        H0 = self._kinetic(P) + ev0.action
        V1, P1, _ = self.molecular_dynamics(V, P)
        ev1 = self.action.evaluate(V1)
        H1 = self._kinetic(P1) + ev1.action
        dH = H1 - H0
        if not np.all(np.isfinite(dH)):
            raise ValueError(f"flow HMC trajectory {traj}: energy change dH = {dH} is not finite; the molecular "
                             f"dynamics diverged (more MD steps)")
        u = self._uniforms(traj)
        acc = np.array([True if d <= 0 else bool(uu < math.exp(-d)) for d, uu in zip(dH, u)])
        if acc.all():
            Vn, evn = V1, ev1
        elif not acc.any():
            Vn, evn = V, ev0
        else:
            m = _slice_mask(self.lat, self.action.slice_axis, acc)[None, :, None, None]
            Vn = np.where(m, V1, V)
            evn = Evaluation(action=np.where(acc, ev1.action, ev0.action), force=np.where(m, ev1.force, ev0.force),
                             U=np.where(m, ev1.U, ev0.U), target=np.where(acc, ev1.target, ev0.target))
            self.action.remember(Vn, evn)                     # every quantity is local to its slice
        rec = FlowTrajectory(traj=int(traj), accepted=acc, dH=dH, plaquette=self.action.plaquette(evn.target),
                             seconds=time.perf_counter() - t0, forces=self.action.evaluations - n0)
        return Vn, rec, evn.U

    def run(self, V, first, count, callback=None):
        """`count` trajectories numbered first, first + 1, ...: (V, [FlowTrajectory])."""
        recs = []
        for t in range(int(first), int(first) + int(count)):
            V, rec, U = self.trajectory(V, t)
            recs.append(rec)
            if callback is not None:
                callback(V, U, rec)
        return V, recs


def chain_summary(records, therm=0):
    """Acceptance, plaquette with Gamma-method error and tau_int (in trajectories) of the per-trajectory mean
    over the independent slices, and the cost per trajectory, from the records after `therm`."""
    recs = records[int(therm):]
    if len(recs) < 10:
        raise ValueError(f"flow HMC: need at least 10 measured trajectories, got {len(recs)}")
    acc = np.array([r.accepted for r in recs], dtype=np.float64)
    plaq = np.array([r.plaquette for r in recs])
    dH = np.array([r.dH for r in recs])
    res = tau_int(plaq.mean(axis=1))
    return {"trajectories": len(recs), "slices": int(plaq.shape[1]), "acceptance": float(acc.mean()),
            "plaquette": res.mean, "plaquette_err": res.error_of_mean, "tau_int_plaquette": res.tau_int,
            "tau_int_plaquette_err": res.tau_int_error, "exp_mdH": float(np.mean(np.exp(-dH))),
            "exp_mdH_err": float(np.std(np.exp(-dH).mean(axis=1)) / math.sqrt(len(recs))),
            "mean_dH": float(dH.mean()),
            "seconds_per_trajectory": float(np.mean([r.seconds for r in recs])),
            "forces_per_trajectory": float(np.mean([r.forces for r in recs])),
            "plaquette_series": plaq.mean(axis=1).tolist(), "acceptance_series": acc.mean(axis=1).tolist()}


def run_flow_hmc(action, N, V0, n_traj, therm, n_steps, tau, integrator="omelyan", seed=0, callback=None):
    """A chain of therm + n_traj trajectories from V0; (summary, records, final V). callback(V, U, record)
    after every trajectory (progress)."""
    if int(n_traj) < 10 or int(therm) < 0:
        raise ValueError(f"flow HMC: need >= 10 measured trajectories and therm >= 0, got {n_traj}, {therm}")
    h = FlowHMC(action, N, n_steps, tau, integrator, seed)
    V, recs = h.run(V0, 0, int(therm) + int(n_traj), callback)
    return chain_summary(recs, therm), recs, V


# ---------------------------------------------------------------------------------------------- independence
def independence_sampler(model, lat, beta, N, n_batches, seed, slice_axis=2, chain_seed=None):
    """The independence Metropolis chain over n_batches Haar batches of the lattice's slices (proposals in the
    order batch, slice; V from GaugeField.random(lat, N, seed, stream=b) as measure_ess). Returns a dict:
    acceptance, plaquette (chain), its error and tau_int (in proposals), ESS with error, the model's own
    (unweighted) plaquette, and the log-weights."""
    from ...fields.gauge import GaugeField
    if int(n_batches) < 1:
        raise ValueError(f"independence sampler: need at least one batch, got {n_batches!r}")
    dirs = model.loops.dirs
    n_planes = len(dirs) * (len(dirs) - 1) // 2
    logw, plaq = [], []
    for b in range(int(n_batches)):
        V = GaugeField.random(lat, N=N, seed=seed, stream=b).sites().astype(np.complex128)
        U, ld = model.forward(lat, V, slice_axis=slice_axis)
        S = np.atleast_1d(wilson_action(lat, U, beta, dirs, slice_axis))
        ld = np.atleast_1d(ld)
        logw.append(-S + ld)
        nps = n_planes * lat.global_volume // len(S)
        plaq.append(1.0 - S / (float(beta) * nps))
    logw, plaq = np.concatenate(logw), np.concatenate(plaq)
    rng = np.random.default_rng(int(seed if chain_seed is None else chain_seed) + 7919)
    idx, acc = independence_metropolis(logw, rng)
    e, e_err = ess_with_error(logw)
    out = {"proposals": int(logw.size), "acceptance": float(acc), "ess": e, "ess_err": e_err,
           "model_plaquette": float(plaq.mean()), "model_plaquette_err": float(plaq.std() / math.sqrt(plaq.size)),
           "logw": logw, "proposal_plaquette": plaq}
    if logw.size >= 10:
        r = tau_int(plaq[idx])
        out.update({"plaquette": r.mean, "plaquette_err": r.error_of_mean, "tau_int_plaquette": r.tau_int,
                    "tau_int_plaquette_err": r.tau_int_error})
    return out


def logdet_discretisation(model, lat, V, slice_axis=2, factor=2):
    """Per-slice difference of the accumulated log-det between n_steps and factor * n_steps integration steps
    (an estimate of its O(eps^3) error: for factor 2 the error at n_steps is about 8/7 of it)."""
    from .model import GaugeFlowModel
    fine = GaugeFlowModel(model.loops, n_t=model.n_t, n_steps=model.n_steps * int(factor), theta=model.theta)
    _, a = model.forward(lat, V, slice_axis=slice_axis)
    _, b = fine.forward(lat, V, slice_axis=slice_axis)
    return np.atleast_1d(a) - np.atleast_1d(b)


# ---------------------------------------------------------------------------------------------- exact 2D
def _irreps(N, cutoff):
    if N == 2:
        return [((p, 0), p + 1) for p in range(cutoff + 1)]
    if N == 3:
        return [((p + q, q, 0), (p + 1) * (q + 1) * (p + q + 2) // 2)
                for p in range(cutoff + 1) for q in range(cutoff + 1 - p)]
    raise ValueError(f"exact 2D plaquette: N must be 2 or 3, got {N!r}")


def character_coefficients(N, beta, cutoff=None, grid=None):
    """[(highest weight, dimension, a_r, da_r/dbeta)] of f(U) = exp((beta/N) Re tr U) (module docstring)."""
    from itertools import permutations
    if int(N) not in (2, 3):
        raise ValueError(f"exact 2D plaquette: N must be 2 or 3, got {N!r}")
    if cutoff is None:
        cutoff = 16 if N == 2 else 10
    reps = _irreps(N, int(cutoff))
    if grid is None:
        grid = 4 * int(cutoff) + 64 + 4 * int(abs(beta))
    ph = 2 * np.pi * np.arange(grid) / grid
    if N == 2:
        phis = [ph, -ph]
    else:
        a, b = np.meshgrid(ph, ph, indexing="ij")
        phis = [a.ravel(), b.ravel(), -(a + b).ravel()]
    top = max(lam[0] for lam, _ in reps) + N
    E = [np.exp(1j * np.outer(np.arange(top), p)) for p in phis]          # E[j][m] = exp(i m phi_j)
    retr = sum(E[j][1].real for j in range(N)) / N
    f = np.exp(float(beta) * retr)
    perms = [(p, 1 - 2 * (sum(p[i] > p[k] for i in range(N) for k in range(i + 1, N)) % 2))
             for p in permutations(range(N))]

    def alt(lam):                                   # det[exp(i phi_j (lam_k + N - 1 - k))]
        ex = [lam[k] + N - 1 - k for k in range(N)]
        out = 0
        for p, sg in perms:
            term = sg
            for j in range(N):
                term = term * E[j][ex[p[j]]]
            out = out + term
        return out

    A0 = alt((0,) * N)
    norm = float(np.sum(np.abs(A0) ** 2))
    out = []
    for lam, d in reps:
        w = np.conj(alt(lam)) * A0
        out.append((lam, d, float(np.sum(f * w).real) / norm / d, float(np.sum(f * retr * w).real) / norm / d))
    return out


def exact_plaquette_2d(N, beta, n_plaquettes, cutoff=None):
    """<Re tr U_p / N> of 2D SU(N) Wilson theory on a periodic lattice of n_plaquettes plaquettes (torus),
    S = beta sum_p (1 - Re tr U_p / N); n_plaquettes = np.inf gives the infinite lattice, a'_0 / a_0 (the mean of
    Re tr U / N in the single-link measure f(U) dU)."""
    co = character_coefficients(N, beta, cutoff)
    a0 = co[0][2]
    if n_plaquettes == np.inf:
        return co[0][3] / a0
    n = int(n_plaquettes)
    if n < 1:
        raise ValueError(f"exact 2D plaquette: need n_plaquettes >= 1, got {n_plaquettes!r}")
    num = sum((da / a0) * (a / a0) ** (n - 1) for _, _, a, da in co)
    den = sum((a / a0) ** n for _, _, a, _ in co)
    return num / den


def log_partition_2d(N, beta, n_plaquettes, cutoff=None):
    """log Z of 2D SU(N) Wilson theory on a torus of n_plaquettes plaquettes with the unit-normalised Haar measure,
    S = beta sum_p (1 - Re tr U_p / N): Z = exp(-beta n) sum_r a_r^n (character expansion, as exact_plaquette_2d).
    With it the reverse KL divergence of a flow is absolute: KL(q || p) = < S(F(V)) - log det F_* > + log Z >= 0."""
    co = character_coefficients(N, beta, cutoff)
    n = int(n_plaquettes)
    if n < 1:
        raise ValueError(f"exact 2D partition function: need n_plaquettes >= 1, got {n_plaquettes!r}")
    a0 = co[0][2]
    return float(-float(beta) * n + n * np.log(a0) + np.log(sum((a / a0) ** n for _, _, a, _ in co)))

