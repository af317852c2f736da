"""Stout smearing with plaquette and Polyakov-line terms, and its exact backward pass (seed 002).

One layer (shared/CONVENTIONS.md, "Stout smearing and gauge-covariant networks"):

    U'_mu(x) = exp(Q_mu(x)) U_mu(x),   Q = TA(Omega),   Omega_mu(x) = C_mu(x) U_mu(x)^dag,
    C_mu = rho_plaq C^plaq_mu + rho_poly(mu) C^poly_mu,   rho_poly(3) = rho_poly_t, rho_poly(0,1,2) = rho_poly_s.

C^plaq_mu(x) = sum_{nu != mu} [U_nu(x) U_mu(x+nu) U_nu(x+mu)^dag + U_nu(x-nu)^dag U_mu(x-nu) U_nu(x-nu+mu)]
(Morningstar-Peardon). It is the hermitian conjugate of the staple A_mu(x) of gaugenet.gauge.action.staples:
C^plaq = A^dag, so that C U^dag = (U A)^dag is the sum of the six plaquettes through the link, closed
at x and traversed against the link.

C^poly_mu(x) = [U_mu(x+mu) U_mu(x+2mu) ... U_mu(x+(L_mu-1)mu)]^dag, so C^poly U^dag = P_mu(x)^dag with
P_mu(x) = U_mu(x) U_mu(x+mu) ... U_mu(x+(L_mu-1)mu) the straight line that wraps the lattice from x.
On a process grid the line is formed with a sub-communicator along mu: every rank forms its local
prefix products pi(i) = U(o) ... U(o+i-1) of the line segment it holds, the segment products S_r are
all-gathered, and P(o+i) = pi(i)^dag (S_r S_(r+1) ... S_(r-1)) pi(i).

Forces. The input of the backward pass is the derivative of a scalar S with respect to the smeared links,
in the representation of gaugenet.gauge.action.gauge_force: an su(N)-valued field F' such that

    dS/dt = 2 sum_{x,mu} tr(X_mu(x) F'_mu(x))   for U'_mu(x) -> exp(t X_mu(x)) U'_mu(x), X in su(N),

i.e. F' = sum_a f^a (i T^a) with f^a = -dS/dx^a (gauge_force(U', beta) is F' for S = S_g[U']).
The output is F, the same object for the thin links (U -> exp(t X) U), and dS/drho for the three weights.

Chain rule. With dS = 2 Re tr(dU' Sigma'), Sigma' = U'^dag F', and dU' = d(exp Q) U + exp(Q) dU:
the exponential pulls M = exp(-Q) F' back to Gamma = TA(int_0^1 exp(-sQ) F' exp(sQ) ds) in su(N)
(gaugenet.gauge.expderiv.SUExp.pullback, Morningstar-Peardon's B1/B2 form; their Lambda is i Gamma), and
dQ = TA(dOmega), dOmega = dC U^dag + C dU^dag. For dU = X U this gives

    dS = 2 sum_{x,mu} [ tr(X exp(-Q) F' exp(Q)) - Re tr(X Gamma Omega) + Re tr(dC_mu U_mu^dag Gamma_mu) ],

    F_mu(x) = TA(exp(-Q) F' exp(Q) - Gamma Omega + U Sigma),      dS/drho_i = 2 Re sum tr(Omega^(i) Gamma),

where Sigma_nu(y) collects, for every C_mu(x) that contains the link U_nu(y), the derivative of
Re tr(rho C_mu(x) U_mu(x)^dag Gamma_mu(x)) written as Re tr(dU_nu(y) Sigma_nu(y)): six positions per
staple pair for the plaquette term, and every link of the line for the Polyakov term. The line term is
summed in linear time: with Zt(x) = -rho_poly Gamma_mu(x) and, on each segment, the sums of
pi Zt pi^dag transported to the segment start o,

    U Sigma(o+i) = pi(i)^dag [A(i) P0 + P0 B(i)] pi(i),

where P0 is the loop from o, A(i) the transported sum of Zt over the sites after o+i up to o+L-1
(the rest of this segment and the following ranks' segments, in order) and B(i) the sum over the
sites of this segment before o+i.

Implementation: the plaquette staples, Omega, the exponential, the pullback, Sigma and the force run on
the compiled link-network core (gaugenet.links: csrc/kernels/loops.h, matfield.h) over the depth-1 halo;
the Polyakov-line term (one line product per site and direction) stays in NumPy (gaugenet.links.lines).
gaugenet.links.reference keeps the former all-NumPy implementation for the tests.
"""
import numpy as np

