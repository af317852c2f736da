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


def polyakov_loop(U):
    """L = sum_{x spatial} tr prod_t U_t / (V_3 N), complex, per colour."""
    lat = U.lat
    lx, ly, lz, lt = lat.local_dims
    N = U.N
    Ut = to_host(U.data[3]).astype(np.complex128)  # (lt, lz, ly, lx, N, N)
    P = Ut[0].copy()
    for t in range(1, lt):
        P = P @ Ut[t]
    # multiply the partial products of the ranks along t in order
    sub = lat.cart.Sub([False, False, False, True])
    parts = sub.allgather(P)
    tot = parts[0]
    for p in parts[1:]:
        tot = tot @ p
    local = complex(np.trace(tot, axis1=-2, axis2=-1).sum()) if lat.mpi_coords[3] == 0 else 0.0
    V3 = lat.dims[0] * lat.dims[1] * lat.dims[2]
    return complex(lat.allreduce(local)) / (V3 * N)
