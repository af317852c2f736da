"""Multiple time scales (Sexton-Weingarten nesting, HMC gauge_substeps) and the chronological CG guess:
reversibility to round-off, area preservation through the energy error's step-size scaling, the guess's
effect on reversibility and on the chain, and the same proposal on every process grid (marked mpi)."""
import numpy as np
import pytest

import gaugenet as gn
from gaugenet.gauge.algebra import random_algebra
from gaugenet.gauge.expderiv import expm_su
from gaugenet.hmc import HMC, SLHMC
from gaugenet.hmc.integrators import integrate, integrate_nested
from gaugenet.hmc.momenta import draw_momenta, with_links

DIMS = (4, 4, 4, 4)
BETA, MASS, MH = 2.7, 0.3, 0.4
RHO = [-0.011, -0.04, 0.015, -0.010, -0.038, 0.016]


def _rough(lat, N=2, seed=1, scale=0.6):
    Z = random_algebra(lat, N, seed, lead_shape=(4,)).reshape(4, -1, N, N)
    return with_links(gn.GaugeField.unit(lat, N), expm_su(scale * Z))


def _sampler(algorithm, **kw):
    base = dict(n_steps=4, seed=5, cg_tol=1e-13, action_tol=1e-13)
    base.update(kw)
    sub, chrono = base.pop("gauge_substeps", 1), base.pop("chrono", False)
    if algorithm == "hmc":
        return HMC(BETA, MASS, gauge_substeps=sub, chrono=chrono, **base)
    return SLHMC(BETA, MASS, MH, rho=RHO, **base).configure_md(sub, chrono)


def _forward_backward(s, U0):
    """Integrate the MD of sampler s from (U0, P0), flip the momenta, integrate again."""
    s.fermion.refresh(U0, 5, 77)
    s._share_phi()
    P0 = draw_momenta(U0.lat, U0.N, 5, 78)
    out = []
    for U, P in [(U0, P0)]:
        for _ in range(2):
            for p in s._pseudofermions():
                p.pf.chrono = s.chrono
                p.pf.reset_guess()
            U, P = integrate_nested(U, P, s.md_levels(), s.tau, s.integrator)
            out.append((U, P))
            P = -P
    (U1, _), (U2, P2) = out
    return P0, U1, U2, P2


@pytest.mark.parametrize("algorithm,scheme,chrono", [("hmc", "omelyan", False), ("hmc", "leapfrog", False),
                                                     ("hmc", "omelyan", True), ("slhmc", "omelyan", True)])
def test_nested_integrator_is_reversible(algorithm, scheme, chrono):
    """Forward, momentum flip, forward again returns to the start within 1e-10, also with the chronological
    guess (at the tight MD tolerance 1e-13 that the guess needs; see test_chrono_at_loose_tolerance)."""
    U0 = _rough(gn.Lattice(DIMS))
    s = _sampler(algorithm, integrator=scheme, gauge_substeps=3, chrono=chrono)
    P0, U1, U2, P2 = _forward_backward(s, U0)
    assert np.abs(U1.data - U0.data).max() > 0.1                 # it moved
    assert np.abs(U2.data - U0.data).max() < 1e-10
    assert np.abs(P2 + P0).max() < 1e-10


def test_chrono_at_loose_tolerance_breaks_reversibility_at_that_level():
    """Why the guess needs a tight tolerance: at cg_tol = 1e-8 the path-dependent start leaves an
    irreversibility of the order of the tolerance, far above the zero-start CG's round-off."""
    U0 = _rough(gn.Lattice(DIMS))
    err = {}
    for chrono in (False, True):
        s = _sampler("hmc", cg_tol=1e-8, gauge_substeps=2, chrono=chrono)
        P0, _, U2, _ = _forward_backward(s, U0)
        err[chrono] = np.abs(U2.data - U0.data).max()
    assert err[False] < 1e-11
    assert 1e-11 < err[True] < 1e-5, err


