"""`python -m gaugenet solve`: baseline solves on a heat-bath configuration, checked residuals."""
import json
import os
import subprocess
import sys

import pytest

from conftest import NRANKS

pytestmark = pytest.mark.skipif(NRANKS > 1, reason="launches its own process")


def test_solve_command_reports_all_methods(tmp_path):
    out = tmp_path / "solve.json"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    r = subprocess.run([sys.executable, "-m", "gaugenet", "solve", "--lattice", "8.4.4.4", "--sweeps", "5",
                        "--mass", "-0.3", "--methods", "gmres,bicgstab,packed-bicgstab,eo-bicgstab,eo-cg", "--json",
                        str(out)],
                       capture_output=True, text=True, timeout=300, env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    recs = json.loads(out.read_text())["results"]
    assert [x["method"] for x in recs] == ["gmres", "bicgstab", "packed-bicgstab", "eo-bicgstab", "eo-cg"]
    for x in recs:
        assert x["converged"] and x["residual"] < 1e-8 and x["iterations"] > 0
    # the even-odd solves need fewer applications of D than the unpreconditioned ones
    by = {x["method"]: x for x in recs}
    assert by["eo-bicgstab"]["operator_applications"] < by["bicgstab"]["operator_applications"]


def test_solve_not_converged_exits_nonzero():
    env = dict(os.environ, OMP_NUM_THREADS="1")
    r = subprocess.run([sys.executable, "-m", "gaugenet", "solve", "--lattice", "4.4.4.4", "--sweeps", "2",
                        "--methods", "gmres", "--maxiter", "3"], capture_output=True, text=True, timeout=300, env=env)
    assert r.returncode != 0
    assert "NotConvergedError" in r.stderr and "NOT CONVERGED" in r.stdout
