"""Runs broken on purpose: `python -m gaugenet generate` stopped by SIGTERM (on every rank, or on one
rank only), killed by SIGKILL at random moments and in the middle of a file write, a rank that raises
alone, damaged checkpoints. Each interrupted chain, continued by rerunning the same command, must end
bitwise equal to the uninterrupted run (gauge data, checksums, plaquette log); a failure must end every
rank with a clear message and a nonzero status within a timeout, never a hang."""
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from conftest import GAUGENET_PATH, NRANKS

pytestmark = pytest.mark.skipif(NRANKS > 1, reason="launches its own processes")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# 4^4, 16 + 3 x 2 sweeps of about 0.03-0.1 s: a few seconds per run
CHAIN = ["--lattice", "4.4.4.4", "--N", "3", "--beta", "6.0", "--seed", "11", "--or-steps", "1",
         "--reunitarize-every", "3", "--therm", "16", "--sep", "2", "--count", "3", "--checkpoint-every", "4",
         "--no-plots"]
TIMEOUT = 120


def _mpiexec():
    return shutil.which("mpiexec", path=os.path.dirname(sys.executable)) or shutil.which("mpiexec")


def _cmd(args, n):
    cmd = [sys.executable, "-m", "gaugenet", "generate"] + args
    if n > 1:
        exe = _mpiexec()
        if exe is None:
            pytest.skip("no mpiexec")
        cmd = [exe, "-n", str(n)] + cmd
    return cmd


def _env(**extra):
    env = dict(os.environ, OMP_NUM_THREADS="1", GAUGENET_PROGRESS="log")
    env["PYTHONPATH"] = GAUGENET_PATH + os.pathsep + env.get("PYTHONPATH", "")
    env.pop("GAUGENET_FAULT", None)
    env.update(extra)
    return env


def _run(args, n=1, timeout=TIMEOUT, **env):
    return subprocess.run(_cmd(args, n), capture_output=True, text=True, timeout=timeout, env=_env(**env))


def _start(args, n=1, **env):
    """A run started in the background (stdout read by the test)."""
    return subprocess.Popen(_cmd(args, n), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=_env(**env), start_new_session=True)


def _wait_for(proc, text, deadline=60.0):
    """Read the run's stdout until a line contains `text`; returns what was read."""
    seen = []
    t0 = time.monotonic()
    for line in proc.stdout:
        seen.append(line)
        if text in line:
            return "".join(seen)
        assert time.monotonic() - t0 < deadline, f"{text!r} not seen in time:\n{''.join(seen)}"
    raise AssertionError(f"the run ended before {text!r}:\n{''.join(seen)}")


def _finish(proc, head="", timeout=TIMEOUT):
    out, err = proc.communicate(timeout=timeout)
    return head + out, err


