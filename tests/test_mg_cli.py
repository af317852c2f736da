"""`python -m gaugenet mg`: the seed-000 experiment as a command (quick mode), on 1, 2 and 4 ranks,
and its errors."""
import json

import pytest
from mpi4py import MPI

from gaugenet.cli.main import main

COMM = MPI.COMM_WORLD


def _path(tmp_path, name):
    return COMM.bcast(str(tmp_path / name) if COMM.Get_rank() == 0 else None, root=0)


@pytest.mark.mpi
def test_mg_quick_runs_end_to_end(tmp_path):
    out = _path(tmp_path, "mg.json")
    assert main(["mg", "--quick", "--baselines", "gmres,eo-bicgstab", "--json", out]) == 0
    COMM.Barrier()
    with open(out) as f:
        rep = json.load(f)
    assert rep["ranks"] == COMM.Get_size()
    solves = {r["method"]: r for r in rep["solves"]}
    assert set(solves) == {"fgmres_unpreconditioned", "eo-bicgstab", "fgmres_high_mode", "fgmres_multigrid"}
    assert all(r["converged"] and r["residual"] < 1e-8 for r in solves.values())
    assert solves["fgmres_multigrid"]["iterations"] < solves["fgmres_unpreconditioned"]["iterations"]
    stages = [s["stage"] for s in rep["setup"]]
    assert stages[:2] == ["high_mode_training", "near_null_vectors"] and "multigrid_training" in stages


def test_mg_errors_name_the_problem(capsys):
    assert main(["mg", "--quick", "--block", "3.2.2.2"]) == 1
    assert "block size 3" in capsys.readouterr().err
    assert main(["mg", "--quick", "--baselines", "cg"]) == 1
    assert "unknown baseline 'cg'" in capsys.readouterr().err
    assert main(["mg", "--quick", "--steps", "1,2"]) == 1
    assert "four numbers" in capsys.readouterr().err
