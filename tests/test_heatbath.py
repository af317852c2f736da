"""Quenched heat bath + overrelaxation: single-link distributions against exact integrals, the
plaquette against strong-coupling and beta = 6.0 values, exact overrelaxation, and the same chain
(links and plaquette history) on 1, 2 and 4 ranks."""
import numpy as np
import pytest
from mpi4py import MPI

import gaugenet as gn
from gaugenet.gauge import su2
from gaugenet.gauge.action import wilson_action
from gaugenet.gauge.group import project_su
from gaugenet.gauge.heatbath import QuenchedUpdater, heatbath_links, heatbath_stream, overrelax_links

from conftest import assert_close, grids


def _random_su(N, seed):
    r = np.random.default_rng(seed)
    return project_su(r.standard_normal((N, N)) + 1j * r.standard_normal((N, N)))


def _su2_moments(alpha):
    """<x0>, <x0^2> for the density sqrt(1 - x0^2) exp(alpha x0) on [-1, 1] (x0 = cos theta, midpoint rule)."""
    th = (np.arange(200000) + 0.5) / 200000 * np.pi
    w = np.sin(th) ** 2 * np.exp(alpha * (np.cos(th) - 1))
    c = np.cos(th)
    return float((c * w).sum() / w.sum()), float((c * c * w).sum() / w.sum())


def _su3_mean_re_trace(c):
    """<Re tr X> for X in SU(3) with weight exp(c Re tr X) d_Haar X: Weyl's formula over the eigenphases."""
    n = 600
    th = (np.arange(n) + 0.5) / n * 2 * np.pi - np.pi
    t1, t2 = np.meshgrid(th, th, indexing="ij")
    e1, e2, e3 = np.exp(1j * t1), np.exp(1j * t2), np.exp(-1j * (t1 + t2))
    vandermonde = np.abs(e1 - e2) ** 2 * np.abs(e1 - e3) ** 2 * np.abs(e2 - e3) ** 2
    rt = np.cos(t1) + np.cos(t2) + np.cos(t1 + t2)
    w = vandermonde * np.exp(c * (rt - 3))
    return float((w * rt).sum() / w.sum())


@pytest.mark.parametrize("alpha", [0.6, 1.9, 2.1, 9.0])   # both sides of the Creutz / Kennedy-Pendleton switch
def test_su2_single_link_heatbath_distribution(alpha):
    """SU(2), fixed staple A = k V: one heat-bath step samples exp(beta/2 Re tr(U A)) exactly, so
    x = U V has x0 = Re tr(x)/2 with density sqrt(1 - x0^2) exp(beta k x0)."""
    n, beta = 40000, 2.0
    k = alpha / beta
    V = _random_su(2, 1)
    A = np.broadcast_to(k * V, (n, 2, 2))
    U0 = np.broadcast_to(_random_su(2, 2), (n, 2, 2))
    counters = np.arange(n, dtype=np.uint64) + np.uint64(10 ** 6)
    U = heatbath_links(U0, A, beta, 5, counters, lambda g, a: heatbath_stream(0, 0, 0, g, a))
    assert_close(U @ np.conj(np.swapaxes(U, 1, 2)), np.broadcast_to(np.eye(2), U.shape), 1e-13, "unitary")
    x = U @ V
    x0 = np.trace(x, axis1=1, axis2=2).real / 2
    m1, m2 = _su2_moments(alpha)
    s1 = np.sqrt((m2 - m1 ** 2) / n)
    assert abs(x0.mean() - m1) < 4.5 * s1, (x0.mean(), m1, s1)
    s2 = (x0 ** 2).std() / np.sqrt(n)
    assert abs((x0 ** 2).mean() - m2) < 4.5 * s2, ((x0 ** 2).mean(), m2, s2)
    # the vector part is isotropic: the three components have mean 0 and equal variances
    vec = np.stack([x[:, 0, 1].imag, x[:, 0, 1].real, x[:, 0, 0].imag], axis=1)
    assert np.abs(vec.mean(axis=0)).max() < 4.5 * np.sqrt((1 - m2) / 3 / n)
    assert np.abs(vec.var(axis=0) - (1 - m2) / 3).max() < 0.05 * (1 - m2) / 3 + 4.5 / np.sqrt(n) * (1 - m2) / 3


@pytest.mark.parametrize("c0", [0.3, 3.0])
def test_su3_cabibbo_marinari_single_link(c0):
    """SU(3), fixed staple A = c0 V: repeated Cabibbo-Marinari steps converge to exp(beta/3 Re tr(U A)),
    checked by <Re tr(U V)> against Weyl's integration formula."""
    n, beta = 20000, 6.0
    V = _random_su(3, 3)
    A = np.broadcast_to(c0 * V, (n, 3, 3))
    U = np.broadcast_to(np.eye(3, dtype=complex), (n, 3, 3))
    counters = np.arange(n, dtype=np.uint64)
    for it in range(10):
        U = heatbath_links(U, A, beta, 11, counters, lambda g, a, it=it: heatbath_stream(it, 1, 0, g, a))
    rt = np.trace(U @ V, axis1=1, axis2=2).real
    exact = _su3_mean_re_trace(beta * c0 / 3)
    err = rt.std() / np.sqrt(n)
    assert abs(rt.mean() - exact) < 4.5 * err, (rt.mean(), exact, err)


