"""ESS of the identity map (Haar samples reweighted to the Wilson action) and of the leading-order trivializing
flow for 4D SU(N) Yang-Mills, against the volume and beta: how fast a fixed flow loses its overlap with the
target as the lattice grows. docs/flows.md, "Four dimensions".

    OMP_NUM_THREADS=1 PYTHONPATH=python python jobs/flows/ess_4d_scan.py --L 4,6 --beta 0.5,1,2,3 \
        --samples 128 --json runs/ess-4d-scan.json

Each sample is one L^4 lattice flowed in all six planes (20 RK3 steps); any process grid (mpiexec -n 2 ...).
About 10 minutes on one core for the defaults.
"""
import argparse
import json
import time

import numpy as np

import gaugenet as gn
from gaugenet.flows.gauge.model import GaugeFlowModel, leading_order_theta, log_weights, wilson_action
from gaugenet.flows.sampler import ess_with_error


def scan(L, beta, N, samples, flow_steps, seed):
    lat = gn.Lattice((L,) * 4, coarse=True)
    lo = GaugeFlowModel(["1x1"], n_t=1, dirs=(0, 1, 2, 3), n_steps=flow_steps)
    lo.theta = leading_order_theta(lo, beta, N)
    lw_id, lw_lo = [], []
    t0 = time.perf_counter()
    for s in range(samples):
        V = gn.GaugeField.random(lat, N=N, seed=seed, stream=s).sites().astype(np.complex128)
        lw_id.append(-wilson_action(lat, V, beta, (0, 1, 2, 3)))
        lw_lo.append(log_weights(lo, lat, V, beta, slice_axis=None)[0][0])
    sec = (time.perf_counter() - t0) / samples
    (e0, e0_err), (e1, e1_err) = ess_with_error(np.array(lw_id)), ess_with_error(np.array(lw_lo))
    gain = float(np.mean(lw_lo) - np.mean(lw_id))     # KL(identity) - KL(LO flow), per configuration
    return {"L": L, "beta": beta, "N": N, "samples": samples, "ess_identity": e0, "ess_identity_err": e0_err,
            "ess_leading_order": e1, "ess_leading_order_err": e1_err, "kl_gain_leading_order": gain,
            "kl_gain_err": float(np.std(np.array(lw_lo) - np.array(lw_id), ddof=1) / np.sqrt(samples)),
            "seconds_per_sample": sec}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--L", default="4,6")
    ap.add_argument("--beta", default="0.5,1,2,3")
    ap.add_argument("--N", type=int, default=3)
    ap.add_argument("--samples", type=int, default=128)
    ap.add_argument("--flow-steps", type=int, default=20)
    ap.add_argument("--seed", type=int, default=5)
    ap.add_argument("--json", default=None)
    a = ap.parse_args()
    if a.samples < 2 or a.flow_steps < 1 or a.N not in (2, 3):
        ap.error("need samples >= 2, flow-steps >= 1 and N in (2, 3)")
    rows = []
    for L in (int(x) for x in a.L.split(",")):
        for beta in (float(x) for x in a.beta.split(",")):
            r = scan(L, beta, a.N, a.samples, a.flow_steps, a.seed)
            rows.append(r)
            if _rank0():
                print(f"L {L} beta {beta}: ESS identity {r['ess_identity']:.4f}({r['ess_identity_err']:.4f}), "
                      f"LO flow {r['ess_leading_order']:.4f}({r['ess_leading_order_err']:.4f}), KL gain "
                      f"{r['kl_gain_leading_order']:.3f}({r['kl_gain_err']:.3f}), {r['seconds_per_sample']:.2f} s/sample",
                      flush=True)
    if a.json and _rank0():
        with open(a.json, "w") as f:
            json.dump(rows, f, indent=1)


def _rank0():
    from mpi4py import MPI
    return MPI.COMM_WORLD.Get_rank() == 0


if __name__ == "__main__":
    main()
