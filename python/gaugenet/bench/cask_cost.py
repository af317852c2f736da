"""The cost of one CASK layer (covnet/cask.py) against one stout layer, and of the link transports it is built
from, compiled (kernels/transport.h) and NumPy (links/paths.py with Paths.compiled = False), in the same run.

    python -m gaugenet.bench.cask_cost [--repeat 5] [--S 3] [--numpy-layer] [--json FILE]

For each case (4^4 SU(2), 8^4 SU(3) by default) it times, interleaved round by round: a stout layer's forward +
backward (gauge.stout, the compiled staple kernels), a CASK layer's forward + backward, one
Paths.link_transports call on the 24 channels CASK uses and one link_transports_vjp (compiled and NumPy), and
with --numpy-layer the whole CASK layer on the NumPy transports (slow: seconds to minutes at 8^4). Reports
medians and the ratio CASK / stout.
"""
import argparse
import json

import numpy as np

from .stout_cost import RHO, _time, problem

CASES = (((4, 4, 4, 4), 2), ((8, 8, 8, 8), 3))


def measure(dims, N, repeat=5, S=3, numpy_layer=False, seed=1):
    """Median seconds of each piece on one lattice (one rank), and the ratios."""
    from ..covnet.cask import COMBOS, CaskLayer
    from ..gauge.stout import StoutLayer
    from ..links.paths import Paths

    lat, U, force = problem(dims, N, seed)
    w = np.concatenate([RHO, RHO[::-1], RHO, [1.5], 0.1 / np.arange(1, S + 1)])
    cask, stout = CaskLayer(S, w), StoutLayer(*RHO)
    rng = np.random.default_rng(seed)
    shape = (lat.local_volume, len(COMBOS), N, N)
    A = rng.standard_normal(shape) + 1j * rng.standard_normal(shape)
    G = rng.standard_normal(shape) + 1j * rng.standard_normal(shape)
    T = Paths(U)
    R = Paths(U)
    R.compiled = False

    def layer(net):
        out, ctx = net.forward(U)
        net.backward(ctx, force)

    def numpy_cask():
        old = Paths.compiled
        Paths.compiled = False
        try:
            layer(cask)
        finally:
            Paths.compiled = old

    fns = {
        "stout_layer": lambda: layer(stout),
        "cask_layer": lambda: layer(cask),
        "link_transports": lambda: T.link_transports(A, COMBOS),
        "link_transports_vjp": lambda: T.link_transports_vjp(A, COMBOS, G, T.zeros_sigma()),
        "link_transports_numpy": lambda: R.link_transports(A, COMBOS),
        "link_transports_vjp_numpy": lambda: R.link_transports_vjp(A, COMBOS, G, R.zeros_sigma()),
    }
    if numpy_layer:
        fns["cask_layer_numpy"] = numpy_cask
    for fn in fns.values():   # warm-up (halo tables, hop-link fields, allocations)
        fn()
    times = {k: [] for k in fns}
    for _ in range(repeat):
        for k, fn in fns.items():
            times[k].append(_time(fn))
    med = {k: float(np.median(v)) for k, v in times.items()}
    rec = {
        "lattice": "x".join(map(str, dims)), "N": N, "S": S, "repeat": repeat, "compiled": T.compiled,
        "seconds": med,
        "cask_over_stout": med["cask_layer"] / med["stout_layer"],
        "speedup_transports": med["link_transports_numpy"] / med["link_transports"],
        "speedup_transports_vjp": med["link_transports_vjp_numpy"] / med["link_transports_vjp"],
    }
    if numpy_layer:
        rec["speedup_cask"] = med["cask_layer_numpy"] / med["cask_layer"]
    return rec


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m gaugenet.bench.cask_cost", description=__doc__.split("\n\n")[0])
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--S", type=int, default=3, help="CASK kernel set 1 x 1 .. 1 x S (default 3)")
    p.add_argument("--numpy-layer", action="store_true", help="also time the CASK layer on the NumPy transports")
    p.add_argument("--json", default=None, help="write the records to this file")
    a = p.parse_args(argv)
    if a.repeat < 1:
        raise SystemExit("--repeat must be >= 1")
    if a.S < 1:
        raise SystemExit("--S must be >= 1")
    from .._backend import core
    recs = [measure(d, N, a.repeat, a.S, a.numpy_layer) for d, N in CASES]
    print(f"threads {core.max_threads()}, medians of {a.repeat} interleaved rounds (seconds)")
    for r in recs:
        s = r["seconds"]
        line = (f"{r['lattice']} SU({r['N']}): stout fwd+bwd {s['stout_layer']:.4g} | CASK (S = {r['S']}) fwd+bwd "
                f"{s['cask_layer']:.4g} = {r['cask_over_stout']:.1f} stout layers")
        if "cask_layer_numpy" in s:
            line += f" | NumPy transports {s['cask_layer_numpy']:.4g} ({r['speedup_cask']:.0f}x)"
        print(line)
        print(f"    link_transports (24 channels) {s['link_transports']:.3g} vs NumPy {s['link_transports_numpy']:.3g} "
              f"({r['speedup_transports']:.0f}x); vjp {s['link_transports_vjp']:.3g} vs NumPy "
              f"{s['link_transports_vjp_numpy']:.3g} ({r['speedup_transports_vjp']:.0f}x)"
              + ("" if r["compiled"] else "  [module without transport kernels: both NumPy]"))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(recs, f, indent=1)
    return recs


if __name__ == "__main__":
    main()
