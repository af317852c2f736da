"""Wilson gauge action, staples and MD force: an independent numpy construction of the action,
finite differences of the force along random su(N) directions, gauge invariance, and the same
numbers on 1, 2 and 4 ranks."""
import numpy as np
import pytest
from mpi4py import MPI

import gaugenet as gn
from gaugenet.gauge.action import action_derivative, gauge_force, staples, wilson_action
from gaugenet.gauge.algebra import components, expm_antihermitian, from_components, generators, random_algebra

from conftest import assert_close, grids, random_su_global

DIMS = (4, 4, 4, 8)


def _dag(a):
    return np.conj(np.swapaxes(a, -1, -2))


def _action_numpy(u, beta):
    """S_g from the global array [mu, t, z, y, x, N, N] with np.roll only (shares nothing with gaugenet)."""
    N = u.shape[-1]
    axis = {0: 3, 1: 2, 2: 1, 3: 0}   # direction -> axis of the (t, z, y, x) block

    def fwd(a, mu):  # a(x + mu)
        return np.roll(a, -1, axis=axis[mu])

    s = 0.0
    for mu in range(4):
        for nu in range(mu + 1, 4):
            p = u[mu] @ fwd(u[nu], mu) @ _dag(fwd(u[mu], nu)) @ _dag(u[nu])
            s += np.sum(1.0 - np.trace(p, axis1=-2, axis2=-1).real / N)
    return beta * s


def _moved(U, X, t):
    """exp(t X_mu(x)) U_mu(x) for a local algebra field X (4, local..., N, N)."""
    return U._new(expm_antihermitian(t * X) @ U.data)


@pytest.mark.parametrize("N", [2, 3])
def test_action_matches_independent_construction(N):
    lat = gn.Lattice(DIMS, mpi=(1, 1, 1, 1), comm=MPI.COMM_SELF)
    u = random_su_global(DIMS, N, seed=11)
    U = gn.GaugeField.from_numpy(lat, u)
    beta = 5.7
    assert_close(wilson_action(U, beta), _action_numpy(u, beta), 1e-12, "S_g vs numpy")
    # S_g = beta 6 V (1 - P) with the normalised plaquette of shared/CONVENTIONS.md
    assert_close(wilson_action(U, beta), beta * 6 * lat.global_volume * (1 - gn.plaquette(U)), 1e-12, "S_g vs P")
    assert wilson_action(gn.GaugeField.unit(lat, N), beta) == 0.0


@pytest.mark.parametrize("N", [2, 3])
def test_staples_close_the_plaquettes(N):
    """sum_{x, mu} Re tr(U_mu A_mu) counts every plaquette four times (once per link)."""
    lat = gn.Lattice(DIMS, mpi=(1, 1, 1, 1), comm=MPI.COMM_SELF)
    U = gn.GaugeField.random(lat, N, seed=5)
    tot = sum(np.trace(U.link(mu) @ staples(U, mu), axis1=-2, axis2=-1).real.sum() for mu in range(4))
    plaq_sum = 6 * lat.global_volume * N * gn.plaquette(U)
    assert_close(tot, 4 * plaq_sum, 1e-12, "staple sum")
    # the parity-restricted staples equal the full ones on those sites
    for mu in range(4):
        full = staples(U, mu)
        for p in (0, 1):
            s = lat.sites_of_parity(p)
            assert_close(staples(U, mu, sites=s), full[s], 1e-14, f"staples mu={mu} parity={p}")


def test_generators_and_algebra():
    for N in (2, 3):
        T = generators(N)
        assert T.shape == (N * N - 1, N, N)
        assert_close(np.einsum("aij,bji->ab", T, T), np.eye(N * N - 1) / 2, 1e-15, "tr T^a T^b")
        assert_close(T, _dag(T), 1e-15, "hermitian")
        assert np.abs(np.trace(T, axis1=1, axis2=2)).max() < 1e-15
        x = np.random.default_rng(N).standard_normal((7, N * N - 1))
        X = from_components(x, N)
        assert_close(components(X), x, 1e-14, "components")
        E = expm_antihermitian(X)
        assert_close(E @ _dag(E), np.broadcast_to(np.eye(N), E.shape), 1e-13, "exp unitary")
        assert_close(np.linalg.det(E), np.ones(7), 1e-13, "exp det")
        # against the Taylor series
        ser, term = np.broadcast_to(np.eye(N), X.shape).astype(complex), np.broadcast_to(np.eye(N), X.shape)
        for k in range(1, 40):
            term = term @ X / k
            ser = ser + term
        assert_close(E, ser, 1e-12, "exp vs series")


