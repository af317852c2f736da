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
import json
import os
import shutil
import time

import numpy as np

from ..fields import CoarseField, FermionField
from ..ml.layer import quadratic_cost
from ..solvers import fgmres
from ..util.log import log
from .features import join_features
from .optim import Adam


class TrainingInterrupted(RuntimeError):
    """Training stopped by SIGTERM/SIGUSR1 after its checkpoint was written (every rank raises it at the
    same step: collective). exit_status: the command's exit status (75, util.signals.EXIT_INTERRUPTED)."""
    collective = True
    exit_status = 75


class TrainingCheckpoint:
    """Checkpoints of the train() loops inside a `recording` block, in `directory`.

    Every `every` steps, at the end of a loop, and when `stop` (a util.signals.GracefulStop) is requested
    at a step boundary, every rank writes its weights, Adam moments and the history so far to
    train_KEY.stepNNNNNN.rankR.npz (atomically; per rank, since per-site weights live on their rank), then
    rank 0 commits the step in train_KEY.json; a kill at any moment leaves the last committed step. KEY is
    the loop's name and its number among the loops of that name in the run ('coarse.2'). A rerun with the
    same arguments restores each loop from its committed step (a finished loop is not run again) and so
    continues bitwise: the batches depend only on the step and the weights."""

    def __init__(self, directory, comm, every=25, stop=None):
        self.dir = os.fspath(directory)
        self.comm = comm
        self.every = int(every)
        self.stop = stop
        self._calls = {}
        if comm.Get_rank() == 0:
            os.makedirs(self.dir, exist_ok=True)
        comm.Barrier()

    def key(self, name):
        n = self._calls.get(name, 0) + 1
        self._calls[name] = n
        return f"{name}.{n}"

    def _index(self, key):
        return os.path.join(self.dir, f"train_{key}.json")

    def _file(self, key, step, rank):
        return os.path.join(self.dir, f"train_{key}.step{step:06d}.rank{rank}.npz")

    def _agree(self, err, what):
        errs = self.comm.allgather(err)
        bad = [(r, e) for r, e in enumerate(errs) if e]
        if bad:
            r, e = bad[0]
            exc = RuntimeError(f"{what}: {e}" + (f" (rank {r})" if self.comm.Get_size() > 1 else ""))
            exc.collective = True
            raise exc

    def load(self, key, weights, opt, steps):
        """(first step to run, history so far); weights and the optimiser restored in place. (0, []) when
        this loop has no checkpoint."""
        info, err = None, None
        if self.comm.Get_rank() == 0 and os.path.exists(self._index(key)):
            try:
                with open(self._index(key)) as f:
                    info = json.load(f)
            except (OSError, ValueError) as exc:
                err = f"cannot read {self._index(key)}: {exc}"
        info, err = self.comm.bcast((info, err), root=0)
        self._agree(err, "training checkpoint")
        if info is None:
            return 0, []
        if info.get("ranks") != self.comm.Get_size() or info.get("steps") != steps:
            self._agree(f"{self._index(key)} was written by a run of {info.get('steps')} steps on {info.get('ranks')} "
                        f"ranks, this one has {steps} steps on {self.comm.Get_size()}: delete {self.dir} to start "
                        f"the training afresh", "training checkpoint")
        step = int(info["step"])
        path = self._file(key, step, self.comm.Get_rank())
        err, hist = None, []
        try:
            with np.load(path) as z:
                new = [z[f"w{i}"] for i in range(len(weights))]
                for w, a in zip(weights, new):
                    if a.shape != np.shape(w) or a.dtype != np.asarray(w).dtype:
                        raise ValueError(f"weights of shape {a.shape} {a.dtype}, the model has {np.shape(w)} "
                                         f"{np.asarray(w).dtype}")
                t = int(z["adam_t"])
                m = [z[f"m{i}"] for i in range(len(weights))] if t else None
                v = [z[f"v{i}"] for i in range(len(weights))] if t else None
                hist = [(int(a), float(b), float(c)) for a, b, c in z["hist"]]
        except (OSError, KeyError, ValueError) as exc:
            err = f"{path}: {type(exc).__name__}: {exc} (delete {self.dir} to start the training afresh)"
        self._agree(err, "damaged training checkpoint")
        for w, a in zip(weights, new):
            w[...] = a
        opt.t, opt._m, opt._v = t, m, v
        log.info("training %s: continuing from the checkpoint of step %d/%d in %s", key, step, steps, self.dir)
        return step, hist

    def save(self, key, step, weights, opt, hist, steps):
        from ..util.atomic import atomic_open, atomic_write_json
        rank = self.comm.Get_rank()
        err = None
        try:
            arrays = {f"w{i}": np.asarray(w) for i, w in enumerate(weights)}
            arrays["adam_t"] = np.array(opt.t)
            if opt.t:
                arrays.update({f"m{i}": m for i, m in enumerate(opt._m)})
                arrays.update({f"v{i}": v for i, v in enumerate(opt._v)})
            arrays["hist"] = np.array(hist, dtype=np.float64).reshape(-1, 3)
            with atomic_open(self._file(key, step, rank), "wb") as f:
                np.savez(f, **arrays)
        except OSError as exc:
            err = f"cannot write {self._file(key, step, rank)}: {exc}"
        self._agree(err, "training checkpoint")
        if rank == 0:
            atomic_write_json(self._index(key), {"step": step, "steps": steps, "ranks": self.comm.Get_size()})
        self.comm.Barrier()
        for name in os.listdir(self.dir):          # the older steps of this loop, this rank's files
            if name.startswith(f"train_{key}.step") and name.endswith(f".rank{rank}.npz") and \
                    name != os.path.basename(self._file(key, step, rank)):
                os.remove(os.path.join(self.dir, name))

    def clear(self):
        """Remove the checkpoints (after the whole run finished)."""
        self.comm.Barrier()
        if self.comm.Get_rank() == 0:
            shutil.rmtree(self.dir, ignore_errors=True)


