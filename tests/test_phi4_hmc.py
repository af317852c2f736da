"""Plain HMC and flow HMC of 2D phi^4 (gaugenet.flows.phi4_hmc, issue 20 part 3): the flowed action's force
against finite differences, reversibility of the MD with the flat drift, dH ~ eps^2, exactness of both samplers
on the Gaussian theory (any flow weights), the replica Gamma method against an AR(1) process, and the
`python -m gaugenet flow` command's flow-HMC keys and errors."""
import json
import os

import numpy as np
import pytest

from conftest import NRANKS
from gaugenet.flows import Flow, Phi4
from gaugenet.flows.phi4 import free_propagator
from gaugenet.flows.phi4_hmc import FlowedPhi4Action, PlainPhi4Action, _flat_drift, run_hmc
from gaugenet.hmc.autocorr import tau_int, tau_int_replicas
from gaugenet.hmc.integrators import integrate

pytestmark = pytest.mark.skipif(NRANKS > 1, reason="NumPy-batched single-rank sampler")


def _random_flow(seed=3, scale=0.6):
    fl = Flow(2, hidden=4, kernel=3, depth=2, z2=True)
    return fl, fl.weights(seed=seed, scale=scale)


def test_flowed_force_finite_differences():
    th = Phi4(0.55, 0.5)
    fl, w = _random_flow()
    act = FlowedPhi4Action(fl, w, th)
    rng = np.random.default_rng(1)
    z = rng.standard_normal((3, 4, 4))
    S, g, phi = act.evaluate(z)
    (phi2, ld), _ = fl.forward_trace(w, z)
    np.testing.assert_allclose(S, th.action(phi2) - ld, rtol=1e-13)
    np.testing.assert_allclose(phi, phi2, rtol=1e-13)
    for _ in range(3):
        d = rng.standard_normal(z.shape)
        h = 1e-5
        fd = (act.evaluate(z + h * d)[0] - act.evaluate(z - h * d)[0]) / (2 * h)
        np.testing.assert_allclose(fd, (g * d).sum(axis=(1, 2)), rtol=1e-7, atol=1e-8)
    # the flowed force is not the plain one
    assert not np.allclose(g, th.force(z))


@pytest.mark.parametrize("scheme", ["leapfrog", "omelyan"])
def test_reversibility_and_step_size(scheme):
    th = Phi4(0.55, 0.5)
    fl, w = _random_flow()
    act = FlowedPhi4Action(fl, w, th)
    rng = np.random.default_rng(2)
    z, p = rng.standard_normal((2, 4, 4)), rng.standard_normal((2, 4, 4))

    def force(y):
        return -act.evaluate(y)[1]

    y, q = integrate(z, p, force, 4, 1.0, scheme, drift=_flat_drift)
    assert q.dtype == np.float64
    z2, p2 = integrate(y, -q, force, 4, 1.0, scheme, drift=_flat_drift)
    np.testing.assert_allclose(z2, z, atol=1e-11)
    np.testing.assert_allclose(-p2, p, atol=1e-11)

    def dh(n):
        y, q = integrate(z, p, force, n, 1.0, scheme, drift=_flat_drift)
        return np.abs(0.5 * (q * q).sum(axis=(1, 2)) + act.evaluate(y)[0]
                      - 0.5 * (p * p).sum(axis=(1, 2)) - act.evaluate(z)[0]).max()

    r = dh(8) / dh(16)
    assert 2.5 < r < 6.5, r        # O(eps^2) energy error: ratio ~4


