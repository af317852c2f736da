"""Hybrid Monte Carlo and self-learning HMC with staggered pseudofermions (seed 002).

- momenta.py: Gaussian su(N) momenta, kinetic energy, link update exp(eps Pi) U
- integrators.py: leapfrog and Omelyan 2MN (reversible, area-preserving)
- fermion_force.py: even-site staggered pseudofermion: heat bath, action, force through CG
- actions.py: the Hamiltonian's pieces (gauge, thin-link and stout-smeared pseudofermion)
- hmc.py: HMC with the exact Metropolis test; slhmc.py: SLHMC and the training of the stout weights
- autocorr.py: integrated autocorrelation time (automatic windowing) with its error
- streams.py: the random streams of a chain, keyed by trajectory number (grid-independent, exact resume)
"""
from .autocorr import AutocorrResult, autocorrelation, tau_int
from .fermion_force import StaggeredPseudofermion, staggered_force
from .hmc import HMC, HMCError, Trajectory, run_chain
from .integrators import INTEGRATORS, integrate
from .momenta import draw_momenta, kinetic_energy, move_links
from .slhmc import SLHMC, SLHMCTrainer, make_network

__all__ = ["HMC", "SLHMC", "SLHMCTrainer", "HMCError", "Trajectory", "run_chain", "integrate", "INTEGRATORS",
           "StaggeredPseudofermion", "staggered_force", "draw_momenta", "kinetic_energy", "move_links",
           "make_network", "tau_int", "autocorrelation", "AutocorrResult"]
