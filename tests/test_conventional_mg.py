"""The conventional (non-learned) aggregation multigrid (gaugenet.mg): block-orthonormal prolongator,
Galerkin coarse operator against P^dag D P built densely, smoothers, the two-level K-cycle inside FGMRES,
identical results on any process grid, and errors for bad settings."""
import numpy as np
import pytest
from mpi4py import MPI

import gaugenet as gn
from gaugenet.mg import AMGSettings, ConventionalMG, MRSmoother, GMRESSmoother, two_level
from gaugenet.models import CoarseGrid, near_null_vectors
from gaugenet.solvers import fgmres

from conftest import assert_close, grids, random_su_global

DIMS = (4, 4, 4, 8)
BLOCK = (2, 2, 2, 2)
PACKED_DIMS = (8, 4, 4, 8)


def problem(lat, mass=-0.2, nb=6, u=None, seed=1):
    U = gn.GaugeField.from_numpy(lat, u) if u is not None else gn.GaugeField.random(lat, 3, seed=seed)
    D = gn.WilsonClover(U, mass=mass, csw=1.0)
    vecs = gn.FermionField.random(lat, 3, nvec=nb, seed=seed + 1)
    return D, CoarseGrid(D, BLOCK, vecs)


def coarse_units(grid):
    """All coarse unit vectors as one batched CoarseField (global unknown j = coarse site * n + i)."""
    lat = grid.lat
    n = grid.n_basis
    nc = int(np.prod(lat.dims)) * n
    e = np.eye(nc, dtype=np.complex128).reshape(tuple(reversed(lat.dims)) + (n, nc)).transpose(0, 1, 2, 3, 5, 4)
    return gn.CoarseField.from_numpy(lat, np.ascontiguousarray(e)), nc


def as_columns(f, nvec):
    """A batched field's global array as a matrix whose columns are the vectors."""
    a = f.to_numpy()
    a = np.moveaxis(a.reshape((-1, nvec) + a.shape[5:]), 1, -1)
    return a.reshape(-1, nvec)


