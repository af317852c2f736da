"""links/paths.py: path products and covariant transports of matrix fields with their vector-Jacobian products
(against np.roll references on the global array, the Wilson force, finite differences, gauge covariance, any
process grid)."""
import numpy as np
import pytest

import gaugenet as gn
from gaugenet.gauge.action import gauge_force, wilson_action
from gaugenet.gauge.expderiv import expm_su
from gaugenet.gauge.group import dag, traceless_antihermitian
from gaugenet.links import paths as paths_module
from gaugenet.links.paths import Paths

from conftest import assert_close, grids, random_global, random_su_global

DIMS = (4, 4, 2, 4)
RECT = [(0, 1), (0, 1), (1, 1), (0, -1), (0, -1), (1, -1)]          # 2 x 1 rectangle in the x-y plane
CHAIR = [(0, 1), (1, 1), (0, -1), (2, 1), (1, -1), (2, -1)]         # a non-planar closed path
OPEN = [(3, 1), (0, -1), (0, -1), (2, 1)]                           # an open path (displacement (-2, 0, 1, 1))


def _roll(a, mu, s):
    """a(x + s mu) on a global array [t, z, y, x, ...]."""
    return np.roll(a, -s, axis=3 - mu)


def _ref_path(u, path):
    """P(x) of a path on the global links u[mu, t, z, y, x, N, N] with np.roll."""
    def hop(mu, s):
        return u[mu] if s > 0 else dag(_roll(u[mu], mu, -1))
    mu, s = path[-1]
    R = hop(mu, s)
    for mu, s in reversed(path[:-1]):
        R = hop(mu, s) @ _roll(R, mu, s)
    return R


def _setup(N, grid, seed=3):
    lat = gn.Lattice(DIMS, mpi=grid)
    u = random_su_global(DIMS, N, seed)
    U = gn.GaugeField.from_numpy(lat, u)
    return lat, u, U


def _local(lat, a):
    """The local (V, ...) part of a global array [t, z, y, x, ...]."""
    sl = tuple(slice(lat.origin[mu], lat.origin[mu] + lat.local_dims[mu]) for mu in (3, 2, 1, 0))
    loc = a[sl]
    return np.ascontiguousarray(loc.reshape((lat.local_volume,) + loc.shape[4:]))


def _glob(lat, a):
    """The global array [t, z, y, x, ...] of a local (V, ...) array, on every rank."""
    return lat.gather_global(a.reshape(tuple(lat.local_shape) + a.shape[1:]))


def _su_direction(shape, seed):
    z = random_global(shape, seed)
    return traceless_antihermitian(z)


@pytest.mark.mpi
@pytest.mark.parametrize("N", [2, 3])
def test_paths_against_numpy_reference_on_every_grid(N):
    for grid in grids(DIMS):
        lat, u, U = _setup(N, grid)
        T = Paths(U)
        for path in (RECT, CHAIR, OPEN, [(1, -1)]):
            P, _ = T.path(path)
            assert_close(_glob(lat, P), _ref_path(u, path), 1e-13, f"path {path} grid {grid}")
        w = random_global(tuple(reversed(DIMS)) + (2, N, N), 9)
        W = _local(lat, w)
        for mu, s in ((0, 1), (3, -1), (2, 1)):
            out = T.transports(W, mu, s, 3)
            ref = w
            H = (u[mu] if s > 0 else dag(_roll(u[mu], mu, -1)))[..., None, :, :]
            for k in range(3):
                assert_close(_glob(lat, out[k]), ref, 1e-13, f"transport {k} hops ({mu},{s}) grid {grid}")
                ref = H @ _roll(ref, mu, s) @ dag(H)


