"""Path sets of a (L)PTC layer and parallel transport of raw field arrays along them.

A path p = (p_1, ..., p_n) acts as T_p = H_{p_n} ... H_{p_1} (shared/CONVENTIONS.md); the hop
(mu, +1) = Path().forward(mu) fetches from x + mu with U_mu(x), (mu, -1) fetches from x - mu with
U_mu(x - mu)^dag. One stencil slot k (gaugenet.stencil.onehop) is one such hop, slot 8 the site.

A layer's paths are grouped by their prefix q = p[:-1]: every path p = q + (h,) is "the hop h
applied to T_q phi", so a group is one OneHop call on T_q phi with the weights of all its paths in
their slots (the zero path is slot 8 of the group q = ()). When every path has at most one hop
there is one group and the whole layer is one OneHop call.
"""
import numpy as np

from ..stencil.onehop import SITE, OneHop, hop_index
from ..stencil.path import Path
from .._backend import array_module


def as_path(p):
    """A Path from a Path or a list of (mu, +-1) hops ([] is the zero path)."""
    if isinstance(p, Path):
        return p
    try:
        return Path(p)
    except (TypeError, IndexError) as exc:
        raise ValueError(f"a path is a Path or a list of (mu, +1|-1) hops, got {p!r}") from exc


def one_hop_paths():
    """The eight one-hop paths and the zero path in stencil-slot order (slot k = 2 mu: forward(mu),
    2 mu + 1: backward(mu), 8: zero path). With this order (L)PTC weights go to the kernel uncopied."""
    out = []
    for mu in range(4):
        out += [Path().forward(mu), Path().backward(mu)]
    return out + [Path()]


def inverse_hop(h):
    return (h[0], -h[1])


class PathSet:
    """Normalised, distinct paths with their prefix groups."""

    def __init__(self, paths):
        paths = [as_path(p) for p in paths]
        if not paths:
            raise ValueError("a (L)PTC layer needs at least one path")
        if len(set(paths)) != len(paths):
            dup = [p for p in paths if paths.count(p) > 1][0]
            raise ValueError(f"path {dup!r} is listed twice; give every path once")
        self.paths = paths
        self.keys = [tuple(p.hops) for p in paths]
        groups = {}
        for i, key in enumerate(self.keys):
            prefix, slot = (key[:-1], hop_index(*key[-1])) if key else ((), SITE)
            groups.setdefault(prefix, []).append((slot, i))
        # shortest prefixes first, so that transports build on cached shorter ones
        self.groups = sorted(groups.items(), key=lambda kv: (len(kv[0]), kv[0]))
        self.max_len = max(len(k) for k in self.keys)
        self.one_hop = self.max_len <= 1
        # weights can go to the kernel as they are: one group whose slots are 0, 1, ..., 8 in order
        self.slot_order = self.one_hop and [s for s, _ in self.groups[0][1]] == list(range(9))
        # single-hop applications per transported vector: distinct non-empty prefixes of the paths
        # (forward, adjoint) and of the inverse paths (transport of `left` for the PTC weight gradient)
        self.n_hops = len({k[:n] for k in self.keys for n in range(1, len(k) + 1)})
        inv = [tuple((mu, -s) for mu, s in reversed(k)) for k in self.keys]
        self.n_hops_inverse = len({k[:n] for k in inv for n in range(1, len(k) + 1)})

    def __len__(self):
        return len(self.paths)

    def __iter__(self):
        return iter(self.paths)


class Transporter:
    """Single hops of raw arrays (V, nvec * 4 * N) over StencilLinks, identity spin weights; all
    vectors of a batch (right-hand sides and features alike) travel in one kernel call."""

    def __init__(self, links, ns=4):
        self.hop = OneHop(links, ns=ns, nin=1, nout=1)
        self.lat = links.lat
        self._unit = {}

    def _weights(self, k, like):
        key = (k, array_module(like).__name__)
        w = self._unit.get(key)
        if w is None:
            eye = np.eye(self.hop.ns).reshape(self.hop.weight_shape)
            w = self.hop.prepare({k: eye}, like=like, hops=[k])
            self._unit[key] = w
        return w

    def nvec(self, arr):
        per = self.hop.ns * self.hop.N
        return arr.size // (self.lat.local_volume * per)

    def apply(self, arr, h, out=None, accumulate=False):
        """H_h arr for one hop h = (mu, +-1) (into out, optionally added to it)."""
        k = hop_index(*h)
        return self.hop.apply_array(arr, self._weights(k, arr), self.nvec(arr), out=out, accumulate=accumulate,
                                    hops=[k])

    def along(self, arr, keys, cache=None, scratch=None):
        """T_p arr for every hop tuple in `keys` (a list, same order), sharing common prefixes.
        The zero path returns `arr` itself (not a copy). scratch(name, like): an optional provider of
        reusable output arrays (the layer's buffers); without it every transport is a new array."""
        cache = {(): arr} if cache is None else cache

        def get(key):
            hit = cache.get(key)
            if hit is None:
                src = get(key[:-1])
                hit = self.apply(src, key[-1], out=scratch(("T",) + key, src) if scratch else None)
                cache[key] = hit
            return hit

        return [get(tuple(k)) for k in keys]

    def adjoint_sum(self, contributions, scratch=None):
        """sum_q T_q^dag c_q for a dict {hop tuple q: array c_q}, with T_q^dag = T_{q^-1} applied by
        Horner's scheme over the prefix tree: A_q = c_q + sum_{children q + (h,)} H_h^dag A_{q+(h,)},
        result A_(). Each tree edge costs one hop (the hops of all children of a node accumulate
        into one array). The arrays in `contributions` may be overwritten; the result is
        contributions[()] or a new array, never a scratch buffer."""
        acc = dict(contributions)
        nodes = set()
        for q in contributions:
            for n in range(1, len(q) + 1):
                nodes.add(tuple(q[:n]))
        for q in sorted(nodes, key=len, reverse=True):
            parent = q[:-1]
            src = acc[q]
            if parent in acc:
                self.apply(src, inverse_hop(q[-1]), out=acc[parent], accumulate=True)
            else:
                out = scratch(("A",) + parent, src) if (scratch and parent) else None
                acc[parent] = self.apply(src, inverse_hop(q[-1]), out=out)
        return acc[()]
