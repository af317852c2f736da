"""Self-learning HMC (Tomiya & Nagai, arXiv:2103.11965; shared/CONVENTIONS.md "Self-learning HMC").

Target action        S[U]       = S_g[U] + S_f[phi, U; m]
MD action            S_theta[U] = S_g[U] + S_f[phi, U_theta^NN[U]; m_h]

U_theta^NN is a link network: by default a StoutNetwork (seed 002: two layers, each with rho_plaq, rho_poly_t,
rho_poly_s), or any covnet.LinkNetwork spec ("cask": one CASK attention layer, seed 004; "stout,cask:2"). The
pseudofermion is drawn from the target action, the molecular dynamics integrates S_theta (its force on
the thin links is the network's backward pass of the staggered force on the smeared links), and the
Metropolis test uses the target Hamiltonian H = K + S: the algorithm is exact for any theta; theta
only decides the acceptance.

Training (SLHMCTrainer): on configurations of a prior HMC run, with fresh pseudofermions phi drawn from
the target action, the loss L = 1/2 |S_theta[U, phi] - S[U, phi]|^2 (S_g cancels) is minimised by Adam;
dL/drho = (S_theta - S) dS_theta/drho, and dS_theta/drho comes from the same backward pass.
"""
import numpy as np

from ..gauge.stout import StoutNetwork
from . import streams
from .actions import Hamiltonian, SmearedPseudofermionAction
from ..models.optim import Adam
from .fermion_force import StaggeredPseudofermion
from .hmc import HMC
from .momenta import draw_momenta, kinetic_energy

SEED002_LAYERS = 2


def make_network(rho, network="stout"):
    """The MD action's link network. network "stout" (seed 002): a StoutNetwork from a flat list of 3 * n_layers
    weights (default two layers of zeros) or per-layer triples; any other spec ("cask", "stout,cask:2", ...:
    covnet.LinkNetwork) takes its flat weights (default zeros). An existing network is used as it is."""
    from ..covnet import LinkNetwork
    if isinstance(rho, (StoutNetwork, LinkNetwork)):
        return rho
    if network != "stout":
        net = LinkNetwork(network)
        net.params = np.zeros(net.n_weights) if rho is None else rho
        return net
    a = np.asarray(np.zeros(3 * SEED002_LAYERS) if rho is None else rho, dtype=np.float64)
    if a.size == 0 or a.size % 3:
        raise ValueError(f"SLHMC: the stout weights must be 3 per layer (rho_plaq, rho_poly_t, rho_poly_s), "
                         f"got {a.size} values")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"SLHMC: the stout weights must be finite, got {a.ravel().tolist()}")
    return StoutNetwork([tuple(r) for r in a.reshape(-1, 3)])


class SLHMC(HMC):
    """HMC whose molecular dynamics integrates S_theta (module docstring); Metropolis with the target H.

    rho: initial network weights (default zeros: for the stout network two layers, i.e. thin links at mass m_h);
    network: "stout" (seed 002) or a covnet.LinkNetwork spec such as "cask" (seed 004)."""

    name = "slhmc"

    def __init__(self, beta, mass, m_h, rho=None, n_steps=10, tau=1.0, integrator="omelyan", seed=0,
                 cg_tol=1e-10, action_tol=1e-12, maxiter=5000, unitarity_tol=1e-10, network="stout"):
        super().__init__(beta, mass, n_steps=n_steps, tau=tau, integrator=integrator, seed=seed, cg_tol=cg_tol,
                         action_tol=action_tol, maxiter=maxiter, unitarity_tol=unitarity_tol)
        self.network = make_network(rho, network)
        self.network_spec = network if isinstance(network, str) else getattr(self.network, "spec", "stout")
        self.md_fermion = SmearedPseudofermionAction(
            StaggeredPseudofermion(m_h, tol=cg_tol, action_tol=action_tol, maxiter=maxiter), self.network)
        self._md = Hamiltonian([self.gauge, self.md_fermion])

    @property
    def md(self):
        return self._md

    @property
    def params(self):
        return self.network.params

    @params.setter
    def params(self, v):
        v = np.asarray(v, dtype=np.float64)
        if v.size != self.network.params.size or not np.all(np.isfinite(v)):
            raise ValueError(f"SLHMC: need {self.network.params.size} finite network weights, got {v.ravel().tolist()}")
        self.network.params = v

    def md_hamiltonian_change(self, U, traj):
        """(dH of the target H, dH of the MD Hamiltonian K + S_theta, U') of trajectory traj without the
        accept step: a diagnostic with the same random numbers as `trajectory` (two extra solves)."""
        U1, P1, H0, H1, _ = self.molecular_dynamics(U, traj)
        P0 = draw_momenta(U.lat, U.N, self.seed, streams.stream(traj, streams.MOMENTA))
        T0 = kinetic_energy(U.lat, P0) + self.md.action(U)
        T1 = kinetic_energy(U.lat, P1) + self.md.action(U1)
        return H1 - H0, T1 - T0, U1


class SLHMCTrainer:
    """Online training of the network weights of an SLHMC sampler (any network: the flat weight vector) on the
    configurations of a prior run.

    step(U, traj) draws `samples` pseudofermions from the target action at U (streams TRAINING + k of
    trajectory traj), evaluates L = 1/2 (S_theta - S)^2 and its gradient, averages over the samples and
    takes one Adam step. Adam: lr, beta1 = 0.9, beta2 = 0.98 (CONVENTIONS.md)."""

    def __init__(self, sampler: SLHMC, lr=2e-3, samples=1, beta1=0.9, beta2=0.98):
        if int(samples) != samples or not 1 <= samples <= 200:
            raise ValueError(f"SLHMC training: samples per step must be 1..200, got {samples}")
        self.sampler = sampler
        self.samples = int(samples)
        self.adam = Adam(lr=lr, beta1=beta1, beta2=beta2)
        self.history = []

    def loss_and_grad(self, U, traj):
        """(mean L, mean dL/drho (flat), mean S_theta - S) over the samples at U."""
        s = self.sampler
        target_pf, md = s.fermion.pf, s.md_fermion
        grad = np.zeros(s.network.params.size)
        loss = diff_sum = 0.0
        for k in range(self.samples):
            phi = target_pf.heatbath(U, s.seed, streams.stream(traj, streams.TRAINING + k))
            S = target_pf.action(U, phi)
            md.phi = phi
            St, _, g = md.action_force_and_grad(U)
            d = St - S
            loss += 0.5 * d * d
            diff_sum += d
            grad += d * np.asarray(g).ravel()
        n = float(self.samples)
        return loss / n, grad / n, diff_sum / n

    def step(self, U, traj):
        loss, grad, diff = self.loss_and_grad(U, traj)
        s = self.sampler
        p = np.array(s.network.params, dtype=np.float64).ravel()
        self.adam.step([p], [grad])
        s.params = p
        rec = {"traj": int(traj), "loss": float(loss), "mean_diff": float(diff), "params": s.params.tolist()}
        self.history.append(rec)
        return rec

    def state(self):
        return {"adam": self.adam.state(), "params": self.sampler.params.tolist()}

    def load_state(self, st):
        self.adam.load_state(st["adam"])
        self.sampler.params = st["params"]