@pytest.mark.parametrize("N", [2, 3])
def test_overrelaxation_preserves_action(N):
    lat = gn.Lattice((4, 4, 4, 4), mpi=(1, 1, 1, 1), comm=MPI.COMM_SELF)
    beta = 6.0 if N == 3 else 2.3
    U = gn.GaugeField.unit(lat, N)
    up = QuenchedUpdater(beta, seed=3, or_steps=0)
    up.run(U, 0, 3)
    before = U.copy()
    S0 = wilson_action(U, beta)
    up.overrelax(U)
    assert abs(wilson_action(U, beta) - S0) < 1e-10 * abs(S0), "overrelaxation changed the action"
    assert np.abs(U.data - before.data).max() > 0.1, "overrelaxation left the links unchanged"
    assert U.unitarity_violation() < 1e-13
    # a single OR step on independent links is a reflection: twice gives back the links
    links = np.stack([_random_su(N, 10 + i) for i in range(50)])
    staple = np.stack([_random_su(N, 100 + i) + 0.5 * _random_su(N, 200 + i) for i in range(50)])
    once = overrelax_links(links, staple)
    tr = lambda u: np.trace(u @ staple, axis1=1, axis2=2).real  # noqa: E731
    assert_close(tr(once), tr(links), 1e-13, "Re tr(U A)")
    if N == 2:
        assert_close(overrelax_links(once, staple), links, 1e-13, "OR twice")


def test_su2_projection():
    """Re tr(r w) = Re tr(r k v) for any 2x2 w and r in SU(2): the discarded part never contributes."""
    rs = np.random.default_rng(7)
    W = rs.standard_normal((20, 3, 3)) + 1j * rs.standard_normal((20, 3, 3))
    v, k = su2.quaternion_part(W, 0, 2)
    r = np.stack([_random_su(2, 30 + i) for i in range(20)])
    w = W[:, [0, 2]][:, :, [0, 2]]
    lhs = np.trace(r @ w, axis1=1, axis2=2).real
    rhs = k * np.trace(r @ su2.quaternion_matrix(v), axis1=1, axis2=2).real
    assert_close(lhs, rhs, 1e-13, "projection")


def _blocked_error(h, block=10):
    b = np.asarray(h)[: len(h) // block * block].reshape(-1, block).mean(axis=1)
    return float(b.std(ddof=1) / np.sqrt(len(b)))


def test_su2_plaquette_strong_coupling():
    """SU(2), beta = 1: <P> = u + 4 u^5 + O(u^9), u = I_2(beta)/I_1(beta) (character expansion; the
    u^5 term is the four cubes through a plaquette in four dimensions)."""
    lat = gn.Lattice((4, 4, 4, 4), mpi=(1, 1, 1, 1), comm=MPI.COMM_SELF)
    beta = 1.0
    U = gn.GaugeField.random(lat, 2, seed=1)
    up = QuenchedUpdater(beta, seed=2, or_steps=1)
    hist = []
    up.run(U, 0, 170, callback=lambda s, U: hist.append(gn.plaquette(U)))
    hist = hist[10:]
    u = _su2_moments(beta)[0]
    expect = u + 4 * u ** 5
    err = _blocked_error(hist)
    assert abs(np.mean(hist) - expect) < 4 * err + 3e-4, (np.mean(hist), expect, err)


def test_su3_plaquette_beta6():
    """SU(3), beta = 6.0: cold and hot starts both approach <P> = 0.5937 (infinite volume; a 4^3 x 8
    lattice sits a little above it)."""
    lat = gn.Lattice((4, 4, 4, 8), mpi=(1, 1, 1, 1), comm=MPI.COMM_SELF)
    means = {}
    for start in ("cold", "hot"):
        U = gn.GaugeField.unit(lat, 3) if start == "cold" else gn.GaugeField.random(lat, 3, seed=4)
        up = QuenchedUpdater(6.0, seed=9, or_steps=3)
        hist = []
        up.run(U, 0, 40, callback=lambda s, U: hist.append(gn.plaquette(U)))
        assert (hist[0] > 0.62) if start == "cold" else (hist[0] < 0.45), (start, hist[0])
        means[start] = float(np.mean(hist[20:]))
        assert 0.588 < means[start] < 0.606, (start, means[start])
        assert U.unitarity_violation() < 1e-12
    assert abs(means["cold"] - means["hot"]) < 0.012, means


@pytest.mark.mpi
@pytest.mark.parametrize("N", [2, 3])
@pytest.mark.parametrize("grid", grids((4, 4, 4, 8)))
def test_chain_independent_of_process_grid(N, grid):
    """Same plaquette history and links (within 1e-12) on this process grid as on one rank."""
    dims = (4, 4, 4, 8)
    beta = 6.0 if N == 3 else 2.3
    lat = gn.Lattice(dims, mpi=grid)
    one = gn.Lattice(dims, mpi=(1, 1, 1, 1), comm=MPI.COMM_SELF)
    hist, hist1 = [], []
    U = gn.GaugeField.random(lat, N, seed=6)
    U1 = gn.GaugeField.random(one, N, seed=6)
    up = QuenchedUpdater(beta, seed=77, or_steps=1, reunitarize_every=2)
    up.run(U, 0, 3, callback=lambda s, U: hist.append(gn.plaquette(U)))
    up.run(U1, 0, 3, callback=lambda s, U: hist1.append(gn.plaquette(U)))
    assert_close(hist, hist1, 1e-12, "plaquette history")
    assert_close(U.to_numpy(), U1.data, 1e-12, "links")
    # resuming at sweep 3 from the stored links continues the same chain
    V = gn.GaugeField.from_numpy(lat, U1.data)
    up.run(V, 3, 1)
    up.run(U1, 3, 1)
    assert_close(V.to_numpy(), U1.data, 1e-12, "resumed chain")
