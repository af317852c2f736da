"""SLHMC vs HMC: cost per independent sample on the seed-002 setup (arXiv:2103.11965).

SU(2), 4^4, beta = 2.7, Nf = 4 staggered quarks (m = 0.3, even-site pseudofermion, no rooting),
trajectory length 1, Omelyan 2MN integrator with the same number of steps for both algorithms. SLHMC
integrates S_theta = S_g + S_f[phi, U_theta^NN[U]; m_h = 0.4] with the two-layer stout network
(rho_plaq, rho_poly_t, rho_poly_s per layer), trained online on a prior HMC run, and accepts with the
target Hamiltonian.

Procedure: HMC thermalisation from a cold start; the SLHMC weights are trained (Adam on
L = 1/2 |S_theta - S|^2) on `train` HMC trajectories continuing from there; then the two production
chains (HMC, and SLHMC with the trained weights fixed) start from the same thermalised field and run in
alternating blocks, so that both see the same load on a shared machine. For each chain:

    seconds_per_trajectory            median wall time of a production trajectory (mean also given)
    tau_int_plaquette (+ error)       integrated autocorrelation time of the plaquette (gaugenet.hmc.autocorr,
                                      tau_int = 1/2 for independent data)
    seconds_per_independent_sample    seconds_per_trajectory * 2 tau_int (+ error from tau_int's error)
"""
import time

import numpy as np

from ..util.log import log as _log

SETUP = dict(dims=(4, 4, 4, 4), N=2, beta=2.7, mass=0.3, m_h=0.4, tau=1.0, integrator="omelyan")
FULL = dict(steps=5, therm=50, train=200, lr=3e-3, train_samples=4, trajectories=1000, block=50)
QUICK = dict(steps=5, therm=10, train=30, lr=1e-2, train_samples=4, trajectories=40, block=20)


def _record(kind, recs, setup, cfg, extra):
    from ..hmc.autocorr import tau_int
    sec = np.array([r.seconds for r in recs])
    plaq = np.array([r.plaquette for r in recs])
    a = tau_int(plaq)
    med = float(np.median(sec))
    out = {
        "kernel": f"{kind}_cost_per_sample",
        "algorithm": kind,
        "lattice": "x".join(map(str, setup["dims"])),
        "N": setup["N"], "beta": setup["beta"], "mass": setup["mass"],
        "m_h": setup["m_h"] if kind == "slhmc" else None,
        "integrator": setup["integrator"], "md_steps": cfg["steps"], "trajectory_length": setup["tau"],
        "n_trajectories": len(recs),
        "seconds_per_trajectory": med,
        "seconds_per_trajectory_mean": float(sec.mean()),
        "acceptance": float(np.mean([r.accepted for r in recs])),
        "mean_exp_mdH": float(np.mean([r.exp_mdH for r in recs])),
        "mean_abs_dH": float(np.mean([abs(r.dH) for r in recs])),
        "plaquette": a.mean, "plaquette_error": a.error_of_mean,
        "tau_int_plaquette": a.tau_int, "tau_int_error": a.tau_int_error, "tau_int_window": a.window,
        "seconds_per_independent_sample": med * 2.0 * a.tau_int,
        "seconds_per_independent_sample_error": med * 2.0 * a.tau_int_error,
        "cg_iterations_per_trajectory": float(np.mean([r.cg_iterations for r in recs])),
        "forces_per_trajectory": float(np.mean([r.forces for r in recs])),
    }
    out.update(extra)
    return out


def hmc_vs_slhmc(quick=False, log=None, seed=1, **overrides):
    """Run the comparison (module docstring); returns [hmc record, slhmc record]. quick=True takes < 60 s
    (short chains: the tau_int are then rough). overrides: any key of FULL/QUICK (steps, therm, train, lr,
    train_samples, trajectories, block)."""
    import gaugenet as gn
    from ..hmc import HMC, SLHMC, SLHMCTrainer

    say = log if log is not None else _log.info
    cfg = dict(QUICK if quick else FULL)
    unknown = set(overrides) - set(cfg)
    if unknown:
        raise ValueError(f"hmc_vs_slhmc: unknown settings {sorted(unknown)}; known: {sorted(cfg)}")
    cfg.update(overrides)
    s = SETUP
    lat = gn.Lattice(s["dims"])
    kw = dict(n_steps=cfg["steps"], tau=s["tau"], integrator=s["integrator"], seed=seed)
    hmc = HMC(s["beta"], s["mass"], **kw)
    slhmc = SLHMC(s["beta"], s["mass"], s["m_h"], rho=np.zeros(6), **kw)
    trainer = SLHMCTrainer(slhmc, lr=cfg["lr"], samples=cfg["train_samples"])

    U = gn.GaugeField.unit(lat, s["N"])
    t0 = time.perf_counter()
    for t in range(cfg["therm"]):
        U, _ = hmc.trajectory(U, t)
    say(f"hmc_cost: {cfg['therm']} thermalisation trajectories in {time.perf_counter() - t0:.1f} s, "
        f"plaquette {gn.plaquette(U):.5f}")
    Utherm = U
    t0 = time.perf_counter()
    first = cfg["therm"]
    losses = []
    for t in range(first, first + cfg["train"]):
        U, _ = hmc.trajectory(U, t)
        losses.append(trainer.step(U, t)["loss"])
    train_seconds = time.perf_counter() - t0
    tail = losses[-max(1, len(losses) // 5):] if losses else [float("nan")]
    say(f"hmc_cost: trained the stout weights on {cfg['train']} HMC trajectories in {train_seconds:.1f} s; "
        f"loss (mean of the last fifth) {np.mean(tail):.3g}; rho = {np.round(slhmc.params, 5).tolist()}")

    # production: both chains from the thermalised field, alternating blocks
    Uh = Us = Utherm
    rh, rs = [], []
    start = 1_000_000          # trajectory numbers of the production chains (distinct from the prior run)
    n, block = cfg["trajectories"], max(1, cfg["block"])
    done = 0
    while done < n:
        k = min(block, n - done)
        for t in range(start + done, start + done + k):
            Uh, r = hmc.trajectory(Uh, t)
            rh.append(r)
        for t in range(start + done, start + done + k):
            Us, r = slhmc.trajectory(Us, t)
            rs.append(r)
        done += k
    common = {"therm": cfg["therm"], "seed": seed, "quick": bool(quick)}
    rec_h = _record("hmc", rh, s, cfg, dict(common))
    rec_s = _record("slhmc", rs, s, cfg, dict(common, train_trajectories=cfg["train"], lr=cfg["lr"],
                                               train_samples=cfg["train_samples"], train_seconds=train_seconds,
                                               final_loss=float(np.mean(tail)),
                                               rho=slhmc.params.tolist(),
                                               rho_layers=[dict(zip(("rho_plaq", "rho_poly_t", "rho_poly_s"), r))
                                                           for r in slhmc.params.reshape(-1, 3).tolist()]))
    for r in (rec_h, rec_s):
        say(f"hmc_cost: {r['algorithm']}: {r['n_trajectories']} trajectories, acceptance {r['acceptance']:.3f}, "
            f"{r['seconds_per_trajectory']:.4f} s/traj, tau_int(plaq) {r['tau_int_plaquette']:.2f}"
            f"({r['tau_int_error']:.2f}), {r['seconds_per_independent_sample']:.3f}"
            f"({r['seconds_per_independent_sample_error']:.3f}) s per independent sample, plaquette "
            f"{r['plaquette']:.5f}({r['plaquette_error']:.5f})")
    return [rec_h, rec_s]
