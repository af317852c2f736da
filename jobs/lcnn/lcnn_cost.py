"""Cost per site of an L-Conv channel hop next to the Wilson hop and a PTC one-hop path (issue 23).

    PYTHONPATH=python python jobs/lcnn/lcnn_cost.py [L] [channels]

One-rank timings on an L^4 SU(3) lattice (best of several repetitions, after a warm-up):
- Wilson: the Wilson operator D psi (8 hops plus the diagonal), per site and per hop;
- PTC one-hop path: a PTC layer with the 9 one-hop paths (zero path and 8 hops), one feature in and out,
  per site and per path;
- L-Conv channel hop: links.paths.Paths.transport of C channels along one hop (W -> U W(x+mu) U^dag), per site
  and per channel; and a whole LConv(C, C, K=2) forward, per site, per input channel and per kernel offset
  (including its share of the channel mixing).
"""
import sys
import time

import numpy as np

import gaugenet as gn
from gaugenet.lcnn import LConv
from gaugenet.links.paths import Paths
from gaugenet.ml import PTC, one_hop_paths


def best(fn, reps=5):
    fn()
    ts = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return min(ts)


def main():
    L = int(sys.argv[1]) if len(sys.argv) > 1 else 8
    C = int(sys.argv[2]) if len(sys.argv) > 2 else 12
    lat = gn.Lattice((L,) * 4)
    V = lat.local_volume
    U = gn.GaugeField.random(lat, 3, seed=1)
    psi = gn.FermionField.random(lat, 3, seed=2)
    D = gn.Wilson(U, mass=0.1)
    t_w = best(lambda: D(psi)) / (V * 8)
    ptc = PTC(U, 1, 1, one_hop_paths())
    w = ptc.weights(seed=0) if hasattr(ptc, "weights") else None
    t_p = best(lambda: ptc(w, psi)) / (V * 9)
    T = Paths(U)
    W = (np.random.default_rng(3).standard_normal((V, C, 3, 3)) + 0j)
    t_t = best(lambda: T.transport(W, 0, 1)) / (V * C)
    conv = LConv(C, C, K=2)
    cw = conv.weights(seed=4)
    t_c = best(lambda: conv.forward(cw, T, W, keep=False)) / (V * C * conv.n_offsets)
    print(f"lattice {L}^4 SU(3), {C} channels, one rank, ns per site:")
    print(f"  Wilson hop (D psi / 8)                 {1e9 * t_w:8.1f}")
    print(f"  PTC one-hop path (9-path layer / 9)    {1e9 * t_p:8.1f}")
    print(f"  L-Conv channel hop (Paths.transport)   {1e9 * t_t:8.1f}   {t_t / t_p:5.2f} x PTC path")
    print(f"  LConv forward per channel and offset   {1e9 * t_c:8.1f}   {t_c / t_p:5.2f} x PTC path")


if __name__ == "__main__":
    main()
