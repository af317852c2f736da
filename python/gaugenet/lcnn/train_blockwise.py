"""Greedy block-wise training of multi-block L-CNNs by exact least squares, with a curriculum of intermediate
Wilson-loop matrices (issue 23, Task 1: 2x2 and larger loops).

Networks: `source; conv C0 C1 K +id; bilin C1 C0 C2; conv C2 C3 K +id; bilin C3 C2 C4; ...; trace C_last 1`
(the last bilin with one output channel). Block b maps its input channels W (V, c, N, N) to
    out_i = sum_{j,k} a_ijk A_j B_k,   A = (L, L^dag, 1), L_j = sum_{l,o} w_jlo X_lo,   B = (W, W^dag, 1),
with X_lo the transports of input channel l by the kernel offset o. out is linear in the bilinear weights a for
fixed conv weights w and (real-)linear in w for fixed a, so each block is trained by alternating exact
least-squares fits (ALS).

Curriculum: a non-final block b is trained to output given gauge-covariant loop matrices (matrix-valued least
squares over all sites and colour entries), e.g. for the 2x2 loop the six 1x2 rectangles R_{x,mu nu} (1 hop
along mu, 2 along nu, corner x) from the plaquettes: R = P (T_nu P). Then the block is frozen, its outputs are
the next block's inputs, and the final block is fitted by scalar ALS on the actual per-site target
y = Re tr out_0 + bias (the read-out of the final Trace is fixed to Re tr of the single channel).
Stage text: shapes 'AxB' separated by ',' (each gives 6 channels: for every plane mu < nu the loop with A hops
along mu and B along nu, corner x, path mu^A nu^B mu^-A nu^-B); stages of successive blocks separated by ';'.
Example for 2x2: '1x2'; for 2x3 (target: 2x3 and 3x2): '1x1,1x2,2x1; 1x3,3x1'.
"""
import numpy as np

from .compose import Parallel
from .layers import DIRECTIONS, PLANES, Identity, LBilin, LConv, Trace


def _es(*args):
    return np.einsum(*args, optimize=True)


def parse_curriculum(text):
    """'1x1,~1x2; ~1x3' -> [[(1, 1, False), (1, 2, True)], [(1, 3, True)]] ('~': the reversed loop); '' -> []
    (a one-block network has no stage)."""
    stages = []
    if not str(text).strip():
        return stages
    for part in str(text).split(";"):
        part = part.strip()
        if not part:
            raise ValueError(f"curriculum: empty stage in {text!r} (stages are separated by ';')")
        shapes = []
        for s in part.split(","):
            s = s.strip()
            rev = s.startswith("~")
            try:
                a, b = (int(x) for x in s.lstrip("~").lower().split("x"))
            except ValueError:
                raise ValueError(f"curriculum: a loop shape is AxB or ~AxB with positive integers, got {s!r}")
            if a < 1 or b < 1:
                raise ValueError(f"curriculum: a loop shape is AxB or ~AxB with positive integers, got {s!r}")
            shapes.append((a, b, rev))
        stages.append(shapes)
    return stages


def stage_loops(shapes):
    """The closed paths of a stage's channels, in channel order (shape-major, then the six planes mu < nu):
    AxB is mu^A nu^B mu^-A nu^-B (corner x), ~AxB the same loop reversed, nu^B mu^A nu^-B mu^-A (its dagger)."""
    out = []
    for a, b, rev in shapes:
        for mu, nu in PLANES:
            if rev:
                out.append([(nu, 1)] * b + [(mu, 1)] * a + [(nu, -1)] * b + [(mu, -1)] * a)
            else:
                out.append([(mu, 1)] * a + [(nu, 1)] * b + [(mu, -1)] * a + [(nu, -1)] * b)
    return out


def stage_matrices(T, shapes):
    """The loop matrices (V, C, N, N) of a stage on the local sites of T."""
    return np.stack([T.loop(p)[0] for p in stage_loops(shapes)], axis=1)


