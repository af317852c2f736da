"""Gauge observables normalised as in shared/CONVENTIONS.md (one reduction each)."""
import numpy as np

from .._backend import to_host
from .group import dag


def plaquette_field(U, mu, nu):
    """U_munu(x) = U_mu(x) U_nu(x+mu) U_mu(x+nu)^dag U_nu(x)^dag as a (V, N, N) array."""
    Umu, Unu = U.link(mu), U.link(nu)
    return Umu @ U.shift_links(Unu, mu, +1) @ dag(U.shift_links(Umu, nu, +1)) @ dag(Unu)


def plaquette(U):
    """P = sum_{x, mu<nu} Re tr U_munu(x) / (6 V N); 1 on the unit field."""
    s = 0.0
    for mu in range(4):
        for nu in range(mu + 1, 4):
            s += float(np.trace(to_host(plaquette_field(U, mu, nu)), axis1=-2, axis2=-1).real.sum())
    return float(U.lat.allreduce(s)) / (6 * U.lat.global_volume * U.N)


def spatial_temporal_plaquettes(U):
    """(spatial, temporal) plaquette averages, each normalised to 1 on the unit field."""
    ss = st = 0.0
    for mu in range(4):
        for nu in range(mu + 1, 4):
            v = float(np.trace(to_host(plaquette_field(U, mu, nu)), axis1=-2, axis2=-1).real.sum())
            if nu == 3:
                st += v
            else:
                ss += v
    ss, st = U.lat.allreduce(np.array([ss, st]))
    norm = 3 * U.lat.global_volume * U.N
    return float(ss) / norm, float(st) / norm


def link_trace(U):
    """sum_{x, mu} Re tr U_mu(x) / (4 V N) (the NERSC header's LINK_TRACE)."""
    s = float(np.trace(to_host(U.sites()), axis1=-2, axis2=-1).real.sum())
    return float(U.lat.allreduce(s)) / (4 * U.lat.global_volume * U.N)


# axis of direction mu in a local site array [t, z, y, x, ...]
_AXIS = {0: 3, 1: 2, 2: 1, 3: 0}


def polyakov_loop(U, mu=3):
    """L_mu = sum_{x orthogonal to mu} tr prod_{k} U_mu(x + k mu) / (V_3 N), complex, per colour.

    mu = 3 (default) is the usual temporal loop; mu = 0, 1, 2 are the straight loops that wrap the x, y, z
    directions, averaged over the 3-volume orthogonal to mu. The undivided trace is N times this.
    On a process grid the ranks along mu multiply their partial lines in order (one allgather along mu)."""
    if mu not in (0, 1, 2, 3):
        raise ValueError(f"polyakov_loop: direction mu must be 0, 1, 2 or 3, got {mu!r}")
    lat = U.lat
    N = U.N
    Umu = np.moveaxis(to_host(U.data[mu]).astype(np.complex128), _AXIS[mu], 0)  # (l_mu, ..., N, N)
    P = Umu[0].copy()
    for k in range(1, Umu.shape[0]):
        P = P @ Umu[k]
    # multiply the partial products of the ranks along mu in order of their coordinate
    sub = lat.cart.Sub([m == mu for m in range(4)])
    parts = sub.allgather(P)
    tot = parts[0]
    for p in parts[1:]:
        tot = tot @ p
    local = complex(np.trace(tot, axis1=-2, axis2=-1).sum()) if lat.mpi_coords[mu] == 0 else 0.0
    sub.Free()
    V3 = lat.global_volume // lat.dims[mu]
    return complex(lat.allreduce(local)) / (V3 * N)


def polyakov_loops(U):
    """The four loops (L_x, L_y, L_z, L_t) of `polyakov_loop`, per colour, complex."""
    return tuple(polyakov_loop(U, mu) for mu in range(4))