@pytest.mark.mpi
@pytest.mark.parametrize("N", [2, 3])
def test_plaquette_paths_give_the_wilson_action_and_its_force(N):
    beta = 2.3
    for grid in grids(DIMS):
        lat, u, U = _setup(N, grid, seed=5)
        T = Paths(U)
        Sigma = T.zeros_sigma()
        s = 0.0
        for mu in range(4):
            for nu in range(mu + 1, 4):
                P, ctx = T.loop([(mu, 1), (nu, 1), (mu, -1), (nu, -1)])
                s += float(np.sum(1.0 - np.trace(P, axis1=-2, axis2=-1).real / N))
                T.path_vjp(ctx, -(beta / N) * np.broadcast_to(np.eye(N), P.shape), Sigma)
        assert abs(beta * lat.allreduce(s) - wilson_action(U, beta)) < 1e-10 * wilson_action(U, beta)
        F = gauge_force(U, beta).sites()
        assert_close(T.force(Sigma), F, 1e-12, f"force grid {grid}")


def _loss_and_grads(lat, links, C, W, Gs, path, mu_t, s_t):
    """L = sum Re tr(C P_path) + sum_k Re tr(G_k T^k W) and its link cotangent, W cotangent."""
    T = Paths(lat=lat, links=links)
    P, ctx = T.path(path)
    outs = T.transports(W, mu_t, s_t, len(Gs))
    L = float(np.sum(np.trace(C @ P, axis1=-2, axis2=-1).real))
    L += sum(float(np.sum(np.trace(g @ o, axis1=-2, axis2=-1).real)) for g, o in zip(Gs, outs))
    Sigma = T.zeros_sigma()
    T.path_vjp(ctx, C, Sigma)
    gW = T.transports_vjp(outs, mu_t, s_t, list(Gs), Sigma)
    return lat.allreduce(L), T.force(Sigma), gW


@pytest.mark.mpi
@pytest.mark.parametrize("N", [2, 3])
def test_vector_jacobian_products_by_finite_differences(N):
    grid = grids(DIMS)[-1]
    lat, u, U = _setup(N, grid, seed=7)
    V = lat.local_volume
    links = U.sites().astype(np.complex128)
    C = _local(lat, random_global(tuple(reversed(DIMS)) + (N, N), 11))
    W = _local(lat, random_global(tuple(reversed(DIMS)) + (2, N, N), 12))
    Gs = [_local(lat, random_global(tuple(reversed(DIMS)) + (2, N, N), 13 + k)) for k in range(3)]
    L0, F, gW = _loss_and_grads(lat, links, C, W, Gs, CHAIR, 1, -1)
    # links: U -> exp(t X) U, dL/dt = 2 sum tr(X F)
    X = np.stack([_local(lat, _su_direction(tuple(reversed(DIMS)) + (N, N), 20 + mu)) for mu in range(4)])
    pred = 2.0 * lat.allreduce(float(np.sum(np.einsum("mvij,mvji->mv", X, F).real)))
    h = 1e-5
    Lp = _loss_and_grads(lat, expm_su(h * X) @ links, C, W, Gs, CHAIR, 1, -1)[0]
    Lm = _loss_and_grads(lat, expm_su(-h * X) @ links, C, W, Gs, CHAIR, 1, -1)[0]
    assert abs((Lp - Lm) / (2 * h) - pred) < 1e-7 * max(1.0, abs(pred)), ((Lp - Lm) / (2 * h), pred)
    # W: dL = sum Re tr(gW dW)
    dW = _local(lat, random_global(tuple(reversed(DIMS)) + (2, N, N), 30))
    pred = lat.allreduce(float(np.sum(np.trace(gW @ dW, axis1=-2, axis2=-1).real)))
    Lp = _loss_and_grads(lat, links, C, W + h * dW, Gs, CHAIR, 1, -1)[0]
    Lm = _loss_and_grads(lat, links, C, W - h * dW, Gs, CHAIR, 1, -1)[0]
    assert abs((Lp - Lm) / (2 * h) - pred) < 1e-7 * max(1.0, abs(pred))
    assert V > 0


