"""The scalar normalizing-flow reference of seed 003 (gaugenet.flows): phi^4 action and force, periodic CNN
layers, affine coupling layers and the flow (finite-difference gradients for weights and inputs, exact
log-determinant against a numerical Jacobian, invertibility), the KL cost gradient, translation
equivariance (a flow trained on L applies on 2L), ESS and reweighting, exactness of the independence
Metropolis sampler against the local Metropolis reference and the Gaussian theory, bad input, and the
`python -m gaugenet flow` command (JSON summary, HDF5 weights, TOML config, refusal on several ranks)."""
import json
import os

import numpy as np
import pytest

from conftest import NRANKS
from gaugenet.flows import (CNN, AffineCoupling, Flow, LocalMetropolis, PeriodicConv2d, Phi4, Tanh, ess,
                            ess_with_error, independence_metropolis, kl_cost, make_theory, primary_series,
                            reweight)
from gaugenet.flows.phi4 import free_propagator
from gaugenet.flows.sampler import gamma_error, measure_chain


def _fd_check(f, x, grad, rng, n_dirs=3, eps=1e-6, rel=1e-6):
    """Compare the directional derivative of the scalar f at x along random directions with <grad, d>."""
    for _ in range(n_dirs):
        d = rng.standard_normal(np.shape(x))
        fd = (f(x + eps * d) - f(x - eps * d)) / (2 * eps)
        an = float(np.sum(grad * d))
        assert abs(fd - an) <= rel * max(1.0, abs(an)), f"finite difference {fd} vs backprop {an}"


def _fd_layer(layer, x, rng, left_fn, cost_fn):
    """FD checks of every weight array and of the input of a protocol layer for C = cost_fn(layer(W, x))."""
    w = layer.weights(seed=3, scale=1.0)
    w = [wi + 0.3 * rng.standard_normal(wi.shape) for wi in w]   # also a non-trivial last convolution
    out = layer(w, x)
    grads = layer.projected_gradient_adj(w, x, left_fn(out))
    assert len(grads) == len(w) + 1
    for i in range(len(w)):
        def f(wi, i=i):
            ww = list(w)
            ww[i] = wi
            return cost_fn(layer(ww, x))
        _fd_check(f, w[i], grads[i], rng)
    _fd_check(lambda xx: cost_fn(layer(w, xx)), x, grads[-1], rng)


# ------------------------------------------------------------------------------------------ the action
def test_phi4_action_and_force():
    rng = np.random.default_rng(0)
    th = Phi4(0.6, 0.5)
    phi = rng.standard_normal((3, 4, 6))
    # the action by explicit loops over sites and the two forward bonds
    for b in range(3):
        s = 0.0
        for x in range(4):
            for y in range(6):
                p = phi[b, x, y]
                s += -0.6 * p * (phi[b, (x + 1) % 4, y] + phi[b, x, (y + 1) % 6]) + p * p + 0.5 * (p * p - 1) ** 2
        assert abs(th.action(phi)[b] - s) < 1e-12
    _fd_check(lambda p: th.action(p).sum(), phi, th.force(phi), rng)
    assert th.kappa == pytest.approx(0.3)


# ------------------------------------------------------------------------------------------ layers: FD
@pytest.mark.parametrize("kernel", [1, 3, 5])
def test_conv_gradients(kernel):
    rng = np.random.default_rng(1)
    lay = PeriodicConv2d(2, 3, kernel)
    x = rng.standard_normal((2, 2, 4, 6))
    c = rng.standard_normal((2, 3, 4, 6))
    _fd_layer(lay, x, rng, lambda y: c, lambda y: float(np.sum(c * y)))
    # the convolution at one site by explicit sums
    w = lay.weights(seed=5)
    y = lay(w, x)
    k = (kernel - 1) // 2
    ref = w[1][1] + sum(w[0][1, i, d0, d1] * x[1, i, (2 + d0 - k) % 4, (5 + d1 - k) % 6]
                        for i in range(2) for d0 in range(kernel) for d1 in range(kernel))
    assert abs(y[1, 1, 2, 5] - ref) < 1e-12


