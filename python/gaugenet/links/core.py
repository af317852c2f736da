"""The compiled link-network core on the distributed lattice (csrc/kernels/loops.h, matfield.h).

Arrays are host complex128: link fields (4, V, N, N) (mu outermost, as GaugeField.sites()), per-link
matrix fields of the same shape, stacks (..., N, N). Neighbours come from the lattice's depth-1 halo
(lattice/halo.py): the links' halo is exchanged once per field (`LinkField`), and every kernel that
needs a diagonal neighbour runs in two passes with one more exchange of a (V, 12, N, N) buffer in
between. No MPI in C++; the exchanges are the Halo's point-to-point messages.

Conventions (docs/links.md, docs/stout.md):
  C_mu(x) = sum_nu [U_nu(x) U_mu(x+nu) U_nu(x+mu)^dag + U_nu(x-nu)^dag U_mu(x-nu) U_nu(x-nu+mu)]
  (= gauge.action.staples(U, mu)^dag);  Omega = C U^dag;  Q = TA(Omega);  U' = exp(Q) U;
  forces F in gauge_force's representation: dS/dt = 2 sum tr(X F) for U -> exp(tX) U.
"""
import numpy as np

from .._backend import core, to_host


def _c128(a, what):
    a = np.ascontiguousarray(to_host(a), dtype=np.complex128)
    if a.ndim < 2 or a.shape[-1] != a.shape[-2] or a.shape[-1] not in (2, 3):
        raise ValueError(f"{what}: need a stack of 2x2 or 3x3 matrices, got shape {a.shape}")
    return a


class LinkField:
    """Links (4, V, N, N) of a gauge field on its lattice, with their depth-1 halo exchanged once.

    U: a GaugeField, or give `lat` and a (4, V, N, N) array `links`."""

    def __init__(self, U=None, lat=None, links=None):
        if U is not None:
            lat = U.lat
            links = U.sites()
        if lat is None or links is None:
            raise ValueError("LinkField: give a GaugeField, or lat and links")
        L = np.ascontiguousarray(to_host(links), dtype=np.complex128)
        V = lat.local_volume
        if L.ndim != 4 or L.shape[:2] != (4, V) or L.shape[2] != L.shape[3] or L.shape[2] not in (2, 3):
            raise ValueError(f"LinkField: links of shape {L.shape}, need (4, {V}, N, N) with N = 2 or 3")
        self.lat, self.L, self.N, self.V = lat, L, L.shape[-1], V
        self.halo = lat.halo(1)
        self.Vh = self.halo.Vh
        self.nbr = self.halo.nbr
        self.Lh = self.exchange_links(L)

    def exchange_links(self, A):
        """Halo (4, Vh, N, N) of a link-shaped field A (4, V, N, N), or None on an unsplit lattice."""
        if not self.Vh:
            return None
        out = np.empty((4, self.Vh) + A.shape[2:], dtype=np.complex128)
        for mu in range(4):
            self.halo.exchange(np.ascontiguousarray(A[mu]), out[mu], zero_boundary=False)
        return out

    def exchange_sites(self, B):
        """Halo of a site-major buffer B (V, ...)."""
        if not self.Vh:
            return None
        return self.halo.exchange(B, zero_boundary=False)

    def _empty(self):
        return np.empty_like(self.L)

    # -------------------------------------------------------------- staples
    def staple_sum(self, mode="C", coef=1.0, out=None):
        """The plaquette staple sum of every link (4, V, N, N): mode "C" C_mu(x), "omega" C U^dag,
        "force" coef TA(U C^dag)."""
        m = {"C": 0, "omega": 1, "force": 2}.get(mode)
        if m is None:
            raise ValueError(f"staple_sum: mode must be 'C', 'omega' or 'force', got {mode!r}")
        N, V, Vh = self.N, self.V, self.Vh
        buf = np.empty((V, 12, N, N), dtype=np.complex128)
        core.staple_lower(self.L, self.Lh, self.nbr, buf, V, Vh, N)
        bufh = self.exchange_sites(buf)
        out = self._empty() if out is None else out
        core.staple_sum(self.L, self.Lh, buf, bufh, self.nbr, out, V, Vh, N, m, float(coef))
        return out

    def staple_backprop(self, Y, base=None, ta=False, out=None):
        """base + U Sigma (ta: TA of it), where sum_{x,mu} Re tr(dC_mu(x) Y_mu(x)) = sum Re tr(dU Sigma);
        Y (4, V, N, N). The result is the force of S = sum Re tr(C Y) in gauge_force's representation
        when ta=True and base holds the other terms (U Sigma is the derivative along U -> exp(tX) U)."""
        N, V, Vh = self.N, self.V, self.Vh
        Y = np.ascontiguousarray(Y, dtype=np.complex128)
        if Y.shape != self.L.shape:
            raise ValueError(f"staple_backprop: Y of shape {Y.shape}, need {self.L.shape}")
        Yh = self.exchange_links(Y)
        buf = np.empty((V, 12, N, N), dtype=np.complex128)
        loc = self._empty()
        core.staple_back_push(self.L, self.Lh, Y, Yh, self.nbr, buf, loc, V, Vh, N)
        bufh = self.exchange_sites(buf)
        out = self._empty() if out is None else out
        if base is not None:
            base = np.ascontiguousarray(base, dtype=np.complex128)
        core.staple_back_pull(self.L, self.Lh, buf, bufh, loc, base, self.nbr, out, V, Vh, N, bool(ta))
        return out


