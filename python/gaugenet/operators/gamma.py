"""Gamma matrices of shared/CONVENTIONS.md (Grid / GPT chiral basis) as numpy arrays."""
import numpy as np

_i = 1j
gamma = np.array([
    [[0, 0, 0, _i], [0, 0, _i, 0], [0, -_i, 0, 0], [-_i, 0, 0, 0]],   # g_x
    [[0, 0, 0, -1], [0, 0, 1, 0], [0, 1, 0, 0], [-1, 0, 0, 0]],       # g_y
    [[0, 0, _i, 0], [0, 0, 0, -_i], [-_i, 0, 0, 0], [0, _i, 0, 0]],   # g_z
    [[0, 0, 1, 0], [0, 0, 0, 1], [1, 0, 0, 0], [0, 1, 0, 0]],         # g_t
], dtype=np.complex128)
gamma5 = gamma[0] @ gamma[1] @ gamma[2] @ gamma[3]
identity = np.eye(4, dtype=np.complex128)


def sigma(mu, nu):
    """sigma_munu = (g_mu g_nu - g_nu g_mu) / 2 (no factor i)."""
    return 0.5 * (gamma[mu] @ gamma[nu] - gamma[nu] @ gamma[mu])


def wilson_hop_weights(dagger=False):
    """Spin weights of the Wilson hopping term for the generic one-hop stencil, shape (9, 1, 1, 4, 4):
    hop 2 mu (from x + mu): -1/2 (1 - g_mu); hop 2 mu + 1 (from x - mu): -1/2 (1 + g_mu); site term 0.
    dagger=True swaps the projectors (D^dag = g5 D g5)."""
    W = np.zeros((9, 1, 1, 4, 4), dtype=np.complex128)
    s = -1.0 if not dagger else 1.0
    for mu in range(4):
        W[2 * mu, 0, 0] = -0.5 * (identity + s * gamma[mu])
        W[2 * mu + 1, 0, 0] = -0.5 * (identity - s * gamma[mu])
    return W
