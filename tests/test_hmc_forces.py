"""Finite-difference checks of the HMC forces against the actions (gaugenet.hmc): the even-site staggered
pseudofermion force (CG through the even sites) on thin links, the SLHMC force through the two-layer stout
network (chain rule of StoutNetwork.backward) and dS_theta/drho, for SU(2) and SU(3). Derivatives along
U -> exp(t Z) U with a random su(N) direction Z on every link; Richardson-extrapolated central differences."""
import numpy as np
import pytest

import gaugenet as gn
from gaugenet.gauge.algebra import random_algebra
from gaugenet.gauge.expderiv import expm_su
from gaugenet.hmc import StaggeredPseudofermion
from gaugenet.hmc.actions import GaugeAction, Hamiltonian, PseudofermionAction, SmearedPseudofermionAction
from gaugenet.hmc.momenta import link_array, with_links

DIMS = (4, 4, 4, 4)
NET = [(0.1, 0.05, 0.03), (0.08, -0.04, 0.06)]
TOL = 1e-13


def _setup(N, seed=3):
    lat = gn.Lattice(DIMS)
    U = gn.GaugeField.random(lat, N, seed=seed)
    Z = random_algebra(lat, N, seed + 100, lead_shape=(4,)).reshape(4, -1, N, N)
    return lat, U, Z


def _directional(F, Z, lat):
    """2 sum tr(Z F): the derivative the force predicts."""
    return float(lat.allreduce(2.0 * float(np.sum(Z * np.swapaxes(F, -1, -2)).real)))


def _fd(S, U, Z, h=2e-3):
    L = link_array(U)

    def d(hh):
        return (S(with_links(U, expm_su(hh * Z) @ L)) - S(with_links(U, expm_su(-hh * Z) @ L))) / (2 * hh)
    return (4 * d(h / 2) - d(h)) / 3


@pytest.mark.parametrize("N", [2, 3])
def test_pseudofermion_force_matches_action(N):
    lat, U, Z = _setup(N)
    pf = StaggeredPseudofermion(0.3, tol=TOL, action_tol=TOL)
    phi = pf.heatbath(U, 1, 5)
    F = pf.force(U, phi)
    an = _directional(F, Z, lat)
    fd = _fd(lambda V: pf.action(V, phi), U, Z)
    assert abs(an - fd) < 1e-7 * max(1.0, abs(fd)), (an, fd)
    # the force lives in su(N)
    assert np.abs(F + np.conj(np.swapaxes(F, -1, -2))).max() < 1e-13
    assert np.abs(np.trace(F, axis1=-2, axis2=-1)).max() < 1e-13


@pytest.mark.parametrize("N", [2, 3])
def test_pseudofermion_heatbath_even_sites_and_action(N):
    """phi_e = (D^dag xi)_e lives on the even sites; S_f = phi^dag A^{-1} phi > 0 and at equal links and
    masses the action of phi = A chi is chi^dag A chi."""
    lat, U, _ = _setup(N)
    pf = StaggeredPseudofermion(0.3, tol=TOL, action_tol=TOL)
    phi = pf.heatbath(U, 4, 9)
    odd = lat.sites_of_parity(1)
    assert np.abs(phi.sites()[odd]).max() == 0.0
    D = pf.operator(U)
    chi = D.project(gn.StaggeredField.random(lat, N, seed=11), 0)
    S = pf.action(U, D.DdagD_even(chi))
    want = chi.inner(D.DdagD_even(chi)).real
    assert abs(S - want) < 1e-10 * abs(want)


@pytest.mark.parametrize("N", [2, 3])
def test_smeared_force_and_rho_gradient(N):
    lat, U, Z = _setup(N, seed=5)
    pf = StaggeredPseudofermion(0.3, tol=TOL, action_tol=TOL)
    act = SmearedPseudofermionAction(StaggeredPseudofermion(0.4, tol=TOL, action_tol=TOL), NET)
    act.phi = pf.heatbath(U, 2, 7)
    S, F, g = act.action_force_and_grad(U)
    assert abs(S - act.action(U)) < 1e-12 * abs(S)
    assert np.abs(F - act.force(U)).max() < 1e-9 * np.abs(F).max()
    an = _directional(F, Z, lat)
    fd = _fd(act.action, U, Z)
    assert abs(an - fd) < 1e-7 * max(1.0, abs(fd)), (an, fd)
    p0 = act.network.params.copy()
    h = 1e-4
    for i in range(p0.size):
        vals = []
        for s in (1, -1, 0.5, -0.5):
            e = np.zeros(p0.size)
            e[i] = s * h
            act.network.params = p0 + e
            vals.append(act.action(U))
        d1 = (vals[0] - vals[1]) / (2 * h)
        d2 = (vals[2] - vals[3]) / h
        fd_i = (4 * d2 - d1) / 3
        assert abs(g.ravel()[i] - fd_i) < 1e-7 * max(1.0, abs(fd_i)), (i, g.ravel()[i], fd_i)
    act.network.params = p0


def test_total_md_force_is_the_sum():
    """The Hamiltonian's force is the gauge force plus the fermion force, and matches S_g + S_f."""
    lat, U, Z = _setup(2, seed=8)
    pf = PseudofermionAction(StaggeredPseudofermion(0.3, tol=TOL, action_tol=TOL))
    pf.refresh(U, 1, 3)
    H = Hamiltonian([GaugeAction(2.7), pf])
    F = H.force(U)
    an = _directional(F, Z, lat)
    fd = _fd(H.action, U, Z)
    assert abs(an - fd) < 1e-7 * max(1.0, abs(fd)), (an, fd)
