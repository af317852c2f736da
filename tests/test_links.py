"""The compiled link-network core (gaugenet.links; csrc/kernels/loops.h, matfield.h): the su(N)
exponential and its pullback against gauge.expderiv, staple sums and the compiled plaquette force
against gauge.action, the staple backprop against the NumPy reference and finite differences, the
stout layer against the NumPy reference copy (links.reference), and identical results on any process grid."""
import numpy as np
import pytest
from mpi4py import MPI

import gaugenet as gn
from gaugenet.gauge.action import gauge_force, staples as np_staples
from gaugenet.gauge.algebra import expm_antihermitian, from_components, random_algebra
from gaugenet.gauge.expderiv import SUExp
from gaugenet.gauge.stout import StoutLayer, StoutNetwork
from gaugenet.links import LinkField, exp_pullback, exp_update, expm, plaquette_force, staples
from gaugenet.links import reference

from conftest import assert_close, grids, random_global, random_su_global

DIMS = (4, 4, 4, 8)
NET = [(0.1, 0.06, 0.04), (0.08, -0.05, 0.07)]


def _dag(a):
    return np.conj(np.swapaxes(a, -1, -2))


def _self_lattice(dims=DIMS):
    return gn.Lattice(dims, mpi=(1, 1, 1, 1), comm=MPI.COMM_SELF)


def _algebra(rng, n, N, scale):
    return from_components(rng.standard_normal((n, N * N - 1)) * scale, N)


@pytest.mark.parametrize("N", [2, 3])
def test_expm_and_pullback_match_numpy(N):
    """Compiled exp(Q) and Gamma(Q, M) equal gauge.expderiv from Q = 0 through the series/closed-form
    threshold to |Q| ~ 3, and for degenerate eigenvalues."""
    rng = np.random.default_rng(10 + N)
    for scale in (0.0, 1e-12, 1e-6, 0.1, 0.3, 0.5, 0.8, 1.5, 3.0):
        Q = _algebra(rng, 64, N, scale)
        M = rng.standard_normal((64, N, N)) + 1j * rng.standard_normal((64, N, N))
        ref = SUExp(Q, derivatives=True)
        assert_close(expm(Q), ref.exp, 1e-14, f"exp, scale {scale}")
        assert_close(exp_pullback(Q, M), ref.pullback(M), 1e-12, f"pullback, scale {scale}")
        if scale == 0.0:
            assert np.array_equal(expm(Q), np.broadcast_to(np.eye(N), Q.shape))
    if N == 3:
        Q = np.array([1j * s * np.diag([a, a, -2 * a]) for a in (1e-7, 0.05, 0.4, 1.3) for s in (1, -1)])
        M = rng.standard_normal(Q.shape) + 0j
        assert_close(expm(Q), expm_antihermitian(Q), 1e-14, "degenerate exp")
        assert_close(exp_pullback(Q, M), SUExp(Q).pullback(M), 1e-12, "degenerate pullback")


@pytest.mark.parametrize("N", [2, 3])
def test_exp_update(N):
    rng = np.random.default_rng(3)
    U = np.asarray(random_su_global((2, 2, 2, 2), N, seed=1)).reshape(-1, N, N)
    Om = rng.standard_normal(U.shape) + 1j * rng.standard_normal(U.shape)
    Up, Q = exp_update(U, Om)
    Qr = Om - _dag(Om)
    Qr = 0.5 * Qr - np.trace(Qr, axis1=-2, axis2=-1)[..., None, None] / (2 * N) * np.eye(N)
    assert_close(Q, Qr, 1e-15, "Q = TA(Omega)")
    assert_close(Up, expm_antihermitian(Qr) @ U, 1e-13, "exp(Q) U")


@pytest.mark.parametrize("N", [2, 3])
def test_staples_and_force_match_numpy(N):
    """C_mu = gauge.action.staples(U, mu)^dag and plaquette_force = gauge_force."""
    lat = _self_lattice()
    U = gn.GaugeField.random(lat, N, seed=5)
    C = staples(U)
    for mu in range(4):
        assert_close(C[mu], _dag(np_staples(U, mu)), 1e-14, f"staple sum mu={mu}")
    lf = LinkField(U)
    assert_close(lf.staple_sum("omega"), C @ _dag(U.sites()), 1e-14, "Omega = C U^dag")
    assert_close(plaquette_force(U, 5.7).data, gauge_force(U, 5.7).data, 1e-13, "compiled plaquette force")


def _random_Y(lat, N, seed):
    return np.ascontiguousarray(random_global((4, lat.local_volume, N, N), seed))


