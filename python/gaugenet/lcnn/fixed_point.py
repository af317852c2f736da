"""Task 2b of issue 23: the classical fixed-point (FP) action of a renormalisation-group transformation with
scale factor 2, its data by minimisation, and an L-CNN action fitted to it (the seed's FP-action machinery,
after Hasenfratz & Niedermayer, Nucl. Phys. B 414 (1994) 785, and DeGrand et al., hep-lat/9506030).

Blocking kernel (on a fine lattice of twice the coarse extents, the same process grid):
    T[U, V] = -(kappa / N) sum_{n_B, mu} [ Re tr(V_mu(n_B) Q_mu(n_B)^dag) - max_{W in SU(N)} Re tr(W Q_mu(n_B)^dag) ]
with the blocked link of the 2^4 hypercube at the fine site x = 2 n_B
    Q_mu(n_B) = F_mu(x) F_mu(x + mu),   F_mu(x) = (1 - 6 c) U_mu(x) + c sum_{nu != mu} (both staples of U_mu(x)),
a product of two staple-smeared fine links (gauge covariant: Q -> g(x) Q g(x + 2 mu)^dag, as V_mu(n_B)).
The subtracted maximum is the classical limit of the kernel's normalisation N_mu^beta of the seed, so T >= 0
with equality when V is the SU(N) projection of Q. (The seed's slides do not give c and kappa; `c` = 0.1 and
`kappa` = 8 are our defaults, both settable.)

FP equation in the classical limit (beta -> infinity):
    A_FP[V] = min_U { A_FP[U] + T[U, V] },      dA_FP/dV = dT/dV at the minimising U
(the derivative by the envelope theorem: U minimises, and the max term does not depend on V). The derivative in
gaugenet's force representation (gauge.action.gauge_force): F_V = -(kappa / 2N) TA(V Q^dag).

Iteration (`fp_iteration`): A_0 = the Wilson action sum_p (1 - Re tr U_p / N) on the fine side gives the data of
one RG step; an L-CNN action (lcnn.action.NETWORK, exact ALS on values and derivatives) is fitted to it; the fitted
network then stands in for A_FP on the fine side for the next data, and so on. The residual of the FP equation
for a network A (`fp_residual`): the relative differences of A[V] and its force against
min_U {A[U] + T[U, V]} and dT/dV on held-out coarse configurations.

Minimisation (`minimise`): L-BFGS on the group, U <- exp(alpha d) U with d from the recent steps and force
differences in Lie-algebra coordinates (F, the force of A + T, is a descent direction: dS/dalpha = -2 |F|^2 for
d = F) and an Armijo backtracking, until the RMS force per link and colour falls below `tol`.
"""
import time

import numpy as np

from ..gauge.group import dag, project_su, traceless_antihermitian
from ..gauge.expderiv import expm_su
from ..links.paths import Paths

DEFAULT_KAPPA = 8.0
DEFAULT_C = 0.1


# ---------------------------------------------------------------------------------------------- SU(N) max trace
def _su2_part(A):
    """The real-quaternion part of 2x2 blocks A (..., 2, 2): (r0, r1, r2, r3) with A = r0 + i r.sigma + rest,
    where the rest is orthogonal to SU(2) under Re tr."""
    r0 = 0.5 * (A[..., 0, 0] + A[..., 1, 1]).real
    r3 = 0.5 * (A[..., 0, 0] - A[..., 1, 1]).imag
    r1 = 0.5 * (A[..., 0, 1] + A[..., 1, 0]).imag
    r2 = 0.5 * (A[..., 0, 1] - A[..., 1, 0]).real
    return r0, r1, r2, r3


