"""SU(2) subgroups of SU(N): projection, heat-bath sampling, overrelaxation (vectorised over links).

An SU(2) matrix is written as a quaternion a = (a0, a1, a2, a3) with a0^2 + |a|^2 = 1:

    a0 + i (a1 s1 + a2 s2 + a3 s3) = [[a0 + i a3,  a2 + i a1],
                                      [-a2 + i a1, a0 - i a3]]

For any complex 2 x 2 matrix w and r in SU(2), Re tr(r w) = Re tr(r b) with the quaternion
b = (Re(w00 + w11), Im(w01 + w10), Re(w01 - w10), Im(w00 - w11)) / 2 (a real multiple k = |b| of an
SU(2) matrix v): the part of w orthogonal to SU(2) never contributes.
"""
import numpy as np

from ..lattice import rng


def subgroups(N):
    """The (i, j) index pairs of the Cabibbo-Marinari SU(2) subgroups: one for N = 2, three for N = 3."""
    return [(i, j) for i in range(N) for j in range(i + 1, N)]


def quaternion_part(W, i, j):
    """(b, k): the quaternion b (n, 4) of the (i, j) block of W (n, N, N), normalised to |b| = 1
    where k = |b| > 0 (b = identity where k = 0), and k (n,)."""
    w00, w01, w10, w11 = W[:, i, i], W[:, i, j], W[:, j, i], W[:, j, j]
    b = 0.5 * np.stack([(w00 + w11).real, (w01 + w10).imag, (w01 - w10).real, (w00 - w11).imag], axis=-1)
    k = np.sqrt(np.einsum("na,na->n", b, b))
    zero = k <= 0.0
    b = b / np.where(zero, 1.0, k)[:, None]
    b[zero] = (1.0, 0.0, 0.0, 0.0)
    return b, k


def quaternion_matrix(a):
    """(n, 2, 2) complex matrices of quaternions a (n, 4)."""
    m = np.empty(a.shape[:-1] + (2, 2), dtype=np.complex128)
    m[..., 0, 0] = a[..., 0] + 1j * a[..., 3]
    m[..., 0, 1] = a[..., 2] + 1j * a[..., 1]
    m[..., 1, 0] = -a[..., 2] + 1j * a[..., 1]
    m[..., 1, 1] = a[..., 0] - 1j * a[..., 3]
    return m


def left_multiply(r, M, i, j):
    """M <- R M in place, R the SU(N) embedding of r (n, 2, 2) in rows/columns (i, j); M is (n, N, N)."""
    Mi, Mj = M[:, i, :].copy(), M[:, j, :]
    M[:, i, :] = r[:, 0, 0, None] * Mi + r[:, 0, 1, None] * Mj
    M[:, j, :] = r[:, 1, 0, None] * Mi + r[:, 1, 1, None] * Mj


def overrelax_element(v):
    """r = (v^dag)^2 for unit quaternions v (n, 4): Re tr(r v) = Re tr(v), so the action is unchanged,
    and applying the step twice gives the identity (a microcanonical reflection)."""
    v0, vv = v[:, 0], v[:, 1:]
    r = np.empty_like(v)
    r[:, 0] = v0 * v0 - np.einsum("na,na->n", vv, vv)
    r[:, 1:] = -2.0 * v0[:, None] * vv
    return quaternion_matrix(r)


# ------------------------------------------------------------------ heat bath
# random numbers per link and attempt: 0-3 for x0 (KP uses four, Creutz two), 4-5 for the direction
_PER_LINK = 6


class RetryLimitError(RuntimeError):
    pass


