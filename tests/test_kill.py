"""SIGKILL at random moments (a lost node: every process of the job at once), then the same command rerun to
completion, for the resumable commands on 2 ranks (mpiexec; 1 rank without it): `mg` training
(F.checkpoint/), `hmc` and `hmc --algorithm slhmc` (DIR/checkpoint_N.h5 + hmc.json) and `generate`. Each kill
comes at a seeded random point of the run's progress (a log line: a trajectory, a sweep, a training
step), after a checkpoint exists and, in the later attempts, after the run resumed from one, plus a random
jitter of up to 50 ms; the final result must be bitwise the one of an uninterrupted run: trained
weights, training costs, solver iterations and residual histories (mg); every trajectory record, the
training state and the last field (hmc, slhmc); every configuration and the plaquette log (generate)."""
import json
import os
import random
import subprocess
import sys
import time

import numpy as np
import pytest

from conftest import NRANKS
from test_faults import _assert_same_chain, _env, _gauge_bytes, _kill_all, _mpiexec

pytestmark = pytest.mark.skipif(NRANKS > 1, reason="launches its own processes")

TIMEOUT = 120
RANKS = 2 if _mpiexec() else 1


def _cmd(command, args):
    cmd = [sys.executable, "-m", "gaugenet", command] + args
    return [_mpiexec(), "-n", str(RANKS)] + cmd if RANKS > 1 else cmd


def _run(command, args, tmp):
    with open(tmp / "full.log", "w") as f:
        r = subprocess.run(_cmd(command, args), stdout=f, stderr=subprocess.STDOUT, timeout=TIMEOUT, env=_env())
    assert r.returncode == 0, (tmp / "full.log").read_text()


def _marks(candidates, seed, kills=3):
    """`kills` progress lines of the run (log texts, in run order), drawn at random (seeded)."""
    rng = random.Random(seed)
    return sorted(rng.sample(candidates, kills), key=candidates.index)


def _kill_repeatedly(command, args, tmp, marks, has_checkpoint, seed, jitter=0.05):
    """Start the command once per mark; each time wait until the run's log shows the mark (a random point of
    its progress, later than the previous one, so that every rerun resumes from a checkpoint and gets there
    again) and a checkpoint exists, wait a random jitter (so kills also land inside file writes), and SIGKILL
    every process of the job. Returns how many kills hit a running job (all of them, unless a run ends
    first). Waiting on progress rather than on time makes the kills land on fast and slow machines alike.
    Output goes to files (a full pipe must not stall the run while the test polls)."""
    rng = random.Random(seed)
    hit = 0
    for attempt, mark in enumerate(marks):
        logf = tmp / f"attempt{attempt}.log"
        with open(logf, "w") as f:
            proc = subprocess.Popen(_cmd(command, args), stdout=f, stderr=subprocess.STDOUT, env=_env(),
                                    start_new_session=True)
        try:
            t0 = time.monotonic()
            while proc.poll() is None and not (mark in logf.read_text() and has_checkpoint()):
                assert time.monotonic() - t0 < 60, f"{mark!r} not reached in time:\n{logf.read_text()}"
                time.sleep(0.005)
            if proc.poll() is None:
                time.sleep(rng.uniform(0.0, jitter))
            if proc.poll() is None:
                _kill_all(proc)
                hit += 1
            proc.wait(timeout=TIMEOUT)
        finally:
            if proc.poll() is None:
                _kill_all(proc)
                proc.wait(timeout=TIMEOUT)
        if proc.returncode == 0:
            break                        # the run finished before the kill: nothing left to interrupt
        assert proc.returncode < 0 or RANKS > 1, logf.read_text()   # killed, not failed
        if attempt:
            assert "continuing" in logf.read_text(), logf.read_text()   # the rerun resumed before the kill
    return hit


# ---------------------------------------------------------------------------------------------------- mg
MG = ["--quick", "--steps", "30,10,10,60", "--baselines", "eo-cg", "--no-plots"]


MG_MARKS = [f"({k}/60 steps)" for k in range(6, 60, 6)]     # progress lines of the multigrid stage


def _has_files(d, suffix):
    return lambda: os.path.isdir(d) and any(n.endswith(suffix) for n in os.listdir(d))


