"""The seed-003 scalar experiment behind `python -m gaugenet flow` (docs/flows.md): train a flow at L x L by
the KL cost, then at every requested lattice (L and multiples, e.g. 2L: the same weights) draw independent
model samples for the ESS, run the independence Metropolis sampler on them (acceptance, observables with
Gamma-method errors and tau_int), and run the local Metropolis reference on the same lattice."""
import math
import time

import numpy as np

from .coupling import Flow
from .phi4 import LocalMetropolis, make_theory, primary_series
from .sampler import ess_with_error, independence_metropolis, measure_chain, reweight
from .train import train

# The seed's table ("larger volumes"): L, beta, acceptance at L, acceptance at 2L (None: not given; the
# "< 1e-7" entry is stored as its bound).
SEED_TABLE = {
    3: (0.537, 0.3, 0.2), 4: (0.576, 0.04, 0.001), 5: (0.601, 0.002, 0.00003), 6: (0.616, 0.002, 0.000007),
    7: (0.626, 0.0001, "<1e-7"), 8: (0.634, 0.0001, None), 9: (0.641, 0.00007, None), 10: (0.645, 0.00004, None),
}


def _positive_int(name, v, minimum=1):
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {v!r}")
    return int(v)


def validate(cfg):
    """Check a configuration dict (the keys of `python -m gaugenet flow`); returns the theory."""
    theory = make_theory(cfg["theory"], beta=cfg["beta"], lam=cfg["lam"])
    L = _positive_int("the lattice extent L", cfg["L"], 2)
    if L % 2:
        raise ValueError(f"the checkerboard masks of the coupling layers need an even lattice extent, got L = {L}")
    _positive_int("the number of coupling layers (layers)", cfg["layers"])
    _positive_int("hidden channels", cfg["hidden"])
    k = _positive_int("the kernel size", cfg["kernel"])
    if k % 2 == 0:
        raise ValueError(f"the kernel size must be odd (a centred stencil), got {k}")
    _positive_int("the CNN depth (convolutions per network)", cfg["depth"])
    _positive_int("training steps", cfg["steps"], 0)
    _positive_int("the batch size", cfg["batch"])
    _positive_int("samples", cfg["samples"], 10)
    _positive_int("reference sweeps (ref_sweeps)", cfg["ref_sweeps"], 10)
    _positive_int("reference thermalisation sweeps (ref_therm)", cfg["ref_therm"], 0)
    if not cfg["lr"] > 0:
        raise ValueError(f"the learning rate must be positive, got {cfg['lr']}")
    if not cfg["ref_delta"] > 0:
        raise ValueError(f"the reference step size ref_delta must be positive, got {cfg['ref_delta']}")
    if not cfg["scales"]:
        raise ValueError("scales: give at least one lattice multiple (e.g. 1,2)")
    for s in cfg["scales"]:
        _positive_int("every scale (a multiple of L)", s)
    return theory


def _flow_measurements(flow, weights, theory, shape, n, chunk, rng):
    """ESS, acceptance and chain observables from n independent model samples on `shape`."""
    t0 = time.perf_counter()
    logw = np.empty(n)
    prims = {"m": [], "abs_m": [], "m2": [], "g": []}
    done = 0
    while done < n:
        b = min(chunk, n - done)
        phi, logq, _ = flow.sample(weights, b, shape, rng)
        logw[done:done + b] = -theory.action(phi) - logq
        for k, v in primary_series(phi).items():
            prims[k].append(v)
        done += b
    prims = {k: np.concatenate(v) for k, v in prims.items()}
    e, de = ess_with_error(logw)
    idx, acc = independence_metropolis(logw, rng)
    chain = {k: v[idx] for k, v in prims.items()}
    obs = measure_chain(chain, shape)
    rw_abs = reweight(prims["abs_m"], logw)
    rw_m2 = reweight(prims["m2"], logw)
    return {"ess": e, "ess_err": de, "acceptance": acc, "samples": n,
            "observables": obs,
            "reweighted": {"abs_m": {"value": rw_abs[0], "error": rw_abs[1]},
                           "m2": {"value": rw_m2[0], "error": rw_m2[1]}},
            "seconds": time.perf_counter() - t0}


