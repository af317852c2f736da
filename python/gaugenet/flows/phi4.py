"""Two-dimensional lattice phi^4 theory of seed 003: action, force, a local Metropolis reference sampler
and the observables (magnetisation, susceptibility, zero-momentum correlator).

Action (the seed's "scalar field theory" slide), on a periodic L0 x L1 lattice:

    S(phi) = sum_x [ -beta sum_{mu=0,1} phi_{x+mu} phi_x + phi_x^2 + lambda (phi_x^2 - 1)^2 ]

Every nearest-neighbour bond is counted once. This is the hopping-parameter form with beta = 2 kappa:
S = sum_x [ -2 kappa sum_mu phi_x phi_{x+mu} + phi_x^2 + lambda (phi_x^2 - 1)^2 ].

Observables per configuration (the seed's definitions): M = sum_x phi_x; chi = <(M - <M>)^2> / V;
G(t) = sum_{x1} G((t, x1)) with G(x) = (1/V) sum_y <phi_{y+x} phi_y> - <phi>^2, i.e.
G(t) = (1/V) sum_{t0} <Phi(t0 + t) Phi(t0)> - L1 <phi>^2, Phi(t) = sum_{x1} phi_{t, x1}; on a square lattice
it is averaged over the two directions taken as time. sum_t G(t) = chi.
"""
import math

import numpy as np

THEORIES = ("phi4",)


def _check_fields(phi, who):
    phi = np.asarray(phi, dtype=np.float64)
    if phi.ndim != 3:
        raise ValueError(f"{who}: expected fields of shape (batch, L0, L1), got shape {phi.shape}")
    return phi


class Phi4:
    """phi^4 with couplings beta (= 2 kappa) and lambda (module docstring)."""

    name = "phi4"

    def __init__(self, beta, lam):
        for nm, v in (("beta", beta), ("lambda", lam)):
            if isinstance(v, bool) or not isinstance(v, (int, float, np.floating, np.integer)) or \
                    not math.isfinite(v):
                raise ValueError(f"phi4: {nm} must be a finite number, got {v!r}")
        if lam < 0:
            raise ValueError(f"phi4: lambda must be >= 0 (the action is unbounded below otherwise), got {lam}")
        self.beta, self.lam = float(beta), float(lam)

    @property
    def kappa(self):
        return self.beta / 2.0

    def couplings(self):
        return {"beta": self.beta, "lambda": self.lam, "kappa": self.kappa}

    @staticmethod
    def _forward_sum(phi):
        return np.roll(phi, -1, axis=1) + np.roll(phi, -1, axis=2)

    @staticmethod
    def neighbour_sum(phi):
        """sum over the four nearest neighbours of every site."""
        return (np.roll(phi, -1, axis=1) + np.roll(phi, 1, axis=1) + np.roll(phi, -1, axis=2)
                + np.roll(phi, 1, axis=2))

    def action(self, phi):
        """S per configuration of a batch phi[b, x0, x1]."""
        phi = _check_fields(phi, "phi4.action")
        p2 = phi * phi
        dens = -self.beta * phi * self._forward_sum(phi) + p2 + self.lam * (p2 - 1.0) ** 2
        return dens.sum(axis=(1, 2))

    def force(self, phi):
        """dS/dphi_x for a batch."""
        phi = _check_fields(phi, "phi4.force")
        return -self.beta * self.neighbour_sum(phi) + 2.0 * phi + 4.0 * self.lam * phi * (phi * phi - 1.0)


def make_theory(name, **couplings):
    """The theory called `name` ("phi4") with its couplings; an unknown name is a ValueError."""
    if name == "phi4":
        unknown = set(couplings) - {"beta", "lam"}
        if unknown:
            raise ValueError(f"phi4: unknown coupling(s) {sorted(unknown)}; phi4 takes beta and lambda")
        return Phi4(couplings.get("beta", 0.5), couplings.get("lam", 0.5))
    raise ValueError(f"unknown theory {name!r}: known theories are {', '.join(THEORIES)}")


