"""Fields on the sites of one parity (half lattices), as the even-odd operators use them.

The local sites of parity p, in the local lexicographic order (lat.sites_of_parity(p)), are rows
0 ... Vp - 1 of a (Vp, [nvec,] 4, N) array: half the memory and traffic of a full-lattice field whose
other half is zero. lattice/checkerboard.py has the neighbour tables and halos of this layout."""
from .base import LinearAlgebra


class ParityField(LinearAlgebra):
    """A Wilson fermion (or a batch of nvec) on the local sites of one parity: data (Vp, [nvec,] 4, N)."""

    def __init__(self, lat, data, parity):
        if parity not in (0, 1):
            raise ValueError(f"parity must be 0 (even) or 1 (odd), got {parity}")
        if data.ndim not in (3, 4) or data.shape[-2] != 4 or data.shape[0] != lat.local_volume // 2:
            raise ValueError(f"ParityField: array of shape {data.shape} is not (V/2 = {lat.local_volume // 2}, "
                             f"[nvec,] 4, N)")
        self.lat, self.data, self.parity = lat, data, parity

    def _new(self, data):
        return ParityField(self.lat, data, self.parity)

    @property
    def N(self):
        return self.data.shape[-1]

    @property
    def nvec(self):
        return self.data.shape[1] if self.data.ndim == 4 else 1

    def copy(self):
        return self._new(self.data.copy())

    def zeros_like(self):
        return self._new(self.xp.zeros_like(self.data))

    def empty_like(self):
        return self._new(self.xp.empty_like(self.data))

    def __repr__(self):
        return (f"ParityField(lattice={self.lat.dims}, parity={self.parity}, N={self.N}, nvec={self.nvec}, "
                f"dtype={self.data.dtype})")
