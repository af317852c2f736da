"""The links and halo runners of one-hop stencils between half-lattice fields (lattice/checkerboard.py):
a hop that writes the sites of parity p reads a field of parity q = 1 - p; its forward hops use the links
of the output sites (parity p), its backward hops the links of the neighbours (parity q: the kernels'
U_back), each with the entries of that parity of the link halo. Shared by the Wilson even-odd operator
(operators/evenodd.py) and the staggered even-site operator (operators/staggered.py)."""
import numpy as np

from .._backend import array_module
from .run import StencilRunner


class HalfLattice:
    """Per parity s: U[s] (4, Vp, N, N) the links of the sites of parity s, U_halo[s] the link-halo entries
    of parity s (None without a halo), runners[s] the StencilRunner of an input field of parity s."""

    def __init__(self, links):
        lat = links.lat
        self.cb = lat.checkerboard()   # refuses odd global extents
        self.Vp = self.cb.Vp
        xp = array_module(links.U)

        def on(a):
            return a if xp is np else xp.asarray(a)
        self.U = [xp.ascontiguousarray(links.U[:, on(self.cb.sites[s])]) for s in (0, 1)]
        self.U_halo = [None if links.U_halo is None else
                       xp.ascontiguousarray(links.U_halo[:, on(self.cb.halo_parity == s)]) for s in (0, 1)]
        self.runners = [StencilRunner(lat, links.zero_boundary, halo=self.cb.halo(s)) for s in (0, 1)]

        self._dev = {}

    def rows(self, s, like):
        """The local sites of parity s (the rows of a half field in a full one), on the device of `like` (cached)."""
        xp = array_module(like)
        if xp is np:
            return self.cb.sites[s]
        key = (s, xp.__name__)
        if key not in self._dev:
            self._dev[key] = xp.asarray(self.cb.sites[s])
        return self._dev[key]

    def restrict(self, full, s, cls):
        """The sites of parity s of a full-lattice field, as a half field of type cls (fields/parity.py)."""
        return cls(full.lat, full.sites()[self.rows(s, full.data)], s)

    def embed(self, parts, cls):
        """The full-lattice field of type cls holding the given half fields on their sites (zero elsewhere)."""
        x0 = parts[0].data
        lat = parts[0].lat
        full = array_module(x0).zeros((lat.local_volume,) + tuple(x0.shape[1:]), dtype=x0.dtype)
        for part in parts:
            full[self.rows(part.parity, x0)] = part.data
        return cls(lat, full.reshape(lat.local_shape + tuple(x0.shape[1:])))