def max_trace_su(X, sweeps=1000, tol=1e-15):
    """W in SU(N) maximising Re tr(W X) for a stack X (..., N, N), and the maximum. Start: the SU(N)-projected
    polar factor of X^dag; then Cabibbo-Marinari sweeps (each SU(2) subgroup maximised exactly). Every matrix
    is iterated until its own W stops changing (max |dW| < tol) and then frozen, so the result of one matrix
    does not depend on the others in the stack (identical on every process grid). SU(2): exact in one step."""
    X = np.asarray(X, dtype=np.complex128)
    shape, N = X.shape, X.shape[-1]
    X = X.reshape((-1, N, N))
    W = project_su(dag(X))
    subgroups = [(0, 1)] if N == 2 else [(0, 1), (0, 2), (1, 2)]
    active = np.arange(X.shape[0])
    for _ in range(sweeps if N > 2 else 1):
        if active.size == 0:
            break
        Wa, Xa = W[active], X[active]
        W0 = Wa.copy()
        for i, j in subgroups:
            A = (Wa @ Xa)[:, [i, j]][:, :, [i, j]]
            r0, r1, r2, r3 = _su2_part(A)
            n = np.sqrt(r0 ** 2 + r1 ** 2 + r2 ** 2 + r3 ** 2)
            n = np.where(n > 0, n, 1.0)
            b0, b1, b2, b3 = r0 / n, -r1 / n, -r2 / n, -r3 / n       # g = (r0 - i r.sigma) / |r|
            g = np.empty((len(active), 2, 2), dtype=np.complex128)
            g[:, 0, 0] = b0 + 1j * b3
            g[:, 1, 1] = b0 - 1j * b3
            g[:, 0, 1] = 1j * b1 + b2
            g[:, 1, 0] = 1j * b1 - b2
            Wa[:, [i, j], :] = g @ Wa[:, [i, j], :]
        W[active] = Wa
        moved = np.abs(Wa - W0).reshape(len(active), -1).max(axis=1)
        active = active[moved >= tol]
    m = np.trace(W @ X, axis1=-2, axis2=-1).real
    return W.reshape(shape), m.reshape(shape[:-2])


# ---------------------------------------------------------------------------------------------- fine <-> coarse
def fine_lattice(coarse_lat):
    """The lattice of twice the coarse extents on the same process grid (each rank's fine block then holds
    exactly the 2^4 hypercubes of its coarse sites: blocking needs no communication)."""
    from ..lattice.lattice import Lattice
    if coarse_lat.zero_boundary_links:
        raise ValueError("fixed-point blocking: the coarse lattice uses zero boundary links; the FP action needs "
                         "the periodic lattice")
    dims = tuple(2 * d for d in coarse_lat.dims)
    return Lattice(dims, mpi=".".join(map(str, coarse_lat.grid)), precision=coarse_lat.precision,
                   comm=coarse_lat.comm)


def _corners(lat_f, a):
    """Rows of a site-major (4, Vf, ...) array at the fine sites 2 n_B (local coordinates even), coarse order."""
    sh = a.shape
    b = a.reshape((sh[0],) + lat_f.local_shape + sh[2:])
    c = b[:, ::2, ::2, ::2, ::2]
    return np.ascontiguousarray(c).reshape((sh[0], -1) + sh[2:])


