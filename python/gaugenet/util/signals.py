"""Stopping a long job cleanly when the batch system asks (SIGTERM, SIGUSR1), and agreeing on it
across the ranks.

Slurm sends SIGTERM at the time limit (then SIGKILL after KillWait, 30 s by default) and, with
`#SBATCH --signal=USR1@120`, SIGUSR1 a chosen time before it. The signal may reach one rank only
(`scancel --signal=USR1 JOBID.STEP` to a single task, or a node-local kill), so the handler only sets
a flag; the loop asks `stop.requested(comm)` at its next step boundary, where every rank takes part in
one small allreduce and all of them see the same answer. The loop then writes its checkpoint and
returns EXIT_INTERRUPTED, and the job ends with one log line saying how to resume.

    from gaugenet.util.signals import GracefulStop, EXIT_INTERRUPTED
    with GracefulStop() as stop:
        for step in range(start, total):
            ...one step (collectives inside are fine)...
            if stop.requested(lat.cart):
                write_checkpoint(step + 1)
                log.warning(stop.message("resume: rerun the same command"))
                return EXIT_INTERRUPTED

Outside the `with` block the previous handlers are back (a second GracefulStop in the same process, as
in tests, works too). Handlers can only be installed from the main thread; elsewhere GracefulStop does
nothing but still answers `requested()` (always False unless `request()` was called).

Fault injection for tests (GAUGENET_FAULT, see `inject`): `raise` an exception or `kill` the process
(SIGKILL, a lost node) on one rank at a named point of a loop, e.g.
GAUGENET_FAULT="generate.sweep:rank=1:at=3:action=raise". The point `collective` needs no call in the
command: `arm_collective_fault()` (called by cli.main before every command) counts the collective calls of
the lattice layer and fails at the at-th one (see there).
"""
import functools
import os
import signal
import threading

from .log import log

EXIT_INTERRUPTED = 75          # EX_TEMPFAIL of sysexits.h: "temporary failure, retry later" (rerun to continue)
SIGNALS = ("SIGTERM", "SIGUSR1")


class GracefulStop:
    """Context manager: catches SIGTERM/SIGUSR1 (names in `signals`) into a flag; requested(comm) is the
    collective decision at a step boundary."""

    def __init__(self, signals=SIGNALS):
        self.names = tuple(s for s in signals if hasattr(signal, s))
        self.received = None            # name of the first signal this rank got
        self._agreed = None             # name of the signal the ranks agreed on (None: keep going)
        self._previous = {}

    # ---------------------------------------------------------------- handlers
    def _handler(self, signum, frame):  # noqa: ARG002 - signal handler signature
        if self.received is None:
            self.received = signal.Signals(signum).name

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for name in self.names:
                sig = getattr(signal, name)
                self._previous[sig] = signal.signal(sig, self._handler)
        return self

    def __exit__(self, *exc):
        for sig, old in self._previous.items():
            signal.signal(sig, old if old is not None else signal.SIG_DFL)
        self._previous.clear()
        return False

    # ---------------------------------------------------------------- decision
    def request(self, reason="request"):
        """Ask for a stop from code (as a signal would)."""
        if self.received is None:
            self.received = reason

    def requested(self, comm=None):
        """Whether the job should stop now; collective over `comm` (every rank must call it at the same
        step boundary). True on every rank when any rank received a signal."""
        if self._agreed is not None:
            return True
        local = self.received
        if comm is not None and comm.Get_size() > 1:
            got = comm.allgather(local)
            firsts = [(r, name) for r, name in enumerate(got) if name is not None]
            if firsts:
                r, name = firsts[0]
                self._agreed = f"{name} (rank {r})" if len(firsts) < comm.Get_size() else name
        elif local is not None:
            self._agreed = local
        return self._agreed is not None

    @property
    def reason(self):
        return self._agreed or self.received

    def message(self, what, resume):
        """The log line of an interrupted run: which signal, what was saved, how to continue."""
        return (f"stopped by {self.reason}: {what}; exit status {EXIT_INTERRUPTED} (interrupted, resumable). "
                f"To continue: {resume}")


