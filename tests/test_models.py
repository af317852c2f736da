"""The seed-000 preconditioner models (gaugenet.models): cLPTC coarse layer, exact coarse solve,
multigrid model backprop (finite differences), gauge equivariance, process-grid independence,
Adam, training and the iteration-count gain on a small lattice."""
import numpy as np
import pytest
from mpi4py import MPI

import gaugenet as gn
from gaugenet.models import (Adam, CoarseGrid, CoarseLPTC, MultigridModel, high_mode_batch, high_mode_model,
                             join_features, near_null_vectors, smoother_initial_weights, smoother_model, split_features, train)
from gaugenet.models.coarse_solve import CoarseSolve
from gaugenet.solvers import fgmres

from conftest import assert_close, grids, random_su_global

DIMS = (4, 4, 4, 8)
BLOCK = (2, 2, 2, 2)


def setup(lat, u=None, mass=-0.2, nb=6, seed=1, omega=None):
    U = gn.GaugeField.from_numpy(lat, u) if u is not None else gn.GaugeField.random(lat, 3, seed=seed)
    vecs = gn.FermionField.random(lat, 3, nvec=nb, seed=seed + 1)
    if omega is not None:
        U, vecs = U.transform(omega), vecs.transform(omega)
    D = gn.WilsonClover(U, mass=mass, csw=1.0)
    return D, CoarseGrid(D, BLOCK, vecs)


def model_of(D, grid, coarse, layers=2, kind="ptc"):
    S = smoother_model(D, layers, kind=kind)
    m = MultigridModel(grid, S, coarse=coarse)
    w = m.weights(seed=5, scale=0.05)
    return m, w


def test_features_round_trip():
    lat = gn.Lattice(DIMS)
    a, b = gn.FermionField.random(lat, seed=1), gn.FermionField.random(lat, seed=2)
    j = join_features([a, b])
    assert j.nvec == 2
    assert_close(j.data[..., 1, :, :], b.data, 1e-15, "feature 1")
    x, y = split_features(j, 2)
    assert_close(x.data, a.data, 1e-15, "split 0")
    assert_close(y.data, b.data, 1e-15, "split 1")
    ab = gn.FermionField.stack([a, b])
    j2 = join_features([ab, ab * 2.0])          # two right-hand sides, two features: r * 2 + f
    assert_close(j2.data[..., 3, :, :], 2.0 * b.data, 1e-15, "rhs 1 feature 1")


def test_adam_minimises_a_complex_quadratic():
    rng = np.random.default_rng(0)
    target = rng.standard_normal(5) + 1j * rng.standard_normal(5)
    w = [np.zeros(5, dtype=np.complex128)]
    opt = Adam(alpha=0.05)
    for _ in range(600):
        opt.step(w, [2 * (w[0] - target)])  # gradient of |w - t|^2 in the dC/dRe + i dC/dIm convention
    assert np.abs(w[0] - target).max() < 0.02     # Adam with a fixed step hovers within ~alpha
    with pytest.raises(FloatingPointError, match="NaN"):
        opt.step(w, [np.full(5, np.nan + 0j)])
    with pytest.raises(ValueError, match="beta1"):
        Adam(beta1=1.0)


def test_clptc_adjoint_and_gradient():
    lat = gn.Lattice(DIMS)
    D, grid = setup(lat)
    layer = CoarseLPTC(grid.lat, grid.n_basis)
    W = layer.weights(seed=3)
    a = gn.CoarseField.random(grid.lat, grid.n_basis, nvec=2, seed=4)
    c = gn.CoarseField.random(grid.lat, grid.n_basis, nvec=2, seed=5)
    assert abs(a.inner(layer(W, c)) - layer.adjoint(W, a).inner(c)) < 1e-12 * a.norm() * c.norm() * 10
    g = layer.projected_gradient_adj(W, c, a)
    rng = np.random.default_rng(1)
    dW = (rng.standard_normal(W[0].shape) + 1j * rng.standard_normal(W[0].shape)) * 1e-6
    fd = (a.inner(layer([W[0] + dW], c)).real - a.inner(layer([W[0] - dW], c)).real) / 2
    assert abs(fd - np.vdot(g[0], dW).real) < 1e-8 * abs(fd)
    # the Neumann initial weights approximate D~^{-1}: |M~ D~ v - v| < |v|
    W0 = CoarseLPTC.from_operator(grid.op)
    v = gn.CoarseField.random(grid.lat, grid.n_basis, seed=6)
    assert (layer(W0, grid.op(v)) - v).norm() < v.norm()