from .._backend import to_host
from ..links.core import LinkField, exp_update, exp_update_backward
from ..links.lines import polyakov_backward, polyakov_forward
from .group import traceless_antihermitian


def _as_params(layer, layer_type):
    if isinstance(layer, layer_type):
        return layer
    vals = tuple(float(v) for v in layer)
    if len(vals) != 3:
        raise ValueError(f"a stout layer needs three weights (rho_plaq, rho_poly_t, rho_poly_s), got {layer!r}")
    return layer_type(*vals)


def _field_array(F, U):
    """A force given as a GaugeField-like object or array, as (4, V, N, N) complex128."""
    a = to_host(getattr(F, "data", F)).astype(np.complex128)
    N = U.N
    V = U.lat.local_volume
    if a.size != 4 * V * N * N:
        raise ValueError(f"force of shape {a.shape} does not match the gauge field (4 x {U.lat.local_shape} x {N}x{N})")
    return np.ascontiguousarray(a.reshape(4, V, N, N))


def _to_field(U, a):
    return U._new(U.xp.asarray(a.astype(U.data.dtype).reshape(U.data.shape)))


def _trace_real(a, b):
    """sum Re tr(a b) over a stack."""
    return float(np.sum(a * np.swapaxes(b, -1, -2)).real)


class StoutContext:
    """What one layer's forward pass keeps for its backward pass."""

    def __init__(self, U, field, omega_plaq, omega_poly, poly_aux, rho, omega, Q):
        self.U = U                    # the thin field (GaugeField)
        self.field = field            # links.core.LinkField: thin links (4, V, N, N) with their halo
        self.links = field.L
        self.omega_plaq = omega_plaq  # C^plaq U^dag (4, V, N, N)
        self.omega_poly = omega_poly  # C^poly U^dag = P^dag (4, V, N, N)
        self.poly_aux = poly_aux      # per direction: line data
        self.rho = rho                # (rho_plaq, rho_poly_t, rho_poly_s) used
        self.omega = omega            # the combined Omega
        self.Q = Q                    # TA(Omega)


