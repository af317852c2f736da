"""Clover leaves and field strength F_munu = (Q_munu - Q_munu^dag) / 8 (shared/CONVENTIONS.md)."""
import numpy as np

from .._backend import to_host
from ..gauge.group import dag
from .gamma import sigma


def clover_leaves(U, mu, nu):
    """Q_munu(x): the four plaquette leaves at x, each oriented mu -> nu, as (V, N, N)."""
    A, B = U.link(mu), U.link(nu)
    B_fmu = U.shift_links(B, mu, +1)
    A_fnu = U.shift_links(A, nu, +1)
    leaf1 = A @ B_fmu @ dag(A_fnu) @ dag(B)
    Z = dag(A_fnu) @ dag(B) @ A                     # Z(y) = A(y+nu)^dag B(y)^dag A(y)
    leaf2 = B @ U.shift_links(Z, mu, -1)
    K = dag(B) @ A @ B_fmu                          # K(z) = B(z)^dag A(z) B(z+mu)
    K_bnu = U.shift_links(K, nu, -1)
    leaf4 = K_bnu @ dag(A)
    leaf3 = U.shift_links(dag(A) @ K_bnu, mu, -1)
    return leaf1 + leaf2 + leaf3 + leaf4


def field_strength(U):
    """{(mu, nu): F_munu (V, N, N)} for mu < nu."""
    out = {}
    for mu in range(4):
        for nu in range(mu + 1, 4):
            Q = to_host(clover_leaves(U, mu, nu))
            out[(mu, nu)] = (Q - dag(Q)) / 8.0
    return out


def clover_blocks(U, diag, csw):
    """The site term of Wilson-clover, diag - csw/4 sum_{mu != nu} sigma_munu F_munu, as two
    2N x 2N chiral blocks per site: (V, 2, 2N, 2N)."""
    N = U.N
    V = U.lat.local_volume
    M = np.zeros((V, 4, N, 4, N), dtype=np.complex128)
    if csw != 0.0:
        for (mu, nu), F in field_strength(U).items():
            M += np.einsum("st,vab->vsatb", sigma(mu, nu), F)
        M *= -csw / 4.0 * 2.0  # sum over mu != nu is twice the sum over mu < nu
    M = M.reshape(V, 4 * N, 4 * N)
    M += diag * np.eye(4 * N)
    n2 = 2 * N
    off = max(np.abs(M[:, :n2, n2:]).max(), np.abs(M[:, n2:, :n2]).max())
    assert off < 1e-12 * max(1.0, np.abs(M).max()), "clover term is not chirally block diagonal"
    blocks = np.stack([M[:, :n2, :n2], M[:, n2:, n2:]], axis=1)
    return np.ascontiguousarray(blocks)
