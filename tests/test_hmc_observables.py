"""Per-trajectory observables of the HMC chain (gaugenet.hmc.observables): Polyakov loops in every direction
against numpy on the global array, gauge invariance, the Z2-noise condensate against a dense trace of an
independent numpy staggered matrix, the production summary's JSON keys, bitwise-equal records after a resume,
and the same records on 1, 2 and 4 ranks."""
import json
import os

import numpy as np
import pytest
from mpi4py import MPI

import gaugenet as gn
from gaugenet.hmc import HMC, SLHMC
from gaugenet.hmc.observables import (Measurements, chiral_condensate, condensate_estimate, production_summary,
                                      summary_table, z2_noise)
from gaugenet.operators.staggered import Staggered

from conftest import NRANKS, grids, random_su_global

DIMS = (4, 4, 4, 8)
SMALL = (4, 4, 4, 4)


def _dag(a):
    return np.conj(np.swapaxes(a, -1, -2))


def _near_unit(dims, N, seed, eps=0.5):
    """Global SU(N) links near the identity (loops far from zero), numpy, identical on every rank."""
    u = random_su_global(dims, N, seed)
    u = np.linalg.qr(np.eye(N) + eps * u)[0]
    return u / (np.linalg.det(u) ** (1.0 / N))[..., None, None]


def _np_polyakov(u, mu):
    """tr prod_k U_mu(x + k mu) summed over the orthogonal 3-volume / (V_3 N), from the global array."""
    a = np.moveaxis(u[mu], 3 - mu, 0)             # direction mu first
    P = a[0]
    for k in range(1, a.shape[0]):
        P = P @ a[k]
    N = u.shape[-1]
    return np.trace(P, axis1=-2, axis2=-1).sum() / (P[..., 0, 0].size * N)


@pytest.mark.mpi
@pytest.mark.parametrize("N", [2, 3])
def test_polyakov_loop_every_direction_matches_numpy(N):
    u = _near_unit(DIMS, N, 40 + N)
    ref = [_np_polyakov(u, mu) for mu in range(4)]
    assert min(abs(r) for r in ref) > 1e-2
    assert len({round(abs(r), 8) for r in ref}) == 4                # four different numbers: no mix-up of axes
    for grid in grids(DIMS):
        lat = gn.Lattice(DIMS, mpi=grid)
        U = gn.GaugeField.from_numpy(lat, u)
        for mu in range(4):
            L = gn.polyakov_loop(U, mu)
            assert abs(L - ref[mu]) < 1e-12 * abs(ref[mu]), (grid, mu, L, ref[mu])
        assert gn.polyakov_loop(U) == gn.polyakov_loop(U, 3)
        rec = Measurements(0.3, 1, condensate_vectors=0)(U, 0)
        for mu, d in enumerate("xyzt"):
            assert abs(rec[f"polyakov_loop_{d}"] - N * ref[mu].real) < 1e-12
            assert abs(rec[f"polyakov_loop_{d}_im"] - N * ref[mu].imag) < 1e-12
            assert abs(rec[f"polyakov_loop_{d}_per_colour"] - ref[mu].real) < 1e-12
    lat = gn.Lattice(DIMS)
    with pytest.raises(ValueError, match="direction mu"):
        gn.polyakov_loop(gn.GaugeField.unit(lat, N), 4)


# ------------------------------------------------------------------ dense staggered operator (independent numpy)
def _eta(dims):
    Lx, Ly, Lz, Lt = dims
    t, z, y, x = np.meshgrid(np.arange(Lt), np.arange(Lz), np.arange(Ly), np.arange(Lx), indexing="ij")
    return np.stack([np.ones_like(x), (-1) ** x, (-1) ** (x + y), (-1) ** (x + y + z)]).astype(float)


