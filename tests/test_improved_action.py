"""gauge/improved.py: rectangle-improved gauge actions (Symanzik, Iwasaki, DBW2) against an np.roll reference on
the global links, their forces against finite differences, gauge invariance, the unit field, c1 = 0 = Wilson,
and identical values on every process grid."""
import numpy as np
import pytest

import gaugenet as gn
from gaugenet.gauge.action import wilson_action
from gaugenet.gauge.algebra import random_algebra
from gaugenet.gauge.expderiv import expm_su
from gaugenet.gauge.group import dag
from gaugenet.gauge.improved import GAUGE_ACTIONS, ImprovedGaugeAction, gauge_action_c1, rectangle_paths
from gaugenet.hmc.momenta import link_array, with_links

from conftest import grids, random_su_global

DIMS = (4, 4, 2, 4)


def _roll(a, mu, s):
    return np.roll(a, -s, axis=3 - mu)


def _ref_action(u, beta, c1):
    """S on global links u[mu, t, z, y, x, N, N] from explicit plaquettes and 2x1 rectangles (np.roll)."""
    N = u.shape[-1]

    def loop(path):
        def hop(mu, s):
            return u[mu] if s > 0 else dag(_roll(u[mu], mu, -1))
        R = hop(*path[-1])
        for mu, s in reversed(path[:-1]):
            R = hop(mu, s) @ _roll(R, mu, s)
        return np.trace(R, axis1=-2, axis2=-1).real

    plaq = sum(np.sum(1 - loop([(mu, 1), (nu, 1), (mu, -1), (nu, -1)]) / N)
               for mu in range(4) for nu in range(mu + 1, 4))
    rect = 0.0
    for mu in range(4):
        for nu in range(4):
            if nu != mu:
                # 2 along mu, 1 along nu: U_mu(x) U_mu(x+mu) U_nu(x+2mu) U_mu(x+mu+nu)^dag U_mu(x+nu)^dag U_nu(x)^dag
                a = u[mu] @ _roll(u[mu], mu, 1) @ _roll(_roll(u[nu], mu, 2), nu, 0)
                b = dag(_roll(_roll(u[mu], mu, 1), nu, 1)) @ dag(_roll(u[mu], nu, 1)) @ dag(u[nu])
                rect += np.sum(1 - np.trace(a @ b, axis1=-2, axis2=-1).real / N)
    return beta * ((1 - 8 * c1) * plaq + c1 * rect)


@pytest.mark.mpi
@pytest.mark.parametrize("N", [2, 3])
@pytest.mark.parametrize("grid", grids(DIMS))
def test_action_matches_reference_on_every_grid(N, grid):
    u = random_su_global(DIMS, N, seed=11)
    lat = gn.Lattice(DIMS, mpi=grid)
    U = gn.GaugeField.from_numpy(lat, u)
    for name, c1 in GAUGE_ACTIONS.items():
        S = ImprovedGaugeAction(5.0, name).action(U)
        ref = _ref_action(u, 5.0, c1)
        assert abs(S - ref) < 1e-11 * abs(ref), (name, S, ref)


def test_unit_field_wilson_limit_and_names():
    lat = gn.Lattice(DIMS)
    assert ImprovedGaugeAction(6.0, "iwasaki").action(gn.GaugeField.unit(lat, 3)) == 0.0
    U = gn.GaugeField.random(lat, 3, seed=4)
    assert abs(ImprovedGaugeAction(6.0, "wilson").action(U) - wilson_action(U, 6.0)) < 1e-12 * wilson_action(U, 6.0)
    assert ImprovedGaugeAction(6.0, "Symanzik").c1 == -1.0 / 12.0
    assert ImprovedGaugeAction(6.0, "-0.2").c0 == pytest.approx(2.6)
    assert gauge_action_c1("dbw2") == -1.4088 and len(rectangle_paths()) == 12
    with pytest.raises(ValueError, match="unknown gauge action 'luscher'"):
        ImprovedGaugeAction(6.0, "luscher")
    with pytest.raises(ValueError, match="beta must be positive"):
        ImprovedGaugeAction(-1.0, "symanzik")


@pytest.mark.parametrize("N,name", [(2, "symanzik"), (3, "iwasaki"), (3, "dbw2")])
def test_force_matches_finite_differences(N, name):
    lat = gn.Lattice(DIMS)
    U = gn.GaugeField.random(lat, N, seed=5)
    Z = random_algebra(lat, N, 7, lead_shape=(4,)).reshape(4, -1, N, N)
    act = ImprovedGaugeAction(4.0, name)
    F = act.force(U)
    an = float(lat.allreduce(2.0 * float(np.sum(Z * np.swapaxes(F, -1, -2)).real)))
    L = link_array(U)

    def d(h):
        return (act.action(with_links(U, expm_su(h * Z) @ L)) - act.action(with_links(U, expm_su(-h * Z) @ L))) / (2 * h)
    fd = (4 * d(1e-3) - d(2e-3)) / 3
    assert abs(an - fd) < 1e-8 * max(1.0, abs(fd)), (an, fd)
    # the force is traceless anti-hermitian
    assert np.abs(F + dag(F)).max() < 1e-13 * np.abs(F).max()
    assert np.abs(np.trace(F, axis1=-2, axis2=-1)).max() < 1e-13 * np.abs(F).max()


@pytest.mark.mpi
@pytest.mark.parametrize("grid", grids(DIMS))
def test_gauge_invariance_and_force_on_every_grid(grid):
    N = 3
    u = random_su_global(DIMS, N, seed=21)
    g = random_su_global(DIMS, N, seed=22)[0]                 # a gauge transformation g(x)
    ut = np.stack([g @ u[mu] @ dag(_roll(g, mu, 1)) for mu in range(4)])
    lat = gn.Lattice(DIMS, mpi=grid)
    act = ImprovedGaugeAction(5.5, "symanzik")
    S, St = act.action(gn.GaugeField.from_numpy(lat, u)), act.action(gn.GaugeField.from_numpy(lat, ut))
    assert abs(S - St) < 1e-12 * S
    # the force on every grid equals the force of the global field on one undivided domain
    from mpi4py import MPI
    F = act.force(gn.GaugeField.from_numpy(lat, u))
    Fg = lat.gather_global(F.reshape((4,) + tuple(lat.local_shape) + (N, N)), lead=1)
    lat1 = gn.Lattice(DIMS, comm=MPI.COMM_SELF)
    F1 = act.force(gn.GaugeField.from_numpy(lat1, u)).reshape(Fg.shape)
    assert np.abs(Fg - F1).max() < 1e-12 * np.abs(F1).max()
