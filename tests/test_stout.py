"""Stout smearing with plaquette and Polyakov terms (gaugenet.gauge.stout) and the su(N) exponential
with its derivative (gaugenet.gauge.expderiv): exactness of exp, the Q -> 0 limit, SU(N) output,
gauge covariance, finite-difference checks of the backward pass (thin-link force and dS/drho) for one
layer and the two-layer network, and identical numbers on 1, 2 and 4 ranks."""
import numpy as np
import pytest
from mpi4py import MPI

import gaugenet as gn
from gaugenet.gauge.action import gauge_force, staples, wilson_action
from gaugenet.gauge.algebra import expm_antihermitian, from_components, random_algebra
from gaugenet.gauge.expderiv import C1_SERIES, SUExp, _su3_closed, _su3_series, exp_coefficients, expm_su
from gaugenet.gauge.group import traceless_antihermitian
from gaugenet.gauge.stout import StoutLayer, StoutNetwork, stout_smear

from conftest import assert_close, grids, random_global, random_su_global

DIMS = (4, 4, 4, 8)
BETA = {2: 2.3, 3: 5.7}
LAYER = (0.11, 0.07, -0.05)                              # rho_plaq, rho_poly_t, rho_poly_s
NET = [(0.1, 0.06, 0.04), (0.08, -0.05, 0.07)]


def _dag(a):
    return np.conj(np.swapaxes(a, -1, -2))


def _self_lattice():
    return gn.Lattice(DIMS, mpi=(1, 1, 1, 1), comm=MPI.COMM_SELF)


def _algebra(rng, n, N, scale):
    return from_components(rng.standard_normal((n, N * N - 1)) * scale, N)


def _taylor_exp(X, terms=60):
    out = np.broadcast_to(np.eye(X.shape[-1]), X.shape).astype(complex)
    term = out.copy()
    for k in range(1, terms):
        term = term @ X / k
        out = out + term
    return out


def _degenerate_su3():
    """Q with two equal eigenvalues (c0 = +-c0max) and a few special cases."""
    d = []
    for a in (1e-7, 0.05, 0.4, 1.3):
        for s in (1, -1):
            d.append(1j * s * np.diag([a, a, -2 * a]))
    return np.array(d)


# ---------------------------------------------------------------------------------------------------
# the exponential and its derivative
# ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("N", [2, 3])
def test_exp_exact(N):
    rng = np.random.default_rng(N)
    for scale in (0.0, 1e-12, 1e-6, 1e-3, 0.2, 0.5, 1.0, 2.5):
        X = _algebra(rng, 50, N, scale)
        E = expm_su(X)
        assert_close(E, _taylor_exp(X), 1e-14, f"exp vs Taylor series, scale {scale}")
        assert_close(E, expm_antihermitian(X), 1e-14, f"exp vs eigendecomposition, scale {scale}")
        assert np.abs(E @ _dag(E) - np.eye(N)).max() < 1e-14
        assert np.abs(np.linalg.det(E) - 1).max() < 1e-14
    assert np.array_equal(expm_su(np.zeros((3, N, N), complex)), np.broadcast_to(np.eye(N), (3, N, N)))
    if N == 3:
        X = _degenerate_su3()
        assert_close(expm_su(X), _taylor_exp(X), 1e-14, "degenerate eigenvalues")


