"""Zero-boundary-link mode (communication avoidance, seed 000 Sec. II E): no halo messages at all, and the
result equals a single-rank computation on the same links with the rank-boundary links set to zero."""
import numpy as np
import pytest
from mpi4py import MPI

import gaugenet as gn

from conftest import assert_close, grids

DIMS = (4, 4, 4, 8)


def _zero_crossing_links(u, lat):
    """Independent construction: zero U_mu(x) whenever x and x + mu belong to different ranks."""
    u = u.copy()
    for mu in range(4):
        if lat.grid[mu] == 1:
            continue
        l = lat.local_dims[mu]
        for r in range(lat.grid[mu]):
            sl = [slice(None)] * 4
            sl[3 - mu] = (r + 1) * l - 1
            u[(mu,) + tuple(sl)] = 0
    return u


@pytest.mark.mpi
@pytest.mark.parametrize("grid", grids(DIMS))
@pytest.mark.parametrize("how", ["lattice", "operator"])
def test_zero_boundary_equals_single_rank_with_zeroed_links(grid, how):
    base = gn.Lattice(DIMS, mpi=grid)
    lat = base.like(zero_boundary_links=True) if how == "lattice" else base
    U = gn.GaugeField.random(lat, 3, seed=31)
    psi = gn.FermionField.random(lat, 3, seed=32, nvec=2)
    h = lat.halo(1)
    D = gn.WilsonClover(U, mass=-0.6, csw=1.0, boundary_phases=(0, 0, 0, np.pi),
                        zero_boundary_links=True if how == "operator" else None)
    # clover term is built from the true field (it is site-local); only hops across ranks are cut
    n0 = h.messages_sent
    chi = D(psi)
    chid = D.adjoint(psi)
    assert h.messages_sent == n0, "zero-boundary-link mode must not send halo messages"
    u, p = U.to_numpy(), psi.to_numpy()
    lat1 = gn.Lattice(DIMS, comm=MPI.COMM_SELF)
    Uz = gn.GaugeField(lat1, lat1.scatter_global(_zero_crossing_links(u, lat), lead=1))
    # reference: clover from the true links, hops from the zeroed links
    D1 = gn.WilsonClover(gn.GaugeField.from_numpy(lat1, u), mass=-0.6, csw=1.0)
    Dz = gn.Wilson(Uz, mass=-0.6, boundary_phases=(0, 0, 0, np.pi))
    p1 = gn.FermionField.from_numpy(lat1, p)
    ref = (D1.site_term(p1) + Dz.hop(p1)).to_numpy()
    refd = (D1.site_term(p1) + Dz.hop(p1, dagger=True)).to_numpy()
    assert_close(chi.to_numpy(), ref, 1e-12, "D")
    assert_close(chid.to_numpy(), refd, 1e-12, "D^dag")


@pytest.mark.mpi
def test_normal_mode_sends_messages_when_split():
    lat = gn.Lattice(DIMS)
    U = gn.GaugeField.random(lat, 3, seed=33)
    D = gn.Wilson(U, mass=0.1)
    h = lat.halo(1)
    n0 = h.messages_sent
    D(gn.FermionField.random(lat, 3, seed=34))
    assert h.messages_sent - n0 == len(h.faces) == 2 * sum(1 for g in lat.grid if g > 1)
