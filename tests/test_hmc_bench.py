"""gaugenet.bench.hmc_cost.hmc_vs_slhmc: the records the suite stores (tiny chains; the real measurement is in
docs/hmc.md)."""
import math

import pytest

from conftest import NRANKS

from gaugenet.bench.hmc_cost import hmc_vs_slhmc

KEYS = ("kernel", "seconds_per_trajectory", "acceptance", "tau_int_plaquette", "tau_int_error",
        "seconds_per_independent_sample", "n_trajectories", "lattice", "plaquette", "plaquette_error")


@pytest.mark.skipif(NRANKS > 1, reason="single-rank benchmark")
def test_records():
    msgs = []
    recs = hmc_vs_slhmc(quick=True, log=msgs.append, therm=3, train=3, trajectories=12, block=6)
    assert [r["kernel"] for r in recs] == ["hmc_cost_per_sample", "slhmc_cost_per_sample"]
    for r in recs:
        for k in KEYS:
            assert k in r, k
        assert r["n_trajectories"] == 12 and r["lattice"] == "4x4x4x4"
        assert 0 <= r["acceptance"] <= 1 and r["seconds_per_trajectory"] > 0
        assert r["tau_int_plaquette"] >= 0 and math.isfinite(r["tau_int_error"])
        assert r["seconds_per_independent_sample"] == pytest.approx(
            2 * r["tau_int_plaquette"] * r["seconds_per_trajectory"])
        assert 0.5 < r["plaquette"] < 0.9
    s = recs[1]
    assert len(s["rho"]) == 6 and len(s["rho_layers"]) == 2 and set(s["rho_layers"][0]) == {
        "rho_plaq", "rho_poly_t", "rho_poly_s"}
    assert any(v != 0 for v in s["rho"])            # the training moved the weights
    assert any("slhmc" in m for m in msgs)
    with pytest.raises(ValueError, match="unknown settings"):
        hmc_vs_slhmc(quick=True, trajectoriez=3)
