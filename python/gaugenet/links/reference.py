"""The stout layer in NumPy, as it was before the compiled link core: the reference the tests compare the compiled
path against (tests/test_links.py, tests/test_stout.py). Not for production. The maths, conventions and the
chain rule are those of gauge/stout.py's docstring (plaquette staples C_mu = A_mu^dag, Polyakov lines on a
sub-communicator along mu, the exponential's pullback, Sigma collecting the staple derivatives); this module
evaluates them with NumPy products of shifted link arrays and gauge.expderiv.SUExp instead of the kernels."""
import numpy as np

from .._backend import to_host
from ..gauge.expderiv import SUExp
from ..gauge.group import dag, traceless_antihermitian
from ..gauge.stout import StoutLayer as _CompiledStoutLayer, StoutNetwork as _CompiledStoutNetwork
from .lines import polyakov_backward as _polyakov_backward, polyakov_forward as _polyakov_forward


def _site_links(U):
    """The local links as a (4, V, N, N) complex128 host array."""
    return np.ascontiguousarray(to_host(U.sites()).astype(np.complex128))


def _field_array(F, U):
    """A force given as a GaugeField-like object or array, as (4, V, N, N) complex128."""
    a = to_host(getattr(F, "data", F)).astype(np.complex128)
    N = U.N
    V = U.lat.local_volume
    if a.size != 4 * V * N * N:
        raise ValueError(f"force of shape {a.shape} does not match the gauge field (4 x {U.lat.local_shape} x {N}x{N})")
    return a.reshape(4, V, N, N)


def _to_field(U, a):
    return U._new(U.xp.asarray(a.astype(U.data.dtype).reshape(U.data.shape)))


def _trace_real(a, b):
    """sum Re tr(a b) over a stack."""
    return float(np.sum(a * np.swapaxes(b, -1, -2)).real)


# ---------------------------------------------------------------------------------------------------
# plaquette staples
# ---------------------------------------------------------------------------------------------------

def _forward_links(U, L):
    """fw[mu][nu] = U_nu(x + mu) for mu != nu."""
    return {mu: {nu: U.shift_links(L[nu], mu, +1) for nu in range(4) if nu != mu} for mu in range(4)}


def _plaq_staples(U, L, fw, mu, keep):
    """C^plaq_mu(x) = sum_nu [U_nu(x) U_mu(x+nu) U_nu(x+mu)^dag + U_nu(x-nu)^dag U_mu(x-nu) U_nu(x-nu+mu)].
    keep[(mu, nu)] receives the partial products U_mu(x+nu) U_nu(x+mu)^dag and U_mu(x) U_nu(x+mu)."""
    out = None
    for nu in range(4):
        if nu == mu:
            continue
        vup = fw[nu][mu] @ dag(fw[mu][nu])
        r = L[mu] @ fw[mu][nu]
        keep[(mu, nu)] = (vup, r)
        term = L[nu] @ vup + U.shift_links(dag(L[nu]) @ r, nu, -1)
        out = term if out is None else out + term
    return out


def _plaq_sigma(U, L, fw, keep, Y):
    """Sigma (4, V, N, N) with sum_{x,mu} Re tr(dC^plaq_mu(x) Y_mu(x)) = sum_{y,nu} Re tr(dU_nu(y) Sigma_nu(y))."""
    Sig = np.zeros_like(L)
    for mu in range(4):
        Ymu, Umu = Y[mu], L[mu]
        for nu in range(4):
            if nu == mu:
                continue
            Unu = L[nu]
            vup, r = keep[(mu, nu)]        # U_mu(x+nu) U_nu(x+mu)^dag,  U_mu(x) U_nu(x+mu)
            # upper staple U_nu(x) U_mu(x+nu) U_nu(x+mu)^dag, paired with Y_mu(x)
            t = Ymu @ Unu
            Sig[nu] += vup @ Ymu                                               # link U_nu(x)
            Sig[mu] += U.shift_links(dag(fw[mu][nu]) @ t, nu, -1)              # link U_mu(x+nu)
            at_xmu = dag(t @ fw[nu][mu])                                       # link U_nu(x+mu)
            # lower staple at z = x - nu: U_nu(z)^dag U_mu(z) U_nu(z+mu), paired with Y_mu(z+nu)
            Yn = U.shift_links(Ymu, nu, +1)
            t2 = Yn @ dag(Unu)
            Sig[nu] += dag(r @ Yn)                                             # link U_nu(z)
            Sig[mu] += fw[mu][nu] @ t2                                         # link U_mu(z)
            at_xmu += t2 @ Umu                                                 # link U_nu(z+mu)
            Sig[nu] += U.shift_links(at_xmu, mu, -1)
    return Sig


