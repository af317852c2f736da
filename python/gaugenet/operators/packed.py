"""The Wilson(-clover) operator on fermions in the packed eight-site-block layout.

The fields of CONVENTIONS.md store each site's numbers together. The eight-lane CPU kernel for that
layout (kernels/wilson_simd.h) transposes the spinors and links of eight sites in registers for every
hop, and on the AVX-512 machine of docs/performance.md those shuffles cost as much time as the memory
traffic. In the packed layout (kernels/wilson_packed.h) eight consecutive x-sites share one SIMD
register per real number, so the kernel needs no transposes at all: a real array of shape
(V/8, nvec * 8N, 8) per fermion, with links and clover blocks packed once per gauge field.

Use it where one operator is applied many times, e.g. a Krylov solve::

    P = PackedWilson(D)             # D: Wilson or WilsonClover on a host lattice, local x extent % 8 == 0
    b = P.pack(psi)                 # PackedFermion
    x = bicgstab(P, b).x            # the Krylov solvers take PackedFermion like FermionField (D x = b)
    sol = P.unpack(x)               # back to a FermionField

PackedOneHop does the same for the one-hop stencil with global spin-matrix weights (the PTC layer's forward,
and with apply_grad its backward; gaugenet.ml.ptc_packed.PackedPTC wraps a layer).

Results agree with D to rounding on any process grid; halos stay in the ordinary layout and are
exchanged while the interior blocks are computed. Where the kernel is not compiled (a CPU without
AVX-512), the same interface runs D on unpacked copies.
"""
import numpy as np

from .._backend import core
from ..fields import FermionField
from ..fields.base import VectorArithmetic
from ..util.memory import aligned_empty


