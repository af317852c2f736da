"""Even-odd (Schur complement) form of the Wilson and Wilson-clover operators.

Order the sites as (p, q) with p the solve parity (0 = even, the default) and q the other one:

    D = [[D_pp, D_pq], [D_qp, D_qq]],   D_pp, D_qq site-local (4 + m, or the clover blocks),
                                         D_pq, D_qp the hopping term between the two parities.
    M_pp = D_pp - D_pq D_qq^{-1} D_qp     (the Schur complement),   M_pp^dag likewise from D^dag.

D x = b is solved by   M_pp x_p = b'_p,   b'_p = b_p - D_pq D_qq^{-1} b_q     (prepare_source)
                       x_q = D_qq^{-1} (b_q - D_qp x_p)                        (reconstruct)

The operator works on half-lattice fields (fields/parity.py: the sites of one parity, Vp = V/2 rows):
each hop is the Wilson kernel on the half lattice (lattice/checkerboard.py tables; forward hops read
the output parity's links, backward hops the other parity's: core.wilson's U_back), with the halo
exchange of the half field overlapped as for the full operator. One application of M_pp is two such
kernels and (clover) one inverse-clover pass; the second kernel adds the site term D_pp x_p itself
(core.wilson's site_in). It streams each link twice: 1.0-1.5 full-lattice D applications.
FermionField arguments are accepted too (their p sites are read; results are zero on the q sites),
at the cost of the copies in and out. The inverse clover blocks are computed once per gauge field
(numpy, in double precision, then stored in the lattice precision).
"""
import numpy as np

from .._backend import array_module, core, to_host
from ..fields import FermionField, ParityField
from ..stencil.half import HalfLattice


