"""Wilson and Wilson-clover against a dense matrix built here from the formula of shared/CONVENTIONS.md
(own gamma matrices, own plaquette leaves, nothing shared with the kernels), plus gamma5-hermiticity,
the adjoint, gauge covariance, many right-hand sides and single precision."""
import numpy as np
import pytest
from mpi4py import MPI

import gaugenet as gn
from conftest import assert_close, random_global, random_su_global

# Grid / GPT chiral basis, typed in from shared/CONVENTIONS.md
GX = np.array([[0, 0, 0, 1j], [0, 0, 1j, 0], [0, -1j, 0, 0], [-1j, 0, 0, 0]])
GY = np.array([[0, 0, 0, -1], [0, 0, 1, 0], [0, 1, 0, 0], [-1, 0, 0, 0]], dtype=complex)
GZ = np.array([[0, 0, 1j, 0], [0, 0, 0, -1j], [-1j, 0, 0, 0], [0, 1j, 0, 0]])
GT = np.array([[0, 0, 1, 0], [0, 0, 0, 1], [1, 0, 0, 0], [0, 1, 0, 0]], dtype=complex)
GAMMA = [GX, GY, GZ, GT]
G5 = np.diag([1.0, 1.0, -1.0, -1.0]).astype(complex)
I4 = np.eye(4)

DIMS = (4, 4, 2, 4)
THETA = (0.3, 0.0, -0.7, np.pi)


def lattice(dims=DIMS, precision="double"):
    return gn.Lattice(dims, mpi=(1, 1, 1, 1), comm=MPI.COMM_SELF, precision=precision)


class Links:
    """Periodic access to global links u[mu, t, z, y, x] by coordinates (x, y, z, t)."""

    def __init__(self, u, dims):
        self.u, self.dims = u, dims

    def __call__(self, mu, c):
        x, y, z, t = (c[i] % self.dims[i] for i in range(4))
        return self.u[mu, t, z, y, x]

    def index(self, c):
        Lx, Ly, Lz, _ = self.dims
        x, y, z, t = (c[i] % self.dims[i] for i in range(4))
        return x + Lx * (y + Ly * (z + Lz * t))


def step(c, mu, s):
    c = list(c)
    c[mu] += s
    return tuple(c)


def leaves(L, c, mu, nu):
    """Q_munu(c): the four plaquettes at c oriented mu -> nu, written out link by link."""
    d = lambda a: a.conj().T  # noqa: E731
    up, dn = lambda c_, m: step(c_, m, 1), lambda c_, m: step(c_, m, -1)  # noqa: E731
    q = L(mu, c) @ L(nu, up(c, mu)) @ d(L(mu, up(c, nu))) @ d(L(nu, c))
    q = q + L(nu, c) @ d(L(mu, up(dn(c, mu), nu))) @ d(L(nu, dn(c, mu))) @ L(mu, dn(c, mu))
    q = q + d(L(mu, dn(c, mu))) @ d(L(nu, dn(dn(c, mu), nu))) @ L(mu, dn(dn(c, mu), nu)) @ L(nu, dn(c, nu))
    q = q + d(L(nu, dn(c, nu))) @ L(mu, dn(c, nu)) @ L(nu, up(dn(c, nu), mu)) @ d(L(mu, c))
    return q