@pytest.mark.parametrize("N", [2, 3])
def test_gauge_covariance(N):
    lat, u, U = _setup(N, None, seed=8)
    g = gn.GaugeField.random(lat, N, seed=99).sites()[0]          # one random SU(N) matrix per site
    Ug = U.transform(_omega_field(g))
    T, Tg = Paths(U), Paths(Ug)
    for path in (CHAIR, OPEN):
        P, _ = T.path(path)
        Pg, _ = Tg.path(path)
        d = np.zeros(4, dtype=int)
        for mu, s in path:
            d[mu] += s
        g_end = g
        for mu in range(4):
            for _ in range(abs(d[mu])):
                g_end = T.shift(g_end, mu, int(np.sign(d[mu])))
        assert_close(Pg, g @ P @ dag(g_end), 1e-12, f"path {path}")
    W = _local(lat, random_global(tuple(reversed(DIMS)) + (3, N, N), 40))
    Wg = g[:, None] @ W @ dag(g)[:, None]
    for mu, s in ((0, 1), (3, -1)):
        out, outg = T.transports(W, mu, s, 3), Tg.transports(Wg, mu, s, 3)
        for a, b in zip(out, outg):
            assert_close(b, g[:, None] @ a @ dag(g)[:, None], 1e-12, f"transport ({mu},{s})")


def _omega_field(g):
    """A gauge transformation as the field GaugeField.transform expects (the first link slot holds g)."""
    class _Om:
        def sites(self):
            return g
    return _Om()


def test_bad_paths_are_refused():
    lat, u, U = _setup(2, None)
    T = Paths(U)
    with pytest.raises(ValueError, match="at least one hop"):
        T.path([])
    with pytest.raises(ValueError, match="sign \\+1 or -1"):
        T.path([(0, 2)])
    with pytest.raises(ValueError, match="not closed"):
        T.loop(OPEN)
    with pytest.raises(ValueError, match="need \\(4,"):
        Paths(lat=lat, links=np.zeros((3, 5, 2, 2), complex))


@pytest.mark.mpi
@pytest.mark.parametrize("N", [2, 3])
def test_link_transport_builds_rectangle_staples(N):
    """k link transports of U_mu along (nu, s) equal the 1 x k staple path; its VJP by finite differences."""
    grid = grids(DIMS)[-1]
    lat, u, U = _setup(N, grid, seed=12)
    T = Paths(U)
    mu, nu, sg = 0, 3, -1
    A = [T.U[mu]]
    for k in range(1, 3):
        A.append(T.link_transport(A[-1], mu, nu, sg))
        P, _ = T.path([(nu, sg)] * k + [(mu, 1)] + [(nu, -sg)] * k)
        assert_close(A[-1], P, 1e-13, f"k = {k}")
    # L = sum Re tr(C B), B = link_transport(W): cotangents of W and of the links against finite differences
    C = _local(lat, random_global(tuple(reversed(DIMS)) + (2, N, N), 50))
    W = _local(lat, random_global(tuple(reversed(DIMS)) + (2, N, N), 51))
    links = U.sites().astype(np.complex128)

    def loss(links, W):
        Tl = Paths(lat=lat, links=links)
        B = Tl.link_transport(W, mu, nu, sg)
        return lat.allreduce(float(np.sum(np.trace(C @ B, axis1=-2, axis2=-1).real)))
    Sigma = T.zeros_sigma()
    gW = T.link_transport_vjp(W, mu, nu, sg, C, Sigma)
    F = T.force(Sigma)
    h = 1e-5
    X = np.stack([_local(lat, _su_direction(tuple(reversed(DIMS)) + (N, N), 60 + m)) for m in range(4)])
    pred = 2.0 * lat.allreduce(float(np.sum(np.einsum("mvij,mvji->mv", X, F).real)))
    fd = (loss(expm_su(h * X) @ links, W) - loss(expm_su(-h * X) @ links, W)) / (2 * h)
    assert abs(fd - pred) < 1e-7 * max(1.0, abs(pred)), (fd, pred)
    dW = _local(lat, random_global(tuple(reversed(DIMS)) + (2, N, N), 70))
    pred = lat.allreduce(float(np.sum(np.trace(gW @ dW, axis1=-2, axis2=-1).real)))
    fd = (loss(links, W + h * dW) - loss(links, W - h * dW)) / (2 * h)
    assert abs(fd - pred) < 1e-7 * max(1.0, abs(pred)), (fd, pred)