def test_chrono_guess_saves_iterations_and_gives_the_same_trajectory():
    U0 = _rough(gn.Lattice(DIMS), scale=0.3)
    recs = {}
    for chrono in (False, True):
        s = _sampler("hmc", n_steps=6, gauge_substeps=2, chrono=chrono, cg_tol=1e-12, action_tol=1e-12)
        c0 = s._cg_total()
        U1, P1, H0, H1, nf = s.molecular_dynamics(U0, 3)
        recs[chrono] = (U1, H1 - H0, s._cg_total() - c0, nf)
    assert recs[True][3] == recs[False][3] == 13                 # 2n + 1 fermion forces
    assert recs[True][2] < recs[False][2], recs                  # fewer CG iterations with the guess
    assert np.abs(recs[True][0].data - recs[False][0].data).max() < 1e-9
    assert abs(recs[True][1] - recs[False][1]) < 1e-7


def test_one_level_nested_is_the_plain_integrator():
    lat = gn.Lattice(DIMS)
    U0 = _rough(lat)
    s = _sampler("hmc")
    s.fermion.refresh(U0, 5, 77)
    P0 = draw_momenta(lat, 2, 5, 78)
    Ua, Pa = integrate(U0, P0, s.md.force, 3, 1.0, "omelyan")
    Ub, Pb = integrate_nested(U0, P0, [(s.md.force, 3)], 1.0, "omelyan")
    assert np.array_equal(Ua.data, Ub.data) and np.array_equal(Pa, Pb)


def _smooth_dH(n_outer, sub, scheme="leapfrog"):
    """dH of one MD trajectory on a smooth field: two-scale leapfrog with n_outer fermion steps."""
    lat = gn.Lattice(DIMS)
    U0 = _rough(lat, scale=0.15)
    h = HMC(BETA, MASS, n_steps=n_outer, integrator=scheme, seed=3, cg_tol=1e-12, action_tol=1e-13,
            gauge_substeps=sub)
    _, _, H0, H1, nf = h.molecular_dynamics(U0, 0)
    return H1 - H0, nf


def test_nested_energy_error_scales_as_eps_squared():
    """Area preservation and second order: halving every step size divides dH by ~4 (leapfrog, both levels),
    and <exp(-dH)> = 1 follows from area preservation plus reversibility (tested in test_hmc_md for the
    single-scale integrator; the nested map is a composition of the same exact flows)."""
    dH = [_smooth_dH(n, 2)[0] for n in (8, 16, 32)]
    r1, r2 = dH[0] / dH[1], dH[1] / dH[2]
    assert 3.5 < r1 < 4.6 and 3.8 < r2 < 4.2, dH


def test_gauge_substeps_reduce_the_energy_error():
    """The gauge force dominates |dH| here; finer gauge steps at the same number of fermion forces help."""
    d1, n1 = _smooth_dH(4, 1, "omelyan")
    d4, n4 = _smooth_dH(4, 4, "omelyan")
    assert n1 == n4 == 9
    assert abs(d4) < abs(d1), (d1, d4)


def test_nested_integrator_preserves_phase_space_volume():
    """Area preservation checked directly on a 1-dof toy: the Jacobian of the nested map (finite differences)
    has determinant 1 (a map that is reversible but not symplectic would fail)."""
    import gaugenet.hmc.integrators as itg

    def flow(q, p, levels):
        # the same level recursion on a scalar system: drift q += h p, kicks p += h f(q)
        stages = itg._schemes()["omelyan"]

        def level(q, p, lv, tau):
            f, n = lv[0]
            eps = tau / n
            pending = 0.0
            for _ in range(n):
                for kick, drift in stages:
                    pending += kick
                    if drift is None:
                        continue
                    p += pending * eps * f(q)
                    pending = 0.0
                    if lv[1:]:
                        q, p = level(q, p, lv[1:], drift * eps)
                    else:
                        q += drift * eps * p
            p += pending * eps * f(q)
            return q, p
        return level(q, p, levels, 1.0)

    levels = [(lambda q: -np.sin(q), 2), (lambda q: -4.0 * q ** 3, 3)]
    q0, p0, h = 0.7, -0.4, 1e-6
    J = np.empty((2, 2))
    for j, (dq, dp) in enumerate([(h, 0), (0, h)]):
        a = np.array(flow(q0 + dq, p0 + dp, levels))
        b = np.array(flow(q0 - dq, p0 - dp, levels))
        J[:, j] = (a - b) / (2 * h)
    assert abs(np.linalg.det(J) - 1.0) < 1e-7
    # the scalar copy follows the library's recursion: one level reduces to the same scheme
    assert flow(q0, p0, [(lambda q: -q, 1)]) != (q0, p0)


