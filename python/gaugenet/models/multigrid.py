"""The preconditioner models of seed 000 built from gauge-equivariant layers:

  high-mode model  M_h = one PTC layer 1 -> 1 (Sec. IV)                        trained on |M_h D v - v|^2
  coarse model     M~  = one cLPTC layer on the coarse grid (Sec. V)           trained on |M~ D~ v - v|^2
  smoother         M_s = 2r PTC layers, 2 -> 2 ... 2 -> 1, input (u_k, b) (Sec. VI A)
                         trained on |M_s(u_k, b) - u_{k+r}|^2, u_{k+1} = u_k + M_h (b - D u_k);
                   or r learned defect-correction steps u += L_k(b - D u) (models.defect_smoother)
  multigrid model  M b = M_s(P M~ R b, b) (Sec. VI B, Fig. 11)                trained on eq. (37)

R and P = R^dag are the restriction/prolongation layers of a Blocking with a block-orthonormal basis
of near-null vectors (fixed, not trained). Every model follows the layer interface of gaugenet.ml
(weights list, __call__(weights, b), projected_gradient_adj(weights, b, left)) so that Adam and the
cost functions in gaugenet.models.training work on all of them alike.
"""
import numpy as np

from .._backend import core
from ..coarse import Bf16Basis, Blocking, CoarseOperator
from ..fields import FermionField
from ..ml import PTC, Sequential, one_hop_paths
from ..ml.ptc_packed import PackedSequential
from ..ml.layer import Layer
from ..operators.gamma import wilson_hop_weights
from ..solvers import fgmres
from ..util.memory import aligned_empty
from .coarse_layer import CoarseLPTC
from .coarse_solve import CoarseSolve
from .defect_smoother import DefectSmoother, PackedDefectSmoother
from .features import join_features, split_features


def _phases(D):
    return D.links.boundary_phases


def _zero_boundary(D):
    return D.links.zero_boundary


def high_mode_model(D, paths=None):
    """One PTC layer 1 -> 1 (zero path + 8 one-hop paths by default) on D's gauge field and boundary."""
    return PTC(D.U, 1, 1, paths if paths is not None else one_hop_paths(), zero_boundary_links=_zero_boundary(D),
               boundary_phases=_phases(D))


def wilson_ptc_weights(D):
    """PTC weights (9, 1, 1, 4, 4) of the Wilson part of D (hops and 4 + m; the clover term is site
    dependent and left out): a starting point for layers that should compute D u."""
    W = wilson_hop_weights(dagger=False).copy()
    W[8, 0, 0] = (4.0 + D.mass) * np.eye(4)
    return W


SMOOTHERS = ("ptc", "defect")


def smoother_model(D, layers=4, paths=None, kind="ptc"):
    """kind "ptc": 2r PTC layers with two input features (u, b): 2 -> 2 ... 2 -> 2, 2 -> 1 (seed 000).
    kind "defect": `layers` defect-correction steps u += L_k(b - D u), each with its own PTC layer 1 -> 1
    (gaugenet.models.defect_smoother)."""
    if layers < 1:
        raise ValueError(f"smoother: at least one layer, got {layers}")
    if kind not in SMOOTHERS:
        raise ValueError(f"smoother: kind must be one of {', '.join(SMOOTHERS)}, got {kind!r}")
    p = paths if paths is not None else one_hop_paths()
    kw = dict(zero_boundary_links=_zero_boundary(D), boundary_phases=_phases(D))
    if kind == "defect":
        return DefectSmoother(D, [PTC(D.U, 1, 1, p, **kw) for _ in range(layers)])
    return Sequential(*[PTC(D.U, 2, 2 if i < layers - 1 else 1, p, **kw) for i in range(layers)])