@pytest.mark.mpi
@pytest.mark.parametrize("N", [2, 3])
@pytest.mark.parametrize("grid", grids(DIMS))
def test_force_finite_difference(N, grid):
    """dS/dt of U -> exp(t X) U along random su(N) directions X equals 2 sum tr(X F) = -sum x^a f^a."""
    lat = gn.Lattice(DIMS, mpi=grid)
    U = gn.GaugeField.random(lat, N, seed=21)
    beta = 6.0 if N == 3 else 2.3
    F = gauge_force(U, beta)
    f = F.sites()
    assert_close(f, -_dag(f), 1e-14, "force anti-hermitian")
    assert np.abs(np.trace(f, axis1=-2, axis2=-1)).max() < 1e-13, "force traceless"
    for k in range(2):
        X = random_algebra(lat, N, seed=100 + k)
        h = 1e-3
        S = {t: wilson_action(_moved(U, X, t), beta) for t in (-2 * h, -h, h, 2 * h)}
        fd = (8 * (S[h] - S[-h]) - (S[2 * h] - S[-2 * h])) / (12 * h)      # error O(h^4)
        an = action_derivative(U, beta, X)
        comp = -float(lat.allreduce(np.sum(components(X.reshape(f.shape)) * components(f))))  # -sum_a x^a f^a
        assert_close(an, fd, 1e-6, f"dS/dt direction {k}")
        assert_close(comp, an, 1e-12, "component form")


def test_force_single_link_components():
    """f^a = -dS/dx^a for single links and single generators (central differences)."""
    lat = gn.Lattice(DIMS, mpi=(1, 1, 1, 1), comm=MPI.COMM_SELF)
    N, beta = 3, 5.5
    U = gn.GaugeField.random(lat, N, seed=8)
    f = components(gauge_force(U, beta).sites())          # (4, V, 8)
    h = 1e-4
    for (mu, site, a) in [(0, 0, 0), (1, 17, 3), (3, 200, 7), (2, 511, 5)]:
        X = np.zeros((4, lat.local_volume, N, N), dtype=complex)
        X[mu, site] = from_components(np.eye(N * N - 1)[a], N)
        X = X.reshape(U.data.shape)
        d = (wilson_action(_moved(U, X, h), beta) - wilson_action(_moved(U, X, -h), beta)) / (2 * h)
        assert abs(d + f[mu, site, a]) < 1e-7 * max(1.0, abs(d)), (mu, site, a, d, f[mu, site, a])


@pytest.mark.mpi
@pytest.mark.parametrize("N", [2, 3])
@pytest.mark.parametrize("grid", grids(DIMS))
def test_gauge_invariance(N, grid):
    lat = gn.Lattice(DIMS, mpi=grid)
    U = gn.GaugeField.random(lat, N, seed=31)
    om = gn.ColorMatrixField.random_su(lat, N, seed=32)
    V = U.transform(om)
    beta = 6.0
    assert_close(wilson_action(V, beta), wilson_action(U, beta), 1e-12, "S_g(U^Omega)")
    # the force transforms covariantly: F[U^Omega](x) = Omega(x) F[U](x) Omega(x)^dag
    o = om.sites()
    expect = o[None] @ gauge_force(U, beta).sites() @ _dag(o)[None]
    assert_close(gauge_force(V, beta).sites(), expect, 1e-12, "force covariance")


@pytest.mark.mpi
@pytest.mark.parametrize("N", [2, 3])
@pytest.mark.parametrize("grid", grids(DIMS))
def test_same_on_any_process_grid(N, grid):
    """Action and force on this process grid equal one rank holding the whole lattice."""
    u = random_su_global(DIMS, N, seed=41)
    beta = 6.0
    one = gn.Lattice(DIMS, mpi=(1, 1, 1, 1), comm=MPI.COMM_SELF)
    U1 = gn.GaugeField.from_numpy(one, u)
    lat = gn.Lattice(DIMS, mpi=grid)
    U = gn.GaugeField.from_numpy(lat, u)
    assert_close(wilson_action(U, beta), wilson_action(U1, beta), 1e-12, "action")
    assert_close(gauge_force(U, beta).to_numpy(), gauge_force(U1, beta).data, 1e-12, "force")
