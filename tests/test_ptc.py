"""PTC and LPTC layers (gaugenet.ml, seed 000 eqs. 11-12): forward against an independent numpy
implementation (np.roll on the gathered global fields), gauge equivariance, the adjoint identity,
finite-difference checks of every gradient (linear and quadratic costs, Sequential), identical
results on every process grid (against a COMM_SELF run) and zero-boundary-link mode."""
import numpy as np
import pytest
from mpi4py import MPI

import gaugenet as gn
from conftest import assert_close, grids, random_global, random_su_global
from gaugenet.ml import LPTC, PTC, PathSet, Sequential, one_hop_paths, quadratic_cost
from gaugenet.stencil.path import Path

DIMS = (4, 4, 4, 8)
THETA = (0.0, 0.6, 0.0, np.pi)
TWO_HOP = [[], [(0, +1)], [(3, -1)], [(0, +1), (1, +1)], [(0, +1), (1, -1)], [(2, -1), (2, -1)],
           [(3, +1), (0, -1)]]
ONE_HOP = one_hop_paths()


# ---------------------------------------------------------------------------------------- numpy reference
def phased(u, theta):
    u = u.copy()
    for mu, th in enumerate(theta):
        sl = [mu, slice(None), slice(None), slice(None), slice(None)]
        sl[4 - mu] = -1  # the last slice x_mu = L_mu - 1
        u[tuple(sl)] *= np.exp(1j * th)
    return u


def ref_transport(u, f, path):
    """T_p f on global arrays [t, z, y, x, ..., N]: the first hop first, each by np.roll."""
    for mu, s in Path(path) if not isinstance(path, Path) else path:
        ax = 3 - mu
        if s > 0:   # fetch from x + mu with U_mu(x)
            f = np.einsum("tzyxab,tzyx...b->tzyx...a", u[mu], np.roll(f, -1, axis=ax))
        else:       # fetch from x - mu with U_mu(x - mu)^dag
            f = np.einsum("tzyxba,tzyx...b->tzyx...a", np.roll(u[mu], 1, axis=ax).conj(), np.roll(f, 1, axis=ax))
    return f


def ref_layer(u, phi, W, paths, nin, nout):
    """psi[r, a, s] = sum_{p, b, t} W[(x,) p, a, b, s, t] (T_p phi)[r, b, t]; phi [t,z,y,x,(nvec,)4,N];
    W (P, nout, nin, 4, 4) global or [t, z, y, x, P, nout, nin, 4, 4] per site."""
    g = phi.shape[:4]
    f = phi.reshape(g + (-1, nin, 4, phi.shape[-1]))
    out = 0
    for i, p in enumerate(paths):
        tp = ref_transport(u, f, p)
        if W.ndim == 5:
            out = out + np.einsum("abSU,tzyxrbUc->tzyxraSc", W[i], tp)
        else:
            out = out + np.einsum("tzyxabsu,tzyxrbuc->tzyxrasc", W[..., i, :, :, :, :], tp)
    return out


def fermion(lat, N, nvec, seed):
    return gn.FermionField.random(lat, N, nvec=nvec if nvec > 1 else None, seed=seed)


def global_weights(layer, seed):
    """Per-site weights from a global numpy array (rank-count independent), and the global array."""
    P = layer.n_paths
    if isinstance(layer, LPTC):
        wg = random_global(tuple(reversed(layer.lat.dims)) + (P, layer.n_out, layer.n_in, 4, 4), seed)
        loc = layer.lat.scatter_global(wg).reshape((layer.lat.local_volume, P, layer.n_out, layer.n_in, 4, 4))
        return [loc.astype(layer.lat.complex_dtype)], wg
    wg = random_global((P, layer.n_out, layer.n_in, 4, 4), seed)
    return [wg], wg


def gather_weights(layer, G):
    """The global array of an LPTC weight(-gradient) array; PTC ones are global already."""
    if isinstance(layer, LPTC):
        return layer.lat.gather_global(np.asarray(G).reshape(layer.lat.local_shape + G.shape[1:]))
    return np.asarray(G)


def re_inner(a, b, lat, local):
    """Re sum conj(a) b; local arrays (LPTC weights) are summed over the ranks."""
    v = np.vdot(np.asarray(a), np.asarray(b)).real
    return lat.allreduce(v) if local else v


