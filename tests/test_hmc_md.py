"""Molecular dynamics and the Metropolis step of gaugenet.hmc: reversibility of the integrators (HMC and the
SLHMC smeared MD), dH ~ eps^2 for leapfrog, <exp(-dH)> = 1, the Metropolis test of SLHMC with the target
Hamiltonian, and clear errors for bad input."""
import math

import numpy as np
import pytest

import gaugenet as gn
from gaugenet.gauge.algebra import random_algebra
from gaugenet.gauge.expderiv import expm_su
from gaugenet.hmc import HMC, SLHMC, HMCError, integrate
from gaugenet.hmc import streams
from gaugenet.hmc.momenta import draw_momenta, kinetic_energy, with_links
from gaugenet.solvers.result import NotConvergedError

DIMS = (4, 4, 4, 4)
BETA, MASS, MH = 2.7, 0.3, 0.4
RHO = [-0.011, -0.04, 0.015, -0.010, -0.038, 0.016]


def _rough(N=2, seed=1, scale=0.6):
    """A moderately rough field exp(scale Z) (cheap to solve on, far from unit)."""
    lat = gn.Lattice(DIMS)
    Z = random_algebra(lat, N, seed, lead_shape=(4,)).reshape(4, -1, N, N)
    return with_links(gn.GaugeField.unit(lat, N), expm_su(scale * Z))


_THERM = {}


def _thermalised():
    """A field after 12 HMC trajectories from a cold start (cached for the module)."""
    if "U" not in _THERM:
        lat = gn.Lattice(DIMS)
        U = gn.GaugeField.unit(lat, 2)
        h = HMC(BETA, MASS, n_steps=4, seed=99)
        for t in range(12):
            U, _ = h.trajectory(U, t)
        _THERM["U"] = U
    return _THERM["U"]


@pytest.mark.parametrize("algorithm,scheme", [("hmc", "leapfrog"), ("hmc", "omelyan"), ("slhmc", "omelyan")])
def test_reversibility(algorithm, scheme):
    U0 = _rough()
    kw = dict(n_steps=4, integrator=scheme, seed=5, cg_tol=1e-13, action_tol=1e-13)
    s = HMC(BETA, MASS, **kw) if algorithm == "hmc" else SLHMC(BETA, MASS, MH, rho=RHO, **kw)
    s.fermion.refresh(U0, 5, 77)
    s._share_phi()
    P0 = draw_momenta(U0.lat, 2, 5, 78)
    U1, P1 = integrate(U0, P0, s.md.force, 4, 1.0, scheme)
    assert np.abs(U1.data - U0.data).max() > 0.1          # it moved
    U2, P2 = integrate(U1, -P1, s.md.force, 4, 1.0, scheme)
    assert np.abs(U2.data - U0.data).max() < 1e-10
    assert np.abs(P2 + P0).max() < 1e-10


def test_leapfrog_energy_error_scales_as_eps_squared():
    U = _thermalised()
    dH = []
    for n in (16, 32, 64):
        h = HMC(BETA, MASS, n_steps=n, integrator="leapfrog", seed=3, cg_tol=1e-12)
        _, _, H0, H1, nf = h.molecular_dynamics(U, 0)
        assert nf == n + 1
        dH.append(H1 - H0)
    r1, r2 = dH[0] / dH[1], dH[1] / dH[2]
    assert 3.6 < r1 < 4.6 and 3.8 < r2 < 4.2, dH


def test_omelyan_is_more_accurate_per_force():
    """Omelyan 2MN with n steps (2n + 1 forces) beats leapfrog with 2n steps (2n + 1 forces)."""
    U = _thermalised()
    lf = HMC(BETA, MASS, n_steps=8, integrator="leapfrog", seed=3, cg_tol=1e-12).molecular_dynamics(U, 0)
    om = HMC(BETA, MASS, n_steps=4, integrator="omelyan", seed=3, cg_tol=1e-12).molecular_dynamics(U, 0)
    assert lf[4] == om[4] == 9
    assert abs(om[3] - om[2]) < abs(lf[3] - lf[2])


