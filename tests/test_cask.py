"""CASK attention layer (covnet/cask.py) and LinkNetwork (covnet/network.py): reduction to stout, gauge
covariance, finite-difference checks of the force and the weight gradient, any process grid, errors."""
import numpy as np
import pytest

import gaugenet as gn
from gaugenet.covnet import CaskLayer, LinkNetwork
from gaugenet.gauge.action import gauge_force, wilson_action
from gaugenet.gauge.expderiv import expm_su
from gaugenet.gauge.group import dag, traceless_antihermitian
from gaugenet.gauge.stout import StoutLayer, StoutNetwork

from conftest import assert_close, grids, random_global, random_su_global

DIMS = (4, 4, 4, 4)
BETA = 2.1


def _field(N, grid=None, seed=3, eps=0.6):
    """A rough but not Haar-random field (links exp(eps X) with random X), so that scores are O(1)."""
    lat = gn.Lattice(DIMS, mpi=grid)
    X = traceless_antihermitian(random_global((4,) + tuple(reversed(DIMS)) + (N, N), seed))
    return gn.GaugeField.from_numpy(lat, expm_su(eps * X))


def _weights(S, seed=1, scale=0.05):
    r = np.random.default_rng(seed)
    w = scale * r.standard_normal(10 + S)
    w[9] = 3.0 + r.standard_normal()       # tau: attention far from uniform
    return w


@pytest.mark.parametrize("N", [2, 3])
def test_uniform_attention_is_a_stout_layer(N):
    U = _field(N)
    rho = 0.07
    ref = StoutLayer(rho, 0.0, 0.0)(U).sites()
    # S = 1: the softmax over one loop is 1 whatever the scores; Q and K maps do not matter
    w = np.zeros(11)
    w[0:6] = [0.03, 0.01, -0.02, 0.05, 0.0, 0.01]
    w[9], w[10] = 2.5, rho
    assert_close(CaskLayer(1, w)(U).sites(), ref, 1e-12, "S = 1")
    # S = 3, tau = 0: uniform weights 1/3, only the plaquette kernel on
    w = np.zeros(13)
    w[10] = 3 * rho
    assert_close(CaskLayer(3, w)(U).sites(), ref, 1e-12, "S = 3, tau = 0")


@pytest.mark.parametrize("N", [2, 3])
def test_output_links_are_gauge_covariant_and_in_su_n(N):
    U = _field(N, seed=4)
    layer = CaskLayer(3, _weights(3))
    out = layer(U)
    g = gn.GaugeField.random(U.lat, N, seed=77).sites()[0]

    class Om:
        def sites(self):
            return g
    gfw = [U.shift_links(g, mu, +1) for mu in range(4)]
    out_g = layer(U.transform(Om())).sites()
    for mu in range(4):
        assert_close(out_g[mu], g @ out.sites()[mu] @ dag(gfw[mu]), 1e-12, f"covariance mu={mu}")
    assert out.unitarity_violation() < 1e-12


def _action(layer_or_net, U):
    out = layer_or_net(U)
    return wilson_action(out, BETA)


def _grads(layer, U):
    out, ctx = layer.forward(U)
    return layer.backward(ctx, gauge_force(out, BETA))


@pytest.mark.parametrize("N", [2, 3])
def test_force_and_weight_gradient_by_finite_differences(N):
    U = _field(N, None, seed=5)
    lat = U.lat
    w = _weights(2, seed=2)
    layer = CaskLayer(2, w)
    F, g = _grads(layer, U)
    # dS/dt for U -> exp(t X) U equals 2 sum tr(X F)
    X = traceless_antihermitian(random_global((4,) + tuple(reversed(DIMS)) + (N, N), 40))
    Xl = _local_links(lat, X)
    pred = 2.0 * lat.allreduce(float(np.einsum("mvij,mvji->", Xl, F.sites()).real))
    h = 1e-5
    L = U.sites()

    def moved(t):
        return U._new(U.xp.asarray((expm_su(t * Xl) @ L).reshape(U.data.shape)))
    fd = (_action(layer, moved(h)) - _action(layer, moved(-h))) / (2 * h)
    assert abs(fd - pred) < 1e-6 * max(1.0, abs(pred)), (fd, pred)
    for i in range(layer.n_weights):
        wp, wm = w.copy(), w.copy()
        wp[i] += h
        wm[i] -= h
        fd = (_action(CaskLayer(2, wp), U) - _action(CaskLayer(2, wm), U)) / (2 * h)
        assert abs(fd - g[i]) < 1e-6 * max(1.0, abs(g[i])), (i, fd, g[i])


def _local_links(lat, x):
    """Local (4, V, N, N) part of a global link array [mu, t, z, y, x, N, N]."""
    sl = (slice(None),) + tuple(slice(lat.origin[mu], lat.origin[mu] + lat.local_dims[mu]) for mu in (3, 2, 1, 0))
    loc = x[sl]
    return np.ascontiguousarray(loc.reshape((4, lat.local_volume) + loc.shape[-2:]))


@pytest.mark.mpi
def test_same_output_and_gradients_on_every_process_grid():
    ref = None
    for grid in grids(DIMS)[:2]:
        U = _field(3, grid, seed=6)
        net = LinkNetwork("stout,cask:2")
        r = np.random.default_rng(8)
        net.params = 0.04 * r.standard_normal(net.n_weights)
        out = net.forward(U)
        F, g = net.backward(gauge_force(out, BETA))
        got = (U.lat.gather_global(out.data, lead=1),
               U.lat.gather_global(F.data, lead=1), g)
        if ref is None:
            ref = got
            continue
        assert_close(got[0], ref[0], 1e-12, f"links grid {grid}")
        assert_close(got[1], ref[1], 1e-11, f"force grid {grid}")
        assert_close(got[2], ref[2], 1e-11, f"weights grid {grid}")


def test_stout_only_network_equals_stout_network():
    U = _field(2, seed=9)
    w = np.array([0.05, 0.02, -0.01, 0.03, -0.02, 0.04])
    net, ref = LinkNetwork("stout", w), StoutNetwork([tuple(w[:3]), tuple(w[3:])])
    out, out_ref = net.forward(U), ref.forward(U)
    assert_close(out.sites(), out_ref.sites(), 1e-14)
    F, g = net.backward(gauge_force(out, BETA))
    Fr, gr = ref.backward(gauge_force(out_ref, BETA))
    assert_close(F.sites(), Fr.sites(), 1e-14)
    assert_close(g, np.asarray(gr).ravel(), 1e-14)


def test_bad_network_input_is_refused():
    with pytest.raises(ValueError, match="unknown network layer 'attention'"):
        LinkNetwork("attention")
    with pytest.raises(ValueError, match="cask:S needs an integer S >= 1"):
        LinkNetwork("cask:0")
    with pytest.raises(ValueError, match="has 13 weights, got 6"):
        LinkNetwork("cask", np.zeros(6))
    with pytest.raises(ValueError, match="must be finite"):
        LinkNetwork("stout", [np.nan] * 6)
    with pytest.raises(ValueError, match="needs 12 finite weights"):
        CaskLayer(2, np.zeros(3))
