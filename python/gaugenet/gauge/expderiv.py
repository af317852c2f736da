"""The exponential of su(2) / su(3) matrices in closed form, and its derivative (Morningstar-Peardon).

An algebra element Q (anti-hermitian, traceless, N = 2 or 3) is written Q = i H with H hermitian and
traceless. By Cayley-Hamilton every power of H reduces to 1, H, H^2, so

    exp(Q) = exp(i H) = f0 + f1 H + f2 H^2                     (f2 = 0 for N = 2)

with f_j functions of the two invariants

    c0 = det H = tr(H^3) / 3,      c1 = tr(H^2) / 2   (>= 0)

(C. Morningstar and M. Peardon, "Analytic smearing of SU(3) link variables in lattice QCD",
Phys. Rev. D 69, 054501 (2004), hep-lat/0311018, Sec. III). Their variations are

    d f_j = b1_j tr(H dH) + b2_j tr(H^2 dH),      b1_j = df_j / dc1,   b2_j = df_j / dc0,

because dc1 = tr(H dH) and dc0 = tr(H^2 dH).

SU(3) (`_su3_closed`): with c0max = 2 (c1/3)^(3/2), theta = arccos(c0 / c0max),
u = sqrt(c1/3) cos(theta/3), w = sqrt(c1) sin(theta/3) the eigenvalues of H are
2u, -u + w, -u - w, and f_j = h_j / (9 u^2 - w^2), b_ij = (combinations of r_j^(1), r_j^(2), f_j) /
(2 (9 u^2 - w^2)^2) as in Morningstar-Peardon eqs. (29)-(34) and (57)-(61). The closed form is used for
c0 >= 0 (where 9 u^2 - w^2 >= 2 c1 > 0); for c0 < 0 the symmetry H -> -H gives
f_j(-c0) = (-1)^j f_j(c0)^*, b1_j(-c0) = (-1)^j b1_j(c0)^*, b2_j(-c0) = (-1)^(j+1) b2_j(c0)^*.
sin(w)/w and cos(w)/w^2 - sin(w)/w^3 use their Taylor series for |w| < 1.

The limit Q -> 0. The closed forms divide by (9 u^2 - w^2) ~ c1 (f) and its square (b), so they lose
about log10(1/c1) (f) and 2 log10(1/c1) (b) digits for small Q. Below c1 = C1_SERIES the
coefficients come instead from the exponential series sum_n (i H)^n / n!, with H^n = a_n + b_n H + c_n H^2
reduced by H^3 = c1 H + c0 (SU(3)) or H^2 = c1 (SU(2)) and differentiated term by term in c0 and c1;
these are exact polynomials in (c0, c1), so Q = 0 gives exp(Q) = 1 exactly and the finite limits
f = (1, i, -1/2), b1 = (0, -i/6, 1/24), b2 = (-i/6, 1/24, i/120) (SU(3));
f = (1, i), b1 = (-1/2, -i/6) (SU(2)).

SU(2): H^2 = c1, theta = sqrt(c1): f0 = cos(theta), f1 = i sin(theta)/theta,
b1_0 = -sin(theta)/(2 theta), b1_1 = i (cos(theta) - sin(theta)/theta) / (2 theta^2), b2 = 0.

The derivative as a pull-back (`SUExp.pullback`): for any complex matrix M,

    Re tr(d exp(Q) M) = tr(dQ Gamma)  for every dQ in su(N),
    Gamma = TA(-i [tr(M B1) H + tr(M B2) H^2 + f1 M + f2 (H M + M H)]),   B_i = sum_j b_ij H^j,

TA(X) = (X - X^dag)/2 - tr(X - X^dag)/(2N). Gamma is anti-hermitian and traceless; since
d exp(Q) = int_0^1 exp(s Q) dQ exp((1-s) Q) ds it equals TA(int_0^1 exp((1-s) Q) M exp(s Q) ds)
(tests/test_stout.py compares the two). Morningstar-Peardon's hermitian Lambda is i Gamma.
"""
import numpy as np

from .group import traceless_antihermitian