@pytest.mark.parametrize("algorithm", ["hmc", "slhmc"])
def test_exp_minus_dH_averages_to_one(algorithm):
    U = _thermalised()
    if algorithm == "hmc":
        s = HMC(BETA, MASS, n_steps=10, integrator="leapfrog", seed=11)
    else:   # a mismatched MD action (m_h = 0.32, thin links): larger dH, still exact
        s = SLHMC(BETA, MASS, 0.32, rho=np.zeros(6), n_steps=3, integrator="omelyan", seed=11)
    e, dH = [], []
    for t in range(30):
        U, r = s.trajectory(U, 100 + t)
        e.append(r.exp_mdH)
        dH.append(r.dH)
    e = np.array(e)
    err = e.std(ddof=1) / math.sqrt(len(e))
    assert np.mean(np.abs(dH)) > 0.05            # the test is not trivial
    assert err < 0.1
    assert abs(e.mean() - 1.0) < 3.5 * err + 1e-3, (e.mean(), err)


def test_slhmc_metropolis_uses_the_target_hamiltonian():
    U = _thermalised()
    s = SLHMC(BETA, MASS, MH, rho=RHO, n_steps=3, seed=21)
    for traj in (0, 1, 2, 3):
        dH_target, dH_md, U1 = s.md_hamiltonian_change(U, traj)
        Un, rec = s.trajectory(U, traj)
        assert abs(rec.dH - dH_target) < 1e-9 * max(1.0, abs(dH_target))
        assert abs(dH_target - dH_md) > 1e-3            # the MD Hamiltonian is a different function
        u = streams.metropolis_uniform(s.seed, traj)
        assert rec.accepted == (u < math.exp(-rec.dH))
        assert np.array_equal(Un.data, U1.data if rec.accepted else U.data)


def test_slhmc_with_zero_weights_and_target_mass_is_hmc():
    U = _thermalised()
    h = HMC(BETA, MASS, n_steps=3, seed=4)
    s = SLHMC(BETA, MASS, MASS, rho=np.zeros(6), n_steps=3, seed=4)
    for t in range(2):
        Uh, rh = h.trajectory(U, t)
        Us, rs = s.trajectory(U, t)
        assert abs(rh.dH - rs.dH) < 1e-10 and rh.accepted == rs.accepted
        assert np.abs(Uh.data - Us.data).max() < 1e-12


def test_chain_is_a_function_of_the_seed():
    U = _thermalised()
    a = HMC(BETA, MASS, n_steps=3, seed=8).trajectory(U, 5)[1]
    b = HMC(BETA, MASS, n_steps=3, seed=8).trajectory(U, 5)[1]
    c = HMC(BETA, MASS, n_steps=3, seed=9).trajectory(U, 5)[1]
    assert a.dH == b.dH and a.plaquette == b.plaquette
    assert a.dH != c.dH


def test_kinetic_energy_distribution():
    """<K> = (N^2 - 1)/2 per link for p^a ~ N(0, 1)."""
    lat = gn.Lattice(DIMS)
    K = [kinetic_energy(lat, draw_momenta(lat, 3, 1, s)) for s in range(4)]
    per_link = np.mean(K) / (4 * lat.global_volume)
    assert abs(per_link - 4.0) < 0.1


def test_bad_input_errors():
    lat = gn.Lattice(DIMS)
    U = _rough()
    bad = with_links(U, 1.01 * U.sites())
    with pytest.raises(gn.NonUnitaryLinksError, match="not SU"):
        HMC(BETA, MASS, n_steps=2).trajectory(bad, 0)
    with pytest.raises(NotConvergedError, match="not converged"):
        HMC(BETA, MASS, n_steps=2, maxiter=3).trajectory(U, 0)
    for kw in (dict(n_steps=0), dict(tau=-1.0), dict(integrator="euler")):
        with pytest.raises(ValueError):
            HMC(BETA, MASS, **kw)
    with pytest.raises(ValueError, match="mass"):
        HMC(BETA, -0.1)
    with pytest.raises(ValueError, match="beta"):
        HMC(float("nan"), 0.3)
    with pytest.raises(ValueError, match="3 per layer"):
        SLHMC(BETA, MASS, MH, rho=[0.1, 0.2])
    with pytest.raises(ValueError, match="mass"):
        SLHMC(BETA, MASS, 0.0)
    assert lat.dims == DIMS


def test_nan_energy_raises(monkeypatch):
    U = _rough()
    h = HMC(BETA, MASS, n_steps=2)
    calls = []
    orig = h.gauge.action

    def action(V):
        calls.append(1)
        return orig(V) if len(calls) == 1 else float("nan")
    monkeypatch.setattr(h.gauge, "action", action)
    with pytest.raises(HMCError, match="dH = nan"):
        h.trajectory(U, 0)
