"""Parallel-transport convolutions (seed 000, eqs. 11-12; shared/CONVENTIONS.md "Learned preconditioners"):

    PTC:   psi_a(x) = sum_b sum_p W_a^{bp}    (T_p phi_b)(x)     W a 4x4 spin matrix per (a, b, p)
    LPTC:  psi_a(x) = sum_b sum_p W_a^{bp}(x) (T_p phi_b)(x)     one such matrix per site as well

Layout. Weights: PTC [W] with W of shape (P, n_out, n_in, 4, 4), W[p, a, b, s, t] = (W_a^{bp})_{st};
LPTC [W] with W of shape (V, P, n_out, n_in, 4, 4), V the local volume in memory order (t, z, y, x).
Fields: FermionField whose batch axis holds nrhs * n_in vectors, right-hand side outermost and the
feature innermost (index r * n_in + b); the output holds nrhs * n_out.

Forward. Paths are grouped by prefix (gaugenet.ml.paths): one OneHop call per group on T_q phi with
all of the group's paths in their stencil slots. One-hop paths (the 8 hops and the zero path) form a
single group: the whole layer is one OneHop call; longer paths add one single-hop transport per
distinct prefix (computed once per call and shared between the paths that start with it).

Backward, projected_gradient_adj(W, phi, left) for C = Re <left, psi> (gaugenet.ml.layer):
    dC/dW_p = sum_x left(x) (T_p phi)(x)^dag   summed over colour, right-hand sides (and, for PTC,
                                               over the lattice: one allreduce)
    dC/dphi = L^dag left = sum_p T_p^dag W_p^dag left,   T_p^dag = T_{p^-1}
PTC on host arrays: per prefix group q one fused kernel (core.hop_grad, OneHop.apply_grad) on left
with the adjoint group weights; for a path p = q + (k,), sum_x left(x) (H_k T_q phi)(x)^dag =
sum_y (H_k' left)(y) (T_q phi)(y)^dag (k' the reversed hop), so E = H_k' left, formed site by site,
gives both dW_p (summed in the kernel, then one allreduce) and the group's part of L^dag left; the
parts are then transported by T_q^dag as in adjoint(). Device arrays (and fused_gradient = False):
sum_x left(x) (T_p phi)(x)^dag = sum_y (T_{p^-1} left)(y) phi(y)^dag with left transported along the
inverse paths (E_p = T_{p^-1} left), copied with colour next to the site index, and both gradients as
GEMMs over all sites, right-hand sides and colours: dW_p = E_p^T conj(phi) and dphi = sum_p E_p (W_p^dag).
LPTC needs dW_p(x) per site: phi is transported along the paths (T_p phi), the results are stacked
and contracted with left site by site (one batched matmul); dphi = adjoint(W, left), the adjoint
stencil below. Work arrays (transported fields, transposed copies, stacked and shifted weights)
are kept in the layer and reused between calls; returned arrays are always new.

Adjoint layer (adjoint()). For a group q with slot k of path p, the forward term is
W_p(x) U_k(x) f(x + e_k) with f = T_q phi (e_k the displacement of slot k, U_k the link factor).
Its adjoint is g(y) -> U_k'(y) W_p(y + e_k')^dag g(y + e_k') with k' the reversed hop: the same
one-hop stencil with the reversed slot and the spin matrices conjugate-transposed (features swapped:
W'[k'][b, a] = W_p[a, b]^dag). For LPTC the weight of hop k moves to the neighbour the reversed hop
fetches from, W'_k'(y) = W_p(y + e_k')^dag (a halo exchange of the weights when the lattice is split,
none in zero-boundary-link mode: there the crossing links are zero). Then T_q^dag is applied to the
group results, shared over the prefix tree (Transporter.adjoint_sum).
"""
import numpy as np

from .._backend import array_module, core, to_host
from ..fields import FermionField, GaugeField
from ..stencil import OneHop, StencilLinks
from ..stencil.onehop import NHOPS, SITE
from .layer import Layer
from .parameters import random_global, random_per_site
from .paths import PathSet, Transporter, inverse_hop


def _reverse_slot(k):
    """The slot of the reversed hop: 2 mu <-> 2 mu + 1; the site slot stays."""
    return k if k == SITE else k ^ 1


