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
