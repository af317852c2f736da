"""The benchmark cases: for one lattice, a list of Case objects (a callable plus what it computes).

Each case calls the public operator or layer the way a user does, with the output buffer reused
where the API takes one (allocating a field-sized array per call costs page faults, not kernel time).
Builders return [] when the module they need is not in this gaugenet yet; suite.py lists those
kernels as not available.
"""
import numpy as np

from . import models
from .numpy_ref import one_hop_layer, wilson_hop

MASS = -0.5
CSW = 1.0


class Case:
    """kernel: record name; fn(): one call; sites: local sites per call (per rank); flops/bytes per site
    (flops None where no count is stated); info: extra record fields (nvec, features, mode, note)."""

    def __init__(self, kernel, fn, sites, flops_per_site, bytes_per_site, numpy_key=None, **info):
        self.kernel, self.fn, self.sites = kernel, fn, sites
        self.flops_per_site, self.bytes_per_site = flops_per_site, bytes_per_site
        self.numpy_key = numpy_key
        self.info = info


def _apply_into(D, psi, out, **kw):
    """D psi written into `out` (Wilson._apply takes an output buffer; fall back to D(psi))."""
    try:
        return D._apply(psi, out=out, **kw)
    except TypeError:  # pragma: no cover - operator API without an output argument
        return D(psi)


class Fields:
    """The gauge field and the Wilson-clover term of one lattice geometry, built once in double and
    cast for single precision (the clover term is the costly part of the setup)."""

    def __init__(self, lat, N, seed):
        import gaugenet as gn
        self.lat_d, self.N = lat, N
        self.U_d = gn.GaugeField.random(lat, N, seed=seed)
        self._clover = None
        self.seed = seed

    def clover_blocks(self):
        if self._clover is None:
            from ..operators.clover import clover_blocks
            self._clover = np.asarray(clover_blocks(self.U_d, 4.0 + MASS, CSW))
        return self._clover

    def gauge(self, precision):
        import gaugenet as gn
        if precision == self.lat_d.precision:
            return self.U_d
        lat = self.lat_d.like(precision=precision)
        return gn.GaugeField(lat, self.U_d.data.astype(lat.complex_dtype))

    def wilson_clover(self, U):
        """Wilson-clover on U with the clover blocks of the double-precision field cast to U's precision."""
        import gaugenet as gn
        D = gn.Wilson(U, mass=MASS)
        D.clover = U.xp.asarray(self.clover_blocks().astype(U.lat.complex_dtype))
        D.csw = CSW
        return D


def wilson_cases(fields, U, nvec=1, mode="normal"):
    import gaugenet as gn
    lat, N = U.lat, U.N
    V = lat.local_volume
    psi = gn.FermionField.random(lat, N, nvec=nvec if nvec > 1 else None, seed=fields.seed + 11)
    out = psi.zeros_like()
    Dh = gn.Wilson(U, mass=MASS, zero_boundary_links=(mode == "zero_boundary") or None)
    out_c = psi.zeros_like()
    Dc = fields.wilson_clover(U) if mode == "normal" else None
    p = lat.precision
    cases = [Case("wilson_hop", lambda: Dh.hop(psi, out=out), V, models.flops_per_site("wilson_hop", N) * nvec,
                  models.bytes_per_site("wilson_hop", p, N, nvec=nvec), numpy_key="wilson_hop" if nvec == 1 else None,
                  nvec=nvec, mode=mode)]
    if Dc is not None:
        cases.append(Case("wilson_clover", lambda: _apply_into(Dc, psi, out_c), V,
                          models.flops_per_site("wilson_clover", N) * nvec,
                          models.bytes_per_site("wilson_clover", p, N, nvec=nvec), nvec=nvec, mode=mode))
    if mode == "normal":
        cases += packed_wilson_cases(fields, U, Dh, Dc, psi, nvec)
        cases += evenodd_cases(Dh, Dc, psi, nvec) if nvec == 1 else []
    elif mode == "zero_boundary":
        Dz = gn.Wilson(U, mass=MASS, zero_boundary_links=True)
        Dz.clover = U.xp.asarray(fields.clover_blocks().astype(lat.complex_dtype))
        cases.append(Case("wilson_clover", lambda: _apply_into(Dz, psi, out_c), V,
                          models.flops_per_site("wilson_clover", N) * nvec,
                          models.bytes_per_site("wilson_clover", p, N, nvec=nvec), nvec=nvec, mode=mode))
    return cases


