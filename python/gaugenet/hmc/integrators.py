"""Reversible, area-preserving integrators of Hamilton's equations dU/dt = Pi U, dPi/dt = F(U).

Both are symmetric compositions of the two exact flows "kick" (Pi += eps F(U)) and "drift"
(U -> exp(eps Pi) U), so they are time-reversible (integrate, flip Pi, integrate again: back to the
start up to rounding and the solver tolerance) and area-preserving; the Metropolis test then makes
HMC exact. Adjacent kicks at the same U are merged, so a trajectory of n steps costs n + 1 force
evaluations (leapfrog) or 2n + 1 (Omelyan).

- leapfrog:   K(eps/2) D(eps) K(eps/2)                                   energy error O(eps^2)
- omelyan:    K(lam eps) D(eps/2) K((1 - 2 lam) eps) D(eps/2) K(lam eps)   (2MN, lam = 0.1931833275037836,
              Omelyan, Mryglod, Folk 2003; smallest leading error of the two-stage schemes)

`integrate_nested` nests the schemes on several time scales (Sexton and Weingarten 1992): the drifts of an
outer level are inner integrations of a cheaper force with finer steps (HMC --gauge-substeps: the gauge force
inside the fermion force's steps).
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


def integrate(U, P, force, n_steps, tau=1.0, scheme="omelyan", on_force=None, drift=None):
    """Integrate (U, Pi) over time tau in n_steps steps; returns (U, Pi) (new objects; inputs untouched).

    force(U) -> (4, V, N, N) array. on_force: optional callback called after each force evaluation.
    drift: see integrate_nested."""
    return integrate_nested(U, P, [(force, n_steps)], tau, scheme, on_force, drift)


def integrate_nested(U, P, levels, tau=1.0, scheme="omelyan", on_force=None, drift=None):
    """Multiple time scales (Sexton-Weingarten): levels = [(force_0, n_0), (force_1, n_1), ...], outermost first.

    Level 0 integrates its force with n_0 steps of `scheme` over tau; every drift of length h of level k is
    replaced by the integration of level k + 1 over h in n_(k+1) steps of the same scheme; the innermost drift
    is the exact link move. The total force is the sum of the levels' forces. Every level is a symmetric
    composition of symmetric maps, so the whole map is reversible and area-preserving. A cheap, stiff force
    (the gauge force) goes on the inner, finer level, an expensive smooth one (the fermion force) outside.
    Adjacent kicks at the same U are merged within a level. on_force is called after each evaluation of the
    OUTERMOST force only (the expensive one); with one level this is `integrate`.

    drift(U, P, h) -> U moved by h along P: by default the link move U -> exp(h P) U of gauge fields (complex
    momenta); with a drift given, P keeps its real dtype and the same schemes integrate any other phase space,
    e.g. real scalar fields with drift = lambda x, p, h: x + h * p (gaugenet.flows.phi4_hmc)."""
    if scheme not in _schemes():
        raise ValueError(f"unknown integrator {scheme!r}; choose one of {', '.join(INTEGRATORS)}")
    if not levels:
        raise ValueError("integrator: need at least one (force, steps) level")
    for _, n in levels:
        check_steps(n, tau)
    if drift is None:
        P, drift = np.array(P, dtype=np.complex128, copy=True), move_links
    else:
        P = np.array(P, dtype=np.float64, copy=True)
    U, P = _level(U, P, list(levels), float(tau), _schemes()[scheme], on_force, drift)
    return U, P


def _level(U, P, levels, tau, stages, on_force, drift_map):
    """Integrate levels[0] over tau (P updated in place), its drifts being the inner levels."""
    force, n_steps = levels[0]
    inner = levels[1:]
    eps = tau / int(n_steps)
    pending = 0.0            # kick weight waiting to be applied at the current U
    for _ in range(int(n_steps)):
        for kick, drift in stages:
            pending += kick
            if drift is None:
                continue
            P += (pending * eps) * _force(force, U, on_force)
            pending = 0.0
            if inner:
                U, P = _level(U, P, inner, drift * eps, stages, None, drift_map)
            else:
                U = drift_map(U, P, drift * eps)
    P += (pending * eps) * _force(force, U, on_force)
    return U, P


def _force(force, U, on_force):
    F = force(U)
    if on_force is not None:
        on_force()
    return F
