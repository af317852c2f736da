"""Even-odd (Schur complement) form of Wilson and Wilson-clover: the operator equals the dense Schur
complement of the full matrix, and the even solve plus reconstruction reproduces the full solution."""
import numpy as np
import pytest
from mpi4py import MPI

import gaugenet as gn
from conftest import assert_close, random_global, random_su_global

DIMS = (4, 4, 2, 4)
THETA = (0.2, 0.0, 0.0, np.pi)


def lattice(dims=DIMS, precision="double"):
    return gn.Lattice(dims, mpi=(1, 1, 1, 1), comm=MPI.COMM_SELF, precision=precision)


def matrix_of(op, lat, N):
    V = lat.local_volume
    n = V * 4 * N
    e = np.eye(n, dtype=lat.complex_dtype).reshape(n, V, 4, N).transpose(1, 0, 2, 3)
    out = op(gn.FermionField(lat, np.ascontiguousarray(e).reshape(lat.local_shape + (n, 4, N)))).data
    return out.reshape(V, n, 4 * N).transpose(0, 2, 1).reshape(n, n)


def parity_mask(lat, N, parity):
    return np.repeat(lat.parity() == parity, 4 * N)


def make(lat, N, csw, seed=3):
    U = gn.GaugeField.from_numpy(lat, random_su_global(lat.dims, N, seed))
    if csw:
        return gn.WilsonClover(U, mass=-0.3, csw=csw, boundary_phases=THETA)
    return gn.Wilson(U, mass=-0.3, boundary_phases=THETA)


@pytest.mark.parametrize("N,csw,parity", [(2, 0.0, 0), (3, 1.2, 0), (2, 1.2, 1), (3, 0.0, 1)])
def test_schur_complement_dense(N, csw, parity):
    lat = lattice()
    D = make(lat, N, csw)
    Md = matrix_of(D, lat, N)
    e, o = parity_mask(lat, N, parity), parity_mask(lat, N, 1 - parity)
    ref = Md[np.ix_(e, e)] - Md[np.ix_(e, o)] @ np.linalg.solve(Md[np.ix_(o, o)], Md[np.ix_(o, e)])
    M = gn.EvenOdd(D, parity=parity)
    got = matrix_of(M, lat, N)
    assert_close(got[np.ix_(e, e)], ref, 1e-12, "M_pp vs dense Schur complement")
    assert np.abs(got[o]).max() == 0 and np.abs(got[:, o]).max() == 0, "other parity must be zero / ignored"
    gotd = matrix_of(M.adjoint, lat, N)
    assert_close(gotd[np.ix_(e, e)], ref.conj().T, 1e-12, "M_pp^dag vs dense")


@pytest.mark.parametrize("variant", ["generic", "simd"])
def test_kernel_variants(variant):
    """The half-lattice hops (other parity's backward links, site term from another field) in the site-by-site
    kernel (CUDA's, and the fallback) and the SIMD one, against the dense Schur complement."""
    from gaugenet._backend import core
    if variant == "simd" and core.wilson_variant() != "simd":
        pytest.skip("this build has no SIMD Wilson kernel")
    lat = lattice()
    before = core.wilson_variant()
    core.wilson_variant(variant)
    try:
        for csw in (0.0, 1.2):
            D = make(lat, 3, csw, seed=21)
            Md = matrix_of(D, lat, 3)
            e, o = parity_mask(lat, 3, 1), parity_mask(lat, 3, 0)
            ref = Md[np.ix_(e, e)] - Md[np.ix_(e, o)] @ np.linalg.solve(Md[np.ix_(o, o)], Md[np.ix_(o, e)])
            M = gn.EvenOdd(D, parity=1)
            assert_close(matrix_of(M, lat, 3)[np.ix_(e, e)], ref, 1e-12, f"M_pp, {variant} kernel, csw={csw}")
            b = gn.FermionField.random(lat, 3, nvec=2, seed=22)
            x = M.reconstruct(M.restrict(b), b)
            bp = M.prepare_source(b, half=True)
            # D x = b on the q sites by construction; on the p sites D x - b = M_pp x_p - b'_p
            r = D(x) - b
            assert np.abs(M.restrict(r, "q").data).max() < 1e-12 * np.abs(b.data).max()
            assert_close(M.restrict(r).data, (M(M.restrict(b)) - bp).data, 1e-12, f"p rows, {variant}")
    finally:
        core.wilson_variant(before)