# ---------------------------------------------------------------------------------------- forward
@pytest.mark.mpi
@pytest.mark.parametrize("grid", grids(DIMS))
@pytest.mark.parametrize("kind", [PTC, LPTC])
@pytest.mark.parametrize("nin,nout,nrhs", [(1, 1, 1), (2, 2, 1), (1, 2, 2)])
@pytest.mark.parametrize("paths", ["one", "two"])
def test_forward_against_numpy(grid, kind, nin, nout, nrhs, paths):
    lat = gn.Lattice(DIMS, mpi=grid)
    N = 3 if nin == nout else 2
    u = random_su_global(DIMS, N, seed=101)
    U = gn.GaugeField.from_numpy(lat, u)
    plist = ONE_HOP if paths == "one" else TWO_HOP
    layer = kind(U, nin, nout, plist, boundary_phases=THETA)
    W, wg = global_weights(layer, 102)
    phi = fermion(lat, N, nrhs * nin, 103)
    psi = layer(W, phi)
    ref = ref_layer(phased(u, THETA), phi.to_numpy(), wg, layer.paths, nin, nout)
    assert psi.data.shape == lat.local_shape + ((nrhs * nout,) if nrhs * nout > 1 else ()) + (4, N)
    assert_close(psi.to_numpy(), ref.reshape(psi.to_numpy().shape), 1e-12, f"{kind.__name__} {paths}-hop")


def test_path_order_and_zero_path_do_not_matter():
    """Paths in any order (weights then go through a slot copy) give the same layer."""
    lat = gn.Lattice(DIMS, comm=MPI.COMM_SELF)
    U = gn.GaugeField.random(lat, 3, seed=111)
    perm = [8, 3, 0, 5, 1, 7, 2, 4, 6]
    phi = fermion(lat, 3, 2, 112)
    for kind in (PTC, LPTC):
        a = kind(U, 2, 2, ONE_HOP)
        b = kind(U, 2, 2, [ONE_HOP[i] for i in perm])
        assert a.paths.slot_order and not b.paths.slot_order
        Wa = a.weights(seed=113)
        Wb = [Wa[0][:, perm] if kind is LPTC else Wa[0][perm]]
        assert_close(b(Wb, phi).data, a(Wa, phi).data, 1e-13, kind.__name__)
        left = fermion(lat, 3, 2, 114)
        ga, gb = a.projected_gradient_adj(Wa, phi, left), b.projected_gradient_adj(Wb, phi, left)
        assert_close(gb[0], ga[0][:, perm] if kind is LPTC else ga[0][perm], 1e-12, "dW")
        assert_close(gb[1].data, ga[1].data, 1e-12, "dphi")


@pytest.mark.mpi
@pytest.mark.parametrize("kind", [PTC, LPTC])
def test_forward_into_output_buffer(kind):
    """layer(W, phi, out=buf) writes the same result into buf (reused over calls, old content
    overwritten) and returns buf; a wrong buffer is refused with a clear error."""
    lat = gn.Lattice(DIMS)
    U = gn.GaugeField.random(lat, 3, seed=131)
    for nin, nout, nrhs in ((1, 1, 1), (2, 1, 2), (1, 2, 1)):
        layer = kind(U, nin, nout, TWO_HOP)
        W = layer.weights(seed=132)
        phi = fermion(lat, 3, nrhs * nin, 133)
        ref = layer(W, phi)
        buf = ref.zeros_like()
        buf.data[...] = 5.0
        for _ in range(2):
            got = layer(W, phi, out=buf)
            assert got is buf
            assert np.array_equal(buf.data, ref.data)
    layer = kind(U, 1, 1, ONE_HOP)
    W = layer.weights(seed=134)
    phi = fermion(lat, 3, 1, 135)
    with pytest.raises(ValueError, match="out must hold 1 vector"):
        layer(W, phi, out=fermion(lat, 3, 2, 136))
    with pytest.raises(ValueError, match="must not share memory"):
        layer(W, phi, out=phi)
    with pytest.raises(TypeError, match="out must be a FermionField"):
        layer(W, phi, out=phi.data)
    single = gn.FermionField.random(lat.like(precision="single"), 3, seed=137)
    with pytest.raises(ValueError, match="complex128"):
        layer(W, phi, out=single)


