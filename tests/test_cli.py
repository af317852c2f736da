"""The command line under mpiexec: the main job runs, bad input fails on every rank with a clear message."""
import os
import shutil
import subprocess
import sys

import pytest

from conftest import NRANKS

pytestmark = pytest.mark.skipif(NRANKS > 1, reason="launches its own mpiexec")


def _mpiexec():
    exe = shutil.which("mpiexec", path=os.path.dirname(sys.executable)) or shutil.which("mpiexec")
    if exe is None:
        pytest.skip("no mpiexec")
    return exe


def _run(args, n=2, timeout=240):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.run([_mpiexec(), "-n", str(n), sys.executable, "-m", "gaugenet"] + args,
                          capture_output=True, text=True, timeout=timeout, env=env)


def test_selfcheck_two_ranks():
    r = _run(["selfcheck", "--lattice", "4.4.4.8"])
    assert r.returncode == 0, r.stdout + r.stderr
    assert "self-check passed on 2 ranks" in r.stdout
    assert r.stdout.count("self-check passed") == 1, "logging must come from rank 0 only"
    assert "0 halo messages sent" in r.stdout


def test_bad_decomposition_fails_on_every_rank():
    r = _run(["selfcheck", "--lattice", "4.4.4.6", "--mpi", "1.1.1.2"])
    assert r.returncode != 0
    assert "local extent 3 in direction t" in r.stderr
    assert "[rank 0]" in r.stderr and "[rank 1]" in r.stderr, r.stderr


def test_wrong_rank_count_fails_clearly():
    r = _run(["selfcheck", "--lattice", "4.4.4.8", "--mpi", "1.1.2.2"])
    assert r.returncode != 0
    assert "has 4 ranks but the job runs on 2" in r.stderr


def test_single_process_without_mpiexec():
    env = dict(os.environ, OMP_NUM_THREADS="1")
    r = subprocess.run([sys.executable, "-m", "gaugenet", "selfcheck", "--lattice", "4.4.4.4", "--N", "2"],
                       capture_output=True, text=True, timeout=240, env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "self-check passed on 1 ranks" in r.stdout


@pytest.mark.parametrize("command", [None, "selfcheck", "generate", "bench", "solve", "mg", "hmc"])
def test_help_of_every_command(command, capsys):
    """`python -m gaugenet [command] --help` prints the usage and exits 0 (argparse formats every help string with
    %-substitution: a literal percent sign must be written %%)."""
    from gaugenet.cli.main import main
    with pytest.raises(SystemExit) as e:
        main(([command] if command else []) + ["--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert "usage: " in out and (command is None or command in out.split("\n")[0])


def test_main_job_path_exits_zero_when_only_the_reference_fails(tmp_path):
    """The main job's command path (mg on 2 ranks, rounds, JSON) on a small lattice, with the unpreconditioned
    reference capped so that it cannot converge: a measured result (lower-bound gains), exit status 0, and the
    one-line result last."""
    out = tmp_path / "mg.json"
    r = _run(["mg", "--quick", "--baselines", "gmres,eo-cg", "--reference-maxiter", "3", "--repeat", "2",
              "--json", str(out)])
    assert r.returncode == 0, r.stdout + r.stderr
    import json
    rep = json.loads(out.read_text())
    s = {x["method"]: x for x in rep["solves"]}
    ref, mg = s["fgmres_unpreconditioned"], s["fgmres_multigrid"]
    assert not ref["converged"] and ref["iterations"] == 3 and ref["maxiter"] == 3 and ref["residual"] > 1e-8
    assert ref["rounds"] == 1 and "seconds_all" not in ref       # the reference is solved once
    assert mg["rounds"] == 2 and mg["converged"] and mg["gain_is_lower_bound"]
    assert s["eo-cg"]["converged"] and rep["best_baseline"] == "eo-cg"
    lines = [ln for ln in r.stdout.splitlines() if ln.strip()]
    assert "result: FGMRES + learned multigrid" in lines[-1] and "gain >= " in lines[-1], lines[-3:]
    assert "than eo-cg" in lines[-1]
    assert "fgmres_unpreconditioned did not reach the tolerance 1e-08 within its cap of 3" in r.stdout
    assert r.stdout.count("result:") == 1, "rank 0 only"


def test_main_job_path_fails_when_the_learned_solve_fails(tmp_path):
    """The answer itself not converging is an error on every rank with a nonzero exit."""
    r = _run(["mg", "--quick", "--baselines", "eo-cg", "--maxiter", "2", "--json", str(tmp_path / "mg.json")])
    assert r.returncode != 0
    assert "the learned multigrid solve did not converge" in r.stderr
    assert "[rank 0]" in r.stderr and "[rank 1]" in r.stderr, r.stderr