# -------------------------------------------------------------------- fault injection (tests)
class InjectedFault(RuntimeError):
    """An error raised on purpose through GAUGENET_FAULT (tests of the failure paths)."""


def _parse_fault(text):
    parts = text.split(":")
    spec = {"point": parts[0], "rank": None, "at": None, "action": "raise"}
    for p in parts[1:]:
        key, _, value = p.partition("=")
        if key not in ("rank", "at", "action") or not value:
            raise ValueError(f"GAUGENET_FAULT={text!r}: unknown item {p!r} (use POINT[:rank=R][:at=STEP]"
                             f"[:action=raise|kill|term])")
        spec[key] = value if key == "action" else int(value)
    if spec["action"] not in ("raise", "kill", "term"):
        raise ValueError(f"GAUGENET_FAULT={text!r}: action must be raise, kill or term")
    return spec


def inject(point, step, rank):
    """Fail on purpose when GAUGENET_FAULT names this point (and rank and step, where given).
    POINT[:rank=R][:at=STEP][:action=raise|kill|term]; raise: InjectedFault on that rank only (the others
    carry on into the next collective: the error path must still end the job); kill: SIGKILL to this
    process; term: SIGTERM to this process (then carries on, as after a real signal). Does nothing when the variable is unset."""
    text = os.environ.get("GAUGENET_FAULT")
    if not text:
        return
    spec = _parse_fault(text)
    if spec["point"] != point or (spec["rank"] is not None and spec["rank"] != rank) or \
            (spec["at"] is not None and spec["at"] != step):
        return
    if spec["action"] == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    if spec["action"] == "term":             # as the batch system would, at a known moment
        os.kill(os.getpid(), signal.SIGTERM)
        return
    log.debug("injecting a fault at %s step %s on rank %d", point, step, rank)
    raise InjectedFault(f"fault injected at {point} step {step} on rank {rank} (GAUGENET_FAULT={text})")


# the lattice-layer calls that every rank makes together (reductions, collective checks, gathers, halo
# exchanges); the point `collective` counts them
COLLECTIVE_CALLS = (("gaugenet.lattice.lattice", "Lattice", ("allreduce", "check", "gather_global",
                                                              "scatter_from_root")),
                    ("gaugenet.lattice.halo", "Halo", ("start",)))


def arm_collective_fault():
    """Test hook of every command: with GAUGENET_FAULT=collective:rank=R:at=K[:action=...], rank R (of
    COMM_WORLD) fails at its K-th collective call of the lattice layer (COLLECTIVE_CALLS: halo exchanges,
    reductions, collective checks, gathers), i.e. in the middle of whatever collective phase the command is
    in, while the other ranks enter that collective and wait for it. Without `at`, the first call.
    Does nothing (returns False) unless the variable names the point `collective`; cli.main calls it once
    before the command runs. The wrappers stay installed for the rest of the process."""
    text = os.environ.get("GAUGENET_FAULT")
    if not text or _parse_fault(text)["point"] != "collective":
        return False
    import importlib
    from mpi4py import MPI
    rank = MPI.COMM_WORLD.Get_rank()
    count = [0]

    def wrap(fn):
        @functools.wraps(fn)
        def counted(*a, **kw):
            count[0] += 1
            inject("collective", count[0], rank)
            return fn(*a, **kw)
        counted.fault_wrapped = fn
        return counted

    for modname, clsname, names in COLLECTIVE_CALLS:
        cls = getattr(importlib.import_module(modname), clsname)
        for name in names:
            fn = getattr(cls, name)
            setattr(cls, name, wrap(getattr(fn, "fault_wrapped", fn)))   # armed twice: counted once
    return True