def smoother_initial_weights(D, smoother, Mh_weights):
    """One defect-correction step u + M_h (b - D u) spread over the layers: layer 1 (u, b) -> (u, b - D u),
    layer 2 (u, r) -> (u + M_h r, r), further layers pass (u, r) on, the last one returns u. Exact
    for the Wilson part of D (the clover term is learned); requires one-hop paths in slot order.
    A DefectSmoother starts with the high-mode weights in every step (exact r defect-correction steps)."""
    if isinstance(smoother, DefectSmoother):
        return [np.array(Mh_weights[0], dtype=smoother.D.lat.complex_dtype) for _ in smoother.layers]
    eye = np.zeros((9, 4, 4), dtype=np.complex128)
    eye[8] = np.eye(4)
    Dw = wilson_ptc_weights(D)[:, 0, 0]
    Mh = np.asarray(Mh_weights[0])[:, 0, 0]
    out = []
    n = len(smoother.layers)
    for i, lay in enumerate(smoother.layers):
        if lay.n_paths != 9 or not lay.paths.slot_order:
            raise ValueError("smoother_initial_weights needs the one-hop paths in slot order (one_hop_paths())")
        W = np.zeros(lay.weight_shapes[0], dtype=np.complex128)
        if i == n - 1 and n > 1 and i != 1:
            W[:, 0, 0] = eye                       # return u
        elif i == 0:
            W[:, 0, 0] = eye                       # u
            if lay.n_out > 1:
                W[:, 1, 0] = -Dw                   # b - D u
                W[:, 1, 1] = eye
            else:                                  # a single layer: u + M_h b (u = 0 in practice)
                W[:, 0, 1] = Mh
        elif i == 1:
            W[:, 0, 0] = eye
            W[:, 0, 1] = Mh                        # u + M_h r
            if lay.n_out > 1:
                W[:, 1, 1] = eye
        else:
            W[:, 0, 0] = eye
            W[:, 1, 1] = eye
        out.append(W.astype(lay.lat.complex_dtype))
    return out


def near_null_vectors(D, n, seed=17, tol=1e-8, maxiter=2000, M=None, restart=30):
    """n near-null vectors of D (seed 000, Sec. V): for a random u_0 solve D e = D u_0 (FGMRES with
    the optional preconditioner M), u = u_0 - e, i.e. FGMRES on D u = 0 from the initial guess u_0.
    Returns a batched FermionField [.., n, 4, N] and the relative null-space residuals |D u| / |u|."""
    lat = D.lat
    vecs, res = [], []
    for i in range(n):
        u0 = FermionField.random(lat, N=D.N, seed=seed, stream=1000 + i)
        r = fgmres(D, D(u0), M=M, tol=tol, maxiter=maxiter, restart=restart, raise_on_fail=False)
        u = u0 - r.x
        vecs.append(u)
        res.append(D(u).norm() / u.norm())
    return FermionField.stack(vecs), res


def refine_near_null(D, vectors, M, tol=1e-2, maxiter=50, restart=30):
    """One inverse-iteration pass: u_i <- D^{-1} u_i by a loose FGMRES solve preconditioned by M (e.g. the
    first multigrid model), which amplifies the low-mode components of every vector (adaptive set-up)."""
    out, res = [], []
    for i in range(vectors.nvec):
        u = vectors.batch(i)
        r = fgmres(D, u * (1.0 / u.norm()), M=M, tol=tol, maxiter=maxiter, restart=restart, raise_on_fail=False)
        out.append(r.x)
        res.append(D(r.x).norm() / r.x.norm())
    return FermionField.stack(out), res


class CoarseGrid:
    """Blocking + block-orthonormal basis + Galerkin coarse operator D~ = R D P."""

    def __init__(self, D, block, vectors):
        self.D = D
        self.blocking = Blocking(D.lat, block)
        self.basis = self.blocking.orthonormalize(vectors)
        self.n_basis = self.basis.nvec
        self.op = CoarseOperator.galerkin(D, self.blocking, self.basis)

    @property
    def lat(self):
        return self.blocking.coarse

    def restrict(self, f, out=None):
        return self.blocking.project(f, self.basis, out=out)

    def prolong(self, c, out=None):
        return self.blocking.promote(c, self.basis, out=out)


class _GridView:
    """A CoarseGrid seen in another precision: the same blocks and basis (cast; basis="bf16": stored in
    bfloat16, coarse/bf16.py), the same coarse operator."""

    def __init__(self, grid, lat, basis="full"):
        self.blocking = Blocking(lat, grid.blocking.block)
        xp = grid.basis.xp
        self.basis = FermionField(lat, xp.ascontiguousarray(grid.basis.data.astype(lat.complex_dtype)))
        if basis == "bf16":
            self.basis = Bf16Basis(self.basis)
        elif basis != "full":
            raise ValueError(f"basis storage must be 'full' or 'bf16', got {basis!r}")
        self.n_basis = grid.n_basis
        self.op = grid.op

    lat = CoarseGrid.lat
    restrict = CoarseGrid.restrict
    prolong = CoarseGrid.prolong


