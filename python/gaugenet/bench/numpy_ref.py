"""The obvious NumPy code a user would write (np.roll for the neighbours, einsum for the products),
timed side by side with the kernels: the speed-up is a ratio measured in the same run.

Arrays are in the field layouts of CONVENTIONS.md on one periodic local lattice:
U (4, T, Z, Y, X, N, N), psi (T, Z, Y, X, 4, N) or with features (T, Z, Y, X, n, 4, N).
Direction mu is array axis 3 - mu. Also the correctness reference of tests/test_bench.py.
"""
import numpy as np

from ..operators.gamma import gamma, identity


def wilson_hop(U, psi):
    """-1/2 sum_mu [(1 - g_mu) U_mu(x) psi(x + mu) + (1 + g_mu) U_mu(x - mu)^dag psi(x - mu)]."""
    out = np.zeros_like(psi)
    for mu in range(4):
        ax = 3 - mu
        fwd = np.einsum("tzyxab,tzyxsb->tzyxsa", U[mu], np.roll(psi, -1, axis=ax))
        Ub = np.roll(U[mu], 1, axis=ax)
        bwd = np.einsum("tzyxba,tzyxsb->tzyxsa", Ub.conj(), np.roll(psi, 1, axis=ax))
        Pm = (identity - gamma[mu]).astype(psi.dtype)
        Pp = (identity + gamma[mu]).astype(psi.dtype)
        out -= 0.5 * (np.einsum("rs,tzyxsa->tzyxra", Pm, fwd) + np.einsum("rs,tzyxsa->tzyxra", Pp, bwd))
    return out


def one_hop_layer(U, phi, W):
    """A PTC-like layer over the one-hop paths: psi_a(x) = sum_b sum_k W_k[a, b] (T_k phi_b)(x),
    k = 2 mu: U_mu(x) phi(x + mu); 2 mu + 1: U_mu(x - mu)^dag phi(x - mu); 8: phi(x) (the slots of
    core.hop / OneHop). phi (T, Z, Y, X, nin, 4, N), W (9, nout, nin, 4, 4) -> (T, Z, Y, X, nout, 4, N)."""
    out = np.einsum("abst,...btc->...asc", W[8].astype(phi.dtype), phi)
    for mu in range(4):
        ax = 3 - mu
        fwd = np.einsum("tzyxcd,tzyxbsd->tzyxbsc", U[mu], np.roll(phi, -1, axis=ax))
        bwd = np.einsum("tzyxdc,tzyxbsd->tzyxbsc", np.roll(U[mu], 1, axis=ax).conj(), np.roll(phi, 1, axis=ax))
        out += np.einsum("abst,...btc->...asc", W[2 * mu].astype(phi.dtype), fwd)
        out += np.einsum("abst,...btc->...asc", W[2 * mu + 1].astype(phi.dtype), bwd)
    return out