def test_su3_coefficients_closed_form_and_series():
    """Morningstar-Peardon's closed form and the power series agree where both are accurate, the
    b coefficients are the derivatives of f in (c1, c0), and the Q = 0 limits are finite and exact."""
    rng = np.random.default_rng(5)
    for c1 in (0.6 * C1_SERIES, C1_SERIES, 1.5 * C1_SERIES):
        c0max = 2 * (c1 / 3) ** 1.5
        c0 = np.concatenate([c0max * rng.uniform(-1, 1, 20), [c0max, -c0max, 0.0]])
        c1s = np.full(c0.shape, c1)
        for a, b, what in zip(_su3_series(c0, c1s, True), _su3_closed(c0, c1s, True), ("f", "b1", "b2")):
            assert np.abs(a - b).max() < 1e-14, (c1, what, np.abs(a - b).max())
    h = 1e-5
    for c1, frac in [(0.2, 0.3), (0.2, -0.8), (1.7, 0.5), (1.7, -0.2), (4.0, 0.99)]:
        c0 = frac * 2 * (c1 / 3) ** 1.5
        f = lambda a, b: exp_coefficients(np.array([a]), np.array([b]), 3, False)[0]
        _, b1, b2 = exp_coefficients(np.array([c0]), np.array([c1]), 3)
        d1 = (8 * (f(c0, c1 + h) - f(c0, c1 - h)) - (f(c0, c1 + 2 * h) - f(c0, c1 - 2 * h))) / (12 * h)
        d0 = (8 * (f(c0 + h, c1) - f(c0 - h, c1)) - (f(c0 + 2 * h, c1) - f(c0 - 2 * h, c1))) / (12 * h)
        assert_close(b1, d1, 1e-8, f"b1 = df/dc1 at c0 = {c0}, c1 = {c1}")
        assert_close(b2, d0, 1e-8, f"b2 = df/dc0 at c0 = {c0}, c1 = {c1}")
    f, b1, b2 = exp_coefficients(np.zeros(1), np.zeros(1), 3)
    assert np.array_equal(f[0], [1, 1j, -0.5])
    assert_close(b1[0], [0, -1j / 6, 1 / 24], 1e-15, "b1(Q = 0)")
    assert_close(b2[0], [-1j / 6, 1 / 24, 1j / 120], 1e-15, "b2(Q = 0)")
    f, b1, _ = exp_coefficients(np.zeros(1), np.zeros(1), 2)
    assert np.array_equal(f[0], [1, 1j, 0])
    assert_close(b1[0], [-0.5, -1j / 6, 0], 1e-15, "SU(2) b1(Q = 0)")


def _pullback_reference(Q, M, nodes=24):
    """TA(int_0^1 exp((1-s) Q) M exp(s Q) ds) by Gauss-Legendre quadrature with eigendecomposition exps."""
    x, w = np.polynomial.legendre.leggauss(nodes)
    s, w = 0.5 * (x + 1), 0.5 * w
    acc = np.zeros_like(M)
    for sk, wk in zip(s, w):
        acc = acc + wk * expm_antihermitian((1 - sk) * Q) @ M @ expm_antihermitian(sk * Q)
    return traceless_antihermitian(acc)


@pytest.mark.parametrize("N", [2, 3])
def test_exp_pullback(N):
    """Re tr(d exp(Q) M) = tr(dQ Gamma): against the integral form of d exp and against finite differences,
    from Q = 0 through the series/closed-form boundary to large Q."""
    rng = np.random.default_rng(10 + N)
    n = 40
    for scale in (0.0, 1e-10, 1e-4, 0.1, 0.4, 0.6, 1.0, 2.0):
        Q = _algebra(rng, n, N, scale)
        if N == 3 and scale == 0.4:
            Q = np.concatenate([Q, _degenerate_su3()])
        M = random_global(Q.shape, seed=int(1000 * scale) + N)
        G = SUExp(Q).pullback(M)
        assert_close(G, -_dag(G), 1e-15, "Gamma anti-hermitian")
        assert np.abs(np.trace(G, axis1=-2, axis2=-1)).max() < 1e-14
        assert_close(G, _pullback_reference(Q, M), 1e-13, f"Gamma vs integral, scale {scale}")
        dQ = _algebra(rng, len(Q), N, 1.0)
        h = 1e-4
        E = lambda t: expm_antihermitian(Q + t * dQ)
        dE = (8 * (E(h) - E(-h)) - (E(2 * h) - E(-2 * h))) / (12 * h)
        fd = np.einsum("nij,nji->n", dE, M).real
        an = np.einsum("nij,nji->n", dQ, G).real
        assert_close(an, fd, 1e-9, f"Gamma vs finite differences, scale {scale}")


