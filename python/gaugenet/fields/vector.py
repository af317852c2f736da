"""Vector-like fields on the sites: Wilson fermions, staggered fermions, coarse vectors,
spin matrices and site-local colour matrices (shared/CONVENTIONS.md layouts)."""
import numpy as np

from ..lattice.rng import gaussian_local
from .base import Field


class _VectorField(Field):
    """Per-site shape `core` (e.g. (4, N)), optionally with a batch axis in front: (nvec,) + core."""
    core_ndim = 1

    def __init__(self, lat, data):
        super().__init__(lat, data)

    def _check_inner(self):
        n = len(self.inner_shape)
        if n not in (self.core_ndim, self.core_ndim + 1):
            raise ValueError(f"{type(self).__name__}: per-site shape {self.inner_shape} must have "
                             f"{self.core_ndim} axes (or one more for a batch of vectors)")

    @property
    def nvec(self):
        """Number of vectors in the batch (1 when there is no batch axis)."""
        return self.inner_shape[0] if len(self.inner_shape) > self.core_ndim else 1

    @property
    def batched(self):
        return len(self.inner_shape) > self.core_ndim

    @property
    def core_shape(self):
        return self.inner_shape[-self.core_ndim:]

    @classmethod
    def zeros(cls, lat, *core, nvec=None, device=False):
        shape = lat.local_shape + ((nvec,) if nvec else ()) + tuple(core)
        if device:
            import cupy as xp
        else:
            xp = np
        return cls(lat, xp.zeros(shape, dtype=lat.complex_dtype))

    @classmethod
    def random(cls, lat, *core, nvec=None, seed=0, stream=0):
        """Complex Gaussian field, reproducible for any process grid."""
        inner = ((nvec,) if nvec else ()) + tuple(core)
        return cls(lat, gaussian_local(lat, (), inner, seed, stream))

    def transform(self, omega):
        """Gauge transformation f(x) -> Omega(x) f(x) (colour is the last axis)."""
        return self._new(self.xp.ascontiguousarray(self.xp.einsum("tzyxab,tzyx...b->tzyx...a", omega.data, self.data)))

    def batch(self, i):
        """Vector i of a batch as an unbatched field (a copy)."""
        return self._new(self.xp.ascontiguousarray(self.data[(Ellipsis, i) + (slice(None),) * self.core_ndim]))

    @classmethod
    def stack(cls, fields):
        """Batch of vectors from a list of unbatched fields."""
        xp = fields[0].xp
        return fields[0]._new(xp.ascontiguousarray(xp.stack([f.data for f in fields], axis=4)))


class FermionField(_VectorField):
    """Wilson-type fermion: [t, z, y, x, (nvec,) spin(4), colour(N)]."""
    core_ndim = 2
    site_ndim = 2
    kind = "fermion"

    def _check_inner(self):
        super()._check_inner()
        if self.inner_shape[-2] != 4:
            raise ValueError(f"FermionField: spin axis has length {self.inner_shape[-2]}, expected 4")

    @property
    def N(self):
        return self.inner_shape[-1]

    @classmethod
    def zeros(cls, lat, N=3, nvec=None, device=False):
        return super().zeros(lat, 4, N, nvec=nvec, device=device)

    @classmethod
    def random(cls, lat, N=3, nvec=None, seed=0, stream=0):
        return super().random(lat, 4, N, nvec=nvec, seed=seed, stream=stream)

    def gamma5(self):
        """g5 psi with g5 = diag(1, 1, -1, -1)."""
        out = self.data.copy()
        out[..., 2:, :] *= -1
        return self._new(out)


class StaggeredField(_VectorField):
    """Staggered fermion: [t, z, y, x, (nvec,) colour(N)]."""
    core_ndim = 1
    site_ndim = 1
    kind = "staggered"

    @property
    def N(self):
        return self.inner_shape[-1]

    @classmethod
    def zeros(cls, lat, N=3, nvec=None, device=False):
        return super().zeros(lat, N, nvec=nvec, device=device)

    @classmethod
    def random(cls, lat, N=3, nvec=None, seed=0, stream=0):
        return super().random(lat, N, nvec=nvec, seed=seed, stream=stream)


class CoarseField(_VectorField):
    """Coarse-grid vector: [t, z, y, x, (nvec,) n_basis]."""
    core_ndim = 1
    site_ndim = 1
    kind = "coarse"

    @property
    def n_basis(self):
        return self.inner_shape[-1]

    def transform(self, omega):  # pragma: no cover - coarse fields carry no gauge index
        raise TypeError("coarse fields carry no gauge index")


class SpinMatrixField(_VectorField):
    """Per-site spin matrices (e.g. LPTC weights): [t, z, y, x, (nvec,) 4, 4]."""
    core_ndim = 2
    site_ndim = 2
    kind = "spin_matrix"


class ColorMatrixField(_VectorField):
    """Site-local colour matrices (gauge transformations, clover leaves): [t, z, y, x, N, N]."""
    core_ndim = 2
    site_ndim = 2
    kind = "color_matrix"

    @property
    def N(self):
        return self.inner_shape[-1]

    @classmethod
    def identity(cls, lat, N=3):
        return cls(lat, np.broadcast_to(np.eye(N, dtype=lat.complex_dtype), lat.local_shape + (N, N)).copy())

    @classmethod
    def random_su(cls, lat, N=3, seed=0, stream=0):
        """Haar-random SU(N) matrix on every site (a random gauge transformation Omega)."""
        from ..gauge.group import haar_su
        return cls(lat, haar_su(lat, (), N, seed, stream))