def _reference(theory, shape, cfg, seed):
    t0 = time.perf_counter()
    mc = LocalMetropolis(theory, shape, delta=cfg["ref_delta"], hits=1, chains=1, seed=seed, start="hot")
    cfgs = mc.run(cfg["ref_sweeps"], therm=cfg["ref_therm"])[:, 0]
    return {"algorithm": "local Metropolis (checkerboard sweeps)", "sweeps": cfg["ref_sweeps"],
            "therm": cfg["ref_therm"], "delta": cfg["ref_delta"], "acceptance": mc.acceptance,
            "observables": measure_chain(primary_series(cfgs), shape), "seconds": time.perf_counter() - t0}


def _agreement(flow_obs, ref_obs):
    """(difference / combined error) of |M|/V, chi and every G(t)."""
    out = {}
    for k in ("abs_m", "chi"):
        a, b = flow_obs[k], ref_obs[k]
        out[k] = (a["value"] - b["value"]) / max(math.hypot(a["error"], b["error"]), 1e-300)
    out["G"] = [(a["value"] - b["value"]) / max(math.hypot(a["error"], b["error"]), 1e-300)
                for a, b in zip(flow_obs["G"], ref_obs["G"])]
    out["max_abs"] = float(max([abs(out["abs_m"]), abs(out["chi"])] + [abs(x) for x in out["G"]]))
    return out