class _TransportConvolution(Layer):
    per_site = False

    def __init__(self, U, n_in, n_out, paths, zero_boundary_links=None, boundary_phases=(0.0, 0.0, 0.0, 0.0)):
        name = type(self).__name__
        if not isinstance(U, GaugeField):
            raise TypeError(f"{name}: U must be a GaugeField, got {type(U).__name__}")
        for what, n in (("n_in", n_in), ("n_out", n_out)):
            if int(n) != n or n < 1:
                raise ValueError(f"{name}: {what} must be a positive integer, got {n!r}")
        self.U, self.lat, self.N = U, U.lat, U.N
        self.n_in, self.n_out = int(n_in), int(n_out)
        self.paths = PathSet(paths)
        self.links = StencilLinks(U, boundary_phases, zero_boundary=zero_boundary_links)
        self.zero_boundary = self.links.zero_boundary
        self.stencil = OneHop(self.links, ns=4, nin=self.n_in, nout=self.n_out)
        self.stencil_adj = OneHop(self.links, ns=4, nin=self.n_out, nout=self.n_in)
        self.transport = Transporter(self.links)
        self._crossing = {}
        self._buffers = {}

    def _scratch(self, name, like=None, shape=None, dtype=None):
        """A reusable work array (kept between calls: fresh allocations of field-sized arrays cost more
        than a one-hop kernel in page faults). Never returned to the caller."""
        xp = array_module(like)
        shape = tuple(like.shape) if shape is None else tuple(shape)
        dtype = like.dtype if dtype is None else dtype
        key = (name, xp.__name__)
        buf = self._buffers.get(key)
        if buf is None or buf.shape != shape or buf.dtype != dtype:
            buf = xp.empty(shape, dtype=dtype)
            self._buffers[key] = buf
        return buf

    def release_buffers(self):
        """Free the work arrays kept between calls (for LPTC about three times the weights' size)."""
        self._buffers.clear()

    # ------------------------------------------------------------------ shapes and weights
    @property
    def n_paths(self):
        return len(self.paths)

    @property
    def _per_path(self):
        return (self.n_out, self.n_in, 4, 4)

    @property
    def weight_shapes(self):
        lead = (self.lat.local_volume,) if self.per_site else ()
        return [lead + (self.n_paths,) + self._per_path]

    def flops_per_site(self, backward=False):
        """Flops per site and right-hand side of the minimal algorithm, 8 per complex multiply-add:
        forward 8 [hops n_in 4 N^2 (link times 4 spins) + P n_out n_in 16 N (spin matrices)], hops the
        distinct path prefixes; backward = the adjoint layer (n_in and n_out swapped) + the weight
        gradient: hops' n_out 4 N^2 (left along the inverse paths for PTC, phi along the paths for
        LPTC) + P n_out n_in 16 N outer products. The one-hop 1 -> 1 forward, N = 3: 5760."""
        N, nin, nout, P = self.N, self.n_in, self.n_out, self.n_paths
        spin = P * nout * nin * 16 * N
        fwd = 8 * (self.paths.n_hops * nin * 4 * N * N + spin)
        if not backward:
            return fwd
        adj = 8 * (self.paths.n_hops * nout * 4 * N * N + spin)
        if self.per_site:
            grad = 8 * (self.paths.n_hops * nin * 4 * N * N + spin)
        else:
            grad = 8 * (self.paths.n_hops_inverse * nout * 4 * N * N + spin)
        return adj + grad

    def _weights(self, weights, like):
        W = self.check(weights)[0]
        W = array_module(like).asarray(W)
        if W.dtype != self.lat.complex_dtype:
            W = W.astype(self.lat.complex_dtype)
        return W

    # ------------------------------------------------------------------ fields
    def _source(self, f, nfeat, what):
        name = type(self).__name__
        if not isinstance(f, FermionField):
            raise TypeError(f"{name}: {what} must be a FermionField, got {type(f).__name__}")
        if f.N != self.N:
            raise ValueError(f"{name}: {what} has N={f.N} colours, the gauge field N={self.N}")
        if f.lat is not self.lat and (f.lat.dims != self.lat.dims or f.lat.grid != self.lat.grid):
            raise ValueError(f"{name}: {what} lives on lattice {f.lat.dims} (grid {f.lat.grid}), the layer on "
                             f"{self.lat.dims} (grid {self.lat.grid})")
        if f.nvec % nfeat:
            raise ValueError(f"{name}: {what} holds {f.nvec} vectors on its batch axis, not a multiple of its "
                             f"{nfeat} feature(s) (nrhs * features, right-hand side outermost)")
        return f.data.reshape(self.lat.local_volume, -1), f.nvec // nfeat

    def _field(self, arr, like, nrhs, nfeat, like_nfeat):
        """The output field: a batch axis when it holds more than one vector, or when the input's batch
        axis held right-hand sides only (like_nfeat = 1), so that a batched input stays batched."""
        nv = nrhs * nfeat
        batched = nv > 1 or (like.batched and like_nfeat == 1)
        shape = self.lat.local_shape + ((nv,) if batched else ()) + (4, self.N)
        return like._new(arr.reshape(shape))

    # ------------------------------------------------------------------ forward
    def _slot_weights(self, W, slots):
        """The 9-slot weight array of one group (no copy when the paths are in slot order)."""
        hops = [k for k, _ in slots]
        if self.paths.slot_order:
            return W, hops
        xp = array_module(W)
        if self.per_site:  # slots outside the group are never read (explicit hop list): left unset
            full = self._scratch("slots", W, shape=(W.shape[0], NHOPS) + self._per_path)
            for k, i in slots:
                full[:, k] = W[:, i]
        else:
            full = xp.zeros((NHOPS,) + self._per_path, dtype=W.dtype)
            for k, i in slots:
                full[k] = W[i]
        return full, hops

    def _output(self, out, src, nrhs):
        """The output array: a new one, or the data of `out` (a FermionField of the right size, not
        phi's memory) so that repeated calls reuse one buffer (no page faults per call)."""
        xp = array_module(src)
        shape = (self.lat.local_volume, nrhs * self.n_out * 4 * self.N)
        if out is None:
            return xp.empty(shape, dtype=self.lat.complex_dtype)
        name = type(self).__name__
        if not isinstance(out, FermionField):
            raise TypeError(f"{name}: out must be a FermionField, got {type(out).__name__}")
        d = out.data
        if out.lat.dims != self.lat.dims or d.dtype != self.lat.complex_dtype or d.size != shape[0] * shape[1]:
            raise ValueError(f"{name}: out must hold {nrhs * self.n_out} vector(s) of {self.lat.complex_dtype} on "
                             f"{self.lat.dims}, got {out.nvec} of {d.dtype} on {out.lat.dims}")
        if not d.flags.c_contiguous or array_module(d) is not xp:
            raise ValueError(f"{name}: out must be a contiguous array on the same device as phi")
        if xp is np:
            overlap = np.shares_memory(d, src)
        else:  # device arrays: compare the address ranges
            overlap = d.data.ptr < src.data.ptr + src.nbytes and src.data.ptr < d.data.ptr + d.nbytes
        if overlap:
            raise ValueError(f"{name}: out must not share memory with phi")
        return d.reshape(shape)

    def __call__(self, weights, phi, out=None):
        """psi = L(W, phi); with out (a FermionField shaped like the result) written into its data."""
        src, nrhs = self._source(phi, self.n_in, "phi")
        W = self._weights(weights, src)
        out_field, out = out, self._output(out, src, nrhs)
        cache = {(): src}
        for g, (prefix, slots) in enumerate(self.paths.groups):
            inp = self.transport.along(src, [prefix], cache, self._scratch)[0]
            Wg, hops = self._slot_weights(W, slots)
            self.stencil.apply_array(inp, Wg, nrhs, out=out, accumulate=g > 0, hops=hops)
        if out_field is not None:
            return out_field
        return self._field(out, phi, nrhs, self.n_out, self.n_in)

    # ------------------------------------------------------------------ adjoint layer
    def _adjoint_slot_weights(self, W, slots, halo_w):
        """Group weights of L^dag: reversed slots, W^dag (features swapped, spin conjugate-transposed);
        per site, the weight of slot k is taken from the neighbour y + e_k' the reversed hop k' fetches
        from. Slots outside the group are never read by the kernel (explicit hop list) and left unset."""
        xp = array_module(W)
        hops = [_reverse_slot(k) for k, _ in slots]
        if not self.per_site:
            full = xp.zeros((NHOPS, self.n_in, self.n_out, 4, 4), dtype=W.dtype)
            for k, i in slots:
                full[_reverse_slot(k)] = xp.conj(W[i]).transpose(1, 0, 3, 2)
            return full, hops
        V = W.shape[0]
        shifted = self._scratch("shifted", W, shape=(V, NHOPS) + self._per_path)
        for k, i in slots:
            kr = _reverse_slot(k)
            if k == SITE:
                shifted[:, kr] = W[:, i]
            else:
                self._shift(shifted[:, kr], W[:, i], kr, halo_w[:, i] if halo_w is not None else None)
        # one pass: conjugate-transpose every slot at once
        full = self._scratch("adjoint slots", W, shape=(V, NHOPS, self.n_in, self.n_out, 4, 4))
        xp.conjugate(shifted.transpose(0, 1, 3, 2, 5, 4), out=full)
        return full, hops

    def _shift(self, dst, src, k, src_halo):
        """dst[y] = src[y + e_k] for the local sites y (slot k's neighbour): a periodic roll of the local
        block by slices, then the sites whose neighbour lies on another rank are read from the halo."""
        lat = self.lat
        mu, sign = k // 2, (1 if k % 2 == 0 else -1)
        shp = lat.local_shape + (-1,)
        d, s = dst.reshape(shp), src.reshape(shp)
        ax, L = 3 - mu, lat.local_shape[3 - mu]

        def sl(lo, hi):
            return (slice(None),) * ax + (slice(lo, hi),)

        if sign > 0:
            d[sl(0, L - 1)] = s[sl(1, L)]
            d[sl(L - 1, L)] = s[sl(0, 1)]
        else:
            d[sl(1, L)] = s[sl(0, L - 1)]
            d[sl(0, 1)] = s[sl(L - 1, L)]
        if lat.grid[mu] > 1:
            halo = self.transport.hop.runner.halo
            nb = halo.table("nbr", src)[:, k]
            key = ("crossing", k, array_module(src).__name__)
            sites = self._crossing.get(key)
            if sites is None:
                sites = array_module(src).asarray(np.nonzero(to_host(nb) >= lat.local_volume)[0])
                self._crossing[key] = sites
            dst[sites] = src_halo[nb[sites] - lat.local_volume]

    def _weights_halo(self, W):
        """The per-site weights of the halo sites (one exchange of all paths; zero and without messages
        in zero-boundary-link mode, where the links that would use them are zero)."""
        halo = self.transport.hop.runner.halo
        if halo.Vh == 0:
            return None
        flat = array_module(W).ascontiguousarray(W).reshape(W.shape[0], -1)
        return halo.exchange(flat, zero_boundary=self.zero_boundary).reshape((halo.Vh,) + W.shape[1:])

    def adjoint(self, weights, chi):
        """L^dag chi (n_out features in, n_in out): the adjoint one-hop stencil per group, then T_q^dag."""
        src, nrhs = self._source(chi, self.n_out, "chi")
        W = self._weights(weights, src)
        halo_w = None
        if self.per_site and any(k != SITE for _, slots in self.paths.groups for k, _ in slots):
            halo_w = self._weights_halo(W)
        parts = {}
        for prefix, slots in self.paths.groups:
            Wg, hops = self._adjoint_slot_weights(W, slots, halo_w)
            out = None
            if prefix:
                out = self._scratch(("P",) + prefix, src, shape=(src.shape[0], nrhs * self.n_in * 4 * self.N))
            parts[prefix] = self.stencil_adj.apply_array(src, Wg, nrhs, out=out, hops=hops)
        res = self.transport.adjoint_sum(parts, self._scratch)
        return self._field(res, chi, nrhs, self.n_in, self.n_out)

    def _pair(self, phi, left):
        src, nrhs = self._source(phi, self.n_in, "phi")
        lsrc, lrhs = self._source(left, self.n_out, "left")
        if lrhs != nrhs:
            raise ValueError(f"{type(self).__name__}: left holds {lrhs} right-hand side(s) of {self.n_out} features, "
                             f"phi {nrhs} of {self.n_in}; they must agree")
        return src, lsrc, nrhs