def test_tanh_and_cnn_gradients():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 1, 4, 4))
    t = Tanh(1)
    c = rng.standard_normal(x.shape)
    g = t.projected_gradient_adj([], x, c)
    _fd_check(lambda xx: float(np.sum(c * np.tanh(xx))), x, g[0], rng)
    for depth in (1, 2, 3):
        net = CNN(1, 2, hidden=3, kernel=3, depth=depth)
        c2 = rng.standard_normal((2, 2, 4, 4))
        _fd_layer(net, x, rng, lambda y: c2, lambda y: float(np.sum(c2 * y)))


@pytest.mark.parametrize("z2", [False, True])
def test_coupling_layer_gradients_and_inverse(z2):
    rng = np.random.default_rng(3)
    for parity in (0, 1):
        lay = AffineCoupling(parity, hidden=3, kernel=3, z2=z2)
        x = rng.standard_normal((2, 4, 4))
        cy, cl = rng.standard_normal(x.shape), rng.standard_normal(2)
        cost = lambda out: float(np.sum(cy * out[0]) + np.sum(cl * out[1]))  # noqa: E731
        _fd_layer(lay, x, rng, lambda out: (cy, cl), cost)
        w = lay.weights(seed=1)
        y, ld = lay(w, x)
        passive = (np.add.outer(np.arange(4), np.arange(4)) % 2) != parity
        assert np.array_equal(y[:, passive], x[:, passive]), "passive sites are left unchanged"
        x2, ld2 = lay.inverse(w, y)
        assert np.abs(x2 - x).max() < 1e-12 and np.abs(ld2 - ld).max() < 1e-12


# ------------------------------------------------------------------------------------------ the flow
def _trained_like_weights(flow, rng, scale=0.4):
    return [w + scale * rng.standard_normal(w.shape) for w in flow.weights(seed=7)]


@pytest.mark.parametrize("z2", [False, True])
def test_flow_gradients_logdet_inverse(z2):
    rng = np.random.default_rng(4)
    flow = Flow(n_layers=3, hidden=4, kernel=3, z2=z2)
    w = _trained_like_weights(flow, rng)
    z = rng.standard_normal((2, 4, 4))
    cy, cl = rng.standard_normal(z.shape), rng.standard_normal(2)
    cost = lambda out: float(np.sum(cy * out[0]) + np.sum(cl * out[1]))  # noqa: E731
    grads = flow.projected_gradient_adj(w, z, (cy, cl))
    for i in range(len(w)):
        def f(wi, i=i):
            ww = list(w)
            ww[i] = wi
            return cost(flow(ww, z))
        _fd_check(f, w[i], grads[i], rng, n_dirs=1)
    _fd_check(lambda zz: cost(flow(w, zz)), z, grads[-1], rng)

    # the log-determinant against the numerical Jacobian of the whole map (16 x 16 on 4 x 4); weights of a
    # moderate size (|s| ~ 1 per site) keep the differences of the composed map accurate
    w = _trained_like_weights(flow, rng, 0.15)
    phi, logdet = flow(w, z)
    for b in range(2):
        jac = np.empty((16, 16))
        eps = 1e-4
        for j in range(16):
            e = np.zeros((1, 4, 4))
            e.flat[j] = eps
            jac[:, j] = ((flow(w, z[b:b + 1] + e)[0] - flow(w, z[b:b + 1] - e)[0]) / (2 * eps)).ravel()
        sign, ld = np.linalg.slogdet(jac)
        assert sign > 0
        assert abs(ld - logdet[b]) < 1e-8, (ld, logdet[b])
        assert abs(logdet[b]) > 0.5, "a non-trivial Jacobian"

    # invertibility to 1e-12, and the model density through the inverse
    z2, logdet2 = flow.inverse(w, phi)
    assert np.abs(z2 - z).max() < 1e-12
    assert np.abs(logdet2 - logdet).max() < 1e-12
    lq = flow.log_density(w, phi)
    assert np.allclose(lq, flow.log_prior(z) - logdet, atol=1e-12)