C1_SERIES = 0.5      # below this value of c1 = tr(H^2)/2 the coefficients come from the power series
_N_SERIES = 22       # terms of the series: |eigenvalue of H|^n / n! < 1e-20 for c1 < C1_SERIES
_W_SERIES = 1.0      # below this |w| the functions xi0, xi1 use their Taylor series
_N_XI = 11


def _xi(w):
    """xi0(w) = sin(w)/w and xi1(w) = cos(w)/w^2 - sin(w)/w^3 (= xi0'(w)/w), exact near w = 0."""
    w = np.asarray(w, dtype=np.float64)
    small = np.abs(w) < _W_SERIES
    xi0 = np.empty_like(w)
    xi1 = np.empty_like(w)
    ws = w[small]
    w2 = ws * ws
    # xi0 = sum_k (-w^2)^k / (2k+1)!,  xi1 = sum_{k>=1} (-1)^k 2k w^(2k-2) / (2k+1)!  (Horner from the top)
    s0 = np.zeros_like(ws)
    s1 = np.zeros_like(ws)
    for k in range(_N_XI, -1, -1):
        fact = 1.0 / _factorial(2 * k + 1)
        s0 = s0 * (-w2) + fact
        if k >= 1:
            s1 = s1 * (-w2) + (2 * k) * fact * (-1.0)
    xi0[small] = s0
    xi1[small] = s1
    wl = w[~small]
    xi0[~small] = np.sin(wl) / wl
    xi1[~small] = np.cos(wl) / wl ** 2 - np.sin(wl) / wl ** 3
    return xi0, xi1


def _factorial(n):
    out = 1.0
    for k in range(2, n + 1):
        out *= k
    return out


def _su3_series(c0, c1, derivatives):
    """f_j, b1_j, b2_j from sum_n (i H)^n / n! with H^n = a + b H + c H^2 and H^3 = c1 H + c0."""
    shape = c0.shape
    one, zero = np.ones(shape), np.zeros(shape)
    a, b, c = one, zero, zero                       # H^0
    da0 = db0 = dc0 = da1 = db1 = dc1 = zero        # d/dc0, d/dc1 of (a, b, c)
    f = np.zeros(shape + (3,), dtype=np.complex128)
    b1 = np.zeros_like(f)
    b2 = np.zeros_like(f)
    f[..., 0] = 1.0
    coef = 1.0 + 0j
    for n in range(1, _N_SERIES + 1):
        # H^(n) = H H^(n-1) = a H + b H^2 + c (c1 H + c0)
        if derivatives:
            da0, db0, dc0 = dc0 * c0 + c, da0 + dc0 * c1, db0
            da1, db1, dc1 = dc1 * c0, da1 + dc1 * c1 + c, db1
        a, b, c = c * c0, a + c * c1, b
        coef = coef * 1j / n
        f[..., 0] += coef * a
        f[..., 1] += coef * b
        f[..., 2] += coef * c
        if derivatives:
            b2[..., 0] += coef * da0
            b2[..., 1] += coef * db0
            b2[..., 2] += coef * dc0
            b1[..., 0] += coef * da1
            b1[..., 1] += coef * db1
            b1[..., 2] += coef * dc1
    return f, b1, b2