class MultigridModel(Layer):
    """M b = M_s(P M~ R b, b): weights [coarse weights] + smoother weights.

    coarse: "clptc" (the learned coarse layer of seed 000, one weight array) or "solve" (the exact
    coarse solve D~^{-1} by a dense LU, gaugenet.models.coarse_solve, no weights), or a layer."""

    def __init__(self, grid, smoother, coarse="clptc"):
        if smoother.n_in != 2 or smoother.n_out != 1:
            raise ValueError("MultigridModel: the smoother must map two features (u, b) to one")
        self.grid = grid
        if coarse == "clptc":
            coarse = CoarseLPTC(grid.lat, grid.n_basis)
        elif coarse == "solve":
            coarse = CoarseSolve(grid)
        elif isinstance(coarse, str):
            raise ValueError(f"MultigridModel: coarse must be 'clptc', 'solve' or a layer, got {coarse!r}")
        self.coarse = coarse
        self.smoother = smoother

    @property
    def weight_shapes(self):
        return self.coarse.weight_shapes + self.smoother.weight_shapes

    def weights(self, seed=0, scale=1.0):
        return self.coarse.weights(seed, scale) + self.smoother.weights(seed + 1, scale)

    def in_precision(self, precision, weights, basis="full"):
        """The same model and weights on a copy of the lattice in `precision` ("single" or "double"): the
        smoother's PTC layers on cast links, the basis cast (basis="bf16": stored in bfloat16, host fields
        only; coarse/bf16.py, and so are the single-precision rows of an exact coarse solve,
        CoarseSolve.in_bf16), the coarse part shared (a dense coarse solve keeps its matrix and applies its
        rows in the precision of the coarse field). Returns (model, weights). With FGMRES, which is flexible, a
        single-precision preconditioner does not limit the accuracy of the double-precision solve."""
        fine = self.grid.blocking.fine
        lat = fine.like(precision=precision)
        U = self.smoother.layers[0].U
        Uc = type(U)(lat, U.xp.ascontiguousarray(U.data.astype(lat.complex_dtype)))

        def cast(l, Uc):
            return PTC(Uc, l.n_in, l.n_out, l.paths.paths, zero_boundary_links=l.zero_boundary,
                       boundary_phases=l.links.boundary_phases)
        if isinstance(self.smoother, DefectSmoother):
            smoother = self.smoother.on_gauge_field(Uc, cast)
        else:
            smoother = Sequential(*[cast(l, Uc) for l in self.smoother.layers])
        grid = _GridView(self.grid, lat, basis)
        if isinstance(self.coarse, CoarseSolve):
            coarse = self.coarse.in_bf16() if basis == "bf16" else self.coarse
        elif getattr(self.coarse, "any_precision", False):   # e.g. the three-level coarse solve (coarse_kcycle.py):
            coarse = self.coarse                             # shared, it works in the precision of its input
        else:
            coarse = CoarseLPTC(grid.blocking.coarse, self.grid.n_basis)
        model = MultigridModel(grid, smoother, coarse=coarse)
        return model, [np.asarray(w).astype(lat.complex_dtype) for w in self.check(weights)]

    def _split(self, weights):
        weights = self.check(weights)
        n = self.coarse.n_weights
        return weights[:n], weights[n:]

    def __call__(self, weights, b):
        return self.apply_with(self.smoother, weights, b)

    def apply_with(self, smoother, weights, b):
        """M b with another implementation of the smoother's forward (e.g. a PackedDefectSmoother)."""
        wc, ws = self._split(weights)
        u0 = self.grid.prolong(self.coarse(wc, self.grid.restrict(b)))
        return smoother(ws, join_features([u0, b]))

    def projected_gradient_adj(self, weights, b, left):
        wc, ws = self._split(weights)
        c = self.grid.restrict(b)
        u0 = self.grid.prolong(self.coarse(wc, c))
        gs = self.smoother.projected_gradient_adj(ws, join_features([u0, b]), left)
        du0, db = split_features(gs[-1], 2, batched=b.batched)
        gc = self.coarse.projected_gradient_adj(wc, c, self.grid.restrict(du0))
        db = db + self.grid.prolong(gc[-1])
        return gc[:-1] + gs[:-1] + [db]


def packed_smoother(smoother):
    """The smoother's forward on the packed layout (PackedDefectSmoother for a defect-correction smoother,
    gaugenet.ml.ptc_packed.PackedSequential for the seed-000 PTC smoother), or None where it does not apply."""
    if PackedDefectSmoother.applicable(smoother):
        return PackedDefectSmoother(smoother)
    if PackedSequential.applicable(smoother):
        return PackedSequential(smoother)
    return None


def preconditioner(model, weights, precision=None, packed=True):
    """The callable v -> M v for FGMRES; precision="single" applies the model in single precision
    (MultigridModel.in_precision) and returns the result in the precision of v. packed: a multigrid
    model's smoother runs on the packed layout where it applies (packed_smoother: host fields, local
    x % 8 == 0, AVX-512; the same results to rounding)."""
    if precision is None or precision == model.grid.blocking.fine.precision:
        m, w = model, weights
    else:
        m, w = model.in_precision(precision, weights)
    fast = packed_smoother(m.smoother) if packed and isinstance(m, MultigridModel) else None

    def apply(v):
        return m(w, v) if fast is None else m.apply_with(fast, w, v)
    if m is model:
        return apply
    lat = m.grid.blocking.fine

    def apply_cast(v):
        vs = FermionField(lat, v.xp.ascontiguousarray(v.data.astype(lat.complex_dtype)))
        return v._new(apply(vs).data.astype(v.data.dtype))
    return apply_cast