class TrainingRecorder:
    """Collects the training histories and shows the progress of every stage (see the module docstring).

    histories: {stage: [(step, cost, seconds), ...]}; solves: {stage: [(step, FGMRES iterations,
    residual, tolerance), ...]} of the solves inside the batches (multigrid stage). progress: show a Progress per
    stage (rank 0; the mode as util.progress.choose_mode decides)."""

    def __init__(self, progress=True, checkpoint=None):
        self.progress = progress
        self.checkpoint = checkpoint        # a TrainingCheckpoint, or None
        self.histories = {}
        self.solves = {}
        self._bars = {}

    def start(self, name, steps, hist=()):
        self.histories[name] = list(hist)
        if self.progress and steps > len(hist):
            from ..util.progress import Progress
            self._bars[name] = Progress(steps, f"training {name}", unit="step", initial=len(hist))

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
    from ..util.signals import inject
    opt = opt or Adam()
    ck = next((r.checkpoint for r in _RECORDERS if r.checkpoint is not None), None)
    key = ck.key(name) if ck is not None else None
    start, hist = ck.load(key, weights, opt, steps) if ck is not None else (0, [])
    _notify("start", name, steps, hist)
    try:
        for step in range(start, steps):
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
            if ck is not None:
                done = step + 1
                inject(f"train.{name}", done, ck.comm.Get_rank())
                stop = ck.stop is not None and ck.stop.requested(ck.comm)
                if stop or done == steps or (ck.every and done % ck.every == 0):
                    ck.save(key, done, weights, opt, hist, steps)
                if stop and done < steps:
                    raise TrainingInterrupted(f"training {key} stopped by {ck.stop.reason} after step {done} of "
                                              f"{steps}; checkpoint in {ck.dir}")
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
