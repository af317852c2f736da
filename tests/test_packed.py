"""The Wilson(-clover) operator on the packed eight-site-block layout (operators/packed.py,
kernels/wilson_packed.h): exact layout round trips, the same results as the ordinary-layout operator
(itself checked against dense references and across process grids) on every process grid that splits
x into multiples of 8 - so the lane-shifted x hops, the same-lane y, z, t hops and the gathered halo
hops are all exercised - for SU(3) and SU(2), several right-hand sides, D^dag, the hopping term alone,
boundary phases, zero-boundary-link mode and single precision; the Krylov vector operations against
FermionField's; a CG solve; clear errors."""
import numpy as np
import pytest

import gaugenet as gn
from gaugenet._backend import core
from gaugenet.solvers.cg import cg
from conftest import NRANKS, assert_close, grids, random_global, random_su_global

DIMS = (16, 4, 4, 8)
THETA = (0.3, 0.0, 0.5, np.pi)


def packed_grids():
    return [g for g in grids(DIMS) if g is None or (DIMS[0] // g[0]) % 8 == 0]


def setup(grid, N=3, precision="double", zero_boundary=False, nvec=None, seed=0):
    lat = gn.Lattice(DIMS, mpi=grid, precision=precision, zero_boundary_links=zero_boundary)
    U = gn.GaugeField.from_numpy(lat, random_su_global(DIMS, N, seed=300 + seed))
    shape = tuple(reversed(DIMS)) + ((nvec,) if nvec else ()) + (4, N)
    psi = gn.FermionField.from_numpy(lat, random_global(shape, seed=310 + seed))
    return lat, U, psi


def check_family(U, psi, tol, label, native=True, doubled=False):
    """Both link storages for SU(3): all rows, and the first two with the third rebuilt in the kernel (with the
    boundary phases of THETA in x, z and t folded into the links); doubled: with the doubled links."""
    for name, D in (("wilson", gn.Wilson(U, mass=-0.3, boundary_phases=THETA)),
                    ("clover", gn.WilsonClover(U, mass=-0.3, csw=1.2, boundary_phases=THETA))):
        for two_rows in ((False, "auto") if U.N == 3 else (False,)):
            P = gn.PackedWilson(D, two_rows=two_rows, doubled_links=doubled)
            assert (P.U_doubled is not None) == (doubled and P.native)
            assert P.two_rows == (two_rows == "auto")
            if not native:
                P.native = False
            x = P.pack(psi)
            for op, ref in (("D", D(psi)), ("Ddag", D.adjoint(psi)), ("hop", D.hop(psi)),
                            ("hop dagger", D.hop(psi, dagger=True)), ("MdagM", D.MdagM(psi))):
                got = {"D": P, "Ddag": P.adjoint, "hop": P.hop, "hop dagger": lambda v: P.hop(v, dagger=True),
                       "MdagM": P.MdagM}[op](x)
                assert_close(P.unpack(got).data, ref.data, tol, f"{label} {name} two_rows={two_rows} {op}")


def test_layout_round_trip():
    lat, U, psi = setup(None if NRANKS > 1 else (1, 1, 1, 1), nvec=2)
    P = gn.PackedWilson(gn.Wilson(U, mass=0.1))
    x = P.pack(psi)
    assert x.data.shape == (lat.local_volume // 8, 2 * 4 * 3 * 2, 8)
    assert x.data.ctypes.data % 64 == 0
    # real e of site 8B + l at [B, e, l]
    flat = psi.data.reshape(lat.local_volume, -1).view(np.float64)
    assert np.array_equal(x.data[1, 5, 3], flat[8 + 3, 5])
    assert np.array_equal(P.unpack(x).data, psi.data)
    # into given fields: the same layouts, the given objects returned; wrong shapes or precisions refused
    xo, fo = x.empty_like(), psi.zeros_like()
    assert P.pack(psi, out=xo) is xo and np.array_equal(xo.data, x.data)
    assert P.unpack(x, out=fo) is fo and np.array_equal(fo.data, psi.data)
    with pytest.raises(ValueError, match="out must be"):
        P.pack(psi, out=P.pack(gn.FermionField.random(lat, 3, seed=1)))
    with pytest.raises(ValueError, match="out must be"):
        P.unpack(x, out=gn.FermionField.random(lat, 3, seed=1))


@pytest.mark.mpi
@pytest.mark.parametrize("grid", packed_grids())
@pytest.mark.parametrize("N", [3, 2])
def test_packed_equals_ordinary(grid, N):
    lat, U, psi = setup(grid, N=N)
    check_family(U, psi, 1e-13, f"grid {grid} N={N}")


@pytest.mark.mpi
@pytest.mark.parametrize("grid", packed_grids())
def test_packed_batched_and_zero_boundary(grid):
    lat, U, psi = setup(grid, nvec=3, seed=1)
    check_family(U, psi, 1e-13, f"grid {grid} nvec=3")
    lat, U, psi = setup(grid, zero_boundary=True, seed=2)
    check_family(U, psi, 1e-13, f"grid {grid} zero-boundary links")


@pytest.mark.mpi
@pytest.mark.parametrize("grid", packed_grids()[:2])
def test_packed_single_precision(grid):
    lat, U, psi = setup(grid, precision="single", seed=3)
    check_family(U, psi, 2e-6, f"grid {grid} single")


@pytest.mark.mpi
@pytest.mark.parametrize("grid", packed_grids())
def test_doubled_links_equal_ordinary(grid):
    """The doubled-link layout (U_mu(x - mu) stored with x, read by the local backward hops; the split edges still
    gathered through the halo): the same operator on every process grid, with boundary phases (whose third-row
    factor then sits on a backward link read from the doubled copy), several right-hand sides, SU(2), zero-boundary
    links and single precision."""
    lat, U, psi = setup(grid, nvec=2, seed=21)
    check_family(U, psi, 1e-13, f"grid {grid} doubled", doubled=True)
    lat, U, psi = setup(grid, N=2, seed=22)
    check_family(U, psi, 1e-13, f"grid {grid} doubled SU(2)", doubled=True)
    lat, U, psi = setup(grid, zero_boundary=True, seed=23)
    check_family(U, psi, 1e-13, f"grid {grid} doubled zero-boundary", doubled=True)
    lat, U, psi = setup(grid, precision="single", seed=24)
    check_family(U, psi, 2e-6, f"grid {grid} doubled single", doubled=True)


@pytest.mark.mpi
def test_packed_fallback_without_kernel():
    """The interface without the AVX-512 kernel (D on unpacked copies) gives the same results."""
    lat, U, psi = setup(packed_grids()[-1], nvec=2, seed=4)
    check_family(U, psi, 1e-13, "fallback", native=False)


@pytest.mark.mpi
def test_vector_operations_match_fermion_field():
    lat, U, psi = setup(packed_grids()[0], nvec=2, seed=5)
    chi = psi.gaussian_like(seed=7)
    P = gn.PackedWilson(gn.Wilson(U, mass=0.2))
    a, b = P.pack(psi), P.pack(chi)
    assert abs(a.inner(b) - psi.inner(chi)) < 1e-10 * abs(psi.inner(chi))
    assert abs(a.norm2() - psi.norm2()) < 1e-10 * psi.norm2()
    z = 0.3 - 1.7j
    assert_close(P.unpack(a.copy().axpy(z, b)).data, (psi + chi * z).data, 1e-14, "axpy")
    n2 = a.copy().axpy(z, b, norm=True)
    assert abs(n2 - (psi + chi * z).norm2()) < 1e-10 * n2
    assert_close(P.unpack(a.copy().xpay(z, b)).data, (chi + psi * z).data, 1e-14, "xpay")
    assert_close(P.unpack(a * z - b).data, (psi * z - chi).data, 1e-14, "scale, subtract")
    assert_close(P.unpack(-(a + b)).data, (-(psi + chi)).data, 1e-14, "add, negate")


@pytest.mark.mpi
def test_cg_on_packed_fields_matches_ordinary():
    lat, U, psi = setup(packed_grids()[-1], seed=6)
    D = gn.WilsonClover(U, mass=0.2, csw=1.0)
    P = gn.PackedWilson(D)
    ref = cg(D.MdagM, psi, tol=1e-10, maxiter=500)
    got = cg(P.MdagM, P.pack(psi), tol=1e-10, maxiter=500)
    assert got.iterations == ref.iterations
    assert_close(P.unpack(got.x).data, ref.x.data, 1e-8, "CG solution")
    r = P.unpack(P.MdagM(got.x)) - psi
    assert r.norm() / psi.norm() < 1e-9


def test_clover_compression_round_trip():
    """The compressed hermitian clover blocks hold the diagonal and upper triangle in the kernel's order;
    non-hermitian blocks are refused."""
    from gaugenet.operators.packed import compress_clover
    N, V = 3, 8
    rng = np.random.default_rng(1)
    a = rng.standard_normal((V, 2, 6, 6)) + 1j * rng.standard_normal((V, 2, 6, 6))
    h = a + np.conj(np.swapaxes(a, -1, -2))
    c = compress_clover(h, V, N).reshape(V, 2, 36)
    assert np.array_equal(c[:, :, :6], np.real(np.diagonal(h, axis1=-2, axis2=-1)))
    # entry (e, f), e < f, at 6 + 2 (e 6 - e (e + 1) / 2 + f - e - 1)
    for e, f in ((0, 1), (0, 5), (2, 4), (4, 5)):
        k = 6 + 2 * (e * 6 - e * (e + 1) // 2 + f - e - 1)
        assert c[3, 1, k] == h[3, 1, e, f].real and c[3, 1, k + 1] == h[3, 1, e, f].imag
    with pytest.raises(ValueError, match="not hermitian"):
        compress_clover(a, V, N)


@pytest.mark.mpi
@pytest.mark.parametrize("grid", packed_grids())
@pytest.mark.parametrize("nin,nout,nrhs", [(1, 1, 1), (2, 2, 1), (1, 3, 2), (3, 1, 1)])
def test_packed_onehop_equals_onehop(grid, nin, nout, nrhs):
    """PackedOneHop (the PTC forward on packed fields) against gaugenet.stencil.OneHop: random spin-matrix
    weights on all nine slots, then with some slots zero (skipped), boundary phases, SU(3) with all rows and with
    two rows stored, SU(2)."""
    from gaugenet.operators.packed import PackedOneHop
    from gaugenet.stencil import OneHop, StencilLinks
    for N, two_rows in ((3, False), (3, "auto"), (2, "auto")):
        lat, U, _ = setup(grid, N=N, seed=7)
        psi = gn.FermionField.from_numpy(lat, random_global(tuple(reversed(DIMS)) + (nrhs * nin, 4, N), seed=320))
        links = StencilLinks(U, THETA)
        W = random_global((9, nout, nin, 4, 4), seed=330)
        P = PackedOneHop(links, nin, nout, two_rows=two_rows)
        assert P.two_rows == (N == 3 and two_rows == "auto")
        for w in (W, W * np.array([1, 0, 1, 1, 0, 0, 1, 1, 1])[:, None, None, None, None]):
            ref = OneHop(links, 4, nin, nout)(psi, w)
            got = P.unpack(P(P.pack(psi), w))
            assert_close(got.data.reshape(ref.data.shape), ref.data, 1e-13,
                         f"grid {grid} N={N} two_rows={two_rows} {nin}->{nout}")


@pytest.mark.mpi
@pytest.mark.parametrize("grid", packed_grids())
def test_fused_residual_and_accumulation(grid):
    """PackedWilson.apply(x, residual_of=b) = b - D x bit for bit (the kernel subtracts the result it stores
    otherwise), also with nrhs = 2 and clover, single precision; PackedOneHop(x, W, add=a) = a + stencil to
    rounding, into a separate output and in place (out = add); the unpacked fallback likewise; clear errors."""
    from gaugenet.operators.packed import PackedOneHop
    from gaugenet.stencil import StencilLinks
    for precision, tol in (("double", 1e-13), ("single", 2e-6)):
        lat, U, psi = setup(grid, precision=precision, nvec=2, seed=9)
        _, _, other = setup(grid, precision=precision, nvec=2, seed=10)
        D = gn.WilsonClover(U, mass=-0.3, csw=1.2, boundary_phases=THETA)
        for native in (True, False):
            P = gn.PackedWilson(D)
            P.native = native and P.native
            x, b = P.pack(psi), P.pack(other)
            r = P.apply(x, residual_of=b)
            ref = b.data - P(x).data
            if native:
                assert np.array_equal(r.data, ref), f"{precision} grid {grid}"
            else:
                assert_close(r.data, ref, tol, f"{precision} fallback")
            H = PackedOneHop(StencilLinks(U, THETA), 1, 1)
            H.native = native and H.native
            W = random_global((9, 1, 1, 4, 4), seed=333).astype(lat.complex_dtype)
            want = b.data + H(x, W).data
            assert_close(H(x, W, add=b).data, want, tol, f"{precision} add native={native}")
            acc = b.copy()
            assert H(x, W, out=acc, add=acc) is acc
            assert_close(acc.data, want, tol, f"{precision} in-place add native={native}")
        with pytest.raises(ValueError, match="residual_of"):
            P.apply(x, out=b, residual_of=b)
        with pytest.raises(ValueError, match="add"):
            H(x, W, add=x)


@pytest.mark.mpi
def test_packed_onehop_single_and_zero_boundary():
    from gaugenet.operators.packed import PackedOneHop
    from gaugenet.stencil import OneHop, StencilLinks
    for precision, zb, tol in (("single", False, 2e-6), ("double", True, 1e-13)):
        lat, U, psi = setup(packed_grids()[-1], precision=precision, zero_boundary=zb, nvec=2, seed=8)
        links = StencilLinks(U)
        W = random_global((9, 2, 2, 4, 4), seed=331)
        P = PackedOneHop(links, 2, 2)
        ref = OneHop(links, 4, 2, 2)(psi, W)
        assert_close(P.unpack(P(P.pack(psi), W)).data, ref.data, tol, f"{precision} zero-boundary={zb}")
        P.native = False
        assert_close(P.unpack(P(P.pack(psi), W)).data, ref.data, tol, "fallback")


@pytest.mark.mpi
def test_packed_onehop_is_the_ptc_layer_forward():
    """With the layer's nine-slot weights PackedOneHop computes PTC(W, phi) (what the bench compares)."""
    from gaugenet.ml import PTC, one_hop_paths
    from gaugenet.ml.ptc_packed import ptc_slot_weights
    from gaugenet.operators.packed import PackedOneHop
    lat, U, psi = setup(packed_grids()[0], nvec=2, seed=9)
    layer = PTC(U, 2, 2, one_hop_paths())
    W = layer.weights(seed=3)
    P = PackedOneHop(layer.links, 2, 2)
    assert_close(P.unpack(P(P.pack(psi), ptc_slot_weights(layer, W))).data, layer(W, psi).data, 1e-13, "PTC")


def _ptc_backward_case(grid, nin, nout, nrhs, paths, precision="double", seed=0, zero_path=None, zero_boundary=False):
    from gaugenet.ml import PTC
    from gaugenet.ml.ptc_packed import PackedPTC
    lat, U, _ = setup(grid, precision=precision, seed=11 + seed, zero_boundary=zero_boundary)
    layer = PTC(U, nin, nout, paths, boundary_phases=THETA)
    W = layer.weights(seed=5 + seed)
    if zero_path is not None:  # a path whose weights are zero still gets its gradient
        W[0][zero_path] = 0
    shape = tuple(reversed(DIMS))
    phi = gn.FermionField.from_numpy(lat, random_global(shape + (nrhs * nin, 4, 3), seed=340 + seed))
    left = gn.FermionField.from_numpy(lat, random_global(shape + (nrhs * nout, 4, 3), seed=350 + seed))
    return layer, W, phi, left, PackedPTC(layer)


def _check_ptc_backward(layer, W, phi, left, P, tol, label):
    G_ref, dphi_ref = layer.projected_gradient_adj(W, phi, left)
    x = P.pack(phi)
    ref = layer(W, phi).data
    assert_close(P.unpack(P(W, x)).data.reshape(ref.shape), ref, tol, label + " forward")
    G, dx = P.projected_gradient_adj(W, x, P.pack(left))
    assert G.shape == G_ref.shape and G.dtype == G_ref.dtype, label
    assert_close(G, G_ref, tol, label + " dW")
    assert_close(P.unpack(dx).data.reshape(dphi_ref.data.shape), dphi_ref.data, tol, label + " dphi")
    buf = P.pack(phi)
    G2, dx2 = P.projected_gradient_adj(W, x, P.pack(left), out=buf)  # into a given buffer, G afresh
    assert dx2 is buf
    assert_close(G2, G_ref, tol, label + " dW again")
    assert_close(P.unpack(dx2).data.reshape(dphi_ref.data.shape), dphi_ref.data, tol, label + " dphi into out")


@pytest.mark.mpi
@pytest.mark.parametrize("grid", packed_grids())
@pytest.mark.parametrize("nin,nout,nrhs", [(1, 1, 1), (2, 2, 1), (1, 3, 2), (3, 1, 1)])
def test_packed_ptc_backward_equals_layer(grid, nin, nout, nrhs):
    """PackedPTC's forward and fused backward (dW summed over the lattice, dphi = L^dag left) against
    the PTC layer's own: all nine one-hop paths, boundary phases, several right-hand sides."""
    from gaugenet.ml import one_hop_paths
    case = _ptc_backward_case(grid, nin, nout, nrhs, one_hop_paths())
    _check_ptc_backward(*case, 1e-12, f"grid {grid} {nin}->{nout} x{nrhs}")


@pytest.mark.mpi
def test_packed_ptc_backward_paths_precision_fallback():
    """Five of the one-hop paths in another order, one with zero weights (its gradient is still
    computed); single precision (double sums of the gradient); zero-boundary links; the unpacked fallback."""
    from gaugenet.ml import one_hop_paths
    paths = [one_hop_paths()[i] for i in (8, 3, 0, 6, 5)]
    grid = packed_grids()[-1]
    case = _ptc_backward_case(grid, 2, 1, 2, paths, seed=1, zero_path=1)
    _check_ptc_backward(*case, 1e-12, "path subset")
    _check_ptc_backward(*_ptc_backward_case(grid, 2, 2, 1, paths, precision="single", seed=2), 3e-6, "single")
    _check_ptc_backward(*_ptc_backward_case(grid, 1, 2, 1, paths, seed=3, zero_boundary=True), 1e-12, "zero boundary")
    layer, W, phi, left, P = case
    P.fwd.native = P.adj.native = False
    _check_ptc_backward(layer, W, phi, left, P, 1e-12, "fallback")


def test_packed_ptc_errors():
    from gaugenet.ml import PTC, one_hop_paths
    from gaugenet.ml.ptc_packed import PackedPTC
    lat, U, psi = setup((1, 1, 1, 1) if NRANKS == 1 else None, nvec=2)
    with pytest.raises(ValueError, match="at most one hop"):
        PackedPTC(PTC(U, 1, 1, [[(0, 1), (1, 1)]]))
    with pytest.raises(TypeError, match="PTC layer"):
        PackedPTC(gn.Wilson(U, mass=0.1))
    layer = PTC(U, 1, 2, one_hop_paths())
    P = PackedPTC(layer)
    W = layer.weights()
    x = P.pack(psi)
    with pytest.raises(ValueError, match="right-hand sides"):
        P.projected_gradient_adj(W, x, x)  # left needs 2 rhs x 2 features
    with pytest.raises(ValueError, match="complex128"):
        P.adj.apply_grad(x, np.zeros((9, 1, 2, 4, 4)), x, np.zeros((9, 2, 1, 4, 4), dtype=np.complex64))


@pytest.mark.mpi
def test_non_hermitian_clover_refused_on_every_rank():
    """Clover blocks spoiled on rank 0 only: PackedWilson raises on every rank (no hang)."""
    lat, U, _ = setup(packed_grids()[0], seed=10)
    D = gn.WilsonClover(U, mass=0.1, csw=1.0)
    if lat.rank == 0:
        D.clover = D.clover.copy()
        D.clover[0, 0, 0, 1] += 0.5
    with pytest.raises(ValueError, match="not hermitian"):
        gn.PackedWilson(D)


@pytest.mark.mpi
def test_two_row_links_only_for_su3():
    """One link made U(3) (det e^{0.3i}) on rank 0 only: 'auto' keeps all rows on every rank (and stays exact),
    two_rows=True raises on every rank; SU(2) never uses two rows; single precision does."""
    lat, U, psi = setup(packed_grids()[-1], seed=11)
    D = gn.Wilson(U, mass=0.1, boundary_phases=THETA)
    assert gn.PackedWilson(D).two_rows
    if lat.rank == 0:
        D.links.U = D.links.U.copy()
        D.links.U[2, 5] *= np.exp(0.1j)
    P = gn.PackedWilson(D)
    assert not P.two_rows
    assert_close(P.unpack(P(P.pack(psi))).data, D(psi).data, 1e-13, "U(3) link, all rows stored")
    with pytest.raises(ValueError, match="third rows differ"):
        gn.PackedWilson(D, two_rows=True)
    with pytest.raises(ValueError, match="two_rows must be"):
        gn.PackedWilson(D, two_rows="yes")
    lat2, U2, _ = setup(packed_grids()[-1], N=2, seed=12)
    assert not gn.PackedWilson(gn.Wilson(U2, mass=0.1), two_rows="auto").two_rows
    with pytest.raises(ValueError, match="SU\\(2\\)"):
        gn.PackedWilson(gn.Wilson(U2, mass=0.1), two_rows=True)
    lat3, U3, _ = setup(packed_grids()[-1], precision="single", seed=13)
    assert gn.PackedWilson(gn.Wilson(U3, mass=0.1)).two_rows
    Dn = gn.Wilson(U3, mass=0.1)
    if lat3.rank == 0:
        Dn.links.U = Dn.links.U.copy()
        Dn.links.U[0, 3, 1, 1] = np.nan  # a NaN is no SU(3) link either
    assert not gn.PackedWilson(Dn).two_rows


def test_clear_errors():
    lat = gn.Lattice((12, 4, 4, 4), mpi=(1, 1, 1, 1))
    U = gn.GaugeField.from_numpy(lat, random_su_global(lat.dims, 3, seed=9))
    with pytest.raises(ValueError, match="multiple of 8"):
        gn.PackedWilson(gn.Wilson(U, mass=0.1))
    lat, U, psi = setup((1, 1, 1, 1) if NRANKS == 1 else None)
    P = gn.PackedWilson(gn.Wilson(U, mass=0.1))
    with pytest.raises(TypeError, match="PackedFermion"):
        P(psi)
    with pytest.raises(TypeError, match="FermionField"):
        P.pack(P.pack(psi))
    x = P.pack(psi)
    with pytest.raises(ValueError, match="distinct"):
        P.apply(x, out=x)
    if core.packed_available():
        with pytest.raises(ValueError, match="multiple of 8"):
            core.wilson_packed(x.data, x.data.copy(), None, P.U, None, P.halo.nbr, (4, 8, 4, 8), (False,) * 4,
                               None, 4.0, -0.5, 1, 3, False, 0)


def test_packed_ptc_backward_threads():
    """The gradient sweep on a lattice large enough for the OpenMP team (>= 4096 local sites), 2 threads, in both
    precisions (single flushes its per-thread partial sums on the workers), against the layer."""
    from gaugenet.ml import PTC, PackedPTC, one_hop_paths
    dims = (8, 8, 8, 8)
    old = core.max_threads()
    core.set_num_threads(2)
    try:
        for precision, tol in (("double", 1e-12), ("single", 3e-6)):
            lat = gn.Lattice(dims, mpi=(1, 1, 1, 1), precision=precision)
            U = gn.GaugeField.from_numpy(lat, random_su_global(dims, 3, seed=360))
            layer = PTC(U, 1, 1, one_hop_paths())
            W = layer.weights(seed=4)
            phi = gn.FermionField.from_numpy(lat, random_global(tuple(reversed(dims)) + (4, 3), seed=361))
            left = gn.FermionField.from_numpy(lat, random_global(tuple(reversed(dims)) + (4, 3), seed=362))
            _check_ptc_backward(layer, W, phi, left, PackedPTC(layer), tol, precision)
    finally:
        core.set_num_threads(old)
