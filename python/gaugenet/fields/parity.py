"""Fields on the sites of one parity (half lattices), as the even-odd operators use them.

The local sites of parity p, in the local lexicographic order (lat.sites_of_parity(p)), are rows
0 ... Vp - 1 of a (Vp, [nvec,] 4, N) array (ParityField: a Wilson fermion) or a (Vp, [nvec,] N) array
(StaggeredParityField): half the memory and traffic of a full-lattice field whose other half is zero.
lattice/checkerboard.py has the neighbour tables and halos of this layout."""
from .base import LinearAlgebra


class ParityField(LinearAlgebra):
    """A Wilson fermion (or a batch of nvec) on the local sites of one parity: data (Vp, [nvec,] 4, N)."""
    core_shape = "[nvec,] 4, N"
    core_ndim = 2     # axes per vector after the site axis: (4, N)

    def __init__(self, lat, data, parity):
        if parity not in (0, 1):
            raise ValueError(f"parity must be 0 (even) or 1 (odd), got {parity}")
        nd = self.core_ndim
        if (data.ndim not in (1 + nd, 2 + nd) or data.shape[0] != lat.local_volume // 2
                or (nd == 2 and data.shape[-2] != 4)):
            raise ValueError(f"{type(self).__name__}: array of shape {data.shape} is not (V/2 = "
                             f"{lat.local_volume // 2}, {self.core_shape})")
        self.lat, self.data, self.parity = lat, data, parity

    def _new(self, data):
        return type(self)(self.lat, data, self.parity)

    @property
    def N(self):
        return self.data.shape[-1]

    @property
    def nvec(self):
        return self.data.shape[1] if self.data.ndim == 2 + self.core_ndim else 1

    def copy(self):
        return self._new(self.data.copy())

    def zeros_like(self):
        return self._new(self.xp.zeros_like(self.data))

    def empty_like(self):
        return self._new(self.xp.empty_like(self.data))

    def __repr__(self):
        return (f"{type(self).__name__}(lattice={self.lat.dims}, parity={self.parity}, N={self.N}, "
                f"nvec={self.nvec}, dtype={self.data.dtype})")


class StaggeredParityField(ParityField):
    """A staggered fermion (or a batch of nvec) on the local sites of one parity: data (Vp, [nvec,] N)."""
    core_shape = "[nvec,] N"
    core_ndim = 1
