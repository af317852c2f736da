"""The 4D lattice on a Cartesian MPI process grid."""
import numpy as np

from ..util.threads import balance_threads
from .grid import DecompositionError, auto_grid, check_decomposition, parse_mpi

_PRECISIONS = {"double": (np.complex128, np.float64), "single": (np.complex64, np.float32)}


def _world():
    from mpi4py import MPI
    return MPI.COMM_WORLD


def halo_overlap(cart, neighbours):
    """Whether the stencils overlap their halo exchange with the interior sites (lattice/halo.py users:
    stencil/run.py, operators/packed.py): GAUGENET_HALO_OVERLAP = always | never | auto (default). auto: only
    when a neighbour in the process grid runs on another node. Between ranks of one node MPI moves the faces
    by shared-memory copies inside the MPI calls, so nothing travels while the kernel runs and splitting it into
    interior and boundary passes only adds their cost (measured, 2 ranks on this 2-core machine, single: packed
    D at 8^3 x 16 229 -> 182 us, at 16^3 x 32 2.18 -> 2.00 ms; double even-odd M_pp 0.75 -> 0.71 ms).
    Collective over cart (a shared-memory split)."""
    import os
    from mpi4py import MPI
    mode = os.environ.get("GAUGENET_HALO_OVERLAP", "auto").strip().lower()
    if mode not in ("auto", "always", "never"):
        raise ValueError(f"GAUGENET_HALO_OVERLAP must be auto, always or never, got {mode!r}")
    if mode != "auto":
        return mode == "always"
    node = cart.Split_type(MPI.COMM_TYPE_SHARED)
    try:
        here = MPI.Group.Translate_ranks(node.Get_group(), list(range(node.Get_size())), cart.Get_group())
    finally:
        node.Free()
    here = set(here)
    return any(r != MPI.PROC_NULL and r not in here for r in neighbours)