def _dense_staggered(u, mass):
    """D as a (V N, V N) matrix from the formula of shared/CONVENTIONS.md, antiperiodic in t, on the global
    array u[mu, t, z, y, x, a, b]; index (site, colour), site = x + Lx (y + Ly (z + Lz t))."""
    N = u.shape[-1]
    Lt, Lz, Ly, Lx = u.shape[1:5]
    dims = (Lx, Ly, Lz, Lt)
    V = Lx * Ly * Lz * Lt
    eta = _eta(dims)
    D = mass * np.eye(V * N, dtype=complex)
    for t in range(Lt):
        for z in range(Lz):
            for y in range(Ly):
                for x in range(Lx):
                    c = [x, y, z, t]
                    s = x + Lx * (y + Ly * (z + Lz * t))
                    for mu in range(4):
                        f = list(c)
                        f[mu] = (c[mu] + 1) % dims[mu]
                        b = list(c)
                        b[mu] = (c[mu] - 1) % dims[mu]
                        sf = f[0] + Lx * (f[1] + Ly * (f[2] + Lz * f[3]))
                        sb = b[0] + Lx * (b[1] + Ly * (b[2] + Lz * b[3]))
                        bf = -1.0 if (mu == 3 and c[3] == Lt - 1) else 1.0      # antiperiodic time boundary
                        bb = -1.0 if (mu == 3 and c[3] == 0) else 1.0
                        e = 0.5 * eta[mu, t, z, y, x]
                        D[s * N:(s + 1) * N, sf * N:(sf + 1) * N] += e * bf * u[mu, t, z, y, x]
                        ub = u[mu, b[3], b[2], b[1], b[0]]
                        D[s * N:(s + 1) * N, sb * N:(sb + 1) * N] -= e * bb * _dag(ub)
    return D


def _global_noise(lat, N, seed, traj, k):
    return z2_noise(lat, N, seed, traj, k).to_numpy().reshape(-1)


def test_condensate_estimator_against_dense_trace():
    """Each noise vector's estimate is Re eta^dag D^{-1} eta / V of the dense matrix; the mean over many
    vectors agrees with the exact Re tr D^{-1} / V within its statistical error; the noise is +-1 and fixed
    by (seed, traj, k) only."""
    dims, N, m = SMALL, 2, 0.3
    u = _near_unit(dims, N, 5, eps=1.0)
    lat = gn.Lattice(dims, mpi=(1, 1, 1, 1), comm=MPI.COMM_SELF)
    U = gn.GaugeField.from_numpy(lat, u)
    Dd = _dense_staggered(u, m)
    # the operator of the package and the dense one agree
    chi = gn.StaggeredField.random(lat, N, seed=3)
    assert np.abs(Staggered(U, m)(chi).to_numpy().reshape(-1) - Dd @ chi.to_numpy().reshape(-1)).max() < 1e-12
    Dinv = np.linalg.inv(Dd)
    V = lat.global_volume
    exact = np.trace(Dinv).real / V
    assert abs(np.trace(Dinv).imag) < 1e-10 * abs(np.trace(Dinv))
    D = Staggered(U, m)
    for k in range(3):
        eta = _global_noise(lat, N, 11, 7, k)
        assert set(np.unique(eta)) == {-1.0, 1.0}
        e, _ = condensate_estimate(D, z2_noise(lat, N, 11, 7, k), tol=1e-13)
        assert abs(e - (eta.conj() @ Dinv @ eta).real / V) < 1e-11
    n = 200
    mean, est, iters = chiral_condensate(U, m, n, 11, 7, tol=1e-9)
    assert len(est) == n and iters > 0
    sigma = np.std(est, ddof=1) / np.sqrt(n)
    assert abs(mean - exact) < 4 * sigma, (mean, exact, sigma)
    assert sigma < 0.05 * exact                                   # the test has teeth: 4 sigma is a few percent
    # vector k does not depend on how many vectors are taken, and different trajectories use different noise
    assert chiral_condensate(U, m, 2, 11, 7, tol=1e-9)[1] == pytest.approx(est[:2], abs=1e-12)
    assert not np.array_equal(_global_noise(lat, N, 11, 8, 0), _global_noise(lat, N, 11, 7, 0))


@pytest.mark.mpi
def test_observables_gauge_invariant():
    """Plaquette and Polyakov loops exactly; the condensate's exact trace exactly and its noisy estimate in
    distribution (the same Z2 vectors are not gauge-covariant, so per vector it changes)."""
    dims, N, m = SMALL, 2, 0.3
    u = _near_unit(dims, N, 9, eps=0.8)
    lat = gn.Lattice(dims)
    U = gn.GaugeField.from_numpy(lat, u)
    om = gn.ColorMatrixField.random_su(lat, N, seed=93)
    Ug = U.transform(om)
    meas = Measurements(m, 2, condensate_vectors=16, tol=1e-10)
    a, b = meas(U, 3), meas(Ug, 3)
    for key in ["plaquette"] + [f"polyakov_loop_{d}{s}" for d in "xyzt" for s in ("", "_im", "_per_colour")]:
        assert abs(a[key] - b[key]) < 1e-12, key
    err = np.hypot(a["chiral_condensate_vector_std"], b["chiral_condensate_vector_std"]) / np.sqrt(16)
    assert abs(a["chiral_condensate"] - b["chiral_condensate"]) < 4 * err
    if NRANKS == 1:
        ug = Ug.to_numpy()
        t0 = np.trace(np.linalg.inv(_dense_staggered(u, m))).real
        t1 = np.trace(np.linalg.inv(_dense_staggered(ug, m))).real
        assert abs(t0 - t1) < 1e-10 * abs(t0)