@pytest.mark.mpi
@pytest.mark.parametrize("grid", grids(DIMS))
def test_coarse_solve_inverts_the_galerkin_operator(grid):
    lat = gn.Lattice(DIMS, mpi=grid)
    u = random_su_global(DIMS, 3, seed=11)
    D, cg = setup(lat, u)
    cs = CoarseSolve(cg)
    c = gn.CoarseField.random(cg.lat, cg.n_basis, nvec=3, seed=12)
    assert_close(cg.op(cs([], c)).data, c.data, 1e-10, "D~ D~^{-1} c")
    assert_close(cs.adjoint([], cg.op.adjoint(c)).data, c.data, 1e-10, "D~^-dag D~^dag c")
    with pytest.raises(ValueError, match="max_dim"):
        CoarseSolve(cg, max_dim=10)
    # single precision: full rows to float rounding; bfloat16 rows (in_bf16) to ~3 digits, the same as the
    # product with the rounded rows; double-precision applications of the bf16 view keep the full rows
    c1 = gn.CoarseField(c.lat.like(precision="single"), c.data.astype(np.complex64))
    exact = cs([], c).data
    full = cs([], c1).data
    assert_close(full, exact, 1e-5, "single-precision rows")
    cb = cs.in_bf16()
    assert cb.matrix is cs.matrix and not cs._bf16
    half = cb([], c1).data
    dev = np.abs(half - exact).max() / np.abs(exact).max()
    assert 1e-5 < dev < 3e-2, dev
    assert_close(cb([], c).data, exact, 1e-12, "double application of the bf16 view")
    assert_close(cb.adjoint([], c1).data, cs.adjoint([], c).data, 3e-2, "bf16 adjoint")


@pytest.mark.parametrize("coarse,kind", [("clptc", "ptc"), ("solve", "ptc"), ("solve", "defect")])
def test_multigrid_gradients_finite_differences(coarse, kind):
    lat = gn.Lattice(DIMS)
    D, grid = setup(lat)
    model, w = model_of(D, grid, coarse, kind=kind)
    b, left = gn.FermionField.random(lat, seed=8), gn.FermionField.random(lat, seed=9)
    g = model.projected_gradient_adj(w, b, left)
    assert len(g) == len(w) + 1

    def C(ww, bb=b):
        return model(ww, bb).inner(left).real

    rng = np.random.default_rng(2)
    for i in range(len(w)):
        dw = (rng.standard_normal(w[i].shape) + 1j * rng.standard_normal(w[i].shape)) * 1e-6
        wp = [x.copy() for x in w]
        wm = [x.copy() for x in w]
        wp[i] += dw
        wm[i] -= dw
        fd = (C(wp) - C(wm)) / 2
        assert abs(fd - np.vdot(g[i], dw).real) < 1e-7 * abs(fd), f"weight array {i}"
    db = gn.FermionField.random(lat, seed=10) * 1e-6
    fd = (C(w, b + db) - C(w, b - db)) / 2
    assert abs(fd - g[-1].inner(db).real) < 1e-7 * abs(fd), "input gradient"
    # a batch of two right-hand sides gives the sum of the two gradients
    b2, l2 = gn.FermionField.random(lat, seed=11), gn.FermionField.random(lat, seed=12)
    gb = model.projected_gradient_adj(w, gn.FermionField.stack([b, b2]), gn.FermionField.stack([left, l2]))
    g2 = model.projected_gradient_adj(w, b2, l2)
    for i in range(len(w)):
        assert_close(gb[i], g[i] + g2[i], 1e-12, f"batched gradient {i}")


