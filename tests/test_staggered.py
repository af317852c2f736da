"""Staggered operator against a dense matrix written here from shared/CONVENTIONS.md, its adjoint,
D^dag D and the even-site restriction, gauge covariance, many right-hand sides, single precision."""
import numpy as np
import pytest
from mpi4py import MPI

import gaugenet as gn
from conftest import assert_close, random_global, random_su_global

DIMS = (4, 4, 2, 4)


def lattice(dims=DIMS, precision="double"):
    return gn.Lattice(dims, mpi=(1, 1, 1, 1), comm=MPI.COMM_SELF, precision=precision)


def dense_staggered(u, dims, mass, theta):
    """D chi(x) = m chi(x) + 1/2 sum_mu eta_mu(x) [U_mu(x) chi(x+mu) - U_mu(x-mu)^dag chi(x-mu)], with
    exp(i theta_mu) on the links of the last slice, as a (V N)^2 matrix in memory order."""
    N = u.shape[-1]
    V = int(np.prod(dims))
    Lx, Ly, Lz, Lt = dims
    D = np.zeros((V * N, V * N), dtype=complex)

    def idx(c):
        x, y, z, t = (c[i] % dims[i] for i in range(4))
        return x + Lx * (y + Ly * (z + Lz * t))

    def link(mu, c):
        x, y, z, t = (c[i] % dims[i] for i in range(4))
        return u[mu, t, z, y, x]

    for t in range(Lt):
        for z in range(Lz):
            for y in range(Ly):
                for x in range(Lx):
                    c = (x, y, z, t)
                    i = idx(c)
                    D[i * N:(i + 1) * N, i * N:(i + 1) * N] += mass * np.eye(N)
                    eta = [1, (-1) ** x, (-1) ** (x + y), (-1) ** (x + y + z)]
                    for mu in range(4):
                        cf, cb = list(c), list(c)
                        cf[mu] += 1
                        cb[mu] -= 1
                        ph_f = np.exp(1j * theta[mu]) if c[mu] == dims[mu] - 1 else 1
                        ph_b = np.exp(1j * theta[mu]) if c[mu] == 0 else 1
                        j = idx(cf)
                        D[i * N:(i + 1) * N, j * N:(j + 1) * N] += 0.5 * eta[mu] * ph_f * link(mu, c)
                        j = idx(cb)
                        D[i * N:(i + 1) * N, j * N:(j + 1) * N] -= 0.5 * eta[mu] * np.conj(ph_b) * \
                            link(mu, cb).conj().T
    return D


def unit_batch(lat, N):
    V = lat.local_volume
    n = V * N
    e = np.eye(n, dtype=lat.complex_dtype).reshape(n, V, N).transpose(1, 0, 2)
    return gn.StaggeredField(lat, np.ascontiguousarray(e).reshape(lat.local_shape + (n, N)))


def matrix_of(op, lat, N):
    V = lat.local_volume
    n = V * N
    out = op(unit_batch(lat, N)).data
    return out.reshape(V, n, N).transpose(0, 2, 1).reshape(n, n)


def even_mask(dims, N, parity=0):
    Lx, Ly, Lz, Lt = dims
    t, z, y, x = np.meshgrid(*(np.arange(L) for L in (Lt, Lz, Ly, Lx)), indexing="ij")
    par = ((x + y + z + t) % 2).ravel()
    return np.repeat(par == parity, N)


@pytest.mark.parametrize("N", [2, 3])
@pytest.mark.parametrize("theta", [None, (0.4, -1.1, 0.0, np.pi)])
def test_dense_matrix(N, theta):
    lat = lattice()
    u = random_su_global(DIMS, N, seed=60 + N)
    U = gn.GaugeField.from_numpy(lat, u)
    mass = 0.3
    S = gn.Staggered(U, mass=mass) if theta is None else gn.Staggered(U, mass=mass, boundary_phases=theta)
    ref = dense_staggered(u, DIMS, mass, (0, 0, 0, np.pi) if theta is None else theta)
    hop = ref - mass * np.eye(len(ref))
    assert_close(matrix_of(S, lat, N), ref, 1e-13, "D vs dense")
    assert_close(matrix_of(S.adjoint, lat, N), ref.conj().T, 1e-13, "D^dag vs dense")
    assert_close(matrix_of(S.hop, lat, N), hop, 1e-13, "D_hop vs dense")
    assert_close(hop.conj().T, -hop, 1e-15, "dense D_hop anti-hermitian")
    DdD = ref.conj().T @ ref
    assert_close(matrix_of(S.DdagD, lat, N), DdD, 1e-13, "D^dag D vs dense")
    ev = even_mask(DIMS, N)
    assert np.abs(DdD[np.ix_(ev, ~ev)]).max() < 1e-14, "dense D^dag D is not even-odd block diagonal"
    for parity in (0, 1):
        m = even_mask(DIMS, N, parity)
        got = matrix_of(lambda f: S.DdagD_even(f, parity), lat, N)
        assert_close(got[np.ix_(m, m)], DdD[np.ix_(m, m)], 1e-13, f"(D^dag D) restricted to parity {parity}")
        assert np.abs(got[~m]).max() == 0, "other-parity output must be zero"
        assert np.abs(got[:, ~m]).max() == 0, "other-parity input must be ignored"


def test_dense_catches_wrong_boundary():
    lat = lattice()
    u = random_su_global(DIMS, 2, seed=7)
    S = gn.Staggered(gn.GaugeField.from_numpy(lat, u), mass=0.2)
    wrong = dense_staggered(u, DIMS, 0.2, (0, 0, 0, 0))
    assert np.abs(matrix_of(S, lat, 2) - wrong).max() > 0.5


