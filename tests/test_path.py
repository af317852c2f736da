"""Parallel transport along paths: link products, gauge covariance, T_p^dag = T_{p^-1}, any process grid."""
import numpy as np
import pytest
from mpi4py import MPI

import gaugenet as gn
from gaugenet.stencil import StencilLinks
from gaugenet.stencil.path import Path, Transport

from conftest import assert_close, grids

DIMS = (4, 4, 4, 8)


def _dag(a):
    return np.conj(np.swapaxes(a, -1, -2))


def _reference(u, phi, path):
    """Independent numpy: apply H_{p_1} first, each hop with np.roll on the global arrays."""
    out = phi
    for mu, s in path:
        ax = 3 - mu
        if s > 0:   # U_mu(x) f(x + mu)
            out = np.einsum("tzyxab,tzyx...sb->tzyx...sa", u[mu], np.roll(out, -1, axis=ax))
        else:       # U_mu(x - mu)^dag f(x - mu)
            out = np.einsum("tzyxab,tzyx...sb->tzyx...sa", _dag(np.roll(u[mu], 1, axis=ax)), np.roll(out, 1, axis=ax))
    return out


def test_path_builder():
    p = Path().forward(0).backward(1, 2).f(3)
    assert p.hops == [(0, 1), (1, -1), (1, -1), (3, 1)]
    assert p.displacement() == (1, -2, 0, 1)
    assert p.inverse().hops == [(3, -1), (1, 1), (1, 1), (0, -1)]
    assert repr(Path([(2, -1)])) == "Path().backward(2)"
    with pytest.raises(ValueError, match="a hop is"):
        Path([(4, 1)])


@pytest.mark.mpi
@pytest.mark.parametrize("grid", grids(DIMS))
def test_transport_matches_link_products(grid):
    lat = gn.Lattice(DIMS, mpi=grid)
    U = gn.GaugeField.random(lat, 3, seed=51)
    phi = gn.FermionField.random(lat, 3, nvec=2, seed=52)
    T = Transport(StencilLinks(U))
    u, p = U.to_numpy(), phi.to_numpy()
    for path in (Path().forward(0), Path().backward(3), Path().forward(1).forward(2),
                 Path().forward(0).backward(1).backward(1).forward(3)):
        assert_close(T(phi, path).to_numpy(), _reference(u, p, path), 1e-13, repr(path))


@pytest.mark.mpi
def test_transport_covariance_and_adjoint():
    lat = gn.Lattice(DIMS)
    U = gn.GaugeField.random(lat, 2, seed=53)
    om = gn.ColorMatrixField.random_su(lat, 2, seed=54)
    path = Path().forward(0).forward(3).backward(1)
    T, Tg = Transport(StencilLinks(U)), Transport(StencilLinks(U.transform(om)))
    phi = gn.FermionField.random(lat, 2, seed=55)
    chi = gn.FermionField.random(lat, 2, seed=56)
    # T_p[U^Omega] Omega phi = Omega T_p[U] phi
    assert_close(Tg(phi.transform(om), path).data, T(phi, path).transform(om).data, 1e-13, "covariance")
    # <chi, T_p phi> = <T_{p^-1} chi, phi>
    assert_close(chi.inner(T(phi, path)), T(chi, path.inverse()).inner(phi), 1e-13, "adjoint")


def test_colour_vector_transport():
    lat = gn.Lattice(DIMS, comm=MPI.COMM_SELF)
    U = gn.GaugeField.random(lat, 3, seed=57)
    chi = gn.StaggeredField.random(lat, 3, seed=58)
    path = Path().backward(2).forward(0)
    got = Transport(StencilLinks(U), ns=1)(chi, path).to_numpy()
    ref = _reference(U.to_numpy(), chi.to_numpy()[..., None, :], path)[..., 0, :]
    assert_close(got, ref, 1e-13, "colour vectors")
