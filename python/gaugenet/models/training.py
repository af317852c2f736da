"""Training of the seed-000 models: a fresh random batch at every step, the cost functions of
shared/CONVENTIONS.md ("Learned preconditioners"), one Adam step per batch.

    high mode   C = |M_h b - v|^2,               b = D v                       (eq. 27)
    coarse      C = |M~ b - v|^2,                b = D~ v                      (eq. 33)
    smoother    C = |M_s(u, b) - u_{k+r}|^2,     u_{k+1} = u_k + M_h (b - D u_k)  (eq. 36)
    multigrid   C = |M b_h - u_h|^2 + |M b_l - u_l|^2,  b_h = D v_1, u_h = v_1, b_l = v_2,
                u_l = D^{-1} v_2 (a solve per step, preconditioned by the current model)  (eq. 37)

Sources are normalised to |b| = 1 (as eq. 37 prescribes), so costs of different steps compare.
Random vectors come from the counter-based generator keyed by (seed, step): the batches, and hence
the trained weights, do not depend on the process grid.
"""
import time

import numpy as np

from ..fields import CoarseField, FermionField
from ..ml.layer import quadratic_cost
from ..solvers import fgmres
from ..util.log import log
from .features import join_features
from .optim import Adam


def train(model, weights, batch, steps, opt=None, log_every=0, name="model"):
    """Generic loop: batch(step) -> (input, target); returns the history [(step, cost, seconds)].
    `weights` is updated in place."""
    opt = opt or Adam()
    hist = []
    for step in range(steps):
        t0 = time.perf_counter()
        x, y = batch(step)
        cost, grads = quadratic_cost(model, weights, x, y)
        if not np.isfinite(cost):
            raise FloatingPointError(f"{name}: cost became {cost} at step {step} (lower the learning rate)")
        opt.step(weights, grads[:-1])
        hist.append((step, float(cost), time.perf_counter() - t0))
        if log_every and (step % log_every == 0 or step == steps - 1):
            log.info(f"{name} step {step:5d}: cost {cost:.6e}")
    return hist


def _unit(f):
    return f * (1.0 / f.norm())


def _random(lat, N, seed, stream):
    return FermionField.random(lat, N=N, seed=seed, stream=stream)


def high_mode_batch(D, seed):
    def batch(step):
        v = _random(D.lat, D.N, seed, step)
        b = D(v)
        s = 1.0 / b.norm()
        return b * s, v * s
    return batch


def coarse_batch(grid, seed):
    def batch(step):
        v = CoarseField.random(grid.lat, grid.n_basis, seed=seed, stream=step)
        b = grid.op(v)
        s = 1.0 / b.norm()
        return b * s, v * s
    return batch


def smoother_batch(D, Mh, Mh_weights, seed, r=2):
    """(u_k, b) random with |b| = |u_k| = 1; target u_{k+r} by r defect-correction steps with M_h."""
    def batch(step):
        u = _unit(_random(D.lat, D.N, seed, 2 * step))
        b = _unit(_random(D.lat, D.N, seed, 2 * step + 1))
        t = u
        for _ in range(r):
            t = t + Mh(Mh_weights, b - D(t))
        return join_features([u, b]), t
    return batch


def multigrid_batch(D, model, weights, seed, solve_tol=1e-6, maxiter=2000):
    """Batch of two right-hand sides (b_h, b_l) and targets (u_h, u_l), eq. (37)."""
    def batch(step):
        v1 = _random(D.lat, D.N, seed, 2 * step)
        b_h = D(v1)
        s = 1.0 / b_h.norm()
        b_h, u_h = b_h * s, v1 * s
        b_l = _unit(_random(D.lat, D.N, seed, 2 * step + 1))
        r = fgmres(D, b_l, M=lambda v: model(weights, v), tol=solve_tol, maxiter=maxiter)
        return FermionField.stack([b_h, b_l]), FermionField.stack([u_h, r.x])
    return batch