class StoutLayer:
    """One stout step with trainable weights (rho_plaq, rho_poly_t, rho_poly_s) (module docstring)."""

    def __init__(self, rho_plaq=0.0, rho_poly_t=0.0, rho_poly_s=0.0):
        self.rho = np.array([rho_plaq, rho_poly_t, rho_poly_s], dtype=np.float64)

    def __repr__(self):
        return "StoutLayer(rho_plaq={}, rho_poly_t={}, rho_poly_s={})".format(*self.rho)

    def rho_poly(self, mu):
        return self.rho[1] if mu == 3 else self.rho[2]

    def __call__(self, U):
        return self.forward(U)[0]

    def forward(self, U):
        """(U', ctx): the smeared field and what `backward` needs."""
        if U.N not in (2, 3):
            raise ValueError(f"stout smearing needs SU(2) or SU(3), got N = {U.N}")
        lat = U.lat
        lf = LinkField(U)
        L = lf.L
        omega_plaq = lf.staple_sum("omega")
        omega_poly = np.empty_like(L)
        aux = []
        for mu in range(4):
            P, a = polyakov_forward(lat, L[mu], mu)
            np.conjugate(np.swapaxes(P, -1, -2), out=omega_poly[mu])
            aux.append(a)
        rho = self.rho.copy()
        omega = rho[0] * omega_plaq
        for mu in range(4):
            omega[mu] += self.rho_poly(mu) * omega_poly[mu]
        Up, Q = exp_update(L, omega)
        return _to_field(U, Up), StoutContext(U, lf, omega_plaq, omega_poly, aux, rho, omega, Q)

    def backward(self, ctx, force):
        """(F, dS/drho): the force on the thin links (GaugeField-shaped su(N) field, same representation
        as `force`, the force on the smeared links) and the derivative of S by (rho_plaq, rho_poly_t, rho_poly_s)."""
        U, L, rho = ctx.U, ctx.links, ctx.rho
        Fp = _field_array(force, U)
        F0, Gamma, Y = exp_update_backward(L, ctx.omega, ctx.Q, Fp, y_scale=rho[0])
        for mu in range(4):
            rp = rho[1] if mu == 3 else rho[2]
            if rp != 0.0:
                F0[mu] += polyakov_backward(ctx.poly_aux[mu], -rp * Gamma[mu])
        if Y is not None:
            F = ctx.field.staple_backprop(Y, base=F0, ta=True, out=F0)
        else:
            F = traceless_antihermitian(F0)
        g = np.array([
            2.0 * _trace_real(ctx.omega_plaq, Gamma),
            2.0 * _trace_real(ctx.omega_poly[3], Gamma[3]),
            2.0 * _trace_real(ctx.omega_poly[:3], Gamma[:3]),
        ])
        g = np.asarray(U.lat.allreduce(g), dtype=np.float64)
        return _to_field(U, F), g


class StoutNetwork:
    """Several stout layers applied in order (the seed-002 network: two layers, six weights).

    forward(U) returns the smeared field and keeps every layer's context (the intermediate fields are
    `fields`: [U, U^(1), ..., U^(n)]); backward(F') composes the layers' backward passes from the last
    to the first and returns (F on U, dS/drho as an (n_layers, 3) array)."""

    layer_type = None      # StoutLayer (set below); links/reference.py uses the NumPy layer

    def __init__(self, layers):
        self.layers = [_as_params(l, self.layer_type) for l in layers]
        if not self.layers:
            raise ValueError("StoutNetwork: needs at least one layer")
        self.contexts = None
        self.fields = None

    def __len__(self):
        return len(self.layers)

    @property
    def params(self):
        """The weights as a flat array (layer-major: rho_plaq, rho_poly_t, rho_poly_s of layer 1, ...)."""
        return np.concatenate([l.rho for l in self.layers]) if self.layers else np.zeros(0)

    @params.setter
    def params(self, values):
        v = np.asarray(values, dtype=np.float64).reshape(len(self.layers), 3)
        for l, row in zip(self.layers, v):
            l.rho = row.copy()

    def __call__(self, U):
        for l in self.layers:
            U = l(U)
        return U

    def forward(self, U):
        self.fields = [U]
        self.contexts = []
        for l in self.layers:
            U, ctx = l.forward(U)
            self.contexts.append(ctx)
            self.fields.append(U)
        return U

    def backward(self, force):
        if self.contexts is None:
            raise RuntimeError("StoutNetwork.backward: call forward(U) first")
        grads = np.zeros((len(self.layers), 3))
        F = force
        for k in range(len(self.layers) - 1, -1, -1):
            F, grads[k] = self.layers[k].backward(self.contexts[k], F)
        return F, grads


StoutNetwork.layer_type = StoutLayer


def stout_smear(U, rho_plaq, rho_poly_t=0.0, rho_poly_s=0.0, steps=1):
    """`steps` stout layers with the same weights applied to U (no backward data kept)."""
    layer = StoutLayer(rho_plaq, rho_poly_t, rho_poly_s)
    for _ in range(steps):
        U = layer(U)
    return U