# ------------------------------------------------------------------ summary
def test_production_summary_keys_and_values():
    rng = np.random.default_rng(1)
    n = 200
    recs = []
    for i in range(n):
        r = {"traj": i, "accepted": bool(i % 3), "seconds": 0.5, "dH": 0.1, "exp_mdH": 0.9, "cg_iterations": 10,
             "plaquette": 0.7 + 0.01 * rng.standard_normal(), "chiral_condensate": 0.4 + 0.02 * rng.standard_normal(),
             "measure_seconds": 0.1}
        for d in "xyzt":
            r[f"polyakov_loop_{d}"] = (1.0 if d == "t" else -0.5) + 0.1 * rng.standard_normal()
            r[f"polyakov_loop_{d}_im"] = 0.0
        recs.append(r)
    s = production_summary(recs, "hmc")
    for k in ("algorithm", "trajectories", "acceptance", "plaquette", "plaquette_err", "polyakov_loop_t",
              "polyakov_loop_t_err", "polyakov_loop_s", "polyakov_loop_s_err", "chiral_condensate",
              "chiral_condensate_err", "tau_int_plaquette", "seconds_per_trajectory",
              "seconds_per_independent_sample", "network"):
        assert k in s, k
    assert s["network"] is None and s["trajectories"] == n
    assert s["acceptance"] == pytest.approx(np.mean([r["accepted"] for r in recs]))
    ps = np.mean([(r["polyakov_loop_x"] + r["polyakov_loop_y"] + r["polyakov_loop_z"]) / 3 for r in recs])
    assert s["polyakov_loop_s"] == pytest.approx(ps, abs=1e-14)
    assert s["polyakov_loop_s_abs"] == pytest.approx(-ps, abs=1e-14)          # all spatial loops negative here
    assert s["plaquette_err"] == pytest.approx(0.01 / np.sqrt(n), rel=0.25)    # independent data
    assert s["seconds_per_independent_sample"] == pytest.approx(0.5 * 2 * s["tau_int_plaquette"])
    lines = summary_table(s)
    assert any(line.split()[0] == "chiral_condensate" for line in lines[2:])
    # too few trajectories: values but no errors; none at all: nulls
    assert production_summary(recs[:5], "hmc")["plaquette_err"] is None
    assert production_summary([], "slhmc", "stout")["plaquette"] is None


# ------------------------------------------------------------------ the command: JSON, records, resume
def _records(path):
    with open(path) as f:
        return [json.loads(line) for line in f]


def _strip(recs):
    return [{k: v for k, v in r.items() if k not in ("seconds", "measure_seconds")} for r in recs]


CMD = ["hmc", "--steps", "3", "--seed", "5", "--therm", "1", "--mass", "0.6", "--condensate-vectors", "2"]


@pytest.mark.skipif(NRANKS > 1, reason="runs the command in-process")
def test_command_json_and_records(tmp_path, capsys):
    from gaugenet.cli.hmc import read_log
    from gaugenet.cli.main import main
    out = tmp_path / "run"
    js = tmp_path / "summary.json"
    assert main(CMD + ["--start", "hot", "--trajectories", "12", "--out", str(out), "--json", str(js)]) == 0
    s = json.load(open(js))
    for k in ("algorithm", "trajectories", "acceptance", "plaquette", "plaquette_err", "polyakov_loop_t",
              "polyakov_loop_t_err", "polyakov_loop_s", "polyakov_loop_s_err", "chiral_condensate",
              "chiral_condensate_err", "tau_int_plaquette", "seconds_per_trajectory",
              "seconds_per_independent_sample", "network"):
        assert k in s and (s[k] is not None or k == "network"), k
    assert s["algorithm"] == "hmc" and s["trajectories"] == 12
    recs = _records(out / "hmc.jsonl")
    assert [r["traj"] for r in recs] == list(range(13)) and recs[0]["phase"] == "therm"
    prod = [r for r in recs if r["phase"] == "prod"]
    assert s["plaquette"] == pytest.approx(np.mean([r["plaquette"] for r in prod]), abs=1e-15)
    assert s["polyakov_loop_t"] == pytest.approx(np.mean([r["polyakov_loop_t"] for r in prod]), abs=1e-15)
    # the log carries the same numbers in its new columns
    log = read_log(out / "hmc.log")
    for a, b in zip(log, recs):
        assert a["plaquette"] == pytest.approx(b["plaquette"], abs=1e-15)
        assert a["polyakov_loop_x"] == pytest.approx(b["polyakov_loop_x"], abs=1e-14)
        assert a["chiral_condensate"] == pytest.approx(b["chiral_condensate"], abs=1e-14)
    assert "production summary: hmc" in capsys.readouterr().out
    assert json.load(open(out / "hmc.json"))["summary"]["production"] == s