def test_lptc_from_ptc_equals_ptc():
    lat = gn.Lattice(DIMS, comm=MPI.COMM_SELF)
    U = gn.GaugeField.random(lat, 2, seed=121)
    p, l = PTC(U, 2, 1, TWO_HOP), LPTC(U, 2, 1, TWO_HOP)
    W = p.weights(seed=122)
    phi = fermion(lat, 2, 2, 123)
    assert_close(l(l.from_ptc(W), phi).data, p(W, phi).data, 1e-13, "LPTC with constant weights")


# ---------------------------------------------------------------------------------------- symmetries
@pytest.mark.mpi
@pytest.mark.parametrize("kind", [PTC, LPTC])
def test_gauge_equivariance(kind):
    lat = gn.Lattice(DIMS)
    U = gn.GaugeField.random(lat, 3, seed=131)
    om = gn.ColorMatrixField.random_su(lat, 3, seed=132)
    a = kind(U, 2, 2, TWO_HOP, boundary_phases=THETA)
    b = kind(U.transform(om), 2, 2, TWO_HOP, boundary_phases=THETA)
    W = a.weights(seed=133)
    phi = fermion(lat, 3, 2, 134)
    # L[U^Omega](Omega phi) = Omega L[U](phi), and the same for the adjoint layer
    assert_close(b(W, phi.transform(om)).data, a(W, phi).transform(om).data, 1e-12, "layer")
    assert_close(b.adjoint(W, phi.transform(om)).data, a.adjoint(W, phi).transform(om).data, 1e-12, "adjoint")


@pytest.mark.mpi
@pytest.mark.parametrize("grid", grids(DIMS))
@pytest.mark.parametrize("kind", [PTC, LPTC])
@pytest.mark.parametrize("paths", ["one", "two"])
def test_adjoint_identity(grid, kind, paths):
    """<left, L phi> = <L^dag left, phi>, and projected_gradient_adj's dC/dphi is L^dag left."""
    lat = gn.Lattice(DIMS, mpi=grid)
    U = gn.GaugeField.random(lat, 3, seed=141)
    layer = kind(U, 2, 3, ONE_HOP if paths == "one" else TWO_HOP, boundary_phases=THETA)
    W = layer.weights(seed=142)
    phi, left = fermion(lat, 3, 4, 143), fermion(lat, 3, 6, 144)  # two right-hand sides
    adj = layer.adjoint(W, left)
    lhs, rhs = left.inner(layer(W, phi)), adj.inner(phi)
    assert abs(lhs - rhs) < 1e-12 * abs(lhs)
    assert_close(layer.projected_gradient_adj(W, phi, left)[-1].data, adj.data, 1e-12, "dphi = L^dag left")


# ---------------------------------------------------------------------------------------- gradients
def _direction(arr, seed):
    return random_global(np.shape(arr), seed)


@pytest.mark.parametrize("kind", [PTC, LPTC])
@pytest.mark.parametrize("nin,nout,paths", [(1, 1, "one"), (2, 2, "two"), (2, 1, "one")])
def test_gradients_finite_differences(kind, nin, nout, paths):
    """C = Re <left, L(W, phi)> and C = |L(W, phi) - target|^2: the directional derivative along a
    random complex direction equals Re sum conj(grad) direction, for the weights and the input."""
    lat = gn.Lattice(DIMS, comm=MPI.COMM_SELF)
    U = gn.GaugeField.random(lat, 3, seed=151)
    layer = kind(U, nin, nout, ONE_HOP if paths == "one" else TWO_HOP, boundary_phases=THETA)
    W = layer.weights(seed=152)
    phi, left, target = fermion(lat, 3, 2 * nin, 153), fermion(lat, 3, 2 * nout, 154), fermion(lat, 3, 2 * nout, 155)
    dW, dphi = _direction(W[0], 156), phi.gaussian_like(157)
    eps = 1e-4

    def lin(w, f):
        return left.inner(layer([w], f)).real

    def quad(w, f):
        return (layer([w], f) - target).norm2()

    g_lin = layer.projected_gradient_adj(W, phi, left)
    c_quad, g_quad = quadratic_cost(layer, W, phi, target)
    assert abs(c_quad - quad(W[0], phi)) < 1e-13 * c_quad
    for cost, g in ((lin, g_lin), (quad, g_quad)):
        fd_w = (cost(W[0] + eps * dW, phi) - cost(W[0] - eps * dW, phi)) / (2 * eps)
        an_w = re_inner(g[0], dW, lat, kind is LPTC)
        assert abs(fd_w - an_w) < 1e-6 * abs(an_w), (cost.__name__, "weights", fd_w, an_w)
        fd_p = (cost(W[0], phi + dphi * eps) - cost(W[0], phi - dphi * eps)) / (2 * eps)
        an_p = g[1].inner(dphi).real
        assert abs(fd_p - an_p) < 1e-6 * abs(an_p), (cost.__name__, "input", fd_p, an_p)


