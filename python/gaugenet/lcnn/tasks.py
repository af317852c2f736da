"""Task 1 of issue 23: regression of Wilson loops with an L-CNN (the seed's "L-CNNs generate Wilson loops", in 4D).

Target per site x (shared/CONVENTIONS.md "Wilson loops"): the mean over the six planes mu < nu of
w^(m x n)(x) = (1/N) Re tr W^(m x n)_{x,mu nu}, averaged over both orientations (m along mu, and m along nu)
when m != n. Data: quenched heat-bath ensembles (gauge.heatbath.QuenchedUpdater) at several beta; training with
Adam (models/optim.py) on the normalised mean squared error, alternating least squares for one-block networks
(als_train), or greedy block-wise least squares with a curriculum of loop matrices (train_blockwise.py).
"""
import time

import numpy as np

from ..gauge.heatbath import QuenchedUpdater
from ..links.paths import Paths
from ..models.optim import Adam
from .compose import Sequence, Parallel, predict
from .layers import DIRECTIONS as DIRECTIONS_, Identity, LBilin, LConv, Plaq, Trace, PLANES
from .model_io import parse_network

# the smallest networks found to reach the goal (docs/lcnn.md); {N} is not needed: channels count planes
DEFAULT_NETWORKS = {
    "1x1": "plaq; trace 12",
    "1x2": "plaq; conv 12 12 2 +id; bilin 12 12 1; trace 1",
    "2x2": "plaq; conv 12 6 2 +id; bilin 6 12 6; conv 6 6 2 +id; bilin 6 6 1; trace 1",
    "2x3": "plaq; conv 12 12 2 +id; bilin 12 12 18; conv 18 12 2 +id; bilin 12 18 12; conv 12 12 2 +id; "
           "bilin 12 12 1; trace 1",
}
# the curricula of the blockwise optimizer for the default networks (lcnn/train_blockwise.py): 2x2 from the
# reversed 1x2 rectangles; 2x3 (with 3x2) from plaquettes and both rectangles, then the 1x3 and 3x1 loops
DEFAULT_CURRICULA = {
    "1x2": "",
    "2x2": "~1x2",
    "2x3": "1x1,~1x2,2x1; ~1x3,3x1",
}


def parse_loop(text):
    """'2x3' -> (2, 3)."""
    try:
        m, n = (int(x) for x in str(text).lower().split("x"))
    except ValueError:
        raise ValueError(f"loop must be MxN with positive integers (e.g. 2x2), got {text!r}")
    if m < 1 or n < 1:
        raise ValueError(f"loop must be MxN with positive integers (e.g. 2x2), got {text!r}")
    return m, n


def _rect(mu, nu, m, n):
    return [(mu, 1)] * m + [(nu, 1)] * n + [(mu, -1)] * m + [(nu, -1)] * n


def wilson_loop_target_local(T, m, n):
    """The per-site target on the local sites (V,) from a Paths T."""
    N = T.N
    acc = np.zeros(T.V)
    count = 0
    for mu, nu in PLANES:
        shapes = [(m, n)] if m == n else [(m, n), (n, m)]
        for a, b in shapes:
            P, _ = T.loop(_rect(mu, nu, a, b))
            acc += np.trace(P, axis1=-2, axis2=-1).real / N
            count += 1
    return acc / count


def wilson_loop_target(U, m, n):
    """The per-site m x n Wilson-loop target as a global array (Lt, Lz, Ly, Lx) on every rank."""
    for mu in range(4):
        if max(m, n) >= U.lat.dims[mu]:
            raise ValueError(f"a {m}x{n} loop does not fit the lattice {tuple(U.lat.dims)} (extent {U.lat.dims[mu]} "
                             f"along direction {mu}: the loop would wrap around)")
    t = wilson_loop_target_local(Paths(U), m, n)
    return U.lat.gather_global(t.reshape(U.lat.local_shape))


