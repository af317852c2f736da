"""Gauge observables against independent numpy constructions, on every process grid."""
import numpy as np
import pytest

import gaugenet as gn
from gaugenet.gauge import spatial_temporal_plaquettes

from conftest import assert_close, grids, random_su_global

DIMS = (4, 4, 4, 8)


def _dag(a):
    return np.conj(np.swapaxes(a, -1, -2))


def _np_plaquettes(u):
    """(sum over x of Re tr U_munu(x) for each mu < nu) with np.roll on the global array [mu, t, z, y, x]."""
    out = {}
    for mu in range(4):
        for nu in range(mu + 1, 4):
            a, b = u[mu], u[nu]
            p = a @ np.roll(b, -1, axis=3 - mu) @ _dag(np.roll(a, -1, axis=3 - nu)) @ _dag(b)
            out[(mu, nu)] = np.trace(p, axis1=-2, axis2=-1).real.sum()
    return out


def _np_polyakov(u):
    ut = u[3]  # (t, z, y, x, N, N)
    P = ut[0]
    for t in range(1, ut.shape[0]):
        P = P @ ut[t]
    N = u.shape[-1]
    return np.trace(P, axis1=-2, axis2=-1).sum() / (P.shape[0] * P.shape[1] * P.shape[2] * N)


@pytest.mark.mpi
@pytest.mark.parametrize("grid", grids(DIMS))
@pytest.mark.parametrize("N", [2, 3])
def test_observables_match_numpy(grid, N):
    lat = gn.Lattice(DIMS, mpi=grid)
    u = random_su_global(DIMS, N, 81 + N)
    # bias towards the identity so that the values are far from zero
    u = np.linalg.qr(np.eye(N) + 0.4 * u)[0]
    u = u / (np.linalg.det(u) ** (1.0 / N))[..., None, None]
    U = gn.GaugeField.from_numpy(lat, u)
    V = lat.global_volume
    pl = _np_plaquettes(u)
    assert_close(gn.plaquette(U), sum(pl.values()) / (6 * V * N), 1e-13, "plaquette")
    ss, st = spatial_temporal_plaquettes(U)
    assert_close(ss, sum(v for k, v in pl.items() if k[1] != 3) / (3 * V * N), 1e-13, "spatial plaquette")
    assert_close(st, sum(v for k, v in pl.items() if k[1] == 3) / (3 * V * N), 1e-13, "temporal plaquette")
    assert_close(gn.link_trace(U), np.trace(u, axis1=-2, axis2=-1).real.sum() / (4 * V * N), 1e-13, "link trace")
    assert_close(gn.polyakov_loop(U), _np_polyakov(u), 1e-12, "Polyakov loop")
    assert abs(gn.polyakov_loop(U)) > 1e-3


@pytest.mark.mpi
def test_unit_field_and_gauge_invariance():
    lat = gn.Lattice(DIMS)
    for N in (2, 3):
        one = gn.GaugeField.unit(lat, N)
        assert gn.plaquette(one) == pytest.approx(1.0, abs=1e-15)
        assert gn.polyakov_loop(one) == pytest.approx(1.0, abs=1e-15)
        assert gn.link_trace(one) == pytest.approx(1.0, abs=1e-15)
        U = gn.GaugeField.random(lat, N, seed=91)
        om = gn.ColorMatrixField.random_su(lat, N, seed=92)
        Ug = U.transform(om)
        assert gn.plaquette(Ug) == pytest.approx(gn.plaquette(U), abs=1e-13)
        assert abs(gn.polyakov_loop(Ug) - gn.polyakov_loop(U)) < 1e-13
        # a centre transformation of the last time slice multiplies the Polyakov loop by the centre element
        z = np.exp(2j * np.pi / N)
        u = U.to_numpy()
        u[3, -1] *= z
        assert abs(gn.polyakov_loop(gn.GaugeField.from_numpy(lat, u)) - z * gn.polyakov_loop(U)) < 1e-13


@pytest.mark.mpi
def test_reunitarize_projects_to_su_n():
    lat = gn.Lattice(DIMS)
    U = gn.GaugeField.random(lat, 3, seed=93)
    noisy = U * (1 + 1e-4)
    noisy.data += 1e-5 * gn.GaugeField.random(lat, 3, seed=94).data
    assert noisy.unitarity_violation() > 1e-6
    R = noisy.reunitarize()
    assert R.unitarity_violation() < 1e-13
    assert np.abs(R.data - U.data).max() < 1e-4
