"""HMC with a learned molecular-dynamics action (issue 23, Task 3; the seed-001 outlook, made exact).

The molecular dynamics integrates the force of a network action A_theta[U] (e.g. the L-CNN of
gaugenet.lcnn.action, `NetworkGaugeAction`); the Metropolis test uses the target action S[U] (Wilson or
rectangle-improved, pure gauge). As in SLHMC (hmc/slhmc.py) the integrator stays reversible and area-preserving
whatever the MD force, so the chain samples exp(-S) exactly for ANY network; the network's quality only sets the
acceptance (exp(-dH) with dH = H_S(end) - H_S(start), which vanishes for A_theta = S).
"""
from .actions import Hamiltonian
from .hmc import HMC


class LearnedActionHMC(HMC):
    """Pure-gauge HMC on the target `gauge_action` at beta, with the molecular dynamics of `md_action` (an object
    with action(U) and force(U)); the other arguments are HMC's."""

    name = "learned-action hmc"

    def __init__(self, beta, md_action, gauge_action="wilson", **kw):
        super().__init__(beta, None, gauge_action=gauge_action, **kw)
        self._md = Hamiltonian([md_action])

    @property
    def md(self):
        return self._md


def load_md_action(path, N):
    """The NetworkGaugeAction of an L-CNN model file (lcnn save_model; `lcnn --task action --save`)."""
    from ..lcnn.action import NetworkGaugeAction
    from ..lcnn.model_io import load_model
    model, weights = load_model(path, N=N)
    try:
        return NetworkGaugeAction(model, weights)
    except ValueError as exc:
        e = ValueError(f"--md-action {path}: {exc}")
        e.collective = True
        raise e from None
