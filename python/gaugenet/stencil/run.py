"""Run a one-hop stencil kernel with the halo exchange overlapped: post the face messages,
compute the interior sites, wait, compute the boundary sites; or, where the lattice says that overlap
cannot gain (lattice.halo_overlap: all neighbours on this node), exchange first and run one pass."""


class StencilRunner:
    """Owns the halo buffers of one stencil (no allocation per call) and the overlap schedule."""

    def __init__(self, lat, zero_boundary, halo=None):
        """halo: the Halo of the input (default the lattice's depth-1 halo; a half lattice's for the even-odd
        operators, lattice/checkerboard.py)."""
        self.lat = lat
        self.halo = lat.halo(1) if halo is None else halo
        self.zero_boundary = zero_boundary
        self._bufs = {}

    def _halo_buffer(self, local):
        key = (local.shape[1:], local.dtype.str, type(local))
        buf = self._bufs.get(key)
        if buf is None:
            buf = self.halo.empty_halo(local)
            self._bufs[key] = buf
        return buf

    def run(self, kernel, local, sites=None):
        """kernel(in_halo, site_list) is called once or twice; `local` is the (V, ...) input.
        sites: None for all sites, or an int32 list (e.g. one parity) which is split likewise."""
        h = self.halo
        if h.Vh == 0:
            kernel(None, self._on_device(sites, local))
            return
        buf = self._halo_buffer(local)
        if self.zero_boundary:  # the buffer was allocated zeroed and is never written: no messages
            kernel(buf, self._on_device(sites, local))
            return
        handle = h.start(local, buf, zero_boundary=False)
        if not self.lat.overlap_halo:   # the faces move inside the MPI calls (one node): one pass after the wait
            h.finish(handle)
            kernel(buf, self._on_device(sites, local))
            return
        if sites is None:
            inner, outer = h.table("interior", local), h.table("boundary", local)
        else:
            inner, outer = self._split(sites, local)
        if len(inner):
            kernel(buf, inner)
        h.finish(handle)
        if len(outer):
            kernel(buf, outer)

    def _on_device(self, sites, like):
        """The site list on the device of `like` (cached per list object)."""
        from .._backend import array_module, is_device
        if sites is None or not is_device(like) or is_device(sites):
            return sites
        key = ("dev", id(sites))
        hit = self._bufs.get(key)
        if hit is None or hit[0] is not sites:
            hit = (sites, array_module(like).asarray(sites))
            self._bufs[key] = hit
        return hit[1]

    def _split(self, sites, like):
        key = ("split", id(sites))
        if key not in self._bufs:
            import numpy as np
            from .._backend import array_module, to_host
            s = to_host(sites)
            on = np.isin(s, self.halo.interior)
            xp = array_module(like)
            self._bufs[key] = (sites, xp.asarray(np.ascontiguousarray(s[on])), xp.asarray(np.ascontiguousarray(s[~on])))
        return self._bufs[key][1:]