# ---------------------------------------------------------------------------------------------------
# forward
# ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("N", [2, 3])
def test_staples_and_lines(N):
    """C^plaq = staples()^dag, sum Re tr(Omega^plaq) counts each plaquette four times, and Omega^poly is
    the conjugate Polyakov line from x (its trace averages to conj(polyakov_loop) for mu = t)."""
    lat = _self_lattice()
    U = gn.GaugeField.random(lat, N, seed=2)
    _, ctx = StoutLayer(*LAYER).forward(U)
    L = U.sites()
    for mu in range(4):
        assert_close(ctx.omega_plaq[mu] @ L[mu], _dag(staples(U, mu)), 1e-13, f"C^plaq vs staples^dag, mu={mu}")
    plaq = 6 * lat.global_volume * N * gn.plaquette(U)
    assert_close(np.trace(ctx.omega_plaq, axis1=-2, axis2=-1).real.sum(), 4 * plaq, 1e-12, "Omega^plaq")
    u = U.to_numpy()                                          # [mu, t, z, y, x]
    for mu in range(4):
        ax = 3 - mu
        line = np.broadcast_to(np.eye(N), u.shape[1:]).astype(complex)
        for k in range(DIMS[mu]):
            line = line @ np.roll(u[mu], -k, axis=ax)       # U(x) U(x+mu) ... U(x+(L-1) mu)
        assert_close(ctx.omega_poly[mu], _dag(line).reshape(-1, N, N), 1e-13, f"Omega^poly mu={mu}")
    trs = np.trace(ctx.omega_poly[3], axis1=-2, axis2=-1).sum()
    assert_close(trs, np.conj(gn.polyakov_loop(U)) * N * lat.global_volume, 1e-12, "Polyakov loop")


@pytest.mark.parametrize("N", [2, 3])
def test_smeared_links_are_su(N):
    lat = _self_lattice()
    U = gn.GaugeField.random(lat, N, seed=4)
    for rho in [LAYER, (0.5, 0.3, -0.4), (1e-9, 0, 0)]:
        assert StoutLayer(*rho)(U).unitarity_violation() < 1e-12
    assert StoutNetwork(NET)(U).unitarity_violation() < 1e-12
    assert stout_smear(U, 0.1, steps=5).unitarity_violation() < 1e-12


@pytest.mark.parametrize("N", [2, 3])
def test_rho_zero_is_identity(N):
    lat = _self_lattice()
    U = gn.GaugeField.random(lat, N, seed=6)
    Us, ctx = StoutLayer(0.0, 0.0, 0.0).forward(U)
    assert np.array_equal(Us.data, U.data)
    # near-zero weights: U' = exp(Q) U with Q of size 1e-10, through the series branch, exactly
    rho = (1e-10, 2e-10, -1e-10)
    Us, ctx = StoutLayer(*rho).forward(U)
    om = rho[0] * ctx.omega_plaq
    om[3] += rho[1] * ctx.omega_poly[3]
    om[:3] += rho[2] * ctx.omega_poly[:3]
    Q = traceless_antihermitian(om)
    ref = expm_antihermitian(Q) @ U.sites()
    assert_close(Us.sites(), ref, 4e-15, "U' at tiny rho")
    # the tiny change itself is resolved: U' - U = Q U + O(Q^2)
    assert np.abs(Q).max() > 1e-10
    assert_close(Us.sites() - U.sites(), Q @ U.sites(), 1e-5, "U' - U at tiny rho")


