"""Per-trajectory measurements of an HMC chain and their production summary (shared/CONVENTIONS.md,
"Gauge action, observables" and "Staggered operator").

Every trajectory of a chain records (`Measurements.__call__`, a flat dict of floats):

- `plaquette`: P = sum_{x, mu<nu} Re tr U_munu(x) / (6 V N) (1 on the unit field);
- `polyakov_loop_<d>` for d = x, y, z, t: the real part of the UNDIVIDED trace of the straight line that
  wraps direction d, averaged over the 3-volume orthogonal to d, Re sum tr prod U_d / V_3 (N on the unit
  field; the seed-002 normalisation); `polyakov_loop_<d>_per_colour` is the same divided by N (1 on the unit
  field; gaugenet.gauge.polyakov_loop); `polyakov_loop_<d>_im` the imaginary part of the undivided trace
  (zero for SU(2));
- `chiral_condensate`: (Nf / 4) (1 / V) Re tr D^{-1} with Nf = 4 (one staggered field, no rooting), the trace
  over sites and colour, D the staggered operator of the TARGET action (mass m, antiperiodic in time),
  estimated with `n_vectors` real Z2 noise vectors eta (entries +-1 on every site and colour):

      Re eta^dag D^{-1} eta = m eta^dag (D^dag D)^{-1} eta       (exactly, for every real or complex eta)

  because D^{-1} = (D^dag D)^{-1} (m - D_hop) and (D^dag D)^{-1} D_hop is anti-hermitian (D_hop is, and
  commutes with D^dag D = m^2 - D_hop^2), so eta^dag (D^dag D)^{-1} D_hop eta is imaginary. D^dag D is
  even-odd block diagonal: one CG on the even and one on the odd half lattice per vector. The expectation over
  Z2 noise is (1 / V) Re tr D^{-1} exactly; the record is the mean over the vectors (`chiral_condensate`),
  with the spread of the vectors (`chiral_condensate_vector_std`).

The noise comes from the counter-based generator keyed by the global site (gaugenet.lattice.rng) with the
chain's seed and the stream (traj << 8) + streams.CONDENSATE; vector k uses counters (k V + site) N + colour.
So the measurement of a trajectory is the same on any process grid, on resume, and vector k does not depend
on how many vectors are taken.

`production_summary(records, ...)` computes the means with Gamma-method errors (hmc/autocorr.py: Wolff's
automatic windowing, S = 1.5) and tau_int of every observable over the production trajectories; its keys
are listed in docs/hmc.md ("Observables").
"""
import math

import numpy as np

from ..fields import StaggeredField
from ..gauge.observables import plaquette, polyakov_loop
from ..lattice import rng
from ..solvers.cg import cg
from . import streams
from .autocorr import tau_int
from .fermion_force import ANTIPERIODIC_T

DIRECTIONS = "xyzt"


def z2_noise(lat, N, seed, traj, k):
    """Real Z2 noise vector k of trajectory traj (+-1 on every site and colour) as a StaggeredField."""
    g = lat.global_index().astype(np.uint64)
    with np.errstate(over="ignore"):                             # counters (k V + site) N + colour
        c = (np.uint64(k) * np.uint64(lat.global_volume) + g[:, None]) * np.uint64(N) + np.arange(N, dtype=np.uint64)
    bits = rng.uniform_bits(seed, streams.stream(traj, streams.CONDENSATE), c)
    sign = 1.0 - 2.0 * (bits >> np.uint64(63)).astype(np.float64)
    return StaggeredField(lat, sign.reshape(lat.local_shape + (N,)).astype(lat.complex_dtype))


def condensate_estimate(D, eta, tol=1e-10, maxiter=5000):
    """(m eta^dag (D^dag D)^{-1} eta / V, CG iterations) for one noise vector: one CG per parity.
    Equals Re eta^dag D^{-1} eta / V (module docstring)."""
    total = 0.0
    iters = 0
    for parity in (0, 1):
        b = D.restrict(eta, parity)
        res = cg(lambda x, p=parity: D.DdagD_even(x, parity=p), b, tol=tol, maxiter=maxiter)
        iters += res.iterations
        total += float(b.inner(res.x).real)
    return D.mass * total / D.lat.global_volume, iters


