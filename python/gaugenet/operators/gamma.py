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
