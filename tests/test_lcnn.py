"""gaugenet.lcnn: L-CNN layers (finite differences to weights, input channels and links; gauge covariance and
invariance; translation equivariance; 1/2/4 ranks), model files, Wilson-loop targets and the lcnn command."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import gaugenet as gn
from gaugenet.gauge.expderiv import expm_su
from gaugenet.gauge.group import dag, traceless_antihermitian
from gaugenet.lcnn import (LAct, LBilin, LConv, LExp, Parallel, Plaq, Poly, Sequence, Trace, Identity,
                           load_model, parse_network, predict, save_model)
from gaugenet.lcnn.tasks import wilson_loop_target
from gaugenet.links.paths import Paths

from conftest import GAUGENET_PATH, assert_close, grids, random_global, random_su_global

DIMS = (4, 4, 4, 4)
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _local(lat, a):
    sl = tuple(slice(lat.origin[mu], lat.origin[mu] + lat.local_dims[mu]) for mu in (3, 2, 1, 0))
    loc = a[sl]
    return np.ascontiguousarray(loc.reshape((lat.local_volume,) + loc.shape[4:]))


def _glob(lat, a):
    return lat.gather_global(a.reshape(tuple(lat.local_shape) + a.shape[1:]))


def _setup(N, grid=None, dims=DIMS, seed=3):
    lat = gn.Lattice(dims, mpi=grid)
    u = random_su_global(dims, N, seed)
    return lat, u, gn.GaugeField.from_numpy(lat, u)


def _rand_field(lat, c, N, seed, dims=DIMS):
    return _local(lat, random_global(tuple(reversed(dims)) + (c, N, N), seed))


def _fd_check(layer, N, c_in, seed=0, grid=None, h=1e-5, tol=1e-6, dims=DIMS):
    lat, u, U = _setup(N, grid, dims=dims)
    links = U.sites().astype(np.complex128)
    weights = layer.weights(seed=seed + 1)
    W = None if c_in is None else _rand_field(lat, c_in, N, 50 + seed, dims)
    if isinstance(layer, (LAct,)) and W is not None:
        W = W + 1.5 * np.eye(N)          # traces away from the ReLU step
    rng = np.random.default_rng(seed + 7)
    T = Paths(lat=lat, links=links)
    T2, out, ctx = layer.forward(weights, T, W)
    if layer.scalar_out:
        R = rng.standard_normal(out.shape)
        if np.ndim(out) == 1:               # a lattice sum / mean: the same cotangent on every rank
            R = np.random.default_rng(seed + 8).standard_normal(out.shape)
        G = R
    else:
        R = _rand_field(lat, out.shape[1], N, 60 + seed, dims)
        G = R
    S = np.stack([_local(lat, random_global(tuple(reversed(dims)) + (N, N), 70 + seed + mu)) for mu in range(4)])
    S = S if layer.changes_links else None
    grads, GW, Sigma = layer.vjp(weights, ctx, G, S.copy() if S is not None else None)

    def cost(ws, lk, Win):
        T = Paths(lat=lat, links=lk)
        T2, o, _ = layer.forward(ws, T, Win, keep=False)
        c0 = 0.0
        if layer.scalar_out:
            c = float(np.sum(R * o))
            if np.ndim(o) == 1:             # reduced output: the same on every rank, count it once
                c, c0 = 0.0, c
        else:
            c = float(np.sum(np.trace(R @ o, axis1=-2, axis2=-1).real))
        if S is not None:
            c += float(np.sum(np.trace(S @ T2.U, axis1=-2, axis2=-1).real))
        return lat.allreduce(c) + c0

    # weights: dC = Re sum conj(grad) dw
    for i, w in enumerate(weights):
        dw = rng.standard_normal(w.shape)
        if np.iscomplexobj(w):
            dw = dw + 1j * rng.standard_normal(w.shape)
        wp = [x.copy() for x in weights]
        wm = [x.copy() for x in weights]
        wp[i] = w + h * dw
        wm[i] = w - h * dw
        fd = (cost(wp, links, W) - cost(wm, links, W)) / (2 * h)
        pred = float(np.sum(np.conj(grads[i]) * dw).real)
        assert abs(fd - pred) < tol * max(1.0, abs(pred)), (layer.name, "weight", i, fd, pred)
    # input channels: dC = sum Re tr(G_in dW)
    if W is not None and GW is not None:
        dW = _rand_field(lat, c_in, N, 80 + seed, dims)
        fd = (cost(weights, links, W + h * dW) - cost(weights, links, W - h * dW)) / (2 * h)
        pred = lat.allreduce(float(np.sum(np.trace(GW @ dW, axis1=-2, axis2=-1).real)))
        assert abs(fd - pred) < tol * max(1.0, abs(pred)), (layer.name, "input", fd, pred)
    # links: U -> exp(t X) U, dC/dt = 2 sum tr(X F)
    X = np.stack([_local(lat, traceless_antihermitian(random_global(tuple(reversed(dims)) + (N, N), 90 + mu)))
                  for mu in range(4)])
    F = T.force(Sigma) if Sigma is not None else np.zeros_like(links)
    pred = 2.0 * lat.allreduce(float(np.sum(np.einsum("mvij,mvji->mv", X, F).real)))
    fd = (cost(weights, expm_su(h * X) @ links, W) - cost(weights, expm_su(-h * X) @ links, W)) / (2 * h)
    assert abs(fd - pred) < tol * max(1.0, abs(pred)), (layer.name, "links", fd, pred)


LAYERS = [
    ("plaq", lambda: Plaq(), None),
    ("poly", lambda: Poly(), None),
    ("conv", lambda: LConv(3, 2, K=2, unit=True), 3),
    ("conv3", lambda: LConv(2, 2, K=3), 2),
    ("bilin", lambda: LBilin(2, 1, 2), 3),
    ("act-relu", lambda: LAct(2, "relu"), 2),
    ("act-tanh", lambda: LAct(2, "tanh"), 2),
    ("exp", lambda: LExp(2), 2),
    ("trace", lambda: Trace(2, 2), 2),
    ("trace-sum", lambda: Trace(2, 1, "sum"), 2),
    ("trace-mean", lambda: Trace(2, 1, "mean"), 2),
]


@pytest.mark.parametrize("N", [2, 3])
@pytest.mark.parametrize("name,make,c_in", LAYERS, ids=[x[0] for x in LAYERS])
def test_layer_finite_differences(name, make, c_in, N):
    layer = make()
    if name == "conv3":
        return _fd_check(layer, N, c_in, dims=(6, 6, 6, 6))    # K = 3 needs extents >= 5
    _fd_check(layer, N, c_in)


def _net(N=3):
    """A composed network with every layer type: plaquettes and Polyakov loops, L-Conv (with and without the
    Identity branch), L-Bilin, L-Act, L-Exp (the links change mid-network) and a Trace."""
    return Sequence(Parallel(Plaq(), Poly()),
                    Parallel(LConv(16, 3, K=2, unit=True), Identity(16)),
                    LBilin(3, 16, 4), LAct(4, "tanh"), LExp(4), Plaq(),
                    Parallel(LConv(12, 2, K=2), Identity(12)), LBilin(2, 12, 2), Trace(2), N=N)


@pytest.mark.parametrize("N", [2, 3])
def test_composed_network_finite_differences(N):
    net = _net(N)
    _fd_check(net, N, None, seed=4)
    # the same with an input-channel network (no sources): weights, inputs and links
    net2 = Sequence(Parallel(LConv(2, 2, K=2), Identity(2)), LBilin(2, 2, 3), LExp(3),
                    Parallel(LConv(3, 2, K=2), Identity(3)), LBilin(2, 3, 2), Trace(2, 1, "mean"))
    _fd_check(net2, N, 2, seed=5)


def _omega(lat, N, seed):
    return gn.GaugeField.random(lat, N, seed=seed).sites()[0]


def _transform(U, g):
    class _Om:
        def sites(self):
            return g
    return U.transform(_Om())


@pytest.mark.parametrize("N", [2, 3])
def test_gauge_covariance_and_invariance(N):
    lat, u, U = _setup(N, seed=11)
    g = _omega(lat, N, 99)
    Ug = _transform(U, g)
    net = _net(N)
    w = net.weights(seed=2)
    T, Tg = Paths(U), Paths(Ug)
    # covariance of W after every layer up to the last matrix layer (the links after L-Exp transform too)
    Wt = Wg = None
    for lay, ws in zip(net.layers[:-1], _split(net, w)):
        T, Wt, _ = lay.forward(ws, T, Wt, keep=False)
        Tg, Wg, _ = lay.forward(ws, Tg, Wg, keep=False)
        assert_close(Wg, g[:, None] @ Wt @ dag(g)[:, None], 1e-11, f"covariance after {lay.name}")
    y = predict(net, w, U)
    yg = predict(net, w, Ug)
    assert np.abs(yg - y).max() <= 1e-10 * np.abs(y).max()


def _split(seq, w):
    out, i = [], 0
    for lay in seq.layers:
        k = len(lay.weight_shapes)
        out.append(w[i:i + k])
        i += k
    return out


def test_translation_equivariance():
    N = 3
    dims = (4, 4, 4, 4)
    lat = gn.Lattice(dims)
    u = random_su_global(dims, N, 21)
    net = _net(N)
    w = net.weights(seed=6)
    y = predict(net, w, gn.GaugeField.from_numpy(lat, u))
    for mu, shift in ((0, 1), (3, 2), (1, -1)):
        axis = 4 - mu                          # u[mu, t, z, y, x]: x is axis 4
        us = np.roll(u, shift, axis=axis)
        ys = predict(net, w, gn.GaugeField.from_numpy(lat, us))
        assert_close(ys, np.roll(y, shift, axis=3 - mu), 1e-12, f"shift {shift} along {mu}")


@pytest.mark.mpi
@pytest.mark.parametrize("N", [2, 3])
def test_identical_on_every_process_grid(N):
    dims = (4, 4, 4, 4)
    u = random_su_global(dims, N, 31)
    net = _net(N)
    w = net.weights(seed=8)
    from mpi4py import MPI
    from gaugenet.lcnn.compose import value_and_grads
    lat1 = gn.Lattice(dims, comm=MPI.COMM_SELF)           # the single-rank run, on every rank
    U1 = gn.GaugeField.from_numpy(lat1, u)
    _, g1, F1 = value_and_grads(net, w, U1, lambda y: np.ones_like(y))
    ref = (predict(net, w, U1), g1, np.moveaxis(F1, 0, 1).reshape(tuple(lat1.local_shape) + F1.shape[:1] + F1.shape[2:]))
    for grid in grids(dims):
        lat = gn.Lattice(dims, mpi=grid)
        U = gn.GaugeField.from_numpy(lat, u)
        y = predict(net, w, U)
        _, grads, F = value_and_grads(net, w, U, lambda y: np.ones_like(y))
        Fg = _glob(lat, np.moveaxis(F, 0, 1))
        assert_close(y, ref[0], 1e-12, f"output grid {grid}")
        for a, b in zip(grads, ref[1]):
            assert_close(a, b, 1e-11, f"weight gradient grid {grid}")
        assert_close(Fg, ref[2], 1e-11, f"force grid {grid}")
    # against a numpy single-process evaluation of the same network: a plaquette-only net on the global field
    net1 = Sequence(Plaq(), Trace(12), N=N)
    w1 = net1.weights(seed=1)
    lat = gn.Lattice(dims, mpi=grids(dims)[-1])
    y1 = predict(net1, w1, gn.GaugeField.from_numpy(lat, u))
    tr = _plaquette_traces(u)
    ref1 = np.concatenate([tr.real, tr.real, tr.imag, -tr.imag], axis=-1) @ w1[0][0] + w1[1][0]
    assert_close(y1, ref1, 1e-12, "plaquette read-out against numpy")


def _plaquette_traces(u):
    def roll(a, mu, s):
        return np.roll(a, -s, axis=3 - mu)
    out = []
    for mu in range(4):
        for nu in range(mu + 1, 4):
            P = u[mu] @ roll(u[nu], mu, 1) @ dag(roll(u[mu], nu, 1)) @ dag(u[nu])
            out.append(np.trace(P, axis1=-2, axis2=-1))
    return np.stack(out, axis=-1)


def test_wilson_loop_targets_against_numpy():
    N = 2
    dims = (4, 4, 4, 4)
    lat = gn.Lattice(dims)
    u = random_su_global(dims, N, 41)
    U = gn.GaugeField.from_numpy(lat, u)
    t11 = wilson_loop_target(U, 1, 1)
    assert_close(t11, _plaquette_traces(u).real.mean(axis=-1) / N, 1e-12, "1x1 target")
    assert abs(t11.mean() - gn.gauge.observables.plaquette(U)) < 1e-12

    def roll(a, mu, s):
        return np.roll(a, -s, axis=3 - mu)

    def rect(mu, nu, m, n):
        P = np.broadcast_to(np.eye(N), u.shape[1:]).copy()
        pos = []
        for mu_, s, k in ((mu, 1, m), (nu, 1, n), (mu, -1, m), (nu, -1, n)):
            for _ in range(k):
                pos.append((mu_, s))
        shift = np.zeros(4, int)
        for mu_, s in pos:
            if s > 0:
                L = u[mu_]
                for a in range(4):
                    for _ in range(abs(shift[a])):
                        L = roll(L, a, int(np.sign(shift[a])))
            else:
                sh = shift.copy()
                sh[mu_] -= 1
                L = u[mu_]
                for a in range(4):
                    for _ in range(abs(sh[a])):
                        L = roll(L, a, int(np.sign(sh[a])))
                L = dag(L)
            P = P @ L
            shift[mu_] += s
        return np.trace(P, axis1=-2, axis2=-1).real / N
    ref = np.mean([0.5 * (rect(mu, nu, 1, 2) + rect(mu, nu, 2, 1)) for mu in range(4) for nu in range(mu + 1, 4)],
                  axis=0)
    assert_close(wilson_loop_target(U, 1, 2), ref, 1e-12, "1x2 target")


def test_exact_wilson_loop_network():
    """The 1x2 target is exactly an L-Conv/L-Bilin network: rectangle = (T_mu P_{mu nu}) P_{mu nu}."""
    from gaugenet.lcnn.tasks import exact_rectangle_weights
    N = 3
    dims = (4, 4, 4, 4)
    lat = gn.Lattice(dims)
    U = gn.GaugeField.from_numpy(lat, random_su_global(dims, N, 43))
    net, w = exact_rectangle_weights(N)
    assert_close(predict(net, w, U), wilson_loop_target(U, 1, 2), 1e-12, "exact 1x2 network")


def test_model_file_roundtrip_and_errors(tmp_path):
    N = 2
    net = _net(N)
    w = net.weights(seed=3)
    path = str(tmp_path / "m.h5")
    save_model(path, net, w)
    net2, w2 = load_model(path)
    assert net2.spec() == net.spec()
    for a, b in zip(w, w2):
        assert np.array_equal(a, b)
    lat, u, U = _setup(N, dims=(4, 4, 4, 4))
    assert np.array_equal(predict(net, w, U), predict(net2, w2, U))
    with pytest.raises(ValueError, match="SU\\(2\\), not SU\\(3\\)"):
        load_model(path, N=3)
    lat3, u3, U3 = _setup(3, dims=(4, 4, 4, 4))
    with pytest.raises(ValueError, match="made for SU\\(2\\) but the gauge field is SU\\(3\\)"):
        predict(net2, w2, U3)


def test_bad_networks_are_refused():
    with pytest.raises(ValueError, match="unknown layer 'cnv'"):
        parse_network("plaq; cnv 12 12 2")
    with pytest.raises(ValueError, match="unknown layer 'Foo'"):
        from gaugenet.lcnn import from_spec
        from_spec({"type": "Foo"})
    with pytest.raises(ValueError, match="channel mismatch between layers: layer 2 \\(LBilin\\) expects 20"):
        parse_network("plaq; conv 12 4 2 +id; bilin 8 12 4; trace 4")
    with pytest.raises(ValueError, match="channel mismatch"):
        Sequence(Plaq(), LConv(6, 2))
    net = parse_network("plaq; conv 12 4 3 +id; bilin 4 12 1; trace 1")
    lat, u, U = _setup(2, dims=(4, 4, 4, 4))
    with pytest.raises(ValueError, match="smaller than the kernel"):
        predict(net, net.weights(), U)
    with pytest.raises(ValueError, match="expects 2 weight arrays"):
        Trace(2).forward([np.zeros((1, 4))], Paths(U), np.zeros((U.lat.local_volume, 2, 2, 2)))


def _run_cli(args, nranks=1, timeout=240):
    env = dict(os.environ, PYTHONPATH=GAUGENET_PATH, OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "gaugenet", "lcnn"] + args
    if nranks > 1:
        cmd = [os.path.join(os.path.dirname(sys.executable), "mpiexec"), "-n", str(nranks)] + cmd
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout, cwd=ROOT)


def test_cli_small_run_and_errors(tmp_path):
    cfg = tmp_path / "t.toml"
    cfg.write_text('task = "wilson-loops"\nloop = "1x1"\nN = 2\nbetas = "2.2,2.4"\ntrain_configs = 2\n'
                   'test_volumes = "4,6.6.6.6"\ntest_configs = 1\nsweeps = 3\nsep = 1\nsteps = 3\n'
                   'network = "plaq; trace 12"\nlr = 0.05\n')
    out = tmp_path / "o.json"
    model = tmp_path / "m.h5"
    r = _run_cli([str(cfg), "--json", str(out), "--save", str(model)])
    assert r.returncode == 0, r.stderr
    res = json.loads(out.read_text())
    for k in ("task", "loop", "N", "n_weights", "train_volume", "test", "gauge_invariance_error", "training_seconds"):
        assert k in res
    assert res["task"] == "wilson-loops" and res["loop"] == "1x1" and res["N"] == 2
    assert [t["volume"] for t in res["test"]] == [[4, 4, 4, 4], [6, 6, 6, 6]]
    assert all(t["nmse"] < 1e-6 for t in res["test"])          # 1x1 is linear in the plaquette traces
    assert res["gauge_invariance_error"] < 1e-10
    m, w = load_model(str(model))
    assert m.N == 2
    # errors: unknown task, unknown layer, model for another N, kernel larger than the lattice
    for extra, msg in ((["--task", "nope"], "invalid choice"),
                       (["--network", "plaq; foo 1"], "unknown layer 'foo'"),
                       (["--init", str(model), "--N", "3"], "SU(2), not SU(3)"),
                       (["--network", "plaq; conv 12 2 3 +id; bilin 2 12 1; trace 1"], "smaller than the kernel"),
                       (["--optimizer", "blockwise", "--curriculum", "1y2"], "AxB"),
                       (["--optimizer", "blockwise"], "needs a curriculum"),
                       (["--optimizer", "blockwise", "--curriculum", ""], "needs a network 'source; conv")):
        r = _run_cli([str(cfg), "--steps", "1"] + extra)
        assert r.returncode != 0 and msg in r.stderr, (extra, r.stderr[-2000:])


def test_als_learns_the_1x2_loop_exactly():
    """Alternating least squares on a one-block network fits the 1x2 target and generalises to unseen configurations."""
    from gaugenet.lcnn.tasks import als_train, ensemble, nmse, wilson_loop_target_local
    N = 2
    ens = [U for _, U in ensemble((4, 4, 4, 4), N, [2.3, 2.5], 6, 4, 2, 3)]
    net = parse_network("plaq; conv 12 12 2 +id; bilin 12 12 1; trace 1", N=N)
    w = net.weights(seed=2)
    samples = [(Paths(U), wilson_loop_target_local(Paths(U), 1, 2)) for U in ens]
    w, curve = als_train(net, w, samples, 2)
    test = [U for _, U in ensemble((4, 4, 4, 4), N, [2.4], 1, 4, 2, 77)]
    assert curve[-1][1] < 1e-3                 # (untrained: about 1; fewer sites than real weights here, SU(3) with
    assert nmse(net, w, test, 1, 2) < 1e-2     # 12 configurations reaches 6e-13 on unseen ones, docs/lcnn.md)
    with pytest.raises(ValueError, match="one-block network"):
        als_train(_net(N), _net(N).weights(), samples, 1)


def test_blockwise_learns_the_2x2_loop_exactly():
    """Greedy block-wise least squares (curriculum: the reversed 1x2 rectangles out of block 1, then the 2x2
    target) finds the 2x2 loop of a two-block network on 4^4 and generalises to unseen configurations; the
    curriculum in the other orientation (not representable as transported x local product) cannot reach it."""
    from gaugenet.lcnn.tasks import ensemble, nmse, wilson_loop_target_local
    from gaugenet.lcnn.train_blockwise import blockwise_train, parse_curriculum, plane_masks
    N = 2
    ens = [U for _, U in ensemble((4, 4, 4, 4), N, [2.3, 2.5], 2, 4, 2, 3)]
    text = "plaq; conv 12 6 2 +id; bilin 6 12 6; conv 6 6 2 +id; bilin 6 6 1; trace 1"
    samples = [(Paths(U), wilson_loop_target_local(Paths(U), 2, 2)) for U in ens]
    test = [U for _, U in ensemble((4, 4, 4, 4), N, [2.4], 1, 4, 2, 77)]
    net = parse_network(text, N=N)
    w, curve, n_free = blockwise_train(net, net.weights(seed=2), samples, "~1x2", 2, stage_configs=1,
                                       gn_iters=8)
    assert curve[-1][1] < 1e-12                # (untrained: about 1)
    assert nmse(net, w, test, 2, 2) < 1e-10
    assert n_free == 603 and n_free < net.n_weights
    mw, ma = plane_masks(net.layers[1].branches[0], net.layers[2])
    assert np.all(w[0][~mw] == 0) and np.all(w[1][~ma] == 0)        # the plane restriction holds
    net2 = parse_network(text, N=N)
    _, curve2, _ = blockwise_train(net2, net2.weights(seed=2), samples, "1x2", 1, stage_configs=1, gn_iters=2)
    assert curve2[-1][1] > 1e-3
    assert parse_curriculum("1x1,~1x2; ~1x3") == [[(1, 1, False), (1, 2, True)], [(1, 3, True)]]
    with pytest.raises(ValueError, match="needs 1 stage"):
        blockwise_train(net, w, samples, "~1x2; ~1x3", 1)
    with pytest.raises(ValueError, match="gives 12 channels"):
        blockwise_train(net, w, samples, "~1x2,2x1", 1)
    with pytest.raises(ValueError, match="AxB"):
        parse_curriculum("1y2")
    with pytest.raises(ValueError, match="blockwise"):
        blockwise_train(_net(N), _net(N).weights(), samples, "~1x2", 1)


def test_blockwise_jacobians_against_finite_differences():
    """The Gauss-Newton normal equations of the blockwise optimiser: J^T r is minus half the gradient of |r|^2
    (central differences along a random direction of the free weights), for a matrix-supervised block and for the
    final scalar block."""
    from gaugenet.lcnn.tasks import ensemble, wilson_loop_target_local
    from gaugenet.lcnn.train_blockwise import (_block_inputs, _matrix_apply, _matrix_normal, _scalar_apply,
                                               _scalar_normal, plane_masks, stage_matrices)
    N = 2
    U = ensemble((4, 4, 4, 4), N, [2.3], 1, 3, 1, 5)[0][1]
    T = Paths(U)
    net = parse_network("plaq; conv 12 6 2 +id; bilin 6 12 6; conv 6 6 2 +id; bilin 6 6 1; trace 1", N=N)
    ws = net.weights(seed=4)
    rng = np.random.default_rng(9)
    conv, bil = net.layers[1].branches[0], net.layers[2]
    masks = plane_masks(conv, bil)
    w, a = ws[0] * masks[0], ws[1] * masks[1]
    _, W, _ = net.layers[0].forward([], T, None, False)
    data = [_block_inputs(T, W, conv) + (stage_matrices(T, [(1, 2, True)]),)]
    JJ, Jr, rr, idx = _matrix_normal(w, a, data, T.lat, masks)
    x = rng.standard_normal(len(Jr))
    h = 1e-5
    rp = _matrix_normal(*_matrix_apply(w, a, h * x, idx), data, T.lat, masks)[2]
    rm = _matrix_normal(*_matrix_apply(w, a, -h * x, idx), data, T.lat, masks)[2]
    assert abs((rp - rm) / (2 * h) + 2 * Jr @ x) < 1e-6 * abs(Jr @ x) + 1e-9
    # the final block on the (untrained) outputs of block 1
    conv2, bil2 = net.layers[3].branches[0], net.layers[4]
    m2 = plane_masks(conv2, bil2)
    X, B = _block_inputs(T, W, conv)
    from gaugenet.lcnn.train_blockwise import _block_out
    W2 = _block_out(w, a, X, B)
    data2 = [_block_inputs(T, W2, conv2) + (wilson_loop_target_local(T, 2, 2),)]
    w2, a2 = ws[2] * m2[0], ws[3] * m2[1]
    JJ, Jr, rr, f = _scalar_normal(w2, a2, 0.1, data2, T.lat, m2)
    x = rng.standard_normal(len(Jr))
    rp = _scalar_normal(*_scalar_apply(w2, a2, 0.1, h * x, f), data2, T.lat, m2)[2]
    rm = _scalar_normal(*_scalar_apply(w2, a2, 0.1, -h * x, f), data2, T.lat, m2)[2]
    assert abs((rp - rm) / (2 * h) + 2 * Jr @ x) < 1e-6 * abs(Jr @ x) + 1e-9
