"""Three levels for the learned multigrid (`mg --levels 3`, models/coarse_kcycle.py): the learned fine level whose
coarse part is a loose FGMRES on D~ preconditioned by the conventional K-cycle on a third grid. It converges to
the tolerance, agrees with the two-level (exact coarse solve) solution, gives the same iterations on any process
grid, and the command writes `levels: 3`; bad settings fail on every rank with the problem named."""
import json

import numpy as np
import pytest
from mpi4py import MPI

import gaugenet as gn
from gaugenet.mg import AMGSettings
from gaugenet.models import CoarseGrid
from gaugenet.models.coarse_kcycle import CoarseKCycleSolve
from gaugenet.models.multigrid import (MultigridModel, high_mode_model, preconditioner, smoother_initial_weights,
                                       smoother_model)
from gaugenet.solvers import fgmres

from conftest import assert_close, grids, random_su_global

DIMS = (4, 4, 4, 8)
BLOCK = (2, 2, 2, 2)          # coarse 2^3 x 4
CBLOCK = (1, 1, 1, 2)         # third grid 2^3 x 2


def problem(lat, mass=-0.5, nb=6, seed=21):
    """Wilson-clover on a global random gauge field (the same on every process grid), its coarse grid, and an
    untrained multigrid smoother (two defect-correction steps with M_h = inverse site term)."""
    U = gn.GaugeField.from_numpy(lat, random_su_global(DIMS, 3, seed=seed))
    D = gn.WilsonClover(U, mass=mass, csw=1.0)
    grid = CoarseGrid(D, BLOCK, gn.FermionField.random(lat, 3, nvec=nb, seed=seed + 1))
    Mh = high_mode_model(D)
    wh = [np.zeros(Mh.weight_shapes[0], dtype=lat.complex_dtype)]
    wh[0][8, 0, 0] = np.eye(4) / (4.0 + mass)
    S = smoother_model(D, 2, kind="defect")
    return D, grid, S, smoother_initial_weights(D, S, wh)


def settings(**kw):
    return AMGSettings(**dict(dict(precision="double", coarse_block=CBLOCK, coarse_basis=4, post=3), **kw))


def test_three_levels_converge_and_agree_with_two():
    lat = gn.Lattice(DIMS)
    D, grid, S, ws = problem(lat)
    b = gn.FermionField.random(lat, 3, seed=22)
    two = fgmres(D, b, M=preconditioner(MultigridModel(grid, S, coarse="solve"), ws), tol=1e-9, maxiter=300)
    coarse = CoarseKCycleSolve(grid, settings())
    model = MultigridModel(grid, S, coarse=coarse)
    assert model.weight_shapes == S.weight_shapes          # no coarse weights
    r = fgmres(D, b, M=preconditioner(model, ws), tol=1e-9, maxiter=300)
    assert r.converged and (b - D(r.x)).norm() / b.norm() < 1e-9
    assert two.converged and (r.x - two.x).norm() / two.x.norm() < 1e-6
    # a loose coarse solve costs few outer iterations over the exact one
    assert r.iterations <= two.iterations + 5, (r.iterations, two.iterations)
    rec = coarse.record()
    assert rec["coarse_solves"] >= r.iterations and rec["coarse_iterations"] >= rec["coarse_solves"]
    assert rec["third_grid_iterations"] > 0 and rec["third_lattice"] == [2, 2, 2, 2]
    # the coarse solve reaches its loose tolerance on D~
    c = grid.restrict(b)
    e = coarse([], c)
    assert (c - grid.op(e)).norm() / c.norm() <= 0.05
    coarse.reset()
    assert coarse.record()["coarse_solves"] == 0
    # a tight inner tolerance: several FGMRES iterations on D~ per coarse solve, the same outer iterations as exact
    tight = CoarseKCycleSolve(grid, settings(coarse_tol=1e-6))
    rt = fgmres(D, b, M=preconditioner(MultigridModel(grid, S, coarse=tight), ws), tol=1e-9, maxiter=300)
    assert rt.converged and rt.iterations == two.iterations
    assert tight.record()["coarse_iterations"] > tight.record()["coarse_solves"] >= rt.iterations
    # exact solve on the third grid: converges too
    r3 = fgmres(D, b, M=preconditioner(MultigridModel(grid, S, coarse=CoarseKCycleSolve(grid, settings(coarse="exact"))),
                                      ws), tol=1e-9, maxiter=300)
    assert r3.converged and (r3.x - two.x).norm() / two.x.norm() < 1e-6
    with pytest.raises(NotImplementedError, match="no gradient"):
        model.projected_gradient_adj(ws, b, b)