def split_blocks(model):
    """(source, [(conv, bilin, index of the block's first weight array)], index of the Trace weights) for a
    network source; (Parallel(LConv, Identity); LBilin)*; Trace(1) whose last LBilin has one output channel."""
    L = model.layers
    msg = ("optimizer 'blockwise' needs a network 'source; conv C0 C1 K +id; bilin C1 C0 C2; ...; bilin .. .. 1; "
           "trace 1' (blocks of conv +id and bilin, no unit channel, one output channel at the end)")
    if len(L) < 4 or len(L) % 2 != 0 or L[0].c_in is not None or L[0].weight_shapes:
        raise ValueError(msg)
    blocks, k = [], 0
    for i in range(1, len(L) - 1, 2):
        par, bil = L[i], L[i + 1]
        ok = (isinstance(par, Parallel) and len(par.branches) == 2 and isinstance(par.branches[0], LConv)
              and isinstance(par.branches[1], Identity) and not par.branches[0].unit and isinstance(bil, LBilin)
              and bil.c_left == par.branches[0].c_out)
        if not ok:
            raise ValueError(msg)
        blocks.append((par.branches[0], bil, k))
        k += 2
    tr = L[-1]
    if not (isinstance(tr, Trace) and tr.c_in == 1 and tr.c_out == 1 and tr.reduce is None
            and blocks[-1][1].c_out == 1):
        raise ValueError(msg)
    return L[0], blocks, k


def _block_inputs(T, W, conv):
    """X (V, c_in, n_offsets, N, N): the input channels transported by every kernel offset (LConv's order), and
    B = (W, W^dag, 1) (V, 2 c_in + 1, N, N)."""
    X = [W]
    if conv.K > 1:
        for mu, s in DIRECTIONS:
            X += T.transports(W, mu, s, conv.K)[1:]
    return np.stack(X, axis=2), LBilin._augment(W)


def _block_out(w, a, X, B):
    A = LBilin._augment(_es("jlo,vloab->vjab", w, X))
    out = np.empty((X.shape[0], a.shape[0]) + X.shape[-2:], dtype=np.complex128)
    for i in range(a.shape[0]):
        M = _es("jk,vkab->vjab", a[i], B)
        out[:, i] = _es("vjab,vjbc->vac", A, M)
    return out


def _solve(A, b, ridge):
    """Ridge-regularised solve of the normal equations A x = b (Jacobi-scaled; A Hermitian)."""
    s = np.sqrt(np.maximum(np.abs(np.diag(A)), 1e-300))
    M = A / np.outer(s, s) + ridge * np.eye(len(b))
    return np.linalg.solve(M, b / s[:, None] if b.ndim == 2 else b / s) / (s[:, None] if b.ndim == 2 else s)


def _resid(w, a, data):
    """sum |out - R|^2 and sum |R - mean R|^2 over sites, channels and entries (this rank)."""
    r = n = 0.0
    for X, B, R in data:
        r += float(np.sum(np.abs(_block_out(w, a, X, B) - R) ** 2))
        n += float(np.sum(np.abs(R) ** 2))
    return r, n


def plane_masks(conv, bil):
    """Boolean masks (of w and a) of the plane-diagonal restriction: every channel belongs to the plane
    (channel index mod 6) - Plaq's 12 channels are the six planes and their opposite orientations, a stage's
    channels are shape-major over the six planes - and a weight may only connect channels of the same plane
    (the unit matrix of L-Bilin's augmentation connects to every plane; a block with one output channel sums
    over the planes)."""
    c, ci, co = conv.c_out, conv.c_in, bil.c_out
    if c % 6 or ci % 6 or (co != 1 and co % 6):
        raise ValueError(f"the plane restriction needs channel counts that are multiples of 6 (one per plane), got "
                         f"conv {ci} -> {c}, bilin -> {co}")
    mw = np.zeros((c, ci, conv.n_offsets), dtype=bool)
    for j in range(c):
        mw[j, [l for l in range(ci) if l % 6 == j % 6]] = True
    pa = [j % c % 6 for j in range(2 * c)] + [None]
    pb = [k % ci % 6 for k in range(2 * ci)] + [None]
    ma = np.zeros((co, 2 * c + 1, 2 * ci + 1), dtype=bool)
    for i in range(co):
        pi = None if co == 1 else i % 6
        for j, qa in enumerate(pa):
            for k, qb in enumerate(pb):
                ps = {q for q in (pi, qa, qb) if q is not None}
                ma[i, j, k] = len(ps) <= 1
    return mw, ma


