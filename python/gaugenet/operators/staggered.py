"""Staggered Dirac operator (shared/CONVENTIONS.md, LatticeDiracOperators.jl conventions):

  D chi(x) = m chi(x) + 1/2 sum_mu eta_mu(x) [ U_mu(x) chi(x+mu) - U_mu(x-mu)^dag chi(x-mu) ]
  eta_x = 1, eta_y = (-1)^x, eta_z = (-1)^(x+y), eta_t = (-1)^(x+y+z)   (0-based global coordinates)

The phases eta_mu(x) and the fermion boundary phases are folded into the links once
(StencilLinks(site_phases=eta)); eta_mu does not depend on x_mu, so the folded link
eta_mu(x-mu) U_mu(x-mu)^dag is also the right backward hop. The operator runs on the generic
one-hop stencil with ns = 1. D = m + D_hop with D_hop anti-hermitian, so D^dag = m - D_hop and
D^dag D = m^2 - D_hop^2, which connects even sites only to even sites (and odd to odd).

Even-site fields: the even-site restriction of D^dag D acts on full-size StaggeredFields whose
sites of the other parity are ignored on input and zero on output (see docs/operators.md).
"""
import numpy as np

from .._backend import array_module
from ..fields import StaggeredField
from ..stencil import StencilLinks
from ..stencil.onehop import SITE, OneHop


def staggered_phases(lat):
    """eta_mu(x) for the local sites, shape (4, V), from the global coordinates."""
    c = lat.global_coordinates()
    eta = np.ones((4, lat.local_volume))
    eta[1] = 1 - 2 * (c[:, 0] % 2)
    eta[2] = 1 - 2 * ((c[:, 0] + c[:, 1]) % 2)
    eta[3] = 1 - 2 * ((c[:, 0] + c[:, 1] + c[:, 2]) % 2)
    return eta


class Staggered:
    """The staggered operator on a gauge field: D(chi), D.adjoint(chi), D.DdagD(chi), D.DdagD_even(chi).

    mass: m. boundary_phases: theta_mu (default antiperiodic in time, (0, 0, 0, pi)); the link U_mu on
    the global slice x_mu = L_mu - 1 gets exp(i theta_mu). chi may hold a batch of vectors
    ([t, z, y, x, nvec, N]); every link is then loaded once per site for all of them.
    """

    def __init__(self, U, mass=0.3, boundary_phases=(0.0, 0.0, 0.0, np.pi), zero_boundary_links=None):
        self.U = U
        self.lat = U.lat
        self.N = U.N
        self.mass = float(mass)
        self.links = StencilLinks(U, boundary_phases, site_phases=staggered_phases(self.lat),
                                  zero_boundary=zero_boundary_links)
        self.boundary_phases = self.links.boundary_phases
        self.stencil = OneHop(self.links, ns=1)
        self._weights = {}

    def _w(self, sign, diag, like):
        """Weights of diag + sign * D_hop on the device of `like`."""
        key = (sign, diag, array_module(like).__name__)
        w = self._weights.get(key)
        if w is None:
            W = np.zeros((9, 1, 1), dtype=np.complex128)
            for mu in range(4):
                W[2 * mu] = 0.5 * sign
                W[2 * mu + 1] = -0.5 * sign
            W[SITE] = diag
            w = self.stencil.prepare(W, like=like)
            self._weights[key] = w
        return w

    def _check(self, chi):
        if not isinstance(chi, StaggeredField):
            raise TypeError(f"Staggered acts on StaggeredField, got {type(chi).__name__}")
        if chi.N != self.N:
            raise ValueError(f"staggered field has N={chi.N} colours, gauge field N={self.N}")
        if chi.lat is not self.lat and (chi.lat.dims != self.lat.dims or chi.lat.grid != self.lat.grid):
            raise ValueError("staggered field and gauge field live on different lattices")

    def _apply(self, chi, sign, diag, sites=None, out=None, accumulate=False):
        self._check(chi)
        return self.stencil(chi, self._w(sign, diag, chi.data), out=out, sites=sites, accumulate=accumulate)

    # ------------------------------------------------------------------ full lattice
    def __call__(self, chi):
        """D chi = m chi + D_hop chi."""
        return self._apply(chi, +1, self.mass)

    M = __call__

    def adjoint(self, chi):
        """D^dag chi = m chi - D_hop chi."""
        return self._apply(chi, -1, self.mass)

    Mdag = adjoint

    def hop(self, chi, dagger=False, sites=None, out=None):
        """D_hop chi (or D_hop^dag chi = -D_hop chi), optionally on a list of output sites only
        (the other sites of the result are zero, or untouched when `out` is given)."""
        return self._apply(chi, -1 if dagger else +1, 0.0, sites=sites, out=out)

    def DdagD(self, chi):
        """D^dag D chi = m^2 chi - D_hop^2 chi (even-odd block diagonal)."""
        return self.adjoint(self(chi))

    MdagM = DdagD

    # ------------------------------------------------------------------ one parity
    def project(self, chi, parity=0):
        """A copy of chi with the sites of the other parity set to zero."""
        out = chi.zeros_like()
        s = self._sites(parity, chi)
        out.sites()[s] = chi.sites()[s]
        return out

    def _sites(self, parity, like):
        if parity not in (0, 1):
            raise ValueError(f"parity must be 0 (even) or 1 (odd), got {parity}")
        s = self.lat.sites_of_parity(parity)
        return self.stencil._site_list(s, array_module(like.data))

    def DdagD_even(self, chi, parity=0):
        """(D^dag D)_ee chi_e = m^2 chi_e - (D_hop D_hop chi_e)_e on the sites of `parity` (0: even).

        chi: a full-size StaggeredField; its sites of the other parity are ignored. The result is
        a full-size field that is zero on the other parity. Two half-lattice hops."""
        self._check(chi)
        if parity not in (0, 1):
            raise ValueError(f"parity must be 0 (even) or 1 (odd), got {parity}")
        p, q = self.lat.sites_of_parity(parity), self.lat.sites_of_parity(1 - parity)
        tmp = self.hop(chi, sites=q)                 # D_hop chi_e lives on the other parity
        out = self.project(chi, parity) * (self.mass ** 2)
        return self._apply(tmp, -1, 0.0, sites=p, out=out, accumulate=True)

    MdagM_even = DdagD_even
