"""HMC and SLHMC trajectories are the same on every process grid (1, 2, 4 ranks): the proposal's links and
momenta, the energies, dH, the plaquette and the accept decision agree with a single-rank run (COMM_SELF)
of the same chain to 1e-10."""
import numpy as np
import pytest
from mpi4py import MPI

import gaugenet as gn
from gaugenet.hmc import HMC, SLHMC, streams

from conftest import grids, random_su_global

DIMS = (4, 4, 4, 4)
RHO = [0.02, -0.04, 0.03, -0.01, 0.05, 0.02]


def _start(lat):
    """A moderately rough global field (unit links times random SU(2) near 1), identical on every rank."""
    g = random_su_global(DIMS, 2, 17)
    mix = 0.6 * np.eye(2) + 0.4 * g
    from gaugenet.gauge.group import project_su
    return gn.GaugeField.from_numpy(lat, project_su(mix))


def _run(lat, algorithm):
    U = _start(lat)
    kw = dict(n_steps=2, integrator="leapfrog", seed=31, cg_tol=1e-12)   # forces to 1e-12: paths agree to ~1e-12
    # heavy quarks keep the CG short (many reductions are slow on an oversubscribed machine)
    s = HMC(2.7, 1.0, **kw) if algorithm == "hmc" else SLHMC(2.7, 1.0, 1.2, rho=RHO, **kw)
    U1, P1, H0, H1, _ = s.molecular_dynamics(U, 0)       # the proposal (always moved), and its energies
    u = streams.metropolis_uniform(s.seed, 0)
    return U1.to_numpy(), P1, dict(H0=H0, dH=H1 - H0, plaquette=gn.plaquette(U1), accept=u < np.exp(H0 - H1))


@pytest.mark.mpi
@pytest.mark.parametrize("algorithm", ["hmc", "slhmc"])
def test_same_trajectory_on_every_grid(algorithm):
    ref_lat = gn.Lattice(DIMS, mpi=(1, 1, 1, 1), comm=MPI.COMM_SELF)
    Uref, Pref, ref = _run(ref_lat, algorithm)
    for grid in grids(DIMS):
        lat = gn.Lattice(DIMS, mpi=grid)
        U, P, rec = _run(lat, algorithm)
        assert rec["accept"] == ref["accept"]
        assert abs(rec["dH"] - ref["dH"]) < 1e-10, (grid, rec["dH"], ref["dH"])
        assert abs(rec["H0"] - ref["H0"]) < 1e-12 * abs(ref["H0"])
        assert abs(rec["plaquette"] - ref["plaquette"]) < 1e-12
        assert np.abs(U - Uref).max() < 1e-10, grid
        # the momenta of the local sites agree with the reference at the same global sites
        c = lat.global_coordinates()
        ix = c[:, 0] + DIMS[0] * (c[:, 1] + DIMS[1] * (c[:, 2] + DIMS[2] * c[:, 3]))
        assert np.abs(P - Pref[:, ix]).max() < 1e-10, grid