def _scatter_corners(lat_f, c):
    """Inverse of _corners for cotangents: a zero fine array with c at the corner sites."""
    sh = c.shape
    out = np.zeros((sh[0],) + lat_f.local_shape + sh[2:], dtype=c.dtype)
    out[:, ::2, ::2, ::2, ::2] = c.reshape((sh[0],) + tuple(s // 2 for s in lat_f.local_shape) + sh[2:])
    return out.reshape((sh[0], lat_f.local_volume) + sh[2:])


# ---------------------------------------------------------------------------------------------- blocking kernel
class BlockingKernel:
    """T[U, V] of the module docstring, with its derivatives in the fine links U (for the minimisation) and in
    the coarse links V (the FP derivative data)."""

    def __init__(self, kappa=DEFAULT_KAPPA, c=DEFAULT_C):
        kappa, c = float(kappa), float(c)
        if not np.isfinite(kappa) or kappa <= 0:
            raise ValueError(f"blocking kernel: kappa must be positive and finite, got {kappa}")
        if not np.isfinite(c) or not 0.0 <= c < 1.0:
            raise ValueError(f"blocking kernel: the smearing c must be in [0, 1), got {c}")
        self.kappa, self.c = kappa, c

    @staticmethod
    def _staples(mu):
        return [p for nu in range(4) if nu != mu
                for p in ([(nu, 1), (mu, 1), (nu, -1)], [(nu, -1), (mu, 1), (nu, 1)])]

    def blocked(self, U):
        """(Q, ctx): the blocked links Q (4, Vc, N, N) at the coarse sites of the fine field U (a GaugeField)."""
        T = Paths(U)
        F = (1.0 - 6.0 * self.c) * T.U.copy()
        sctx = []
        for mu in range(4):
            for p in self._staples(mu):
                P, ctx = T.path(p)
                F[mu] += self.c * P
                sctx.append((mu, ctx))
        TF = Paths(lat=U.lat, links=F)
        Qf = np.empty_like(F)
        qctx = []
        for mu in range(4):
            Qf[mu], ctx = TF.path([(mu, 1), (mu, 1)])
            qctx.append(ctx)
        return _corners(U.lat, Qf), (T, TF, sctx, qctx)

    def blocked_vjp(self, ctx, G):
        """Link cotangent Sigma (4, Vf, N, N) of sum Re tr(G dQ) for a coarse cotangent G (4, Vc, N, N)."""
        T, TF, sctx, qctx = ctx
        Gf = _scatter_corners(T.lat, np.asarray(G, dtype=np.complex128))
        SigF = TF.zeros_sigma()
        for mu in range(4):
            TF.path_vjp(qctx[mu], Gf[mu], SigF)
        Sigma = (1.0 - 6.0 * self.c) * SigF
        for mu, ctx in sctx:
            T.path_vjp(ctx, self.c * SigF[mu], Sigma)
        return T, Sigma

    def evaluate(self, U, V, derivatives=True):
        """T[U, V] (global) and, with derivatives, (force in U (4, Vf, N, N), force in V (4, Vc, N, N)) in
        gauge_force's representation."""
        N = V.N
        Vs = np.asarray(V.sites(), dtype=np.complex128)
        Q, ctx = self.blocked(U)
        Qd = dag(Q)
        W, mx = max_trace_su(Qd)
        local = -(self.kappa / N) * float(np.sum(np.trace(Vs @ Qd, axis1=-2, axis2=-1).real - mx))
        value = float(V.lat.allreduce(local))
        if not derivatives:
            return value
        # d/dQ: -(kappa/N) Re tr((V - W) dQ^dag) = Re tr(G dQ), G = -(kappa/N) (V - W)^dag (envelope: W fixed)
        T, Sigma = self.blocked_vjp(ctx, -(self.kappa / N) * dag(Vs - W))
        FU = T.force(Sigma)
        FV = 0.5 * traceless_antihermitian(Vs @ (-(self.kappa / N) * Qd))
        return value, FU, FV


# ---------------------------------------------------------------------------------------------- minimisation
def _dot(lat, a, b):
    """Global Re sum tr(a^dag b) of two force fields."""
    return float(lat.allreduce(float(np.sum(np.conj(a) * b).real)))


def _action_and_force(action, U):
    if hasattr(action, "action_and_force"):
        return action.action_and_force(U)
    return float(action.action(U)), action.force(U)


def minimise(action, kernel, U0, V, tol=1e-9, maxiter=2000, memory=8, step=0.02, log=None, log_every=100):
    """min_U {A[U] + T[U, V]} from U0 (a fine GaugeField, not modified). Returns (U, value, info) with info
    {iterations, evaluations, rms_force, seconds, converged}. `action`: action(U) and force(U) (gaugenet's
    Hamiltonian-piece interface; `action_and_force(U)` is used when it has one).

    L-BFGS on the group: the search direction d is built in Lie-algebra coordinates from the last `memory`
    pairs (s, y) of steps and force differences (the two-loop recursion, scaled by <s, y> / <y, y>), the step is
    U <- exp(alpha d) U with alpha = 1 first and halved until the Armijo condition holds (the first direction is
    the force, with alpha = step / |F|)."""
    from ..fields.gauge import GaugeField
    lat = U0.lat
    shape = U0.data.shape
    n_dof = 4 * lat.global_volume * (U0.N ** 2 - 1)
    links = np.asarray(U0.sites(), dtype=np.complex128).copy()

    def evaluate(links):
        U = GaugeField(lat, links.reshape(shape))
        t, FU, _ = kernel.evaluate(U, V)
        a, FA = _action_and_force(action, U)
        return a + t, np.asarray(FA, dtype=np.complex128).reshape(FU.shape) + FU

    def rms_of(F):      # F = sum_a F^a (i T^a): sum (F^a)^2 = 2 Re tr(F^dag F)
        return float(np.sqrt(2.0 * _dot(lat, F, F) / n_dof))

    t0 = time.perf_counter()
    f, F = evaluate(links)
    g = -F                                   # a gradient (up to a positive factor: L-BFGS is invariant to it)
    pairs, n_eval, converged, it = [], 1, False, 0
    for it in range(1, maxiter + 1):
        rms = rms_of(F)
        if rms < tol:
            converged, it = True, it - 1
            break
        q, alphas = g.copy(), []
        for s_, y_, rho in reversed(pairs):
            al = rho * _dot(lat, s_, q)
            q -= al * y_
            alphas.append(al)
        if pairs:
            s_, y_, _ = pairs[-1]
            q *= _dot(lat, s_, y_) / _dot(lat, y_, y_)
        else:
            q *= step / max(rms, 1e-300)
        for (s_, y_, rho), al in zip(pairs, reversed(alphas)):
            q += (al - rho * _dot(lat, y_, q)) * s_
        d = -q
        slope = 2.0 * _dot(lat, d, g)         # df/dalpha at alpha = 0 (negative for a descent direction)
        if not slope < 0:                     # memory gone bad: restart with the force
            pairs, d = [], F * (step / max(rms, 1e-300))
            slope = 2.0 * _dot(lat, d, g)
        alpha = 1.0
        for _ in range(30):
            trial = expm_su(alpha * d) @ links
            fn, Fn = evaluate(trial)
            n_eval += 1
            if fn <= f + 1e-4 * alpha * slope:
                break
            alpha *= 0.5
        else:
            break                             # no decrease along d: at the rounding floor
        sv, yv = alpha * d, -Fn - g
        sy = _dot(lat, sv, yv)
        if sy > 1e-300:
            pairs.append((sv, yv, 1.0 / sy))
            pairs = pairs[-memory:]
        links, f, F, g = trial, fn, Fn, -Fn
        if log and it % log_every == 0:
            log(f"  minimise: iteration {it:5d}, value {f:.12g}, rms force {rms:.3e}, step {alpha:.2g}")
    U = GaugeField(lat, project_su(links).reshape(shape))
    value = float(action.action(U)) + kernel.evaluate(U, V, derivatives=False)
    return U, value, {"iterations": it, "evaluations": n_eval, "rms_force": rms_of(F),
                      "seconds": time.perf_counter() - t0, "converged": bool(converged)}


def _sqrt_su(V):
    """A square root of each SU(N) matrix (principal eigen-phases, shifted so that their sum is zero)."""
    w, E = np.linalg.eig(V)
    ph = np.angle(w)
    k = np.round(ph.sum(axis=-1) / (2 * np.pi))
    idx = np.argmax(ph * np.sign(k)[..., None], axis=-1)        # move the extreme phase by -2 pi k
    np.put_along_axis(ph, idx[..., None], np.take_along_axis(ph, idx[..., None], -1) - 2 * np.pi * k[..., None], -1)
    R = (E * np.exp(0.5j * ph)[..., None, :]) @ np.linalg.inv(E)
    return project_su(R)


def unblocked_start(V, lat_f):
    """A fine start field: every fine link U_mu(x) = sqrt(V_mu(floor(x / 2))) (so Q ~ V for smooth V)."""
    from ..fields.gauge import GaugeField
    N = V.N
    R = _sqrt_su(np.asarray(V.data, dtype=np.complex128))       # (4, lt, lz, ly, lx, N, N)
    for ax in (1, 2, 3, 4):
        R = np.repeat(R, 2, axis=ax)
    return GaugeField(lat_f, np.ascontiguousarray(R).reshape((4,) + lat_f.local_shape + (N, N)))


# ---------------------------------------------------------------------------------------------- FP data
class FPData:
    """One coarse configuration V with its FP data: value A = min_U {A[U] + T[U, V]}, force F = dT/dV at the
    minimum, the minimising fine field U and the minimiser's info. `action(V)` / `force(V)` return the stored
    data, the target interface of lcnn.action.ActionSample."""

    def __init__(self, V, value, force, U, info):
        self.V, self.value, self.F, self.U, self.info = V, float(value), np.asarray(force), U, info

    def action(self, V):
        return self.value

    def force(self, V):
        return self.F


def fp_data(action, kernel, V, U_start=None, tol=1e-9, maxiter=2000, log=None):
    """FPData of V with `action` on the fine side, started from U_start (default: the unblocked V)."""
    lat_f = U_start.lat if U_start is not None else fine_lattice(V.lat)
    U0 = U_start if U_start is not None else unblocked_start(V, lat_f)
    U, value, info = minimise(action, kernel, U0, V, tol=tol, maxiter=maxiter, log=log)
    _, _, FV = kernel.evaluate(U, V)
    return FPData(V, value, FV, U, info)


def fp_residual(net_action, data):
    """How far an action is from its own FP equation on FPData computed WITH that action on the fine side:
    (value rel. error RMS over configurations, derivative rel. error sqrt(sum |dF|^2 / sum |F|^2))."""
    ev, df, nf = [], 0.0, 0.0
    for d in data:
        lat = d.V.lat
        A = float(net_action.action(d.V))
        F = np.asarray(net_action.force(d.V)).reshape(d.F.shape)
        ev.append(((A - d.value) / d.value) ** 2)
        df += float(lat.allreduce(float(np.sum(np.abs(F - d.F) ** 2))))
        nf += float(lat.allreduce(float(np.sum(np.abs(d.F) ** 2))))
    return float(np.sqrt(np.mean(ev))), float(np.sqrt(df / nf))


# ---------------------------------------------------------------------------------------------- the iteration
def fp_iteration(N=3, coarse=(4, 4, 4, 4), betas=(5.0, 6.0, 7.0, 8.0, 9.0, 10.0), train_configs=6, test_configs=3,
                 iterations=2, als_iters=2, kappa=DEFAULT_KAPPA, c=DEFAULT_C, tol=1e-9, maxiter=3000, sweeps=40,
                 sep=10, seed=11, w1=1.0, w2=1.0, all_planes=True, mpi=None, log=None):
    """The FP iteration of the module docstring. Coarse configurations: heat-bath chains at `betas` on `coarse`
    (train and test sets from different seeds). Step k = 0: the Wilson action on the fine side; step k >= 1: the
    network fitted at step k - 1. Each step records the FP data (min values, dT/dV) of every configuration, the
    residual of the fine-side action against its own FP equation on the test set (for k = 0 the Wilson action
    itself), and the fit of the next network on the training set (errors on train and test data of the step).
    The test configurations come from chains at `test_configs` couplings spread over `betas`; all_planes: the
    tying of the network's weights (lcnn.action.tied_orbits). Returns (model, weights, summary dict)."""
    from ..fields.gauge import GaugeField
    from ..gauge.improved import ImprovedGaugeAction
    from .action import NETWORK, ActionSample, NetworkGaugeAction, evaluate, fit_action
    from .model_io import parse_network
    from .tasks import ensemble
    say = log or (lambda s: None)
    kernel = BlockingKernel(kappa, c)
    train = [V for _, V in ensemble(coarse, N, betas, train_configs, sweeps, sep, seed, mpi, log)]
    b = sorted(betas)
    test_betas = [b[int(i)] for i in np.linspace(0, len(b) - 1, min(test_configs, len(b))).round()]
    test = [V for _, V in ensemble(coarse, N, test_betas, test_configs, sweeps, sep, seed + 5000, mpi, log)]
    model = parse_network(NETWORK, N=N)
    model.check_lattice(train[0].lat)
    fine_action = ImprovedGaugeAction(1.0, "wilson")
    starts = {}
    steps, weights = [], None
    for k in range(iterations + 1):
        t0 = time.perf_counter()
        data = {}
        for name, cfgs in (("train", train), ("test", test)):
            data[name] = []
            for i, V in enumerate(cfgs):
                d = fp_data(fine_action, kernel, V, U_start=starts.get((name, i)), tol=tol, maxiter=maxiter)
                starts[(name, i)] = d.U
                data[name].append(d)
                say(f"FP step {k} {name} {i}: A_FP = {d.value:.6f} ({d.info['iterations']} iterations, "
                    f"rms force {d.info['rms_force']:.1e}, {d.info['seconds']:.1f} s)")
        data_seconds = time.perf_counter() - t0
        rv, rf = fp_residual(fine_action, data["test"])
        say(f"FP step {k}: the fine-side action against its own FP equation (test): value {rv:.3e}, "
            f"derivative {rf:.3e}")
        rec = {"step": k, "fine_action": "wilson" if k == 0 else f"network of step {k - 1}",
               "fp_residual_value": rv, "fp_residual_derivative": rf, "data_seconds": data_seconds,
               "minimiser_iterations": [d.info["iterations"] for d in data["train"] + data["test"]],
               "minimiser_converged": all(d.info["converged"] for d in data["train"] + data["test"]),
               "fp_values_test": [d.value for d in data["test"]]}
        if k < iterations:
            t1 = time.perf_counter()
            samples = [ActionSample(model, d.V, d) for d in data["train"]]
            # the classical FP action vanishes on the unit field; 4^4 data alone leave a constant per site nearly
            # free (it is 16x larger on the fine side), so A[1] = 0 is imposed as a heavily weighted sample
            one = GaugeField.unit(train[0].lat, N)
            zero = np.zeros((4, one.lat.local_volume, N, N), dtype=np.complex128)
            unit = ActionSample(model, one, FPData(None, 0.0, zero, None, None))
            unit.weight = 1e8
            weights, curve, n_par = fit_action(model, samples + [unit], als_iters, w1, w2, seed=seed, log=log,
                                               all_planes=all_planes)
            tv, tf = evaluate(model, weights, samples)
            a1 = NetworkGaugeAction(model, weights).action(GaugeField.unit(train[0].lat, N))
            ev, ef = evaluate(model, weights, [ActionSample(model, d.V, d) for d in data["test"]])
            rec.update({"fit_seconds": time.perf_counter() - t1, "n_trained_weights": int(n_par),
                        "network_action_of_unit_field": a1,
                        "fit_train_value_rel_error": tv, "fit_train_derivative_rel_error": tf,
                        "fit_test_value_rel_error": ev, "fit_test_derivative_rel_error": ef})
            say(f"FP step {k}: network fitted to these data: train value {tv:.3e} derivative {tf:.3e}; "
                f"test value {ev:.3e} derivative {ef:.3e}")
            fine_action = NetworkGaugeAction(model, weights)
        steps.append(rec)
    summary = {"task": "fixed-point", "N": int(N), "network": NETWORK, "coarse_volume": list(coarse),
               "fine_volume": [2 * d for d in coarse], "betas": list(betas), "test_betas": test_betas, "train_configs": len(train),
               "test_configs": len(test), "kappa": kernel.kappa, "smearing_c": kernel.c, "tolerance": tol,
               "loss_weights": [float(w1), float(w2)], "als_iterations": int(als_iters), "all_planes": bool(all_planes),
               "steps": steps}
    return model, weights, summary
