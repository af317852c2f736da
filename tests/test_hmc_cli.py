"""`python -m gaugenet hmc`: a resumed run (after an ordinary stop, after a crash between checkpoints, or
extended with more trajectories) reproduces the uninterrupted chain, including the SLHMC training state;
the same chain on 2 ranks (mpiexec); clear errors for bad arguments and changed parameters."""
import json
import os
import shutil
import subprocess
import sys

import pytest

from conftest import GAUGENET_PATH, NRANKS

from gaugenet.cli.hmc import read_log, read_records
from gaugenet.cli.main import main
from gaugenet.hmc import HMC

pytestmark = pytest.mark.skipif(NRANKS > 1, reason="runs the command in-process and launches its own mpiexec")

BASE = ["hmc", "--algorithm", "slhmc", "--steps", "3", "--seed", "7", "--therm", "2", "--train", "2",
        "--lr", "0.01", "--rho", "0.01,-0.02,0.01,0.0,-0.01,0.02"]


def _cmd(out, *extra):
    return BASE + ["--out", str(out)] + list(extra)


def _chain(out):
    return [(r["traj"], r["phase"], r["accepted"], r["dH"], r["plaquette"]) for r in read_log(os.path.join(out, "hmc.log"))]


def _same(a, b):
    assert [x[:3] for x in a] == [x[:3] for x in b]
    for x, y in zip(a, b):
        assert abs(x[3] - y[3]) < 1e-9 and abs(x[4] - y[4]) < 1e-12, (x, y)


def test_resume_and_extend_give_the_same_chain(tmp_path):
    full = tmp_path / "full"
    assert main(_cmd(full, "--trajectories", "4")) == 0
    ref = _chain(full)
    assert [r[1] for r in ref] == ["therm"] * 2 + ["train"] * 2 + ["prod"] * 4
    st = json.load(open(full / "hmc.json"))
    assert st["checkpoint"]["done"] == 8 and os.listdir(full).count("checkpoint_000008.h5") == 1
    assert len([n for n in os.listdir(full) if n.startswith("checkpoint_")]) == 1
    assert st["summary"]["prod"]["n_trajectories"] == 4
    # stopped after 1 production trajectory, then extended to 4
    part = tmp_path / "part"
    assert main(_cmd(part, "--trajectories", "1")) == 0
    assert len(_chain(part)) == 5
    assert main(_cmd(part, "--trajectories", "4")) == 0
    _same(_chain(part), ref)
    assert json.load(open(part / "hmc.json"))["training"] == st["training"]


def test_crash_between_checkpoints(tmp_path, monkeypatch):
    full = tmp_path / "full"
    assert main(_cmd(full, "--trajectories", "3")) == 0
    ref = _chain(full)
    crash = tmp_path / "crash"
    orig = HMC.trajectory

    def boom(self, U, traj):
        if traj == 5:
            raise RuntimeError("simulated crash")
        return orig(self, U, traj)
    monkeypatch.setattr(HMC, "trajectory", boom)
    assert main(_cmd(crash, "--trajectories", "3", "--checkpoint-every", "3")) == 1
    assert len(_chain(crash)) == 5                               # logged up to traj 4, checkpoint after traj 2
    assert json.load(open(crash / "hmc.json"))["checkpoint"]["done"] == 3
    monkeypatch.setattr(HMC, "trajectory", orig)
    assert main(_cmd(crash, "--trajectories", "3", "--checkpoint-every", "3")) == 0
    _same(_chain(crash), ref)


def test_two_ranks_same_chain(tmp_path):
    exe = shutil.which("mpiexec", path=os.path.dirname(sys.executable)) or shutil.which("mpiexec")
    if exe is None:
        pytest.skip("no mpiexec")
    one = tmp_path / "one"
    two = tmp_path / "two"
    args = ["hmc", "--steps", "3", "--seed", "3", "--therm", "1", "--trajectories", "2"]
    assert main(args + ["--out", str(one)]) == 0
    env = dict(os.environ, OMP_NUM_THREADS="1")
    p = subprocess.run([exe, "-n", "2", sys.executable, "-m", "gaugenet"] + args + ["--out", str(two)],
                       capture_output=True, text=True, timeout=120, env=env)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "2 ranks" in p.stdout
    _same(_chain(two), _chain(one))
    # the JSON-lines records (Polyakov loops, condensate) agree too
    r1, r2 = (read_records(os.path.join(d, "hmc.jsonl")) for d in (one, two))
    assert len(r1) == len(r2) == 3
    for a, b in zip(r1, r2):
        for k in ("plaquette", "polyakov_loop_x", "polyakov_loop_t", "chiral_condensate"):
            assert abs(a[k] - b[k]) < 1e-10, (k, a[k], b[k])


