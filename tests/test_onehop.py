"""The generic one-hop stencil (gaugenet.stencil.OneHop) against numpy (np.roll on the gathered
global fields), for ns = 4 and ns = 1, two input and two output features, global and per-site
weights, site lists, accumulation and zero-boundary-link mode, on every process grid."""
import numpy as np
import pytest

import gaugenet as gn
from conftest import (assert_close, assert_hop_variants_agree, grids, hop_simd_available, needs_hop_simd,
                      random_global, random_su_global, with_hop_variant)
from gaugenet.stencil import OneHop, StencilLinks
from gaugenet.stencil.onehop import hop_index

DIMS = (4, 4, 4, 8)
THETA = (0.0, 0.6, 0.0, np.pi)
N = 3


def phased_links(u, theta):
    u = u.copy()
    for mu, th in enumerate(theta):
        sl = [mu, slice(None), slice(None), slice(None), slice(None)]
        sl[4 - mu] = -1  # axis of x_mu in [mu, t, z, y, x]: the last slice
        u[tuple(sl)] *= np.exp(1j * th)
    return u


def reference(u, f, W, ns):
    """out[x, r, a] = sum_k sum_b W(x)_k[a, b] U_k(x) f[x + k, r, b] with numpy on the global arrays.
    f: [t, z, y, x, nrhs, nin, ns, N]; W: [t, z, y, x, 9, nout, nin, ns, ns]."""
    terms = []
    for mu in range(4):
        ax = 3 - mu
        Uf = u[mu]
        Ub = np.roll(u[mu], 1, axis=ax)
        terms.append(np.einsum("tzyxab,tzyxrisb->tzyxrisa", Uf, np.roll(f, -1, axis=ax)))
        terms.append(np.einsum("tzyxba,tzyxrisb->tzyxrisa", Ub.conj(), np.roll(f, 1, axis=ax)))
    terms.append(f)
    out = 0
    for k, t in enumerate(terms):
        out = out + np.einsum("tzyxoiuv,tzyxrivc->tzyxrouc", W[:, :, :, :, k], t)
    return out


def zero_crossing(u, lat):
    """Zero the links that cross a rank boundary (the zero-boundary-link convention)."""
    u = u.copy()
    for mu in range(4):
        if lat.grid[mu] > 1:
            l = lat.local_dims[mu]
            idx = np.arange(lat.dims[mu]) % l == l - 1
            sl = [mu, slice(None), slice(None), slice(None), slice(None)]
            sl[4 - mu] = idx
            u[tuple(sl)] = 0
    return u


@pytest.mark.mpi
@pytest.mark.parametrize("grid", grids(DIMS))
@pytest.mark.parametrize("ns", [4, 1])
@pytest.mark.parametrize("per_site", [True, False])
def test_onehop_against_numpy(grid, ns, per_site):
    lat = gn.Lattice(DIMS, mpi=grid)
    u = random_su_global(DIMS, N, seed=101)
    U = gn.GaugeField.from_numpy(lat, u)
    nin = nout = 2
    nrhs = 2
    gshape = tuple(reversed(DIMS))
    f = random_global(gshape + (nrhs, nin, ns, N), seed=102)
    wshape = (9, nout, nin, ns, ns)
    if per_site:
        Wg = random_global(gshape + wshape, seed=103)
    else:
        Wg = np.broadcast_to(random_global(wshape, seed=104), gshape + wshape)
    Wg = Wg.copy()
    Wg[..., hop_index(2, -1), :, :, :, :] = 0  # one hop unused (skipped through the mask)
    ref = reference(phased_links(u, THETA), f, Wg, ns)
    stencil = OneHop(StencilLinks(U, THETA), ns=ns, nin=nin, nout=nout)
    core = (4, N) if ns == 4 else (N,)
    cls = gn.FermionField if ns == 4 else gn.StaggeredField
    field = cls.from_numpy(lat, f.reshape(gshape + (nrhs * nin,) + core))
    if per_site:
        W = lat.scatter_global(Wg).reshape((lat.local_volume,) + wshape if ns == 4 else
                                           (lat.local_volume, 9, nout, nin))
    else:
        W = Wg[0, 0, 0, 0] if ns == 4 else Wg[0, 0, 0, 0, :, :, :, 0, 0]
    out = stencil(field, W)
    assert out.nvec == nrhs * nout
    assert_close(out.to_numpy().reshape(ref.shape), ref, 1e-12, "OneHop vs numpy")
    # a site list writes only those sites; accumulate adds
    even = lat.sites_of_parity(0)
    part = stencil(field, W, sites=even)
    par = (np.indices(gshape).sum(axis=0) % 2 == 0)
    want = np.where(par[..., None, None, None, None], ref, 0)
    assert_close(part.to_numpy().reshape(ref.shape), want, 1e-12, "OneHop on even sites")
    twice = stencil(field, W, out=out, accumulate=True)
    assert twice is out
    assert_close(out.to_numpy().reshape(ref.shape), 2 * ref, 1e-12, "accumulate")