@pytest.mark.slow
def test_mg_training_killed_at_random_moments_resumes_bitwise(tmp_path):
    """mg --json F.json: three SIGKILLs during the training loops (checkpoints every 25 steps and at each
    loop's end); the rerun ends with the same trained weights (--save), training costs, solver iterations and
    residual histories, bit for bit, as the uninterrupted run, and removes F.checkpoint/."""
    full, part = tmp_path / "full.json", tmp_path / "part.json"
    _run("mg", MG + ["--json", str(full), "--save", str(tmp_path / "full.npz")], tmp_path)
    args = MG + ["--json", str(part), "--save", str(tmp_path / "part.npz")]
    hit = _kill_repeatedly("mg", args, tmp_path, _marks(MG_MARKS, 21), _has_files(part.with_suffix(".checkpoint"),
                           ".json"), seed=21)
    assert hit == 3
    _run("mg", args, tmp_path)
    assert not part.with_suffix(".checkpoint").exists()
    with np.load(tmp_path / "full.npz") as a, np.load(tmp_path / "part.npz") as b:
        assert sorted(a.files) == sorted(b.files)
        for k in a.files:
            assert a[k].dtype == b[k].dtype and a[k].tobytes() == b[k].tobytes(), k
    a, b = json.load(open(full)), json.load(open(part))
    assert [s["stage"] for s in a["setup"]] == [s["stage"] for s in b["setup"]]
    for sa, sb in zip(a["setup"], b["setup"]):
        for k in ("cost_first", "cost_last", "steps", "null_residual_max"):
            assert sa.get(k) == sb.get(k), (sa["stage"], k)
    assert len(a["solves"]) == len(b["solves"])
    for ra, rb in zip(a["solves"], b["solves"]):
        assert (ra["method"], ra["iterations"], ra["residual"], ra["history"]) == \
            (rb["method"], rb["iterations"], rb["residual"], rb["history"])


# ---------------------------------------------------------------------------------------------------- hmc
HMC = ["--steps", "3", "--seed", "4", "--therm", "2", "--trajectories", "12", "--condensate-vectors", "1",
       "--checkpoint-every", "2", "--no-plots"]
SLHMC = ["--algorithm", "slhmc", "--steps", "3", "--seed", "7", "--therm", "2", "--train", "6", "--trajectories", "4",
         "--lr", "0.01", "--rho", "0.01,-0.02,0.01,0.0,-0.01,0.02", "--condensate-vectors", "1",
         "--checkpoint-every", "2", "--no-plots"]


def _records(out):
    with open(out / "hmc.jsonl") as f:
        return [{k: v for k, v in json.loads(line).items() if "seconds" not in k} for line in f]


@pytest.mark.slow
@pytest.mark.parametrize("algorithm", ["hmc", "slhmc"])
def test_hmc_killed_at_random_moments_resumes_bitwise(tmp_path, algorithm):
    """hmc / slhmc: three SIGKILLs at random moments after a checkpoint (every 2 trajectories; for slhmc
    during thermalisation, training and production); the rerun ends with every trajectory record (timings
    aside), the training state (weights, Adam moments) and the last field bitwise as the uninterrupted run."""
    base = HMC if algorithm == "hmc" else SLHMC
    full, part = tmp_path / "full", tmp_path / "part"
    _run("hmc", base + ["--out", str(full)], tmp_path)
    total = 14 if algorithm == "hmc" else 12
    seed = 7 if algorithm == "hmc" else 8
    hit = _kill_repeatedly("hmc", base + ["--out", str(part)], tmp_path,
                           _marks([f"traj {t} (" for t in range(2, total - 1)], seed), _has_files(part, ".h5"), seed)
    assert hit == 3
    _run("hmc", base + ["--out", str(part)], tmp_path)
    ra, rb = _records(full), _records(part)
    assert len(ra) == total
    assert rb == ra
    sa, sb = json.load(open(full / "hmc.json")), json.load(open(part / "hmc.json"))
    assert sb["checkpoint"] == sa["checkpoint"] and sb.get("training") == sa.get("training")
    last = sa["checkpoint"]["file"]
    assert _gauge_bytes(part / last) == _gauge_bytes(full / last)
    assert sorted(n for n in os.listdir(part) if n.startswith("checkpoint_")) == [last]
    assert not [n for n in os.listdir(part) if n.endswith(".gaugenet-part")], os.listdir(part)


# ---------------------------------------------------------------------------------------------------- generate
GENERATE = ["--lattice", "4.4.4.4", "--N", "3", "--beta", "6.0", "--seed", "11", "--or-steps", "1",
            "--reunitarize-every", "3", "--therm", "40", "--sep", "2", "--count", "3", "--checkpoint-every", "4",
            "--no-plots"]
# kills land at sweeps 5-29 of 46: at least 17 sweeps remain after the latest mark, so a busy host that polls
# late still finds the job running (with marks up to the last sweep, a loaded CI host once missed a kill)
GENERATE_MARKS = [f"sweep {k}/46 " for k in range(5, 30)]


@pytest.mark.slow
def test_generate_killed_at_random_moments_resumes_bitwise(tmp_path):
    """generate on RANKS ranks (tests/test_faults.py covers one rank): three SIGKILLs after a checkpoint,
    the final ensemble and plaquette log bitwise as the uninterrupted run's."""
    full, part = tmp_path / "full", tmp_path / "part"
    _run("generate", GENERATE + ["--out", str(full)], tmp_path)

    hit = _kill_repeatedly("generate", GENERATE + ["--out", str(part)], tmp_path,
                           _marks(GENERATE_MARKS, 5), _has_files(part, "checkpoint.h5"), 5)
    assert hit == 3
    _run("generate", GENERATE + ["--out", str(part)], tmp_path)
    _assert_same_chain(str(part), str(full))