def _descendants(pid):
    """Every process below `pid` (mpiexec's proxies put each rank in a session of its own, so process
    groups do not reach them)."""
    children = {}
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open(f"/proc/{p}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(p))
    out, todo = [], [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            out.append(c)
            todo.append(c)
    return out


def _kill_all(proc):
    """SIGKILL to the run and every process below it at once (a lost node)."""
    for pid in [proc.pid] + _descendants(proc.pid):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _rank_pids(proc):
    """{rank: pid} of the python processes under an mpiexec (PMI_RANK in their environment)."""
    out = {}
    for pid in _descendants(proc.pid):
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                env = dict(kv.split(b"=", 1) for kv in f.read().split(b"\0") if b"=" in kv)
        except OSError:
            continue
        if b"PMI_RANK" in env:
            out[int(env[b"PMI_RANK"])] = pid
    return out


def _gauge_bytes(path):
    import h5py
    with h5py.File(path, "r") as f:
        d = f["gauge"]
        return d[...].tobytes(), int(d.attrs["checksum_suma"]), int(d.attrs["checksum_sumb"])


def _assert_same_chain(part, full):
    """Bitwise: plaquette log, configuration list and every configuration's links and checksums."""
    with open(os.path.join(full, "plaquette.log"), "rb") as f:
        log_full = f.read()
    with open(os.path.join(part, "plaquette.log"), "rb") as f:
        log_part = f.read()
    assert log_part == log_full, "plaquette logs differ"
    sf = json.load(open(os.path.join(full, "generate.json")))
    sp = json.load(open(os.path.join(part, "generate.json")))
    assert sp["configs"] == sf["configs"] and sp["sweeps_done"] == sf["sweeps_done"]
    assert len(sf["configs"]) == 3
    for c in sf["configs"]:
        assert _gauge_bytes(os.path.join(part, c["file"])) == _gauge_bytes(os.path.join(full, c["file"])), c["file"]
    assert not os.path.exists(os.path.join(part, "checkpoint.h5")), "checkpoint left after the last configuration"
    assert not [n for n in os.listdir(part) if n.endswith(".gaugenet-part")], os.listdir(part)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """Uninterrupted runs, {ranks: directory}, made on first use."""
    made = {}

    def get(n):
        if n not in made:
            out = str(tmp_path_factory.mktemp(f"full{n}"))
            r = _run(CHAIN + ["--out", out], n=n)
            assert r.returncode == 0, r.stdout + r.stderr
            made[n] = out
        return made[n]
    return get


@pytest.mark.parametrize("n", [1, 2])
def test_sigterm_checkpoints_and_resumes_bitwise(tmp_path, reference, n):
    """SIGTERM mid-run (with 2 ranks: to rank 1 alone, the way a signal may reach one task): every rank
    stops at the same sweep, the checkpoint is written, the exit status is 75 with the resume line;
    rerunning finishes the chain bitwise as the uninterrupted run."""
    out = str(tmp_path / "part")
    proc = _start(CHAIN + ["--out", out], n=n)
    try:
        head = _wait_for(proc, "sweep 5/22 ")
        if n == 1:
            proc.send_signal(signal.SIGTERM)
        else:
            pids = _rank_pids(proc)
            assert sorted(pids) == [0, 1], pids
            os.kill(pids[1], signal.SIGTERM)
        stdout, stderr = _finish(proc, head)
    finally:
        if proc.poll() is None:
            _kill_all(proc)
    assert proc.returncode == 75, stdout + stderr
    assert "stopped by SIGTERM" in stdout and "rerun the same command" in stdout, stdout
    if n > 1:
        assert "(rank 1)" in stdout, stdout        # the signal reached rank 1 only; rank 0 followed
    state = json.load(open(os.path.join(out, "generate.json")))
    stop = state["sweeps_done"]
    assert 5 <= stop < 22, state
    at_save = stop in (18, 20)                      # a configuration is then the restart point
    assert at_save or state["checkpoint"]["sweep"] == stop, state
    assert f"continues from sweep {stop + 1}" in stdout
    r = _run(CHAIN + ["--out", out], n=n)
    assert r.returncode == 0, r.stdout + r.stderr
    source = f"cfg_{stop:06d}.h5" if at_save else "checkpoint.h5"
    assert f"from {source} ({stop} sweeps done" in r.stdout, r.stdout
    assert f"sweep {stop}/22 " not in r.stdout and f"sweep {stop + 1}/22 " in r.stdout
    _assert_same_chain(out, reference(n))


def test_sigkill_at_random_moments_then_resume_bitwise(tmp_path, reference):
    """SIGKILL to the whole process group (a lost node) three times at random moments of one chain, each
    time after some progress; the reruns continue and the final ensemble is bitwise the uninterrupted one."""
    out = str(tmp_path / "part")
    rng = random.Random(2024)
    kills = 0
    for attempt in range(3):
        proc = _start(CHAIN + ["--out", out])
        try:
            try:
                _wait_for(proc, "sweep ")       # started sweeping (after the imports and the resume)
            except AssertionError:
                if proc.wait(timeout=TIMEOUT) == 0:
                    break                       # an earlier attempt's kill came late: the chain is complete
                raise
            time.sleep(rng.uniform(0.0, 0.1))
            if proc.poll() is None:
                _kill_all(proc)
                kills += 1
            proc.communicate(timeout=TIMEOUT)
        finally:
            if proc.poll() is None:
                _kill_all(proc)
    assert kills >= 1
    r = _run(CHAIN + ["--out", out])
    assert r.returncode == 0, r.stdout + r.stderr
    _assert_same_chain(out, reference(1))


@pytest.mark.parametrize("n", [1, 2])
def test_sigkill_inside_a_file_write_keeps_the_last_checkpoint(tmp_path, reference, n):
    """A kill after every rank wrote its part of the second checkpoint but before the rename (on rank 0,
    with 2 ranks: the job is lost): the first checkpoint stays valid, the rerun continues from it."""
    out = str(tmp_path / "part")
    r = _run(CHAIN + ["--out", out], n=n, GAUGENET_FAULT="io.atomic_write:rank=0:at=2:action=kill")
    assert r.returncode != 0, r.stdout + r.stderr
    state = json.load(open(os.path.join(out, "generate.json")))
    assert state["checkpoint"]["sweep"] == 4 and state["sweeps_done"] == 4, state
    assert os.path.exists(os.path.join(out, ".checkpoint.h5.gaugenet-part"))   # the interrupted write
    r = _run(CHAIN + ["--out", out], n=n)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "from checkpoint.h5 (4 sweeps done" in r.stdout, r.stdout
    _assert_same_chain(out, reference(n))


@pytest.mark.parametrize("n", [1, 2])
def test_failing_rank_ends_the_job(tmp_path, n):
    """An exception on the last rank alone, while the others go on into the plaquette's reduction: the
    job ends with the message and a nonzero status well within the timeout (MPI_Abort), no hang."""
    out = str(tmp_path / "fail")
    t0 = time.monotonic()
    r = _run(CHAIN + ["--out", out], n=n, timeout=30,
             GAUGENET_FAULT=f"generate.sweep:rank={n - 1}:at=3:action=raise")
    assert r.returncode != 0
    assert time.monotonic() - t0 < 30
    assert f"gaugenet error [rank {n - 1}]: InjectedFault: fault injected at generate.sweep step 3" in r.stderr, \
        r.stdout + r.stderr
    # the state of the run before the failure is intact and resumable
    state = json.load(open(os.path.join(out, "generate.json")))
    assert state["sweeps_done"] == 0 and state["configs"] == []


def _make_checkpoint(tmp_path, name):
    """A run of --count 0 ends with a checkpoint (no configuration to hold its state)."""
    out = str(tmp_path / name)
    args = CHAIN[:CHAIN.index("--therm")] + ["--therm", "4", "--sep", "2", "--count", "0", "--no-plots"]
    r = _run(args + ["--out", out])
    assert r.returncode == 0, r.stdout + r.stderr
    state = json.load(open(os.path.join(out, "generate.json")))
    assert state["checkpoint"]["sweep"] == 4 and os.path.exists(os.path.join(out, "checkpoint.h5"))
    return out, args


@pytest.mark.parametrize("damage", ["flipped byte", "truncated", "wrong chain"])
def test_damaged_checkpoint_is_refused(tmp_path, damage):
    """A checkpoint whose data no longer match their checksum, that is cut short, or that is a valid file of
    another chain: refused (on every rank: 2 ranks for the first) with a message naming the file and what to do."""
    out, args = _make_checkpoint(tmp_path, "ck")
    path = os.path.join(out, "checkpoint.h5")
    if damage == "flipped byte":
        import h5py
        with h5py.File(path, "r") as f:
            offset = f["gauge"].id.get_offset()
        with open(path, "r+b") as f:
            f.seek(offset + 1000)
            b = f.read(1)
            f.seek(offset + 1000)
            f.write(bytes([b[0] ^ 0x10]))
    elif damage == "truncated":
        size = os.path.getsize(path)
        with open(path, "r+b") as f:
            f.truncate(size // 2)
    else:
        with open(os.path.join(out, "generate.json")) as f:
            s = json.load(f)
        s["checkpoint"]["plaquette"] += 1e-6          # a valid file, but not the state the chain recorded
        with open(os.path.join(out, "generate.json"), "w") as f:
            json.dump(s, f)
    args = args[:args.index("--count")] + ["--count", "1"] + args[args.index("--count") + 2:]
    n = 2 if damage == "flipped byte" and _mpiexec() else 1
    r = _run(args + ["--out", out], n=n, timeout=60)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "checkpoint.h5" in r.stderr and "delete it to continue" in r.stderr, r.stderr
    if n > 1:
        assert "[rank 0]" in r.stderr and "[rank 1]" in r.stderr, r.stderr
    want = {"flipped byte": "checksum check failed", "truncated": "check failed",
            "wrong chain": "differs from"}[damage]
    assert want in r.stderr, r.stderr
    # deleting the damaged checkpoint, as the message says, restarts the chain from the beginning
    os.remove(path)
    r = _run(args + ["--out", out])
    assert r.returncode == 0 and "missing: continuing from the last configuration" in r.stdout, r.stdout + r.stderr
    assert json.load(open(os.path.join(out, "generate.json")))["configs"][0]["sweep"] == 6


def test_unwritable_output_directory(tmp_path):
    """An output directory that cannot be written: a clear error naming it, exit status 1, on every rank."""
    if os.geteuid() == 0:
        # root ignores permissions: make the directory's path unusable instead (a file in its place)
        out = tmp_path / "blocked"
        out.write_text("a file, not a directory\n")
    else:
        out = tmp_path / "ro"
        out.mkdir()
        out.chmod(0o500)
    r = _run(CHAIN + ["--out", str(out)], n=2 if _mpiexec() else 1, timeout=60)
    assert r.returncode == 1, r.stdout + r.stderr
    assert str(out) in r.stderr, r.stderr


def test_graceful_stop_collective_without_mpi():
    """GracefulStop on one process: a signal sets the flag, requested() says so, the handler is restored."""
    from gaugenet.util.signals import EXIT_INTERRUPTED, GracefulStop
    before = signal.getsignal(signal.SIGUSR1)
    with GracefulStop() as stop:
        assert not stop.requested()
        os.kill(os.getpid(), signal.SIGUSR1)
        for _ in range(100):                      # the handler runs at the next bytecode boundary
            if stop.received:
                break
            time.sleep(0.001)
        assert stop.requested() and stop.reason == "SIGUSR1"
        assert str(EXIT_INTERRUPTED) in stop.message("x", "y")
    assert signal.getsignal(signal.SIGUSR1) == before


def test_fault_spec_errors():
    from gaugenet.util.signals import InjectedFault, inject
    os.environ["GAUGENET_FAULT"] = "p:rank=0:at=2"
    try:
        inject("p", 1, 0)                          # another step: nothing
        inject("q", 2, 0)                          # another point: nothing
        inject("p", 2, 1)                          # another rank: nothing
        with pytest.raises(InjectedFault, match="fault injected at p step 2 on rank 0"):
            inject("p", 2, 0)
        os.environ["GAUGENET_FAULT"] = "p:when=2"
        with pytest.raises(ValueError, match="unknown item 'when=2'"):
            inject("p", 2, 0)
    finally:
        os.environ.pop("GAUGENET_FAULT", None)


def test_atomic_open_keeps_the_old_file(tmp_path):
    from gaugenet.util.atomic import atomic_open, atomic_write_json, temp_name
    path = tmp_path / "state.json"
    atomic_write_json(path, {"a": 1})
    with pytest.raises(RuntimeError):
        with atomic_open(path, "w") as f:
            f.write('{"a": 2, "half')
            raise RuntimeError("killed mid-write")
    assert json.loads(path.read_text()) == {"a": 1}
    assert not os.path.exists(temp_name(path))
    with pytest.raises(ValueError, match="mode"):
        with atomic_open(path, "a"):
            pass
    assert np.array_equal(json.loads(path.read_text())["a"], 1)


def _mg(args, **env):
    cmd = [sys.executable, "-m", "gaugenet", "mg", "--quick"] + args
    return subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT, env=_env(**env))


def test_mg_training_stopped_and_resumed_bitwise(tmp_path):
    """mg --json F.json: SIGTERM during the multigrid training stage (after the high-mode stage finished)
    checkpoints the training loops in F.checkpoint/ and exits 75; the rerun restores the finished loop and
    the interrupted one and ends with the same training costs, solver iterations and residual histories,
    bitwise, as the uninterrupted run; the checkpoints are removed at the end."""
    full, part = str(tmp_path / "full.json"), str(tmp_path / "part.json")
    r = _mg(["--json", full])
    assert r.returncode == 0, r.stdout + r.stderr
    r = _mg(["--json", part], GAUGENET_FAULT="train.multigrid:at=2:action=term")
    assert r.returncode == 75, r.stdout + r.stderr
    assert "training multigrid.1 stopped by SIGTERM after step 2 of 3" in r.stdout, r.stdout
    assert "rerun the same command" in r.stdout
    ck = str(tmp_path / "part.checkpoint")
    assert sorted(os.listdir(ck)) == ["train_high-mode.1.json", "train_high-mode.1.step000020.rank0.npz",
                                      "train_multigrid.1.json", "train_multigrid.1.step000002.rank0.npz"]
    r = _mg(["--json", part])
    assert r.returncode == 0, r.stdout + r.stderr
    assert "training high-mode.1: continuing from the checkpoint of step 20/20" in r.stdout
    assert "training multigrid.1: continuing from the checkpoint of step 2/3" in r.stdout
    assert not os.path.exists(ck)
    a, b = json.load(open(full)), json.load(open(part))
    for sa, sb in zip(a["setup"], b["setup"]):
        assert sa["stage"] == sb["stage"]
        for k in ("cost_first", "cost_last", "steps", "null_residual_max"):
            assert sa.get(k) == sb.get(k), (sa["stage"], k)
    for ra, rb in zip(a["solves"], b["solves"]):
        assert (ra["method"], ra["iterations"], ra["residual"], ra["history"]) == \
            (rb["method"], rb["iterations"], rb["residual"], rb["history"])


# ---------------------------------------------------------------------------------------------------------
# A rank that fails alone, for every command: GAUGENET_FAULT=collective:rank=R:at=K makes the last rank raise
# at its K-th collective call of the lattice layer (halo exchange, reduction, collective check, gather; the
# hook util.signals.arm_collective_fault, armed by cli.main), in the middle of the command's work, while the
# other ranks go on into that collective. K is about the middle of each run (of 176 to 7600 such calls on 2
# ranks). The job must end within 30 s with the failing rank's message and a nonzero status.
FAILING = {
    "selfcheck": (["--lattice", "4.4.4.8"], 100),
    "generate": (["--lattice", "4.4.4.8", "--therm", "4", "--sep", "2", "--count", "1", "--no-plots", "--out", "{tmp}"],
                 500),
    "solve": (["--lattice", "4.4.4.8", "--sweeps", "2", "--mass", "-0.3"], 700),
    "mg": (["--quick", "--baselines", "eo-cg", "--no-plots"], 3000),
    "hmc": (["--steps", "3", "--therm", "1", "--trajectories", "2", "--condensate-vectors", "1", "--no-plots",
             "--out", "{tmp}"], 3000),
    "bench": (["--volumes", "4", "--precisions", "double", "--threads", "1", "--nvec", "1", "--kernels", "wilson_hop",
               "--no-numpy", "--no-end-to-end", "--min-time", "0.01"], 3),
    "lcnn": (["--N", "2", "--betas", "6.0", "--train-volume", "4", "--train-configs", "2", "--test-volumes", "4",
              "--test-configs", "1", "--sweeps", "2", "--sep", "1", "--steps", "5"], 1200),
    "flow": (["--L", "4"], 1),
}


@pytest.mark.parametrize("n", [2, pytest.param(4, marks=pytest.mark.slow)])
@pytest.mark.parametrize("command", sorted(FAILING))
def test_failing_rank_ends_every_command(tmp_path, command, n):
    """One rank raises in the middle of a collective phase: the whole job ends with that rank's message and
    a nonzero status within 30 s (MPI_Abort), never a hang. `flow` runs on one rank only: on n ranks every
    rank refuses with the same message (a collective error) and the job ends just as quickly."""
    if _mpiexec() is None:
        pytest.skip("no mpiexec")
    args, at = FAILING[command]
    args = [a.replace("{tmp}", str(tmp_path / "out")) for a in args]
    cmd = [_mpiexec(), "-n", str(n), sys.executable, "-m", "gaugenet", command] + args
    t0 = time.monotonic()
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=60, cwd=str(tmp_path),
                           env=_env(GAUGENET_FAULT=f"collective:rank={n - 1}:at={at}"))
    except subprocess.TimeoutExpired as exc:
        raise AssertionError(f"{command} on {n} ranks hung after a failing rank (killed after 60 s)") from exc
    took = time.monotonic() - t0
    assert r.returncode != 0, r.stdout + r.stderr
    assert took < 30, f"{command} on {n} ranks took {took:.1f} s to end"
    if command == "flow":
        for rank in range(n):
            assert f"gaugenet error [rank {rank}]: FlowError: `flow` runs on one MPI rank" in r.stderr, r.stderr
    else:
        want = f"gaugenet error [rank {n - 1}]: InjectedFault: fault injected at collective step {at} on rank {n - 1}"
        assert want in r.stderr, r.stdout + r.stderr


def test_collective_fault_hook_counts_lattice_collectives(monkeypatch):
    """The hook itself (one process): the at-th collective call of the lattice layer raises on the named rank,
    earlier calls and other ranks' specs pass; arming twice does not count twice."""
    import gaugenet as gn
    from gaugenet.lattice.lattice import Lattice
    from gaugenet.util.signals import InjectedFault, arm_collective_fault
    originals = {name: getattr(Lattice, name) for name in ("allreduce", "check", "gather_global", "scatter_from_root")}
    from gaugenet.lattice.halo import Halo
    start = Halo.start
    try:
        monkeypatch.setenv("GAUGENET_FAULT", "generate.sweep:at=1")
        assert arm_collective_fault() is False and Lattice.allreduce is originals["allreduce"]
        monkeypatch.setenv("GAUGENET_FAULT", "collective:rank=1:at=2")
        assert arm_collective_fault() is True
        lat = gn.Lattice((4, 4, 4, 4))
        for _ in range(5):                                # rank 1 is named: rank 0 passes every call
            lat.allreduce(1.0)
        monkeypatch.setenv("GAUGENET_FAULT", "collective:rank=0:at=3")
        assert arm_collective_fault() is True             # re-armed: a new count, wrappers not stacked
        assert lat.allreduce(2.0) == 2.0
        lat.check(True, "fine")
        with pytest.raises(InjectedFault, match="fault injected at collective step 3 on rank 0"):
            lat.allreduce(3.0)
    finally:
        for name, fn in originals.items():
            setattr(Lattice, name, fn)
        Halo.start = start