@pytest.mark.mpi
@pytest.mark.parametrize("grid", grids(DIMS))
def test_onehop_zero_boundary_links(grid):
    lat = gn.Lattice(DIMS, mpi=grid, zero_boundary_links=True)
    u = random_su_global(DIMS, 2, seed=111)
    U = gn.GaugeField.from_numpy(lat, u)
    gshape = tuple(reversed(DIMS))
    f = random_global(gshape + (1, 1, 4, 2), seed=112)
    w = random_global((9, 1, 1, 4, 4), seed=113)
    stencil = OneHop(StencilLinks(U, THETA), ns=4)
    sent = lat.halo(1).messages_sent
    out = stencil(gn.FermionField.from_numpy(lat, f.reshape(gshape + (4, 2))), w)
    assert lat.halo(1).messages_sent == sent, "zero-boundary-link mode must not exchange"
    ref = reference(zero_crossing(phased_links(u, THETA), lat), f, np.broadcast_to(w, gshape + w.shape), 4)
    assert_close(out.to_numpy().reshape(ref.shape), ref, 1e-12, "OneHop zero-boundary links")


def test_weights_forms_and_errors():
    from mpi4py import MPI
    lat = gn.Lattice((4, 4, 4, 4), mpi=(1, 1, 1, 1), comm=MPI.COMM_SELF)
    U = gn.GaugeField.random(lat, 2, seed=1)
    st = OneHop(StencilLinks(U), ns=4)
    psi = gn.FermionField.random(lat, 2, seed=2)
    g = random_global((4, 4), seed=3)
    W = np.zeros((9, 1, 1, 4, 4), dtype=complex)
    W[hop_index(1, +1)] = g
    W[hop_index(0, 0)] = 2 * np.eye(4)
    a = st(psi, W)
    b = st(psi, {hop_index(1, +1): g[None, None], 8: 2 * np.eye(4)[None, None]})
    assert_close(b.data, a.data, 1e-15, "dict weights")
    pw = st.prepare(W)
    assert pw.mask == (1 << 2) | (1 << 8)
    # against the explicit formula: g U_y(x) psi(x + y) + 2 psi(x)
    h = lat.halo(1)
    shifted = h.shift(psi.sites(), 1, +1)
    ref = np.einsum("uv,xab,xvb->xua", g, U.link(1), shifted) + 2 * psi.sites()
    assert_close(st(psi, pw).sites(), ref, 1e-14, "explicit formula")
    with pytest.raises(ValueError, match="weights of shape"):
        st(psi, np.zeros((8, 1, 1, 4, 4)))
    with pytest.raises(ValueError, match="per-vector shape"):
        st(gn.StaggeredField.random(lat, 2, seed=4), W)
    with pytest.raises(ValueError, match="ns must be 1 or 4"):
        OneHop(StencilLinks(U), ns=2)
    with pytest.raises(ValueError, match="sign"):
        hop_index(0, 2)
    two = OneHop(StencilLinks(U), ns=4, nin=2)
    with pytest.raises(ValueError, match="multiple of nin"):
        two(gn.FermionField.random(lat, 2, nvec=3, seed=5), np.zeros((9, 1, 2, 4, 4)))