class Lattice:
    """Global dims (Lx, Ly, Lz, Lt) split over a Cartesian process grid (Px, Py, Pz, Pt).

    mpi: None (chosen from the number of ranks, splitting t first, then z, y, x), a sequence
         or a string like "1.1.2.2".
    precision: "double" or "single".
    zero_boundary_links: communication avoidance (seed 000, Sec. II E): links that cross a
         rank boundary are treated as zero and no halo is ever exchanged.
    coarse: a coarse (multigrid) lattice: local extents may be odd or 1 (no even-odd there).
    """

    def __init__(self, dims, mpi=None, precision="double", comm=None, zero_boundary_links=False, coarse=False):
        dims = tuple(int(d) for d in dims)
        if len(dims) != 4 or min(dims) < 1:
            raise DecompositionError(f"lattice dims {dims} must be four positive extents (Lx, Ly, Lz, Lt)")
        if precision not in _PRECISIONS:
            raise ValueError(f"precision must be 'double' or 'single', got {precision!r}")
        self.dims = dims
        self.precision = precision
        self.complex_dtype = np.dtype(_PRECISIONS[precision][0])
        self.real_dtype = np.dtype(_PRECISIONS[precision][1])
        self.zero_boundary_links = bool(zero_boundary_links)
        self.coarse = bool(coarse)
        min_local = 1 if coarse else 2
        self.comm = comm if comm is not None else _world()
        n = self.comm.Get_size()
        grid = parse_mpi(mpi)
        if grid is None:
            grid = auto_grid(dims, n, min_local)
        elif int(np.prod(grid)) != n:
            raise DecompositionError(
                f"process grid {'.'.join(map(str, grid))} has {int(np.prod(grid))} ranks but the job runs on {n}")
        check_decomposition(dims, grid, min_local)
        self.grid = grid
        self.cart = self.comm.Create_cart(dims=list(grid), periods=[True] * 4, reorder=False)
        balance_threads(self.comm)  # once per process: the node's cores shared among its ranks
        self.rank = self.cart.Get_rank()
        self.size = n
        self.mpi_coords = tuple(self.cart.Get_coords(self.rank))
        self.local_dims = tuple(dims[mu] // grid[mu] for mu in range(4))
        self.local_volume = int(np.prod(self.local_dims))
        self.global_volume = int(np.prod(dims))
        self.origin = tuple(self.mpi_coords[mu] * self.local_dims[mu] for mu in range(4))
        self.local_shape = tuple(reversed(self.local_dims))  # (lt, lz, ly, lx)
        self.global_shape = tuple(reversed(dims))            # (Lt, Lz, Ly, Lx)
        self._halos = {}
        self._nbr_ranks = {}
        for mu in range(4):
            src, dst = self.cart.Shift(mu, 1)
            self._nbr_ranks[(mu, +1)] = dst
            self._nbr_ranks[(mu, -1)] = src
        self.overlap_halo = halo_overlap(self.cart, self._nbr_ranks.values())

    def __repr__(self):
        return (f"Lattice(dims={self.dims}, mpi={'.'.join(map(str, self.grid))}, precision={self.precision!r}"
                f"{', zero_boundary_links=True' if self.zero_boundary_links else ''})")

    def like(self, **changes):
        """A lattice with the same geometry and some settings changed (precision, zero_boundary_links)."""
        kw = dict(dims=self.dims, mpi=self.grid, precision=self.precision, comm=self.comm,
                  zero_boundary_links=self.zero_boundary_links, coarse=self.coarse)
        kw.update(changes)
        return Lattice(**kw)

    # ------------------------------------------------------------------ geometry
    def neighbour_rank(self, mu, sign):
        return self._nbr_ranks[(mu, sign)]

    def local_coordinates(self):
        """(V, 4) local coordinates (x, y, z, t) of the local sites in memory order."""
        lx, ly, lz, lt = self.local_dims
        t, z, y, x = np.meshgrid(np.arange(lt), np.arange(lz), np.arange(ly), np.arange(lx), indexing="ij")
        return np.stack([x.ravel(), y.ravel(), z.ravel(), t.ravel()], axis=1).astype(np.int64)

    def global_coordinates(self):
        """(V, 4) global coordinates (x, y, z, t) of the local sites in memory order."""
        return self.local_coordinates() + np.asarray(self.origin, dtype=np.int64)

    def local_index(self, c):
        lx, ly, lz, lt = self.local_dims
        return c[:, 0] + lx * (c[:, 1] + ly * (c[:, 2] + lz * c[:, 3]))

    def global_index(self):
        """Lexicographic global index x + Lx (y + Ly (z + Lz t)) of the local sites."""
        c = self.global_coordinates()
        Lx, Ly, Lz, Lt = self.dims
        return c[:, 0] + Lx * (c[:, 1] + Ly * (c[:, 2] + Lz * c[:, 3]))

    def parity(self):
        """(V,) 0 for even, 1 for odd global sites."""
        return (self.global_coordinates().sum(axis=1) % 2).astype(np.int8)

    def sites_of_parity(self, p):
        key = ("parity", p)
        if key not in self._halos:
            self._halos[key] = np.ascontiguousarray(np.nonzero(self.parity() == p)[0].astype(np.int32))
        return self._halos[key]

    def local_slice(self):
        """Slices of the global (t, z, y, x) array that this rank holds."""
        return tuple(slice(self.origin[mu], self.origin[mu] + self.local_dims[mu]) for mu in (3, 2, 1, 0))

    def checkerboard(self):
        """The (cached) Checkerboard: half-lattice tables and halos of the even-odd operators."""
        if "checkerboard" not in self._halos:
            from .checkerboard import Checkerboard
            self._halos["checkerboard"] = Checkerboard(self)
        return self._halos["checkerboard"]

    def halo(self, depth=1):
        """The (cached) Halo of this depth: neighbour tables, faces, message buffers."""
        if depth not in self._halos:
            from .halo import Halo
            self._halos[depth] = Halo(self, depth)
        return self._halos[depth]

    # ------------------------------------------------------------------ reductions
    def allreduce(self, x):
        """Sum of a scalar or small numpy array over all ranks (one MPI reduction)."""
        from mpi4py import MPI
        if np.isscalar(x) or np.ndim(x) == 0:
            return self.cart.allreduce(x, op=MPI.SUM)
        a = np.ascontiguousarray(x)
        out = np.empty_like(a)
        self.cart.Allreduce(a, out, op=MPI.SUM)
        return out

    def check(self, ok, message, exc=ValueError):
        """Collective error: raise `exc(message)` on every rank if `ok` is false on any rank."""
        from mpi4py import MPI
        bad = self.cart.allreduce(0 if ok else 1, op=MPI.SUM)
        if bad:
            err = exc(message if not ok else f"{message} (reported by another rank)")
            err.collective = True
            raise err

    # ------------------------------------------------------------------ global arrays
    def scatter_global(self, a, lead=0):
        """The local part of a global array given on every rank; `lead` leading axes are kept."""
        sl = (slice(None),) * lead + self.local_slice()
        return np.ascontiguousarray(a[sl])

    def scatter_from_root(self, a, lead=0, root=0, dtype=None, inner=None):
        """Distribute a global array held by `root` only (None elsewhere): each rank receives its
        local block (point-to-point, one message per rank; no rank but root holds the whole lattice).
        Other ranks must know dtype and the per-site shape `inner` (broadcast from root if not given)."""
        if self.rank == root:
            a = np.asarray(a)
            meta = (a.dtype.str, a.shape[:lead], a.shape[lead + 4:])
        else:
            meta = None
        dt, lead_shape, inner_shape = self.cart.bcast(meta, root=root)
        if self.rank == root:
            coords = self.cart.gather(self.origin, root=root)
            mine = None
            reqs, keep = [], []
            for r, org in enumerate(coords):
                sl = (slice(None),) * lead + tuple(slice(org[mu], org[mu] + self.local_dims[mu]) for mu in (3, 2, 1, 0))
                block = np.ascontiguousarray(a[sl])
                if r == root:
                    mine = block
                else:
                    keep.append(block)  # alive until sent
                    reqs.append(self.cart.Isend(block, dest=r, tag=77))
            from mpi4py import MPI
            MPI.Request.Waitall(reqs)
            return mine
        self.cart.gather(self.origin, root=root)
        out = np.empty(tuple(lead_shape) + self.local_shape + tuple(inner_shape), dtype=np.dtype(dt))
        self.cart.Recv(out, source=root, tag=77)
        return out

    def gather_global(self, local, lead=0, root=None):
        """Assemble the global array from the local parts: on every rank (root=None) or on `root`."""
        local = np.ascontiguousarray(local)
        lead_shape = local.shape[:lead]
        inner = local.shape[lead + 4:]
        if root is None:
            parts = self.cart.allgather(local)
            coords = self.cart.allgather(self.origin)
        else:
            parts = self.cart.gather(local, root=root)
            coords = self.cart.gather(self.origin, root=root)
            if self.rank != root:
                return None
        out = np.empty(lead_shape + self.global_shape + inner, dtype=local.dtype)
        for part, org in zip(parts, coords):
            sl = (slice(None),) * lead + tuple(
                slice(org[mu], org[mu] + self.local_dims[mu]) for mu in (3, 2, 1, 0))
            out[sl] = part
        return out