def packed_wilson_cases(fields, U, Dh, Dc, psi, nvec):
    """The same operators on the packed eight-site-block layout (operators/packed.py): fields packed
    once, the output buffer reused; the flop counts and traffic model of the ordinary rows, except that the
    clover blocks are counted as stored (diagonal + upper triangle).
    [] where the layout does not apply (GPU fields, local x extent not a multiple of 8, no AVX-512
    kernel in this build)."""
    import gaugenet as gn
    from .._backend import core
    lat, N = U.lat, U.N
    if U.on_device or lat.local_dims[0] % 8 or not core.packed_available():
        return []
    V, p = lat.local_volume, lat.precision
    note = "packed layout (operators/packed.py; links, clover and spinors packed once)"
    cases = []
    storages = [s + (False,) for s in _link_storages(N)]
    if N == 3:   # the doubled links of Grid's layout (U_mu(x - mu) stored at x), two-row storage, timed beside
        storages.append((True, 2, "; SU(3) links stored as their first two rows, doubled: U_mu(x - mu) stored again "
                         "at x and read by the backward hops (eight links per site read, counted so)", True))
    for two_rows, rows, extra, doubled in storages:
        Ph = gn.PackedWilson(Dh, two_rows=two_rows, doubled_links=doubled)
        x = Ph.pack(psi)
        out = x.empty_like()
        cases.append(Case("wilson_hop", lambda Ph=Ph, x=x, out=out: Ph.hop(x, out=out), V,
                          models.flops_per_site("wilson_hop", N) * nvec,
                          models.bytes_per_site("wilson_hop", p, N, nvec=nvec, link_rows=rows, doubled_links=doubled),
                          numpy_key="wilson_hop" if nvec == 1 and not doubled else None, nvec=nvec, mode="normal",
                          layout="packed", link_rows=rows, doubled_links=doubled, note=note + extra))
        if Dc is not None:
            Pc = gn.PackedWilson(Dc, two_rows=two_rows, doubled_links=doubled)
            out_c = x.empty_like()
            cases.append(Case("wilson_clover", lambda Pc=Pc, x=x, out_c=out_c: Pc.apply(x, out=out_c), V,
                              models.flops_per_site("wilson_clover", N) * nvec,
                              models.bytes_per_site("wilson_clover", p, N, nvec=nvec, hermitian_clover=True,
                                                    link_rows=rows, doubled_links=doubled), nvec=nvec, mode="normal",
                              layout="packed", link_rows=rows, doubled_links=doubled,
                              note=note + extra + "; clover blocks stored as diagonal + upper triangle, counted so"))
    return cases


def evenodd_cases(Dh, Dc, psi, nvec):
    """One application of the even-odd Schur complement M_pp (operators/evenodd.py) on half-lattice fields, the
    operator of the eo-CG / eo-BiCGStab baselines; per site of the full lattice, its traffic model counts the
    links twice (each half-lattice hop reads all of them) and the half-field intermediates."""
    import gaugenet as gn
    lat, N, V, p = psi.lat, psi.N, psi.lat.local_volume, psi.lat.precision
    cases = []
    for kernel, D in (("wilson_evenodd", Dh), ("wilson_clover_evenodd", Dc)):
        if D is None:
            continue
        M = gn.EvenOdd(D)
        x = M.restrict(psi)
        out = x.empty_like()
        cases.append(Case(kernel, lambda M=M, x=x, out=out: M.apply(x, out=out), V,
                          models.flops_per_site(kernel, N) * nvec, models.bytes_per_site(kernel, p, N, nvec=nvec),
                          nvec=nvec, mode="normal",
                          note="M_pp = D_pp - D_pq D_qq^-1 D_qp on half-lattice fields, per site of the full lattice"))
    return cases


def _link_storages(N):
    """The packed link storages timed side by side: all N rows, then (SU(3)) the first two with the third rebuilt
    in the kernel; as (two_rows, rows stored, note). The traffic model counts what is stored."""
    out = [(False, N, "")]
    if N == 3:
        out.append((True, 2, "; SU(3) links stored as their first two rows (the third rebuilt), counted so"))
    return out