@pytest.mark.mpi
@pytest.mark.parametrize("N", [2, 3])
@pytest.mark.parametrize("grid", grids(DIMS))
def test_gauge_covariance(N, grid):
    """U'[U^Omega] = U'[U]^Omega, and the thin-link force of a gauge-invariant S rotates with Omega."""
    lat = gn.Lattice(DIMS, mpi=grid)
    U = gn.GaugeField.random(lat, N, seed=31)
    om = gn.ColorMatrixField.random_su(lat, N, seed=32)
    net = StoutNetwork(NET)
    Us = net.forward(U)
    F, g = net.backward(gauge_force(Us, BETA[N]))
    V = U.transform(om)
    Vs = net.forward(V)
    assert_close(Vs.data, Us.transform(om).data, 1e-12, "U'[U^Omega] = U'[U]^Omega")
    FV, gV = net.backward(gauge_force(Vs, BETA[N]))
    o = om.sites()
    assert_close(FV.sites(), o[None] @ F.sites() @ _dag(o)[None], 1e-12, "force covariance")
    assert_close(gV, g, 1e-11, "dS/drho gauge invariant")


# ---------------------------------------------------------------------------------------------------
# backward: finite differences
# ---------------------------------------------------------------------------------------------------

def _moved(U, X, t):
    return U._new(expm_antihermitian(t * X) @ U.data)


def _fd(fun, h=1e-3):
    return (8 * (fun(h) - fun(-h)) - (fun(2 * h) - fun(-2 * h))) / (12 * h)


def _directional(F, X):
    """2 sum tr(X F) over the whole lattice."""
    f = F.data
    return float(F.lat.allreduce(2.0 * np.sum(X.reshape(f.shape) * np.swapaxes(f, -1, -2)).real))


class _Wilson:
    """S = S_g[U'] and its force F' = gauge_force(U')."""

    def __init__(self, N):
        self.beta = BETA[N]

    def __call__(self, Us):
        return wilson_action(Us, self.beta)

    def force(self, Us):
        return gauge_force(Us, self.beta)


class _Linear:
    """S = sum Re tr(R U') for a fixed random complex field R; F' = TA(U' R) / 2."""

    def __init__(self, lat, N, seed):
        r = random_global((4,) + tuple(reversed(DIMS)) + (N, N), seed)
        self.R = gn.GaugeField.from_numpy(lat, r).sites()

    def __call__(self, Us):
        s = Us.sites()
        return float(Us.lat.allreduce(float(np.sum(s * np.swapaxes(self.R, -1, -2)).real)))

    def force(self, Us):
        return Us._new(0.5 * traceless_antihermitian(Us.sites() @ self.R).reshape(Us.data.shape))


def _check_backward(model, layers, U, S, ndir=2, rel=1e-6):
    lat, N = U.lat, U.N
    Us = model.forward(U)
    F, g = model.backward(S.force(Us))
    g = np.atleast_2d(g)
    f = F.sites()
    assert_close(f, -_dag(f), 1e-14, "thin force anti-hermitian")
    assert np.abs(np.trace(f, axis1=-2, axis2=-1)).max() < 1e-13
    for k in range(ndir):
        X = random_algebra(lat, N, seed=300 + k)
        fd = _fd(lambda t: S(model(_moved(U, X, t))))
        assert_close(_directional(F, X), fd, rel, f"thin-link direction {k}")
    p0 = np.array([l.rho for l in layers])
    for li, layer in enumerate(layers):
        for i in range(3):
            def S_rho(t):
                layer.rho = p0[li].copy()
                layer.rho[i] += t
                return S(model(U))
            fd = _fd(S_rho, 1e-4)
            layer.rho = p0[li].copy()
            assert abs(g[li, i] - fd) < rel * max(abs(fd), 1.0), (li, i, g[li, i], fd)


class _One:
    """A single layer with the network interface."""

    def __init__(self, layer):
        self.layer = layer

    def forward(self, U):
        Us, self.ctx = self.layer.forward(U)
        return Us

    def backward(self, F):
        return self.layer.backward(self.ctx, F)

    def __call__(self, U):
        return self.layer(U)


