"""Links as a stencil sees them: boundary phases (and e.g. staggered phases) folded in,
links across rank boundaries zeroed in zero-boundary-link mode, halo attached once."""
import numpy as np


class StencilLinks:
    """U (4, V, N, N) local links and U_halo (4, Vh, N, N) for one-hop stencils.

    boundary_phases: theta_mu; the link U_mu on the global slice x_mu = L_mu - 1 gets exp(i theta_mu).
    site_phases: optional (4, V) real array multiplying U_mu(x) (staggered eta_mu(x)).
    zero_boundary: None (the lattice's setting) or bool; in that mode the links that cross a rank
        boundary are zero and no halo is exchanged, neither here nor in the stencil.
    """

    def __init__(self, U, boundary_phases=(0.0, 0.0, 0.0, 0.0), site_phases=None, zero_boundary=None):
        lat = U.lat
        self.lat, self.N = lat, U.N
        self.zero_boundary = lat.zero_boundary_links if zero_boundary is None else bool(zero_boundary)
        xp = U.xp
        links = U.sites().copy()
        coords = lat.global_coordinates()
        self.boundary_phases = tuple(float(t) for t in boundary_phases)
        if len(self.boundary_phases) != 4:
            raise ValueError(f"boundary_phases must have four entries (x, y, z, t), got {boundary_phases}")
        for mu, theta in enumerate(self.boundary_phases):
            if theta != 0.0:
                mask = xp.asarray(coords[:, mu] == lat.dims[mu] - 1)
                links[mu][mask] *= np.exp(1j * theta)
        if site_phases is not None:
            links *= xp.asarray(site_phases)[:, :, None, None].astype(lat.real_dtype)
        if self.zero_boundary:
            loc = lat.local_coordinates()
            for mu in range(4):
                if lat.grid[mu] > 1:
                    links[mu][xp.asarray(loc[:, mu] == lat.local_dims[mu] - 1)] = 0
        self.U = xp.ascontiguousarray(links)
        halo = lat.halo(1)
        self.halo = halo
        self.U_halo = xp.zeros((4, halo.Vh, self.N, self.N), dtype=links.dtype) if halo.Vh else None
        if halo.Vh:
            for mu in range(4):
                halo.exchange(self.U[mu], self.U_halo[mu], zero_boundary=self.zero_boundary)
