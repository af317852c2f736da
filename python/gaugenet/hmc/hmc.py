"""Hybrid Monte Carlo with an exact Metropolis test, for SU(N) with staggered pseudofermions.

One trajectory (number `traj`, random numbers from gaugenet.hmc.streams):
  1. momenta Pi ~ exp(-K), pseudofermion phi_e = (D[U; m]^dag xi)_e from the TARGET action;
  2. H0 = K + S[U] with the target action S = S_g + S_f[phi, U; m];
  3. molecular dynamics with the MD action (the target for HMC, S_theta for SLHMC, gaugenet.hmc.slhmc);
  4. H1 = K' + S[U']; accept U' with probability min(1, exp(-(H1 - H0))), else keep U.
Because the MD integrator is reversible and area-preserving, and the Metropolis test uses the target
Hamiltonian, the chain samples exp(-S_g) det D exactly whatever the MD action.
"""
import math
import time
from dataclasses import dataclass, field

import numpy as np

from ..gauge.observables import plaquette
from . import streams
from .actions import GaugeAction, Hamiltonian, PseudofermionAction
from .fermion_force import StaggeredPseudofermion
from .integrators import INTEGRATORS, check_steps, integrate, integrate_nested
from .momenta import draw_momenta, kinetic_energy


class HMCError(RuntimeError):
    """A trajectory failed in a way every rank sees (energies come from global reductions)."""
    collective = True


@dataclass
class Trajectory:
    traj: int
    accepted: bool
    dH: float
    exp_mdH: float
    plaquette: float              # of the chain's field after the accept/reject step
    seconds: float
    forces: int                   # MD force evaluations
    cg_iterations: int            # all CG iterations of the trajectory (heat bath, energies, forces)
    H0: float = 0.0
    H1: float = 0.0
    extra: dict = field(default_factory=dict)

    def as_dict(self):
        d = {k: getattr(self, k) for k in ("traj", "accepted", "dH", "exp_mdH", "plaquette", "seconds", "forces",
                                           "cg_iterations", "H0", "H1")}
        d.update(self.extra)
        return d