@pytest.mark.parametrize("N,csw,dagger", [(2, 0.0, False), (3, 1.2, False), (2, 1.2, True), (3, 0.0, True)])
def test_solution_reconstruction(N, csw, dagger):
    lat = lattice()
    D = make(lat, N, csw, seed=5)
    M = gn.EvenOdd(D)
    Md = matrix_of(D.adjoint if dagger else D, lat, N)
    b = gn.FermionField.random(lat, N, seed=6)
    x_ref = np.linalg.solve(Md, b.data.ravel())
    # solve the even system densely with the matrix of the Schur operator
    e = parity_mask(lat, N, 0)
    Me = matrix_of(M.adjoint if dagger else M, lat, N)[np.ix_(e, e)]
    bp = M.prepare_source(b, dagger=dagger)
    xe = np.zeros(bp.data.size, dtype=complex)
    xe[e] = np.linalg.solve(Me, bp.data.ravel()[e])
    x = M.reconstruct(gn.FermionField(lat, xe.reshape(b.data.shape)), b, dagger=dagger)
    assert_close(x.data.ravel(), x_ref, 1e-11, "even-odd solution vs dense solve of D")
    Dx = D.adjoint(x) if dagger else D(x)
    assert_close(Dx.data, b.data, 1e-11, "D x = b")


def test_mdagm_adjoint_and_covariance():
    lat = lattice((4, 4, 4, 4))
    U = gn.GaugeField.random(lat, 3, seed=7)
    omega = gn.ColorMatrixField.random_su(lat, 3, seed=8)
    M = gn.EvenOdd(gn.WilsonClover(U, mass=-0.5, csw=1.0, boundary_phases=THETA))
    Mg = gn.EvenOdd(gn.WilsonClover(U.transform(omega), mass=-0.5, csw=1.0, boundary_phases=THETA))
    a = M.project(gn.FermionField.random(lat, 3, seed=9))
    b = M.project(gn.FermionField.random(lat, 3, seed=10))
    assert_close(M.adjoint(a).inner(b), a.inner(M(b)), 1e-12, "<a, M b> = <M^dag a, b>")
    assert_close(M.MdagM(a).data, M.adjoint(M(a)).data, 1e-15, "MdagM")
    assert_close(Mg(a.transform(omega)).data, M(a).transform(omega).data, 1e-12, "gauge covariance of M_ee")
    assert_close(Mg.adjoint(a.transform(omega)).data, M.adjoint(a).transform(omega).data, 1e-12,
                 "gauge covariance of M_ee^dag")


def test_many_rhs_and_single_precision():
    dims = (4, 4, 4, 4)
    u = random_su_global(dims, 3, seed=11)
    p = random_global(tuple(reversed(dims)) + (3, 4, 3), seed=12)
    res = {}
    for prec in ("double", "single"):
        lat = lattice(dims, prec)
        U = gn.GaugeField.from_numpy(lat, u)
        psi = gn.FermionField.from_numpy(lat, p)
        out = []
        for D in (gn.Wilson(U, mass=-0.3), gn.WilsonClover(U, mass=-0.3, csw=1.0)):
            M = gn.EvenOdd(D)
            for f in (M, M.adjoint, M.prepare_source, lambda v: M.reconstruct(v, psi)):
                out.append(f(psi))
        res[prec] = out
    for a, b in zip(res["single"], res["double"]):
        assert a.data.dtype == np.complex64
        assert_close(a.data, b.data, 2e-6, "single vs double")
    lat = lattice(dims)
    U = gn.GaugeField.from_numpy(lat, u)
    psi = gn.FermionField.from_numpy(lat, p)
    M = gn.EvenOdd(gn.WilsonClover(U, mass=-0.3, csw=1.0))
    for name, f in (("M", M), ("Mdag", M.adjoint), ("prepare_source", M.prepare_source),
                    ("reconstruct", lambda v: M.reconstruct(v, v))):
        r = f(psi)
        for i in range(psi.nvec):
            assert_close(r.batch(i).data, f(psi.batch(i)).data, 1e-15, f"{name}: batched vs single")


