"""Wilson gauge action, staples and the molecular-dynamics force.

    S_g = beta * sum_{x, mu<nu} (1 - Re tr U_munu(x) / N)              (shared/CONVENTIONS.md)

Staples. A_mu(x) = sum_{nu != mu} [ U_nu(x+mu) U_mu(x+nu)^dag U_nu(x)^dag
                                    + U_nu(x+mu-nu)^dag U_mu(x-nu)^dag U_nu(x-nu) ],
so that U_mu(x) A_mu(x) is the sum of the six plaquettes through the link, each starting at x
along mu, and the part of S_g that depends on U_mu(x) is -beta/N Re tr(U_mu(x) A_mu(x)).

Force. Momenta are P = sum_a p^a T^a (hermitian T^a, tr(T^a T^b) = delta_ab / 2), H = 1/2 sum p^2 + S,
and gaugenet stores them anti-hermitian, Pi = i P; links move as U -> exp(eps Pi) U. Moving one
link along an su(N) direction X = sum_a x^a (i T^a) (anti-hermitian, traceless), U(t) = exp(t X) U,

    dS/dt = -beta/N Re tr(X U A) = -beta/N tr(X TA(U A)) = 2 tr(X F) = -sum_a x^a f^a,
    F_mu(x) = -beta/(2N) TA(U_mu(x) A_mu(x)) = sum_a f^a (i T^a),   TA(M) = (M - M^dag)/2 - tr(M - M^dag)/(2N),

i.e. f^a = -dS/dx^a, and Hamilton's equations read dPi/dt = F (p^a <- p^a + eps f^a in a leapfrog
step) and dU/dt = Pi U. With a hermitian momentum and U -> exp(i eps P) U the force is -i F.
"""
import numpy as np

from .._backend import to_host
from .group import dag, traceless_antihermitian
from .observables import plaquette_field


def wilson_action(U, beta):
    """S_g = beta sum_{x, mu<nu} (1 - Re tr U_munu(x) / N), summed over the global lattice (one reduction).
    The sum of (1 - Re tr / N) is accumulated directly, so that small actions near the unit field keep
    their relative precision."""
    N = U.N
    s = 0.0
    for mu in range(4):
        for nu in range(mu + 1, 4):
            tr = np.trace(to_host(plaquette_field(U, mu, nu)), axis1=-2, axis2=-1).real
            s += float(np.sum(1.0 - tr / N))
    return float(beta) * float(U.lat.allreduce(s))


def staples(U, mu, sites=None, links=None):
    """A_mu(x) (module docstring) as a (V, N, N) array, or only at the local `sites` (int array) as
    (len(sites), N, N); neighbours come from U.shift_links (halo exchange on a distributed lattice).

    links: optional (4, V, N, N) array to use instead of U.sites() (same lattice); with `sites` of one
    parity only the products needed on those sites are formed."""
    L = U.sites() if links is None else links
    lat = U.lat
    Umu = L[mu]
    if sites is None:
        out = None
        for nu in range(4):
            if nu == mu:
                continue
            Unu = L[nu]
            Unu_fmu = U.shift_links(Unu, mu, +1)                  # U_nu(x+mu)
            Umu_fnu = U.shift_links(Umu, nu, +1)                  # U_mu(x+nu)
            upper = Unu_fmu @ dag(Umu_fnu) @ dag(Unu)
            lower_at_y = dag(Unu_fmu) @ dag(Umu) @ Unu            # at y = x - nu
            term = upper + U.shift_links(lower_at_y, nu, -1)
            out = term if out is None else out + term
        return out
    sites = np.asarray(sites)
    # the lower staple is formed at y = x - nu: with `sites` all of one parity those are the other parity
    other = _other_sites(lat, sites)
    out = None
    for nu in range(4):
        if nu == mu:
            continue
        Unu = L[nu]
        Unu_fmu = U.shift_links(Unu, mu, +1)
        Umu_fnu = U.shift_links(Umu, nu, +1)
        upper = Unu_fmu[sites] @ dag(Umu_fnu[sites]) @ dag(Unu[sites])
        low = np.zeros_like(Umu)
        if other is None:
            low = dag(Unu_fmu) @ dag(Umu) @ Unu
        else:
            low[other] = dag(Unu_fmu[other]) @ dag(Umu[other]) @ Unu[other]
        term = upper + U.shift_links(low, nu, -1)[sites]
        out = term if out is None else out + term
    return out


def _other_sites(lat, sites):
    """The sites of the other parity when `sites` is exactly one parity class, else None (all sites)."""
    for p in (0, 1):
        s = lat.sites_of_parity(p)
        if len(s) == len(sites) and np.array_equal(s, sites):
            return lat.sites_of_parity(1 - p)
    return None


def gauge_force(U, beta):
    """The MD force F_mu(x) = -beta/(2N) TA(U_mu(x) A_mu(x)) (module docstring for the convention),
    returned as a GaugeField-shaped field [mu, t, z, y, x, N, N] of anti-hermitian traceless matrices
    (algebra elements, not links: do not reunitarise it)."""
    N = U.N
    lin = U.sites()
    F = np.empty(lin.shape, dtype=np.complex128)
    for mu in range(4):
        F[mu] = -(float(beta) / (2.0 * N)) * traceless_antihermitian(to_host(lin[mu]) @ to_host(staples(U, mu)))
    return U._new(U.xp.asarray(F.astype(U.data.dtype).reshape(U.data.shape)))


def action_derivative(U, beta, X):
    """dS/dt at t = 0 for U_mu(x) -> exp(t X_mu(x)) U_mu(x), with X a GaugeField-shaped field (or
    (4, local sites..., N, N) array) of anti-hermitian traceless matrices: 2 sum_{x, mu} tr(X F)."""
    F = to_host(gauge_force(U, beta).data)
    Xa = to_host(getattr(X, "data", X)).reshape(F.shape)
    local = 2.0 * float(np.sum(Xa * np.swapaxes(F, -1, -2)).real)   # sum tr(X F)
    return float(U.lat.allreduce(local))