@pytest.mark.parametrize("z2", [False, True])
def test_kl_cost_gradient_finite_differences(z2):
    """The KL cost C on a fixed batch: backprop gradient against central differences of C (4 x 4)."""
    rng = np.random.default_rng(5)
    flow = Flow(n_layers=2, hidden=3, kernel=3, z2=z2)
    th = Phi4(0.55, 0.5)
    w = _trained_like_weights(flow, rng, 0.3)
    z = rng.standard_normal((8, 4, 4))
    c, grads, logw = kl_cost(flow, th, w, z)
    assert np.isfinite(c) and logw.shape == (8,)
    for i in range(len(w)):
        def f(wi, i=i):
            ww = list(w)
            ww[i] = wi
            return kl_cost(flow, th, ww, z, with_grad=False)[0]
        _fd_check(f, w[i], grads[i], rng, n_dirs=2)


def test_translation_equivariance_and_larger_lattice():
    """Weights apply on any even lattice: a 4 x 4 field tiled to 8 x 8 maps to the tiled output, and
    shifting the input by an even (or mixed even) translation shifts the output."""
    rng = np.random.default_rng(6)
    flow = Flow(n_layers=4, hidden=4, kernel=3)
    w = _trained_like_weights(flow, rng)
    z = rng.standard_normal((2, 4, 4))
    phi, ld = flow(w, z)
    phi2, ld2 = flow(w, np.tile(z, (1, 2, 2)))
    assert np.abs(phi2 - np.tile(phi, (1, 2, 2))).max() < 1e-12
    assert np.abs(ld2 - 4 * ld).max() < 1e-10
    z8 = rng.standard_normal((2, 8, 8))
    for shift in ((2, 0), (0, 2), (1, 1), (3, 5)):   # shifts that keep the checkerboard
        a = flow(w, np.roll(z8, shift, axis=(1, 2)))[0]
        b = np.roll(flow(w, z8)[0], shift, axis=(1, 2))
        assert np.abs(a - b).max() < 1e-12


def test_z2_equivariance():
    """z2 layers: f(-z) = -f(z) with the same log-det, so q(-phi) = q(phi); plain layers are not odd."""
    rng = np.random.default_rng(8)
    z = rng.standard_normal((3, 6, 6))
    flow = Flow(n_layers=3, hidden=4, kernel=3, z2=True)
    w = _trained_like_weights(flow, rng)
    (p1, l1), (p2, l2) = flow(w, z), flow(w, -z)
    assert np.abs(p1 + p2).max() < 1e-12 and np.abs(l1 - l2).max() < 1e-12
    plain = Flow(n_layers=3, hidden=4, kernel=3)
    wp = _trained_like_weights(plain, rng)
    assert np.abs(plain(wp, z)[0] + plain(wp, -z)[0]).max() > 1e-3


# ------------------------------------------------------------------------------------------ ESS, reweighting
def test_ess_and_reweighting():
    assert ess(np.zeros(10)) == pytest.approx(1.0)
    assert ess(np.array([0.0, -1e4, -1e4, -1e4])) == pytest.approx(0.25)
    rng = np.random.default_rng(7)
    lw = rng.standard_normal(4000)
    # log-normal weights: ESS = 1 / <w^2> with <w> = 1 -> exp(-sigma^2) = exp(-1)
    e, err = ess_with_error(lw)
    assert abs(e - np.exp(-1.0)) < 4 * err + 0.02
    # reweighting a Gaussian proposal N(0, 1) to N(1, 1): w = exp(x - 1/2)
    x = rng.standard_normal(20000)
    m, dm = reweight(x, x - 0.5)
    assert abs(m - 1.0) < 4 * dm


# ------------------------------------------------------------------------------------------ exactness
def test_local_metropolis_gaussian_theory():
    """At lambda = 0 the reference chain reproduces <phi^2> = tr K^-1 / V of the Gaussian theory."""
    th = Phi4(0.3, 0.0)
    exact = float(np.trace(free_propagator(0.3, (4, 4)))) / 16
    mc = LocalMetropolis(th, (4, 4), delta=1.5, seed=11)
    cfg = mc.run(4000, therm=200)[:, 0]
    val, err, _, _ = gamma_error((cfg ** 2).mean(axis=(1, 2)))
    assert abs(val - exact) < 4 * err, (val, err, exact)


