"""Staggered Dirac operator (shared/CONVENTIONS.md, LatticeDiracOperators.jl conventions):

  D chi(x) = m chi(x) + 1/2 sum_mu eta_mu(x) [ U_mu(x) chi(x+mu) - U_mu(x-mu)^dag chi(x-mu) ]
  eta_x = 1, eta_y = (-1)^x, eta_z = (-1)^(x+y), eta_t = (-1)^(x+y+z)   (0-based global coordinates)

The phases eta_mu(x) and the fermion boundary phases are folded into the links once
(StencilLinks(site_phases=eta)); eta_mu does not depend on x_mu, so the folded link
eta_mu(x-mu) U_mu(x-mu)^dag is also the right backward hop. The operator runs on the generic
one-hop stencil with ns = 1. D = m + D_hop with D_hop anti-hermitian, so D^dag = m - D_hop and
D^dag D = m^2 - D_hop^2, which connects even sites only to even sites (and odd to odd).

Even-site fields: the even-site restriction of D^dag D, (D^dag D)_ee = m^2 - (D_hop D_hop)_ee, acts on
half-lattice fields (StaggeredParityField, fields/parity.py): two half-lattice hops (stencil/half.py:
forward hops with the links of the output parity, backward hops with the other parity's, core.hop's
U_back), each with the halo exchange of its half-field input. Full-size StaggeredFields are accepted
too (their sites of the other parity are ignored; results are zero there), at the cost of the copies.
"""
import numpy as np

from .._backend import array_module, core
from ..fields import StaggeredField, StaggeredParityField
from ..stencil import StencilLinks
from ..stencil.half import HalfLattice
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
        self._half_lattice = None
        self._bufs = {}

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

    def _half(self):
        """The half-lattice links and runners (built on first use)."""
        if self._half_lattice is None:
            self._half_lattice = HalfLattice(self.links)
        return self._half_lattice

    def restrict(self, chi, parity=0):
        """The sites of `parity` of a StaggeredField, as a StaggeredParityField."""
        self._check(chi)
        if parity not in (0, 1):
            raise ValueError(f"parity must be 0 (even) or 1 (odd), got {parity}")
        return self._half().restrict(chi, parity, StaggeredParityField)

    def embed(self, *parts):
        """The StaggeredField holding the given StaggeredParityFields on their sites (zero elsewhere)."""
        return self._half().embed(parts, StaggeredField)

    def _half_hop(self, out, x, q, sign, accumulate=False):
        """out (+)= sign * D_hop x on the sites of parity 1 - q, from the parity-q half array x (Vp, [nvec,] N)."""
        hl = self._half()
        p = 1 - q
        runner = hl.runners[q]
        h = runner.halo
        W = self._w(sign, 0.0, x)       # no site weight: the input and output rows are different sites
        nvec = x.shape[1] if x.ndim == 3 else 1
        src, dst = x.reshape(hl.Vp, -1), out.reshape(hl.Vp, -1)

        def kernel(halo, site_list):
            core.hop(dst, src, halo, hl.U[p], hl.U_halo[q], h.table("nbr", src), site_list, W.data, W.per_site,
                     W.mask, nvec, 1, 1, 1, self.N, hl.Vp, h.Vh, accumulate, U_back=hl.U[q], U_back_halo=hl.U_halo[q])

        runner.run(kernel, src)
        return out

    def DdagD_even(self, chi, parity=0, out=None):
        """(D^dag D)_ee chi_e = m^2 chi_e - (D_hop D_hop chi_e)_e on the sites of `parity` (0: even).

        chi: a StaggeredParityField of that parity (result: a StaggeredParityField; out: one to write into),
        or a full-size StaggeredField (its sites of the other parity are ignored; the result is a full-size
        field that is zero there). Two half-lattice hops."""
        if isinstance(chi, StaggeredParityField):
            if chi.parity != parity:
                raise ValueError(f"DdagD_even (parity {parity}) applied to a field of parity {chi.parity}")
            if chi.N != self.N:
                raise ValueError(f"staggered field has N={chi.N} colours, gauge field N={self.N}")
            half, full = chi, False
        else:
            half, full = self.restrict(chi, parity), True
        a = half.data
        if out is not None and (full or out.data.shape != a.shape or out.data.dtype != a.dtype or out.data is a):
            raise ValueError("DdagD_even: out must be a separate StaggeredParityField shaped like the input")
        xp = array_module(a)
        key = (a.shape, a.dtype.str, xp.__name__)
        t = self._bufs.get(key)
        if t is None:
            t = self._bufs[key] = xp.empty_like(a)
        self._half_hop(t, a, parity, +1)                       # D_hop chi_e, on the other parity
        res = out.data if out is not None else xp.empty_like(a)
        xp.multiply(a, self.mass ** 2, out=res)
        self._half_hop(res, t, 1 - parity, -1, accumulate=True)
        r = out if out is not None else half._new(res)
        return self.embed(r) if full else r

    MdagM_even = DdagD_even
