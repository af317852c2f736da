"""The eight-sites-per-step CPU kernel of the one-hop stencil for ns = 1 (csrc/kernels/hop_simd_ns1.h,
used by OneHop(ns=1) and the staggered operator) against the site-by-site kernel (core.hop_variant
"generic") and against numpy: N = 2 and 3, double and single, several right-hand sides and features,
global complex, global real and per-site weights, site lists, accumulation, halo exchange and
zero-boundary links on every process grid."""
import numpy as np
import pytest

import gaugenet as gn
from conftest import (assert_close, assert_hop_variants_agree, grids, needs_hop_simd, random_global, random_su_global,
                      with_hop_variant)
from gaugenet.stencil import OneHop, StencilLinks
from gaugenet.stencil.onehop import hop_index

DIMS = (4, 4, 4, 8)
THETA = (0.0, 0.6, 0.0, np.pi)


def _tol(prec):
    return 1e-13 if prec == "double" else 3e-6


def _weights(kind, V, nout, nin, dtype, seed):
    if kind == "per_site":
        W = random_global((V, 9, nout, nin), seed=seed)
    elif kind == "real":
        W = random_global((9, nout, nin), seed=seed).real.astype(complex)
    else:
        W = random_global((9, nout, nin), seed=seed)
    W = W.astype(dtype)
    W[..., hop_index(2, +1), :, :] = 0  # one hop unused (skipped through the mask)
    return W


@needs_hop_simd
@pytest.mark.mpi
@pytest.mark.parametrize("grid", grids(DIMS))
@pytest.mark.parametrize("prec,Nc", [("double", 3), ("single", 3), ("double", 2), ("single", 2)])
@pytest.mark.parametrize("wkind", ["complex", "real", "per_site"])
def test_simd_ns1_equals_generic(grid, prec, Nc, wkind):
    """Random links, fields and weights; features (nin, nout, nrhs) chosen so that right-hand sides are
    transposed in one chunk, in several chunks and one at a time; all sites, the odd sites, a short
    irregular site list (a partial group of eight), and accumulation."""
    lat = gn.Lattice(DIMS, mpi=grid, precision=prec)
    U = gn.GaugeField.from_numpy(lat, random_su_global(DIMS, Nc, seed=201))
    links = StencilLinks(U, THETA)
    V = lat.local_volume
    tol = _tol(prec)
    few = np.sort(np.random.default_rng(202).choice(V, 13, replace=False)).astype(np.int32)
    for nin, nout, nrhs in ((1, 1, 1), (1, 1, 11), (2, 3, 2), (3, 1, 3), (9, 2, 2)):
        st = OneHop(links, ns=1, nin=nin, nout=nout)
        W = _weights(wkind, V, nout, nin, lat.complex_dtype, seed=203)
        f = gn.StaggeredField.random(lat, Nc, nvec=nrhs * nin, seed=204)
        acc0 = gn.StaggeredField.random(lat, Nc, nvec=nrhs * nout, seed=205)
        assert_hop_variants_agree(st, f, W, ({}, {"sites": lat.sites_of_parity(1)}, {"sites": few}), acc0, tol,
                                  f"{nin}->{nout} x{nrhs}")


def staggered_reference(u, chi, mass, theta):
    """D chi with numpy on the global arrays (shared/CONVENTIONS.md): u [mu, t, z, y, x, N, N],
    chi [t, z, y, x, nvec, N]."""
    dims = u.shape[4:0:-1]
    uu = u.copy()
    for mu, th in enumerate(theta):
        sl = [mu, slice(None), slice(None), slice(None), slice(None)]
        sl[4 - mu] = -1
        uu[tuple(sl)] *= np.exp(1j * th)
    x, y, z = np.meshgrid(np.arange(dims[0]), np.arange(dims[1]), np.arange(dims[2]), indexing="ij")
    x, y, z = (c.transpose(2, 1, 0)[None] for c in (x, y, z))  # [1, z, y, x]
    eta = [np.ones_like(x), (-1) ** x, (-1) ** (x + y), (-1) ** (x + y + z)]
    out = mass * chi
    for mu in range(4):
        ax = 3 - mu
        fw = np.einsum("tzyxab,tzyxvb->tzyxva", uu[mu], np.roll(chi, -1, axis=ax))
        bw = np.einsum("tzyxba,tzyxvb->tzyxva", np.roll(uu[mu], 1, axis=ax).conj(), np.roll(chi, 1, axis=ax))
        out = out + 0.5 * eta[mu][..., None, None] * (fw - bw)
    return out