# ---------------------------------------------------------------------- compiled kernels against NumPy
needs_kernels = pytest.mark.skipif(not paths_module.HAVE_KERNELS,
                                   reason="the built module lacks the transport kernels (kernels/transport.h)")
COMBOS = [(mu, nu, sg) for mu in range(4) for nu in range(4) if nu != mu for sg in (1, -1)]


def _pair(U):
    """(compiled Paths, NumPy-reference Paths) of the same links."""
    T, R = Paths(U), Paths(U)
    R.compiled = False
    assert T.compiled
    return T, R


@needs_kernels
@pytest.mark.mpi
@pytest.mark.parametrize("N", [2, 3])
def test_compiled_path_products_and_transports_equal_numpy(N):
    """path/path_vjp, transport(s)/vjp compiled against the NumPy bodies on every process grid (1e-13)."""
    sh = tuple(reversed(DIMS))
    for grid in grids(DIMS):
        lat, u, U = _setup(N, grid, seed=21)
        T, R = _pair(U)
        G = _local(lat, random_global(sh + (N, N), 22))
        for path in (RECT, CHAIR, OPEN, [(2, -1)], [(3, 1)] * 3):
            P, c = T.path(path)
            Pr, cr = R.path(path)
            assert_close(P, Pr, 1e-13, f"path {path} grid {grid}")
            S, Sr = T.zeros_sigma(), R.zeros_sigma()
            S += 0.5                                   # accumulates into what is there
            Sr += 0.5
            T.path_vjp(c, G, S)
            R.path_vjp(cr, G, Sr)
            assert_close(S, Sr, 1e-13, f"path_vjp {path} grid {grid}")
        W = _local(lat, random_global(sh + (2, 3, N, N), 23))
        Gw = [_local(lat, random_global(sh + (2, 3, N, N), 24 + k)) for k in range(3)]
        for mu, s in ((0, 1), (1, -1), (3, -1)):
            out, outr = T.transports(W, mu, s, 3), R.transports(W, mu, s, 3)
            for k in range(3):
                assert_close(out[k], outr[k], 1e-13, f"transports {k} ({mu},{s}) grid {grid}")
            S, Sr = T.zeros_sigma(), R.zeros_sigma()
            g = T.transports_vjp(out, mu, s, [Gw[0], None, Gw[2]], S)
            gr = R.transports_vjp(outr, mu, s, [Gw[0], None, Gw[2]], Sr)
            assert_close(g, gr, 1e-13, f"transports_vjp W ({mu},{s}) grid {grid}")
            assert_close(S, Sr, 1e-13, f"transports_vjp links ({mu},{s}) grid {grid}")
            S, Sr = T.zeros_sigma(), R.zeros_sigma()
            g, gr = T.transport_vjp(W, mu, s, Gw[1], S), R.transport_vjp(W, mu, s, Gw[1], Sr)
            assert_close(g, gr, 1e-13, f"transport_vjp W ({mu},{s}) grid {grid}")
            assert_close(S, Sr, 1e-13, f"transport_vjp links ({mu},{s}) grid {grid}")


