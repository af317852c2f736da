"""Flexible GMRES for several right-hand sides in lockstep: a propagator's sources through one operator and one
preconditioner application per step for all of them.

Each right-hand side runs its own FGMRES - its own Krylov basis, Hessenberg matrix, Givens rotations, restarts
and stopping test, with the arithmetic of solvers/fgmres.py - but at every step the new Krylov vectors of all
right-hand sides still iterating go through the preconditioner M and the operator A together, as one batch in the
kernels' multi-right-hand-side layout (PackedFermion with nvec = nrhs: [V/8][nrhs][R1][8]). Where a kernel is
bound by reading something shared by the right-hand sides (the links and clover blocks in A and in the learned
smoother's one-hop layers, the block basis in restriction and prolongation, the dense coarse inverse) it is read
once per step instead of once per right-hand side, and the per-call overheads (halo exchanges, Python) are paid once.

The Krylov bases are kept per right-hand side ([nrhs][restart + 1][n] rows, each a packed vector), so that the
Gram-Schmidt kernels of fgmres run on them unchanged; core.packed_rhs_split / packed_rhs_join move the vectors
between a basis column and the batch (one OpenMP pass each). Reductions go to MPI once per step for the whole
batch. A right-hand side that has converged stops: its solution is formed at once and its slot in the batch holds
zeros until the next restart, when the batch shrinks to those still iterating (M and A are linear: zero in, zero
out). With a preconditioner and an operator that treat the right-hand sides of a batch independently, which
gaugenet's do, every right-hand side takes the iterations and residuals of fgmres on it alone (to the rounding of
the reductions' order).

Memory: the bases take (2 restart + 1) vectors per right-hand side, nrhs times what one fgmres takes.
"""
import numpy as np

from .._backend import core
from ..util.memory import aligned_empty
from .fgmres import rotate_column
from .result import Monitor


def _check(A, B):
    if not getattr(B, "packed", False) or not (getattr(B, "batched", False) or B.nvec == 1):
        raise TypeError("fgmres_multi: the right-hand sides must be a PackedFermion batch (PackedWilson.pack of a "
                        "batched FermionField)")
    if not callable(getattr(A, "apply", None)):
        raise TypeError("fgmres_multi: the operator needs apply(x, out=...) (PackedWilson)")


