"""SU(N) group helpers on stacks of matrices: Haar sampling, reunitarisation, projections."""
import numpy as np

from ..lattice.rng import gaussian_local


def dag(a):
    return np.conj(np.swapaxes(a, -1, -2))


def haar_su(lat, lead_shape, N, seed, stream=0):
    """Haar-random SU(N) matrices, lead_shape + local_shape + (N, N); independent of the process grid."""
    z = gaussian_local(lat, lead_shape, (N, N), seed, stream).astype(np.complex128)
    return project_su(z, method="qr").astype(lat.complex_dtype)


def project_su(a, method="polar"):
    """Nearest-ish SU(N) matrix: 'polar' (W V^dag of the SVD; the unitary nearest to a) or
    'qr' (Gram-Schmidt of the columns, used for Haar sampling), then the determinant phase removed."""
    a = np.asarray(a)
    N = a.shape[-1]
    if method == "qr":
        q, r = np.linalg.qr(a)
        d = np.diagonal(r, axis1=-2, axis2=-1)
        q = q * (d / np.abs(d))[..., None, :]
    else:
        w, _, vh = np.linalg.svd(a)
        q = w @ vh
    det = np.linalg.det(q)
    return q * (det ** (-1.0 / N))[..., None, None]


def unitarity_violation(a):
    """max over the stack of |a a^dag - 1| and |det a - 1|."""
    N = a.shape[-1]
    a = np.asarray(a, dtype=np.complex128)
    if a.size and not np.isfinite(a).all():
        return float("inf")
    u = np.abs(a @ dag(a) - np.eye(N)).max() if a.size else 0.0
    d = np.abs(np.linalg.det(a) - 1).max() if a.size else 0.0
    return float(max(u, d))


def traceless_antihermitian(x):
    """TA(X) = (X - X^dag)/2 - tr(X - X^dag)/(2N)."""
    N = x.shape[-1]
    a = 0.5 * (x - dag(x))
    tr = np.trace(a, axis1=-2, axis2=-1) / N
    return a - tr[..., None, None] * np.eye(N)