def fit_block_matrix(w, a, data, lat, iters, ridge=1e-12, chunk=32, log=None, name="block", masks=None):
    """Matrix-valued ALS: w (c, c_in, n_off), a (c_out, 2c+1, 2c_in+1) complex, updated in place, so that the
    block's outputs match the target matrices R (V, c_out, N, N) of every (X, B, R) in data in the least-squares
    sense (sums over all sites, channels and colour entries, and over the ranks). Returns the relative residuals
    sum |out - R|^2 / sum |R|^2 after each iteration. masks: (mw, ma) boolean, the free weights (the others are
    kept at zero), or None (all free)."""
    c, ci, no = w.shape
    mw, ma = masks if masks is not None else (np.ones(w.shape, bool), np.ones(a.shape, bool))
    w[~mw] = 0
    a[~ma] = 0
    co = a.shape[0]
    nA, nB = 2 * c + 1, 2 * ci + 1
    hist = []
    for it in range(iters):
        # a for fixed w: for every output channel out_i = sum_jk a_ijk F_jk, F_jk = A_j B_k (complex-linear)
        G = np.zeros((nA * nB, nA * nB), dtype=np.complex128)
        rhs = np.zeros((nA * nB, co), dtype=np.complex128)
        for X, B, R in data:
            A = LBilin._augment(_es("jlo,vloab->vjab", w, X))
            for s0 in range(0, X.shape[0], chunk):
                F = _es("vjab,vkbc->vacjk", A[s0:s0 + chunk], B[s0:s0 + chunk]).reshape(-1, nA * nB)
                G += F.conj().T @ F
                rhs += F.conj().T @ np.moveaxis(R[s0:s0 + chunk], 1, -1).reshape(-1, co)
        G, rhs = lat.allreduce(G), lat.allreduce(rhs)
        for i in range(co):
            f = ma[i].reshape(-1)
            ai = np.zeros(nA * nB, dtype=np.complex128)
            ai[f] = _solve(G[np.ix_(f, f)], rhs[f, i], ridge)
            a[i] = ai.reshape(nA, nB)
        # w for fixed a: out_i = sum_jlo [w_jlo X_lo M_ij + conj(w_jlo) X_lo^dag M_i(c+j)] + M_i(2c), with
        # M_ij = sum_k a_ijk B_k; real-linear in (Re w, Im w)
        nw = w.size
        fw = np.flatnonzero(mw.reshape(-1))
        G = np.zeros((2 * len(fw), 2 * len(fw)))
        rhs = np.zeros(2 * len(fw))
        for X, B, R in data:
            for s0 in range(0, X.shape[0], chunk):
                Xs, Bs, Rs = X[s0:s0 + chunk], B[s0:s0 + chunk], R[s0:s0 + chunk]
                M = _es("ijk,vkab->vijab", a, Bs)                      # (v, co, nA, N, N)
                P = _es("vloab,vijbc->vijloac", Xs, M[:, :, :c]).reshape(len(Xs), co, nw, -1)[:, :, fw]
                Q = _es("vloba,vijbc->vijloac", Xs.conj(), M[:, :, c:2 * c]).reshape(len(Xs), co, nw, -1)[:, :, fw]
                const = M[:, :, 2 * c]                                         # (v, co, N, N)
                Fu = np.moveaxis(P + Q, 2, -1).reshape(-1, len(fw))
                Fv = np.moveaxis(1j * (P - Q), 2, -1).reshape(-1, len(fw))
                Fc = np.concatenate([Fu, Fv], axis=1)                           # complex rows
                F = np.concatenate([Fc.real, Fc.imag], axis=0)
                r = (Rs - const).reshape(-1)
                r = np.concatenate([r.real, r.imag])
                G += F.T @ F
                rhs += F.T @ r
        G, rhs = lat.allreduce(G), lat.allreduce(rhs)
        x = _solve(G, rhs, ridge)
        wf = np.zeros(nw, dtype=np.complex128)
        wf[fw] = x[:len(fw)] + 1j * x[len(fw):]
        w[...] = wf.reshape(w.shape)
        r, n = _resid(w, a, data)
        r, n = lat.allreduce(r), lat.allreduce(n)
        hist.append(r / n)
        if log:
            log(f"{name}: matrix ALS iteration {it:3d}  relative residual {r / n:.3e}")
    return hist