# ------------------------------------------------------------------------------ local Metropolis reference
class LocalMetropolis:
    """Checkerboard local Metropolis for phi^4: one sweep updates all sites of parity 0, then of parity 1
    (sites of one parity do not interact, so their proposals phi_x -> phi_x + delta (2u - 1) are accepted
    or rejected independently and simultaneously). `hits` such sweeps make one step of the chain. Exact
    (detailed balance per site). Works on a batch of independent chains phi[c, x0, x1]."""

    def __init__(self, theory, shape, delta=1.0, hits=1, chains=1, seed=0, start="cold"):
        l0, l1 = shape
        if l0 < 2 or l1 < 2 or l0 % 2 or l1 % 2:
            raise ValueError(f"LocalMetropolis: the checkerboard update needs even extents >= 2, got {l0} x {l1}")
        if not delta > 0:
            raise ValueError(f"LocalMetropolis: the step size delta must be positive, got {delta}")
        if int(hits) < 1:
            raise ValueError(f"LocalMetropolis: hits must be >= 1, got {hits}")
        self.theory, self.delta, self.hits = theory, float(delta), int(hits)
        self.rng = np.random.default_rng(seed)
        self.phi = np.zeros((int(chains), l0, l1)) if start == "cold" else \
            self.rng.standard_normal((int(chains), l0, l1))
        x0, x1 = np.meshgrid(np.arange(l0), np.arange(l1), indexing="ij")
        self._par = [((x0 + x1) % 2 == p) for p in (0, 1)]
        self.accepted = 0
        self.proposed = 0

    def sweep(self):
        th = self.theory
        phi = self.phi
        for _ in range(self.hits):
            for mask in self._par:
                nb = th.neighbour_sum(phi)[:, mask]
                old = phi[:, mask]
                new = old + self.delta * (2.0 * self.rng.random(old.shape) - 1.0)
                o2, n2 = old * old, new * new
                ds = (-th.beta * (new - old) * nb + (n2 - o2)
                      + th.lam * ((n2 - 1.0) ** 2 - (o2 - 1.0) ** 2))
                acc = np.log(self.rng.random(old.shape)) < -ds
                old[acc] = new[acc]
                phi[:, mask] = old
                self.accepted += int(acc.sum())
                self.proposed += acc.size
        return phi

    @property
    def acceptance(self):
        return self.accepted / max(self.proposed, 1)

    def run(self, n, therm=0, every=1):
        """Thermalise `therm` steps, then `n` measured configurations, one every `every` steps: an array
        (n, chains, L0, L1)."""
        for _ in range(int(therm)):
            self.sweep()
        out = np.empty((int(n),) + self.phi.shape)
        for i in range(int(n)):
            for _ in range(int(every)):
                self.sweep()
            out[i] = self.phi
        return out


# ------------------------------------------------------------------------------ observables
def primary_series(phi):
    """Per-configuration primaries of a batch phi[n, L0, L1] (n measurements):
    {"m": M / V, "abs_m": |M| / V, "m2": M^2 / V, "g": (n, L0) array with (1/V) sum_{t0} Phi(t0+t) Phi(t0)
    averaged over the two directions (square lattices; else direction 0 is time)}."""
    phi = _check_fields(phi, "observables")
    n, l0, l1 = phi.shape
    vol = l0 * l1
    mag = phi.sum(axis=(1, 2))

    def corr(Phi):  # circular autocorrelation along axis 1 of Phi[n, T]
        f = np.fft.rfft(Phi, axis=1)
        return np.fft.irfft(f * np.conj(f), n=Phi.shape[1], axis=1) / vol

    g = corr(phi.sum(axis=2))
    if l0 == l1:
        g = 0.5 * (g + corr(phi.sum(axis=1)))
    return {"m": mag / vol, "abs_m": np.abs(mag) / vol, "m2": mag * mag / vol, "g": g}


def free_propagator(beta, shape):
    """<phi_x phi_y> of the Gaussian theory (lambda = 0) on a periodic lattice, as (V, V): S = phi K phi / 2
    with K = 2 - beta * (adjacency); needs beta < 1/2 (|beta| * 4 < 2) for stability."""
    l0, l1 = shape
    v = l0 * l1
    k = 2.0 * np.eye(v)
    idx = np.arange(v).reshape(l0, l1)
    for ax in (0, 1):
        nb = np.roll(idx, -1, axis=ax).ravel()
        for i, j in zip(idx.ravel(), nb):
            k[i, j] -= beta
            k[j, i] -= beta
    return np.linalg.inv(k)
