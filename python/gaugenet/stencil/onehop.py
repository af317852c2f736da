"""The generic one-hop stencil as a Python object (C++ core.hop, csrc/kernels/hop.h):

    out[x, r, a] (+)= sum_{k in hops} sum_b W_k[a, b] . U_k(x) in[x + k, r, b]

Hop index k (shared/CONVENTIONS.md, GPT path().f / path().b):
    k = 2 mu      fetch from x + mu, transported with U_mu(x)           (H_{-mu}, `forward(mu)`)
    k = 2 mu + 1  fetch from x - mu, transported with U_mu(x - mu)^dag  (H_{+mu}, `backward(mu)`)
    k = 8         the site itself, no link
r runs over right-hand sides, a over output features, b over input features; each W_k[a, b] is an
ns x ns spin matrix (ns = 4, Wilson-type fields) or a number (ns = 1, staggered / colour vectors),
either the same on every site or given per site. The links (boundary phases, staggered phases,
zero-boundary mode) come from a StencilLinks; the halo exchange of the input overlaps the interior
sites (StencilRunner). This is the core of the staggered operator and of the PTC/LPTC layers.
"""
import numpy as np

from .._backend import array_module, core, to_host
from .run import StencilRunner

NHOPS = 9
SITE = 8


def hop_index(mu, sign):
    """Hop slot k: sign +1 fetches from x + mu (2 mu), -1 from x - mu (2 mu + 1), 0 is the site term (8)."""
    if sign == 0:
        return SITE
    if mu not in (0, 1, 2, 3) or sign not in (1, -1):
        raise ValueError(f"hop_index: mu must be 0..3 and sign +1, -1 or 0, got mu={mu}, sign={sign}")
    return 2 * mu + (0 if sign > 0 else 1)


class HopWeights:
    """Weights prepared for the kernel: a contiguous array in the lattice precision on the device
    of the fields, whether they are per site, and the mask of hops that occur."""

    def __init__(self, data, per_site, mask):
        self.data, self.per_site, self.mask = data, per_site, mask


