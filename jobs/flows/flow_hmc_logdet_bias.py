"""Flow HMC and the independence sampler are exact only up to the discretisation error of the accumulated
log-determinant (the continuous flow's to O(eps^3), not the discrete map's Jacobian). This script measures the
resulting bias where it is visible: SU(2) on 2 x 2 tori at beta = 4 (exact torus plaquette by the character
expansion), a flow 20 % weaker than the leading-order one (c_plaquette = -beta/6 + 0.15), 256 independent chains,
for 1, 2 and 4 RK3 steps of the flow. docs/flows.md, "Gauge fields: flow HMC".

    OMP_NUM_THREADS=1 PYTHONPATH=python python jobs/flows/flow_hmc_logdet_bias.py [--json out.json]

About one minute on one core.
"""
import argparse
import json
import time

import numpy as np

import gaugenet as gn
from gaugenet.flows.gauge.hmc import (FlowedAction, exact_plaquette_2d, independence_sampler,
                                      logdet_discretisation, run_flow_hmc)
from gaugenet.flows.gauge.model import GaugeFlowModel, leading_order_theta


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", default=None)
    ap.add_argument("--chains", type=int, default=256)
    ap.add_argument("--trajectories", type=int, default=14)
    ap.add_argument("--flow-steps", default="1,2,4")
    a = ap.parse_args()
    beta, N = 4.0, 2
    lat = gn.Lattice((2, 2, a.chains, 1), coarse=True)
    V0 = gn.GaugeField.random(lat, N=N, seed=7).sites().astype(np.complex128)
    exact = exact_plaquette_2d(N, beta, 4)
    rows = []
    for fs in [int(x) for x in a.flow_steps.split(",")]:
        m = GaugeFlowModel(["1x1"], n_t=1, n_steps=fs)
        m.theta = leading_order_theta(m, beta, N) + 0.15
        d = logdet_discretisation(m, lat, V0)
        t0 = time.perf_counter()
        s, _, _ = run_flow_hmc(FlowedAction(m, lat, beta), N, V0, a.trajectories, 2, 2, 1.0, "omelyan", seed=4)
        t_hmc = time.perf_counter() - t0
        ind = independence_sampler(m, lat, beta, N, 8, seed=11)
        row = {"flow_steps": fs, "logdet_error_std": float(d.std()), "logdet_error_mean": float(d.mean()),
               "hmc_plaquette": s["plaquette"], "hmc_plaquette_err": s["plaquette_err"],
               "hmc_acceptance": s["acceptance"], "hmc_sigma": (s["plaquette"] - exact) / s["plaquette_err"],
               "independence_plaquette": ind["plaquette"], "independence_plaquette_err": ind["plaquette_err"],
               "independence_acceptance": ind["acceptance"],
               "independence_sigma": (ind["plaquette"] - exact) / ind["plaquette_err"], "hmc_seconds": t_hmc}
        rows.append(row)
        print(f"flow steps {fs}: log-det error std {row['logdet_error_std']:.2e}; flow HMC plaquette "
              f"{s['plaquette']:.5f}({s['plaquette_err']:.5f}) = exact {row['hmc_sigma']:+.1f} sigma, acceptance "
              f"{s['acceptance']:.3f}; independence {ind['plaquette']:.5f}({ind['plaquette_err']:.5f}) = exact "
              f"{row['independence_sigma']:+.1f} sigma, acceptance {ind['acceptance']:.3f}", flush=True)
    out = {"beta": beta, "N": N, "lattice": [2, 2], "chains": a.chains, "trajectories": a.trajectories,
           "exact_plaquette": exact, "exact_plaquette_infinite": exact_plaquette_2d(N, beta, np.inf), "rows": rows}
    print(f"exact torus plaquette {exact:.5f} (infinite lattice {out['exact_plaquette_infinite']:.5f})")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