def test_weight_gradient_is_the_outer_product():
    """dC/dW_p = sum_x left(x) (T_p phi)(x)^dag, written out with numpy for one path at a time."""
    lat = gn.Lattice(DIMS, comm=MPI.COMM_SELF)
    u = random_su_global(DIMS, 2, seed=161)
    U = gn.GaugeField.from_numpy(lat, u)
    phi, left = fermion(lat, 2, 4, 162), fermion(lat, 2, 2, 163)  # nrhs = 2, n_in = 2, n_out = 1
    f = phi.to_numpy().reshape(DIMS[::-1] + (2, 2, 4, 2))
    l = left.to_numpy().reshape(DIMS[::-1] + (2, 1, 4, 2))
    for kind in (PTC, LPTC):
        layer = kind(U, 2, 1, TWO_HOP, boundary_phases=THETA)
        G = gather_weights(layer, layer.projected_gradient_adj(layer.weights(seed=164), phi, left)[0])
        for i, p in enumerate(layer.paths):
            tp = ref_transport(phased(u, THETA), f, p)
            if kind is PTC:
                ref = np.einsum("tzyxrasc,tzyxrbuc->absu", l, tp.conj())
                assert_close(G[i], ref, 1e-12, f"PTC {p}")
            else:
                ref = np.einsum("tzyxrasc,tzyxrbuc->tzyxabsu", l, tp.conj())
                assert_close(G[..., i, :, :, :, :], ref, 1e-12, f"LPTC {p}")


def test_sequential_backprop():
    lat = gn.Lattice(DIMS, comm=MPI.COMM_SELF)
    U = gn.GaugeField.random(lat, 3, seed=171)
    net = Sequential(PTC(U, 1, 2, ONE_HOP), LPTC(U, 2, 2, TWO_HOP), PTC(U, 2, 1, [[], [(1, -1)]]))
    W = net.weights(seed=172)
    assert [w.shape for w in W] == net.weight_shapes
    phi, target = fermion(lat, 3, 1, 173), fermion(lat, 3, 1, 174)
    c, g = quadratic_cost(net, W, phi, target)
    assert len(g) == len(W) + 1
    eps = 1e-4
    for j in range(len(W)):
        d = _direction(W[j], 175 + j)
        wp = [w + eps * d if i == j else w for i, w in enumerate(W)]
        wm = [w - eps * d if i == j else w for i, w in enumerate(W)]
        fd = ((net(wp, phi) - target).norm2() - (net(wm, phi) - target).norm2()) / (2 * eps)
        an = re_inner(g[j], d, lat, False)
        assert abs(fd - an) < 1e-6 * abs(an), (j, fd, an)
    dphi = phi.gaussian_like(180)
    fd = ((net(W, phi + dphi * eps) - target).norm2() - (net(W, phi - dphi * eps) - target).norm2()) / (2 * eps)
    assert abs(fd - g[-1].inner(dphi).real) < 1e-6 * abs(fd)
    with pytest.raises(ValueError, match="output features"):
        Sequential(PTC(U, 1, 2, ONE_HOP), PTC(U, 1, 1, ONE_HOP))


# ---------------------------------------------------------------------------------------- process grids
@pytest.mark.mpi
@pytest.mark.parametrize("grid", grids(DIMS))
@pytest.mark.parametrize("kind", [PTC, LPTC])
def test_same_on_every_process_grid(grid, kind):
    """Forward, adjoint and both gradients equal the single-rank (COMM_SELF) run to 1e-12."""
    lat, lat1 = gn.Lattice(DIMS, mpi=grid), gn.Lattice(DIMS, comm=MPI.COMM_SELF)
    u = random_su_global(DIMS, 3, seed=181)
    res = []
    for la in (lat, lat1):
        layer = kind(gn.GaugeField.from_numpy(la, u), 2, 2, TWO_HOP, boundary_phases=THETA)
        W = layer.weights(seed=182)  # rank-count independent by construction
        phi, left = fermion(la, 3, 4, 183), fermion(la, 3, 4, 184)
        g = layer.projected_gradient_adj(W, phi, left)
        res.append([gather_weights(layer, W[0]), layer(W, phi).to_numpy(), gather_weights(layer, g[0]),
                    g[1].to_numpy()])
    for what, a, b in zip(("weights", "forward", "dW", "dphi"), res[0], res[1]):
        assert_close(a, b, 1e-12, what)


