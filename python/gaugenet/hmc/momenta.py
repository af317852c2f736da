"""Momenta of the molecular dynamics, the kinetic energy and the link update.

Conventions (shared/CONVENTIONS.md "Self-learning HMC", gaugenet.gauge.algebra): P = sum_a p^a T^a with
p^a ~ N(0, 1) and tr(T^a T^b) = delta_ab / 2; gaugenet stores the anti-hermitian Pi = i P, so that

    K = 1/2 sum_{x, mu, a} (p^a)^2 = -sum_{x, mu} tr(Pi_mu(x)^2),

and a link moves as U -> exp(eps Pi) U (exact su(2)/su(3) exponential, gaugenet.gauge.expderiv).
Momenta are (4, V, N, N) complex128 host arrays of the local sites; they are drawn by the
counter-based generator keyed by the global site, so they do not depend on the process grid.
"""
import numpy as np

from .._backend import to_host
from ..gauge.algebra import random_algebra
from ..gauge.expderiv import expm_su


def draw_momenta(lat, N, seed, stream):
    """Gaussian momenta Pi = i sum_a p^a T^a, p^a ~ N(0, 1), as a (4, V, N, N) array."""
    P = random_algebra(lat, N, seed, stream=stream, lead_shape=(4,))
    return np.ascontiguousarray(P.reshape(4, lat.local_volume, N, N).astype(np.complex128))


def kinetic_energy(lat, P):
    """K = -sum tr(Pi^2) over the global lattice (one reduction)."""
    local = -float(np.sum(P * np.swapaxes(P, -1, -2)).real)
    return float(lat.allreduce(local))


def link_array(U):
    """The local links of a GaugeField as a (4, V, N, N) complex128 host array (a copy)."""
    return np.array(to_host(U.sites()), dtype=np.complex128)


def with_links(U, links):
    """A GaugeField like U holding `links` ((4, V, N, N))."""
    return U._new(U.xp.asarray(np.ascontiguousarray(links).astype(U.data.dtype).reshape(U.data.shape)))


def move_links(U, P, eps):
    """exp(eps Pi) U for every link (a new GaugeField)."""
    L = link_array(U)
    return with_links(U, expm_su(eps * P) @ L)