class OneHop:
    """out[x, r, a] (+)= sum_k sum_b W_k[a, b] U_k(x) in[x + k, r, b] on the links of a StencilLinks.

    ns: 4 (spin matrices act on a spin index) or 1 (a number per hop and feature pair).
    nin, nout: input and output features. A field given to __call__ carries them on its batch axis
    (nvec = nrhs * nin, the right-hand side index outermost, the feature innermost); the result
    has nvec = nrhs * nout (no batch axis when that is 1 and the input had none).

    Weights: an array of shape (9, nout, nin, ns, ns) (the same on every site) or
    (V, 9, nout, nin, ns, ns) (per site, V the local volume), ns x ns dropped for ns = 1; or a
    dict {k: array of shape (nout, nin, ns, ns) or (V, nout, nin, ns, ns)}; or a HopWeights from
    prepare(). Hops whose weights are zero everywhere are skipped.
    """

    def __init__(self, links, ns=4, nin=1, nout=1):
        if ns not in (1, 4):
            raise ValueError(f"OneHop: ns must be 1 or 4, got {ns}")
        if nin < 1 or nout < 1:
            raise ValueError(f"OneHop: nin and nout must be positive, got nin={nin}, nout={nout}")
        self.links = links
        self.lat = links.lat
        self.N = links.N
        self.ns, self.nin, self.nout = int(ns), int(nin), int(nout)
        self.runner = StencilRunner(self.lat, links.zero_boundary)
        self._site_lists = {}

    # ------------------------------------------------------------------ weights
    @property
    def weight_shape(self):
        """Per-hop shape of one weight set: (nout, nin, ns, ns), or (nout, nin) for ns = 1."""
        return (self.nout, self.nin) + ((self.ns, self.ns) if self.ns > 1 else ())

    def prepare(self, W, like=None, hops=None):
        """Convert weights once (dtype, device, hop mask) so that repeated applications skip it.
        like: an array on the target device (default: the links). hops: explicit hop slots to use."""
        if isinstance(W, HopWeights):
            return W
        xp = array_module(like if like is not None else self.links.U)
        V = self.lat.local_volume
        ws = self.weight_shape
        if isinstance(W, dict):
            items = {int(k): xp.asarray(w) for k, w in W.items()}
            for k in items:
                if not 0 <= k < NHOPS:
                    raise ValueError(f"OneHop: hop slot {k} is not in 0..8")
            per_site = any(w.ndim == len(ws) + 1 for w in items.values())
            full = xp.zeros(((V,) if per_site else ()) + (NHOPS,) + ws, dtype=self.lat.complex_dtype)
            for k, w in items.items():
                want = ((V,) if per_site else ()) + ws
                if w.shape != want and not (per_site and w.shape == ws):
                    raise ValueError(f"OneHop: weights of hop {k} have shape {tuple(w.shape)}, expected {want}")
                if per_site:
                    full[:, k] = w
                else:
                    full[k] = w
            W = full
        else:
            W = xp.asarray(W)
            if W.shape == (NHOPS,) + ws:
                per_site = False
            elif W.shape == (V, NHOPS) + ws:
                per_site = True
            else:
                raise ValueError(f"OneHop: weights of shape {tuple(W.shape)}; expected (9,)+{ws} (global) or "
                                 f"({V}, 9)+{ws} (per site, local volume {V})")
        W = xp.ascontiguousarray(W.astype(self.lat.complex_dtype, copy=False))
        if hops is None:
            axes = tuple(i for i in range(W.ndim) if i != (1 if per_site else 0))
            used = to_host(xp.any(W != 0, axis=axes))
            mask = sum(1 << k for k in range(NHOPS) if used[k])
        else:
            mask = 0
            for k in hops:
                if not 0 <= int(k) < NHOPS:
                    raise ValueError(f"OneHop: hop slot {k} is not in 0..8")
                mask |= 1 << int(k)
        return HopWeights(W, per_site, mask)

    # ------------------------------------------------------------------ application
    def _site_list(self, sites, xp):
        if sites is None:
            return None
        key = (id(sites), xp.__name__)
        hit = self._site_lists.get(key)
        if hit is None or hit[0] is not sites:
            dev = xp.ascontiguousarray(xp.asarray(sites, dtype=np.int32))
            hit = (sites, dev)
            self._site_lists[key] = hit
        return hit[1]

    def _output(self, out, src, nout_el, accumulate, alloc):
        """The output array (V, nout_el): `out` checked, or a new one from `alloc` (zeros/empty)."""
        lat = self.lat
        V = lat.local_volume
        if out is None:
            if accumulate:
                raise ValueError("OneHop: accumulate needs an output array")
            out = alloc((V, nout_el), dtype=lat.complex_dtype)
        if out.size != V * nout_el or out.dtype != lat.complex_dtype or not out.flags.c_contiguous:
            raise ValueError(f"OneHop: output must be a C-contiguous {lat.complex_dtype} array with "
                             f"{nout_el} elements per site")
        if array_module(src) is np and np.may_share_memory(out, src):
            raise ValueError("OneHop: output must not overlap the input (neighbours are read)")
        return out

    def apply_array(self, src, W, nrhs, out=None, sites=None, accumulate=False, hops=None):
        """Raw form: src (V, nrhs * nin * ns * N) (or any C-contiguous array with that many elements
        per site), returns/fills out (V, nrhs * nout * ns * N). Only the listed sites are written
        (all when sites is None); with accumulate the result is added to out."""
        lat = self.lat
        V = lat.local_volume
        xp = array_module(src)
        nin_el = nrhs * self.nin * self.ns * self.N
        nout_el = nrhs * self.nout * self.ns * self.N
        if src.size != V * nin_el:
            raise ValueError(f"OneHop: input has {src.size // max(V, 1)} elements per site, expected "
                             f"nrhs*nin*ns*N = {nrhs}*{self.nin}*{self.ns}*{self.N} = {nin_el}")
        if src.dtype != lat.complex_dtype:
            raise TypeError(f"OneHop: input dtype {src.dtype} differs from the lattice precision {lat.complex_dtype}")
        src = xp.ascontiguousarray(src).reshape(V, nin_el)
        out = self._output(out, src, nout_el, accumulate, xp.zeros)
        Wp = self.prepare(W, like=src, hops=hops)
        L = self.links
        halo = self.runner.halo
        st = self._site_list(sites, xp)
        dst = out.reshape(V, nout_el)

        def kernel(in_halo, site_list):
            core.hop(dst, src, in_halo, L.U, L.U_halo, halo.table("nbr", src), site_list, Wp.data, Wp.per_site,
                     Wp.mask, nrhs, self.nin, self.nout, self.ns, self.N, V, halo.Vh, accumulate)

        if Wp.mask:
            self.runner.run(kernel, src, st)
        elif not accumulate:
            if st is None:
                dst[...] = 0
            else:
                dst[st] = 0
        return out

    def apply_grad(self, src, W, nrhs, site, G, out=None, accumulate=False, hops=None):
        """The stencil fused with a weight gradient (C++ core.hop_grad; ns = 4, global weights, numpy
        arrays only): fills out as apply_array does and adds to G (complex128, (9, nin, nout, 4, 4))
        G[k, b, a] += sum_x sum_r sum_c (U_k src_b)(x)[s, c] conj(site_a(x)[t, c]),
        with src_b(x + k) transported to x as in the stencil and site (V, nrhs * nout * 4 * N) the
        field the transported input is paired with on each site. Returns out."""
        if self.ns != 4:
            raise ValueError("OneHop.apply_grad: needs ns = 4")
        lat = self.lat
        V = lat.local_volume
        nin_el = nrhs * self.nin * 4 * self.N
        nout_el = nrhs * self.nout * 4 * self.N
        if src.size != V * nin_el or site.size != V * nout_el:
            raise ValueError(f"OneHop.apply_grad: input and site field need {nin_el} and {nout_el} elements per site, "
                             f"got {src.size // max(V, 1)} and {site.size // max(V, 1)}")
        if src.dtype != lat.complex_dtype or site.dtype != lat.complex_dtype:
            raise TypeError(f"OneHop.apply_grad: fields must be {lat.complex_dtype}")
        want = (NHOPS, self.nin, self.nout, 4, 4)
        if G.shape != want or G.dtype != np.complex128 or not G.flags.c_contiguous:
            raise ValueError(f"OneHop.apply_grad: G must be a C-contiguous complex128 array of shape {want}")
        Wp = self.prepare(W, like=src, hops=hops)
        if Wp.per_site:
            raise ValueError("OneHop.apply_grad: global weights only")
        src = np.ascontiguousarray(src).reshape(V, nin_el)
        site = np.ascontiguousarray(site).reshape(V, nout_el)
        out = self._output(out, src, nout_el, accumulate, np.empty)
        L = self.links
        halo = self.runner.halo
        dst = out.reshape(V, nout_el)

        def kernel(in_halo, site_list):
            core.hop_grad(dst, src, in_halo, L.U, L.U_halo, halo.table("nbr", src), site_list, Wp.data, Wp.mask,
                          nrhs, self.nin, self.nout, self.N, V, halo.Vh, site, G, accumulate)

        if Wp.mask:
            self.runner.run(kernel, src, None)
        elif not accumulate:
            dst[...] = 0
        return out

    def __call__(self, field, W, out=None, sites=None, accumulate=False, hops=None):
        """Apply to a FermionField (ns = 4) or StaggeredField (ns = 1); see the class docstring."""
        core_shape = field.core_shape
        want = ((4,) if self.ns == 4 else ()) + (self.N,)
        if tuple(core_shape) != want:
            raise ValueError(f"OneHop(ns={self.ns}, N={self.N}): field of per-vector shape {tuple(core_shape)}, "
                             f"expected {want}")
        nv = field.nvec
        if nv % self.nin:
            raise ValueError(f"OneHop: the field holds {nv} vectors, not a multiple of nin = {self.nin}")
        nrhs = nv // self.nin
        nv_out = nrhs * self.nout
        batched = field.batched or nv_out > 1
        shape = self.lat.local_shape + ((nv_out,) if batched else ()) + tuple(core_shape)
        if out is None:
            res = field._new(field.xp.zeros(shape, dtype=self.lat.complex_dtype))
        else:
            if tuple(out.data.shape) != shape:
                raise ValueError(f"OneHop: output field has local shape {tuple(out.data.shape)}, expected {shape}")
            res = out
        self.apply_array(field.data.reshape(self.lat.local_volume, -1), W, nrhs, out=res.data.reshape(
            self.lat.local_volume, -1), sites=sites, accumulate=accumulate, hops=hops)
        return res