def _zero_crossing(u, lat):
    u = u.copy()
    for mu in range(4):
        if lat.grid[mu] > 1:
            l = lat.local_dims[mu]
            sl = [mu, slice(None), slice(None), slice(None), slice(None)]
            sl[4 - mu] = np.arange(lat.dims[mu]) % l == l - 1
            u[tuple(sl)] = 0
    return u


@pytest.mark.mpi
@pytest.mark.parametrize("grid", grids(DIMS))
@pytest.mark.parametrize("kind", [PTC, LPTC])
def test_zero_boundary_links(grid, kind):
    """No halo message in forward, adjoint and backprop; equal to one rank with the crossing links zeroed."""
    lat, lat1 = gn.Lattice(DIMS, mpi=grid), gn.Lattice(DIMS, comm=MPI.COMM_SELF)
    u = random_su_global(DIMS, 2, seed=191)
    layer = kind(gn.GaugeField.from_numpy(lat, u), 2, 1, TWO_HOP, zero_boundary_links=True, boundary_phases=THETA)
    W, _ = global_weights(layer, 192)
    phi, left = fermion(lat, 2, 2, 193), fermion(lat, 2, 1, 194)
    h = lat.halo(1)
    n0 = h.messages_sent
    out, adj = layer(W, phi), layer.adjoint(W, left)
    g = layer.projected_gradient_adj(W, phi, left)
    assert h.messages_sent == n0, "zero-boundary-link mode must not send halo messages"
    ref_layer1 = kind(gn.GaugeField(lat1, _zero_crossing(u, lat)), 2, 1, TWO_HOP, boundary_phases=THETA)
    W1, _ = global_weights(ref_layer1, 192)
    phi1, left1 = fermion(lat1, 2, 2, 193), fermion(lat1, 2, 1, 194)
    g1 = ref_layer1.projected_gradient_adj(W1, phi1, left1)
    assert_close(out.to_numpy(), ref_layer1(W1, phi1).to_numpy(), 1e-12, "forward")
    assert_close(adj.to_numpy(), ref_layer1.adjoint(W1, left1).to_numpy(), 1e-12, "adjoint")
    assert_close(gather_weights(layer, g[0]), gather_weights(ref_layer1, g1[0]), 1e-12, "dW")
    assert_close(g[1].to_numpy(), g1[1].to_numpy(), 1e-12, "dphi")
    if lat.size > 1:  # the normal mode does talk
        normal = kind(gn.GaugeField.from_numpy(lat, u), 2, 1, TWO_HOP)
        normal(W, phi)
        assert h.messages_sent > n0


# ---------------------------------------------------------------------------------------- other checks
def test_single_precision():
    lat = gn.Lattice(DIMS, comm=MPI.COMM_SELF, precision="single")
    latd = gn.Lattice(DIMS, comm=MPI.COMM_SELF)
    u = random_su_global(DIMS, 3, seed=201)
    for kind in (PTC, LPTC):
        ls = kind(gn.GaugeField.from_numpy(lat, u), 1, 1, ONE_HOP)
        ld = kind(gn.GaugeField.from_numpy(latd, u), 1, 1, ONE_HOP)
        Wd = ld.weights(seed=202)
        Ws = [Wd[0].astype(np.complex64)]
        phs, phd = fermion(lat, 3, 1, 203), fermion(latd, 3, 1, 203)
        out = ls(Ws, phs)
        assert out.data.dtype == np.complex64
        assert_close(out.data, ld(Wd, phd).data, 1e-5, f"{kind.__name__} single")
        gs, gd = ls.projected_gradient_adj(Ws, phs, out), ld.projected_gradient_adj(Wd, phd, ld(Wd, phd))
        assert_close(gs[0], gd[0], 1e-4, "dW single")
        assert_close(gs[1].data, gd[1].data, 1e-5, "dphi single")