def exact_rectangle_weights(N):
    """A network and weights that give the 1x2 target exactly: R = (T_mu P_{mu nu}) P_{mu nu} for the 12
    plaquette channels (each rectangle with its long side along the plaquette's first direction)."""
    net = Sequence(Plaq(), Parallel(LConv(12, 12, 2), Identity(12)), LBilin(12, 12, 1), Trace(1), N=N)
    w = np.zeros((12, 12, 9), dtype=np.complex128)
    for p, (mu, nu) in enumerate(PLANES):
        w[p, p, 1 + 2 * mu] = 1.0          # T_(mu,+) of P_{mu nu}
        w[6 + p, 6 + p, 1 + 2 * nu] = 1.0  # T_(nu,+) of P_{nu mu}
    a = np.zeros((1, 25, 25), dtype=np.complex128)
    for j in range(12):
        a[0, j, j] = 1.0
    c = np.zeros((1, 2))
    c[0, 0] = 1.0 / (12 * N)
    return net, [w, a, c, np.zeros(1)]


# ---------------------------------------------------------------------------------------------- data
def parse_volume(text):
    """'8' -> (8, 8, 8, 8); '4.4.4.8' -> (4, 4, 4, 8) (Lx.Ly.Lz.Lt)."""
    parts = str(text).strip().split(".")
    try:
        d = tuple(int(p) for p in parts)
    except ValueError:
        raise ValueError(f"a volume is L or Lx.Ly.Lz.Lt, got {text!r}")
    if len(d) == 1:
        d = d * 4
    if len(d) != 4 or min(d) < 2:
        raise ValueError(f"a volume is L or Lx.Ly.Lz.Lt with extents >= 2, got {text!r}")
    return d


