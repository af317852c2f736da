"""The pieces of a Hamiltonian: the gauge action (Wilson or rectangle-improved), the thin-link staggered pseudofermion and
the pseudofermion on stout-smeared links (the SLHMC molecular-dynamics action).

Every piece has `action(U)` and `force(U)` (a (4, V, N, N) array in the representation of
gaugenet.gauge.action.gauge_force: dS/dt = 2 tr(Z F) for U -> exp(t Z) U, dPi/dt = F). Pseudofermion
pieces read the field `phi` that the sampler sets before each trajectory.
"""
import numpy as np

from ..gauge.action import gauge_force, wilson_action
from ..gauge.improved import ImprovedGaugeAction
from ..gauge.stout import StoutNetwork
from .fermion_force import StaggeredPseudofermion, staggered_force


class GaugeAction:
    """The gauge action: Wilson (default), or a rectangle-improved one (`action`: symanzik, iwasaki, dbw2 or the
    coefficient c1; gaugenet.gauge.improved)."""

    def __init__(self, beta, action="wilson"):
        self.improved = ImprovedGaugeAction(beta, action)
        self.beta, self.c1 = self.improved.beta, self.improved.c1

    def action(self, U):
        if self.c1 == 0.0:
            return wilson_action(U, self.beta)
        return self.improved.action(U)

    def force(self, U):
        if self.c1 == 0.0:
            return np.asarray(gauge_force(U, self.beta).sites(), dtype=np.complex128)
        return self.improved.force(U)


class PseudofermionAction:
    """S_f[phi, U; m] on the thin links."""

    def __init__(self, pf: StaggeredPseudofermion):
        self.pf = pf
        self.phi = None

    def _phi(self):
        if self.phi is None:
            raise RuntimeError("pseudofermion action: no pseudofermion field set (call refresh first)")
        return self.phi

    def refresh(self, U, seed, stream):
        self.phi = self.pf.heatbath(U, seed, stream)
        return self.phi

    def action(self, U):
        return self.pf.action(U, self._phi())

    def force(self, U):
        return self.pf.force(U, self._phi())


class SmearedPseudofermionAction(PseudofermionAction):
    """S_f[phi, U_theta^NN[U]; m_h]: the pseudofermion at mass m_h on the links smeared by a StoutNetwork.
    The force on the thin links is the network's backward pass of the force on the smeared links, which
    also gives dS/drho (`action_force_and_grad`)."""

    def __init__(self, pf: StaggeredPseudofermion, network: StoutNetwork):
        super().__init__(pf)
        if not hasattr(network, "backward"):          # per-layer stout weights; else any link network
            network = StoutNetwork(network)
        self.network = network

    def smeared(self, U):
        return self.network(U)

    def action(self, U):
        return self.pf.action(self.network(U), self._phi())

    def force(self, U):
        Us = self.network.forward(U)
        F, _ = self.network.backward(self.pf.force(Us, self._phi()))
        return np.asarray(F.sites(), dtype=np.complex128)

    def action_force_and_grad(self, U, tol=None):
        """(S, F on the thin links, dS/drho as an (n_layers, 3) array), from one solve on the smeared links."""
        Us = self.network.forward(U)
        D = self.pf.operator(Us)
        X = self.pf.solve(D, self._phi(), self.pf.action_tol if tol is None else tol)
        S = float(self._phi().inner(X).real)
        F, g = self.network.backward(staggered_force(D, X))
        return S, np.asarray(F.sites(), dtype=np.complex128), g


class Hamiltonian:
    """H = K + sum of the pieces' actions; the MD force is the sum of their forces."""

    def __init__(self, pieces):
        self.pieces = list(pieces)

    def action(self, U):
        return float(sum(p.action(U) for p in self.pieces))

    def force(self, U):
        F = None
        for p in self.pieces:
            f = p.force(U)
            F = f if F is None else F + f
        return F