def test_single_precision_and_covariance():
    """Per-site spin weights, two features: complex64 agrees with complex128; the stencil is gauge
    covariant (weights act on spin and features only)."""
    from mpi4py import MPI
    dims = (4, 4, 4, 4)
    u = random_su_global(dims, 3, seed=121)
    gshape = tuple(reversed(dims))
    f = random_global(gshape + (4, 4, 3), seed=122)      # nrhs * nin = 2 * 2 vectors
    Wg = random_global(gshape + (9, 2, 2, 4, 4), seed=123)
    out = {}
    for prec in ("double", "single"):
        lat = gn.Lattice(dims, mpi=(1, 1, 1, 1), comm=MPI.COMM_SELF, precision=prec)
        st = OneHop(StencilLinks(gn.GaugeField.from_numpy(lat, u), THETA), ns=4, nin=2, nout=2)
        W = Wg.reshape((lat.local_volume, 9, 2, 2, 4, 4))
        out[prec] = st(gn.FermionField.from_numpy(lat, f), W)
    assert out["single"].data.dtype == np.complex64
    assert_close(out["single"].data, out["double"].data, 2e-6, "single vs double")
    lat = out["double"].lat
    U = gn.GaugeField.from_numpy(lat, u)
    omega = gn.ColorMatrixField.random_su(lat, 3, seed=124)
    psi = gn.FermionField.from_numpy(lat, f)
    W = Wg.reshape((lat.local_volume, 9, 2, 2, 4, 4))
    lhs = OneHop(StencilLinks(U.transform(omega), THETA), ns=4, nin=2, nout=2)(psi.transform(omega), W)
    rhs = OneHop(StencilLinks(U, THETA), ns=4, nin=2, nout=2)(psi, W).transform(omega)
    assert_close(lhs.data, rhs.data, 1e-12, "gauge covariance")


# ---------------------------------------------------------------------------------------- SIMD kernel
@needs_hop_simd
@pytest.mark.mpi
@pytest.mark.parametrize("grid", grids(DIMS))
@pytest.mark.parametrize("prec,Nc", [("double", 3), ("single", 3), ("double", 2), ("single", 2)])
@pytest.mark.parametrize("per_site", [False, True])
def test_simd_kernel_equals_generic(grid, prec, Nc, per_site):
    """The eight-sites-per-step kernel against the site-by-site one: random fields and weights, two
    right-hand sides, 2 -> 3 and 1 -> 1 features, a hop left out, a site list, accumulation."""
    lat = gn.Lattice(DIMS, mpi=grid, precision=prec)
    U = gn.GaugeField.from_numpy(lat, random_su_global(DIMS, Nc, seed=131))
    links = StencilLinks(U, THETA)
    V = lat.local_volume
    tol = 1e-13 if prec == "double" else 2e-6
    for nin, nout, nrhs in ((2, 3, 2), (1, 1, 1)):
        st = OneHop(links, ns=4, nin=nin, nout=nout)
        wshape = ((V,) if per_site else ()) + (9, nout, nin, 4, 4)
        W = random_global(wshape, seed=132).astype(lat.complex_dtype)
        W[..., hop_index(1, +1), :, :, :, :] = 0
        f = gn.FermionField.random(lat, Nc, nvec=nrhs * nin, seed=133)
        acc0 = gn.FermionField.random(lat, Nc, nvec=nrhs * nout, seed=134)
        assert_hop_variants_agree(st, f, W, ({}, {"sites": lat.sites_of_parity(1)}), acc0, tol, f"{nin}->{nout}")


@needs_hop_simd
@pytest.mark.parametrize("prec", ["double", "single"])
def test_simd_kernel_streaming_stores(prec):
    """With the streaming-store threshold at 0 the SIMD one-hop kernel writes with whole-register
    streaming stores (64-byte aligned output), 16-byte ones (numpy's usual alignment) or plain stores
    (8-byte aligned): the same result as the site-by-site kernel in each case; accumulation (which
    reads the output) keeps plain stores."""
    from mpi4py import MPI

    from gaugenet._backend import core
    lat = gn.Lattice(DIMS, comm=MPI.COMM_SELF, precision=prec)
    U = gn.GaugeField.from_numpy(lat, random_su_global(DIMS, 3, seed=141))
    st = OneHop(StencilLinks(U, THETA), ns=4, nin=2, nout=3)
    V = lat.local_volume
    tol = 1e-13 if prec == "double" else 2e-6
    W = random_global((9, 3, 2, 4, 4), seed=142).astype(lat.complex_dtype)
    src = gn.FermionField.random(lat, 3, nvec=2, seed=143).data.reshape(V, -1)
    ref = with_hop_variant("generic", lambda: st.apply_array(src, W, 1))
    old = core.stream_store_bytes()
    try:
        core.stream_store_bytes(0)
        for offset in (0, 16, 8):
            raw = np.empty(ref.nbytes + 128, dtype=np.uint8)
            start = (-raw.ctypes.data) % 64 + offset
            out = raw[start:start + ref.nbytes].view(ref.dtype).reshape(ref.shape)
            out[...] = 7.0
            with_hop_variant("simd", lambda: st.apply_array(src, W, 1, out=out))
            assert_close(out, ref, tol, f"streaming stores, output {offset} bytes past a cache line")
            with_hop_variant("simd", lambda: st.apply_array(src, W, 1, out=out, accumulate=True))
            assert_close(out, 2 * ref, tol, "accumulate")
    finally:
        core.stream_store_bytes(old)