def test_single_precision_model_shares_the_three_level_coarse_part():
    lat = gn.Lattice(DIMS)
    D, grid, S, ws = problem(lat)
    coarse = CoarseKCycleSolve(grid, settings(precision="single"))
    model = MultigridModel(grid, S, coarse=coarse)
    single, w1 = model.in_precision("single", ws)
    assert single.coarse is coarse
    b = gn.FermionField.random(lat, 3, seed=23)
    r = fgmres(D, b, M=preconditioner(model, ws, precision="single"), tol=1e-9, maxiter=300)
    assert r.converged and (b - D(r.x)).norm() / b.norm() < 1e-9
    assert {np.dtype(l.complex_dtype).name for l, _, _ in coarse._hier} == {"complex64"}


def test_bad_third_grid_is_named():
    lat = gn.Lattice(DIMS)
    D, grid, S, ws = problem(lat)
    with pytest.raises(ValueError, match="block size 3"):
        CoarseKCycleSolve(grid, settings(coarse_block=(3, 1, 1, 1)))
    with pytest.raises(ValueError, match="exceed the dimension 12"):
        CoarseKCycleSolve(grid, settings(coarse_basis=13))
    with pytest.raises(ValueError, match="coarse_tol"):
        CoarseKCycleSolve(grid, settings(coarse_tol=1.5))


@pytest.mark.mpi
@pytest.mark.parametrize("grid", [g for g in grids(DIMS) if g is None or
                                  all((DIMS[m] // BLOCK[m]) % (g[m] * CBLOCK[m]) == 0 for m in range(4))])
def test_same_on_every_process_grid(grid):
    """Double precision: the same outer and inner iterations, residual history and solution on the process grid and
    on one rank."""
    out = []
    for lat in (gn.Lattice(DIMS, mpi=grid), gn.Lattice(DIMS, comm=MPI.COMM_SELF)):
        D, cg, S, ws = problem(lat)
        coarse = CoarseKCycleSolve(cg, settings(coarse_tol=1e-6))    # several inner iterations per solve
        b = gn.FermionField.random(lat, 3, seed=22)
        r = fgmres(D, b, M=preconditioner(MultigridModel(cg, S, coarse=coarse), ws), tol=1e-10, maxiter=300)
        rec = coarse.record()
        out.append((r.iterations, rec["coarse_iterations"], rec["third_grid_iterations"], np.array(r.history),
                    r.x.to_numpy()))
    assert out[0][:3] == out[1][:3]
    assert_close(out[0][3], out[1][3], 1e-8, "residual history")
    assert_close(out[0][4], out[1][4], 1e-9, "solution")


def _path(tmp_path, name):
    return MPI.COMM_WORLD.bcast(str(tmp_path / name) if MPI.COMM_WORLD.Get_rank() == 0 else None, root=0)


@pytest.mark.mpi
def test_mg_command_levels(tmp_path, capsys):
    """`python -m gaugenet mg --levels 3`: converges, writes levels 3 and the coarse part's counts; bad --levels and a
    third-grid block that does not divide the coarse grid fail on every rank with the problem named."""
    from gaugenet.cli.main import main
    out = _path(tmp_path, "mg3.json")
    common = ["mg", "--quick", "--baselines", "eo-cg", "--propagator-rhs", "0", "--no-plots",
              "--no-high-mode-solve"]
    # coarse grid 2^3 x 4 (--quick), third grid 1 x 2 x 2 x 4: a block that fits on any of 1, 2, 4 ranks
    assert main(common + ["--levels", "3", "--amg-coarse-block", "2.1.1.1", "--amg-coarse-basis", "4",
                          "--json", out]) == 0
    MPI.COMM_WORLD.Barrier()
    with open(out) as f:
        rep = json.load(f)
    assert rep["levels"] == 3 and rep["config"]["levels"] == 3
    mg = next(r for r in rep["solves"] if r["method"] == "fgmres_multigrid")
    assert mg["converged"] and mg["residual"] < 1e-8
    cs = mg["coarse_solve"]
    assert cs["coarse_solves"] >= mg["iterations"] and cs["coarse_iterations"] >= cs["coarse_solves"]
    assert cs["third_grid_iterations"] > 0 and cs["coarse_basis"] == 4 and cs["third_lattice"] == [1, 2, 2, 4]
    assert any(s["stage"] == "third_grid" for s in rep["setup"])
    capsys.readouterr()
    for args, msg in ((["--levels", "4"], "--levels must be 2 or 3"),
                      (["--levels", "3", "--amg-coarse-block", "3.1.1.1"], "block size 3"),
                      (["--levels", "3", "--amg-coarse-block", "2.1.1.1"], "exceed the dimension")):  # 24 > 6 x 2
        assert main(common + args) == 1
        assert msg in capsys.readouterr().err