def fit_block_scalar(w, a, bias, data, lat, iters, var, ridge=1e-10, log=None, name="block", masks=None):
    """Scalar ALS for the final block (one output channel): y = Re tr(sum_jk a_0jk A_j B_k) + bias fitted to the
    per-site targets t of every (X, B, t) in data. w, a updated in place; returns (bias, [train nmse per
    iteration]) with nmse = mean squared error / var."""
    c = w.shape[0]
    mw, ma = masks if masks is not None else (np.ones(w.shape, bool), np.ones(a.shape, bool))
    w[~mw] = 0
    a[~ma] = 0
    nsite = lat.allreduce(sum(len(t) for _, _, t in data))
    hist = []

    def solve(rows, ts, m):
        f = np.concatenate([m.reshape(-1), m.reshape(-1), [True]])
        A = lat.allreduce(sum(r[:, f].T @ r[:, f] for r in rows))
        b = lat.allreduce(sum(r[:, f].T @ t for r, t in zip(rows, ts)))
        x = np.zeros(len(f))
        x[f] = _solve(A, b, ridge)
        return x

    for it in range(iters):
        rows = []
        for X, B, t in data:
            A = LBilin._augment(_es("jlo,vloab->vjab", w, X))
            z = _es("vjab,vkba->vjk", A, B).reshape(len(t), -1)
            rows.append(np.concatenate([z.real, -z.imag, np.ones((len(t), 1))], axis=1))
        x = solve(rows, [t for _, _, t in data], ma[0])
        n = a[0].size
        a[0] = (x[:n] + 1j * x[n:2 * n]).reshape(a[0].shape)
        rows, ts = [], []
        for X, B, t in data:
            M = _es("jk,vkab->vjab", a[0], B)
            z1 = _es("vloab,vjba->vjlo", X, M[:, :c]).reshape(len(t), -1)
            z2 = _es("vloba,vjba->vjlo", X.conj(), M[:, c:2 * c]).reshape(len(t), -1)
            const = np.trace(M[:, 2 * c], axis1=-2, axis2=-1).real
            rows.append(np.concatenate([z1.real + z2.real, -z1.imag + z2.imag, np.ones((len(t), 1))], axis=1))
            ts.append(t - const)
        x = solve(rows, ts, mw)
        n = w.size
        w[...] = (x[:n] + 1j * x[n:2 * n]).reshape(w.shape)
        bias = float(x[-1])
        s = 0.0
        for X, B, t in data:
            y = np.trace(_block_out(w, a, X, B)[:, 0], axis1=-2, axis2=-1).real + bias
            s += float(((y - t) ** 2).sum())
        hist.append(lat.allreduce(s) / (nsite * var))
        if log:
            log(f"{name}: scalar ALS iteration {it:3d}  train nmse {hist[-1]:.3e}")
    return bias, hist