def dense_wilson(u, dims, mass, theta, csw=0.0, parts=False):
    """The (V 4 N)^2 matrix of D in the field's memory order (site lexicographic, spin, colour)."""
    L = Links(u, dims)
    N = u.shape[-1]
    n = 4 * N
    V = int(np.prod(dims))
    hop = np.zeros((V * n, V * n), dtype=complex)
    site = np.zeros_like(hop)
    for t in range(dims[3]):
        for z in range(dims[2]):
            for y in range(dims[1]):
                for x in range(dims[0]):
                    c = (x, y, z, t)
                    i = L.index(c)
                    blk = (4 + mass) * np.eye(n, dtype=complex)
                    for mu in range(4):
                        for nu in range(4):
                            if nu == mu or csw == 0.0:
                                continue
                            Q = leaves(L, c, mu, nu)
                            F = (Q - Q.conj().T) / 8
                            sig = (GAMMA[mu] @ GAMMA[nu] - GAMMA[nu] @ GAMMA[mu]) / 2
                            blk -= csw / 4 * np.kron(sig, F)
                    site[i * n:(i + 1) * n, i * n:(i + 1) * n] += blk
                    for mu in range(4):
                        cf = step(c, mu, 1)
                        ph = np.exp(1j * theta[mu]) if c[mu] == dims[mu] - 1 else 1.0
                        j = L.index(cf)
                        hop[i * n:(i + 1) * n, j * n:(j + 1) * n] += -0.5 * np.kron(I4 - GAMMA[mu], ph * L(mu, c))
                        cb = step(c, mu, -1)
                        ph = np.exp(1j * theta[mu]) if c[mu] == 0 else 1.0
                        j = L.index(cb)
                        hop[i * n:(i + 1) * n, j * n:(j + 1) * n] += -0.5 * np.kron(
                            I4 + GAMMA[mu], (ph * L(mu, cb)).conj().T)
    if parts:
        return site, hop
    return site + hop


def unit_batch(lat, N):
    """Every unit vector of the (single-rank) lattice as one batched FermionField."""
    V = lat.local_volume
    n = V * 4 * N
    e = np.eye(n, dtype=lat.complex_dtype).reshape(n, V, 4, N).transpose(1, 0, 2, 3)
    return gn.FermionField(lat, np.ascontiguousarray(e).reshape(lat.local_shape + (n, 4, N)))


def matrix_of(op, lat, N):
    """The matrix of a linear map on FermionFields, from its action on all unit vectors at once."""
    out = op(unit_batch(lat, N)).data
    V = lat.local_volume
    n = V * 4 * N
    return out.reshape(V, n, 4 * N).transpose(0, 2, 1).reshape(n, n)


@pytest.mark.parametrize("N", [2, 3])
@pytest.mark.parametrize("csw", [0.0, 1.3])
def test_dense_matrix(N, csw):
    lat = lattice()
    u = random_su_global(DIMS, N, seed=11 + N)
    U = gn.GaugeField.from_numpy(lat, u)
    mass = -0.37
    if csw:
        D = gn.WilsonClover(U, mass=mass, csw=csw, boundary_phases=THETA)
    else:
        D = gn.Wilson(U, mass=mass, boundary_phases=THETA)
    site, hop = dense_wilson(u, DIMS, mass, THETA, csw, parts=True)
    ref = site + hop
    assert_close(matrix_of(D, lat, N), ref, 1e-13, "D vs dense")
    assert_close(matrix_of(D.adjoint, lat, N), ref.conj().T, 1e-13, "D^dag vs dense")
    assert_close(matrix_of(D.hop, lat, N), hop, 1e-13, "hopping term vs dense")
    assert_close(matrix_of(lambda f: D.hop(f, dagger=True), lat, N), hop.conj().T, 1e-13, "hop^dag vs dense")
    assert_close(matrix_of(D.site_term, lat, N), site, 1e-13, "site term vs dense")
    # the clover term is hermitian and chirally block diagonal
    assert_close(site, site.conj().T, 1e-14, "site term hermitian")
    g5 = np.tile(np.repeat(np.diag(G5).real, N), lat.local_volume)  # the diagonal of 1 x g5 x 1
    assert_close(g5[:, None] * ref * g5[None, :], ref.conj().T, 1e-14, "dense gamma5-hermiticity")


def test_dense_catches_wrong_phase():
    """The dense comparison is sensitive to the boundary phase (guards the test itself)."""
    lat = lattice()
    u = random_su_global(DIMS, 2, seed=5)
    D = gn.Wilson(gn.GaugeField.from_numpy(lat, u), mass=0.1, boundary_phases=(0, 0, 0, np.pi))
    wrong = dense_wilson(u, DIMS, 0.1, (0, 0, 0, 0))
    assert np.abs(matrix_of(D, lat, 2) - wrong).max() > 0.5