def staggered_cases(U):
    import gaugenet as gn
    try:
        from ..operators import Staggered
    except ImportError:
        return []
    lat, N = U.lat, U.N
    chi = gn.StaggeredField.random(lat, N, seed=5)
    out = chi.zeros_like()
    D = Staggered(U, mass=0.1)
    cases = [Case("staggered", lambda: D.hop(chi, out=out), lat.local_volume, models.flops_per_site("staggered", N),
                  models.bytes_per_site("staggered", lat.precision, N), note="hopping term (mass term not counted)")]
    if all(L % 2 == 0 for L in lat.dims):
        h = D.restrict(chi, 0)
        hout = h.empty_like()
        cases.append(Case("staggered_evenodd", lambda: D.DdagD_even(h, out=hout), lat.local_volume,
                          models.flops_per_site("staggered_evenodd", N),
                          models.bytes_per_site("staggered_evenodd", lat.precision, N),
                          note="(D^dag D)_ee on half-lattice fields (the HMC CG operator), per full-lattice site"))
    return cases


def onehop_cases(U, features=((1, 1), (2, 2))):
    """The generic one-hop stencil core.hop (OneHop) with dense random spin matrices on all 9 slots:
    the kernel under the PTC layer, numpy_key 'onehop' compares with numpy_ref.one_hop_layer."""
    import gaugenet as gn
    from ..stencil import OneHop, StencilLinks
    lat, N = U.lat, U.N
    links = StencilLinks(U)
    rng = np.random.default_rng(3)
    cases = []
    for nin, nout in features:
        st = OneHop(links, ns=4, nin=nin, nout=nout)
        W = st.prepare((rng.standard_normal((9, nout, nin, 4, 4)) + 1j * rng.standard_normal((9, nout, nin, 4, 4))))
        phi = gn.FermionField.random(lat, N, nvec=nin if nin > 1 else None, seed=7)
        src = phi.data.reshape(lat.local_volume, -1)
        dst = np.zeros((lat.local_volume, nout * 4 * N), dtype=lat.complex_dtype)
        cases.append(Case("onehop", (lambda st=st, src=src, W=W, dst=dst: st.apply_array(src, W, 1, out=dst)),
                          lat.local_volume, models.flops_per_site("onehop", N, nin, nout),
                          models.bytes_per_site("onehop", lat.precision, N, nin=nin, nout=nout),
                          numpy_key=("onehop", nin, nout), features=f"{nin}->{nout}",
                          note="generic one-hop stencil core.hop, dense spin weights on 8 hops + site"))
    return cases


def _forward_into(layer, W, phi):
    """layer(W, phi) writing into one output buffer for every timed call (allocated by the first call),
    as the Wilson hop writes into its `out`: a fresh array per call would time page faults."""
    buf = []

    def run():
        if not buf:
            buf.append(layer(W, phi))
            return buf[0]
        return layer(W, phi, out=buf[0])
    return run