class PTC(_TransportConvolution):
    """Parallel-transport convolution: psi_a = sum_{b,p} W_a^{bp} T_p phi_b with global spin matrices.

    U: GaugeField; n_in, n_out: features; paths: Path objects or lists of (mu, +-1) hops ([] the zero
    path; gaugenet.ml.one_hop_paths() gives the 8 hops and the zero path in kernel order);
    zero_boundary_links: None (the lattice's setting) or bool; boundary_phases: theta_mu of the
    fermion boundary (the link on the last slice carries exp(i theta_mu)).
    Weights: [W], W of shape (P, n_out, n_in, 4, 4), the same on every rank.
    """

    # host arrays: the fused stencil + weight-gradient kernel (False: transported left and GEMMs, the
    # path device arrays take; kept for cross-checks)
    fused_gradient = True

    def weights(self, seed=0, scale=1.0):
        """Random initial weights (Re, Im independent N(0, scale^2)), identical on every rank."""
        return [random_global(self.weight_shapes[0], seed, scale, dtype=self.lat.complex_dtype)]

    def projected_gradient_adj(self, weights, phi, left):
        """[dC/dW, dC/dphi] for C = Re <left, L(W, phi)>; dC/dW (P, n_out, n_in, 4, 4) is summed over the
        lattice (one allreduce) and identical on every rank; dC/dphi = L^dag left has phi's shape."""
        src, lsrc, nrhs = self._pair(phi, left)
        W = self._weights(weights, src)
        xp = array_module(src)
        if xp is np and self.fused_gradient and hasattr(core, "hop_grad"):
            return self._gradient_fused(W, phi, src, lsrc, nrhs)
        N, nin, nout = self.N, self.n_in, self.n_out
        Vr = self.lat.local_volume * nrhs
        inv = [tuple(inverse_hop(h) for h in reversed(key)) for key in self.paths.keys]
        E = self.transport.along(lsrc, inv, scratch=self._scratch)   # E_p = T_p^dag left
        # colour next to the site index, so that one GEMM contracts (y, r, c) exactly
        phiT = self._scratch("conj phi", src, shape=(Vr * N, nin * 4))
        xp.conjugate(src.reshape(Vr, nin * 4, N).transpose(0, 2, 1), out=phiT.reshape(Vr, N, nin * 4))
        ET = self._scratch("left T", src, shape=(Vr * N, nout * 4))
        DT = self._scratch("dphi T", src, shape=(Vr * N, nin * 4))
        tmp = self._scratch("dphi T term", src, shape=(Vr * N, nin * 4))
        G = xp.empty((self.n_paths, nout, nin, 4, 4), dtype=W.dtype)
        for i, Ei in enumerate(E):
            xp.copyto(ET.reshape(Vr, N, nout * 4), Ei.reshape(Vr, nout * 4, N).transpose(0, 2, 1))
            # dW_p[a, b, s, t] = sum_{y, r, c} E_p[y, r, a, s, c] conj(phi[y, r, b, t, c])
            G[i] = (ET.T @ phiT).reshape(nout, 4, nin, 4).transpose(0, 2, 1, 3)
            # dphi[y, r, b, t, c] += sum_{a, s} conj(W_p[a, b, s, t]) E_p[y, r, a, s, c]
            Wh = xp.conj(W[i]).transpose(0, 2, 1, 3).reshape(nout * 4, nin * 4)
            xp.matmul(ET, Wh, out=DT if i == 0 else tmp)
            if i:
                DT += tmp
        G = self.lat.allreduce(to_host(G))
        dphi = xp.empty(phi.data.shape, dtype=W.dtype)
        xp.copyto(dphi.reshape(Vr, nin * 4, N), DT.reshape(Vr, N, nin * 4).transpose(0, 2, 1))
        return [G, phi._new(dphi)]


    def _gradient_fused(self, W, phi, src, lsrc, nrhs):
        """Host arrays: per prefix group q one fused kernel (core.hop_grad) on left with the adjoint group
        weights: E = H_k' left is formed site by site and gives both the group's part of L^dag left and
        dW_p = sum_y E(y) (T_q phi)(y)^dag for the group's paths p = q + (k,); then T_q^dag as in adjoint()."""
        G = np.empty((self.n_paths, self.n_out, self.n_in, 4, 4), dtype=np.complex128)
        cache = {(): src}
        parts = {}
        for prefix, slots in self.paths.groups:
            f = self.transport.along(src, [prefix], cache, self._scratch)[0]  # T_q phi
            Wg, hops = self._adjoint_slot_weights(W, slots, None)
            Gg = np.zeros((NHOPS, self.n_out, self.n_in, 4, 4), dtype=np.complex128)
            out = None
            if prefix:
                out = self._scratch(("P",) + prefix, lsrc, shape=(lsrc.shape[0], nrhs * self.n_in * 4 * self.N))
            parts[prefix] = self.stencil_adj.apply_grad(lsrc, Wg, nrhs, f, Gg, out=out, hops=hops)
            for k, i in slots:
                G[i] = Gg[_reverse_slot(k)]
        dphi = self.transport.adjoint_sum(parts, self._scratch)
        G = np.asarray(self.lat.allreduce(G)).astype(W.dtype, copy=False)
        return [G, phi._new(dphi.reshape(phi.data.shape))]