def _grad_reference(u, f, site, W, theta):
    """out and G of core.hop_grad with numpy on global arrays: f [.., nrhs, nin, 4, N],
    site [.., nrhs, nout, 4, N], W (9, nout, nin, 4, 4); G (9, nin, nout, 4, 4)."""
    uu = phased_links(u, theta)
    g = []
    for mu in range(4):
        ax = 3 - mu
        g.append(np.einsum("tzyxab,tzyxrisb->tzyxrisa", uu[mu], np.roll(f, -1, axis=ax)))
        g.append(np.einsum("tzyxba,tzyxrisb->tzyxrisa", np.roll(uu[mu], 1, axis=ax).conj(), np.roll(f, 1, axis=ax)))
    g.append(f)
    out = sum(np.einsum("oiuv,tzyxrivc->tzyxrouc", W[k], g[k]) for k in range(9))
    G = np.stack([np.einsum("tzyxrisc,tzyxrouc->iosu", g[k], site.conj()) for k in range(9)])
    return out, G


@pytest.mark.mpi
@pytest.mark.parametrize("grid", grids(DIMS))
@pytest.mark.parametrize("prec", ["double", "single"])
@pytest.mark.parametrize("variant", ["simd", "generic"])
def test_hop_grad_against_numpy(grid, prec, variant):
    """The stencil fused with the weight gradient (OneHop.apply_grad, core.hop_grad): the output equals
    the plain stencil, G (summed over ranks) the numpy outer products, for both CPU variants."""
    if variant == "simd" and not hop_simd_available():
        pytest.skip("no SIMD kernel in this build")
    lat = gn.Lattice(DIMS, mpi=grid, precision=prec)
    u = random_su_global(DIMS, 3, seed=141)
    U = gn.GaugeField.from_numpy(lat, u)
    nin, nout, nrhs = 2, 3, 2
    gshape = tuple(reversed(DIMS))
    f = random_global(gshape + (nrhs, nin, 4, 3), seed=142)
    site = random_global(gshape + (nrhs, nout, 4, 3), seed=143)
    W = random_global((9, nout, nin, 4, 4), seed=144)
    W[hop_index(3, -1)] = 0
    ref_out, ref_G = _grad_reference(u, f, site, W, THETA)
    ref_G[hop_index(3, -1)] = 0  # the unused slot is skipped (mask)
    st = OneHop(StencilLinks(U, THETA), ns=4, nin=nin, nout=nout)
    V = lat.local_volume
    src = gn.FermionField.from_numpy(lat, f.reshape(gshape + (nrhs * nin, 4, 3))).data.reshape(V, -1)
    sf = gn.FermionField.from_numpy(lat, site.reshape(gshape + (nrhs * nout, 4, 3))).data.reshape(V, -1)
    G = np.zeros((9, nin, nout, 4, 4), dtype=np.complex128)
    out = with_hop_variant(variant, lambda: st.apply_grad(src, W, nrhs, sf, G))
    tol = 1e-12 if prec == "double" else 2e-5
    got = gn.FermionField(lat, out.reshape(lat.local_shape + (nrhs * nout, 4, 3))).to_numpy()
    assert_close(got.reshape(ref_out.shape), ref_out, tol, "hop_grad output")
    assert_close(lat.allreduce(G), ref_G, tol, "hop_grad G")
    plain = st.apply_array(src, W, nrhs)
    assert_close(out, plain, tol, "hop_grad output vs apply_array")
    # G accumulates
    with_hop_variant(variant, lambda: st.apply_grad(src, W, nrhs, sf, G, out=out))
    assert_close(lat.allreduce(G), 2 * ref_G, tol, "hop_grad G accumulated")
    with pytest.raises(ValueError, match="complex128"):
        st.apply_grad(src, W, nrhs, sf, G.astype(np.complex64))