def _pack(a, V):
    """A (V, ...) array (complex or real) -> a packed real array (V/8, R, 8), R reals per site."""
    real = np.dtype(a.dtype.char.lower()) if a.dtype.kind == "c" else a.dtype
    R = a.nbytes // (V * real.itemsize)
    out = aligned_empty((V // 8, R, 8), real)
    core.pack8(np.ascontiguousarray(a), out, V)
    return out


def compress_clover(blocks, V, N, lat=None):
    """Clover blocks (V, 2, 2N, 2N), hermitian -> (V, 8 N^2) reals per site, the layout of
    WilsonPacked::cupper in kernels/wilson_packed.h: per block the 2N real diagonal entries, then the
    upper triangle row by row as (re, im). Half the bytes of the full blocks. Non-hermitian blocks are
    refused (ValueError; on every rank of `lat` when given, if any rank has them)."""
    M = 2 * N
    c = np.asarray(blocks).reshape(V, 2, M, M)
    dev = float(np.abs(c - np.conj(np.swapaxes(c, -1, -2))).max())
    scale = max(float(np.abs(c).max()), 1e-300)
    tol = 1e-5 if c.dtype == np.complex64 else 1e-12
    msg = (f"PackedWilson: the clover blocks are not hermitian (|C - C^dag| = {dev:.3e}, |C| = {scale:.3e}); the "
           f"packed layout stores them compressed")
    if lat is not None:
        lat.check(dev <= tol * scale, msg)
    elif dev > tol * scale:
        raise ValueError(msg)
    iu = np.triu_indices(M, 1)
    up = c[:, :, iu[0], iu[1]]                                   # (V, 2, M(M-1)/2) complex
    out = np.empty((V, 2, M * M), dtype=c.real.dtype)
    out[:, :, :M] = np.real(np.diagonal(c, axis1=-2, axis2=-1))
    out[:, :, M:] = np.ascontiguousarray(up).view(c.real.dtype).reshape(V, 2, -1)
    return out.reshape(V, -1)


class PackedFermion(VectorArithmetic):
    """A Wilson fermion (or a batch of nvec) in the packed layout; the vector operations the Krylov
    solvers use (inner, norm2, axpy, xpay, +, -, scalar *), each with one global reduction."""

    def __init__(self, lat, data, N, nvec=1, batched=False):
        self.lat, self.data, self.N, self.nvec, self.batched = lat, data, N, nvec, batched

    def _new(self, data):
        return PackedFermion(self.lat, data, self.N, self.nvec, self.batched)

    xp = np        # host arrays only (the Krylov solvers ask)
    packed = True  # real arrays in the packed layout: FGMRES's Gram-Schmidt kernels pair the parts accordingly

    def zeros_like(self):
        out = aligned_empty(self.data.shape, self.data.dtype)
        out[...] = 0
        return self._new(out)

    def empty_like(self):
        return self._new(aligned_empty(self.data.shape, self.data.dtype))

    def copy(self):
        out = aligned_empty(self.data.shape, self.data.dtype)
        out[...] = self.data
        return self._new(out)

    def inner(self, other):
        """<self, other> = sum conj(self) other over the global lattice."""
        return complex(self.lat.allreduce(core.packed_dot(self.data, other.data)))

    def norm2(self):
        d = self.data.ravel()
        return float(self.lat.allreduce(float(np.vdot(d, d))))

    def norm(self):
        return float(np.sqrt(self.norm2()))

    def _scaled(self, s):
        out = self.zeros_like()
        core.packed_axpy(out.data, complex(s), self.data)
        return out.data

    def axpy(self, a, x, norm=False):
        """self += a x (in place, one pass); with norm=True returns the global |self|^2 of the result."""
        loc = core.packed_axpy(self.data, complex(a), x.data, norm)
        return float(self.lat.allreduce(loc)) if norm else self

    def xpay(self, b, x):
        """self = x + b self (in place, one pass)."""
        core.packed_xpay(self.data, complex(b), x.data)
        return self

    def __repr__(self):
        return f"PackedFermion(lattice={self.lat.dims}, N={self.N}, nvec={self.nvec}, dtype={self.data.dtype})"


class _PackedStencil:
    """Packed links of a StencilLinks, the halo (exchanged in the ordinary layout) and the schedule:
    post the faces, interior blocks, wait, boundary blocks."""

    def __init__(self, links, who, share=None, two_rows=False):
        """two_rows: False, True or 'auto' (see PackedWilson); with 'auto' and `share` holding these links,
        share's choice."""
        lat = links.lat
        if hasattr(links.U, "__cuda_array_interface__"):
            raise ValueError(f"{who}: the packed layout is a CPU layout; the gauge field is on the GPU")
        if lat.local_dims[0] % 8:
            raise ValueError(f"{who}: the local x extent must be a multiple of 8, got {lat.local_dims[0]} "
                             f"(lattice {lat.dims} on process grid {lat.grid})")
        self.lat, self.N = lat, links.N
        self.V = lat.local_volume
        self.halo = links.halo
        self.zero_boundary = links.zero_boundary
        self.split = tuple(bool(lat.grid[mu] > 1) for mu in range(4))
        self.native = bool(core.packed_available())
        self.links = links
        # links [V/8][4][2N^2][8]: the four directions of a block together (one stream, not four); with
        # two_rows [V/8][4][4N][8], the first two rows of SU(3) links; taken from `share` (another packed
        # stencil) when it holds the same links (same phases, boundary mode and storage)
        if share is not None and isinstance(two_rows, str) and two_rows == "auto" and share.shares_links(
                links, share.two_rows):
            two_rows = share.two_rows
        self.two_rows, dets = _choose_two_rows(links, two_rows, who)
        self.boundary_det = dets if self.two_rows else []
        if share is not None and share.shares_links(links, self.two_rows):
            self.U = share.U
        else:
            self.U = self._pack_links(links.U)
        self.U_halo = links.U_halo
        self._halo_bufs = {}

    def _pack_links(self, U):
        """Links (4, V, N, N) in the packed storage [V/8][4][rows N 2][8] (the first two rows with two_rows)."""
        U = np.moveaxis(U, 0, 1)                                   # (V, 4, N, N)
        if self.two_rows:
            U = U[:, :, :2, :]
        return _pack(np.ascontiguousarray(U).reshape(self.V, -1), self.V)

    def shares_links(self, links, two_rows=False):
        """Whether links (a StencilLinks) are the ones packed here (same values, boundary mode and precision)
        in the same storage (all rows, or two_rows)."""
        mine = self.links
        if bool(two_rows) != self.two_rows:
            return False
        return links is mine or (links.lat.dims == mine.lat.dims and links.lat.grid == mine.lat.grid
                                 and links.zero_boundary == mine.zero_boundary and links.U.shape == mine.U.shape
                                 and links.U.dtype == mine.U.dtype and bool(np.array_equal(links.U, mine.U)))

    def _halo_buffer(self, nvec):
        buf = self._halo_bufs.get(nvec)
        if buf is None:
            buf = np.zeros((self.halo.Vh, nvec, 4, self.N), dtype=self.lat.complex_dtype)
            self._halo_bufs[nvec] = buf
        return buf

    def _run(self, kernel, x):
        """kernel(halo, U_halo, split, part) once (no halo, or zero-boundary links) or twice, overlapped with
        the exchange of x's faces."""
        h = self.halo
        if h.Vh == 0:
            kernel(None, None, (False,) * 4, 0)
            return
        buf = self._halo_buffer(x.nvec)
        if self.zero_boundary:  # zero halo, never written: no messages
            kernel(buf, self.U_halo, self.split, 0)
            return
        handle = h.start(x.data, buf, zero_boundary=False, packed=True)
        if not self.lat.overlap_halo:   # the faces move inside the MPI calls (one node): one pass after the wait
            h.finish(handle)
            kernel(buf, self.U_halo, self.split, 0)
            return
        kernel(buf, self.U_halo, self.split, 1)  # blocks with no neighbour in the halo, while the faces travel
        h.finish(handle)
        kernel(buf, self.U_halo, self.split, 2)

    def _check(self, x, who):
        if not isinstance(x, PackedFermion):
            raise TypeError(f"{who} acts on PackedFermion (see pack()), got {type(x).__name__}")
        if x.N != self.N or x.lat.dims != self.lat.dims or x.data.dtype != self.U.dtype:
            raise ValueError(f"{who}: the fermion's colours, lattice or precision differ from the operator's")

    # ------------------------------------------------------------------ layout conversion
    def pack(self, psi, out=None):
        """FermionField (optionally batched) -> PackedFermion (written into the PackedFermion `out` when given)."""
        name = type(self).__name__
        if not isinstance(psi, FermionField):
            raise TypeError(f"{name}.pack takes a FermionField, got {type(psi).__name__}")
        if psi.N != self.N or psi.lat.dims != self.lat.dims:
            raise ValueError(f"{name}.pack: the fermion's colours or lattice differ from the operator's")
        if psi.on_device:
            raise ValueError(f"{name}.pack: the packed layout is a CPU layout; the fermion is on the GPU")
        if out is None:
            return PackedFermion(self.lat, _pack(psi.data.reshape(self.V, -1), self.V), self.N, psi.nvec, psi.batched)
        real = np.dtype(psi.data.dtype.char.lower())
        if (not isinstance(out, PackedFermion) or out.data.dtype != real or out.data.nbytes != psi.data.nbytes
                or not out.data.flags.c_contiguous):
            raise ValueError(f"{name}.pack: out must be a contiguous PackedFermion of the fermion's size and precision")
        core.pack8(np.ascontiguousarray(psi.data.reshape(self.V, -1)), out.data, self.V)
        return out

    def unpack(self, x, out=None):
        """PackedFermion -> FermionField (written into the FermionField `out` when given)."""
        shape = self.lat.local_shape + ((x.nvec,) if x.batched else ()) + (4, self.N)
        if out is None:
            dst = np.empty(shape, dtype=self.lat.complex_dtype)
        else:
            dst = out.data
            if (not isinstance(out, FermionField) or dst.shape != shape or dst.dtype != self.lat.complex_dtype
                    or not dst.flags.c_contiguous or not isinstance(dst, np.ndarray)):
                raise ValueError(f"{type(self).__name__}.unpack: out must be a contiguous host FermionField of shape "
                                 f"{shape} and dtype {self.lat.complex_dtype}")
        core.unpack8(x.data, dst, self.V)
        return out if out is not None else FermionField(self.lat, dst)


def boundary_dets(links):
    """Per direction, the determinant of the links of this rank's slice x_mu = local L_mu - 1 relative to
    SU(3): exp(3 i theta_mu) where that slice is the global boundary with a phase folded in, else 1."""
    lat = links.lat
    return [complex(np.exp(3j * th)) if (th != 0.0 and lat.mpi_coords[mu] == lat.grid[mu] - 1) else 1.0 + 0.0j
            for mu, th in enumerate(links.boundary_phases)]


def two_row_deviation(links, dets):
    """max |U_2j - det conj(U_0k U_1l - U_0l U_1k)| over the local links (0 for SU(3) links with the boundary
    phases of `dets`): how far rebuilding the third row from the first two would change the operator."""
    U = np.moveaxis(links.U, 0, 1)                                # (V, 4, 3, 3)
    third = np.conj(np.cross(U[:, :, 0, :], U[:, :, 1, :]))       # (V, 4, 3)
    loc = links.lat.local_coordinates()
    for mu, d in enumerate(dets):
        if d != 1.0:
            third[loc[:, mu] == links.lat.local_dims[mu] - 1, mu] *= d
    return float(np.abs(U[:, :, 2, :] - third).max()) if U.size else 0.0


def _choose_two_rows(links, two_rows, who):
    """Collective choice of the link storage of a packed stencil (see PackedWilson): (use, boundary dets)."""
    if two_rows is False or two_rows is None:
        return False, None
    if not (two_rows is True or (isinstance(two_rows, str) and two_rows == "auto")):
        raise ValueError(f"{who}: two_rows must be True, False or 'auto', got {two_rows!r}")
    lat = links.lat
    if links.N != 3:
        if two_rows is True:
            raise ValueError(f"{who}: two-row links are for SU(3), the links are SU({links.N})")
        return False, None
    from mpi4py import MPI
    dets = boundary_dets(links)
    tol = 1e-5 if links.U.dtype == np.complex64 else 1e-12
    dev = lat.cart.allreduce(two_row_deviation(links, dets), op=MPI.MAX)
    if not dev <= tol:  # (NaN links too)
        if two_rows is True:
            raise ValueError(f"{who}: two_rows=True needs SU(3) links (det 1 up to the boundary phases); "
                             f"the third rows differ from the rebuilt ones by up to {dev:.3e} (tolerance {tol:g})")
        return False, None
    return True, dets



class PackedWilson(_PackedStencil):
    """The operator D (a Wilson or WilsonClover, same mass, clover term and boundary phases) on
    PackedFermion: P(x), P.adjoint(x), P.MdagM(x), P.hop(x); P.pack / P.unpack convert fermions.

    two_rows: store only the first two rows of each SU(3) link and rebuild the third in the kernel
    (U_2j = det conj(U_0k U_1l - U_0l U_1k)): 2/3 of the link traffic, 6-20% less time out of cache.
    'auto' (default) does so where N = 3 and all links are SU(3) to 1e-12 (single precision 1e-5) up to the
    boundary phases (decided on all ranks together; P.two_rows says which); True insists (ValueError
    otherwise), False keeps all rows.

    doubled_links: also store U_mu(x - mu) with every site (the layout of Grid's doubled gauge field, in the same
    storage), so that the backward hops read their links from the block's own sequential stream: twice the link
    memory and link bytes, fewer scattered streams (docs/performance.md, "Doubled links": measured slower here,
    kept for the comparison)."""

    def __init__(self, D, two_rows="auto", doubled_links=False):
        super().__init__(D.links, "PackedWilson", two_rows=two_rows)
        self.D = D
        self.U_doubled = self._doubled() if doubled_links and self.native else None
        self.mass, self.csw = D.mass, D.csw
        self.clover = None if D.clover is None else _pack(compress_clover(D.clover, self.V, self.N, self.lat), self.V)

    def _doubled(self):
        """U_mu(x - mu) of every local site (local periodic wrap: the kernel gathers the hops across a split
        direction's edge through the halo), packed like self.U."""
        lat, N = self.lat, self.N
        U = self.links.U.reshape((4,) + tuple(lat.local_dims[::-1]) + (N, N))     # (mu, t, z, y, x, N, N)
        back = np.stack([np.roll(U[mu], 1, axis=3 - mu) for mu in range(4)])      # U_mu(x - mu)
        return self._pack_links(back.reshape(4, self.V, N, N))

    # ------------------------------------------------------------------ application
    def apply(self, x, dagger=False, diag=None, hop_coef=-0.5, use_clover=True, out=None, residual_of=None):
        """D x (dagger: D^dag x; diag, hop_coef, use_clover: the kernel's site term and hopping coefficient, as
        Wilson._apply); out: a PackedFermion to write into; residual_of=b: b - D x instead, in the same pass."""
        self._check(x, "PackedWilson")
        res = out if out is not None else x.empty_like()
        if res.data is x.data or res.data.shape != x.data.shape:
            raise ValueError("PackedWilson: out must be a distinct PackedFermion of the input's shape")
        if residual_of is not None:
            self._check(residual_of, "PackedWilson residual_of")
            if residual_of.data.shape != x.data.shape or residual_of.data is res.data:
                raise ValueError("PackedWilson: residual_of must be a PackedFermion shaped like the input, not out")
        b = None if residual_of is None else residual_of.data
        clover = self.clover if (use_clover and diag is None) else None
        d = (4.0 + self.mass) if diag is None else float(diag)
        if not self.native:  # no AVX-512 build: the same operator on the ordinary layout
            y = self.D._apply(self.unpack(x), dagger=dagger, diag=diag, hop_coef=hop_coef, use_clover=use_clover)
            core.pack8(y.data.reshape(self.V, -1), res.data, self.V)
            if b is not None:
                np.subtract(b, res.data, out=res.data)
            return res
        self._run(lambda halo, U_halo, split, part: core.wilson_packed(
            res.data, x.data, halo, self.U, U_halo, self.halo.nbr, self.lat.local_dims, split, clover, d, hop_coef,
            x.nvec, self.N, dagger, part, self.two_rows, self.boundary_det, add=b, sub=True,
            U_doubled=self.U_doubled), x)
        return res

    def __call__(self, x):
        return self.apply(x)

    M = __call__

    def adjoint(self, x):
        return self.apply(x, dagger=True)

    Mdag = adjoint

    def MdagM(self, x):
        return self.adjoint(self(x))

    def hop(self, x, dagger=False, out=None):
        """The pure hopping term -1/2 sum_mu [...] (no site term)."""
        return self.apply(x, dagger=dagger, diag=0.0, use_clover=False, out=out)


class PackedOneHop(_PackedStencil):
    """The one-hop stencil of gaugenet.stencil.OneHop for Wilson-type fermions (ns = 4) with weights that are
    the same on every site - the PTC layer's forward - on PackedFermion:

        out[x, r, a] = sum_{k=0..8} sum_b W_k[a, b] U_k(x) in[x + k, r, b]

    links: a gaugenet.stencil.StencilLinks (boundary phases, zero-boundary mode); nin, nout: 1 to 4 features;
    W: (9, nout, nin, 4, 4). The input's batch is nrhs * nin vectors (rhs outermost), the result's nrhs * nout.
    two_rows: the link storage, as for PackedWilson (default 'auto').
    Without the AVX-512 kernel the same interface runs OneHop on unpacked copies."""

    def __init__(self, links, nin=1, nout=1, share=None, two_rows="auto"):
        if not (1 <= nin <= 4 and 1 <= nout <= 4):
            raise ValueError(f"PackedOneHop: 1 to 4 input and output features, got nin={nin}, nout={nout}")
        super().__init__(links, "PackedOneHop", share, two_rows)
        self.nin, self.nout = nin, nout

    def __call__(self, x, W, out=None, add=None):
        """The stencil of x; out: a PackedFermion to write into; add: a PackedFermion shaped like the result
        (it may be out itself) that the stencil is added to in the same pass."""
        return self._apply(x, W, out, None, None, None, add)

    def apply_grad(self, x, W, site, G, out=None, slots=None):
        """The stencil (returned, as __call__) fused with the weight gradient the PTC backward needs:

            G[k, b, a] += sum_x sum_r sum_colour (U_k x_b)(x + k)[s, c] conj(site_a(x)[t, c])

        site: PackedFermion like the result (nrhs * nout vectors); G: complex128 (9, nin, nout, 4, 4),
        this rank's sum added in place (no allreduce); slots: the slots to run and differentiate
        (default: those with nonzero weights)."""
        self._check(site, "PackedOneHop.apply_grad")
        if G.shape != (9, self.nin, self.nout, 4, 4) or G.dtype != np.complex128 or not G.flags.c_contiguous:
            raise ValueError(f"PackedOneHop.apply_grad: G must be a C-contiguous complex128 array of shape "
                             f"(9, {self.nin}, {self.nout}, 4, 4)")
        mask = -1 if slots is None else sum(1 << int(k) for k in set(slots))
        return self._apply(x, W, out, site, G, mask)

    def _apply(self, x, W, out, site, G, mask, add=None):
        self._check(x, "PackedOneHop")
        W = np.ascontiguousarray(np.asarray(W), dtype=self.lat.complex_dtype)
        if W.shape != (9, self.nout, self.nin, 4, 4):
            raise ValueError(f"PackedOneHop: weights of shape {W.shape}, want (9, {self.nout}, {self.nin}, 4, 4)")
        if x.nvec % self.nin:
            raise ValueError(f"PackedOneHop: the input's {x.nvec} vectors are not a multiple of nin={self.nin}")
        nrhs = x.nvec // self.nin
        nvec = nrhs * self.nout
        shape = (self.V // 8, nvec * 8 * self.N, 8)
        if site is not None and site.data.shape != shape:
            raise ValueError(f"PackedOneHop.apply_grad: site must hold {nvec} vectors ({nrhs} rhs x {self.nout} "
                             f"features), got {site.nvec}")
        res = out if out is not None else PackedFermion(self.lat, aligned_empty(shape, self.U.dtype), self.N, nvec,
                                                        x.batched or nvec > 1)
        if res.data is x.data or res.data.shape != shape or (site is not None and res.data is site.data):
            raise ValueError(f"PackedOneHop: out must be a distinct PackedFermion of shape {shape}")
        if add is not None:
            self._check(add, "PackedOneHop add")
            if add.data.shape != shape or add.data is x.data:
                raise ValueError(f"PackedOneHop: add must be a PackedFermion of shape {shape}, not the input")
        if not self.native:
            kept = None if add is None or add.data is not res.data else add.data.copy()
            self._apply_unpacked(x, W, res, site, G, mask, nrhs)
            if add is not None:
                res.data += add.data if kept is None else kept
            return res
        sd = None if site is None else site.data
        self._run(lambda halo, U_halo, split, part: core.onehop_packed(
            res.data, x.data, halo, self.U, U_halo, self.halo.nbr, self.lat.local_dims, split, W, nrhs, self.nin,
            self.nout, self.N, part, site=sd, G=G, mask=-1 if mask is None else mask, two_rows=self.two_rows,
            boundary_det=self.boundary_det, add=None if add is None else add.data), x)
        return res

    def _apply_unpacked(self, x, W, res, site, G, mask, nrhs):
        """Fallback without the AVX-512 kernel: OneHop (core.hop / core.hop_grad) on unpacked copies."""
        from ..stencil.onehop import OneHop
        op = OneHop(self.links, 4, self.nin, self.nout)
        hops = None if mask is None or mask < 0 else [k for k in range(9) if (mask >> k) & 1]
        src = self.unpack(x).data.reshape(self.V, -1)
        if site is None:
            y = op.apply_array(src, W, nrhs, hops=hops)
        else:
            y = op.apply_grad(src, W, nrhs, self.unpack(site).data.reshape(self.V, -1), G, hops=hops)
        core.pack8(y.reshape(self.V, -1), res.data, self.V)
        return res