def test_errors():
    lat = lattice()
    U = gn.GaugeField.random(lat, 2, seed=1)
    with pytest.raises(ZeroDivisionError, match="4 \\+ m"):
        gn.EvenOdd(gn.Wilson(U, mass=-4.0))
    with pytest.raises(ValueError, match="parity"):
        gn.EvenOdd(gn.Wilson(U, mass=0.0), parity=2)
    with pytest.raises(TypeError, match="Wilson"):
        gn.EvenOdd(gn.Staggered(U))
    with pytest.raises(TypeError, match="FermionField"):
        gn.EvenOdd(gn.Wilson(U, mass=0.0))(gn.StaggeredField.random(lat, 2, seed=2))


@pytest.mark.parametrize("csw,parity,nvec", [(0.0, 0, None), (1.2, 1, None), (1.2, 0, 2)])
def test_half_lattice_fields(csw, parity, nvec):
    """The solver-facing layout: ParityFields of Vp = V/2 rows give the same results as the full-field
    interface, and the adjoint identity holds on them."""
    lat = lattice()
    M = gn.EvenOdd(make(lat, 3, csw, seed=13), parity=parity)
    psi = gn.FermionField.random(lat, 3, nvec=nvec, seed=14)
    chi = gn.FermionField.random(lat, 3, nvec=nvec, seed=15)
    a, b = M.restrict(psi), M.restrict(chi)
    assert isinstance(a, gn.ParityField) and a.parity == parity and a.data.shape[0] == lat.local_volume // 2
    assert a.nvec == (nvec or 1)
    assert_close(M.embed(a).data, M.project(psi).data, 1e-300, "restrict / embed round trip")
    for f in (M, M.adjoint, M.MdagM):
        r = f(a)
        assert isinstance(r, gn.ParityField) and r.parity == parity
        assert_close(M.embed(r).data, f(psi).data, 1e-14, "half-lattice vs full-field interface")
    assert_close(M.adjoint(a).inner(b), a.inner(M(b)), 1e-12, "<a, M b> = <M^dag a, b> on half fields")
    bp = M.prepare_source(psi, half=True)
    assert isinstance(bp, gn.ParityField)
    assert_close(M.embed(bp).data, M.prepare_source(psi).data, 1e-300, "prepare_source(half=True)")
    assert_close(M.reconstruct(a, chi).data, M.reconstruct(psi, chi).data, 1e-300, "reconstruct from half / full")
    # vector operations of the solvers on half fields
    c = a.copy()
    n2 = c.axpy(0.5 - 0.25j, b, norm=True)
    ref = a.data + (0.5 - 0.25j) * b.data
    assert_close(c.data, ref, 1e-15, "axpy")
    assert_close(n2, float(np.vdot(ref, ref).real), 1e-13, "axpy norm")
    assert_close(c.xpay(2.0, a).data, a.data + 2.0 * ref, 1e-15, "xpay")
    assert_close((a - b).norm2(), float(np.vdot(a.data - b.data, a.data - b.data).real), 1e-13, "norm2")


def test_checkerboard_tables():
    """Independent check of the half-lattice neighbour tables against the coordinates."""
    lat = lattice((4, 2, 6, 4))
    cb = lat.checkerboard()
    coords = lat.local_coordinates()
    for q in (0, 1):
        p = 1 - q
        h = cb.halo(q)
        assert h.Vh == 0 and h.nbr.shape == (cb.Vp, 8)
        assert np.all(np.diff(cb.sites[p]) > 0) and np.all(lat.parity()[cb.sites[p]] == p)
        for k in range(8):
            mu, s = k // 2, (1 if k % 2 == 0 else -1)
            want = coords[cb.sites[p]].copy()
            want[:, mu] = (want[:, mu] + s) % lat.dims[mu]
            got = coords[cb.sites[q][h.nbr[:, k]]]
            assert np.array_equal(got, want), f"hop {k} of the parity-{p} outputs"


def test_half_lattice_errors():
    lat = lattice()
    M = gn.EvenOdd(make(lat, 2, 0.0))
    odd_rows = gn.ParityField(lat, np.zeros((lat.local_volume // 2, 4, 2), dtype=complex), 1)
    with pytest.raises(ValueError, match="parity 1"):
        M(odd_rows)
    with pytest.raises(ValueError, match="V/2"):
        gn.ParityField(lat, np.zeros((lat.local_volume, 4, 2), dtype=complex), 0)