class PackedMultigridSolver:
    """FGMRES with the multigrid model on the packed layout from end to end: the Krylov vectors and the outer
    operator (PackedWilson of D, in D's precision) packed, the model's smoother on packed fields
    (PackedDefectSmoother.run), only restriction and prolongation on the ordinary layout. Against FGMRES on
    FermionFields with preconditioner(..., packed=True) this saves the outer operator's time (8^3 x 16 on
    2 ranks: 0.50 -> 0.32-0.37 ms per D) and one layout conversion per iteration; the same iteration to
    rounding. applicable(model): a multigrid model with a defect-correction smoother where the packed
    kernels apply (host fields, local x extent % 8 == 0, AVX-512). basis="bf16": the model's block basis
    stored in bfloat16 (MultigridModel.in_precision)."""

    def __init__(self, D, model, weights, precision=None, basis="full"):
        from ..operators.packed import PackedWilson
        if not self.applicable(model):
            raise ValueError("PackedMultigridSolver: needs a multigrid model with a defect-correction smoother on "
                             "which the packed kernels apply (see packed_smoother)")
        if (precision is None or precision == model.grid.blocking.fine.precision) and basis == "full":
            m, w = model, weights
        else:
            m, w = model.in_precision(precision or model.grid.blocking.fine.precision, weights, basis=basis)
        self.model, self.A = m, PackedWilson(D)
        self.smoother = PackedDefectSmoother(m.smoother)
        self.wc, self.ws = m._split(w)
        if isinstance(m.coarse, CoarseSolve):  # its rows in the model's precision now, not in the first solve
            m.coarse.prepare(m.grid.blocking.fine.complex_dtype)

    @staticmethod
    def applicable(model):
        return isinstance(model, MultigridModel) and PackedDefectSmoother.applicable(model.smoother)

    def precondition(self, v, out=None):
        """M v for a PackedFermion v of the outer precision, returned in that precision (written into out, a
        PackedFermion like v, when given). The fine-grid intermediates (v in the model's precision, its unpacked
        copy, the prolongated u0 and its packed copy) live in buffers kept between calls."""
        P, m = self.smoother.D, self.model
        w = self._work(v)
        if v.data.dtype == P.U.dtype:
            vs = v
        else:
            core.convert(v.data, w["vs"].data)   # one OpenMP pass (np.copyto: one thread)
            vs = w["vs"]
        c = m.grid.restrict(P.unpack(vs, out=w["f"]))
        u = self.smoother.run(self.ws, P.pack(m.grid.prolong(m.coarse(self.wc, c), out=w["f"]), out=w["pu"]), vs)
        if out is None:
            return u.copy() if u.data.dtype == v.data.dtype else v._new(u.data.astype(v.data.dtype))
        core.convert(u.data, out.data)
        return out

    def _work(self, v):
        key = (v.data.shape, v.nvec, v.batched)
        if getattr(self, "_work_key", None) != key:
            P = self.smoother.D
            vs = v._new(aligned_empty(v.data.shape, P.U.dtype))
            f = P.unpack(vs)
            self._buffers, self._work_key = {"vs": vs, "f": f, "pu": vs.empty_like()}, key
        return self._buffers

    def solve(self, b, **kw):
        """fgmres(D, b, M=model) on the packed layout (keywords as fgmres'); returns the SolverResult with x a
        FermionField and seconds including the layout conversion of b and x."""
        import time
        t0 = time.perf_counter()
        r = fgmres(self.A, self.A.pack(b), M=self.precondition, M_out=True, **kw)
        r.x = self.A.unpack(r.x)
        r.seconds = time.perf_counter() - t0
        return r

    def solve_many(self, b, **kw):
        """The right-hand sides of the batched FermionField b (b.nvec of them) solved in lockstep
        (solvers.fgmres_multi: one application of the model and of D per step to the Krylov vectors of all of
        them; keywords as fgmres'). Returns one SolverResult per right-hand side, x a FermionField; `seconds` of
        each is the wall time of the whole batch, layout conversions included."""
        import time
        from ..solvers.fgmres_multi import fgmres_multi
        t0 = time.perf_counter()
        rs = fgmres_multi(self.A, self.A.pack(b), M=self.precondition, **kw)
        seconds = time.perf_counter() - t0
        for r in rs:
            r.x = self.A.unpack(r.x)
            r.seconds = seconds
        return rs
