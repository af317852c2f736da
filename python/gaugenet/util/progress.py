"""Progress of long loops, on rank 0 only.

    with Progress(total, "generate", unit="sweep", initial=start) as bar:
        for s in range(start, total):
            ...
            bar.update(1, plaquette=f"{p:.6f}")

Three modes, chosen once per loop:
- "bar": a tqdm bar (rate, elapsed, ETA and the latest values given to update) when tqdm is installed
  (pip install 'gaugenet[progress]') and stdout is a terminal; log lines of gaugenet during the loop are
  printed above the bar.
- "log": plain lines through gaugenet's logger every `every_percent` % of the loop or every
  `every_seconds` seconds, whichever comes first, with the rate and the ETA: the form for batch jobs,
  whose output goes to a file (and for a terminal without tqdm).
- "off": other ranks, or GAUGENET_PROGRESS=off.
GAUGENET_PROGRESS=bar|log|off overrides the choice (bar still needs tqdm).

ResidualProgress shows an iterative solve: the fraction done is how far log(residual) has come from 1
towards log(tolerance), and the iteration count against the cap; `with solve_progress(tol, maxiter):`
attaches one to the solve run inside the block.
"""
import contextlib
import math
import os
import sys
import time

from .log import log, world_rank

MODES = ("bar", "log", "off")


def have_tqdm():
    try:
        import tqdm  # noqa: F401
    except ImportError:
        return False
    return True


def choose_mode(stream=None, rank=None):
    """The mode for this process (module docstring)."""
    rank = world_rank() if rank is None else rank
    forced = os.environ.get("GAUGENET_PROGRESS", "").strip().lower()
    if forced and forced not in MODES:
        raise ValueError(f"GAUGENET_PROGRESS={forced!r}: use one of {', '.join(MODES)}")
    if rank != 0 or forced == "off":
        return "off"
    if forced == "log":
        return "log"
    stream = sys.stdout if stream is None else stream
    tty = bool(getattr(stream, "isatty", lambda: False)())
    if (forced == "bar" or tty) and have_tqdm():
        return "bar"
    return "log"


def _duration(seconds):
    if not math.isfinite(seconds):
        return "?"
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class Progress:
    """Progress of a loop of `total` units (see the module docstring). initial: units already done
    (a resumed run): the rate and ETA count only this run's units."""

    def __init__(self, total, desc, unit="step", initial=0, every_percent=10.0, every_seconds=60.0, mode=None,
                 stream=None, rank=None):
        self.total = int(total)
        self.desc = desc
        self.unit = unit
        self.n = int(initial)
        self.initial = int(initial)
        self.every_percent = float(every_percent)
        self.every_seconds = float(every_seconds)
        self.mode = mode or choose_mode(stream, rank)
        if self.mode not in MODES:
            raise ValueError(f"progress mode must be one of {MODES}, got {self.mode!r}")
        self.stream = sys.stdout if stream is None else stream
        self.t0 = time.perf_counter()
        self._last_t = self.t0
        self._last_pct = self._pct()
        self._bar = None
        self._stack = contextlib.ExitStack()
        self.info = {}
        self.lines = 0                  # log lines printed (mode "log")
        if self.mode == "bar":
            self._open_bar()

    def _open_bar(self):
        from tqdm import tqdm
        from tqdm.contrib.logging import logging_redirect_tqdm
        self._bar = tqdm(total=self.total, initial=self.initial, desc=self.desc, unit=self.unit, file=self.stream,
                         dynamic_ncols=True, leave=True)
        self._stack.enter_context(logging_redirect_tqdm(loggers=[log]))

    def _pct(self):
        return 100.0 * self.n / self.total if self.total > 0 else 100.0

    def rate(self):
        """Units per second in this run."""
        dt = time.perf_counter() - self.t0
        return (self.n - self.initial) / dt if dt > 0 else float("nan")

    def eta(self):
        r = self.rate()
        return (self.total - self.n) / r if r and r > 0 and math.isfinite(r) else float("nan")

    def line(self):
        """The text of a progress log line."""
        r = self.rate()
        extra = "".join(f"; {k} {v}" for k, v in self.info.items())
        return (f"{self.desc}: {self._pct():5.1f}% ({self.n}/{self.total} {self.unit}s), "
                f"{r:.3g} {self.unit}s/s, elapsed {_duration(time.perf_counter() - self.t0)}, "
                f"ETA {_duration(self.eta())}{extra}")

    def update(self, n=1, **info):
        """n more units done; keyword values are shown beside the bar / in the next log line."""
        self.n += int(n)
        self.info.update({k: v for k, v in info.items()})
        if self.mode == "bar":
            if info:
                self._bar.set_postfix({k: v for k, v in self.info.items()}, refresh=False)
            self._bar.update(int(n))
        elif self.mode == "log":
            now = time.perf_counter()
            pct = self._pct()
            step = self.every_percent
            crossed = step > 0 and math.floor(pct / step) > math.floor(self._last_pct / step)
            finished = self.n >= self.total and self._last_pct < 100.0 and self.lines > 0
            if crossed or now - self._last_t >= self.every_seconds or finished:
                log.info("%s", self.line())
                self.lines += 1
                self._last_t, self._last_pct = now, pct

    def set_total(self, total):
        self.total = int(total)
        if self._bar is not None:
            self._bar.total = self.total
            self._bar.refresh()

    def close(self):
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        self._stack.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


class ResidualProgress(Progress):
    """An iterative solve as a progress bar: 1000 units from |r|/|b| = 1 down to the tolerance
    (logarithmic), with the iteration count and the residual shown. update_residual(iteration, rel)."""

    SCALE = 1000

    def __init__(self, tol, maxiter, desc="solve", **kw):
        kw.setdefault("unit", "‰")
        super().__init__(self.SCALE, desc, **kw)
        self.tol = float(tol)
        self.maxiter = int(maxiter)

    def fraction(self, rel):
        if not (rel > 0) or not math.isfinite(rel):
            return 0.0
        f = math.log(rel) / math.log(self.tol) if self.tol < 1 else 1.0
        return min(1.0, max(0.0, f))

    def update_residual(self, iteration, rel):
        target = int(round(self.SCALE * self.fraction(rel)))
        self.info.update(iteration=f"{iteration}/{self.maxiter}", residual=f"{rel:.2e}")
        # progress never moves backwards (a residual that rises again keeps the bar where it was)
        self.update(max(0, target - self.n), **{})

    def line(self):
        extra = "".join(f"; {k} {v}" for k, v in self.info.items())
        return f"{self.desc}: {self._pct():5.1f}% of the way to |r|/|b| = {self.tol:.1e}{extra}"


@contextlib.contextmanager
def solve_progress(tol, maxiter, desc="solve", every_seconds=30.0, mode=None):
    """Progress of the iterative solve run inside the block (the first solver that reports an iteration:
    solves nested in its preconditioner are not followed). In log mode a line every `every_seconds`
    (30 s) only, so short solves print nothing. Uses gaugenet.solvers.result.Monitor.observer."""
    from ..solvers.result import Monitor
    bar = ResidualProgress(tol, maxiter, desc=desc, every_percent=0, every_seconds=every_seconds, mode=mode)
    followed = []

    def observe(monitor, rel):
        if not followed:
            followed.append(monitor)
        if monitor is followed[0]:
            bar.update_residual(len(monitor.history), rel)

    previous = Monitor.observer
    Monitor.observer = observe if bar.mode != "off" else previous
    try:
        yield bar
    finally:
        Monitor.observer = previous
        bar.close()
