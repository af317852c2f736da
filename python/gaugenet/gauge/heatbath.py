"""Quenched SU(N) updates for the Wilson gauge action: Cabibbo-Marinari heat bath + overrelaxation.

One sweep = one heat-bath pass over all links, then `or_steps` overrelaxation passes. A pass visits
(mu, parity) = (0, even), (0, odd), (1, even), ...: the links U_mu(x) of one direction on the sites of
one parity have staples built only from other links (x +- nu is of the other parity), so all of
them are updated at once, vectorised over the sites, with neighbours fetched by U.shift_links
(halo exchange when the lattice is distributed). Each link is multiplied from the left by
embedded SU(2) matrices, one per Cabibbo-Marinari subgroup (i, j) in turn.

Reproducibility: the random numbers of a link come from gaugenet.lattice.rng keyed by the seed,
a stream that encodes (sweep, mu, parity, subgroup, attempt) and the global site index, so the
chain is the same (to rounding) for any process grid, and a chain resumed at sweep s from the
configuration after s sweeps continues exactly as the uninterrupted one. Links are reunitarised
(projected onto SU(N)) after every `reunitarize_every`-th sweep, counted from sweep 0.
"""
import numpy as np

from .._backend import to_host
from . import su2
from .action import staples

_TAG = 0x4842 << 48            # "HB": keeps these streams apart from other users of the same seed
_RETRY_BITS = 16


def heatbath_stream(sweep, mu, parity, subgroup, attempt):
    """The rng stream of one heat-bath attempt (module docstring)."""
    if not 0 <= attempt < (1 << _RETRY_BITS):
        raise ValueError(f"heat-bath attempt {attempt} out of range")
    return _TAG + ((((int(sweep) * 4 + mu) * 2 + parity) * 8 + subgroup) << _RETRY_BITS) + attempt


def heatbath_links(links, staple, beta, seed, counters, stream_of, alpha_switch=2.0, max_retries=10000):
    """Cabibbo-Marinari heat bath of independent links: (n, N, N) links with fixed staples (n, N, N),
    the weight exp(beta/N Re tr(U A)). stream_of(subgroup, attempt) gives the rng stream; counters (n,)
    identify the links (the global site index on a lattice). Returns the new links (n, N, N)."""
    N = links.shape[-1]
    Unew = np.array(links, dtype=np.complex128)
    W = Unew @ np.asarray(staple, dtype=np.complex128)
    for g, (i, j) in enumerate(su2.subgroups(N)):
        v, k = su2.quaternion_part(W, i, j)
        r = su2.heatbath_element(v, k, float(beta) / N, seed, lambda a, g=g: stream_of(g, a), counters,
                                 alpha_switch, max_retries)
        su2.left_multiply(r, Unew, i, j)
        su2.left_multiply(r, W, i, j)     # W = U A with the same staple
    return Unew


def overrelax_links(links, staple):
    """One overrelaxation step per Cabibbo-Marinari subgroup of (n, N, N) links with fixed staples:
    Re tr(U A) (hence the action) is unchanged. Returns the new links."""
    N = links.shape[-1]
    Unew = np.array(links, dtype=np.complex128)
    W = Unew @ np.asarray(staple, dtype=np.complex128)
    for (i, j) in su2.subgroups(N):
        v, k = su2.quaternion_part(W, i, j)
        r = su2.overrelax_element(v)
        # where the subgroup block of U A vanishes every r leaves the action unchanged: keep the link
        r[k <= 0.0] = np.eye(2)
        su2.left_multiply(r, Unew, i, j)
        su2.left_multiply(r, W, i, j)
    return Unew


class QuenchedUpdater:
    """Heat bath + overrelaxation sweeps of a GaugeField (updated in place) for the Wilson action.

    beta: the coupling; seed: the rng seed of the chain; or_steps: overrelaxation passes per sweep;
    reunitarize_every: project the links onto SU(N) after every this-many sweeps (0: never)."""

    def __init__(self, beta, seed=0, or_steps=1, reunitarize_every=10, alpha_switch=2.0, max_retries=10000):
        if or_steps < 0:
            raise ValueError(f"or_steps must be >= 0, got {or_steps}")
        self.beta = float(beta)
        self.seed = int(seed)
        self.or_steps = int(or_steps)
        self.reunitarize_every = int(reunitarize_every)
        self.alpha_switch = float(alpha_switch)
        self.max_retries = int(max_retries)

    # -------------------------------------------------------------- helpers
    @staticmethod
    def _check(U):
        if U.on_device:
            raise ValueError("the heat bath updates host fields: call U.to_host() first")
        lat = U.lat
        if any(d % 2 for d in lat.dims):
            raise ValueError(f"checkerboard updates need even global extents, lattice is {lat.dims}")

    def _pass(self, U, fn):
        lat = U.lat
        L = U.sites()                                  # (4, V, N, N) view of U.data
        gidx = lat.global_index().astype(np.uint64)
        for mu in range(4):
            for parity in (0, 1):
                s = lat.sites_of_parity(parity)
                if s.size == 0:
                    continue
                A = to_host(staples(U, mu, sites=s, links=L))
                L[mu, s] = fn(L[mu, s], A, mu, parity, gidx[s]).astype(L.dtype, copy=False)

    # -------------------------------------------------------------- passes and sweeps
    def heatbath(self, U, sweep):
        """One heat-bath pass over all links, using the random numbers of sweep number `sweep`."""
        self._check(U)

        def fn(links, A, mu, parity, counters):
            return heatbath_links(links, A, self.beta, self.seed, counters,
                                  lambda g, a: heatbath_stream(sweep, mu, parity, g, a),
                                  self.alpha_switch, self.max_retries)
        self._pass(U, fn)
        return U

    def overrelax(self, U):
        """One overrelaxation pass over all links (deterministic; leaves the action unchanged)."""
        self._check(U)
        self._pass(U, lambda links, A, mu, parity, counters: overrelax_links(links, A))
        return U

    def sweep(self, U, sweep):
        """Sweep number `sweep` (0-based): heat bath, or_steps overrelaxation passes, and the periodic
        reunitarisation. Updates U in place and returns it."""
        self.heatbath(U, sweep)
        for _ in range(self.or_steps):
            self.overrelax(U)
        if self.reunitarize_every and (int(sweep) + 1) % self.reunitarize_every == 0:
            U.data[...] = U.reunitarize().data
        return U

    def run(self, U, start, count, callback=None):
        """Sweeps start, start + 1, ..., start + count - 1; callback(sweep, U) after each."""
        for s in range(int(start), int(start) + int(count)):
            self.sweep(U, s)
            if callback is not None:
                callback(s, U)
        return U