@pytest.mark.parametrize("flowed", [False, True])
def test_exact_on_gaussian_theory(flowed):
    """lambda = 0: chi = sum_xy <phi_x phi_y> / V of the free propagator, reproduced by plain HMC and by flow HMC
    with an untrained (random) flow - flow HMC is exact for any weights."""
    beta, shape = 0.3, (4, 4)
    th = Phi4(beta, 0.0)
    G = free_propagator(beta, shape)
    chi_exact = float(G.sum()) / 16
    rng = np.random.default_rng(5)
    if flowed:
        fl, w = _random_flow(seed=7, scale=0.8)
        act = FlowedPhi4Action(fl, w, th)
    else:
        act = PlainPhi4Action(th)
    rec, _ = run_hmc(act, rng.standard_normal((32,) + shape), 300, 20, 4, 1.0, seed=9)
    assert rec["acceptance"] > 0.8
    assert abs(rec["exp_minus_dH"] - 1.0) < 5 * rec["exp_minus_dH_err"] + 1e-3
    assert abs(rec["chi"] - chi_exact) < 4 * rec["chi_err"], (rec["chi"], rec["chi_err"], chi_exact)
    assert rec["tau_int_M"] >= 0.5 - 1e-9 and rec["seconds_per_trajectory"] > 0
    assert rec["forces_per_trajectory"] == pytest.approx(4 * 2 + 1 + 1)   # Omelyan 2n+1, plus the final S


def test_run_hmc_bad_input():
    act = PlainPhi4Action(Phi4(0.5, 0.5))
    x = np.zeros((2, 4, 4))
    with pytest.raises(ValueError, match="at least 10"):
        run_hmc(act, x, 5)
    with pytest.raises(ValueError, match="integrator"):
        run_hmc(act, x, 20, integrator="rk4")
    with pytest.raises(ValueError, match="MD steps"):
        run_hmc(act, x, 20, n_steps=0)


def test_tau_int_replicas_ar1():
    rng = np.random.default_rng(0)
    r = 0.8
    a = np.zeros((16, 3000))
    e = rng.standard_normal(a.shape)
    for i in range(1, a.shape[1]):
        a[:, i] = r * a[:, i - 1] + e[:, i]
    exact = 0.5 * (1 + r) / (1 - r)
    res = tau_int_replicas(a)
    assert abs(res.tau_int - exact) < 4 * res.tau_int_error + 0.05 * exact, (res.tau_int, exact)
    one = tau_int(a[0])
    assert tau_int_replicas(a[:1]).tau_int == pytest.approx(one.tau_int, rel=1e-12)
    with pytest.raises(ValueError, match="replicas"):
        tau_int_replicas(a[0])


_TINY = """\
theory = "phi4"
beta = 0.576
lambda = 0.5
L = 4
scales = "1"
layers = 2
hidden = 4
z2 = true
steps = 10
batch = 32
samples = 200
chunk = 200
ref_sweeps = 200
ref_therm = 20
seed = 3
hmc_trajectories = 20
hmc_therm = 2
hmc_steps = 3
hmc_batch = 8
compare_hmc = true
plain_hmc_trajectories = 40
"""


def test_cli_flow_hmc_keys(tmp_path):
    from gaugenet.cli.main import main
    cfg = os.path.join(str(tmp_path), "c.toml")
    with open(cfg, "w") as f:
        f.write(_TINY)
    js = os.path.join(str(tmp_path), "out.json")
    assert main(["flow", cfg, "--json", js]) == 0
    with open(js) as f:
        s = json.load(f)
    for key in ("flow_hmc", "hmc", "flow_hmc_acceptance", "hmc_acceptance", "tau_int_M", "tau_int_M_err",
                "hmc_tau_int_M", "tau_int_ratio", "cost_ratio", "abs_m_difference_sigma", "chi_difference_sigma"):
        assert key in s, key
    assert s["flow_hmc"]["chains"] == 8 and s["flow_hmc"]["trajectories"] == 20
    assert s["hmc"]["trajectories"] == 40 and s["hmc"]["algorithm"] == "hmc"
    assert 0 <= s["flow_hmc_acceptance"] <= 1 and s["cost_ratio"] > 0
    assert main(["flow", cfg, "--hmc-trajectories", "5"]) == 1
    assert main(["flow", cfg, "--hmc-integrator", "rk4"]) == 1