def _hmc_comparison(flow, weights, theory, L, hc, seed, log=None):
    """Flow HMC with the trained flow and, with hc["compare"], plain HMC of phi^4 on L x L (gaugenet.flows.phi4_hmc),
    hc["batch"] chains each, both from phi = f(z) of the same prior draws z. Returns the summary keys of
    docs/flows.md ("The scalar flow HMC")."""
    from .phi4_hmc import FlowedPhi4Action, PlainPhi4Action, run_hmc

    rng = np.random.default_rng(seed + 104729)
    z0 = rng.standard_normal((hc["batch"], L, L))

    def progress(name, total):
        def cb(k, acc):
            if log and (k + 1) % max(total // 10, 1) == 0:
                log.info("%s trajectory %d/%d: acceptance %.3f", name, k + 1, total, float(np.mean(acc)))
        return cb

    fa = FlowedPhi4Action(flow, weights, theory)
    fs, _ = run_hmc(fa, z0, hc["trajectories"], hc["therm"], hc["steps"], hc["tau"], hc["integrator"],
                    seed=seed + 3, callback=progress("flow HMC", hc["therm"] + hc["trajectories"]))
    out = {"flow_hmc": fs, "flow_hmc_acceptance": fs["acceptance"], "tau_int_M": fs["tau_int_M"],
           "tau_int_M_err": fs["tau_int_M_err"]}
    if hc["compare"]:
        ps, _ = run_hmc(PlainPhi4Action(theory), fa.to_phi(z0), hc["plain_trajectories"], hc["therm"],
                        hc["plain_steps"], hc["tau"], hc["integrator"], seed=seed + 3,
                        callback=progress("plain HMC", hc["therm"] + hc["plain_trajectories"]))
        out.update({"hmc": ps, "hmc_acceptance": ps["acceptance"], "hmc_tau_int_M": ps["tau_int_M"],
                    "hmc_tau_int_M_err": ps["tau_int_M_err"],
                    "tau_int_ratio": fs["tau_int_M"] / ps["tau_int_M"],
                    "cost_ratio": fs["seconds_per_trajectory"] / ps["seconds_per_trajectory"],
                    "abs_m_difference_sigma": (fs["abs_m"] - ps["abs_m"]) / max(math.hypot(fs["abs_m_err"],
                                                                                            ps["abs_m_err"]), 1e-300),
                    "chi_difference_sigma": (fs["chi"] - ps["chi"]) / max(math.hypot(fs["chi_err"], ps["chi_err"]),
                                                                          1e-300)})
    if log:
        msg = (f"flow HMC ({fs['chains']} chains x {fs['trajectories']} trajectories, {fs['steps']} "
               f"{fs['integrator']} steps): acceptance {fs['acceptance']:.3f}, |M|/V {fs['abs_m']:.5f}"
               f"({fs['abs_m_err']:.5f}), chi {fs['chi']:.4f}({fs['chi_err']:.4f}), tau_int M "
               f"{fs['tau_int_M']:.2f}({fs['tau_int_M_err']:.2f}), {fs['seconds_per_trajectory']:.4f} s/trajectory")
        if "hmc" in out:
            ps = out["hmc"]
            msg += (f"; plain HMC: acceptance {ps['acceptance']:.3f}, |M|/V {ps['abs_m']:.5f}({ps['abs_m_err']:.5f}),"
                    f" chi {ps['chi']:.4f}({ps['chi_err']:.4f}), tau_int M {ps['tau_int_M']:.2f}"
                    f"({ps['tau_int_M_err']:.2f}), {ps['seconds_per_trajectory']:.4f} s/trajectory")
        log.info(msg)
    return out


def run_experiment(cfg, log=None, model=None):
    """Train (or continue training `model` = (flow, weights)) and measure; returns (the JSON summary of
    docs/flows.md, flow, weights)."""
    theory = validate(cfg)
    L = int(cfg["L"])
    rng = np.random.default_rng(cfg["seed"])
    if model is None:
        flow = Flow(cfg["layers"], cfg["hidden"], cfg["kernel"], cfg["depth"], cfg.get("z2", False))
        weights = flow.weights(seed=cfg["seed"])
    else:
        flow, weights = model
    if log:
        log.info("phi4 flow: beta %.4g, lambda %.4g (kappa %.4g), L = %d, %d coupling layers, CNN %d x %d "
                 "(%d hidden channels, depth %d): %d parameters", theory.beta, theory.lam, theory.kappa, L,
                 flow.n_layers, flow.kernel, flow.kernel, flow.hidden, flow.depth,
                 flow.n_parameters)
    hist = train(flow, theory, weights, (L, L), cfg["steps"], cfg["batch"], rng, lr=cfg["lr"],
                 log_every=max(cfg["steps"] // 10, 1), log=log)
    tail = max(1, min(100, hist["steps"] // 10))
    summary = {
        "theory": theory.name, "beta": theory.beta, "lambda": theory.lam, "kappa": theory.kappa,
        "lattice": [L, L], "n_parameters": int(flow.n_parameters),
        "architecture": {"coupling_layers": flow.n_layers, "hidden": flow.hidden, "kernel": flow.kernel,
                         "depth": flow.depth, "z2_equivariant": flow.z2, "masks": "checkerboard, alternating parity",
                         "prior": "standard normal"},
        "training": {"steps": hist["steps"], "batch": cfg["batch"], "lr": cfg["lr"],
                     "final_kl_cost": float(np.mean(hist["cost"][-tail:])) if hist["steps"] else None,
                     "final_batch_ess": float(np.mean(hist["ess"][-tail:])) if hist["steps"] else None},
        "training_seconds": hist["seconds"],
        "pretrained": model is not None,
    }
    applied = []
    for s in cfg["scales"]:
        Ls = L * int(s)
        shape = (Ls, Ls)
        fm = _flow_measurements(flow, weights, theory, shape, cfg["samples"], cfg["chunk"], rng)
        ref = _reference(theory, shape, cfg, seed=cfg["seed"] + 7919 * int(s))
        rec = {"lattice": [Ls, Ls], "scale": int(s), "ess": fm["ess"], "ess_err": fm["ess_err"],
               "acceptance": fm["acceptance"], "flow": fm, "reference": ref,
               "agreement_sigma": _agreement(fm["observables"], ref["observables"])}
        applied.append(rec)
        if log:
            fo, ro = fm["observables"], ref["observables"]
            log.info("L = %d: ESS %.4g(%.2g), independence Metropolis acceptance %.4g; |M|/V flow %.5f(%.5f) "
                     "tau %.2f, reference %.5f(%.5f) tau %.2f; chi flow %.4f(%.4f), reference %.4f(%.4f)", Ls,
                     fm["ess"], fm["ess_err"], fm["acceptance"], fo["abs_m"]["value"], fo["abs_m"]["error"],
                     fo["abs_m"]["tau_int"], ro["abs_m"]["value"], ro["abs_m"]["error"], ro["abs_m"]["tau_int"],
                     fo["chi"]["value"], fo["chi"]["error"], ro["chi"]["value"], ro["chi"]["error"])
    first = next((a for a in applied if a["scale"] == 1), applied[0])
    summary.update({"ess": first["ess"], "ess_err": first["ess_err"], "acceptance": first["acceptance"],
                    "observables": {"flow": first["flow"]["observables"],
                                    "reference": first["reference"]["observables"]},
                    "applied": applied})
    hc = cfg.get("hmc")
    if hc and hc["trajectories"] > 0:
        summary.update(_hmc_comparison(flow, weights, theory, L, hc, cfg["seed"], log))
    if L in SEED_TABLE and abs(SEED_TABLE[L][0] - theory.beta) < 1e-9:
        summary["seed_table"] = {"L": L, "beta": SEED_TABLE[L][0], "acceptance_L": SEED_TABLE[L][1],
                                 "acceptance_2L": SEED_TABLE[L][2]}
    return summary, flow, weights
