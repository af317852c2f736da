"""Training a flow by the reverse Kullback-Leibler cost (seed 003, "normalizing flows a la MIT"):

    C(theta) = < log q(phi) + S(phi) >_{phi ~ q} = < log r(z) - log det f*(z) + S(f(z)) >_{z ~ r}
             = D_KL(q | p) - log Z,

estimated on a fresh batch of prior samples z at every step. The gradient is exact for the batch:
backprop through the flow with left_phi = dS/dphi / B and left_logdet = -1 / B (log r(z) does not depend
on theta). Adam (gaugenet.models.optim) makes the steps.
"""
import time

import numpy as np

from ..models.optim import Adam


def kl_cost(flow, theory, weights, z, with_grad=True):
    """(C, [dC/dW...] or None, log-weights log w = -S - log q per sample) of the batch z[b, L0, L1]."""
    z = np.asarray(z, dtype=np.float64)
    (phi, logdet), traces = flow.forward_trace(weights, z)
    log_q = flow.log_prior(z) - logdet
    s = theory.action(phi)
    cost = float(np.mean(log_q + s))
    grads = None
    if with_grad:
        b = z.shape[0]
        left_phi = theory.force(phi) / b
        left_ld = np.full(b, -1.0 / b)
        grads = flow.backward(weights, traces, (left_phi, left_ld))[:-1]
    return cost, grads, -s - log_q


def train(flow, theory, weights, shape, steps, batch, rng, lr=1e-3, log_every=0, log=None, time_limit=None):
    """Adam on the KL cost for `steps` steps of `batch` fresh prior samples on lattice `shape`. Updates
    `weights` in place; returns a history dict (cost, ess of each batch every step, seconds)."""
    if int(steps) < 0:
        raise ValueError(f"train: steps must be >= 0, got {steps}")
    if int(batch) < 1:
        raise ValueError(f"train: the batch size must be >= 1, got {batch}")
    from .sampler import ess
    opt = Adam(alpha=lr)
    costs, esses = [], []
    t0 = time.perf_counter()
    for step in range(int(steps)):
        z = rng.standard_normal((int(batch),) + tuple(shape))
        cost, grads, logw = kl_cost(flow, theory, weights, z)
        if not np.isfinite(cost):
            raise FloatingPointError(f"train: the KL cost is not finite at step {step} (lower the learning rate)")
        opt.step(weights, grads)
        costs.append(cost)
        esses.append(ess(logw))
        if log is not None and log_every and (step + 1) % log_every == 0:
            k = max(1, log_every)
            log.info("train step %d: KL cost %.4f, batch ESS %.3f (means of the last %d steps)", step + 1,
                     float(np.mean(costs[-k:])), float(np.mean(esses[-k:])), k)
        if time_limit is not None and time.perf_counter() - t0 > time_limit:
            break
    return {"cost": costs, "ess": esses, "seconds": time.perf_counter() - t0, "steps": len(costs)}