def ensemble(dims, N, betas, count, sweeps, sep, seed, mpi=None, log=None):
    """`count` quenched configurations on `dims`, cycling through `betas`: for each beta its own chain
    (cold start, `sweeps` heat-bath + overrelaxation sweeps, then one configuration every `sep` sweeps).
    Returns a list of (beta, GaugeField)."""
    import gaugenet as gn
    lat = gn.Lattice(dims, mpi=mpi)
    per = [count // len(betas) + (1 if i < count % len(betas) else 0) for i in range(len(betas))]
    out = []
    for i, (beta, k) in enumerate(zip(betas, per)):
        if k == 0:
            continue
        U = gn.GaugeField.unit(lat, N)
        up = QuenchedUpdater(beta, seed=seed + 1000 * i + 7 * sum(dims), or_steps=1)
        up.run(U, 0, sweeps)
        done = sweeps
        for j in range(k):
            if j:
                up.run(U, done, sep)
                done += sep
            out.append((beta, gn.GaugeField(lat, U.data.copy())))
        if log:
            log(f"ensemble {'x'.join(map(str, dims))} SU({N}) beta {beta}: {k} configuration(s)")
    return out


# ---------------------------------------------------------------------------------------------- training
def train(model, weights, samples, steps, lr=0.01, lr_final=1e-4, log=None, log_every=50, refit_every=25,
          batch=None):
    """Full-batch Adam on the normalised MSE (MSE / variance of the targets over all training sites).
    samples: list of (Paths, target (V,)). Every `refit_every` steps (and at the end) the linear read-out of the
    final Trace layer is set to its least-squares optimum for the current features (it enters linearly), so the
    gradient steps only have to shape the features. Returns (weights, loss curve [(step, nmse)])."""
    lat = samples[0][0].lat
    n_sites = lat.allreduce(sum(t.size for _, t in samples))
    mean = lat.allreduce(sum(float(t.sum()) for _, t in samples)) / n_sites
    var = lat.allreduce(sum(float(((t - mean) ** 2).sum()) for _, t in samples)) / n_sites
    if not var > 0:
        raise ValueError("the training targets have zero variance (unit configurations?)")
    refit = isinstance(model.layers[-1], Trace) and model.layers[-1].reduce is None and refit_every > 0
    opt = Adam(alpha=lr, beta1=0.9, beta2=0.999)
    curve = []
    decay = (lr_final / lr) ** (1.0 / max(steps - 1, 1))
    for step in range(steps):
        opt.alpha = lr * decay ** step
        if refit and step % refit_every == 0:
            fit_readout(model, weights, samples)
        loss = 0.0
        gsum = None
        if batch:                       # mini-batches: the configurations in turn
            part = [samples[(step * batch + i) % len(samples)] for i in range(batch)]
        else:
            part = samples
        n_part = lat.allreduce(sum(t.size for _, t in part))
        for T, t in part:
            _, y, ctx = model.forward(weights, T, None, True)
            d = y[:, 0] - t
            loss += float((d * d).sum())
            G = (2.0 / (n_part * var)) * d[:, None]
            grads, _, _ = model.vjp(weights, ctx, G, None)
            gsum = grads if gsum is None else [a + b for a, b in zip(gsum, grads)]
        loss = lat.allreduce(loss) / (n_part * var)
        curve.append((step, loss))
        if log and (step % log_every == 0 or step == steps - 1):
            log(f"step {step:5d}  train nmse {loss:.3e}{' (batch)' if batch else ''}  lr {opt.alpha:.2e}")
        opt.step(weights, gsum)
    if refit and steps > 0:
        fit_readout(model, weights, samples)
        curve.append((steps, _loss(model, weights, samples, n_sites, var)))
        if log:
            log(f"final read-out fit: train nmse {curve[-1][1]:.3e}")
    return weights, curve


def _loss(model, weights, samples, n_sites, var):
    lat = samples[0][0].lat
    s = 0.0
    for T, t in samples:
        _, y, _ = model.forward(weights, T, None, False)
        s += float(((y[:, 0] - t) ** 2).sum())
    return lat.allreduce(s) / (n_sites * var)


def fit_readout(model, weights, samples, ridge=1e-12):
    """Set the read-out (c, bias) of the model's final Trace layer (one output, no reduction) to the
    least-squares fit of the targets over all training sites (normal equations summed over ranks)."""
    head = Sequence(*model.layers[:-1])
    k = len(head.weight_shapes)
    tr = model.layers[-1]
    lat = samples[0][0].lat
    nf = 2 * tr.c_in + 1
    A = np.zeros((nf, nf))
    b = np.zeros(nf)
    for T, t in samples:
        _, W, _ = head.forward(weights[:k], T, None, False)
        z = np.trace(W, axis1=-2, axis2=-1)
        f = np.concatenate([z.real, z.imag, np.ones((z.shape[0], 1))], axis=1)
        A += f.T @ f
        b += f.T @ t
    A, b = lat.allreduce(A), lat.allreduce(b)
    scale = np.sqrt(np.maximum(np.diag(A), 1e-300))
    As = A / np.outer(scale, scale) + ridge * np.eye(nf)
    x = np.linalg.lstsq(As, b / scale, rcond=1e-13)[0] / scale
    weights[k][0, :] = x[:-1]
    weights[k + 1][0] = x[-1]


def nmse(model, weights, configs, m, n):
    """MSE / variance of the target over all sites of the configurations (global arrays)."""
    ys, ts = [], []
    for U in configs:
        ys.append(predict(model, weights, U).ravel())
        ts.append(wilson_loop_target(U, m, n).ravel())
    y, t = np.concatenate(ys), np.concatenate(ts)
    return float(np.mean((y - t) ** 2) / np.var(t))


def gauge_invariance_error(model, weights, U, seed=12345):
    """max |f(U^g) - f(U)| / max |f(U)| for a random gauge transformation g."""
    import gaugenet as gn
    g = gn.GaugeField.random(U.lat, U.N, seed=seed)

    class _Om:
        def sites(self):
            return g.sites()[0]
    y = predict(model, weights, U)
    yg = predict(model, weights, U.transform(_Om()))
    return float(np.abs(yg - y).max() / np.abs(y).max())


def wilson_loop_task(network, loop, N, betas, train_volume, train_configs, test_volumes, test_configs, sweeps,
                     sep, seed, steps, lr, lr_final, init=None, mpi=None, log=None, log_every=50,
                     optimizer="adam", batch=None, curriculum=None, gn_steps=0, stage_configs=None,
                     planes=True):
    """Train on train_volume, test on every test volume; returns (model, weights, summary dict, loss curve)."""
    from .model_io import load_model
    m, n = parse_loop(loop)
    if init:
        model, weights = load_model(init, N=N)
    else:
        model = parse_network(network or DEFAULT_NETWORKS.get(f"{m}x{n}") or DEFAULT_NETWORKS["2x3"], N=N)
        weights = model.weights(seed=seed)
    if not model.scalar_out or model.c_out != 1:
        raise ValueError("the Wilson-loop network must end in a Trace layer with one output per site")
    vols = [tuple(train_volume)] + [tuple(v) for v in test_volumes]
    for dims in vols:
        if max(m, n) >= min(dims):
            raise ValueError(f"a {m}x{n} loop does not fit the lattice {dims} (it would wrap around)")
    train_set = ensemble(train_volume, N, betas, train_configs, sweeps, sep, seed, mpi, log)
    for _, U in train_set:
        model.check_lattice(U.lat)
    samples = [(Paths(U), wilson_loop_target_local(Paths(U), m, n)) for _, U in train_set]
    if optimizer not in ("adam", "als", "blockwise"):
        raise ValueError(f"unknown optimizer {optimizer!r} (known: adam, als, blockwise)")
    if optimizer == "als":
        _one_block(model)
    n_trained = int(model.n_weights)
    t0 = time.time()
    if optimizer == "blockwise":
        from .train_blockwise import blockwise_train
        if curriculum is None:
            if (network is None and not init) and f"{m}x{n}" in DEFAULT_CURRICULA:
                curriculum = DEFAULT_CURRICULA[f"{m}x{n}"]
            else:
                raise ValueError("optimizer 'blockwise' needs a curriculum (e.g. '~1x2' for the 2x2 loop; a default "
                                 f"exists only with the default network of the loops {', '.join(DEFAULT_CURRICULA)})")
        weights, curve, n_trained = blockwise_train(model, weights, samples, curriculum, steps, log=log,
                                                    stage_configs=stage_configs, planes=planes,
                                                    gn_iters=gn_steps)
    elif optimizer == "als":
        weights, curve = als_train(model, weights, samples, steps, log=log)
    else:
        weights, curve = train(model, weights, samples, steps, lr, lr_final, log, log_every, batch=batch)
    seconds = time.time() - t0
    tests = []
    gi = 0.0
    for k, dims in enumerate(test_volumes):
        cfgs = [U for _, U in ensemble(dims, N, betas, test_configs, sweeps, sep, seed + 5000 + 31 * k, mpi, log)]
        model.check_lattice(cfgs[0].lat)
        e = nmse(model, weights, cfgs, m, n)
        gi = max(gi, gauge_invariance_error(model, weights, cfgs[0]))
        tests.append({"volume": list(dims), "nmse": e})
        if log:
            log(f"test {'x'.join(map(str, dims))}: nmse {e:.3e} ({len(cfgs)} configuration(s))")
    summary = {"task": "wilson-loops", "loop": f"{m}x{n}", "N": int(N), "n_weights": int(model.n_weights),
               "n_trained_weights": n_trained,
               "network": network or None, "train_volume": list(train_volume), "train_configs": len(train_set),
               "betas": list(betas), "optimizer": optimizer, "batch": batch, "steps": int(steps),
               "final_train_nmse": curve[-1][1] if curve else None,
               "curriculum": curriculum if optimizer == "blockwise" else None,
               "gn_steps": int(gn_steps) if optimizer == "blockwise" else None,
               "stage_configs": stage_configs if optimizer == "blockwise" else None,
               "plane_restriction": bool(planes) if optimizer == "blockwise" else None,
               "test": tests, "gauge_invariance_error": gi, "training_seconds": seconds}
    return model, weights, summary, curve


# ---------------------------------------------------------------------------------------------- alternating least squares
def _one_block(model):
    """(source, conv) if the model is source -> Parallel(LConv, Identity) -> LBilin(., ., 1) -> Trace(1)."""
    L = model.layers
    ok = (len(L) == 4 and L[0].c_in is None and isinstance(L[1], Parallel) and len(L[1].branches) == 2
          and isinstance(L[1].branches[0], LConv) and isinstance(L[1].branches[1], Identity)
          and not L[1].branches[0].unit and isinstance(L[2], LBilin) and L[2].c_out == 1
          and L[2].c_left == L[1].branches[0].c_out and isinstance(L[3], Trace) and L[3].c_out == 1
          and L[3].reduce is None)
    if not ok:
        raise ValueError("optimizer 'als' needs a one-block network: source; conv CIN COUT K +id; bilin COUT CIN 1; "
                         "trace 1")
    return L[0], L[1].branches[0]


def _lstsq(rows, ts, lat, ridge):
    A = lat.allreduce(sum(f.T @ f for f in rows))
    b = lat.allreduce(sum(f.T @ t for f, t in zip(rows, ts)))
    s = np.sqrt(np.maximum(np.diag(A), 1e-300))
    return np.linalg.solve(A / np.outer(s, s) + ridge * np.eye(len(b)), b / s) / s


def als_train(model, weights, samples, iters, ridge=1e-10, log=None):
    """Alternating least squares for a one-block network (`_one_block`): the output
    y = Re tr(sum_jk a_jk A_j B_k) + bias is linear in the bilinear weights a for fixed conv weights w and linear
    in w for fixed a, so each half-step is an exact (ridge-regularised) linear least-squares fit over all training
    sites. The read-out is fixed to Re tr of the single channel (c = (1, 0)); the bias is fitted.
    Returns (weights, curve [(iteration, train nmse)])."""
    src, conv = _one_block(model)
    lat = samples[0][0].lat
    n_sites = lat.allreduce(sum(t.size for _, t in samples))
    mean = lat.allreduce(sum(float(t.sum()) for _, t in samples)) / n_sites
    var = lat.allreduce(sum(float(((t - mean) ** 2).sum()) for _, t in samples)) / n_sites
    weights[-2][...] = np.array([[1.0, 0.0]])
    ci, co, K = conv.c_in, conv.c_out, conv.K
    no = conv.n_offsets
    # the transported inputs X (V, c_in, n_offsets, N, N) and the right factors B per sample (fixed)
    data = []
    for T, t in samples:
        _, Win, _ = src.forward([], T, None, False)
        X = [Win]
        for d, (mu, s) in enumerate(DIRECTIONS_):
            X += T.transports(Win, mu, s, K)[1:]
        X = np.stack(X, axis=2)                          # offset order of LConv: 0, then d (K-1) + k - 1
        data.append((X, LBilin._augment(Win), t))
    curve = []
    for it in range(iters):
        w, a = weights[0], weights[1]
        # 1) a for fixed w: features Re/Im tr(A_j B_k)
        rows = []
        for X, B, t in data:
            A = LBilin._augment(np.einsum("jlo,vloab->vjab", w, X))
            z = np.einsum("vjab,vkba->vjk", A, B).reshape(len(t), -1)
            rows.append(np.concatenate([z.real, -z.imag, np.ones((len(t), 1))], axis=1))
        x = _lstsq(rows, [t for _, _, t in data], lat, ridge)
        n = a[0].size
        a[0] = (x[:n] + 1j * x[n:2 * n]).reshape(a[0].shape)
        weights[-1][0] = x[-1]
        # 2) w for fixed a: y = Re sum_jlo [w tr(X_lo M_j) + conj(w) tr(X_lo^dag M_(co+j))] + Re tr(M_unit) + bias
        rows, ts = [], []
        for X, B, t in data:
            M = np.einsum("jk,vkab->vjab", a[0], B)
            z1 = np.einsum("vloab,vjba->vjlo", X, M[:, :co])
            z2 = np.einsum("vloba,vjba->vjlo", np.conj(X), M[:, co:2 * co])
            const = np.trace(M[:, 2 * co], axis1=-2, axis2=-1).real
            z1, z2 = z1.reshape(len(t), -1), z2.reshape(len(t), -1)
            rows.append(np.concatenate([z1.real + z2.real, -z1.imag + z2.imag, np.ones((len(t), 1))], axis=1))
            ts.append(t - const)
        x = _lstsq(rows, ts, lat, ridge)
        n = w.size
        weights[0][...] = (x[:n] + 1j * x[n:2 * n]).reshape(w.shape)
        weights[-1][0] = x[-1]
        loss = _loss(model, weights, samples, n_sites, var)
        curve.append((it, loss))
        if log:
            log(f"als iteration {it:3d}  train nmse {loss:.3e}")
    return weights, curve