def blockwise_train(model, weights, samples, curriculum, iters, log=None, stage_configs=None, ridge=1e-12,
                    planes=True, gn_iters=0):
    """Greedy block-wise least squares (see the module docstring). samples: list of (Paths, target (V,));
    curriculum: text or parsed stages, one per non-final block; iters: ALS iterations per block;
    stage_configs: how many of the samples the matrix-supervised stages use (None: all; the matrix targets
    carry N^2 complex numbers per site and channel, so a few configurations determine the weights).
    planes: the plane-diagonal restriction (plane_masks) of every block; gn_iters: Gauss-Newton (Levenberg-
    Marquardt) iterations on each block after its ALS iterations.
    Returns (weights, curve [(iteration, train nmse)] of the final block, number of trained real weights)."""
    src, blocks, kt = split_blocks(model)
    stages = parse_curriculum(curriculum) if isinstance(curriculum, str) else curriculum
    if len(stages) != len(blocks) - 1:
        raise ValueError(f"curriculum: the network has {len(blocks)} blocks, so it needs {len(blocks) - 1} "
                         f"stage(s) (one per block before the last, separated by ';'), got {len(stages)}")
    for b, (shapes, (conv, bil, _)) in enumerate(zip(stages, blocks)):
        if 6 * len(shapes) != bil.c_out:
            names = ", ".join(("~" if r else "") + f"{p}x{q}" for p, q, r in shapes)
            raise ValueError(f"curriculum: stage {b + 1} ({names}) gives "
                             f"{6 * len(shapes)} channels (6 planes per shape) but block {b + 1} outputs "
                             f"{bil.c_out}")
    lat = samples[0][0].lat
    for shapes in stages:
        for p, q, _ in shapes:
            if max(p, q) >= min(lat.dims):
                raise ValueError(f"curriculum: a {p}x{q} loop does not fit the lattice {tuple(lat.dims)} "
                                 f"(it would wrap around)")
    n_sites = lat.allreduce(sum(t.size for _, t in samples))
    mean = lat.allreduce(sum(float(t.sum()) for _, t in samples)) / n_sites
    var = lat.allreduce(sum(float(((t - mean) ** 2).sum()) for _, t in samples)) / n_sites
    if not var > 0:
        raise ValueError("the training targets have zero variance (unit configurations?)")
    Ws = [src.forward([], T, None, False)[1] for T, _ in samples]
    n_free = 1                                                    # the bias of the read-out
    for b, (conv, bil, k) in enumerate(blocks):
        w, a = weights[k], weights[k + 1]
        masks = plane_masks(conv, bil) if planes else None
        n_free += 2 * (int(w.size + a.size) if masks is None else int(masks[0].sum() + masks[1].sum()))
        if b < len(blocks) - 1:
            use = range(len(samples) if stage_configs is None else min(stage_configs, len(samples)))
            data = []
            for i in use:
                T = samples[i][0]
                X, B = _block_inputs(T, Ws[i], conv)
                data.append((X, B, stage_matrices(T, stages[b])))
            fit_block_matrix(w, a, data, lat, iters, ridge=ridge, log=log, name=f"block {b + 1}",
                             masks=masks)
            if gn_iters:
                gauss_newton_matrix(w, a, data, lat, gn_iters, masks=masks, log=log, name=f"block {b + 1}")
            del data
            Ws = [_block_out(w, a, *_block_inputs(T, W, conv)) for (T, _), W in zip(samples, Ws)]
        else:
            data = [_block_inputs(T, W, conv) + (t,) for (T, t), W in zip(samples, Ws)]
            weights[kt][...] = np.array([[1.0, 0.0]])
            bias, hist = fit_block_scalar(w, a, 0.0, data, lat, iters, var, ridge=max(ridge, 1e-10), log=log,
                                          name=f"block {b + 1}", masks=masks)
            if gn_iters:
                bias, h2 = gauss_newton_scalar(w, a, bias, data, lat, gn_iters, var, masks=masks, log=log,
                                               name=f"block {b + 1}")
                hist += h2
            weights[kt + 1][0] = bias
    return weights, list(enumerate(hist)), n_free