def staples(U):
    """C_mu(x) for all mu, (4, V, N, N) (the hermitian conjugate of gauge.action.staples(U, mu))."""
    return LinkField(U).staple_sum("C")


def plaquette_force(U, beta):
    """The Wilson-action MD force -beta/(2N) TA(U_mu(x) A_mu(x)) of gauge.action.gauge_force, compiled:
    the same staple kernels as the stout layer. Returns a GaugeField-shaped field."""
    lf = LinkField(U)
    F = lf.staple_sum("force", coef=-float(beta) / (2.0 * U.N))
    return U._new(U.xp.asarray(F.astype(U.data.dtype).reshape(U.data.shape)))


def expm(Q):
    """exp(Q) for a stack (..., N, N) of su(2) / su(3) matrices (closed form, as gauge.expderiv)."""
    Q = _c128(Q, "expm")
    out = np.empty_like(Q)
    core.su_exp(Q, None, out, Q.shape[-1])
    return out


def exp_pullback(Q, M):
    """Gamma in su(N) with Re tr(d exp(Q) M) = tr(dQ Gamma) for all dQ (gauge.expderiv.SUExp.pullback)."""
    Q = _c128(Q, "exp_pullback")
    M = np.ascontiguousarray(to_host(M), dtype=np.complex128)
    if M.shape != Q.shape:
        raise ValueError(f"exp_pullback: M of shape {M.shape} does not match Q {Q.shape}")
    out = np.empty_like(Q)
    core.su_exp(Q, M, out, Q.shape[-1])
    return out


def exp_update(U, Omega):
    """The stout-type update per link: (U' = exp(Q) U, Q = TA(Omega)) for stacks (..., N, N)."""
    U = _c128(U, "exp_update")
    Omega = np.ascontiguousarray(to_host(Omega), dtype=np.complex128)
    if Omega.shape != U.shape:
        raise ValueError(f"exp_update: Omega of shape {Omega.shape} does not match U {U.shape}")
    Uout, Q = np.empty_like(U), np.empty_like(U)
    core.exp_update_forward(U, Omega, Uout, Q, U.shape[-1])
    return Uout, Q


def exp_update_backward(U, Omega, Q, Fp, y_scale=0.0):
    """Backward of exp_update for the force Fp on U' (gauge_force representation):
    (F0, Gamma, Y) with Gamma = pullback_Q(exp(-Q) Fp), F0 = exp(-Q) Fp exp(Q) - Gamma Omega (the force on U
    before the dependence of Omega on U), Y = y_scale U^dag Gamma (the staple backprop's input when
    Omega = y_scale C U^dag + terms independent of C; None when y_scale is 0)."""
    U = _c128(U, "exp_update_backward")
    arrs = [np.ascontiguousarray(to_host(a), dtype=np.complex128) for a in (Omega, Q, Fp)]
    for a, name in zip(arrs, ("Omega", "Q", "Fp")):
        if a.shape != U.shape:
            raise ValueError(f"exp_update_backward: {name} of shape {a.shape} does not match U {U.shape}")
    F0, G = np.empty_like(U), np.empty_like(U)
    Y = np.empty_like(U) if y_scale != 0.0 else None
    core.exp_update_backward(U, arrs[0], arrs[1], arrs[2], F0, G, Y, float(y_scale), U.shape[-1])
    return F0, G, Y