@needs_kernels
@pytest.mark.mpi
@pytest.mark.parametrize("N", [2, 3])
def test_compiled_link_transports_equal_numpy(N):
    """link_transport(s) and their VJPs compiled against the NumPy bodies on every process grid (1e-13)."""
    sh = tuple(reversed(DIMS))
    for grid in grids(DIMS):
        lat, u, U = _setup(N, grid, seed=31)
        T, R = _pair(U)
        A = _local(lat, random_global(sh + (len(COMBOS), N, N), 32))
        G = _local(lat, random_global(sh + (len(COMBOS), N, N), 33))
        B, Br = T.link_transports(A, COMBOS), R.link_transports(A, COMBOS)
        assert_close(B, Br, 1e-13, f"link_transports grid {grid}")
        S, Sr = T.zeros_sigma(), R.zeros_sigma()
        g, gr = T.link_transports_vjp(A, COMBOS, G, S), R.link_transports_vjp(A, COMBOS, G, Sr)
        assert_close(g, gr, 1e-13, f"link_transports_vjp A grid {grid}")
        assert_close(S, Sr, 1e-13, f"link_transports_vjp links grid {grid}")
        for mu, nu, s in ((0, 3, -1), (2, 1, 1)):
            X = A[:, :2]
            assert_close(T.link_transport(X, mu, nu, s), R.link_transport(X, mu, nu, s), 1e-13,
                         f"link_transport ({mu},{nu},{s}) grid {grid}")
            S, Sr = T.zeros_sigma(), R.zeros_sigma()
            g = T.link_transport_vjp(X, mu, nu, s, G[:, :2], S)
            gr = R.link_transport_vjp(X, mu, nu, s, G[:, :2], Sr)
            assert_close(g, gr, 1e-13, f"link_transport_vjp A ({mu},{nu},{s}) grid {grid}")
            assert_close(S, Sr, 1e-13, f"link_transport_vjp links ({mu},{nu},{s}) grid {grid}")


@needs_kernels
def test_compiled_kernels_refuse_bad_input():
    lat, u, U = _setup(2, None)
    T = Paths(U)
    A = np.zeros((lat.local_volume, len(COMBOS), 2, 2), complex)
    with pytest.raises(ValueError, match="n = len\\(combos\\)"):
        T.link_transports(A[:, :5], COMBOS)
    with pytest.raises(ValueError, match="s = \\+-1"):
        T.link_transports(A[:, :1], [(0, 1, 2)])
    with pytest.raises(ValueError, match="site-major field"):
        T.transport(np.zeros((lat.local_volume, 3, 3), complex), 0, 1)
    Hf, Hh = T._hop_links()
    bad = np.array([[8, 0]], dtype=np.int32)
    with pytest.raises(ValueError, match="hop 8"):
        paths_module.core.transport_forward(Hf, Hh, A[:, :1].copy(), None, bad, T.halo.nbr, A[:, :1].copy(),
                                            T.V, T.halo.Vh, 2)
    bad = np.array([[0, 3]], dtype=np.int32)
    with pytest.raises(ValueError, match="right factor 3"):
        paths_module.core.transport_forward(Hf, Hh, A[:, :1].copy(), None, bad, T.halo.nbr, A[:, :1].copy(),
                                            T.V, T.halo.Vh, 2)


@needs_kernels
@pytest.mark.mpi
@pytest.mark.parametrize("N", [2, 3])
def test_simd_and_generic_transport_forward_agree(N):
    """The eight-sites-per-step CPU forward (AVX-512 builds) against the site-by-site one: path products (r = -2),
    transports (r = -1) and link transports (r >= 0), on a volume with a partial last group of eight and on every
    process grid (1e-14)."""
    core = paths_module.core
    if core.transport_variant() != "simd":
        pytest.skip("this build has no SIMD transport forward (compiled without AVX-512)")
    dims = (3, 5, 2, 3)                                                # 90 sites: partial groups of eight
    sh = tuple(reversed(dims))
    try:
        for grid in grids(dims):
            lat = gn.Lattice(dims, mpi=grid)
            U = gn.GaugeField.from_numpy(lat, random_su_global(dims, N, 41))
            W = _local(lat, random_global(sh + (3, N, N), 42))
            A = _local(lat, random_global(sh + (len(COMBOS), N, N), 43))
            res = {}
            for variant in ("generic", "simd"):
                assert core.transport_variant(variant) == variant
                T = Paths(U)
                res[variant] = [T.path(CHAIR)[0], T.path(OPEN)[0], T.transport(W, 1, -1), T.transport(W, 3, 1),
                                T.link_transports(A, COMBOS)]
            for k, (a, b) in enumerate(zip(res["generic"], res["simd"])):
                assert_close(b, a, 1e-14, f"simd vs generic, output {k}, grid {grid}")
    finally:
        core.transport_variant("simd")
    with pytest.raises(ValueError, match="'simd' or 'generic'"):
        core.transport_variant("avx")