def _flow_chain_phi2(flow, w, th, shape, n, seed):
    rng = np.random.default_rng(seed)
    phi, logq, _ = flow.sample(w, n, shape, rng)
    logw = -th.action(phi) - logq
    idx, acc = independence_metropolis(logw, rng)
    return gamma_error((phi[idx] ** 2).mean(axis=(1, 2))), acc, phi, logw


def test_independence_metropolis_exact_with_poor_model():
    """A deliberately poor (random, untrained) flow: the independence Metropolis chain's <phi^2> agrees with
    the local Metropolis reference within errors; so does reweighting. The flow's own <phi^2> does not."""
    th = Phi4(0.5, 0.5)
    flow = Flow(n_layers=2, hidden=4, kernel=3)
    w = [x * 1.0 for x in flow.weights(seed=2, scale=1.5)]
    (val, err, tau, _), acc, phi, logw = _flow_chain_phi2(flow, w, th, (4, 4), 30000, 1)
    assert 0.005 < acc < 0.6, acc
    ref = LocalMetropolis(th, (4, 4), delta=1.2, seed=3)
    cfg = ref.run(6000, therm=300)[:, 0]
    rval, rerr, _, _ = gamma_error((cfg ** 2).mean(axis=(1, 2)))
    assert abs(val - rval) < 4 * np.hypot(err, rerr), (val, err, rval, rerr)
    rw, rwe = reweight((phi ** 2).mean(axis=(1, 2)), logw)
    assert abs(rw - rval) < 4 * np.hypot(rwe, rerr), (rw, rwe, rval, rerr)
    raw = float((phi ** 2).mean())
    assert abs(raw - rval) > 0.05, "the test needs a model that is visibly wrong"


def test_independence_metropolis_gaussian_exact():
    """Gaussian theory: the chain of an untrained flow matches tr K^-1 / V."""
    th = Phi4(0.4, 0.0)
    exact = float(np.trace(free_propagator(0.4, (4, 4)))) / 16
    flow = Flow(n_layers=2, hidden=4, kernel=3)
    (val, err, _, _), acc, _, _ = _flow_chain_phi2(flow, flow.weights(seed=9), th, (4, 4), 30000, 4)
    assert abs(val - exact) < 4 * err, (val, err, exact)


def test_measure_chain_consistency():
    """sum_t G(t) = chi (the seed's definitions), on a short reference chain."""
    th = Phi4(0.5, 0.5)
    cfg = LocalMetropolis(th, (6, 6), seed=5).run(300, therm=50)[:, 0]
    res = measure_chain(primary_series(cfg), (6, 6))
    assert abs(sum(g["value"] for g in res["G"]) - res["chi"]["value"]) < 1e-10
    assert res["chi"]["error"] > 0 and res["abs_m"]["value"] > 0


# ------------------------------------------------------------------------------------------ bad input
def test_bad_input():
    with pytest.raises(ValueError, match="unknown theory 'o3'"):
        make_theory("o3", beta=1.0)
    with pytest.raises(ValueError, match="coupling layers must be an integer >= 1"):
        Flow(n_layers=0)
    flow = Flow(n_layers=2, hidden=2)
    with pytest.raises(ValueError, match="even lattice extents"):
        flow(flow.weights(), np.zeros((1, 5, 5)))
    with pytest.raises(ValueError, match="even lattice extents"):
        flow.inverse(flow.weights(), np.zeros((1, 4, 3)))
    with pytest.raises(ValueError, match="kernel size must be odd"):
        PeriodicConv2d(1, 2, 2)
    with pytest.raises(ValueError, match="expected 8 weight array"):
        flow(flow.weights()[:3], np.zeros((1, 4, 4)))
    with pytest.raises(ValueError, match="lambda must be >= 0"):
        Phi4(0.5, -1.0)