@pytest.mark.parametrize("coarse,kind", [("clptc", "ptc"), ("solve", "ptc"), ("solve", "defect")])
def test_multigrid_gauge_equivariance(coarse, kind):
    lat = gn.Lattice(DIMS)
    om = gn.ColorMatrixField.random_su(lat, 3, seed=21)
    D, grid = setup(lat)
    Dt, gridt = setup(lat, omega=om)
    model, w = model_of(D, grid, coarse, kind=kind)
    modelt = MultigridModel(gridt, smoother_model(Dt, 2, kind=kind), coarse=coarse)
    b = gn.FermionField.random(lat, seed=22)
    assert_close(modelt(w, b.transform(om)).data, model(w, b).transform(om).data, 1e-11, "M[U^Omega] Omega b")


@pytest.mark.mpi
@pytest.mark.parametrize("grid", grids(DIMS))
@pytest.mark.parametrize("coarse,kind", [("clptc", "ptc"), ("solve", "ptc"), ("solve", "defect")])
def test_multigrid_same_on_every_process_grid(grid, coarse, kind):
    u = random_su_global(DIMS, 3, seed=31)
    res = []
    for lat in (gn.Lattice(DIMS, mpi=grid), gn.Lattice(DIMS, comm=MPI.COMM_SELF)):
        D, cg = setup(lat, u)
        model = MultigridModel(cg, smoother_model(D, 2, kind=kind), coarse=coarse)
        w = model.weights(seed=5, scale=0.05) if coarse == "solve" else \
            CoarseLPTC.from_operator(cg.op) + model.smoother.weights(seed=6, scale=0.05)
        b, left = gn.FermionField.random(lat, seed=32), gn.FermionField.random(lat, seed=33)
        g = model.projected_gradient_adj(w, b, left)
        res.append([model(w, b).to_numpy(), g[-1].to_numpy()] + [g[i] for i in range(len(w) - 2, len(w))])
    for what, a, b in zip(("forward", "dphi", "dW smoother 0", "dW smoother 1"), res[0], res[1]):
        assert_close(a, b, 1e-11, what)


def test_smoother_initial_weights_are_one_defect_correction():
    lat = gn.Lattice(DIMS)
    U = gn.GaugeField.random(lat, 3, seed=41)
    D = gn.Wilson(U, mass=0.1)                   # no clover: the initial smoother is exact
    Mh = high_mode_model(D)
    wh = Mh.weights(seed=42, scale=0.1)
    u, b = gn.FermionField.random(lat, seed=43), gn.FermionField.random(lat, seed=44)
    ref = u + Mh(wh, b - D(u))
    for layers in (1, 2, 4):
        S = smoother_model(D, layers)
        out = S(smoother_initial_weights(D, S, wh), join_features([u, b]))
        want = u + Mh(wh, b) if layers == 1 else ref
        assert_close(out.data, want.data, 1e-12, f"{layers} layers")


def test_defect_smoother_starts_as_exact_defect_correction():
    """With every layer at the high-mode weights, the defect smoother is r steps u += M_h (b - D u) with the
    full Wilson-clover operator (clover term included, unlike the PTC smoother's initial weights)."""
    lat = gn.Lattice(DIMS)
    D, grid = setup(lat)
    Mh = high_mode_model(D)
    wh = Mh.weights(seed=42, scale=0.1)
    u, b = gn.FermionField.random(lat, seed=43), gn.FermionField.random(lat, seed=44)
    for r in (1, 3):
        S = smoother_model(D, r, kind="defect")
        w = smoother_initial_weights(D, S, wh)
        ref = u
        for _ in range(r):
            ref = ref + Mh(wh, b - D(ref))
        assert_close(S(w, join_features([u, b])).data, ref.data, 1e-13, f"{r} steps")
    with pytest.raises(ValueError, match="kind must be"):
        smoother_model(D, 2, kind="jacobi")


def test_training_and_iteration_gain():
    """A few Adam steps lower the eq.-(27) cost, and the trained one-layer model and the multigrid
    model each reduce the FGMRES iteration count on a 4^3 x 8 lattice."""
    lat = gn.Lattice(DIMS)
    D, grid = setup(lat, mass=-0.6)
    Mh = high_mode_model(D)
    wh = [np.zeros(Mh.weight_shapes[0], dtype=np.complex128)]
    wh[0][8, 0, 0] = np.eye(4) / (4 + D.mass)
    hist = train(Mh, wh, high_mode_batch(D, 3), 40, Adam(alpha=1e-2))
    assert np.mean([h[1] for h in hist[-5:]]) < 0.8 * hist[0][1]
    b = gn.FermionField.random(lat, seed=51)
    plain = fgmres(D, b, tol=1e-8, maxiter=5000).iterations
    high = fgmres(D, b, M=lambda v: Mh(wh, v), tol=1e-8, maxiter=5000).iterations
    vecs, _ = near_null_vectors(D, 6, tol=1e-4, maxiter=100, M=lambda v: Mh(wh, v))
    S = smoother_model(D, 2)
    model = MultigridModel(CoarseGrid(D, BLOCK, vecs), S, coarse="solve")
    mg = fgmres(D, b, M=lambda v: model(smoother_initial_weights(D, S, wh), v), tol=1e-8, maxiter=5000).iterations
    assert high < plain and mg < high, (plain, high, mg)


