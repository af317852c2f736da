"""Integrated autocorrelation time (gaugenet.hmc.autocorr) against AR(1) processes with known tau_int."""
import numpy as np
import pytest

from gaugenet.hmc import autocorrelation, tau_int


def _ar1(a, n, seed):
    rng = np.random.default_rng(seed)
    e = rng.standard_normal(n)
    x = np.empty(n)
    x[0] = e[0] / np.sqrt(1 - a * a)          # start in equilibrium
    for i in range(1, n):
        x[i] = a * x[i - 1] + e[i]
    return x


@pytest.mark.parametrize("a", [0.0, 0.5, 0.8, 0.9])
def test_ar1_tau_int(a):
    """rho(t) = a^t, so tau_int = 1/2 + a/(1 - a) = (1 + a) / (2 (1 - a))."""
    exact = (1 + a) / (2 * (1 - a))
    hits = 0
    for seed in range(5):
        r = tau_int(_ar1(a, 20000, seed))
        assert r.tau_int_error > 0
        assert r.window >= 1
        assert abs(r.tau_int - exact) < 4 * r.tau_int_error, (a, seed, r)
        hits += abs(r.tau_int - exact) < 2 * r.tau_int_error
        # error of the mean: the naive error times sqrt(2 tau_int)
        assert abs(r.error_of_mean / r.naive_error - np.sqrt(2 * r.tau_int)) < 0.05 * np.sqrt(2 * r.tau_int)
    assert hits >= 3
    # the error estimate is of the right size: relative error ~ sqrt(4 W / n)
    assert r.tau_int_error < 0.15 * exact + 0.02


def test_error_of_mean_matches_spread_of_means():
    a, n = 0.8, 4000
    means, errs = [], []
    for seed in range(40):
        r = tau_int(_ar1(a, n, 100 + seed))
        means.append(r.mean)
        errs.append(r.error_of_mean)
    spread = np.std(means, ddof=1)
    assert 0.75 < np.mean(errs) / spread < 1.3


def test_autocorrelation_function():
    x = _ar1(0.7, 50000, 3)
    g = autocorrelation(x, 5)
    rho = g / g[0]
    assert np.allclose(rho, 0.7 ** np.arange(6), atol=0.02)
    d = x - x.mean()
    assert abs(g[2] - np.mean(d[:-2] * d[2:])) < 1e-12 * abs(g[0])


def test_bad_series():
    with pytest.raises(ValueError, match="at least 10"):
        tau_int([1.0, 2.0])
    with pytest.raises(ValueError, match="NaN"):
        tau_int([1.0] * 10 + [float("nan")])
    r = tau_int(np.ones(50))
    assert r.tau_int == 0.5 and r.error_of_mean == 0.0
