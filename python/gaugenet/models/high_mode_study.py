"""The high-mode preconditioner variants of seed 000, Figs. 6 and 7 (`mg --high-mode-variants`).

Each variant is a linear gauge-equivariant model M_h trained on eq. (27), |M_h D v - v|^2 with a fresh
random v per step (the batches of the experiment's own high-mode stage), then used as the preconditioner of
FGMRES on the comparison source. The study runs beside the experiment: the multigrid pipeline keeps its own
one-layer PTC model (stage 1), whatever variants are listed.

    ptc         one PTC layer 1 -> 1, the zero path and the 8 one-hop paths (Fig. 6; the experiment's M_h)
    lptc        the same paths with weights per site (LPTC; Fig. 6)
    ptc-1-1-1   two one-hop PTC layers 1 -> 1 -> 1 (Fig. 7)
    ptc-1-2-1   two one-hop PTC layers 1 -> 2 -> 1 (Fig. 7)
    ptc-2hop    one PTC layer with the 65 paths of at most two hops, H_a H_b with a != -b (Fig. 7)
    NAME-zb     any of them with zero boundary links (communication avoiding, Sec. II E): the links that cross
                a rank boundary are zero in the model's transports, so the local volume is the lattice over
                the process grid (4^3 x 8 for 8^3 x 16 on --mpi 2.2.2.2)

Adam with the high-mode rate (cfg.high_alpha, 1e-2), a tenth of it for LPTC (LPTC_ALPHA_FACTOR).
Initial weights: every variant starts as the inverse of the site term, 1 / (4 + m) on the zero path (the
experiment's M_h start); the second layer of 1 -> 1 -> 1 is the identity; 1 -> 2 -> 1 gets small random
weights (scale 1e-2, fixed seed) for its second feature in the first layer and zero for it in the second,
so that the product starts at the same model and the extra feature still receives gradients.
"""
import time

import numpy as np

from ..ml import LPTC, PTC, Sequential, one_hop_paths
from ..ml.parameters import random_global
from ..solvers import fgmres
from ..util.log import log
from .optim import Adam
from .training import high_mode_batch, train

# Adam's step is about alpha per real parameter whatever the gradient's size, and an LPTC weight sees one site
# of one random vector per step: at the PTC rate (1e-2) its cost rises (measured on 4^3 x 8, m = -0.3: 0.017 ->
# 0.029 in 60 steps), at a tenth of it it falls (0.017 -> 0.0061; 3e-3: 0.0082, 3e-4: 0.011)
LPTC_ALPHA_FACTOR = 0.1
BASES = ("ptc", "lptc", "ptc-1-1-1", "ptc-1-2-1", "ptc-2hop")
VARIANTS = BASES + tuple(b + "-zb" for b in BASES)


def two_hop_paths():
    """The one-hop paths (slot order, zero path last) and the 56 two-hop paths H_a H_b, a != -b: 65 paths."""
    paths = [list(p.hops) for p in one_hop_paths()]
    hops = [(mu, s) for mu in range(4) for s in (1, -1)]
    paths += [[a, b] for a in hops for b in hops if not (a[0] == b[0] and a[1] == -b[1])]
    return paths


def check_variants(names):
    """ValueError naming an unknown or repeated variant."""
    for n in names:
        if n not in VARIANTS:
            raise ValueError(f"unknown high-mode variant {n!r}; choose from {', '.join(VARIANTS)}")
    if len(set(names)) != len(names):
        raise ValueError(f"a high-mode variant is listed twice: {', '.join(names)}")
    return tuple(names)


def _site(D, W):
    """Put 1 / (4 + m) on the zero path (index 8 of the slot-ordered one-hop paths) of a 1 -> 1 block."""
    W[..., 8, 0, 0, :, :] = np.eye(4) / (4.0 + D.mass)
    return W