class LPTC(_TransportConvolution):
    """Local parallel-transport convolution: psi_a(x) = sum_{b,p} W_a^{bp}(x) T_p phi_b(x).

    Arguments as PTC. Weights: [W], W of shape (V, P, n_out, n_in, 4, 4) on each rank's local sites
    (memory order t, z, y, x). cLPTC-style uses (no gauge index) live on the coarse grid, not here.
    """

    per_site = True

    def weights(self, seed=0, scale=1.0):
        """Random initial weights, Re and Im independent N(0, scale^2), drawn per global site index so
        that the global weight field is the same for every process grid."""
        return [random_per_site(self.lat, (self.n_paths,) + self._per_path, seed, scale)]

    def from_ptc(self, ptc_weights):
        """LPTC weights equal to PTC weights on every site (seed 000: train PTC first, then refine as LPTC)."""
        W = np.asarray(ptc_weights[0] if isinstance(ptc_weights, (list, tuple)) else ptc_weights)
        want = (self.n_paths,) + self._per_path
        if W.shape != want:
            raise ValueError(f"LPTC.from_ptc: PTC weights of shape {W.shape}, expected {want}")
        V = self.lat.local_volume
        return [np.ascontiguousarray(np.broadcast_to(W.astype(self.lat.complex_dtype), (V,) + want))]

    def projected_gradient_adj(self, weights, phi, left):
        """[dC/dW, dC/dphi] for C = Re <left, L(W, phi)>; dC/dW (V, P, n_out, n_in, 4, 4) per local site
        (no reduction), dC/dphi = L^dag left."""
        src, lsrc, nrhs = self._pair(phi, left)
        W = self._weights(weights, src)
        xp = array_module(src)
        N, nin, nout = self.N, self.n_in, self.n_out
        V = self.lat.local_volume
        P = self.n_paths
        T = self.transport.along(src, self.paths.keys, scratch=self._scratch)  # T_p phi
        # per site: conj(dW(x))[(a s), (p b t)] = sum_{(r c)} conj(left)[(a s), (r c)] (T_p phi)[(p b t), (r c)],
        # one batch of small matrix products over the sites (paths stacked, right-hand sides next to colour)
        stack = self._scratch("stack", src, shape=(V, P, nin * 4, nrhs, N))
        for i, Ti in enumerate(T):
            stack[:, i] = Ti.reshape(V, nrhs, nin * 4, N).transpose(0, 2, 1, 3)
        Lc = self._scratch("conj left", src, shape=(V, nout * 4, nrhs, N))
        xp.conjugate(lsrc.reshape(V, nrhs, nout * 4, N).transpose(0, 2, 1, 3), out=Lc)
        M = self._scratch("outer", src, shape=(V, nout * 4, P * nin * 4))
        xp.matmul(Lc.reshape(V, nout * 4, nrhs * N), stack.reshape(V, P * nin * 4, nrhs * N).transpose(0, 2, 1), out=M)
        G = xp.empty((V, P, nout, nin, 4, 4), dtype=W.dtype)
        xp.conjugate(M.reshape(V, nout, 4, P, nin, 4).transpose(0, 3, 1, 4, 2, 5), out=G)
        dphi = self.adjoint(weights, left)
        return [G, phi._new(dphi.data.reshape(phi.data.shape))]