@pytest.mark.parametrize("N", [2, 3])
def test_staple_backprop(N):
    """Sigma of the compiled backprop equals the NumPy reference (links.reference._plaq_sigma), and
    U Sigma is the derivative of S = sum Re tr(C Y) along U -> exp(tX) U (finite differences)."""
    lat = _self_lattice((4, 4, 4, 4))
    U = gn.GaugeField.random(lat, N, seed=7)
    Y = _random_Y(lat, N, 8)
    lf = LinkField(U)
    USig = lf.staple_backprop(Y)
    L = np.ascontiguousarray(U.sites())
    fw = reference._forward_links(U, L)
    keep = {}
    for mu in range(4):
        reference._plaq_staples(U, L, fw, mu, keep)
    ref = L @ reference._plaq_sigma(U, L, fw, keep, Y)
    assert_close(USig, ref, 1e-13, "U Sigma vs NumPy")
    # finite differences: dS/dt = sum Re tr(X U Sigma) for U -> exp(tX) U
    X = random_algebra(lat, N, seed=9).reshape(4, -1, N, N)

    def S(t):
        Ut = gn.GaugeField(lat, (expm_antihermitian(t * X) @ L).reshape(U.data.shape))
        return float(np.sum(staples(Ut) * np.swapaxes(Y, -1, -2)).real)

    h = 1e-3
    fd = (-S(2 * h) + 8 * S(h) - 8 * S(-h) + S(-2 * h)) / (12 * h)
    exact = float(np.sum(X * np.swapaxes(USig, -1, -2)).real)
    assert abs(fd - exact) < 1e-7 * max(1.0, abs(exact)), (fd, exact)
    # base and TA: out = TA(base + U Sigma)
    base = _random_Y(lat, N, 10)
    out = lf.staple_backprop(Y, base=base, ta=True)
    M = base + USig
    M = 0.5 * (M - _dag(M))
    M -= np.trace(M, axis1=-2, axis2=-1)[..., None, None] / N * np.eye(N)
    assert_close(out, M, 1e-14, "TA(base + U Sigma)")


@pytest.mark.parametrize("N", [2, 3])
def test_stout_compiled_matches_reference(N):
    """The compiled stout network (gauge.stout) equals the former NumPy implementation (links.reference):
    smeared links, thin-link force and dS/drho, to 1e-12."""
    lat = _self_lattice()
    U = gn.GaugeField.random(lat, N, seed=21)
    Fp = gn.GaugeField(lat, random_algebra(lat, N, seed=22))
    out = []
    for cls in (StoutNetwork, reference.StoutNetwork):
        net = cls(NET)
        Us = net.forward(U)
        F, g = net.backward(Fp)
        out.append((Us.sites(), F.sites(), g))
    assert_close(out[0][0], out[1][0], 1e-13, "smeared links")
    assert_close(out[0][1], out[1][1], 1e-12, "thin-link force")
    assert_close(out[0][2], out[1][2], 1e-12, "dS/drho")
    # a layer with rho_plaq = 0 (no staple backprop) and one with the plaquette term only
    for rho in ((0.0, 0.1, -0.2), (0.2, 0.0, 0.0)):
        a, ca = StoutLayer(*rho).forward(U)
        b, cb = reference.StoutLayer(*rho).forward(U)
        assert_close(a.sites(), b.sites(), 1e-13, f"U' rho={rho}")
        fa, ga = StoutLayer(*rho).backward(ca, Fp)
        fb, gb = reference.StoutLayer(*rho).backward(cb, Fp)
        assert_close(fa.sites(), fb.sites(), 1e-12, f"F rho={rho}")
        assert_close(ga, gb, 1e-12, f"dS/drho rho={rho}")


@pytest.mark.mpi
@pytest.mark.parametrize("N", [2, 3])
@pytest.mark.parametrize("grid", grids(DIMS))
def test_core_same_on_any_process_grid(N, grid):
    """Staple sums, the compiled force and the staple backprop over the halo equal one rank holding the
    whole lattice (the buffers' halos carry the one-hop parts of the diagonal neighbours)."""
    u = random_su_global(DIMS, N, seed=41)
    y = random_global((4,) + tuple(reversed(DIMS)) + (N, N), seed=42)
    res = []
    for lat in (_self_lattice(), gn.Lattice(DIMS, mpi=grid)):
        U = gn.GaugeField.from_numpy(lat, u)
        Yf = gn.GaugeField.from_numpy(lat, y)
        lf = LinkField(U)
        C = gn.GaugeField(lat, lf.staple_sum("C").reshape(U.data.shape)).to_numpy()
        F = plaquette_force(U, 2.3).to_numpy()
        S = gn.GaugeField(lat, lf.staple_backprop(np.ascontiguousarray(Yf.sites())).reshape(U.data.shape)).to_numpy()
        res.append((C, F, S))
    for k, what in enumerate(("staples", "force", "backprop")):
        assert_close(res[1][k], res[0][k], 1e-13, what)


def test_bad_input():
    lat = _self_lattice((2, 2, 2, 2))
    with pytest.raises(ValueError, match="2x2 or 3x3"):
        expm(np.zeros((3, 4, 4), complex))
    with pytest.raises(ValueError, match="does not match"):
        exp_pullback(np.zeros((3, 3, 3), complex), np.zeros((2, 3, 3), complex))
    with pytest.raises(ValueError, match="links of shape"):
        LinkField(lat=lat, links=np.zeros((4, 5, 3, 3), complex))
    U = gn.GaugeField.random(lat, 3, seed=1)
    with pytest.raises(ValueError, match="mode"):
        LinkField(U).staple_sum("plaquette")
    with pytest.raises(ValueError, match="Y of shape"):
        LinkField(U).staple_backprop(np.zeros((4, 16, 2, 2), complex))