# ------------------------------------------------------------------------------------------ the command
_TINY = """# command: flow (test)
theory = "phi4"
beta = 0.576
lambda = 0.5
L = 4
scales = "1,2"
layers = 2
hidden = 4
z2 = true
steps = 30
batch = 64
samples = 400
chunk = 200
ref_sweeps = 400
ref_therm = 50
seed = 3
"""


def _toml(tmp_path, text=_TINY):
    p = os.path.join(str(tmp_path), "phi4.toml")
    with open(p, "w") as f:
        f.write(text)
    return p


@pytest.mark.skipif(NRANKS > 1, reason="the command runs on one rank; the refusal is tested below")
def test_cli_json_and_hdf5(tmp_path):
    from gaugenet.cli.main import main
    from gaugenet.flows.model_io import load_flow
    js, h5 = os.path.join(str(tmp_path), "out.json"), os.path.join(str(tmp_path), "models", "model.h5")
    assert main(["flow", _toml(tmp_path), "--save", h5, "--json", js]) == 0
    with open(js) as f:
        s = json.load(f)
    for key in ("theory", "beta", "lambda", "lattice", "n_parameters", "ess", "ess_err", "training_seconds",
                "acceptance", "observables"):
        assert key in s, key
    assert s["theory"] == "phi4" and s["lattice"] == [4, 4] and s["beta"] == 0.576 and s["lambda"] == 0.5
    assert [a["lattice"] for a in s["applied"]] == [[4, 4], [8, 8]]
    for side in ("flow", "reference"):
        obs = s["observables"][side]
        assert set(obs) >= {"m", "abs_m", "chi", "G"} and len(obs["G"]) == 4
        assert obs["chi"]["error"] > 0 and obs["abs_m"]["tau_int"] >= 0.5 - 1e-9
    assert 0 < s["ess"] <= 1 and 0 <= s["acceptance"] <= 1 and s["seed_table"]["acceptance_L"] == 0.04
    assert os.path.exists(os.path.join(str(tmp_path), "out.config.toml"))
    flow, weights, attrs = load_flow(h5)
    assert flow.n_parameters == s["n_parameters"] and attrs["theory"] == "phi4" and attrs["beta"] == 0.576
    assert flow.z2 and s["architecture"]["z2_equivariant"]
    # the saved weights continue: a run from them without training reports the loaded model
    js2 = os.path.join(str(tmp_path), "again.json")
    assert main(["flow", _toml(tmp_path), "--load", h5, "--steps", "0", "--scales", "2", "--json", js2]) == 0
    with open(js2) as f:
        s2 = json.load(f)
    assert s2["pretrained"] and s2["training"]["steps"] == 0 and s2["applied"][0]["lattice"] == [8, 8]
    # a file that is not a flow model is refused, naming it
    import h5py
    other = os.path.join(str(tmp_path), "other.h5")
    with h5py.File(other, "w") as f:
        f["x"] = np.zeros(3)
    with pytest.raises(ValueError, match="is not a gaugenet flow model"):
        load_flow(other)


@pytest.mark.skipif(NRANKS > 1, reason="single-rank command")
@pytest.mark.parametrize("flags,message", [
    (["--theory", "o3"], "unknown theory 'o3'"),
    (["--layers", "0"], "coupling layers"),
    (["--L", "5"], "even lattice extent"),
    (["--kernel", "2"], "kernel size must be odd"),
    (["--scales", "1,x"], "--scales"),
])
def test_cli_bad_input(tmp_path, capsys, flags, message):
    from gaugenet.cli.main import main
    assert main(["flow", _toml(tmp_path)] + flags) == 1
    err = capsys.readouterr().err
    assert "gaugenet error" in err and message in err, err


@pytest.mark.mpi
def test_cli_ranks(tmp_path, capsys):
    """On several ranks the command is refused on every rank (exit 1, no hang); on one rank bad input fails."""
    from gaugenet.cli.main import main
    if NRANKS > 1:
        assert main(["flow", "--steps", "1"]) == 1
        assert "runs on one MPI rank" in capsys.readouterr().err
    else:
        assert main(["flow", "--L", "7"]) == 1
        assert "even lattice extent" in capsys.readouterr().err