def ptc_cases(U, features=((1, 1), (2, 2)), two_hop=False, local=False, numpy=True):
    """The PTC (or LPTC) layer of gaugenet.ml over the one-hop paths (optionally all non-backtracking
    paths of up to two hops): forward L(W, phi) and backward projected_gradient_adj (dC/dW and
    dC/dphi = L^dag left)."""
    import gaugenet as gn
    try:
        from ..ml import LPTC, PTC, one_hop_paths
    except ImportError:
        return []
    lat, N = U.lat, U.N
    paths = one_hop_paths()
    name = "lptc" if local else "ptc"
    if two_hop:
        from ..stencil.path import Path
        hops = [(mu, s) for mu in range(4) for s in (1, -1)]
        for h1 in hops:
            for h2 in hops:
                if h2 != (h1[0], -h1[1]):
                    paths.append(Path([h1, h2]))
        name += "_two_hop"
    cases = []
    for nin, nout in features:
        layer = (LPTC if local else PTC)(U, nin, nout, paths)
        W = layer.weights(seed=1)
        phi = gn.FermionField.random(lat, N, nvec=nin if nin > 1 else None, seed=9)
        left = gn.FermionField.random(lat, N, nvec=nout if nout > 1 else None, seed=10)
        fwd_bytes = models.bytes_per_site(("lptc" if local else "ptc") + "_forward", lat.precision, N, nin=nin,
                                          nout=nout)
        bwd_bytes = models.bytes_per_site(("lptc" if local else "ptc") + "_backward", lat.precision, N, nin=nin,
                                          nout=nout)
        note = f"gaugenet.ml.{'LPTC' if local else 'PTC'}, {len(paths)} paths"
        cases.append(Case(name + "_forward", _forward_into(layer, W, phi), lat.local_volume,
                          layer.flops_per_site(), fwd_bytes,
                          numpy_key=("onehop", nin, nout) if not (two_hop or local) and numpy else None,
                          features=f"{nin}->{nout}", note=note))
        cases.append(Case(name + "_backward",
                          (lambda layer=layer, W=W, phi=phi, left=left: layer.projected_gradient_adj(W, phi, left)),
                          lat.local_volume, layer.flops_per_site(backward=True), bwd_bytes, features=f"{nin}->{nout}",
                          note=note + "; dC/dW and dC/dphi"))
        if not (two_hop or local):
            cases += _packed_ptc(layer, W, phi, left)
    return cases


def _packed_ptc(layer, W, phi, left):
    """The same one-hop PTC forward and backward on the packed layout (gaugenet.ml.ptc_packed.PackedPTC,
    the layer's own weights), with all link rows stored and (SU(3)) the first two, traffic counted as stored;
    [] where the layout does not apply."""
    from ..ml.ptc_packed import PackedPTC
    lat, N = layer.lat, layer.N
    if phi.on_device or not PackedPTC.applicable(layer):
        return []
    feat = f"{layer.n_in}->{layer.n_out}"
    cases = []
    for two_rows, rows, extra in _link_storages(N):
        P = PackedPTC(layer, two_rows=two_rows)
        x, lx = P.pack(phi), P.pack(left)
        out = P(W, x)
        dx = P.projected_gradient_adj(W, x, lx)[1]
        nb = {k: models.bytes_per_site(k, lat.precision, N, nin=layer.n_in, nout=layer.n_out, link_rows=rows)
              for k in ("ptc_forward", "ptc_backward")}
        cases += [Case("ptc_forward", lambda P=P, x=x, out=out: P(W, x, out=out), lat.local_volume,
                       layer.flops_per_site(), nb["ptc_forward"], features=feat, layout="packed", link_rows=rows,
                       note="PackedPTC (ml/ptc_packed.py): the PTC layer's forward on the packed layout" + extra),
                  Case("ptc_backward", lambda P=P, x=x, lx=lx, dx=dx: P.projected_gradient_adj(W, x, lx, out=dx),
                       lat.local_volume, layer.flops_per_site(backward=True), nb["ptc_backward"], features=feat,
                       layout="packed", link_rows=rows,
                       note="PackedPTC: dC/dW and dC/dphi in one fused sweep on the packed layout (dphi into a "
                            "reused buffer, as the forward's output)" + extra)]
    return cases