@needs_hop_simd
@pytest.mark.mpi
@pytest.mark.parametrize("grid", grids(DIMS))
@pytest.mark.parametrize("prec,Nc", [("double", 3), ("single", 2)])
def test_staggered_simd_against_numpy(grid, prec, Nc):
    """The staggered operator (the SIMD kernel, real global weights) with the halo exchange against
    numpy, three right-hand sides; D^dag D on the even sites against the generic kernel."""
    lat = gn.Lattice(DIMS, mpi=grid, precision=prec)
    u = random_su_global(DIMS, Nc, seed=211)
    U = gn.GaugeField.from_numpy(lat, u)
    gshape = tuple(reversed(DIMS))
    chi = random_global(gshape + (3, Nc), seed=212)
    D = gn.Staggered(U, mass=0.2, boundary_phases=THETA)
    field = gn.StaggeredField.from_numpy(lat, chi)
    got = with_hop_variant("simd", lambda: D(field)).to_numpy()
    ref = staggered_reference(u, chi, 0.2, THETA)
    assert_close(got, ref, 1e-12 if prec == "double" else 3e-6, "staggered SIMD vs numpy")
    a = with_hop_variant("generic", lambda: D.DdagD_even(field))
    b = with_hop_variant("simd", lambda: D.DdagD_even(field))
    assert_close(b.data, a.data, _tol(prec), "DdagD_even SIMD vs generic")


@needs_hop_simd
@pytest.mark.mpi
@pytest.mark.parametrize("grid", grids(DIMS))
@pytest.mark.parametrize("Nc", [2, 3])
def test_staggered_simd_zero_boundary(grid, Nc):
    """Zero-boundary-link mode: no messages, and the SIMD kernel equals the generic one and numpy
    with the crossing links zeroed."""
    lat = gn.Lattice(DIMS, mpi=grid, zero_boundary_links=True)
    u = random_su_global(DIMS, Nc, seed=221)
    U = gn.GaugeField.from_numpy(lat, u)
    D = gn.Staggered(U, mass=0.3, boundary_phases=THETA)
    gshape = tuple(reversed(DIMS))
    chi = random_global(gshape + (2, Nc), seed=222)
    field = gn.StaggeredField.from_numpy(lat, chi)
    sent = lat.halo(1).messages_sent
    b = with_hop_variant("simd", lambda: D(field))
    assert lat.halo(1).messages_sent == sent, "zero-boundary-link mode must not exchange"
    a = with_hop_variant("generic", lambda: D(field))
    assert_close(b.data, a.data, 1e-13, "zero-boundary SIMD vs generic")
    uz = u.copy()
    for mu in range(4):
        if lat.grid[mu] > 1:
            l = lat.local_dims[mu]
            sl = [mu, slice(None), slice(None), slice(None), slice(None)]
            sl[4 - mu] = np.arange(lat.dims[mu]) % l == l - 1
            uz[tuple(sl)] = 0
    assert_close(b.to_numpy(), staggered_reference(uz, chi, 0.3, THETA), 1e-12, "zero-boundary SIMD vs numpy")


@needs_hop_simd
@pytest.mark.parametrize("dims", [(6, 2, 2, 6), (8, 4, 2, 4)])
def test_simd_ns1_site_orders(dims):
    """One rank: a lattice whose x-y plane is not a multiple of eight sites (list order) and one that
    is (blocked order), single hop slots, against the generic kernel."""
    from mpi4py import MPI
    lat = gn.Lattice(dims, mpi=(1, 1, 1, 1), comm=MPI.COMM_SELF)
    U = gn.GaugeField.from_numpy(lat, random_su_global(dims, 3, seed=231))
    st = OneHop(StencilLinks(U, THETA), ns=1, nin=1, nout=2)
    f = gn.StaggeredField.random(lat, 3, nvec=2, seed=232)
    for k in range(9):
        W = np.zeros((9, 2, 1), dtype=complex)
        W[k] = random_global((2, 1), seed=233 + k)
        a = with_hop_variant("generic", lambda: st(f, W))
        b = with_hop_variant("simd", lambda: st(f, W))
        assert_close(b.data, a.data, 1e-13, f"slot {k}")