@pytest.mark.parametrize("extra,msg", [
    (["--steps", "0"], "--steps must be >= 1"),
    (["--mass", "-1"], "--mass must be positive"),
    (["--rho", "1,2"], "--rho must be 6"),
    (["--checkpoint-every", "0"], "--checkpoint-every"),
])
def test_bad_arguments(tmp_path, capsys, extra, msg):
    assert main(_cmd(tmp_path / "x", *extra)) == 1
    assert msg in capsys.readouterr().err


def test_hmc_with_training_and_changed_parameters(tmp_path, capsys):
    assert main(["hmc", "--train", "3", "--out", str(tmp_path / "a")]) == 1
    assert "--train needs --algorithm slhmc" in capsys.readouterr().err
    out = tmp_path / "b"
    assert main(_cmd(out, "--trajectories", "0", "--train", "0", "--therm", "1")) == 0
    assert main(_cmd(out, "--trajectories", "0", "--train", "0", "--therm", "1", "--seed", "8")) == 1
    assert "parameters differ" in capsys.readouterr().err


def _subprocess_env():
    env = dict(os.environ, OMP_NUM_THREADS="1", GAUGENET_PROGRESS="log")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = GAUGENET_PATH + os.pathsep + env.get("PYTHONPATH", "")
    env.pop("GAUGENET_FAULT", None)
    return env


def _timeless(out):
    return [{k: v for k, v in r.items() if "seconds" not in k} for r in read_records(os.path.join(out, "hmc.jsonl"))]


@pytest.mark.slow
def test_sigterm_checkpoints_and_resumes_bitwise(tmp_path):
    """SIGTERM in the middle of an SLHMC run (during training or production): the run finishes its trajectory,
    writes a checkpoint (with the training state), exits 75 with the resume line; rerunning the same command
    ends with the records of an uninterrupted run, bit for bit (timings aside), and the plot."""
    import signal
    import time
    args = [sys.executable, "-m", "gaugenet"] + BASE + ["--trajectories", "4", "--checkpoint-every", "100"]
    env = _subprocess_env()
    full, part = tmp_path / "full", tmp_path / "part"
    r = subprocess.run(args + ["--out", str(full), "--no-plots"], capture_output=True, text=True, timeout=120, env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    proc = subprocess.Popen(args + ["--out", str(part)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=env, start_new_session=True)
    seen = []
    try:
        t0 = time.monotonic()
        for line in proc.stdout:
            seen.append(line)
            if "traj 3 (" in line:
                proc.send_signal(signal.SIGTERM)
                break
            assert time.monotonic() - t0 < 60, "".join(seen)
        rest, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    stdout = "".join(seen) + rest
    assert proc.returncode == 75, stdout
    assert "stopped by SIGTERM" in stdout and "rerun the same command" in stdout, stdout
    state = json.load(open(part / "hmc.json"))
    stop = state["checkpoint"]["done"]
    assert 4 <= stop < 8 and len(read_records(os.path.join(part, "hmc.jsonl"))) == stop, stdout
    assert "training" in state and "summary" not in state
    assert not (part / "hmc.png").exists()
    r = subprocess.run(args + ["--out", str(part)], capture_output=True, text=True, timeout=120, env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"({stop} trajectories done" in r.stdout + r.stderr
    assert _timeless(part) == _timeless(full)
    assert _chain(part) == _chain(full)
    assert json.load(open(part / "hmc.json"))["training"] == json.load(open(full / "hmc.json"))["training"]
    assert (part / "hmc.png").exists() and not (full / "hmc.png").exists()


@pytest.mark.slow
def test_sigterm_on_one_rank_of_two(tmp_path):
    """SIGTERM to rank 1 alone (GAUGENET_FAULT ... action=term, as a signal sent to one task): both ranks stop
    at the same trajectory boundary, exit 75, and the rerun ends with the records of an uninterrupted 2-rank
    run, bit for bit."""
    exe = shutil.which("mpiexec", path=os.path.dirname(sys.executable)) or shutil.which("mpiexec")
    if exe is None:
        pytest.skip("no mpiexec")
    args = [exe, "-n", "2", sys.executable, "-m", "gaugenet", "hmc", "--steps", "3", "--seed", "4", "--therm", "1",
            "--trajectories", "4", "--checkpoint-every", "100", "--condensate-vectors", "1", "--no-plots"]
    env = _subprocess_env()
    full, part = tmp_path / "full", tmp_path / "part"
    r = subprocess.run(args + ["--out", str(full)], capture_output=True, text=True, timeout=120, env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    r = subprocess.run(args + ["--out", str(part)], capture_output=True, text=True, timeout=120,
                       env=dict(env, GAUGENET_FAULT="hmc.trajectory:rank=1:at=2:action=term"))
    assert r.returncode == 75, r.stdout + r.stderr
    assert "stopped by SIGTERM (rank 1)" in r.stdout + r.stderr, r.stdout + r.stderr
    assert json.load(open(part / "hmc.json"))["checkpoint"]["done"] == 2
    r = subprocess.run(args + ["--out", str(part)], capture_output=True, text=True, timeout=120, env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert _timeless(part) == _timeless(full)