def test_bad_gauge_substeps():
    for bad in (0, -1, 2.5, True, 10 ** 6):
        with pytest.raises(ValueError, match="gauge_substeps"):
            HMC(BETA, MASS, gauge_substeps=bad)
    with pytest.raises(ValueError, match="level"):
        integrate_nested(None, None, [], 1.0)
    with pytest.raises(ValueError, match="steps"):
        integrate_nested(None, np.zeros(1), [(None, 0)], 1.0)


@pytest.mark.mpi
def test_nested_chrono_trajectory_same_on_every_grid():
    """The same trajectory (two time scales, chronological guess) on the world's process grid as on a single
    rank (COMM_SELF): proposal links, dH, plaquette and the accept decision."""
    from mpi4py import MPI
    from conftest import random_su_global
    from gaugenet.gauge.group import project_su
    from gaugenet.hmc import streams

    g = random_su_global(DIMS, 2, 23)
    start = project_su(0.6 * np.eye(2) + 0.4 * g)

    def run(lat):
        U = gn.GaugeField.from_numpy(lat, start)
        h = HMC(2.7, 1.0, n_steps=2, integrator="leapfrog", seed=7, cg_tol=1e-12, gauge_substeps=2, chrono=True)
        U1, _, H0, H1, nf = h.molecular_dynamics(U, 4)
        return U1.to_numpy(), H1 - H0, gn.plaquette(U1), nf, streams.metropolis_uniform(7, 4) < np.exp(H0 - H1)

    ref = run(gn.Lattice(DIMS, mpi=(1, 1, 1, 1), comm=MPI.COMM_SELF))
    got = run(gn.Lattice(DIMS))
    assert np.abs(got[0] - ref[0]).max() < 1e-10
    assert abs(got[1] - ref[1]) < 1e-9
    assert abs(got[2] - ref[2]) < 1e-12
    assert got[3] == ref[3] == 3 and got[4] == ref[4]


def test_command_options_and_toml(tmp_path):
    """--gauge-substeps/--chrono (flags or TOML keys) reach the sampler: the command's chain equals the library's,
    they are chain parameters of a resume, and a bad value is a clear error."""
    from conftest import NRANKS
    if NRANKS > 1:
        pytest.skip("runs the command in-process")
    from gaugenet.cli.hmc import read_records
    from gaugenet.cli.main import main
    cfg = tmp_path / "c.toml"
    cfg.write_text('algorithm = "hmc"\nsteps = 2\nseed = 3\ntherm = 0\ntrajectories = 2\ngauge_substeps = 3\n'
                   'chrono = true\ncg_tol = 1e-12\ncondensate_vectors = 0\n')
    out = tmp_path / "run"
    assert main(["hmc", str(cfg), "--out", str(out)]) == 0
    recs = read_records(out / "hmc.jsonl")
    st = __import__("json").loads((out / "hmc.json").read_text())
    assert st["params"]["gauge_substeps"] == 3 and st["params"]["chrono"] is True
    U = gn.GaugeField.unit(gn.Lattice(DIMS), 2)
    h = HMC(BETA, MASS, n_steps=2, seed=3, cg_tol=1e-12, gauge_substeps=3, chrono=True)
    for r in recs:
        U, ref = h.trajectory(U, r["traj"])
        assert abs(ref.dH - r["dH"]) < 1e-9 and ref.forces == r["forces"] == 5
    # a changed time-scale setting is refused on resume
    assert main(["hmc", str(cfg), "--out", str(out), "--gauge-substeps", "2"]) != 0
    assert main(["hmc", "--gauge-substeps", "0", "--out", str(tmp_path / "bad")]) != 0