def test_kappa_equals_mass():
    lat = lattice()
    U = gn.GaugeField.random(lat, 3, seed=3)
    psi = gn.FermionField.random(lat, 3, seed=4)
    kappa = 0.1315
    a = gn.WilsonClover(U, kappa=kappa, csw=1.0)(psi)
    b = gn.WilsonClover(U, mass=1 / (2 * kappa) - 4, csw=1.0)(psi)
    assert_close(a.data, b.data, 1e-14, "kappa vs mass")
    with pytest.raises(ValueError, match="exactly one"):
        gn.Wilson(U, mass=0.1, kappa=0.1)


def _ops(U, theta=THETA):
    return [gn.Wilson(U, mass=-0.4, boundary_phases=theta),
            gn.WilsonClover(U, mass=-0.4, csw=1.1, boundary_phases=theta)]


@pytest.mark.parametrize("N", [2, 3])
def test_gamma5_hermiticity_and_adjoint(N):
    lat = lattice((4, 4, 4, 4))
    U = gn.GaugeField.random(lat, N, seed=21)
    a = gn.FermionField.random(lat, N, seed=22)
    b = gn.FermionField.random(lat, N, seed=23)
    for D in _ops(U):
        Db = D(b)
        assert_close(D.adjoint(a).inner(b), a.inner(Db), 1e-12, f"{type(D).__name__} <a, D b> = <D^dag a, b>")
        assert_close(D.adjoint(a).data, D(a.gamma5()).gamma5().data, 1e-13, f"{type(D).__name__} D^dag = g5 D g5")
        assert_close(D.MdagM(b).data, D.adjoint(Db).data, 1e-14, "MdagM")
        assert D.MdagM(b).inner(b).real > 0


@pytest.mark.parametrize("N", [2, 3])
def test_gauge_covariance(N):
    lat = lattice((4, 4, 4, 4))
    U = gn.GaugeField.random(lat, N, seed=31)
    omega = gn.ColorMatrixField.random_su(lat, N, seed=32)
    psi = gn.FermionField.random(lat, N, nvec=2, seed=33)
    Ug = U.transform(omega)
    for D, Dg in zip(_ops(U), _ops(Ug)):
        lhs = Dg(psi.transform(omega))
        rhs = D(psi).transform(omega)
        assert_close(lhs.data, rhs.data, 1e-12, f"{type(D).__name__} gauge covariance")
        assert_close(Dg.adjoint(psi.transform(omega)).data, D.adjoint(psi).transform(omega).data, 1e-12,
                     f"{type(D).__name__} adjoint gauge covariance")


def test_many_rhs_equal_single():
    lat = lattice((4, 4, 4, 4))
    U = gn.GaugeField.random(lat, 3, seed=41)
    batch = gn.FermionField.random(lat, 3, nvec=5, seed=42)
    for D in _ops(U):
        for f in (D, D.adjoint, D.hop, D.site_term):
            out = f(batch)
            assert out.nvec == 5
            for i in range(5):
                assert_close(out.batch(i).data, f(batch.batch(i)).data, 1e-15, f"{type(D).__name__} rhs {i}")


def test_single_precision():
    dims = (4, 4, 4, 4)
    u = random_su_global(dims, 3, seed=51)
    p = random_global(tuple(reversed(dims)) + (3, 4, 3), seed=52)
    res = {}
    for prec in ("double", "single"):
        lat = lattice(dims, prec)
        U = gn.GaugeField.from_numpy(lat, u)
        psi = gn.FermionField.from_numpy(lat, p)
        res[prec] = [f(psi) for D in _ops(U) for f in (D, D.adjoint, D.hop)]
    for a, b in zip(res["single"], res["double"]):
        assert a.data.dtype == np.complex64
        assert_close(a.data, b.data, 2e-6, "single vs double")


def test_rejects_wrong_fields():
    lat = lattice()
    U = gn.GaugeField.random(lat, 3, seed=1)
    D = gn.Wilson(U, mass=0.1)
    with pytest.raises(ValueError, match="colours"):
        D(gn.FermionField.random(lat, 2, seed=2))
    with pytest.raises(TypeError, match="FermionField"):
        D(gn.StaggeredField.random(lat, 3, seed=2))