def chiral_condensate(U, mass, n_vectors, seed, traj, tol=1e-10, maxiter=5000, boundary_phases=ANTIPERIODIC_T,
                      nf=4):
    """(mean, per-vector estimates, CG iterations): the noisy estimate of (Nf/4)(1/V) Re tr D^{-1}[U; m]
    with vectors 0 .. n_vectors-1 of trajectory traj (module docstring)."""
    from ..operators.staggered import Staggered
    if int(n_vectors) != n_vectors or n_vectors < 1:
        raise ValueError(f"chiral condensate: the number of noise vectors must be a positive integer, got {n_vectors}")
    D = Staggered(U, mass, boundary_phases=boundary_phases)
    est, iters = [], 0
    for k in range(int(n_vectors)):
        e, it = condensate_estimate(D, z2_noise(U.lat, U.N, seed, traj, k), tol=tol, maxiter=maxiter)
        est.append(nf / 4.0 * e)
        iters += it
    return float(np.mean(est)), est, iters


def polyakov_records(U):
    """The Polyakov-loop entries of a trajectory record (module docstring)."""
    out = {}
    for mu, d in enumerate(DIRECTIONS):
        L = polyakov_loop(U, mu) * U.N                       # undivided trace, averaged over the 3-volume
        out[f"polyakov_loop_{d}"] = float(L.real)
        out[f"polyakov_loop_{d}_im"] = float(L.imag)
        out[f"polyakov_loop_{d}_per_colour"] = float(L.real) / U.N
    return out


class Measurements:
    """The per-trajectory measurements of a chain whose target action has staggered mass `mass`.

    condensate_vectors: Z2 noise vectors per trajectory (0: no condensate); tol / maxiter: its CG."""

    def __init__(self, mass, seed, condensate_vectors=4, tol=1e-10, maxiter=5000, boundary_phases=ANTIPERIODIC_T):
        if int(condensate_vectors) != condensate_vectors or condensate_vectors < 0:
            raise ValueError(f"measurements: condensate_vectors must be an integer >= 0, got {condensate_vectors}")
        mass = float(mass)
        if not (math.isfinite(mass) and mass > 0):
            raise ValueError(f"measurements: the staggered mass must be positive and finite, got {mass}")
        self.mass, self.seed = mass, int(seed)
        self.vectors = int(condensate_vectors)
        self.tol, self.maxiter = float(tol), int(maxiter)
        self.boundary_phases = tuple(boundary_phases)

    def __call__(self, U, traj):
        rec = {"plaquette": plaquette(U)}
        rec.update(polyakov_records(U))
        if self.vectors:
            pbp, est, iters = chiral_condensate(U, self.mass, self.vectors, self.seed, traj, tol=self.tol,
                                                maxiter=self.maxiter, boundary_phases=self.boundary_phases)
            rec["chiral_condensate"] = pbp
            rec["chiral_condensate_vector_std"] = float(np.std(est, ddof=1)) if len(est) > 1 else 0.0
            rec["condensate_cg_iterations"] = int(iters)
        return rec


# ---------------------------------------------------------------------------------------------- summary
def _series(records, key):
    return np.array([r[key] for r in records], dtype=np.float64)


def observable_series(records):
    """name -> per-trajectory series of every summarised observable (derived ones included)."""
    out = {"plaquette": _series(records, "plaquette")}
    if records and "polyakov_loop_t" in records[0]:
        for d in DIRECTIONS:
            out[f"polyakov_loop_{d}"] = _series(records, f"polyakov_loop_{d}")
        out["polyakov_loop_s"] = (out["polyakov_loop_x"] + out["polyakov_loop_y"] + out["polyakov_loop_z"]) / 3.0
        for d in DIRECTIONS:       # |L| of each direction (centre sectors: SU(2) loops may flip sign)
            out[f"polyakov_loop_{d}_abs"] = np.hypot(out[f"polyakov_loop_{d}"], _series(records, f"polyakov_loop_{d}_im"))
        out["polyakov_loop_s_abs"] = (out["polyakov_loop_x_abs"] + out["polyakov_loop_y_abs"]
                                      + out["polyakov_loop_z_abs"]) / 3.0
    if records and all(r.get("chiral_condensate") is not None for r in records):
        out["chiral_condensate"] = _series(records, "chiral_condensate")
    return out