@pytest.mark.parametrize("N", [2, 3])
def test_adjoint_and_eps_hermiticity(N):
    lat = lattice((4, 4, 4, 4))
    S = gn.Staggered(gn.GaugeField.random(lat, N, seed=70), mass=0.25)
    a = gn.StaggeredField.random(lat, N, seed=71)
    b = gn.StaggeredField.random(lat, N, seed=72)
    assert_close(S.adjoint(a).inner(b), a.inner(S(b)), 1e-12, "<a, D b> = <D^dag a, b>")
    eps = (1 - 2 * lat.parity()).astype(float).reshape(lat.local_shape + (1,))
    epsf = lambda f: gn.StaggeredField(lat, f.data * eps)  # noqa: E731
    assert_close(S.adjoint(a).data, epsf(S(epsf(a))).data, 1e-14, "D^dag = eps D eps")
    assert_close(S.DdagD(a).data, (S.mass ** 2 * a - S.hop(S.hop(a))).data, 1e-13, "D^dag D = m^2 - D_hop^2")
    # even-site restriction against the full D^dag D on an even-site vector
    ae = S.project(a, 0)
    assert_close(S.DdagD_even(a).data, S.project(S.DdagD(ae), 0).data, 1e-13, "(D^dag D)_ee")
    assert_close(S.DdagD(ae).data, S.DdagD_even(ae).data, 1e-13, "D^dag D keeps even vectors even")
    assert S.DdagD_even(a).inner(a).real > 0


@pytest.mark.parametrize("N", [2, 3])
def test_gauge_covariance(N):
    lat = lattice((4, 4, 4, 4))
    U = gn.GaugeField.random(lat, N, seed=80)
    omega = gn.ColorMatrixField.random_su(lat, N, seed=81)
    chi = gn.StaggeredField.random(lat, N, nvec=3, seed=82)
    S, Sg = gn.Staggered(U, mass=0.1), gn.Staggered(U.transform(omega), mass=0.1)
    for name in ("__call__", "adjoint", "DdagD", "DdagD_even"):
        lhs = getattr(Sg, name)(chi.transform(omega))
        rhs = getattr(S, name)(chi).transform(omega)
        assert_close(lhs.data, rhs.data, 1e-12, f"gauge covariance of {name}")


def test_many_rhs_equal_single():
    lat = lattice((4, 4, 4, 4))
    S = gn.Staggered(gn.GaugeField.random(lat, 3, seed=90), mass=0.3)
    batch = gn.StaggeredField.random(lat, 3, nvec=4, seed=91)
    for f in (S, S.adjoint, S.DdagD, S.DdagD_even, S.hop):
        out = f(batch)
        assert out.nvec == 4 and out.batched
        for i in range(4):
            assert_close(out.batch(i).data, f(batch.batch(i)).data, 1e-15, "batched vs single")


def test_single_precision():
    dims = (4, 4, 4, 4)
    u = random_su_global(dims, 2, seed=95)
    c = random_global(tuple(reversed(dims)) + (2, 2), seed=96)
    res = {}
    for prec in ("double", "single"):
        lat = lattice(dims, prec)
        S = gn.Staggered(gn.GaugeField.from_numpy(lat, u), mass=0.3)
        chi = gn.StaggeredField.from_numpy(lat, c)
        res[prec] = [S(chi), S.adjoint(chi), S.DdagD(chi), S.DdagD_even(chi)]
    for a, b in zip(res["single"], res["double"]):
        assert a.data.dtype == np.complex64
        assert_close(a.data, b.data, 2e-6, "single vs double")


def test_rejects_wrong_fields():
    lat = lattice()
    S = gn.Staggered(gn.GaugeField.random(lat, 3, seed=1))
    with pytest.raises(TypeError, match="StaggeredField"):
        S(gn.FermionField.random(lat, 3, seed=2))
    with pytest.raises(ValueError, match="colours"):
        S(gn.StaggeredField.random(lat, 2, seed=2))
    with pytest.raises(ValueError, match="parity"):
        S.DdagD_even(gn.StaggeredField.random(lat, 3, seed=2), parity=2)


@pytest.mark.parametrize("parity", [0, 1])
def test_even_site_operator_on_half_fields(parity):
    """(D^dag D)_ee on StaggeredParityField (V/2 rows): the parity's rows of the full-field result, with and
    without a batch of vectors and an out= field; restrict / embed invert each other on one parity."""
    lat = lattice()
    S = gn.Staggered(gn.GaugeField.random(lat, 3, seed=11), mass=0.4, boundary_phases=(0.3, 0.0, -0.7, np.pi))
    for nvec in (None, 3):
        chi = gn.StaggeredField.random(lat, 3, nvec=nvec, seed=12)
        h = S.restrict(chi, parity)
        assert isinstance(h, gn.StaggeredParityField) and h.data.shape[0] == lat.local_volume // 2
        assert np.array_equal(S.embed(h).data, S.project(chi, parity).data)
        full = S.DdagD_even(chi, parity)
        got = S.DdagD_even(h, parity)
        assert isinstance(got, gn.StaggeredParityField) and got.parity == parity
        assert_close(got.data, S.restrict(full, parity).data, 1e-14, "half = restricted full")
        out = h.empty_like()
        assert S.DdagD_even(h, parity, out=out) is out
        assert np.array_equal(out.data, got.data)
        assert got.inner(h).real > 0 and abs(got.inner(h).imag) < 1e-12 * abs(got.inner(h))
    with pytest.raises(ValueError, match="parity"):
        S.DdagD_even(h, 1 - parity)
    with pytest.raises(ValueError, match="out must be"):
        S.DdagD_even(h, parity, out=h)