# ---------------------------------------------------------------------------------------------------
# layers
# ---------------------------------------------------------------------------------------------------

class StoutContext:
    """What one layer's forward pass keeps for its backward pass."""

    def __init__(self, U, links, fw, keep, omega_plaq, omega_poly, poly_aux, rho, exps):
        self.U = U                    # the thin field (GaugeField)
        self.links = links            # (4, V, N, N) thin links
        self.fw = fw                  # shifted links U_nu(x + mu)
        self.keep = keep              # partial staple products per (mu, nu)
        self.omega_plaq = omega_plaq  # C^plaq U^dag (4, V, N, N)
        self.omega_poly = omega_poly  # C^poly U^dag = P^dag (4, V, N, N)
        self.poly_aux = poly_aux      # per direction: line data
        self.rho = rho                # (rho_plaq, rho_poly_t, rho_poly_s) used
        self.exps = exps              # SUExp of Q (4, V, N, N)


class StoutLayer(_CompiledStoutLayer):
    """gauge.stout.StoutLayer (weights, call, repr) with the NumPy forward and backward passes."""

    def forward(self, U):
        """(U', ctx): the smeared field and what `backward` needs."""
        if U.N not in (2, 3):
            raise ValueError(f"stout smearing needs SU(2) or SU(3), got N = {U.N}")
        lat = U.lat
        L = _site_links(U)
        fw = _forward_links(U, L)
        omega_plaq = np.empty_like(L)
        omega_poly = np.empty_like(L)
        aux = []
        keep = {}
        for mu in range(4):
            omega_plaq[mu] = _plaq_staples(U, L, fw, mu, keep) @ dag(L[mu])
            P, a = _polyakov_forward(lat, L[mu], mu)
            omega_poly[mu] = dag(P)
            aux.append(a)
        rho = self.rho.copy()
        omega = rho[0] * omega_plaq
        for mu in range(4):
            omega[mu] += self.rho_poly(mu) * omega_poly[mu]
        exps = SUExp(traceless_antihermitian(omega))
        out = _to_field(U, exps.exp @ L)
        return out, StoutContext(U, L, fw, keep, omega_plaq, omega_poly, aux, rho, exps)

    def backward(self, ctx, force):
        """(F, dS/drho): the force on the thin links (GaugeField-shaped su(N) field, same representation
        as `force`, the force on the smeared links) and the derivative of S by (rho_plaq, rho_poly_t, rho_poly_s)."""
        U, L, e = ctx.U, ctx.links, ctx.exps
        rho = ctx.rho
        Fp = _field_array(force, U)
        eQ = e.exp
        emQ = dag(eQ)
        Gamma = e.pullback(emQ @ Fp)                                   # (4, V, N, N) in su(N)
        omega = rho[0] * ctx.omega_plaq
        for mu in range(4):
            omega[mu] += (rho[1] if mu == 3 else rho[2]) * ctx.omega_poly[mu]
        F = emQ @ Fp @ eQ - Gamma @ omega
        if rho[0] != 0.0:
            Y = rho[0] * (dag(L) @ Gamma)
            F += L @ _plaq_sigma(U, L, ctx.fw, ctx.keep, Y)
        for mu in range(4):
            rp = rho[1] if mu == 3 else rho[2]
            if rp != 0.0:
                F[mu] += _polyakov_backward(ctx.poly_aux[mu], -rp * Gamma[mu])
        F = traceless_antihermitian(F)
        g = np.array([
            2.0 * _trace_real(ctx.omega_plaq, Gamma),
            2.0 * _trace_real(ctx.omega_poly[3], Gamma[3]),
            2.0 * _trace_real(ctx.omega_poly[:3], Gamma[:3]),
        ])
        g = np.asarray(U.lat.allreduce(g), dtype=np.float64)
        return _to_field(U, F), g


class StoutNetwork(_CompiledStoutNetwork):
    """gauge.stout.StoutNetwork composed of the NumPy reference layers."""

    layer_type = StoutLayer


def stout_smear(U, rho_plaq, rho_poly_t=0.0, rho_poly_s=0.0, steps=1):
    """`steps` stout layers with the same weights applied to U (no backward data kept)."""
    layer = StoutLayer(rho_plaq, rho_poly_t, rho_poly_s)
    for _ in range(steps):
        U = layer(U)
    return U