@pytest.mark.parametrize("N", [2, 3])
@pytest.mark.parametrize("action", ["wilson", "linear"])
def test_one_layer_backward(N, action):
    lat = _self_lattice()
    U = gn.GaugeField.random(lat, N, seed=40 + N)
    S = _Wilson(N) if action == "wilson" else _Linear(lat, N, seed=7)
    layer = StoutLayer(*LAYER)
    _check_backward(_One(layer), [layer], U, S)


@pytest.mark.parametrize("N", [2, 3])
def test_one_layer_backward_poly_only_and_zero(N):
    """Only the Polyakov terms (the line derivative flows to every link of the line), and rho = 0
    (where the thin force equals the smeared one and dS/drho is finite)."""
    lat = _self_lattice()
    U = gn.GaugeField.random(lat, N, seed=50 + N)
    S = _Linear(lat, N, seed=8)
    layer = StoutLayer(0.0, 0.2, -0.15)
    _check_backward(_One(layer), [layer], U, S)
    zero = StoutLayer(0.0, 0.0, 0.0)
    Us, ctx = zero.forward(U)
    Fp = S.force(Us)
    F, _ = zero.backward(ctx, Fp)
    assert_close(F.data, Fp.data, 1e-14, "rho = 0: F = F'")
    _check_backward(_One(zero), [zero], U, S)


@pytest.mark.parametrize("N", [2, 3])
@pytest.mark.parametrize("action", ["wilson", "linear"])
def test_network_backward(N, action):
    lat = _self_lattice()
    U = gn.GaugeField.random(lat, N, seed=60 + N)
    S = _Wilson(N) if action == "wilson" else _Linear(lat, N, seed=9)
    net = StoutNetwork(NET)
    _check_backward(net, net.layers, U, S)
    assert len(net.fields) == 3 and net.fields[0] is U
    assert np.array_equal(net.params, np.ravel(NET)), "the finite differences restore the weights"


def test_network_params_and_errors():
    lat = _self_lattice()
    U = gn.GaugeField.random(lat, 2, seed=1)
    net = StoutNetwork(NET)
    with pytest.raises(RuntimeError, match="forward"):
        net.backward(gauge_force(U, 2.0))
    net.params = np.arange(6) * 0.01
    assert np.array_equal(net.layers[1].rho, [0.03, 0.04, 0.05])
    with pytest.raises(ValueError, match="three weights"):
        StoutNetwork([(0.1, 0.2)])
    _, ctx = StoutLayer(0.1).forward(U)
    with pytest.raises(ValueError, match="does not match"):
        StoutLayer(0.1).backward(ctx, np.zeros((4, 3)))
    # a network of one layer is that layer
    one = StoutNetwork([LAYER])
    assert np.array_equal(one(U).data, StoutLayer(*LAYER)(U).data)


# ---------------------------------------------------------------------------------------------------
# process grids
# ---------------------------------------------------------------------------------------------------

@pytest.mark.mpi
@pytest.mark.parametrize("N", [2, 3])
@pytest.mark.parametrize("grid", grids(DIMS))
def test_same_on_any_process_grid(N, grid):
    """Smeared field, thin-link force and dS/drho of the two-layer network (Polyakov lines crossing the
    rank boundaries in every split direction) equal one rank holding the whole lattice."""
    u = random_su_global(DIMS, N, seed=71)
    res = []
    for lat in (_self_lattice(), gn.Lattice(DIMS, mpi=grid)):
        U = gn.GaugeField.from_numpy(lat, u)
        S = _Linear(lat, N, seed=72)
        net = StoutNetwork(NET)
        Us = net.forward(U)
        F, g = net.backward(S.force(Us))
        res.append((Us.to_numpy(), F.to_numpy(), g, S(Us)))
    one, many = res
    assert_close(many[0], one[0], 1e-13, "smeared links")
    assert_close(many[1], one[1], 1e-12, "thin-link force")
    assert_close(many[2], one[2], 1e-12, "dS/drho")
    assert_close(many[3], one[3], 1e-12, "S")
