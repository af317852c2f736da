"""Reversible, area-preserving integrators of Hamilton's equations dU/dt = Pi U, dPi/dt = F(U).

Both are symmetric compositions of the two exact flows "kick" (Pi += eps F(U)) and "drift"
(U -> exp(eps Pi) U), so they are time-reversible (integrate, flip Pi, integrate again: back to the
start up to rounding and the solver tolerance) and area-preserving; the Metropolis test then makes
HMC exact. Adjacent kicks at the same U are merged, so a trajectory of n steps costs n + 1 force
evaluations (leapfrog) or 2n + 1 (Omelyan).

- leapfrog:   K(eps/2) D(eps) K(eps/2)                                   energy error O(eps^2)
- omelyan:    K(lam eps) D(eps/2) K((1 - 2 lam) eps) D(eps/2) K(lam eps)   (2MN, lam = 0.1931833275037836,
              Omelyan, Mryglod, Folk 2003; smallest leading error of the two-stage schemes)
"""
import numpy as np

from .momenta import move_links

OMELYAN_LAMBDA = 0.1931833275037836


def _schemes():
    return {"leapfrog": [(0.5, 1.0), (0.5, None)],
            "omelyan": [(OMELYAN_LAMBDA, 0.5), (1.0 - 2.0 * OMELYAN_LAMBDA, 0.5), (OMELYAN_LAMBDA, None)]}


INTEGRATORS = tuple(_schemes())


def check_steps(n_steps, tau):
    if int(n_steps) != n_steps or n_steps < 1:
        raise ValueError(f"integrator: the number of MD steps must be a positive integer, got {n_steps}")
    if not np.isfinite(tau) or tau <= 0:
        raise ValueError(f"integrator: the trajectory length must be positive and finite, got {tau}")


def integrate(U, P, force, n_steps, tau=1.0, scheme="omelyan", on_force=None):
    """Integrate (U, Pi) over time tau in n_steps steps; returns (U, Pi) (new objects; inputs untouched).

    force(U) -> (4, V, N, N) array. on_force: optional callback called after each force evaluation."""
    if scheme not in _schemes():
        raise ValueError(f"unknown integrator {scheme!r}; choose one of {', '.join(INTEGRATORS)}")
    check_steps(n_steps, tau)
    stages = _schemes()[scheme]
    eps = float(tau) / int(n_steps)
    P = np.array(P, dtype=np.complex128, copy=True)
    pending = 0.0            # kick weight waiting to be applied at the current U
    for _ in range(int(n_steps)):
        for kick, drift in stages:
            pending += kick
            if drift is None:
                continue
            P += (pending * eps) * _force(force, U, on_force)
            pending = 0.0
            U = move_links(U, P, drift * eps)
    P += (pending * eps) * _force(force, U, on_force)
    return U, P


def _force(force, U, on_force):
    F = force(U)
    if on_force is not None:
        on_force()
    return F