def _su3_closed(c0, c1, derivatives):
    """Morningstar-Peardon closed form, valid for c1 > 0 (any sign of c0)."""
    neg = c0 < 0
    c0a = np.abs(c0)
    c0max = 2.0 * (c1 / 3.0) ** 1.5
    theta = np.arccos(np.clip(c0a / c0max, -1.0, 1.0))
    u = np.sqrt(c1 / 3.0) * np.cos(theta / 3.0)
    w = np.sqrt(c1) * np.sin(theta / 3.0)
    u2, w2 = u * u, w * w
    xi0, xi1 = _xi(w)
    e2iu = np.exp(2j * u)
    emiu = np.exp(-1j * u)
    cw = np.cos(w)
    d = 9.0 * u2 - w2
    h = np.stack([
        (u2 - w2) * e2iu + emiu * (8.0 * u2 * cw + 2j * u * (3.0 * u2 + w2) * xi0),
        2.0 * u * e2iu - emiu * (2.0 * u * cw - 1j * (3.0 * u2 - w2) * xi0),
        e2iu - emiu * (cw + 3j * u * xi0),
    ], axis=-1)
    f = h / d[..., None]
    b1 = b2 = None
    if derivatives:
        r1 = np.stack([
            2.0 * (u + 1j * (u2 - w2)) * e2iu
            + 2.0 * emiu * (4.0 * u * (2.0 - 1j * u) * cw + 1j * (9.0 * u2 + w2 - 1j * u * (3.0 * u2 + w2)) * xi0),
            2.0 * (1.0 + 2j * u) * e2iu + emiu * (-2.0 * (1.0 - 1j * u) * cw + 1j * (6.0 * u + 1j * (w2 - 3.0 * u2)) * xi0),
            2j * e2iu + 1j * emiu * (cw - 3.0 * (1.0 - 1j * u) * xi0),
        ], axis=-1)
        r2 = np.stack([
            -2.0 * e2iu + 2j * u * emiu * (cw + (1.0 + 4j * u) * xi0 + 3.0 * u2 * xi1),
            -1j * emiu * (cw + (1.0 + 2j * u) * xi0 - 3.0 * u2 * xi1),
            emiu * (xi0 - 3j * u * xi1),
        ], axis=-1)
        den = (2.0 * d * d)[..., None]
        uu, ww = u[..., None], w2[..., None]
        b1 = (2.0 * uu * r1 + (3.0 * uu * uu - ww) * r2 - 2.0 * (15.0 * uu * uu + ww) * f) / den
        b2 = (r1 - 3.0 * uu * r2 - 24.0 * uu * f) / den
    if np.any(neg):
        sgn = np.array([1.0, -1.0, 1.0])
        f = np.where(neg[..., None], sgn * np.conj(f), f)
        if derivatives:
            b1 = np.where(neg[..., None], sgn * np.conj(b1), b1)
            b2 = np.where(neg[..., None], -sgn * np.conj(b2), b2)
    return f, b1, b2