class HMC:
    """HMC for S = S_g[U; beta] + S_f[phi, U; m] (Nf = 4 staggered, even-site pseudofermion); mass None gives the
    pure gauge theory S = S_g. gauge_action: wilson (default), symanzik, iwasaki, dbw2 or a rectangle coefficient
    c1 (gaugenet.gauge.improved).

    n_steps MD steps over trajectory length tau with `integrator` ('omelyan' or 'leapfrog').
    gauge_substeps: 1 (default) integrates the whole MD force with n_steps steps; n >= 2 nests the time scales
    (Sexton-Weingarten): the fermion force takes n_steps steps and every drift of that scheme is n steps of the
    same scheme with the gauge force alone (integrators.integrate_nested); `forces` counts fermion forces.
    chrono: start the MD force CG from the previous force's solution (reset at every trajectory; reversible
    to about cg_tol only, so pair it with a tight cg_tol, docs/hmc.md).
    cg_tol: CG tolerance of the MD forces; action_tol: CG tolerance of the energies in the Metropolis test.
    unitarity_tol: the links are checked to be SU(N) within it at the start of every trajectory.
    measurements: None, or a callable (U, traj) -> dict (e.g. gaugenet.hmc.observables.Measurements) applied to
    the chain's field after every accept/reject step; its entries go to the record's `extra` (with
    `measure_seconds`, the time it took, which `seconds` does not include)."""

    name = "hmc"

    def __init__(self, beta, mass, n_steps=10, tau=1.0, integrator="omelyan", seed=0, cg_tol=1e-10,
                 action_tol=1e-12, maxiter=5000, unitarity_tol=1e-10, measurements=None, gauge_substeps=1,
                 chrono=False, gauge_action="wilson"):
        if integrator not in INTEGRATORS:
            raise ValueError(f"HMC: unknown integrator {integrator!r}; choose one of {', '.join(INTEGRATORS)}")
        check_steps(n_steps, tau)
        self.n_steps, self.tau, self.integrator = int(n_steps), float(tau), integrator
        self.seed = int(seed)
        self.unitarity_tol = unitarity_tol
        self.gauge = GaugeAction(beta, gauge_action)
        if mass is None:                            # pure gauge theory: no pseudofermion
            self.fermion = None
            self.target = Hamiltonian([self.gauge])
        else:
            self.fermion = PseudofermionAction(StaggeredPseudofermion(mass, tol=cg_tol, action_tol=action_tol,
                                                                      maxiter=maxiter, chrono=chrono))
            self.target = Hamiltonian([self.gauge, self.fermion])
        self.measurements = measurements
        self.configure_md(gauge_substeps, chrono)

    def configure_md(self, gauge_substeps=1, chrono=False):
        """Set the time-scale nesting and the chronological CG guess (class docstring) of this sampler's
        molecular dynamics (also for subclasses whose MD action has its own pseudofermion, e.g. SLHMC)."""
        if isinstance(gauge_substeps, bool) or int(gauge_substeps) != gauge_substeps or \
                not 1 <= gauge_substeps <= 1000:
            raise ValueError(f"HMC: gauge_substeps must be an integer 1..1000, got {gauge_substeps!r}")
        self.gauge_substeps = int(gauge_substeps)
        self.chrono = bool(chrono)          # applied to the MD pseudofermions at the start of every trajectory
        return self

    # the MD Hamiltonian (SLHMC overrides it)
    @property
    def md(self):
        return self.target

    def md_levels(self):
        """[(fermion force, n_steps), (gauge force, gauge_substeps)] of the MD Hamiltonian (two time scales)."""
        gauge = [p for p in self.md.pieces if isinstance(p, GaugeAction)]
        rest = [p for p in self.md.pieces if not isinstance(p, GaugeAction)]
        return [(Hamiltonian(rest).force, self.n_steps), (Hamiltonian(gauge).force, self.gauge_substeps)]

    def _pseudofermions(self):
        return [p for p in {id(p): p for p in self.target.pieces + self.md.pieces}.values()
                if isinstance(p, PseudofermionAction)]

    def _cg_total(self):
        return sum(p.pf.cg_iterations for p in {id(p.pf): p for p in self._pseudofermions()}.values())

    def _share_phi(self):
        """The MD pseudofermion pieces use the field drawn from the target action."""
        for p in self.md.pieces:
            if isinstance(p, PseudofermionAction) and p is not self.fermion:
                p.phi = self.fermion.phi

    def molecular_dynamics(self, U, traj):
        """Steps 1-3 and the energies: (U', Pi', H0, H1, force evaluations), no accept/reject."""
        U.check_unitary(self.unitarity_tol, what=f"{self.name} trajectory {traj}: input gauge field")
        lat, N = U.lat, U.N
        P = draw_momenta(lat, N, self.seed, streams.stream(traj, streams.MOMENTA))
        if self.fermion is not None:
            self.fermion.refresh(U, self.seed, streams.stream(traj, streams.PSEUDOFERMION))
            self._share_phi()
        H0 = kinetic_energy(lat, P) + self.target.action(U)
        nforce = [0]

        def count():
            nforce[0] += 1

        for p in self._pseudofermions():
            p.pf.chrono = self.chrono
            p.pf.reset_guess()
        kinds = {isinstance(p, GaugeAction) for p in self.md.pieces}
        if self.gauge_substeps == 1 or kinds != {True, False}:      # one time scale unless gauge + other forces
            U1, P1 = integrate(U, P, self.md.force, self.n_steps, self.tau, self.integrator, on_force=count)
        else:
            U1, P1 = integrate_nested(U, P, self.md_levels(), self.tau, self.integrator, on_force=count)
        H1 = kinetic_energy(lat, P1) + self.target.action(U1)
        return U1, P1, H0, H1, nforce[0]

    def trajectory(self, U, traj):
        """One HMC trajectory from U; returns (the chain's next field, Trajectory record)."""
        t0 = time.perf_counter()
        cg0 = self._cg_total()
        U1, _, H0, H1, nforce = self.molecular_dynamics(U, traj)
        dH = H1 - H0
        if not math.isfinite(dH):
            raise HMCError(f"{self.name} trajectory {traj}: energy change dH = {dH} (H0 = {H0}, H1 = {H1}); "
                           f"the molecular dynamics diverged (reduce the step size: more --steps)")
        u = streams.metropolis_uniform(self.seed, traj)
        acc = bool(u < math.exp(-dH)) if dH > 0 else True
        Unext = U1 if acc else U
        rec = Trajectory(traj=int(traj), accepted=acc, dH=float(dH), exp_mdH=_exp_minus(dH),
                         plaquette=plaquette(Unext), seconds=time.perf_counter() - t0, forces=nforce,
                         cg_iterations=self._cg_total() - cg0, H0=float(H0), H1=float(H1))
        if self.measurements is not None:
            t1 = time.perf_counter()
            rec.extra.update(self.measurements(Unext, traj))
            rec.extra["measure_seconds"] = time.perf_counter() - t1
        return Unext, rec


def _exp_minus(dH):
    return math.exp(-dH) if dH > -700.0 else float("inf")


def run_chain(sampler, U, first, count, callback=None):
    """`count` trajectories numbered first, first+1, ...; returns (U, list of Trajectory).
    callback(U, rec) is called after each one."""
    recs = []
    for t in range(first, first + count):
        U, rec = sampler.trajectory(U, t)
        recs.append(rec)
        if callback is not None:
            callback(U, rec)
    return U, recs