# ---------------------------------------------------------------------------------------------- Gauss-Newton
def _matrix_normal(w, a, data, lat, masks, chunk=32):
    """Normal equations J^T J, J^T r and |r|^2 of the matrix fit at (w, a) for the joint real unknowns
    (Re w, Im w, Re a, Im a) over the free entries; r = R - out."""
    c, ci, no = w.shape
    co, nA, nB = a.shape
    mw, ma = masks
    fw = np.flatnonzero(mw.reshape(-1))
    fa = [np.flatnonzero(ma[i].reshape(-1)) for i in range(co)]
    offs = np.cumsum([0] + [len(f) for f in fa])
    nwf, naf = len(fw), int(offs[-1])
    n = 2 * nwf + 2 * naf
    JJ = np.zeros((n, n))
    Jr = np.zeros(n)
    rr = 0.0
    nw = w.size
    for X, B, R in data:
        A = LBilin._augment(_es("jlo,vloab->vjab", w, X))
        for s0 in range(0, X.shape[0], chunk):
            Xs, Bs, Rs, As = X[s0:s0 + chunk], B[s0:s0 + chunk], R[s0:s0 + chunk], A[s0:s0 + chunk]
            v = len(Xs)
            M = _es("ijk,vkab->vijab", a, Bs)
            out = _es("vjab,vijbc->viac", As, M)
            P = _es("vloab,vijbc->vijloac", Xs, M[:, :, :c]).reshape(v, co, nw, -1)[:, :, fw]
            Q = _es("vloba,vijbc->vijloac", Xs.conj(), M[:, :, c:2 * c]).reshape(v, co, nw, -1)[:, :, fw]
            F = _es("vjab,vkbc->vacjk", As, Bs).reshape(v, -1, nA * nB)      # (v, N*N, nA*nB)
            Ja = np.zeros((v, co, F.shape[1], naf), dtype=np.complex128)
            for i in range(co):
                Ja[:, i, :, offs[i]:offs[i + 1]] = F[:, :, fa[i]]
            J = np.concatenate([np.moveaxis(P + Q, 2, -1), np.moveaxis(1j * (P - Q), 2, -1), Ja, 1j * Ja],
                               axis=-1).reshape(-1, n)
            J = np.concatenate([J.real, J.imag], axis=0)
            r = (Rs - out).reshape(-1)
            r = np.concatenate([r.real, r.imag])
            JJ += J.T @ J
            Jr += J.T @ r
            rr += float(r @ r)
    return lat.allreduce(JJ), lat.allreduce(Jr), lat.allreduce(rr), (fw, fa, offs, nwf)


def _matrix_apply(w, a, x, idx):
    fw, fa, offs, nwf = idx
    w2, a2 = w.copy(), a.copy()
    wf = w2.reshape(-1)
    wf[fw] += x[:nwf] + 1j * x[nwf:2 * nwf]
    xa = x[2 * nwf:]
    naf = len(xa) // 2
    for i in range(a.shape[0]):
        ai = a2[i].reshape(-1)
        ai[fa[i]] += xa[offs[i]:offs[i + 1]] + 1j * xa[naf + offs[i]:naf + offs[i + 1]]
    return w2, a2


def _lm_step(JJ, Jr, lam):
    d = np.maximum(np.diag(JJ), 1e-300)
    s = np.sqrt(d)
    M = JJ / np.outer(s, s) + lam * np.eye(len(Jr))
    return np.linalg.solve(M, Jr / s) / s


