"""HMC and flow HMC for the two-dimensional phi^4 theory of seed 003 (issue 20, part 3; docs/flows.md,
"The scalar flow HMC").

Plain HMC samples exp(-S(phi)) with the phase space (phi, pi), H = pi^2 / 2 + S(phi), the force -dS/dphi of
gaugenet.flows.phi4. Flow HMC (the seed's "flow HMC" slide) runs the same HMC in the variables z of a normalizing
flow f: z -> phi (gaugenet.flows.coupling.Flow, trained by the reverse KL cost) with the flowed action

    S_F(z) = S(f(z)) - log det f_*(z),

so that z ~ exp(-S_F(z)) dz gives phi = f(z) ~ exp(-S(phi)) dphi (change of variables). The coupling layers'
log-det is exact, so flow HMC is exact for any weights. Its force is one backward pass through the flow:

    dS_F/dz = J_f(z)^T dS/dphi(f(z)) - d log det / dz = Flow.backward(..., (dS/dphi, -1))[-1].

A batch of B independent chains is one array z[B, L0, L1]; the MD integrates them together (the schemes of
gaugenet.hmc.integrators with a flat drift), and each chain has its own Metropolis test. The magnetisation
M = sum_x phi_x of every chain is recorded each trajectory; tau_int (in trajectories) comes from the Gamma
method over the B replicas (gaugenet.hmc.autocorr.tau_int_replicas), the seed's tau_M.
"""
import math
import time

import numpy as np

from ..hmc.autocorr import tau_int_replicas
from ..hmc.integrators import INTEGRATORS, check_steps, integrate


def _flat_drift(x, p, h):
    return x + h * p


class PlainPhi4Action:
    """S(phi) of the theory itself: evaluate(x) -> (S[b], dS/dx, phi = x)."""

    name = "hmc"

    def __init__(self, theory):
        self.theory = theory

    def evaluate(self, x):
        return self.theory.action(x), self.theory.force(x), x

    def to_phi(self, x):
        return x


class FlowedPhi4Action:
    """S_F(z) = S(f(z)) - log det f_*(z) for a flow f with weights (module docstring)."""

    name = "flow_hmc"

    def __init__(self, flow, weights, theory):
        self.flow, self.weights, self.theory = flow, weights, theory

    def evaluate(self, z):
        (phi, logdet), traces = self.flow.forward_trace(self.weights, z)
        grad = self.flow.backward(self.weights, traces, (self.theory.force(phi), -np.ones(z.shape[0])))[-1]
        return self.theory.action(phi) - logdet, grad, phi

    def to_phi(self, z):
        return self.flow(self.weights, z)[0]


def run_hmc(action, x0, trajectories, therm=10, n_steps=10, tau=1.0, integrator="omelyan", seed=0,
            callback=None):
    """Run len(x0) independent chains of HMC on the phase space of `action`, starting from x0[B, L0, L1]:
    `therm` unrecorded then `trajectories` recorded trajectories. Returns the record of docs/flows.md (acceptance,
    <exp(-dH)>, |M|/V, chi with errors, tau_int of M and |M| in trajectories, seconds, forces) and the final
    chain state x."""
    check_steps(n_steps, tau)
    if integrator not in INTEGRATORS:
        raise ValueError(f"integrator {integrator!r}: choose one of {', '.join(INTEGRATORS)}")
    if int(trajectories) < 10:
        raise ValueError(f"run_hmc: need at least 10 recorded trajectories, got {trajectories}")
    if int(therm) < 0:
        raise ValueError(f"run_hmc: therm must be >= 0, got {therm}")
    rng = np.random.default_rng(seed)
    x = np.array(x0, dtype=np.float64, copy=True)
    B, vol = x.shape[0], x[0].size
    S, _, phi = action.evaluate(x)
    phi = np.array(phi, copy=True)
    forces = [1]
    total = int(therm) + int(trajectories)
    Ms = np.empty((B, int(trajectories)))
    accepted, boltz = [], []
    t_meas = time.perf_counter()

    def force(y):
        forces[0] += 1
        return -action.evaluate(y)[1]

    for k in range(total):
        if k == int(therm):
            t_meas = time.perf_counter()
        p = rng.standard_normal(x.shape)
        h0 = 0.5 * (p * p).sum(axis=(1, 2)) + S
        y, q = integrate(x, p, force, n_steps, tau, integrator, drift=_flat_drift)
        S1, _, phi1 = action.evaluate(y)
        forces[0] += 1
        dH = 0.5 * (q * q).sum(axis=(1, 2)) + S1 - h0
        acc = rng.random(B) < np.exp(-np.maximum(dH, 0.0))        # min(1, exp(-dH)) per chain
        x[acc], S[acc], phi[acc] = y[acc], S1[acc], phi1[acc]
        if k >= int(therm):
            j = k - int(therm)
            Ms[:, j] = phi.sum(axis=(1, 2))
            accepted.append(acc)
            boltz.append(np.exp(-dH))
        if callback is not None:
            callback(k, acc)
    seconds = time.perf_counter() - t_meas
    acc_rate = float(np.mean(accepted))
    tm = tau_int_replicas(Ms)
    ta = tau_int_replicas(np.abs(Ms) / vol)
    m2 = tau_int_replicas(Ms * Ms / vol)
    # chi = <M^2>/V - <M>^2/V: with the Z2 symmetry <M> -> 0; the error of chi is taken from the M^2 series
    chi = m2.mean - Ms.mean() ** 2 / vol
    e = np.array(boltz)
    return {"algorithm": action.name, "chains": B, "trajectories": int(trajectories), "therm": int(therm),
            "steps": int(n_steps), "tau": float(tau), "integrator": integrator,
            "acceptance": acc_rate, "exp_minus_dH": float(e.mean()),
            "exp_minus_dH_err": float(e.mean(axis=1).std(ddof=1) / math.sqrt(e.shape[0])) if e.shape[0] > 1 else 0.0,
            "abs_m": ta.mean, "abs_m_err": ta.error_of_mean, "tau_int_abs_m": ta.tau_int,
            "tau_int_abs_m_err": ta.tau_int_error,
            "chi": float(chi), "chi_err": m2.error_of_mean,
            "tau_int_M": tm.tau_int, "tau_int_M_err": tm.tau_int_error, "window_M": tm.window,
            "tau_int_M2": m2.tau_int,
            "seconds": seconds, "seconds_per_trajectory": seconds / int(trajectories),
            "forces_per_trajectory": (forces[0] - 1) / total,
            "seconds_per_independent_sample": seconds / int(trajectories) * 2.0 * tm.tau_int / B}, x