def test_errors_name_the_problem():
    lat = gn.Lattice(DIMS)
    D, grid = setup(lat)
    with pytest.raises(ValueError, match="two features"):
        MultigridModel(grid, smoother_model(D, 1).layers[0].__class__(D.U, 1, 1, [[]]))
    with pytest.raises(ValueError, match="coarse must be"):
        MultigridModel(grid, smoother_model(D, 2), coarse="exact")
    with pytest.raises(TypeError, match="CoarseField"):
        CoarseLPTC(grid.lat, grid.n_basis)(CoarseLPTC(grid.lat, 6).weights(), gn.FermionField.random(lat, seed=1))


@pytest.mark.parametrize("coarse,kind", [("clptc", "ptc"), ("solve", "ptc"), ("solve", "defect")])
def test_single_precision_preconditioner(coarse, kind):
    """The model applied in single precision agrees with double to single accuracy, and FGMRES with
    it still reaches 1e-10 in double precision (flexible outer solver)."""
    from gaugenet.models import preconditioner
    lat = gn.Lattice(DIMS)
    D, grid = setup(lat)
    model, w = model_of(D, grid, coarse, kind=kind)
    b = gn.FermionField.random(lat, seed=61)
    ref = model(w, b)
    out = preconditioner(model, w, precision="single")(b)
    assert out.data.dtype == np.complex128
    err = (out - ref).norm() / ref.norm()
    assert 1e-9 < err < 1e-5, err
    Mh = high_mode_model(D)
    S = smoother_model(D, 2)
    m2 = MultigridModel(grid, S, coarse="solve")
    wh = [np.zeros(Mh.weight_shapes[0], dtype=np.complex128)]
    wh[0][8, 0, 0] = np.eye(4) / (4 + D.mass)
    w2 = smoother_initial_weights(D, S, wh)
    r = fgmres(D, b, M=preconditioner(m2, w2, precision="single"), tol=1e-10, maxiter=500)
    assert r.converged and r.residual < 1e-10


PACKED_DIMS = (8, 4, 4, 8)


