"""`python -m gaugenet mg`: the seed-000 experiment as a command (quick mode), on 1, 2 and 4 ranks,
and its errors."""
import json

import numpy as np
import pytest
from mpi4py import MPI

from gaugenet.cli.main import main

COMM = MPI.COMM_WORLD


def _path(tmp_path, name):
    return COMM.bcast(str(tmp_path / name) if COMM.Get_rank() == 0 else None, root=0)


@pytest.mark.mpi
def test_mg_quick_runs_end_to_end(tmp_path):
    out, wts = _path(tmp_path, "mg.json"), _path(tmp_path, "mg.npz")
    assert main(["mg", "--quick", "--baselines", "gmres,eo-bicgstab", "--json", out, "--save", wts]) == 0
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
    # transfer: the saved weights on another gauge field (another heat-bath seed), only the combined model retrained
    out2 = _path(tmp_path, "mg2.json")
    assert main(["mg", "--quick", "--seed", "5", "--baselines", "gmres", "--load", wts, "--steps", "0,0,0,2",
                 "--repeat", "3", "--no-high-mode-solve", "--json", out2]) == 0
    COMM.Barrier()
    with open(out2) as f:
        rep2 = json.load(f)
    assert rep2["plaquette"] != rep["plaquette"]
    s2 = {r["method"]: r for r in rep2["solves"]}
    assert set(s2) == {"fgmres_unpreconditioned", "fgmres_multigrid"}          # --no-high-mode-solve
    for m, r in s2.items():   # --repeat 3: three timed solves per method, the median reported; the reference once
        if m == "fgmres_unpreconditioned":
            assert r["rounds"] == 1 and "seconds_all" not in r
        else:
            assert r["rounds"] == 3 and len(r["seconds_all"]) == 3
            assert r["seconds"] == float(np.median(r["seconds_all"]))
    assert s2["fgmres_multigrid"]["converged"]
    assert s2["fgmres_multigrid"]["iterations"] < s2["fgmres_unpreconditioned"]["iterations"]
    assert not any(st.get("steps") for st in rep2["setup"] if st["stage"] in ("high_mode_training",
                                                                            "smoother_training"))
    assert main(["mg", "--quick", "--load", wts, "--smoother-layers", "2"]) == 1   # a 3-step file


@pytest.mark.parametrize("kind", ["ptc", "defect"])
def test_mg_quick_with_either_smoother(tmp_path, kind):
    out, wts = str(tmp_path / "mg.json"), str(tmp_path / "mg.npz")
    assert main(["mg", "--quick", "--smoother", kind, "--baselines", "eo-cg", "--json", out, "--save", wts]) == 0
    with open(out) as f:
        rep = json.load(f)
    assert rep["config"]["smoother"] == kind and rep["config"]["smoother_layers"] == {"ptc": 4, "defect": 3}[kind]
    solves = {r["method"]: r for r in rep["solves"]}
    assert all(r["converged"] and r["residual"] < 1e-8 for r in solves.values())
    assert solves["fgmres_multigrid"]["iterations"] < solves["fgmres_high_mode"]["iterations"]
    stages = [s["stage"] for s in rep["setup"]]
    assert ("smoother_training" in stages) == (kind == "ptc")
    other = {"ptc": "defect", "defect": "ptc"}[kind]
    assert main(["mg", "--quick", "--load", wts, "--smoother", other]) == 1     # weights of the other smoother


def test_mg_errors_name_the_problem(capsys):
    assert main(["mg", "--quick", "--block", "3.2.2.2"]) == 1
    assert "block size 3" in capsys.readouterr().err
    assert main(["mg", "--quick", "--baselines", "cg"]) == 1
    assert "unknown baseline 'cg'" in capsys.readouterr().err
    assert main(["mg", "--quick", "--steps", "1,2"]) == 1
    assert "four numbers" in capsys.readouterr().err
    assert main(["mg", "--quick", "--smoother-layers", "0"]) == 1
    assert "--smoother-layers must be at least 1" in capsys.readouterr().err
    assert main(["mg", "--quick", "--repeat", "0"]) == 1
    assert "--repeat must be at least 1" in capsys.readouterr().err
    assert main(["mg", "--quick", "--reference-maxiter", "0"]) == 1
    assert "--reference-maxiter must be at least 1" in capsys.readouterr().err
