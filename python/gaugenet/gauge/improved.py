"""Rectangle-improved gauge actions: tree-level Symanzik, Iwasaki, DBW2 (and Wilson as c1 = 0).

    S = beta sum_x [ c0 sum_{mu<nu} (1 - Re tr P_munu(x) / N) + c1 sum_{mu != nu} (1 - Re tr R_munu(x) / N) ],
    c0 = 1 - 8 c1,

P the plaquette and R_munu(x) the 2x1 rectangle with corner x, two hops along mu and one along nu (path
mu mu nu -mu -mu -nu). The ordered pairs mu != nu count every rectangle once, in both orientations (2x1 and
1x2 per plane), so a site carries 6 plaquettes and 12 rectangles; c0 + 8 c1 = 1 keeps the classical continuum
limit beta/(2N) tr F^2 of the Wilson action at the same beta. Coefficients (c1):
    wilson 0,  symanzik -1/12 (tree level, Weisz/Luescher-Weisz),  iwasaki -0.331,  dbw2 -1.4088.

Force. The rectangles go through links/paths.py (the compiled path products and their VJPs): the cotangent of
S with respect to the links, Sigma = -beta c1 / N sum_R dRe tr R / dU, becomes the force TA(U Sigma) / 2 in
gauge_force's representation (dS/dt = 2 tr(X F) for U -> exp(t X) U); the plaquette part is gauge_force
scaled by c0. Both parts are checked against finite differences (tests/test_improved_action.py).
"""
import numpy as np

from .._backend import to_host
from .action import gauge_force, wilson_action

GAUGE_ACTIONS = {"wilson": 0.0, "symanzik": -1.0 / 12.0, "iwasaki": -0.331, "dbw2": -1.4088}


def rectangle_paths():
    """The 12 rectangles per site as paths of hops (mu, sign): for every ordered pair mu != nu the loop
    mu mu nu -mu -mu -nu with corner x."""
    out = []
    for mu in range(4):
        for nu in range(4):
            if nu != mu:
                out.append([(mu, 1), (mu, 1), (nu, 1), (mu, -1), (mu, -1), (nu, -1)])
    return out


def gauge_action_c1(name_or_c1):
    """The rectangle coefficient c1 of a named action (wilson, symanzik, iwasaki, dbw2) or of a number."""
    if isinstance(name_or_c1, str):
        key = name_or_c1.strip().lower()
        if key in GAUGE_ACTIONS:
            return GAUGE_ACTIONS[key]
        try:
            c1 = float(key)
        except ValueError:
            raise ValueError(f"unknown gauge action {name_or_c1!r}: choose one of {', '.join(GAUGE_ACTIONS)} "
                             f"or give the rectangle coefficient c1 as a number") from None
    else:
        c1 = float(name_or_c1)
    if not np.isfinite(c1):
        raise ValueError(f"gauge action: the rectangle coefficient c1 must be finite, got {c1}")
    return c1


def _paths(U):
    from ..links.paths import Paths
    return Paths(U)


def rectangle_sum(U, T=None):
    """sum_x sum_{mu != nu} (1 - Re tr R_munu(x) / N) over the global lattice."""
    T = _paths(U) if T is None else T
    N = U.N
    s = 0.0
    for p in rectangle_paths():
        R, _ = T.loop(p)
        s += float(np.sum(1.0 - np.trace(R, axis1=-2, axis2=-1).real / N))
    return float(U.lat.allreduce(s))


def rectangle_force(U, scale, T=None):
    """The force (4, V, N, N) of scale * sum_x sum_{mu != nu} (1 - Re tr R / N)."""
    T = _paths(U) if T is None else T
    N = U.N
    Sigma = T.zeros_sigma()
    G = np.broadcast_to(-(float(scale) / N) * np.eye(N, dtype=np.complex128), (T.V, N, N))
    for p in rectangle_paths():
        _, ctx = T.loop(p)
        T.path_vjp(ctx, G, Sigma)
    return T.force(Sigma)


class ImprovedGaugeAction:
    """S[U] and its force for beta and c1 (a name of GAUGE_ACTIONS or a number); `action(U)` and `force(U)`
    ((4, V, N, N) complex array), the interface of gaugenet.hmc's Hamiltonian pieces."""

    def __init__(self, beta, c1="wilson"):
        beta = float(beta)
        if not np.isfinite(beta) or beta <= 0:
            raise ValueError(f"gauge action: beta must be positive and finite, got {beta}")
        self.name = c1.strip().lower() if isinstance(c1, str) and c1.strip().lower() in GAUGE_ACTIONS else None
        self.beta, self.c1 = beta, gauge_action_c1(c1)
        self.c0 = 1.0 - 8.0 * self.c1

    def __repr__(self):
        return f"ImprovedGaugeAction(beta={self.beta}, c1={self.c1!r}{', ' + self.name if self.name else ''})"

    def action(self, U):
        s = wilson_action(U, self.beta * self.c0)
        if self.c1 != 0.0:
            s += self.beta * self.c1 * rectangle_sum(U)
        return float(s)

    def force(self, U):
        F = np.asarray(to_host(gauge_force(U, self.beta * self.c0).sites()), dtype=np.complex128)
        if self.c1 != 0.0:
            F = F + rectangle_force(U, self.beta * self.c1)
        return F
