"""Wilson and Wilson-clover Dirac operators (shared/CONVENTIONS.md, GPT `wilson_clover`):

  D psi = (4 + m) psi - 1/2 sum_mu [(1 - g_mu) U_mu(x) psi(x+mu) + (1 + g_mu) U_mu(x-mu)^dag psi(x-mu)]
          - c_sw/4 sum_{mu != nu} sigma_munu F_munu psi
"""
import numpy as np

from .._backend import core
from ..fields import FermionField
from ..stencil import StencilLinks, StencilRunner
from .clover import clover_blocks


def _mass(mass, kappa):
    if (mass is None) == (kappa is None):
        raise ValueError("give exactly one of mass and kappa (m = 1/(2 kappa) - 4)")
    if kappa is not None:
        if kappa <= 0:
            raise ValueError(f"kappa must be positive, got {kappa}")
        return 1.0 / (2.0 * kappa) - 4.0
    return float(mass)


class Wilson:
    """The Wilson operator on a gauge field; apply with D(psi), D.adjoint(psi).

    psi may hold a batch of right-hand sides ([t, z, y, x, nvec, 4, N]); each link is then loaded
    once per site for all of them. zero_boundary_links: None (the lattice's setting) or bool.
    """

    csw = 0.0

    def __init__(self, U, mass=None, kappa=None, boundary_phases=(0.0, 0.0, 0.0, 0.0), zero_boundary_links=None):
        self.U = U
        self.lat = U.lat
        self.N = U.N
        self.mass = _mass(mass, kappa)
        self.kappa = 1.0 / (2.0 * (self.mass + 4.0)) if self.mass != -4.0 else np.inf
        self.links = StencilLinks(U, boundary_phases, zero_boundary=zero_boundary_links)
        self.runner = StencilRunner(self.lat, self.links.zero_boundary)
        self.clover = None
        self._prepare()

    def _prepare(self):
        pass

    # ------------------------------------------------------------------ kernels
    def _apply(self, psi, dagger=False, diag=None, hop_coef=-0.5, use_clover=True, sites=None, out=None):
        if not isinstance(psi, FermionField):
            raise TypeError(f"{type(self).__name__} acts on FermionField, got {type(psi).__name__}")
        if psi.N != self.N:
            raise ValueError(f"fermion has N={psi.N} colours, gauge field N={self.N}")
        if psi.lat is not self.lat and psi.lat.dims != self.lat.dims:
            raise ValueError("fermion and gauge field live on different lattices")
        nrhs = psi.nvec
        V = self.lat.local_volume
        src = psi.data.reshape(V, -1)
        res = out if out is not None else psi.zeros_like()
        dst = res.data.reshape(V, -1)
        clover = self.clover if (use_clover and diag is None) else None
        d = (4.0 + self.mass) if diag is None else diag
        L = self.links
        Vh = self.runner.halo.Vh

        def kernel(halo, site_list):
            core.wilson(dst, src, halo, L.U, L.U_halo, self.runner.halo.table("nbr", src), site_list, clover,
                        d, hop_coef, nrhs, self.N, V, Vh, dagger)

        self.runner.run(kernel, src, sites)
        return res

    def __call__(self, psi):
        return self._apply(psi)

    M = __call__

    def adjoint(self, psi):
        """D^dag psi = g5 D g5 psi (computed directly, projectors swapped)."""
        return self._apply(psi, dagger=True)

    Mdag = adjoint

    def MdagM(self, psi):
        return self.adjoint(self(psi))

    def hop(self, psi, dagger=False, sites=None, out=None):
        """The pure hopping term -1/2 sum_mu [...] (no site term); optionally on a list of sites only."""
        return self._apply(psi, dagger=dagger, diag=0.0, use_clover=False, sites=sites, out=out)

    def site_term(self, psi):
        """The local part (4 + m) - c_sw/4 sigma F."""
        if self.clover is None:
            return psi * (4.0 + self.mass)
        out = psi.zeros_like()
        core.clover_apply(out.data, psi.data, self.clover, None, self.lat.local_volume, psi.nvec, self.N)
        return out

    @staticmethod
    def flops_per_site(clover=False):
        """Conventional flop counts: 1320 for the hopping term (+ 24*... for the site term), 1920 with clover."""
        return 1920 if clover else 1368


class WilsonClover(Wilson):
    """Wilson-clover: the clover term is built once per gauge field (two 2N x 2N blocks per site)."""

    def __init__(self, U, mass=None, kappa=None, csw=1.0, boundary_phases=(0.0, 0.0, 0.0, 0.0),
                 zero_boundary_links=None):
        self.csw = float(csw)
        super().__init__(U, mass=mass, kappa=kappa, boundary_phases=boundary_phases,
                         zero_boundary_links=zero_boundary_links)

    def _prepare(self):
        blocks = clover_blocks(self.U, 4.0 + self.mass, self.csw)
        self.clover = self.U.xp.asarray(blocks.astype(self.lat.complex_dtype))
