"""SU(N) gauge field U[mu, t, z, y, x, a, b] (link from x to x + mu)."""
import numpy as np

from .._backend import to_host
from ..gauge.group import dag, haar_su, project_su, unitarity_violation
from .base import Field


class NonUnitaryLinksError(ValueError):
    """Links that are not SU(N) within tolerance (detected collectively, raised on every rank)."""
    collective = True


class GaugeField(Field):
    lead_shape = (4,)
    site_ndim = 2
    kind = "gauge"

    def _check_inner(self):
        s = self.inner_shape
        if len(s) != 2 or s[0] != s[1] or s[0] not in (2, 3):
            raise ValueError(f"GaugeField: per-link shape {s} must be (N, N) with N = 2 or 3")

    @property
    def N(self):
        return self.inner_shape[-1]

    @classmethod
    def unit(cls, lat, N=3):
        return cls(lat, np.broadcast_to(np.eye(N, dtype=lat.complex_dtype), (4,) + lat.local_shape + (N, N)).copy())

    @classmethod
    def random(cls, lat, N=3, seed=0, stream=0):
        """Haar-random links (a 'hot' start); the same global field for any process grid."""
        return cls(lat, haar_su(lat, (4,), N, seed, stream))

    @classmethod
    def from_numpy(cls, lat, a, check_unitary=None):
        """From the global array [mu, t, z, y, x, N, N]. With check_unitary=tol the links are
        verified to be SU(N) within tol (error on every rank otherwise)."""
        U = super().from_numpy(lat, a)
        if check_unitary:
            U.check_unitary(check_unitary)
        return U

    def unitarity_violation(self):
        """Global max of |U U^dag - 1| and |det U - 1|."""
        from mpi4py import MPI
        return float(self.lat.cart.allreduce(unitarity_violation(to_host(self.data)), op=MPI.MAX))

    def check_unitary(self, tol=1e-10, what="gauge field"):
        v = self.unitarity_violation()
        if not np.isfinite(v) or v > tol:
            raise NonUnitaryLinksError(f"{what}: links are not SU({self.N}): max |U U^dag - 1|, |det U - 1| = {v:.3e} "
                                       f"> tolerance {tol:.1e}")
        return v

    def reunitarize(self):
        """Project every link back onto SU(N) (polar decomposition), e.g. after single-precision I/O."""
        return self._new(self.xp.asarray(project_su(to_host(self.data).astype(np.complex128)).astype(self.data.dtype)))

    def link(self, mu):
        """Site-major (V, N, N) view of the links in direction mu."""
        return self.sites()[mu]

    def shift_links(self, a, mu, sign):
        """a(x + sign mu) for an (V, N, N) array of matrices on this lattice (true neighbours)."""
        return self.lat.halo(1).shift(a, mu, sign, zero_boundary=False)

    def transform(self, omega):
        """U_mu(x) -> Omega(x) U_mu(x) Omega(x + mu)^dag."""
        om = omega.sites()
        out = self.xp.empty_like(self.sites())
        for mu in range(4):
            om_fwd = self.shift_links(om, mu, +1)
            out[mu] = om @ self.link(mu) @ dag(om_fwd)
        return self._new(out.reshape(self.data.shape))