def coarse_cases(U, block=(4, 4, 4, 4), n_basis=12):
    """Block project (R) and promote (P) with n_basis near-null vectors, and the coarse operator
    (dense n x n matrices on 9 slots per coarse site) on the coarse lattice."""
    import gaugenet as gn
    try:
        from ..coarse import Blocking, CoarseOperator
        from ..fields import CoarseField
    except ImportError:
        return []
    lat, N = U.lat, U.N
    if any(lat.local_dims[mu] % block[mu] for mu in range(4)):
        return []
    bl = Blocking(lat, block)
    basis = gn.FermionField.random(lat, N, nvec=n_basis, seed=12)
    f = gn.FermionField.random(lat, N, seed=13)
    c = bl.project(f, basis)
    bs = int(np.prod(block))
    cases = [
        Case("block_project", lambda: bl.project(f, basis), lat.local_volume, 8 * n_basis * 4 * N,
             models.bytes_per_site("block_project", lat.precision, N, n_basis=n_basis, block=bs),
             note=f"block {'x'.join(map(str, block))}, {n_basis} vectors"),
        Case("block_promote", lambda: bl.promote(c, basis), lat.local_volume, 8 * n_basis * 4 * N,
             models.bytes_per_site("block_promote", lat.precision, N, n_basis=n_basis, block=bs),
             note=f"block {'x'.join(map(str, block))}, {n_basis} vectors"),
    ]
    clat = bl.coarse
    rng = np.random.default_rng(14)
    A = (rng.standard_normal((clat.local_volume, 9, n_basis, n_basis))
         + 1j * rng.standard_normal((clat.local_volume, 9, n_basis, n_basis)))
    Dc = CoarseOperator(clat, A)
    cf = CoarseField.random(clat, n_basis, seed=15)
    cases.append(Case("coarse_operator", lambda: Dc(cf), clat.local_volume, 8 * 9 * n_basis * n_basis,
                      models.bytes_per_site("coarse_operator", lat.precision, n_basis=n_basis),
                      note=f"coarse lattice {'.'.join(map(str, clat.local_dims))} local, n = {n_basis}, per coarse site"))
    return cases


def stout_cases(U):
    try:
        from ..gauge.stout import StoutLayer
    except ImportError:
        return []
    if U.lat.precision != "double":
        return []
    import gaugenet as gn
    from ..gauge.group import traceless_antihermitian
    from ..links import plaquette_force
    layer = StoutLayer(rho_plaq=0.1, rho_poly_t=0.05, rho_poly_s=0.02)
    Us, ctx = layer.forward(U)
    force = gn.GaugeField(U.lat, traceless_antihermitian(U.data))  # an su(N)-valued force
    V = U.lat.local_volume
    fbytes = models.bytes_per_site("stout_forward", "double", U.N)   # reads U, writes the force
    return [
        Case("stout_forward", lambda: layer.forward(U), V, None, models.bytes_per_site("stout_forward", "double", U.N),
             note="plaquette + Polyakov-line staples; flops not modelled"),
        Case("stout_backward", lambda: layer.backward(ctx, force), V, None,
             models.bytes_per_site("stout_backward", "double", U.N), note="thin-link force and dS/drho"),
        # the yardsticks of issue 18 (a layer's forward + backward <= 1.5 force evaluations; ratios in
        # bench/stout_cost.py): the NumPy gauge_force and the compiled one on the same staple kernels
        Case("gauge_force_numpy", lambda: gn.gauge_force(U, 2.0), V, None, fbytes, note="gauge.action.gauge_force"),
        Case("plaquette_force", lambda: plaquette_force(U, 2.0), V, None, fbytes,
             note="links.plaquette_force (compiled staples)"),
    ]


def numpy_cases(U, features=((1, 1), (2, 2))):
    """The numpy references on the local volume (periodic), keyed like Case.numpy_key."""
    import gaugenet as gn
    lat, N = U.lat, U.N
    Ua = U.data
    psi = gn.FermionField.random(lat, N, seed=21).data
    out = {"wilson_hop": Case("wilson_hop_numpy", lambda: wilson_hop(Ua, psi), lat.local_volume,
                              models.flops_per_site("wilson_hop", N), models.bytes_per_site("wilson_hop", lat.precision, N),
                              note="numpy_ref.wilson_hop: np.roll + einsum, no spin projection")}
    rng = np.random.default_rng(4)
    for nin, nout in features:
        W = (rng.standard_normal((9, nout, nin, 4, 4)) + 1j * rng.standard_normal((9, nout, nin, 4, 4)))
        W = W.astype(lat.complex_dtype)
        phi = gn.FermionField.random(lat, N, nvec=nin, seed=22).data.reshape(lat.local_shape + (nin, 4, N))
        out[("onehop", nin, nout)] = Case(
            "onehop_numpy", (lambda phi=phi, W=W: one_hop_layer(Ua, phi, W)), lat.local_volume,
            models.flops_per_site("onehop", N, nin, nout),
            models.bytes_per_site("onehop", lat.precision, N, nin=nin, nout=nout), features=f"{nin}->{nout}",
            note="numpy_ref.one_hop_layer: PTC-like layer over the 8 hops + site, np.roll + einsum")
    return out