def gamma_summary(series, S=1.5):
    """{value, err, tau_int, tau_int_err, window} of one series (Gamma method; errors None below 10 points)."""
    a = np.asarray(series, dtype=np.float64)
    if a.size == 0:
        return dict(value=None, err=None, tau_int=None, tau_int_err=None, window=None)
    if a.size < 10:
        return dict(value=float(a.mean()), err=None, tau_int=None, tau_int_err=None, window=None)
    r = tau_int(a, S=S)
    return dict(value=r.mean, err=r.error_of_mean, tau_int=r.tau_int, tau_int_err=r.tau_int_error, window=r.window)


def production_summary(records, algorithm, network=None, S=1.5):
    """The production summary of a chain (the `--json` file of `python -m gaugenet hmc`).

    records: the production trajectories' records (dicts with accepted, seconds and the measurements).
    For every observable X: X, X_err (Gamma method), tau_int_X, tau_int_X_err, window_X.
    seconds_per_independent_sample = seconds_per_trajectory x 2 tau_int(plaquette)."""
    out = {"algorithm": algorithm, "network": network, "trajectories": len(records),
           "acceptance": float(np.mean([r["accepted"] for r in records])) if records else None,
           "seconds_per_trajectory": float(np.mean([r["seconds"] for r in records])) if records else None,
           "seconds_per_measurement": (float(np.mean([r.get("measure_seconds", 0.0) for r in records]))
                                       if records else None),
           "mean_exp_mdH": float(np.mean([r["exp_mdH"] for r in records])) if records else None,
           "mean_abs_dH": float(np.mean([abs(r["dH"]) for r in records])) if records else None,
           "cg_iterations_per_trajectory": (float(np.mean([r["cg_iterations"] for r in records]))
                                            if records else None),
           "gamma_S": S}
    for name, s in observable_series(records).items():
        g = gamma_summary(s, S=S)
        out[name] = g["value"]
        out[f"{name}_err"] = g["err"]
        out[f"tau_int_{name}"] = g["tau_int"]
        out[f"tau_int_{name}_err"] = g["tau_int_err"]
        out[f"window_{name}"] = g["window"]
    for key in ("polyakov_loop_t", "polyakov_loop_t_err", "polyakov_loop_s", "polyakov_loop_s_err",
                "chiral_condensate", "chiral_condensate_err", "plaquette", "plaquette_err", "tau_int_plaquette"):
        out.setdefault(key, None)
    tp, spt = out["tau_int_plaquette"], out["seconds_per_trajectory"]
    out["seconds_per_independent_sample"] = spt * 2.0 * tp if (tp is not None and spt is not None) else None
    return out


def _fmt(v, e):
    if v is None:
        return "n/a"
    if e is None or not e > 0:
        return f"{v:.6f}"
    digits = max(0, min(10, 1 - int(math.floor(math.log10(e)))))     # two significant digits of the error
    return f"{v:.{digits}f}({round(e * 10 ** digits):d})"


def summary_table(summary):
    """The production summary as printable lines: observable, value(error), tau_int(error), window."""
    lines = [f"production summary: {summary['algorithm']}"
             + (f" (network {summary['network']})" if summary.get("network") else "")
             + f", {summary['trajectories']} trajectories, acceptance "
             + (f"{summary['acceptance']:.3f}" if summary["acceptance"] is not None else "n/a"),
             f"  {'observable':<26s} {'value(err)':>18s} {'tau_int':>12s} {'W':>4s}"]
    names = ["plaquette"] + [f"polyakov_loop_{d}" for d in DIRECTIONS] + ["polyakov_loop_s"] + \
            [f"polyakov_loop_{d}_abs" for d in DIRECTIONS] + ["polyakov_loop_s_abs", "chiral_condensate"]
    for n in names:
        if summary.get(n) is None:
            continue
        t = summary.get(f"tau_int_{n}")
        lines.append(f"  {n:<26s} {_fmt(summary[n], summary.get(n + '_err')):>18s} "
                     f"{_fmt(t, summary.get(f'tau_int_{n}_err')) if t is not None else 'n/a':>12s} "
                     f"{summary.get(f'window_{n}') if summary.get(f'window_{n}') is not None else '':>4}")
    spt, sis = summary.get("seconds_per_trajectory"), summary.get("seconds_per_independent_sample")
    if spt is not None:
        lines.append(f"  seconds per trajectory {spt:.4f} (measurements {summary.get('seconds_per_measurement', 0):.4f} "
                     f"more), per independent sample (plaquette) " + (f"{sis:.4f}" if sis is not None else "n/a"))
    return lines