def fgmres_multi(A, B, M=None, tol=1e-8, maxiter=1000, restart=30, raise_on_fail=True, reorth=1e-3, callback=None):
    """Solve A x_r = b_r for the nrhs = B.nvec right-hand sides of the packed batch B in lockstep.

    A: PackedWilson (or any operator with apply(x, out=) on packed batches); M: None (GMRES) or a callable
    M(v, out=z) on packed batches (models.multigrid.PackedMultigridSolver.precondition). tol, maxiter, restart,
    reorth: as fgmres, per right-hand side. callback(r, iteration, rel) after every step of right-hand side r.
    Returns a list of nrhs SolverResult, x the PackedFermion of one right-hand side; `seconds` of each is the
    wall time of the whole batch (they are solved together)."""
    _check(A, B)
    if restart < 1:
        raise ValueError(f"FGMRES: restart length must be at least 1, got {restart}")
    lat, k = B.lat, B.nvec
    V = lat.local_volume
    n = B.data.size // k
    dtype = B.data.dtype
    name = "FGMRES" if M is not None else "GMRES"

    def one(rows_i):                      # a (n,) row as a packed single-rhs vector
        return B.__class__(lat, rows_i.reshape(V // 8, -1, 8), B.N, 1, False)

    pool = {}

    def batch(m, name):
        """The work batch `name` for m right-hand sides: a view of a buffer sized for all k, allocated once (the
        batch shrinks at restarts; no new arrays of this size per cycle)."""
        if name not in pool:
            pool[name] = aligned_empty(B.data.size, dtype)
        shape = (V // 8, m * (B.data.shape[1] // k), 8)
        return B.__class__(lat, pool[name][:int(np.prod(shape))].reshape(shape), B.N, m, True)

    bs = aligned_empty((k, n), dtype)
    core.packed_rhs_split(B.data, bs, k, V)
    bnorm = np.sqrt(np.asarray(lat.allreduce(np.array([float(np.vdot(b, b).real) for b in bs]))))
    mons = [Monitor(name, float(bnorm[i]), tol, maxiter) for i in range(k)]
    X = aligned_empty((k, n), dtype)
    X[...] = 0
    done = [bnorm[i] == 0.0 for i in range(k)]
    Vb = aligned_empty((k, restart + 1, n), dtype)
    Zb = aligned_empty((k, restart, n), dtype) if M is not None else None
    tmp = aligned_empty((k, n), dtype)

    def rows_of(arr, act):
        """arr[act] as a 2D array of rows: a strided view for all right-hand sides, else a copy."""
        return arr if len(act) == k else arr[act]

    def split_into(src, dst, act):
        """The batch src (right-hand sides act, in order) into the rows dst[act] (dst: 2D, one row per rhs)."""
        if len(act) == k:
            core.packed_rhs_split(src.data, dst, k, V)
        else:
            core.packed_rhs_split(src.data, tmp[:len(act)], len(act), V)
            for a, i in enumerate(act):
                dst[i] = tmp[a]

    def residuals(act):
        """b_i - A x_i for the right-hand sides act, one batch (an application of A not counted, as in fgmres)."""
        m = len(act)
        xb, ab = batch(m, "x"), batch(m, "ax")
        core.packed_rhs_join(rows_of(X, act), xb.data, m, V)
        A.apply(xb, out=ab)
        core.packed_rhs_split(ab.data, tmp[:m], m, V)
        return np.stack([bs[i] - tmp[a] for a, i in enumerate(act)])

    first = True
    while True:
        act = [i for i in range(k) if not done[i] and len(mons[i].history) < maxiter]
        if not act:
            break
        R = bs[act] if first else residuals(act)   # x = 0 in the first cycle: r = b
        first = False
        beta = np.sqrt(np.asarray(lat.allreduce(np.array([float(np.vdot(r, r).real) for r in R]))))
        keep = []
        for a, i in enumerate(act):
            if beta[a] / bnorm[i] < tol:
                done[i] = True
            else:
                Vb[i, 0] = R[a] / beta[a]
                keep.append(a)
        act, beta = [act[a] for a in keep], beta[keep]
        if not act:
            break
        m = len(act)
        H = np.zeros((m, restart + 1, restart), dtype=np.complex128)
        cs = np.zeros((m, restart), dtype=np.complex128)
        sn = np.zeros((m, restart), dtype=np.complex128)
        g = np.zeros((m, restart + 1), dtype=np.complex128)
        g[:, 0] = beta
        live = list(range(m))            # positions in act still iterating in this cycle
        steps = [0] * m                  # Krylov steps of this cycle per position
        vb, zb, wb = batch(m, "v"), batch(m, "z"), batch(m, "w")
        for j in range(restart):
            if not live:
                break
            core.packed_rhs_join(rows_of(Vb[:, j], act), vb.data, m, V)
            for a in range(m):           # finished in this cycle: zeros ride along (M 0 = A 0 = 0)
                if a not in live:
                    vb.data.reshape(V // 8, m, -1)[:, a] = 0
            z = vb if M is None else M(vb, out=zb)
            if M is not None:
                split_into(z, Zb[:, j], act)
            A.apply(z, out=wb)
            split_into(wb, Vb[:, j + 1], act)
            for a in live:
                mons[act[a]].applications += 1
            # classical Gram-Schmidt per right-hand side (fgmres' kernels), the reductions of all in one
            rows = [act[a] for a in live]
            red = np.asarray(lat.allreduce(np.stack([core.gram_project(Vb[i], Vb[i, j + 1], j + 1, True)
                                                     for i in rows])))
            hs = [red[q, :j + 1] for q in range(len(rows))]
            w2s = [float(red[q, j + 1].real) for q in range(len(rows))]
            after = [core.gram_update(Vb[i], hs[q], Vb[i, j + 1], j + 1, True) for q, i in enumerate(rows)]
            again = [q for q in range(len(rows)) if w2s[q] - float(np.vdot(hs[q], hs[q]).real) < reorth ** 2 * w2s[q]]
            if again:                    # severe cancellation: orthogonalise once more
                red2 = np.asarray(lat.allreduce(np.stack([core.gram_project(Vb[rows[q]], Vb[rows[q], j + 1], j + 1,
                                                                            True) for q in again])))
                for t, q in enumerate(again):
                    h2 = red2[t, :j + 1]
                    after[q] = core.gram_update(Vb[rows[q]], h2, Vb[rows[q], j + 1], j + 1, True)
                    hs[q] = hs[q] + h2
            hns = np.sqrt(np.asarray(lat.allreduce(np.array(after, dtype=np.float64))))
            for q, a in enumerate(list(live)):
                i, Ha, hn = act[a], H[a], float(hns[q])
                Ha[:j + 1, j] = hs[q]
                Ha[j + 1, j] = hn
                rotate_column(Ha, cs[a], sn[a], g[a], j)
                rel = abs(g[a, j + 1]) / bnorm[i]
                steps[a] = j + 1
                if callback is not None:
                    callback(i, len(mons[i].history) + 1, rel)
                if mons[i].record(rel) or len(mons[i].history) >= maxiter or hn == 0.0:  # hn = 0: breakdown
                    done[i] = True
                    live.remove(a)
                else:
                    Vb[i, j + 1] *= 1.0 / hn
        for a, i in enumerate(act):      # x += Z y (V y without a preconditioner), per right-hand side
            s = steps[a]
            if s:
                y = np.linalg.solve(np.triu(H[a, :s, :s]), g[a, :s])
                core.gram_update(Zb[i] if M is not None else Vb[i], -y, X[i], s, True)
    # the true residuals, one batch
    allk = list(range(k))
    R = residuals(allk)
    true = np.sqrt(np.asarray(lat.allreduce(np.array([float(np.vdot(r, r).real) for r in R]))))
    out = []
    for i in allk:
        mons[i].applications += 1
        rel = float(true[i] / bnorm[i]) if bnorm[i] > 0 else 0.0
        out.append(mons[i].finish(one(X[i].copy()), rel, raise_on_fail))
    return out
