"""Staggered pseudofermion on the even sites (Nf = 4, no rooting): heat bath, action and MD force.

    S_f[phi, U; m] = phi_e^dag (D^dag D)^{-1}_ee phi_e,      phi_e = (D^dag xi)_e,  xi complex Gaussian

(shared/CONVENTIONS.md "Staggered operator"; <|xi|^2> = 1 per component, so phi_e has the density
exp(-S_f) and det (D^dag D)_ee = det D contributes). With A = (D^dag D)_ee = m^2 + D_oe^dag D_oe
(D_hop is anti-hermitian, so D_eo = -D_oe^dag), X = A^{-1} phi_e (CG) and Y = D_hop X (odd sites):

    dS_f = -X^dag dA X = -2 Re Y^dag (dD_hop X).

Folding the staggered phases and the boundary phases into the links, W_mu(x) = eta_mu(x) e^{i theta} U_mu(x)
(Staggered.links.U), D_hop chi(x) = 1/2 sum_mu [W_mu(x) chi(x+mu) - W_mu(x-mu)^dag chi(x-mu)]. Moving one
link U_mu(x) -> exp(t Z) U_mu(x) (Z in su(N)) moves W_mu(x) the same way, and

    dS_f/dt = -Re tr(Z M_mu(x)),   M_mu(x) = W_mu(x) X(x+mu) Y(x)^dag + X(x) (W_mu(x) Y(x+mu))^dag.

Since Re tr(Z M) = tr(Z TA(M)) for traceless anti-hermitian Z, in the representation of
gaugenet.gauge.action.gauge_force (dS/dt = 2 tr(Z F), dPi/dt = F) the force is F = -TA(M) / 2.
"""
import numpy as np

from .._backend import to_host
from ..fields import StaggeredField
from ..gauge.group import dag, traceless_antihermitian
from ..operators.staggered import Staggered
from ..solvers.cg import cg

ANTIPERIODIC_T = (0.0, 0.0, 0.0, np.pi)


def staggered_force(D, X):
    """F (4, V, N, N) of S_f for the solution X = (D^dag D)_ee^{-1} phi_e (even sites) of operator D."""
    lat = D.lat
    N = D.N
    V = lat.local_volume
    Y = D.hop(X, sites=lat.sites_of_parity(1))
    x = np.asarray(to_host(X.data), dtype=np.complex128).reshape(V, N)
    y = np.asarray(to_host(Y.data), dtype=np.complex128).reshape(V, N)
    W = np.asarray(to_host(D.links.U), dtype=np.complex128)
    halo = lat.halo(1)
    F = np.empty((4, V, N, N), dtype=np.complex128)
    for mu in range(4):
        xf = halo.shift(x, mu, +1)                       # X(x + mu)
        yf = halo.shift(y, mu, +1)                       # Y(x + mu)
        Wx = np.einsum("sab,sb->sa", W[mu], xf)           # W_mu(x) X(x+mu)
        Wy = np.einsum("sab,sb->sa", W[mu], yf)           # W_mu(x) Y(x+mu)
        M = Wx[:, :, None] * np.conj(y)[:, None, :] + x[:, :, None] * np.conj(Wy)[:, None, :]
        F[mu] = -0.5 * traceless_antihermitian(M)
    return F


class StaggeredPseudofermion:
    """The even-site staggered pseudofermion at mass m on a gauge field.

    tol / maxiter: CG (relative residual) for the MD force; action_tol: CG for the action that enters the
    Metropolis test (default: tol / 100). A solve that does not converge raises NotConvergedError.

    chrono: start each MD force solve from the previous force solve's solution (chronological initial guess)
    instead of zero. The solution then depends on the path, not only on U, at the level of the CG tolerance,
    so the molecular dynamics is reversible only to about that tolerance: use it with a tight `tol` (the
    sampler resets the guess at the start of every trajectory, `reset_guess`, so that a trajectory depends only
    on its input field and random numbers). The Metropolis energies (`action`) always start from zero."""

    def __init__(self, mass, tol=1e-10, maxiter=2000, action_tol=None, boundary_phases=ANTIPERIODIC_T,
                 chrono=False):
        mass = float(mass)
        if not np.isfinite(mass) or mass <= 0:
            raise ValueError(f"staggered pseudofermion: mass must be positive and finite, got {mass}")
        if not (tol > 0) or not (maxiter >= 1):
            raise ValueError(f"staggered pseudofermion: need tol > 0 and maxiter >= 1, got {tol}, {maxiter}")
        self.mass = mass
        self.tol = float(tol)
        self.action_tol = float(action_tol) if action_tol is not None else self.tol / 100.0
        self.maxiter = int(maxiter)
        self.boundary_phases = tuple(boundary_phases)
        self.cg_iterations = 0            # accumulated over all solves (for cost accounting)
        self.solves = 0
        self.chrono = bool(chrono)
        self._guess = None                # the last MD force solution (even sites), with chrono

    def reset_guess(self):
        """Forget the chronological guess (the next force solve starts from zero)."""
        self._guess = None

    def operator(self, U):
        return Staggered(U, self.mass, boundary_phases=self.boundary_phases)

    def heatbath(self, U, seed, stream):
        """phi_e = (D^dag xi)_e with complex Gaussian xi on all sites (keyed by the global site)."""
        D = self.operator(U)
        xi = StaggeredField.random(U.lat, U.N, seed=seed, stream=stream)
        return D.project(D.adjoint(xi), 0)

    def solve(self, D, phi, tol, guess=False):
        """X = (D^dag D)_ee^{-1} phi_e: CG on the even half lattice (StaggeredParityField), X as a full field.
        guess: start from the stored chronological guess (if any) and store the solution as the next one."""
        x0 = self._guess if guess else None
        res = cg(D.DdagD_even, D.restrict(phi, 0), x0=x0, tol=tol, maxiter=self.maxiter)
        self.cg_iterations += res.iterations
        self.solves += 1
        if guess:
            self._guess = res.x
        return D.embed(res.x)

    def action(self, U, phi, D=None):
        """S_f = Re phi^dag X, X = (D^dag D)_ee^{-1} phi (to action_tol)."""
        D = self.operator(U) if D is None else D
        X = self.solve(D, phi, self.action_tol)
        return float(phi.inner(X).real)

    def force(self, U, phi, D=None, tol=None):
        """The MD force F (4, V, N, N) of S_f on U (module docstring)."""
        D = self.operator(U) if D is None else D
        X = self.solve(D, phi, self.tol if tol is None else tol, guess=self.chrono)
        return staggered_force(D, X)

    def action_and_force(self, U, phi, tol=None):
        """(S_f, F) from one solve (to `tol`, default action_tol)."""
        D = self.operator(U)
        X = self.solve(D, phi, self.action_tol if tol is None else tol)
        return float(phi.inner(X).real), staggered_force(D, X)