@pytest.mark.mpi
@pytest.mark.parametrize("grid", [g for g in grids(PACKED_DIMS) if g is None or (PACKED_DIMS[0] // g[0]) % 8 == 0])
def test_packed_defect_smoother_equals_ordinary(grid):
    """The defect smoother's forward on the packed layout (PackedDefectSmoother: PackedWilson + PackedPTC on
    one packed copy of the links) and the preconditioner that uses it, against the ordinary ones, in double
    and single precision, on the process grids that keep the local x extent a multiple of 8."""
    from gaugenet._backend import core
    from gaugenet.models import preconditioner
    from gaugenet.models.defect_smoother import PackedDefectSmoother
    lat = gn.Lattice(PACKED_DIMS, mpi=grid)
    D, cg = setup(lat)
    model, w = model_of(D, cg, "solve", layers=3, kind="defect")
    S = model.smoother
    assert PackedDefectSmoother.applicable(S) == bool(core.packed_available())
    assert not PackedDefectSmoother.applicable(model_of(D, cg, "solve", kind="ptc")[0].smoother)
    lat4 = gn.Lattice(DIMS)
    D4, cg4 = setup(lat4)
    assert not PackedDefectSmoother.applicable(model_of(D4, cg4, "solve", kind="defect")[0].smoother)  # x = 4
    if not core.packed_available():
        pytest.skip("no AVX-512 kernels in this build")
    b = gn.FermionField.random(lat, seed=71)
    u = gn.FermionField.random(lat, seed=72)
    P = PackedDefectSmoother(S)
    assert P.D.two_rows and all(l.fwd.two_rows for l in P.layers)  # SU(3) links: two rows stored
    assert all(l.fwd.U is P.D.U and l.adj.U is P.D.U for l in P.layers)  # one packed copy of the links
    P3 = PackedDefectSmoother(S, two_rows=False)
    assert all(l.fwd.U is P3.D.U and l.adj.U is P3.D.U for l in P3.layers)  # one packed copy of the links
    assert_close(P3(model._split(w)[1], join_features([u, b])).data, P(model._split(w)[1], join_features([u, b])).data,
                 1e-12, "two-row and three-row links")
    ws = model._split(w)[1]
    phi = join_features([u, b])
    assert_close(P(ws, phi).data, S(ws, phi).data, 1e-12, "smoother")
    for prec, tol in ((None, 1e-12), ("single", 2e-6)):
        got = preconditioner(model, w, precision=prec)(b)
        ref = preconditioner(model, w, precision=prec, packed=False)(b)
        assert got.data.dtype == np.complex128
        assert_close(got.data, ref.data, tol, f"preconditioner {prec}")


@pytest.mark.mpi
@pytest.mark.parametrize("grid", [g for g in grids(PACKED_DIMS) if g is None or (PACKED_DIMS[0] // g[0]) % 8 == 0])
def test_packed_ptc_smoother_equals_ordinary(grid):
    """The seed-000 PTC smoother (Sequential of PTC layers 2 -> 2 ... 2 -> 1) on the packed layout
    (PackedSequential) and the preconditioner that uses it, against the ordinary ones."""
    from gaugenet._backend import core
    from gaugenet.ml.ptc_packed import PackedSequential
    from gaugenet.models import preconditioner
    from gaugenet.models.multigrid import packed_smoother
    lat = gn.Lattice(PACKED_DIMS, mpi=grid)
    D, cg = setup(lat)
    model, w = model_of(D, cg, "solve", layers=3, kind="ptc")
    S = model.smoother
    assert PackedSequential.applicable(S) == bool(core.packed_available())
    if not core.packed_available():
        pytest.skip("no AVX-512 kernels in this build")
    P = packed_smoother(S)
    assert isinstance(P, PackedSequential)
    assert all(p.fwd.U is P.layers[0].fwd.U for p in P.layers)  # one packed copy of the links
    ws = model._split(w)[1]
    phi = join_features([gn.FermionField.random(lat, seed=81), gn.FermionField.random(lat, seed=82)])
    ref = S(ws, phi)
    got = P(ws, phi)
    assert got.data.shape == ref.data.shape
    assert_close(got.data, ref.data, 1e-12, "PTC smoother")
    b = gn.FermionField.random(lat, seed=83)
    for prec, tol in ((None, 1e-12), ("single", 2e-6)):
        got = preconditioner(model, w, precision=prec)(b)
        ref = preconditioner(model, w, precision=prec, packed=False)(b)
        assert got.data.shape == ref.data.shape == b.data.shape
        assert_close(got.data, ref.data, tol, f"preconditioner {prec}")


@pytest.mark.mpi
@pytest.mark.parametrize("grid", [g for g in grids(PACKED_DIMS) if g is None or (PACKED_DIMS[0] // g[0]) % 8 == 0])
def test_packed_multigrid_solver_equals_ordinary(grid):
    """FGMRES + multigrid entirely on the packed layout (PackedMultigridSolver: packed Krylov vectors, Gram-Schmidt
    kernels pairing the packed parts, PackedWilson as the outer operator) against FGMRES on FermionFields with the
    same model: the same preconditioner application, iterations and solution, in double and with the model in
    single precision; unpreconditioned GMRES on packed fields against GMRES on FermionFields."""
    from gaugenet._backend import core
    from gaugenet.models import PackedMultigridSolver, preconditioner
    lat = gn.Lattice(PACKED_DIMS, mpi=grid)
    D, cg = setup(lat)
    model, w = model_of(D, cg, "solve", layers=2, kind="defect")
    assert PackedMultigridSolver.applicable(model) == bool(core.packed_available())
    assert not PackedMultigridSolver.applicable(model_of(D, cg, "solve", kind="ptc")[0])
    if not core.packed_available():
        with pytest.raises(ValueError, match="PackedMultigridSolver"):
            PackedMultigridSolver(D, model, w)
        pytest.skip("no AVX-512 kernels in this build")
    b = gn.FermionField.random(lat, seed=91)
    for prec, tol in ((None, 1e-11), ("single", 1e-6)):
        S = PackedMultigridSolver(D, model, w, precision=prec)
        ref_M = preconditioner(model, w, precision=prec, packed=False)
        first = S.precondition(S.A.pack(b))
        assert_close(S.A.unpack(first).data, ref_M(b).data, tol, f"M b ({prec})")
        kept = first.data.copy()   # the work buffers are reused: a second application must not change the first
        S.precondition(S.A.pack(b * 2.0))
        assert np.array_equal(first.data, kept)
        # an untrained model: compare 20 iterations (two restarts and a partial cycle), not convergence
        got = S.solve(b, tol=1e-12, maxiter=20, restart=8, raise_on_fail=False)
        ref = fgmres(D, b, M=ref_M, tol=1e-12, maxiter=20, restart=8, raise_on_fail=False)
        assert got.iterations == ref.iterations == 20
        assert isinstance(got.x, gn.FermionField)
        assert_close(np.array(got.history), np.array(ref.history), 1e-8 if prec is None else 1e-4, f"residuals ({prec})")
        assert abs((b - D(got.x)).norm() / b.norm() - got.residual) < 1e-12
        assert_close(got.x.data, ref.x.data, 1e-9 if prec is None else 1e-4, f"iterate ({prec})")
    # the block basis (and the exact coarse solve's rows) in bfloat16: the same as the single-precision model
    # with the rounded basis and rows
    from gaugenet.coarse import Bf16Basis
    S16 = PackedMultigridSolver(D, model, w, precision="single", basis="bf16")
    assert isinstance(S16.model.grid.basis, Bf16Basis)
    assert S16.model.coarse._bf16 and not model.coarse._bf16
    ms, ws = model.in_precision("single", w)
    ms.grid.basis = S16.model.grid.basis.to_field()
    ms.coarse = S16.model.coarse
    assert_close(S16.A.unpack(S16.precondition(S16.A.pack(b))).data,
                 preconditioner(ms, ws, packed=False)(gn.FermionField(ms.grid.blocking.fine,
                                                                      b.data.astype(np.complex64))).data,
                 1e-5, "M b with a bf16 basis")
    with pytest.raises(ValueError, match="'full' or 'bf16'"):
        PackedMultigridSolver(D, model, w, basis="half")
    g_ref = fgmres(D, b, tol=1e-6, maxiter=400, restart=10)
    g = fgmres(S.A, S.A.pack(b), tol=1e-6, maxiter=400, restart=10)
    assert g.iterations == g_ref.iterations
    assert_close(S.A.unpack(g.x).data, g_ref.x.data, 1e-9, "GMRES on packed fields")


def test_too_large_dense_coarse_solve_is_refused_before_the_set_up(monkeypatch):
    """A coarse grid beyond the dense solve's limit fails at once (it used to fail after the near-null vectors,
    twenty minutes into a 16^3 x 32 run): no stage of the set-up runs."""
    import gaugenet.models.experiment as ex
    from gaugenet.models.coarse_solve import MAX_DIM, check_coarse_size
    from gaugenet.models.experiment import MGConfig, train_multigrid
    check_coarse_size(MAX_DIM)
    with pytest.raises(ValueError, match="more than max_dim"):
        check_coarse_size(MAX_DIM + 1)
    lat = gn.Lattice(DIMS, comm=MPI.COMM_SELF)
    D = gn.WilsonClover(gn.GaugeField.random(lat, 3, seed=1), mass=-0.2, csw=1.0)
    n_blocks = int(np.prod([d // b for d, b in zip(DIMS, BLOCK)]))
    cfg = MGConfig(block=BLOCK, n_basis=MAX_DIM // n_blocks + 1, coarse="solve")
    def no_set_up(*a, **k):
        raise AssertionError("the set-up started")
    monkeypatch.setattr(ex, "high_mode_model", no_set_up)
    with pytest.raises(ValueError, match="more than max_dim"):
        train_multigrid(D, cfg)