def test_flop_counts():
    lat = gn.Lattice(DIMS, comm=MPI.COMM_SELF)
    U = gn.GaugeField.random(lat, 3, seed=221)
    one = PTC(U, 1, 1, ONE_HOP)
    # 8 hops x 4 spins x 9 (link) + 9 paths x 16 x 3 (spin matrices), complex multiply-adds x 8
    assert one.flops_per_site() == 8 * (8 * 4 * 9 + 9 * 16 * 3) == 5760
    assert one.flops_per_site(backward=True) == 2 * 5760
    two = LPTC(U, 2, 1, TWO_HOP)
    # distinct prefixes of the paths and of the inverse paths (shared transports)
    assert (two.paths.n_hops, two.paths.n_hops_inverse) == (8, 10)
    p = PathSet([[(0, 1), (1, 1)], [(0, 1), (1, -1)], [(2, 1)]])
    assert (p.n_hops, p.n_hops_inverse) == (4, 5)


def test_errors_name_the_problem():
    lat = gn.Lattice(DIMS, comm=MPI.COMM_SELF)
    U = gn.GaugeField.random(lat, 3, seed=211)
    layer = PTC(U, 2, 1, ONE_HOP)
    W = layer.weights()
    with pytest.raises(ValueError, match="not a multiple of its 2 feature"):
        layer(W, fermion(lat, 3, 3, 212))
    with pytest.raises(ValueError, match=r"shape \(9, 2, 1, 4, 4\), expected \(9, 1, 2, 4, 4\)"):
        layer([W[0].transpose(0, 2, 1, 3, 4)], fermion(lat, 3, 2, 212))
    with pytest.raises(ValueError, match="N=2 colours"):
        layer(W, fermion(lat, 2, 2, 212))
    with pytest.raises(ValueError, match="listed twice"):
        PTC(U, 1, 1, [[(0, 1)], Path().forward(0)])
    with pytest.raises(ValueError, match="a hop is"):
        PTC(U, 1, 1, [[(4, 1)]])
    with pytest.raises(ValueError, match="right-hand side"):
        layer.projected_gradient_adj(W, fermion(lat, 3, 2, 212), fermion(lat, 3, 2, 213))
    with pytest.raises(TypeError, match="list of arrays"):
        layer(W[0], fermion(lat, 3, 2, 212))


# ---------------------------------------------------------------------------------------- kernels
@pytest.mark.mpi
@pytest.mark.parametrize("grid", grids(DIMS))
@pytest.mark.parametrize("prec", ["double", "single"])
def test_fused_gradient_equals_gemm_path(grid, prec):
    """projected_gradient_adj through the fused kernel (core.hop_grad) equals the transported-left GEMM
    formulation, and the SIMD kernels equal the site-by-site ones, for one- and two-hop paths, two
    right-hand sides and 2 -> 3 features."""
    from gaugenet._backend import core
    lat = gn.Lattice(DIMS, mpi=grid, precision=prec)
    U = gn.GaugeField.from_numpy(lat, random_su_global(DIMS, 3, seed=231))
    tol = 1e-12 if prec == "double" else 3e-5
    variants = ["generic"]
    try:
        core.hop_variant("simd")
        variants.append("simd")
    except ValueError:
        pass
    finally:
        core.hop_variant("generic")
    try:
        for paths in (ONE_HOP, TWO_HOP):
            layer = PTC(U, 2, 3, paths, boundary_phases=THETA)
            W = [layer.weights(seed=232)[0].astype(lat.complex_dtype)]
            phi, left = fermion(lat, 3, 4, 233), fermion(lat, 3, 6, 234)
            layer.fused_gradient = False
            ref = layer.projected_gradient_adj(W, phi, left)
            ref_fwd = layer(W, phi)
            layer.fused_gradient = True
            for v in variants:
                core.hop_variant(v)
                g = layer.projected_gradient_adj(W, phi, left)
                assert g[0].dtype == W[0].dtype and g[1].data.shape == phi.data.shape
                assert_close(g[0], ref[0], tol, f"dW {v}")
                assert_close(g[1].data, ref[1].data, tol, f"dphi {v}")
                assert_close(layer(W, phi).data, ref_fwd.data, tol, f"forward {v}")
    finally:
        core.hop_variant(variants[-1])
