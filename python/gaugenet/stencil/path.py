"""Paths of signed hops and parallel transport along them (seed 000, eqs. 2-3; shared/CONVENTIONS.md).

A path p = (p_1, ..., p_n) acts as T_p = H_{p_n} ... H_{p_1}: p_1 is applied first. In code a hop is
`forward(mu)` (fetch from x + mu with U_mu(x): the operator H_{-mu}, GPT `path().f(mu)`) or
`backward(mu)` (fetch from x - mu with U_mu(x - mu)^dag: H_{+mu}, GPT `path().b(mu)`), written as
(mu, +1) and (mu, -1). The inverse path gives T_p^dag.
"""
import numpy as np

from .onehop import OneHop, hop_index


class Path:
    """A sequence of signed hops, built like GPT's g.path(): Path().forward(0).backward(1, 2)."""

    def __init__(self, hops=()):
        self.hops = []
        for h in hops:
            mu, sign = int(h[0]), int(h[1])
            if mu not in (0, 1, 2, 3) or sign not in (1, -1):
                raise ValueError(f"a hop is (mu, +1|-1) with mu in 0..3, got {h}")
            self.hops.append((mu, sign))

    def forward(self, mu, n=1):
        """n hops that fetch from x + mu (the operator H_{-mu})."""
        return Path(self.hops + [(mu, +1)] * n)

    f = forward

    def backward(self, mu, n=1):
        """n hops that fetch from x - mu (the operator H_{+mu})."""
        return Path(self.hops + [(mu, -1)] * n)

    b = backward

    def inverse(self):
        """The reversed path: T_{p^-1} = T_p^dag."""
        return Path([(mu, -s) for mu, s in reversed(self.hops)])

    def displacement(self):
        """Where the transported value comes from, relative to x (x, y, z, t)."""
        d = np.zeros(4, dtype=int)
        for mu, s in self.hops:
            d[mu] += s
        return tuple(int(v) for v in d)

    def __len__(self):
        return len(self.hops)

    def __iter__(self):
        return iter(self.hops)

    def __eq__(self, other):
        return isinstance(other, Path) and self.hops == other.hops

    def __hash__(self):
        return hash(tuple(self.hops))

    def __repr__(self):
        return "Path()" + "".join(f".{'forward' if s > 0 else 'backward'}({mu})" for mu, s in self.hops)


class Transport:
    """T_p on fields of one kind (ns = 4: Wilson fermions, ns = 1: colour vectors) over StencilLinks.
    Each hop is one application of the generic one-hop kernel (halo exchange overlapped)."""

    def __init__(self, links, ns=4):
        self.hop = OneHop(links, ns=ns)
        eye = np.eye(ns) if ns == 4 else np.ones(())
        self._w = {}
        for mu in range(4):
            for s in (+1, -1):
                k = hop_index(mu, s)
                self._w[k] = self.hop.prepare({k: eye.reshape(self.hop.weight_shape)}, hops=[k])

    def __call__(self, field, path):
        out = field
        for mu, s in Path(path) if not isinstance(path, Path) else path:
            out = self.hop(out, self._w[hop_index(mu, s)])
        return out if len(path) else field.copy()