@pytest.mark.skipif(NRANKS > 1, reason="runs the command in-process")
def test_resume_gives_bitwise_equal_records(tmp_path):
    from gaugenet.cli.main import main
    cmd = CMD + ["--algorithm", "slhmc", "--train", "2", "--m-h", "0.7", "--rho", "0.01,-0.02,0.01,0.0,-0.01,0.02"]
    full = tmp_path / "full"
    assert main(cmd + ["--trajectories", "3", "--out", str(full)]) == 0
    ref = _strip(_records(full / "hmc.jsonl"))
    assert [r["phase"] for r in ref] == ["therm"] + ["train"] * 2 + ["prod"] * 3
    assert all("rho" in r for r in ref if r["phase"] == "train")
    part = tmp_path / "part"
    assert main(cmd + ["--trajectories", "1", "--out", str(part)]) == 0
    with open(part / "hmc.jsonl", "a") as f:          # a record written after the last checkpoint (crash): redone
        f.write(json.dumps(dict(_records(part / "hmc.jsonl")[-1], traj=4)) + "\n")
    st = json.load(open(part / "hmc.json"))
    assert st["checkpoint"]["done"] == 4
    assert main(cmd + ["--trajectories", "3", "--out", str(part)]) == 0
    assert _strip(_records(part / "hmc.jsonl")) == ref                     # exactly equal, float by float
    assert main(cmd + ["--trajectories", "3", "--condensate-vectors", "3", "--out", str(part)]) == 1


def test_bad_condensate_arguments(tmp_path, capsys):
    if NRANKS > 1:
        pytest.skip("runs the command in-process")
    from gaugenet.cli.main import main
    assert main(CMD[:-2] + ["--condensate-vectors", "-1", "--out", str(tmp_path / "x")]) == 1
    assert "--condensate-vectors must be 0..1000" in capsys.readouterr().err
    assert main(CMD + ["--json", str(tmp_path / "nodir" / "s.json"), "--out", str(tmp_path / "y")]) == 1
    assert "its directory does not exist" in capsys.readouterr().err
    with pytest.raises(ValueError, match="condensate_vectors"):
        Measurements(0.3, 0, condensate_vectors=1.5)
    with pytest.raises(ValueError, match="noise vectors"):
        chiral_condensate(gn.GaugeField.unit(gn.Lattice(SMALL, mpi=(1, 1, 1, 1), comm=MPI.COMM_SELF), 2), 0.3, 0, 1, 1)


# ------------------------------------------------------------------ process grids
def _chain(lat, algorithm):
    U = gn.GaugeField.from_numpy(lat, _near_unit(SMALL, 2, 17, eps=0.6))
    kw = dict(n_steps=2, integrator="leapfrog", seed=31, cg_tol=1e-12)
    s = HMC(2.7, 1.0, **kw) if algorithm == "hmc" else SLHMC(2.7, 1.0, 1.2, rho=[0.02, -0.04, 0.03, -0.01, 0.05, 0.02],
                                                               **kw)
    s.measurements = Measurements(1.0, 31, condensate_vectors=1, tol=1e-12)
    recs = []
    for t in range(1):
        U, rec = s.trajectory(U, t)
        recs.append(rec.as_dict())
    return recs


@pytest.mark.mpi
@pytest.mark.parametrize("algorithm", ["hmc", "slhmc"])
def test_same_records_on_every_grid(algorithm):
    ref = _chain(gn.Lattice(SMALL, mpi=(1, 1, 1, 1), comm=MPI.COMM_SELF), algorithm)
    keys = [k for k in ref[0] if k not in ("seconds", "measure_seconds")]
    assert "chiral_condensate" in keys and "polyakov_loop_z" in keys
    for grid in grids(SMALL):
        recs = _chain(gn.Lattice(SMALL, mpi=grid), algorithm)
        for a, b in zip(recs, ref):
            assert a["accepted"] == b["accepted"]
            for k in keys:
                assert abs(a[k] - b[k]) <= 1e-10 * max(1.0, abs(b[k])), (grid, k, a[k], b[k])
