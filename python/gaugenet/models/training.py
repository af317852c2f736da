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

Watching the training: `with recording(TrainingRecorder()) as rec:` around any code that trains (e.g.
models.experiment.run_experiment) collects every stage's (step, cost, seconds) history and the FGMRES
iterations of the per-step solves of the multigrid stage, and shows a rank-0 progress bar (or periodic
log lines) per stage (util/progress.py); util/plots.plot_training draws them.
"""
import contextlib
import time

import numpy as np

from ..fields import CoarseField, FermionField
from ..ml.layer import quadratic_cost
from ..solvers import fgmres
from ..util.log import log
from .features import join_features
from .optim import Adam


class TrainingRecorder:
    """Collects the training histories and shows the progress of every stage (see the module docstring).

    histories: {stage: [(step, cost, seconds), ...]}; solves: {stage: [(step, FGMRES iterations,
    residual, tolerance), ...]} of the solves inside the batches (multigrid stage). progress: show a Progress per
    stage (rank 0; the mode as util.progress.choose_mode decides)."""

    def __init__(self, progress=True):
        self.progress = progress
        self.histories = {}
        self.solves = {}
        self._bars = {}

    def start(self, name, steps):
        self.histories[name] = []
        if self.progress and steps > 0:
            from ..util.progress import Progress
            self._bars[name] = Progress(steps, f"training {name}", unit="step")

    def step(self, name, step, cost, seconds):
        self.histories.setdefault(name, []).append((step, cost, seconds))
        bar = self._bars.get(name)
        if bar is not None:
            bar.update(1, cost=f"{cost:.3e}")

    def solve(self, name, step, iterations, residual, tol):
        self.solves.setdefault(name, []).append((step, int(iterations), float(residual), float(tol)))

    def end(self, name):
        bar = self._bars.pop(name, None)
        if bar is not None:
            bar.close()


_RECORDERS = []


@contextlib.contextmanager
def recording(recorder):
    """Let `recorder` (a TrainingRecorder) see every train() call and batch solve inside the block."""
    _RECORDERS.append(recorder)
    try:
        yield recorder
    finally:
        _RECORDERS.remove(recorder)
        for name in list(recorder._bars):
            recorder.end(name)


def _notify(event, *a):
    for r in _RECORDERS:
        getattr(r, event)(*a)


def train(model, weights, batch, steps, opt=None, log_every=0, name="model"):
    """Generic loop: batch(step) -> (input, target); returns the history [(step, cost, seconds)].
    `weights` is updated in place."""
    opt = opt or Adam()
    hist = []
    _notify("start", name, steps)
    try:
        for step in range(steps):
            t0 = time.perf_counter()
            x, y = batch(step)
            cost, grads = quadratic_cost(model, weights, x, y)
            if not np.isfinite(cost):
                raise FloatingPointError(f"{name}: cost became {cost} at step {step} (lower the learning rate)")
            opt.step(weights, grads[:-1])
            hist.append((step, float(cost), time.perf_counter() - t0))
            _notify("step", name, step, float(cost), hist[-1][2])
            if log_every and (step % log_every == 0 or step == steps - 1):
                log.info(f"{name} step {step:5d}: cost {cost:.6e}")
    finally:
        _notify("end", name)
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
        _notify("solve", "multigrid", step, r.iterations, r.residual, solve_tol)
        return FermionField.stack([b_h, b_l]), FermionField.stack([u_h, r.x])
    return batch