def test_prolongator_is_block_orthonormal():
    lat = gn.Lattice(DIMS)
    D, grid = problem(lat)
    E, nc = coarse_units(grid)
    P = as_columns(grid.prolong(E), nc)                  # the prolongator as a dense matrix
    assert_close(P.conj().T @ P, np.eye(nc), 1e-13, "P^dag P")
    # block structure: column (y, i) is zero outside the sites of block y
    coords = np.stack(np.meshgrid(*[np.arange(d) for d in reversed(DIMS)], indexing="ij"), -1)[..., ::-1]
    block_of = (coords.reshape(-1, 4) // np.asarray(BLOCK)) @ np.array([1, 2, 4, 8])   # coarse dims 2, 2, 2, 4
    cblock = np.repeat(np.arange(nc // grid.n_basis), grid.n_basis)
    cdims = tuple(DIMS[m] // BLOCK[m] for m in range(4))
    ccoords = np.stack(np.meshgrid(*[np.arange(d) for d in reversed(cdims)], indexing="ij"), -1)[..., ::-1]
    cindex = ccoords.reshape(-1, 4) @ np.array([1, 2, 4, 8])
    outside = np.repeat(block_of, 12)[:, None] != cindex[cblock][None, :]
    assert np.abs(P[outside]).max() == 0.0
    # R P = 1 also for the single-precision, packed and bfloat16 transfers of the conventional levels
    c = gn.CoarseField.random(grid.lat, grid.n_basis, seed=3)
    for prec, basis, tol in (("double", "full", 1e-13), ("single", "full", 1e-6), ("single", "bf16", 1e-2)):
        level, packed = two_level(D, grid, precision=prec, basis=basis)
        T = level.transfer
        cc = gn.CoarseField(T.blocking.coarse, c.data.astype(T.blocking.coarse.complex_dtype))
        assert_close(T.restrict(T.prolong(cc)).data, cc.data, tol, f"R P ({prec}, {basis}, packed={packed})")


def test_galerkin_operator_equals_dense_product():
    lat = gn.Lattice(DIMS)
    D, grid = problem(lat, nb=4)
    E, nc = coarse_units(grid)
    PE = grid.prolong(E)
    P = as_columns(PE, nc)
    DP = as_columns(D(PE), nc)
    dense = P.conj().T @ DP                               # P^dag D P, assembled densely
    got = as_columns(grid.op(E), nc)                      # the compiled Galerkin stencil on the unit vectors
    assert_close(got, dense, 1e-12, "R D P")
    c = gn.CoarseField.random(grid.lat, grid.n_basis, seed=5)
    assert_close(as_columns(grid.op(c), 1)[:, 0], dense @ as_columns(c, 1)[:, 0], 1e-12, "applied")


def test_block_jacobi_inverts_the_coarse_site_blocks():
    from gaugenet.mg import BlockJacobi
    lat = gn.Lattice(DIMS)
    D, grid = problem(lat, nb=4)
    J = BlockJacobi(grid.op)
    c = gn.CoarseField.random(grid.lat, grid.n_basis, nvec=2, seed=4)
    Jc = J(c)
    V = grid.lat.local_volume
    back = np.einsum("vij,vrj->vri", grid.op.A[:, 8], Jc.data.reshape(V, 2, -1))
    assert_close(back, c.data.reshape(V, 2, -1), 1e-12, "A_8 J c")


@pytest.mark.parametrize("packed", [False, True])
def test_smoothers_reduce_the_residual(packed):
    from gaugenet.operators.packed import PackedWilson
    from gaugenet.solvers.baselines import packed_applicable
    lat = gn.Lattice(PACKED_DIMS if packed else DIMS)
    D, _ = problem(lat, mass=-0.4)
    if packed and not packed_applicable(D):
        pytest.skip("packed layout not available")
    A = PackedWilson(D) if packed else D
    b = gn.FermionField.random(lat, 3, seed=7)
    b = A.pack(b) if packed else b
    for S in (MRSmoother(A, 1), MRSmoother(A, 4), MRSmoother(A, 4, omega=0.85), GMRESSmoother(A, 4)):
        x, r = b.zeros_like(), b.copy()
        hist = [r.norm()]
        for _ in range(3):
            S(x, r)
            hist.append(r.norm())
        assert all(h1 < h0 for h0, h1 in zip(hist, hist[1:])), (type(S).__name__, hist)
        assert hist[-1] < 0.8 * hist[0]
        true = b - A(x)                                  # the residual the smoother kept is b - A x
        assert (true - r).norm() < 1e-12 * b.norm()
    # MR minimises |r| along r: one step never does worse than the best multiple of r
    x, r = b.zeros_like(), b.copy()
    MRSmoother(A, 1)(x, r)
    Ab = A(b)
    for a in (0.5, 0.9, 1.1):
        alpha = a * Ab.inner(b) / Ab.norm2()
        assert r.norm() <= (b - Ab * alpha).norm() * (1 + 1e-12)


def test_two_level_converges_in_far_fewer_iterations():
    """On a heat-bath field (beta 6, 10 sweeps) near the critical mass: unpreconditioned GMRES(30) needs ~360
    iterations, FGMRES + the two-level K-cycle with 8 loose near-null vectors ~30."""
    from gaugenet.gauge.heatbath import QuenchedUpdater
    lat = gn.Lattice(DIMS)
    U = gn.GaugeField.unit(lat, 3)
    QuenchedUpdater(6.0, seed=3, or_steps=1).run(U, 0, 10)
    D = gn.WilsonClover(U, mass=-0.45, csw=1.0)
    vecs, _ = near_null_vectors(D, 8, seed=2, tol=1e-3, maxiter=60)
    grid = CoarseGrid(D, BLOCK, vecs)
    b = gn.FermionField.random(lat, 3, seed=11)
    plain = fgmres(D, b, tol=1e-8, maxiter=3000, restart=30, raise_on_fail=False)
    assert plain.converged and plain.iterations > 250
    for settings in (AMGSettings(precision="double"), AMGSettings(), AMGSettings(pre=2, post=2, smoother="gmres"),
                     AMGSettings(coarse="exact"), AMGSettings(coarse_precond="none", omega=0.85)):
        mg = ConventionalMG(D, grid, settings)
        r = mg.solve(b, tol=1e-8, maxiter=200, restart=30)
        assert r.converged and r.residual < 1e-8
        assert (b - D(r.x)).norm() / b.norm() < 1e-8
        assert r.iterations * 5 < plain.iterations, (settings, r.iterations, plain.iterations)
        rec = mg.record()
        assert rec["cycle_applications"] == r.iterations
        assert (rec["coarse_iterations"] > 0) == (settings.coarse == "gmres")
        assert all(v >= 0 for v in rec["cycle_seconds"].values())


@pytest.mark.mpi
@pytest.mark.parametrize("grid", grids(DIMS))
def test_same_on_every_process_grid(grid):
    """Double precision: the same iterations, residual history and solution (to rounding) on the process grid
    and on one rank."""
    u = random_su_global(DIMS, 3, seed=21)
    out = []
    for lat in (gn.Lattice(DIMS, mpi=grid), gn.Lattice(DIMS, comm=MPI.COMM_SELF)):
        D, cg = problem(lat, mass=-0.5, u=u)
        b = gn.FermionField.random(lat, 3, seed=22)
        r = ConventionalMG(D, cg, AMGSettings(precision="double", post=3, pre=1)).solve(b, tol=1e-10, maxiter=200)
        out.append((r.iterations, np.array(r.history), r.x.to_numpy()))
    assert out[0][0] == out[1][0]
    assert_close(out[0][1], out[1][1], 1e-8, "residual history")
    assert_close(out[0][2], out[1][2], 1e-9, "solution")


@pytest.mark.parametrize("bad,match", [
    (dict(pre=-1), "pre-smoothing"), (dict(post=1.5), "post-smoothing"), (dict(pre=0, post=0), "at least one"),
    (dict(smoother="jacobi"), "smoother must be"), (dict(omega=2.0), "omega"), (dict(coarse="lu"), "coarse solve"),
    (dict(coarse_tol=0.0), "coarse_tol"), (dict(coarse_tol=1.5), "coarse_tol"),
    (dict(coarse_maxiter=0), "coarse_maxiter"), (dict(coarse_precond="ilu"), "coarse_precond"),
    (dict(precision="half"), "precision"), (dict(basis="bf16", precision="double"), "bf16"),
    (dict(basis="int8"), "basis"), (dict(levels=3, coarse_basis=0), "coarse_basis")])
def test_bad_settings_name_the_problem(bad, match):
    lat = gn.Lattice(DIMS)
    D, grid = problem(lat)
    with pytest.raises(ValueError, match=match):
        ConventionalMG(D, grid, AMGSettings(**bad))
    with pytest.raises(ValueError, match="steps"):
        MRSmoother(D, 0)
    other = gn.Lattice((4, 4, 4, 4))
    with pytest.raises(ValueError, match="another lattice"):
        two_level(problem(other)[0], grid)


def _path(tmp_path, name):
    return MPI.COMM_WORLD.bcast(str(tmp_path / name) if MPI.COMM_WORLD.Get_rank() == 0 else None, root=0)


@pytest.mark.mpi
def test_mg_command_reports_the_conventional_multigrid(tmp_path, capsys):
    """`python -m gaugenet mg --baselines ...,amg`: one more non-learned record in the same table and JSON, built
    from the learned model's blocks and near-null vectors; bad --amg-* settings fail on every rank with the
    setting named."""
    import json
    from gaugenet.cli.main import main
    out = _path(tmp_path, "mg.json")
    assert main(["mg", "--quick", "--baselines", "eo-cg,amg,amg-exact", "--amg-post", "3", "--repeat", "2",
                 "--json", out]) == 0
    MPI.COMM_WORLD.Barrier()
    with open(out) as f:
        rep = json.load(f)
    solves = {r["method"]: r for r in rep["solves"]}
    assert set(solves) == {"eo-cg", "conventional_mg", "conventional_mg_exact", "fgmres_high_mode", "fgmres_multigrid"}
    assert solves["conventional_mg"]["settings"]["coarse"] == "gmres"
    assert solves["conventional_mg_exact"]["settings"]["coarse"] == "exact"
    assert solves["conventional_mg_exact"]["coarse_iterations"] == 0 < solves["conventional_mg"]["coarse_iterations"]
    amg = solves["conventional_mg"]
    assert amg["converged"] and amg["residual"] < 1e-8 and amg["rounds"] == 2 and len(amg["seconds_all"]) == 2
    assert amg["settings"]["post"] == 3 and amg["settings"]["precision"] == rep["config"]["precision"]
    assert amg["levels"] == 2 and amg["setup_seconds"] > 0 and amg["cycle_applications"] == amg["iterations"]
    assert amg["iterations"] < solves["eo-cg"]["iterations"]
    capsys.readouterr()
    for args, msg in ((["--amg-post", "-1"], "post-smoothing"), (["--amg-pre", "0", "--amg-post", "0"], "at least one"),
                      (["--amg-coarse-tol", "2"], "coarse_tol"), (["--baselines", "amg2"], "unknown baseline 'amg2'"),
                      (["--amg-levels", "4"], "levels must be 2 or 3"),
                      (["--amg-levels", "3", "--amg-coarse-block", "3.1.1.1"], "block size 3"),
                      (["--amg-coarse-block", "2.2"], "--amg-coarse-block must be")):
        assert main(["mg", "--quick", "--baselines", "amg"] + args) == 1
        assert msg in capsys.readouterr().err


# ------------------------------------------------------------------ three levels
CBLOCK = (1, 1, 1, 2)        # coarse 2^3 x 4 -> 2^3 x 2


def test_third_grid_galerkin_and_orthonormality():
    from gaugenet.mg import CoarseGridOf, coarse_near_null
    lat = gn.Lattice(DIMS)
    D, grid = problem(lat, nb=4)
    g2 = CoarseGridOf(grid.op, CBLOCK, coarse_near_null(grid.op, 3, maxiter=20))
    E, nc = coarse_units(g2)
    PE = g2.prolong(E)
    P = as_columns(PE, nc)
    assert_close(P.conj().T @ P, np.eye(nc), 1e-13, "P~^dag P~")
    dense = P.conj().T @ as_columns(grid.op(PE), nc)      # P~^dag D~ P~ assembled densely
    assert_close(as_columns(g2.op(E), nc), dense, 1e-12, "Galerkin of the coarse stencil")
    with pytest.raises(ValueError, match="linearly dependent"):
        two = coarse_near_null(grid.op, 1, maxiter=5)
        CoarseGridOf(grid.op, CBLOCK, gn.CoarseField(grid.lat, np.concatenate([two.data, two.data], axis=-2)))


def _three_level_problem(lat):
    from gaugenet.gauge.heatbath import QuenchedUpdater
    U = gn.GaugeField.unit(lat, 3)
    QuenchedUpdater(6.0, seed=3, or_steps=1).run(U, 0, 10)
    D = gn.WilsonClover(U, mass=-0.45, csw=1.0)
    vecs, _ = near_null_vectors(D, 8, seed=2, tol=1e-3, maxiter=60)
    return D, CoarseGrid(D, BLOCK, vecs)


def test_three_levels_converge():
    lat = gn.Lattice(DIMS)
    D, grid = _three_level_problem(lat)
    b = gn.FermionField.random(lat, 3, seed=11)
    two = ConventionalMG(D, grid, AMGSettings(post=4)).solve(b, tol=1e-8, maxiter=200)
    for coarse in ("gmres", "exact"):
        mg = ConventionalMG(D, grid, AMGSettings(levels=3, coarse_block=CBLOCK, coarse_basis=6, coarse=coarse,
                                                 post=4))
        r = mg.solve(b, tol=1e-8, maxiter=200)
        assert r.converged and (b - D(r.x)).norm() / b.norm() < 1e-8
        assert mg.levels == 3 and r.iterations <= two.iterations + 3, (r.iterations, two.iterations)
        rec = mg.record()
        assert rec["levels"] == 3 and rec["coarse_cycle"]["applications"] == rec["coarse_iterations"] > 0
    with pytest.raises(ValueError, match="coarse_block"):
        ConventionalMG(D, grid, AMGSettings(levels=3, coarse_block=(2, 2, 0, 2)))
    with pytest.raises(ValueError, match="levels"):
        ConventionalMG(D, grid, AMGSettings(levels=4))


@pytest.mark.mpi
@pytest.mark.parametrize("grid", [g for g in grids(DIMS) if g is None or
                                  all((DIMS[m] // BLOCK[m]) % (g[m] * CBLOCK[m]) == 0 for m in range(4))])
def test_three_levels_same_on_every_process_grid(grid):
    u = random_su_global(DIMS, 3, seed=21)
    out = []
    for lat in (gn.Lattice(DIMS, mpi=grid), gn.Lattice(DIMS, comm=MPI.COMM_SELF)):
        D, cg = problem(lat, mass=-0.5, u=u)
        b = gn.FermionField.random(lat, 3, seed=22)
        s = AMGSettings(precision="double", levels=3, coarse_block=CBLOCK, coarse_basis=4)
        r = ConventionalMG(D, cg, s).solve(b, tol=1e-10, maxiter=200)
        out.append((r.iterations, np.array(r.history), r.x.to_numpy()))
    assert out[0][0] == out[1][0]
    assert_close(out[0][1], out[1][1], 1e-8, "residual history")
    assert_close(out[0][2], out[1][2], 1e-9, "solution")