def sample_x0(alpha, seed, stream_of_retry, counters, alpha_switch=2.0, max_retries=10000):
    """x0 in [-1, 1] with density ~ sqrt(1 - x0^2) exp(alpha x0) (the real part of an SU(2) matrix
    distributed as exp(alpha/2 Re tr x) d_Haar x), one per entry of alpha (n,) >= 0.

    Kennedy-Pendleton where alpha >= alpha_switch, Creutz's method below (both exact; each is
    efficient in its regime). Attempt r of link l uses the uniforms rng.uniform(seed,
    stream_of_retry(r), counters[l] * 6 + c): a link's result depends only on its own counter, never
    on which other links share the call (so the outcome is independent of the process grid).
    Returns (x0 (n,), attempt index (n,) at which each link was accepted)."""
    alpha = np.asarray(alpha, dtype=np.float64)
    n = alpha.shape[0]
    x0 = np.empty(n)
    accepted_at = np.full(n, -1, dtype=np.int64)
    pending = np.arange(n)
    base = np.asarray(counters, dtype=np.uint64) * np.uint64(_PER_LINK)
    retry = 0
    while pending.size:
        if retry >= max_retries:
            raise RetryLimitError(f"SU(2) heat bath: {pending.size} links not accepted after {max_retries} attempts "
                                  f"(alpha in [{alpha[pending].min():.3g}, {alpha[pending].max():.3g}])")
        a = alpha[pending]
        c = base[pending][:, None] + np.arange(4, dtype=np.uint64)[None, :]
        u = rng.uniform(seed, stream_of_retry(retry), c)          # (m, 4) in [0, 1)
        cand = np.empty(a.shape)
        ok = np.empty(a.shape, dtype=bool)
        kp = a >= alpha_switch
        if kp.any():  # Kennedy-Pendleton: lambda^2 ~ Gamma(3/2)/(2 alpha), accept with sqrt(1 - lambda^2)
            ak, uk = a[kp], 1.0 - u[kp]                              # uniforms in (0, 1]
            lam2 = -(np.log(uk[:, 0]) + np.cos(2.0 * np.pi * uk[:, 1]) ** 2 * np.log(uk[:, 2])) / (2.0 * ak)
            ok[kp] = uk[:, 3] ** 2 <= 1.0 - lam2
            cand[kp] = 1.0 - 2.0 * lam2
        cr = ~kp
        if cr.any():  # Creutz: x0 from exp(alpha x0) on [-1, 1], accept with sqrt(1 - x0^2)
            ac, uc = a[cr], u[cr]
            small = ac < 1e-8
            safe = np.where(small, 1.0, ac)
            x = 1.0 + np.log1p(uc[:, 0] * np.expm1(-2.0 * safe)) / safe
            x = np.where(small, 2.0 * uc[:, 0] - 1.0, x)
            ok[cr] = uc[:, 1] ** 2 <= 1.0 - x * x
            cand[cr] = x
        done = pending[ok]
        x0[done] = cand[ok]
        accepted_at[done] = retry
        pending = pending[~ok]
        retry += 1
    return x0, accepted_at


def random_su2(x0, seed, stream_of_retry, counters, accepted_at):
    """Quaternions (n, 4) with the given x0 and a uniformly random direction of the vector part,
    drawn from the uniforms 4 and 5 of the accepting attempt."""
    base = np.asarray(counters, dtype=np.uint64) * np.uint64(_PER_LINK)
    n = x0.shape[0]
    u = np.empty((n, 2))
    for r in np.unique(accepted_at):
        sel = np.nonzero(accepted_at == r)[0]
        c = base[sel][:, None] + np.array([4, 5], dtype=np.uint64)[None, :]
        u[sel] = rng.uniform(seed, stream_of_retry(int(r)), c)
    cos_t = 2.0 * u[:, 0] - 1.0
    sin_t = np.sqrt(np.maximum(0.0, 1.0 - cos_t * cos_t))
    phi = 2.0 * np.pi * u[:, 1]
    rad = np.sqrt(np.maximum(0.0, 1.0 - x0 * x0))
    return np.stack([x0, rad * sin_t * np.cos(phi), rad * sin_t * np.sin(phi), rad * cos_t], axis=-1)


def heatbath_element(v, k, beta_over_N, seed, stream_of_retry, counters, alpha_switch=2.0, max_retries=10000):
    """r (n, 2, 2) in SU(2) distributed as exp(beta/N Re tr(r k v)) d_Haar r, for unit quaternions
    v (n, 4) and k (n,) >= 0: r = x v^dag with x0 sampled at alpha = 2 beta k / N."""
    alpha = 2.0 * beta_over_N * k
    x0, at = sample_x0(alpha, seed, stream_of_retry, counters, alpha_switch, max_retries)
    x = random_su2(x0, seed, stream_of_retry, counters, at)
    vconj = v * np.array([1.0, -1.0, -1.0, -1.0])
    return quaternion_matrix(x) @ quaternion_matrix(vconj)
