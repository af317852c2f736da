"""The run-state file of a resumable command (generate, hmc): rank 0 reads and writes it, every rank
gets its content; writes are atomic (temporary file, fsync, rename: util/atomic.py), so a crash never leaves half a state."""
import json
import os

from ..util.atomic import atomic_write_json


def read_state(lat, out, name, marker, what):
    """The JSON state `out/name` (None for a fresh run). A directory holding files that start with
    `marker` (earlier output, `what` in the message) but no state file is an error on every rank."""
    state, problem = None, None
    if lat.rank == 0:
        path = os.path.join(out, name)
        if os.path.exists(path):
            try:
                with open(path) as f:
                    state = json.load(f)
            except (OSError, ValueError) as exc:
                problem = f"cannot read the state file {path}: {exc}"
        elif os.path.isdir(out) and any(n.startswith(marker) for n in os.listdir(out)):
            problem = (f"{out} holds {what} ({marker}*) but no {name}: cannot resume; choose another --out or "
                       f"remove them")
    state, problem = lat.cart.bcast((state, problem), root=0)
    lat.check(problem is None, problem or "", RuntimeError)
    return state


def write_json(lat, path, data):
    """Write `data` as JSON on rank 0, atomically."""
    if lat.rank == 0:
        atomic_write_json(path, data, indent=1)
