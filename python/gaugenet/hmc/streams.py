"""Random streams of the Markov chain, keyed by the trajectory number.

Every random number of trajectory `traj` (momenta, pseudofermion noise, the Metropolis uniform, the
training pseudofermions, the condensate's noise) comes from the counter-based generator gaugenet.lattice.rng with the chain's
seed and a stream derived from (traj, purpose). A chain is therefore a function of (seed, start field,
parameters) only: it does not depend on the process grid, and a run resumed from a checkpoint after
trajectory t continues exactly as the uninterrupted run would have.
"""
import numpy as np

from ..lattice import rng

MOMENTA = 1
PSEUDOFERMION = 2
METROPOLIS = 3
START = 4
CONDENSATE = 5         # noise vectors of the chiral condensate (gaugenet.hmc.observables)
TRAINING = 16          # + sample index (< 240)


def stream(traj, purpose):
    if traj < 0:
        raise ValueError(f"trajectory number must be >= 0, got {traj}")
    return (int(traj) << 8) + int(purpose)


def metropolis_uniform(seed, traj):
    """The uniform number in [0, 1) of trajectory traj's accept/reject step (the same on every rank)."""
    return float(rng.uniform(seed, stream(traj, METROPOLIS), np.zeros(1, dtype=np.uint64))[0])
