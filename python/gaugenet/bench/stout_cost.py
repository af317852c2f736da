"""The cost of one stout layer against one plaquette-force evaluation, measured in the same run
(issue 18, part 3: a layer's forward + backward at most 1.5x one force evaluation per link).

    python -m gaugenet.bench.stout_cost [--repeat 7] [--json FILE]

For each case (8^4 SU(3), 4^4 SU(2) by default) it times, interleaved round by round, the compiled stout
layer's forward and backward (gauge.stout, plaquette + Polyakov terms), the NumPy reference of the same
layer (links.reference), gauge.action.gauge_force (NumPy) and links.plaquette_force (the same compiled
staple kernels), and reports medians and the ratios (forward + backward) / force against both forces.
"""
import argparse
import json
import time

import numpy as np

CASES = (((8, 8, 8, 8), 3), ((4, 4, 4, 4), 2))
RHO = (0.1, 0.05, 0.02)


def _time(fn):
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def problem(dims, N, seed=1):
    """(lattice on one rank, random SU(N) field, random su(N) force field): the inputs both cost scripts time."""
    from mpi4py import MPI

    import gaugenet as gn
    from ..gauge.algebra import random_algebra
    lat = gn.Lattice(dims, mpi=(1, 1, 1, 1), comm=MPI.COMM_SELF)
    return lat, gn.GaugeField.random(lat, N, seed=seed), gn.GaugeField(lat, random_algebra(lat, N, seed=seed + 1))


def measure(dims, N, repeat=7, seed=1):
    """Median seconds of each kernel on one lattice, and the ratios."""
    from ..gauge.action import gauge_force
    from ..gauge.stout import StoutLayer
    from ..links import plaquette_force, reference

    lat, U, force = problem(dims, N, seed)
    layer, ref = StoutLayer(*RHO), reference.StoutLayer(*RHO)
    ctx = layer.forward(U)[1]
    rctx = ref.forward(U)[1]
    fns = {
        "stout_forward": lambda: layer.forward(U),
        "stout_backward": lambda: layer.backward(ctx, force),
        "stout_forward_numpy": lambda: ref.forward(U),
        "stout_backward_numpy": lambda: ref.backward(rctx, force),
        "gauge_force_numpy": lambda: gauge_force(U, 2.0),
        "plaquette_force_compiled": lambda: plaquette_force(U, 2.0),
    }
    for fn in fns.values():   # warm-up (halo tables, allocations)
        fn()
    times = {k: [] for k in fns}
    for _ in range(repeat):
        for k, fn in fns.items():
            times[k].append(_time(fn))
    med = {k: float(np.median(v)) for k, v in times.items()}
    layer_s = med["stout_forward"] + med["stout_backward"]
    layer_np = med["stout_forward_numpy"] + med["stout_backward_numpy"]
    return {
        "lattice": "x".join(map(str, dims)), "N": N, "repeat": repeat,
        "seconds": med,
        "layer_over_force_numpy": layer_s / med["gauge_force_numpy"],
        "layer_over_force_compiled": layer_s / med["plaquette_force_compiled"],
        "numpy_layer_over_force_numpy": layer_np / med["gauge_force_numpy"],
        "speedup_layer": layer_np / layer_s,
    }


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m gaugenet.bench.stout_cost", description=__doc__.split("\n\n")[0])
    p.add_argument("--repeat", type=int, default=7)
    p.add_argument("--json", default=None, help="write the records to this file")
    a = p.parse_args(argv)
    if a.repeat < 1:
        raise SystemExit("--repeat must be >= 1")
    from .._backend import core
    recs = [measure(d, N, a.repeat) for d, N in CASES]
    print(f"threads {core.max_threads()}, medians of {a.repeat} interleaved rounds (seconds)")
    for r in recs:
        s = r["seconds"]
        print(f"{r['lattice']} SU({r['N']}): stout fwd {s['stout_forward']:.4g} bwd {s['stout_backward']:.4g} | "
              f"numpy fwd {s['stout_forward_numpy']:.4g} bwd {s['stout_backward_numpy']:.4g} | "
              f"gauge_force numpy {s['gauge_force_numpy']:.4g} compiled {s['plaquette_force_compiled']:.4g}")
        print(f"    layer (fwd+bwd) / force: {r['layer_over_force_numpy']:.2f} (numpy force), "
              f"{r['layer_over_force_compiled']:.2f} (compiled force); numpy layer / numpy force "
              f"{r['numpy_layer_over_force_numpy']:.2f}; compiled layer speed-up {r['speedup_layer']:.1f}x")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(recs, f, indent=1)
    return recs


if __name__ == "__main__":
    main()
