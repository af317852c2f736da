"""The levels of the conventional aggregation multigrid (gaugenet.mg): one `Level` per grid, built
recursively from the finest one (shared/ARCHITECTURE.md, "Multigrid levels").

A Level holds the operator A of its grid in the precision (and, on the finest grid, the layout) the
cycle runs in, and, unless it is the coarsest, the transfer to the next Level: restriction R and
prolongation P = R^dag of a Blocking with a block-orthonormal basis of near-null vectors, and the next
Level, whose operator is the Galerkin product R A P. The two-level hierarchy is built from a
`models.multigrid.CoarseGrid` (blocks, block-orthonormal basis, compiled Galerkin operator), so the
conventional multigrid and the learned model share blocks, near-null space and coarse operator.
"""
import numpy as np

from ..coarse import Bf16Basis, Blocking, CoarseOperator
from ..fields import FermionField

PRECISIONS = ("single", "double")


def cast_operator(D, precision):
    """The Wilson(-clover) operator D on a copy of its gauge field in `precision` (D itself if it is in it)."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if D.lat.precision == precision:
        return D
    lat = D.lat.like(precision=precision)
    U = D.U
    Uc = type(U)(lat, U.xp.ascontiguousarray(U.data.astype(lat.complex_dtype)))
    kw = dict(mass=D.mass, boundary_phases=D.links.boundary_phases, zero_boundary_links=D.links.zero_boundary)
    if hasattr(D, "csw"):
        kw["csw"] = D.csw
    return type(D)(Uc, **kw)


class Transfer:
    """R and P between the vectors of a level (FermionFields, or PackedFermions through `packer`, a
    PackedWilson that converts layouts) and the CoarseFields of the next one."""

    def __init__(self, blocking, basis, packer=None):
        self.blocking, self.basis, self.packer = blocking, basis, packer
        self._f = None
        if packer is not None:      # the unpacked fine vector between R / P and the packed layout, kept
            fine = blocking.fine
            self._f = FermionField(fine, np.zeros(fine.local_shape + (4, basis.N), dtype=fine.complex_dtype))

    def restrict(self, v):
        if self.packer is None:
            return self.blocking.project(v, self.basis)
        if v.batched:
            raise ValueError("Transfer: packed vectors are restricted one at a time")
        return self.blocking.project(self.packer.unpack(v, out=self._f), self.basis)

    def prolong(self, c):
        if self.packer is None:
            return self.blocking.promote(c, self.basis)
        return self.packer.pack(self.blocking.promote(c, self.basis, out=self._f))


class Level:
    """A grid of the hierarchy: operator A (callable on this level's vectors), and transfer / coarse (the next
    Level) unless it is the coarsest. depth 0 is the finest grid."""

    def __init__(self, A, transfer=None, coarse=None, depth=0, grid=None):
        if (transfer is None) != (coarse is None):
            raise ValueError("Level: give both the transfer and the coarse level, or neither")
        self.A, self.transfer, self.coarse, self.depth, self.grid = A, transfer, coarse, depth, grid

    @property
    def levels(self):
        return 1 + (self.coarse.levels if self.coarse is not None else 0)

    @property
    def coarsest(self):
        return self.coarse is None


def two_level(D, grid, precision="single", packed=True, basis="full"):
    """The two-level hierarchy on the CoarseGrid `grid` of D (same blocks, basis and Galerkin operator), run in
    `precision`. packed: the fine level on the packed eight-site-block layout where it applies (host fields,
    local x extent % 8 == 0; operators/packed.py), its vectors PackedFermions. basis: "full" or "bf16" (the
    basis of a single-precision fine level stored in bfloat16, coarse/bf16.py; the Galerkin operator keeps the
    exact basis). Returns (finest Level, whether the fine level is packed)."""
    from ..solvers.baselines import packed_applicable
    if grid.D.lat.dims != D.lat.dims or grid.blocking.fine.grid != D.lat.grid:
        raise ValueError("two_level: the coarse grid was built on another lattice or process grid than the operator")
    if basis not in ("full", "bf16"):
        raise ValueError(f"basis storage must be 'full' or 'bf16', got {basis!r}")
    Dp = cast_operator(D, precision)
    if Dp is D:                        # the grid's own blocking, basis and coarse operator
        blocking, B, op = grid.blocking, grid.basis, grid.op
    else:                              # cast copies on the lattice of the cast operator
        blocking = Blocking(Dp.lat, grid.blocking.block)
        B = FermionField(Dp.lat, grid.basis.xp.ascontiguousarray(grid.basis.data.astype(Dp.lat.complex_dtype)))
        op = CoarseOperator(blocking.coarse, grid.op.A)
    if basis == "bf16":
        if precision != "single":
            raise ValueError("basis='bf16' needs precision='single' (the basis of a double-precision level stays "
                             "in double)")
        B = Bf16Basis(B)
    coarse = Level(op, depth=1)
    use_packed = bool(packed) and packed_applicable(Dp)
    if use_packed:
        from ..operators.packed import PackedWilson
        A = PackedWilson(Dp)
        return Level(A, Transfer(blocking, B, packer=A), coarse, grid=grid), True
    return Level(Dp, Transfer(blocking, B), coarse, grid=grid), False


def three_level(D, grid, block, n_basis, precision="single", packed=True, basis="full", seed=29, nn_tol=1e-3,
                nn_maxiter=200):
    """two_level plus a third grid: n_basis near-null vectors of the Galerkin operator of `grid` (GMRES on
    D~ u = 0 from random vectors, mg.coarse_level.coarse_near_null), blocked by `block` coarse sites, and their
    Galerkin operator D~~ (mg.coarse_level.CoarseGridOf). Returns (finest Level, packed, the third grid)."""
    from .coarse_level import CoarseBlocking, CoarseGridOf, coarse_near_null
    fine, is_packed = two_level(D, grid, precision=precision, packed=packed, basis=basis)
    grid2 = CoarseGridOf(grid.op, block, coarse_near_null(grid.op, n_basis, seed=seed, tol=nn_tol,
                                                          maxiter=nn_maxiter))
    mid = fine.coarse
    if mid.A is grid.op:                         # the cycle runs in the grid's precision
        blocking, B, op = grid2.blocking, grid2.basis, grid2.op
    else:
        lat = mid.A.lat
        blocking = CoarseBlocking(lat, block)
        B = type(grid2.basis)(lat, np.ascontiguousarray(grid2.basis.data.astype(lat.complex_dtype)))
        op = CoarseOperator(blocking.coarse, grid2.op.A)
    fine.coarse = Level(mid.A, Transfer(blocking, B), Level(op, depth=2), depth=1, grid=grid2)
    return fine, is_packed, grid2
