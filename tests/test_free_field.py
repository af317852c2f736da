"""Free field (unit links): the spectra of the Wilson and staggered operators equal the analytic
momentum-space formulas, with the momenta shifted by the fermion boundary phases,
p_mu = (2 pi n_mu + theta_mu) / L_mu."""
import itertools

import numpy as np
import pytest
from mpi4py import MPI

import gaugenet as gn


def momenta(dims, theta):
    """(V, 4) array of all lattice momenta."""
    axes = [(2 * np.pi * np.arange(L) + th) / L for L, th in zip(dims, theta)]
    return np.array(list(itertools.product(*axes)))


def spectrum_of(op, field_cls, lat, core):
    """Eigenvalues of the matrix of `op` (built from all unit vectors at once)."""
    V = lat.local_volume
    k = int(np.prod(core))
    n = V * k
    e = np.eye(n, dtype=complex).reshape((n, V) + core)
    e = np.ascontiguousarray(np.moveaxis(e, 0, 1)).reshape(lat.local_shape + (n,) + core)
    out = op(field_cls(lat, e)).data.reshape(V, n, k)
    return np.linalg.eigvals(out.transpose(0, 2, 1).reshape(n, n))


def assert_same_multiset(got, want, tol):
    """Greedy nearest-neighbour matching of two lists of complex numbers (degenerate clusters are
    far apart compared with the tolerance, so the matching is unambiguous)."""
    assert len(got) == len(want), f"{len(got)} eigenvalues, expected {len(want)}"
    free = np.ones(len(want), dtype=bool)
    worst = 0.0
    for z in got:
        d = np.where(free, np.abs(want - z), np.inf)
        j = int(np.argmin(d))
        worst = max(worst, d[j])
        free[j] = False
    assert worst < tol, f"eigenvalues differ from the analytic spectrum by up to {worst:.3e}"


def lattice(dims):
    return gn.Lattice(dims, mpi=(1, 1, 1, 1), comm=MPI.COMM_SELF)


@pytest.mark.parametrize("theta", [(0, 0, 0, 0), (0, 0, 0, np.pi), (0.5, 0, -1.2, np.pi)])
def test_wilson_free_spectrum(theta):
    dims, N, m = (4, 4, 2, 4), 2, 0.1
    lat = lattice(dims)
    D = gn.Wilson(gn.GaugeField.unit(lat, N), mass=m, boundary_phases=theta)
    got = spectrum_of(D, gn.FermionField, lat, (4, N))
    p = momenta(dims, theta)
    re = m + np.sum(1 - np.cos(p), axis=1)
    im = np.sqrt(np.sum(np.sin(p) ** 2, axis=1))
    # each momentum: re + i im and re - i im, each twice in spin, N times in colour
    want = np.concatenate([np.repeat(re + 1j * im, 2 * N), np.repeat(re - 1j * im, 2 * N)])
    assert_same_multiset(got, want, 1e-10)
    # and it is not the spectrum of the other boundary condition
    other = (0, 0, 0, np.pi) if theta == (0, 0, 0, 0) else (0, 0, 0, 0)
    q = momenta(dims, other)
    wrong = m + np.sum(1 - np.cos(q), axis=1)
    assert not np.allclose(np.sort(np.repeat(wrong, 4 * N)), np.sort(got.real), atol=1e-6)


def test_clover_term_vanishes_on_unit_links():
    lat = lattice((4, 4, 4, 4))
    U = gn.GaugeField.unit(lat, 3)
    psi = gn.FermionField.random(lat, 3, seed=1)
    a = gn.WilsonClover(U, mass=-0.2, csw=1.7, boundary_phases=(0, 0, 0, np.pi))(psi)
    b = gn.Wilson(U, mass=-0.2, boundary_phases=(0, 0, 0, np.pi))(psi)
    assert np.abs(a.data - b.data).max() < 1e-14


@pytest.mark.parametrize("theta", [None, (0.3, 0, 0, 0)])
def test_staggered_free_spectrum(theta):
    dims, N, m = (4, 4, 4, 4), 2, 0.3
    lat = lattice(dims)
    U = gn.GaugeField.unit(lat, N)
    S = gn.Staggered(U, mass=m) if theta is None else gn.Staggered(U, mass=m, boundary_phases=theta)
    th = (0, 0, 0, np.pi) if theta is None else theta
    got = spectrum_of(S, gn.StaggeredField, lat, (N,))
    s = np.sort(np.sum(np.sin(momenta(dims, th)) ** 2, axis=1))
    # D_hop^2 = -sum_mu sin^2 p_mu; D_hop is anti-hermitian with a +- symmetric spectrum (it anticommutes
    # with eps(x) = (-1)^(x+y+z+t)); every value of s occurs an even number of times (p -> p + pi e_mu)
    sign = np.where(np.arange(len(s)) % 2 == 0, 1.0, -1.0)
    want = np.repeat(m + 1j * sign * np.sqrt(s), N)
    assert_same_multiset(got, want, 1e-10)
    assert np.abs(got.real - m).max() < 1e-12