def gauss_newton_matrix(w, a, data, lat, iters, masks=None, log=None, name="block", lam=1e-6):
    """Levenberg-Marquardt on the joint (w, a) matrix fit (the block's output is bilinear in them; the targets
    are exactly representable, so Gauss-Newton converges fast where ALS crawls). Updates w, a in place; returns
    the relative residuals."""
    masks = masks if masks is not None else (np.ones(w.shape, bool), np.ones(a.shape, bool))
    norm = lat.allreduce(sum(float(np.sum(np.abs(R) ** 2)) for _, _, R in data))
    hist = []
    JJ, Jr, rr, idx = _matrix_normal(w, a, data, lat, masks)
    for it in range(iters):
        while True:
            w2, a2 = _matrix_apply(w, a, _lm_step(JJ, Jr, lam), idx)
            JJ2, Jr2, rr2, _ = _matrix_normal(w2, a2, data, lat, masks)
            if rr2 <= rr or lam > 1e6:
                break
            lam *= 10
        if rr2 <= rr:
            w[...], a[...] = w2, a2
            JJ, Jr, rr = JJ2, Jr2, rr2
            lam = max(lam / 10, 1e-12)
        hist.append(rr / norm)
        if log:
            log(f"{name}: Gauss-Newton iteration {it:3d}  relative residual {rr / norm:.3e}  (damping {lam:.0e})")
        if hist[-1] < 1e-26 or lam > 1e6:        # exact to rounding, or no descent left
            break
    return hist


def _scalar_normal(w, a, bias, data, lat, masks):
    c = w.shape[0]
    mw, ma = masks
    f = np.concatenate([mw.reshape(-1), mw.reshape(-1), ma[0].reshape(-1), ma[0].reshape(-1), [True]])
    JJ = Jr = None
    rr = 0.0
    for X, B, t in data:
        A = LBilin._augment(_es("jlo,vloab->vjab", w, X))
        z = _es("vjab,vkba->vjk", A, B).reshape(len(t), -1)
        M = _es("jk,vkab->vjab", a[0], B)
        z1 = _es("vloab,vjba->vjlo", X, M[:, :c]).reshape(len(t), -1)
        z2 = _es("vloba,vjba->vjlo", X.conj(), M[:, c:2 * c]).reshape(len(t), -1)
        y = (z @ a[0].reshape(-1)).real + bias
        J = np.concatenate([z1.real + z2.real, -z1.imag + z2.imag, z.real, -z.imag, np.ones((len(t), 1))],
                           axis=1)[:, f]
        r = t - y
        JJ = J.T @ J if JJ is None else JJ + J.T @ J
        Jr = J.T @ r if Jr is None else Jr + J.T @ r
        rr += float(r @ r)
    return lat.allreduce(JJ), lat.allreduce(Jr), lat.allreduce(rr), f


def _scalar_apply(w, a, bias, x, f):
    full = np.zeros(len(f))
    full[f] = x
    nw, na = w.size, a[0].size
    w2 = w + (full[:nw] + 1j * full[nw:2 * nw]).reshape(w.shape)
    a2 = a.copy()
    a2[0] += (full[2 * nw:2 * nw + na] + 1j * full[2 * nw + na:2 * nw + 2 * na]).reshape(a[0].shape)
    return w2, a2, bias + full[-1]


def gauss_newton_scalar(w, a, bias, data, lat, iters, var, masks=None, log=None, name="block", lam=1e-6):
    """Levenberg-Marquardt on the final block's per-site scalar fit (joint in w, a and the bias). Updates w, a in
    place; returns (bias, [train nmse per iteration])."""
    masks = masks if masks is not None else (np.ones(w.shape, bool), np.ones(a.shape, bool))
    nsite = lat.allreduce(sum(len(t) for _, _, t in data))
    hist = []
    JJ, Jr, rr, f = _scalar_normal(w, a, bias, data, lat, masks)
    for it in range(iters):
        while True:
            w2, a2, b2 = _scalar_apply(w, a, bias, _lm_step(JJ, Jr, lam), f)
            JJ2, Jr2, rr2, _ = _scalar_normal(w2, a2, b2, data, lat, masks)
            if rr2 <= rr or lam > 1e6:
                break
            lam *= 10
        if rr2 <= rr:
            w[...], a[...], bias = w2, a2, b2
            JJ, Jr, rr = JJ2, Jr2, rr2
            lam = max(lam / 10, 1e-12)
        hist.append(rr / (nsite * var))
        if log:
            log(f"{name}: Gauss-Newton iteration {it:3d}  train nmse {hist[-1]:.3e}  (damping {lam:.0e})")
        if hist[-1] < 1e-26 or lam > 1e6:
            break
    return bias, hist
