"""Per-call timings of gaugenet's packed Wilson kernels at L^4 (issue 22, docs/performance.md "Against GridBench"):
the hopping term and Wilson-clover, double and single, link storages all rows / two rows / two rows doubled,
one JSON line per case with the best call, the mean over the calls and sites per second (1320 flops per site
for the hop, as GridBench counts). Meant to be alternated with an external GridBench driver in one session:

    OMP_NUM_THREADS=2 OMP_PROC_BIND=close python jobs/bench/wilson_calls.py --L 32 --calls 50
"""
import argparse
import json
import time

import numpy as np

import gaugenet as gn
from gaugenet._backend import core


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--L", type=int, default=32)
    ap.add_argument("--calls", type=int, default=50)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--precisions", default="double,single")
    ap.add_argument("--storages", default="all,two,doubled")
    ap.add_argument("--kernels", default="hop,clover")
    a = ap.parse_args()
    if not core.packed_available():
        raise SystemExit("wilson_calls: this build has no packed (AVX-512) kernels")
    dims = (a.L,) * 4
    V = a.L ** 4
    for prec in a.precisions.split(","):
        lat = gn.Lattice(dims, mpi=(1, 1, 1, 1), precision=prec)
        U = gn.GaugeField.random(lat, 3, seed=1)
        psi = gn.FermionField.random(lat, 3, seed=2)
        for kernel in a.kernels.split(","):
            D = gn.Wilson(U, mass=0.1) if kernel == "hop" else gn.WilsonClover(U, mass=0.1, csw=1.0)
            for st in a.storages.split(","):
                P = gn.PackedWilson(D, two_rows=st != "all", doubled_links=st == "doubled")
                x = P.pack(psi)
                out = x.empty_like()
                fn = (lambda: P.hop(x, out=out)) if kernel == "hop" else (lambda: P.apply(x, out=out))
                for _ in range(a.warmup):
                    fn()
                t = np.empty(a.calls)
                for i in range(a.calls):
                    t0 = time.perf_counter()
                    fn()
                    t[i] = time.perf_counter() - t0
                es = 8 if prec == "double" else 4
                links = (8 if st == "doubled" else 4) * (6 if st != "all" else 9) * 2 * es
                spinors = 2 * 12 * 2 * es
                clover = 0 if kernel == "hop" else 36 * 2 * es    # two hermitian 6x6 blocks, stored compressed
                bps = links + spinors + clover
                best, mean = float(t.min()), float(t.mean())
                print(json.dumps({"code": "gaugenet", "kernel": kernel, "prec": prec, "storage": st, "L": a.L,
                                  "threads": core.max_threads(), "calls": a.calls, "best_s": best, "mean_s": mean,
                                  "sites_per_s_best": V / best, "gflops_best_1320": 1320 * V / best / 1e9,
                                  "gflops_mean_1320": 1320 * V / mean / 1e9, "bytes_per_site": bps,
                                  "gbytes_per_s_best": bps * V / best / 1e9}), flush=True)
                del P, x, out


if __name__ == "__main__":
    main()