class EvenOdd:
    """Schur complement M_pp of a Wilson or WilsonClover operator D on the sites of `parity`.

    M(x), M.adjoint(x), M.MdagM(x) for x a ParityField of the solve parity (or a FermionField);
    prepare_source(b, half=True) and reconstruct(x_p, b) turn a solve of M_pp into the solution of
    D x = b (dagger=True: of D^dag x = b with M_pp^dag). restrict / embed convert between the layouts.
    """

    def __init__(self, D, parity=0):
        if parity not in (0, 1):
            raise ValueError(f"parity must be 0 (even) or 1 (odd), got {parity}")
        if not hasattr(D, "hop") or not hasattr(D, "clover"):
            raise TypeError(f"EvenOdd needs a Wilson or WilsonClover operator, got {type(D).__name__}")
        self.D = D
        self.lat = D.lat
        self.N = D.N
        self.parity = parity
        self.cb = self.lat.checkerboard()   # refuses odd global extents
        self.Vp = self.cb.Vp
        self._bufs = {}
        if D.clover is None:
            self.diag = 4.0 + D.mass
            if self.diag == 0.0:
                raise ZeroDivisionError("even-odd form: the site term 4 + m is zero (m = -4), D_qq is not invertible")
            self.blocks = None
        else:
            self.diag = None
            C = to_host(D.clover).astype(np.complex128)            # (V, 2, 2N, 2N)
            cond = np.linalg.cond(C.reshape(-1, *C.shape[2:])) if C.size else np.zeros(0)
            bad = not np.all(np.isfinite(cond)) or (cond.size and cond.max() > 1e13)
            self.lat.check(not bad, "even-odd form: a clover block is singular (or nearly so), "
                           "D_qq cannot be inverted; check the mass and c_sw", ZeroDivisionError)
            Cinv = np.linalg.inv(C)
            dt = self.lat.complex_dtype
            herm = lambda A: np.conj(np.swapaxes(A, -1, -2))  # noqa: E731
            xp = array_module(D.clover)
            # per (parity, dagger, inverse): the blocks of that parity's sites, contiguous
            self.blocks = {(s, dg, inv): xp.asarray(np.ascontiguousarray(A[self.cb.sites[s]].astype(dt)))
                           for s in (0, 1)
                           for (dg, inv), A in (((False, False), C), ((False, True), Cinv),
                                                ((True, False), herm(C)), ((True, True), herm(Cinv)))}
        # the links per parity (forward hops of outputs of that parity; backward hops of the other's), the
        # entries of that parity of the link halo, the runners of half fields
        self._half_lattice = half = HalfLattice(D.links)
        self._U, self._Uh, self._runners = half.U, half.U_halo, half.runners

    # ------------------------------------------------------------------ layouts
    def _which(self, which):
        return self.parity if which == "p" else 1 - self.parity

    def restrict(self, psi, which="p"):
        """The sites of one parity ('p' = the solve parity, 'q' = the other) of a FermionField, as a ParityField."""
        if not isinstance(psi, FermionField):
            raise TypeError(f"EvenOdd acts on FermionField or ParityField, got {type(psi).__name__}")
        if psi.N != self.N:
            raise ValueError(f"fermion has N={psi.N} colours, gauge field N={self.N}")
        return self._half_lattice.restrict(psi, self._which(which), ParityField)

    def embed(self, *parts):
        """The FermionField holding the given ParityFields on their sites (zero elsewhere)."""
        return self._half_lattice.embed(parts, FermionField)

    def _half(self, x):
        """x as a ParityField of the solve parity (FermionField: its p sites), and whether it was full."""
        if isinstance(x, ParityField):
            if x.parity != self.parity:
                raise ValueError(f"EvenOdd (parity {self.parity}) applied to a field of parity {x.parity}")
            if x.N != self.N:
                raise ValueError(f"fermion has N={x.N} colours, gauge field N={self.N}")
            return x, False
        return self.restrict(x), True

    def _buf(self, name, like):
        """A work array shaped like `like`, kept between calls."""
        key = (name, like.shape, like.dtype.str, array_module(like).__name__)
        b = self._bufs.get(key)
        if b is None:
            b = self._bufs[key] = array_module(like).empty_like(like)
        return b

    # ------------------------------------------------------------------ the pieces
    def _hop(self, out, x, q, dagger, coef, site=None, diag=0.0, clover=None):
        """out = coef * sum_mu [(1 -+ g_mu) U_mu(y) x(y + mu) + (1 +- g_mu) U_mu(y - mu)^dag x(y - mu)] on the
        sites y of parity 1 - q, from the parity-q half field x (the halo exchange overlapped); with `site` (a
        half field of parity 1 - q) plus diag * site, or clover * site for clover blocks of that parity, in the
        same pass."""
        p = 1 - q
        runner = self._runners[q]
        h = runner.halo
        nvec = x.shape[1] if x.ndim == 4 else 1
        src, dst = x.reshape(self.Vp, -1), out.reshape(self.Vp, -1)
        site = None if site is None else site.reshape(self.Vp, -1)

        def kernel(halo, site_list):
            core.wilson(dst, src, halo, self._U[p], self._Uh[q], h.table("nbr", src), site_list, clover, diag, coef,
                        nvec, self.N, self.Vp, h.Vh, dagger, U_back=self._U[q], U_back_halo=self._Uh[q], site_in=site)

        runner.run(kernel, src)
        return out

    def _site(self, out, x, s, dagger=False, inverse=False):
        """out = D_ss x (or its adjoint / inverse) for the parity-s half array x."""
        if self.blocks is None:
            array_module(x).multiply(x, 1.0 / self.diag if inverse else self.diag, out=out)
        else:
            nvec = x.shape[1] if x.ndim == 4 else 1
            core.clover_apply(out, x, self.blocks[(s, dagger, inverse)], None, self.Vp, nvec, self.N)
        return out

    # ------------------------------------------------------------------ the Schur complement
    def apply(self, x, dagger=False, out=None):
        """M_pp x (dagger: M_pp^dag x); out: a ParityField to write into (half-lattice arguments only)."""
        return self._apply(x, dagger, out)

    def _apply(self, x, dagger, out=None):
        xh, full = self._half(x)
        if out is not None and (full or out.data.shape != xh.data.shape or out.data.dtype != xh.data.dtype
                                or out.data is xh.data):
            raise ValueError("EvenOdd.apply: out must be a separate ParityField shaped like the (half-lattice) input")
        p, q = self.parity, 1 - self.parity
        a = xh.data
        t = self._buf("t", a)
        if self.blocks is None:
            # w_q = -D_qq^{-1} D_qp x_p = +1/(2 d) sum_mu [...] directly from the kernel
            w = self._hop(t, a, p, dagger, 0.5 / self.diag)
        else:
            w = self._site(self._buf("w", a), self._hop(t, a, p, dagger, 0.5), q, dagger, inverse=True)
        dst = array_module(a).empty_like(a) if out is None else out.data
        # D_pp x_p + D_pq w_q (D_pq = -1/2 sum_mu [...]) in one pass: the site term reads x_p
        if self.blocks is None:
            self._hop(dst, w, q, dagger, -0.5, site=a, diag=self.diag)
        else:
            self._hop(dst, w, q, dagger, -0.5, site=a, clover=self.blocks[(p, dagger, False)])
        res = ParityField(self.lat, dst, p)
        return self.embed(res) if full else res

    def __call__(self, x):
        """M_pp x_p = D_pp x_p - D_pq D_qq^{-1} D_qp x_p."""
        return self._apply(x, False)

    M = __call__

    def adjoint(self, x):
        """M_pp^dag x_p, built from D^dag in the same way."""
        return self._apply(x, True)

    Mdag = adjoint

    def MdagM(self, x):
        return self.adjoint(self(x))

    # ------------------------------------------------------------------ solves of D x = b
    def prepare_source(self, b, dagger=False, half=False):
        """b'_p = b_p - D_pq D_qq^{-1} b_q for a FermionField b: a ParityField (half=True), or a FermionField
        zero on the q sites."""
        bp, bq = self.restrict(b, "p"), self.restrict(b, "q")
        w = self._site(self._buf("w", bq.data), bq.data, bq.parity, dagger, inverse=True)
        # b_p - D_pq w with D_pq = -1/2 sum_mu [...]: the kernel with coefficient +1/2 and site term 1 * b_p
        res = ParityField(self.lat, self._hop(array_module(w).empty_like(w), w, bq.parity, dagger, 0.5, site=bp.data,
                                              diag=1.0), bp.parity)
        return res if half else self.embed(res)

    def reconstruct(self, x_p, b, dagger=False):
        """The full solution (FermionField): x_p on the p sites (a ParityField, or a FermionField's p sites),
        D_qq^{-1} (b_q - D_qp x_p) on the q sites."""
        xh, _ = self._half(x_p)
        bq = self.restrict(b, "q")
        t = self._hop(self._buf("t", xh.data), xh.data, self.parity, dagger, 0.5, site=bq.data, diag=1.0)  # b_q - D_qp x_p
        xq = ParityField(self.lat, self._site(array_module(t).empty_like(t), t, bq.parity, dagger, inverse=True),
                         bq.parity)
        return self.embed(xh, xq)

    def project(self, psi, which="p"):
        """A copy of psi keeping the sites of one parity class ('p' = the solve parity, 'q' = the other)."""
        return self.embed(self.restrict(psi, which))
