"""The Lie algebra su(N): generators, components, exponential, random momenta.

Conventions (shared/CONVENTIONS.md, "Self-learning HMC"): hermitian generators T^a with
tr(T^a T^b) = delta_ab / 2 (Pauli / 2 for N = 2, Gell-Mann / 2 for N = 3, generalised Gell-Mann
matrices for other N). Momenta are P = sum_a p^a T^a. gaugenet stores algebra elements as the
anti-hermitian traceless matrices X = i P = sum_a p^a (i T^a); a link moves as U -> exp(X) U.
For an anti-hermitian X the components are p^a = -2 tr(i T^a X) = 2 Im tr(T^a X) (`components`).
"""
import numpy as np

from ..lattice import rng

_GEN_CACHE = {}


def generators(N):
    """(N^2 - 1, N, N) hermitian traceless generators with tr(T^a T^b) = delta_ab / 2."""
    if N in _GEN_CACHE:
        return _GEN_CACHE[N]
    gens = []
    for j in range(N):          # symmetric and antisymmetric off-diagonal pairs (j < k)
        for k in range(j + 1, N):
            s = np.zeros((N, N), dtype=np.complex128)
            s[j, k] = s[k, j] = 0.5
            a = np.zeros((N, N), dtype=np.complex128)
            a[j, k], a[k, j] = -0.5j, 0.5j
            gens += [s, a]
    for l in range(1, N):       # diagonal: diag(1, ..., 1, -l, 0, ...) / sqrt(2 l (l + 1))
        d = np.zeros(N)
        d[:l] = 1.0
        d[l] = -float(l)
        gens.append(np.diag(d / np.sqrt(2.0 * l * (l + 1))).astype(np.complex128))
    out = np.array(gens)
    if N == 3:   # order as the Gell-Mann matrices lambda_1..lambda_8 (halved)
        out = out[[0, 1, 6, 2, 3, 4, 5, 7]]
    elif N == 2:  # sigma_x, sigma_y, sigma_z halved
        out = out[[0, 1, 2]]
    out.setflags(write=False)
    _GEN_CACHE[N] = out
    return out


def components(X):
    """Real components x^a of anti-hermitian traceless matrices X = sum_a x^a (i T^a): (..., N^2 - 1).
    Uses tr((i T^a)(i T^b)) = -delta_ab / 2, so x^a = -2 tr(i T^a X) = 2 Im tr(T^a X)."""
    T = generators(X.shape[-1])
    return 2.0 * np.einsum("aij,...ji->...a", T, X).imag


def from_components(x, N):
    """sum_a x^a (i T^a) for real components x of shape (..., N^2 - 1)."""
    T = generators(N)
    return 1j * np.einsum("...a,aij->...ij", np.asarray(x, dtype=np.float64), T)


def expm_antihermitian(X):
    """exp(X) for (stacks of) anti-hermitian matrices, through the eigen-decomposition of i X."""
    w, v = np.linalg.eigh(1j * np.asarray(X, dtype=np.complex128))
    # X = -i (i X) = -i v diag(w) v^dag  ->  exp(X) = v diag(exp(-i w)) v^dag
    return (v * np.exp(-1j * w)[..., None, :]) @ np.conj(np.swapaxes(v, -1, -2))


def random_algebra(lat, N, seed, stream=0, lead_shape=(4,)):
    """Anti-hermitian traceless matrices i P with P = sum_a p^a T^a and p^a ~ N(0, 1) on every local
    site (lead_shape + local_shape + (N, N)), the same global field for any process grid
    (the momenta of HMC, or random su(N) directions)."""
    na = N * N - 1
    lead = int(np.prod(lead_shape)) if lead_shape else 1
    c = rng.site_counters(lat, na, lead)
    p = rng.normal(seed, stream, c).reshape(lead, lat.local_volume, na)
    X = from_components(p, N)
    return X.reshape(tuple(lead_shape) + lat.local_shape + (N, N))