def _su2(c1, derivatives):
    """SU(2): f0 = cos(t), f1 = i sin(t)/t, b1 = (-sin(t)/(2t), i (cos t - sin t / t)/(2 t^2)), t^2 = c1."""
    f = np.zeros(c1.shape + (3,), dtype=np.complex128)
    b1 = np.zeros_like(f)
    b2 = np.zeros_like(f)
    small = c1 < C1_SERIES
    cs = c1[small]
    # cos t = sum (-c1)^k/(2k)!, sin t / t = sum (-c1)^k/(2k+1)!, (cos t - sin t/t)/(2 t^2) = sum_{k>=1} (-1)^k k c1^(k-1)/(2k+1)!
    cos_s, sinc_s, g_s = np.zeros_like(cs), np.zeros_like(cs), np.zeros_like(cs)
    for k in range(_N_SERIES // 2, -1, -1):
        cos_s = cos_s * (-cs) + 1.0 / _factorial(2 * k)
        sinc_s = sinc_s * (-cs) + 1.0 / _factorial(2 * k + 1)
        if k >= 1:
            g_s = g_s * (-cs) + (-1.0) * k / _factorial(2 * k + 1)
    # g_s above is sum_{k>=1} (-1)^k k c1^(k-1)/(2k+1)! written as -sum_k k (-c1)^(k-1)/(2k+1)!
    t = np.sqrt(c1[~small])
    cos_l, sinc_l = np.cos(t), np.sin(t) / t
    g_l = (cos_l - sinc_l) / (2.0 * t * t)
    f[small, 0], f[small, 1] = cos_s, 1j * sinc_s
    f[~small, 0], f[~small, 1] = cos_l, 1j * sinc_l
    if derivatives:
        b1[small, 0], b1[small, 1] = -0.5 * sinc_s, 1j * g_s
        b1[~small, 0], b1[~small, 1] = -0.5 * sinc_l, 1j * g_l
    return f, b1, b2


def exp_coefficients(c0, c1, N, derivatives=True):
    """(f, b1, b2), each (..., 3) complex, for the invariants c0 = det H, c1 = tr(H^2)/2 of H = -i Q."""
    c0 = np.asarray(c0, dtype=np.float64)
    c1 = np.maximum(np.asarray(c1, dtype=np.float64), 0.0)
    if N == 2:
        return _su2(c1, derivatives)
    if N != 3:
        raise ValueError(f"exp_coefficients: N = {N}; the closed form exists for SU(2) and SU(3) only")
    f = np.empty(c0.shape + (3,), dtype=np.complex128)
    b1 = np.zeros_like(f)
    b2 = np.zeros_like(f)
    small = c1 < C1_SERIES
    if np.any(small):
        fs, b1s, b2s = _su3_series(c0[small], c1[small], derivatives)
        f[small] = fs
        if derivatives:
            b1[small], b2[small] = b1s, b2s
    if not np.all(small):
        fl, b1l, b2l = _su3_closed(c0[~small], c1[~small], derivatives)
        f[~small] = fl
        if derivatives:
            b1[~small], b2[~small] = b1l, b2l
    return f, b1, b2


def _trace(a):
    return np.trace(a, axis1=-2, axis2=-1)


def _trace_prod(a, b):
    """tr(a b) over a stack without forming the product."""
    return np.sum(a * np.swapaxes(b, -1, -2), axis=(-2, -1))


class SUExp:
    """exp(Q) of a stack (..., N, N) of su(N) matrices (N = 2, 3) and the data for its derivative.

    Attributes: Q, H = -i Q, H2 = H H, c0, c1, f (..., 3), exp = exp(Q); b1, b2 (..., 3) are
    computed on the first call of `pullback` (or at once with derivatives=True)."""

    def __init__(self, Q, derivatives=False):
        Q = np.asarray(Q, dtype=np.complex128)
        N = Q.shape[-1]
        if Q.ndim < 2 or Q.shape[-2] != N or N not in (2, 3):
            raise ValueError(f"SUExp: matrices of shape {Q.shape[-2:]}; need 2x2 or 3x3")
        self.N = N
        self.Q = Q
        self.H = -1j * Q
        self.H2 = self.H @ self.H
        self.c1 = 0.5 * _trace(self.H2).real
        self.c0 = (_trace_prod(self.H2, self.H) / 3.0).real if N == 3 else np.zeros(self.c1.shape)
        self.b1 = self.b2 = None
        self.f, b1, b2 = exp_coefficients(self.c0, self.c1, N, derivatives)
        if derivatives:
            self.b1, self.b2 = b1, b2
        eye = np.eye(N)
        e = self.f[..., 0, None, None] * eye + self.f[..., 1, None, None] * self.H
        if N == 3:
            e = e + self.f[..., 2, None, None] * self.H2
        self.exp = e

    def _trace_poly(self, M, coef):
        """tr(M sum_j coef_j H^j)."""
        out = coef[..., 0] * _trace(M) + coef[..., 1] * _trace_prod(M, self.H)
        if self.N == 3:
            out = out + coef[..., 2] * _trace_prod(M, self.H2)
        return out

    def pullback(self, M):
        """Gamma in su(N) with Re tr(d exp(Q) M) = tr(dQ Gamma) for all dQ in su(N) (module docstring)."""
        if self.b1 is None:
            _, self.b1, self.b2 = exp_coefficients(self.c0, self.c1, self.N, True)
        M = np.asarray(M, dtype=np.complex128)
        H = self.H
        G = self._trace_poly(M, self.b1)[..., None, None] * H + self.f[..., 1, None, None] * M
        if self.N == 3:
            G = G + self._trace_poly(M, self.b2)[..., None, None] * self.H2 \
                + self.f[..., 2, None, None] * (H @ M + M @ H)
        return traceless_antihermitian(-1j * G)


def expm_su(Q):
    """exp(Q) for a stack of su(2) or su(3) matrices by Cayley-Hamilton (exact to rounding)."""
    return SUExp(Q, derivatives=False).exp

