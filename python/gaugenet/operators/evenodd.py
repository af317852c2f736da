"""Even-odd (Schur complement) form of the Wilson and Wilson-clover operators.

Order the sites as (p, q) with p the solve parity (0 = even, the default) and q the other one:

    D = [[D_pp, D_pq], [D_qp, D_qq]],   D_pp, D_qq site-local (4 + m, or the clover blocks),
                                         D_pq, D_qp the hopping term restricted to one parity.
    M_pp = D_pp - D_pq D_qq^{-1} D_qp     (the Schur complement),   M_pp^dag likewise from D^dag.

D x = b is solved by   M_pp x_p = b'_p,   b'_p = b_p - D_pq D_qq^{-1} b_q     (prepare_source)
                       x_q = D_qq^{-1} (b_q - D_qp x_p)                        (reconstruct)

Fields are full-size FermionFields: the operator reads the p sites of its input and writes a field
that is zero on the q sites. The inverse clover blocks are computed once per gauge field (numpy, in
double precision, then stored in the lattice precision); the site terms run through
core.clover_apply on one parity, the hops through D.hop(psi, sites=...).
"""
import numpy as np

from .._backend import array_module, core, to_host
from ..fields import FermionField


class EvenOdd:
    """Schur complement M_pp of a Wilson or WilsonClover operator D on the sites of `parity`.

    M(psi), M.adjoint(psi), M.MdagM(psi); prepare_source(b) and reconstruct(x_p, b) turn a solve of
    M_pp into the solution of D x = b (dagger=True: of D^dag x = b with M_pp^dag).
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
        self.sites_p = self.lat.sites_of_parity(parity)
        self.sites_q = self.lat.sites_of_parity(1 - parity)
        self._dev = {}
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
            herm = lambda A: np.ascontiguousarray(np.conj(np.swapaxes(A, -1, -2)))  # noqa: E731
            xp = array_module(D.clover)
            self.blocks = {(False, False): D.clover,
                           (False, True): xp.asarray(np.ascontiguousarray(Cinv.astype(dt))),
                           (True, False): xp.asarray(herm(C).astype(dt)),
                           (True, True): xp.asarray(herm(Cinv).astype(dt))}

    # ------------------------------------------------------------------ site-local pieces
    def _sites(self, which, like):
        s = self.sites_p if which == "p" else self.sites_q
        xp = array_module(like)
        if xp is np:
            return s
        key = (which, xp.__name__)
        if key not in self._dev:
            self._dev[key] = xp.asarray(s)
        return self._dev[key]

    def _site_term(self, psi, which, dagger=False, inverse=False, out=None):
        """D_ss psi (or its adjoint / inverse) on the sites s = p or q; other sites of `out` untouched
        (zero when out is None)."""
        res = out if out is not None else psi.zeros_like()
        st = self._sites(which, psi.data)
        if self.blocks is None:
            d = 1.0 / self.diag if inverse else self.diag
            res.sites()[st] = d * psi.sites()[st]
        else:
            core.clover_apply(res.data, psi.data, self.blocks[(dagger, inverse)], st, self.lat.local_volume,
                              psi.nvec, self.N)
        return res

    def _check(self, psi):
        if not isinstance(psi, FermionField):
            raise TypeError(f"EvenOdd acts on FermionField, got {type(psi).__name__}")

    # ------------------------------------------------------------------ the Schur complement
    def _apply(self, psi, dagger):
        """Two half-lattice Wilson kernels: with w = (psi_p, -D_qq^{-1} D_qp psi_p), the full operator
        restricted to the p sites gives D_pp psi_p + D_pq w_q = M_pp psi_p."""
        self._check(psi)
        D = self.D
        w = psi.copy()                                      # p sites: psi_p; q sites: overwritten
        if self.blocks is None:
            # w_q = -(1/d) D_qp psi_p = +1/(2d) sum_mu [...] directly from the kernel
            D._apply(psi, dagger=dagger, diag=0.0, hop_coef=0.5 / self.diag, use_clover=False,
                     sites=self._sites("q", psi.data), out=w)
        else:
            h = D._apply(psi, dagger=dagger, diag=0.0, hop_coef=0.5, use_clover=False, sites=self._sites("q", psi.data))
            core.clover_apply(w.data, h.data, self.blocks[(dagger, True)], self._sites("q", psi.data),
                              self.lat.local_volume, psi.nvec, self.N)
        return D._apply(w, dagger=dagger, sites=self._sites("p", psi.data))   # zero on the q sites

    def __call__(self, psi):
        """M_pp psi_p = D_pp psi_p - D_pq D_qq^{-1} D_qp psi_p (zero on the q sites)."""
        return self._apply(psi, False)

    M = __call__

    def adjoint(self, psi):
        """M_pp^dag psi_p, built from D^dag in the same way."""
        return self._apply(psi, True)

    Mdag = adjoint

    def MdagM(self, psi):
        return self.adjoint(self(psi))

    # ------------------------------------------------------------------ solves of D x = b
    def prepare_source(self, b, dagger=False):
        """b'_p = b_p - D_pq D_qq^{-1} b_q (zero on the q sites): solve M_pp x_p = b'_p."""
        self._check(b)
        D = self.D
        if self.blocks is None:
            return D._apply(b, dagger=dagger, diag=1.0, hop_coef=0.5 / self.diag, use_clover=False,
                            sites=self._sites("p", b.data))
        # b_p - D_pq w_q with D_pq = -1/2 sum_mu [...]: a kernel with site factor 1 and hop coefficient +1/2
        w = b.copy()                                        # p sites: b_p; q sites: D_qq^{-1} b_q
        core.clover_apply(w.data, b.data, self.blocks[(dagger, True)], self._sites("q", b.data),
                          self.lat.local_volume, b.nvec, self.N)
        return D._apply(w, dagger=dagger, diag=1.0, hop_coef=0.5, use_clover=False, sites=self._sites("p", b.data))

    def reconstruct(self, x_p, b, dagger=False):
        """The full solution: x_p on the p sites, D_qq^{-1} (b_q - D_qp x_p) on the q sites."""
        self._check(x_p)
        self._check(b)
        sq = self._sites("q", b.data)
        r = self.D.hop(x_p, dagger=dagger, sites=sq)
        r.sites()[sq] = b.sites()[sq] - r.sites()[sq]
        x = self._site_term(r, "q", dagger=dagger, inverse=True)
        sp = self._sites("p", b.data)
        x.sites()[sp] = x_p.sites()[sp]
        return x

    def project(self, psi, which="p"):
        """A copy of psi keeping the sites of one parity class ('p' = the solve parity, 'q' = the other)."""
        out = psi.zeros_like()
        st = self._sites(which, psi.data)
        out.sites()[st] = psi.sites()[st]
        return out