def build(D, name):
    """(model, initial weights) of a variant (see the module docstring)."""
    check_variants([name])
    base, zb = (name[:-3], True) if name.endswith("-zb") else (name, False)
    kw = dict(zero_boundary_links=zb, boundary_phases=D.links.boundary_phases)
    dt = D.lat.complex_dtype
    one = one_hop_paths()
    if base in ("ptc", "ptc-2hop"):
        m = PTC(D.U, 1, 1, one if base == "ptc" else two_hop_paths(), **kw)
        return m, [_site(D, np.zeros(m.weight_shapes[0], dtype=dt))]
    if base == "lptc":
        m = LPTC(D.U, 1, 1, one, **kw)
        return m, [_site(D, np.zeros(m.weight_shapes[0], dtype=dt))]
    width = 1 if base == "ptc-1-1-1" else 2
    a, b = PTC(D.U, 1, width, one, **kw), PTC(D.U, width, 1, one, **kw)
    wa = np.zeros(a.weight_shapes[0], dtype=dt)
    wb = np.zeros(b.weight_shapes[0], dtype=dt)
    _site(D, wa)
    wb[8, 0, 0] = np.eye(4)
    if width == 2:
        wa[:, 1, 0] = random_global(wa[:, 1, 0].shape, 4242, 1e-2, dtype=dt)
    return Sequential(a, b), [wa, wb]


def _real_parameters(weights, lat):
    """Real parameters of the global model (a complex weight is two; LPTC weights summed over the ranks)."""
    n = 2 * sum(int(np.asarray(w).size) for w in weights)
    return int(lat.cart.allreduce(n)) if weights and np.asarray(weights[0]).ndim == 6 else n


def run_study(D, b, variants, steps, cfg, reference=None):
    """Train every variant for `steps` Adam steps (alpha cfg.high_alpha) and solve D x = b with FGMRES + variant
    (cfg.tol, cfg.maxiter, cfg.restart). reference: the unpreconditioned FGMRES record of the comparison, for
    the iteration-count gain (a lower bound where the reference stopped unconverged). One record per variant."""
    out = []
    for k, name in enumerate(check_variants(list(variants))):
        model, w = build(D, name)
        t0 = time.perf_counter()
        alpha = cfg.high_alpha * (LPTC_ALPHA_FACTOR if name.startswith("lptc") else 1.0)
        hist = train(model, w, high_mode_batch(D, cfg.seed), steps, Adam(alpha=alpha),
                     log_every=cfg.log_every, name=f"high-mode-{name}")
        train_s = time.perf_counter() - t0
        r = fgmres(D, b, M=lambda v, model=model, w=w: model(w, v), tol=cfg.tol, maxiter=cfg.maxiter,
                   restart=cfg.restart, raise_on_fail=False)
        layers = getattr(model, "layers", [model])
        rec = {"variant": name, "zero_boundary_links": name.endswith("-zb"), "layers": len(layers),
               "paths": max(la.n_paths for la in layers), "real_parameters": _real_parameters(w, D.lat),
               "alpha": alpha, "training_steps": len(hist), "training_seconds": train_s,
               "cost_history": [float(h[1]) for h in hist],
               "cost_first": float(hist[0][1]) if hist else None,
               "cost_last": float(np.mean([h[1] for h in hist[-5:]])) if hist else None,
               "iterations": r.iterations, "seconds": r.seconds, "residual": float(r.residual),
               "converged": bool(r.converged)}
        if reference is not None and r.converged:
            rec["iteration_gain"] = reference["iterations"] / max(1, r.iterations)
            rec["gain_is_lower_bound"] = not reference["converged"]
        log.info("high-mode variant %-12s %d layer(s), %2d paths, %6d real parameters: %d steps %.1f s, cost %s, "
                 "FGMRES %d iterations %.2f s%s", name, rec["layers"], rec["paths"], rec["real_parameters"],
                 len(hist), train_s, f"{rec['cost_first']:.3e} -> {rec['cost_last']:.3e}" if hist else "-",
                 r.iterations, r.seconds, "" if r.converged else "  NOT CONVERGED")
        out.append(rec)
    return out
