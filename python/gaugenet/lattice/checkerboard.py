"""Half-lattice (checkerboard) index spaces for the even-odd operators.

A field on the local sites of parity p is an array whose row i is the i-th site of parity p in the
local lexicographic order (lat.sites_of_parity(p); fields/parity.py). A one-hop stencil that writes
the sites of parity p reads its neighbours, all of parity q = 1 - p, from such a field of parity q:
`Checkerboard.halo(q)` is the Halo of that input (a `Halo` whose tables are in half-lattice indices):

  nbr       (Vp, 8) int32: for output row i and hop k (2 mu: +mu, 2 mu + 1: -mu) the neighbour's row
            in the parity-q field, or Vp + j for entry j of the half halo;
  faces     the entries of the full depth-1 halo (lattice/halo.py) that hold parity-q sites, in the same
            order, face by face: the same messages as a full field's exchange, half the size;
  send_idx  the rows of the parity-q field that become a neighbour's face;
  interior / boundary   the outputs with all neighbours on the rank / with one in the halo.

Checkerboarding needs even global extents (so that every neighbour of a site has the other parity,
also across the periodic boundary) and therefore an even local volume, Vp = V / 2 sites per parity.
"""
import numpy as np

from .halo import Halo


class _ParityHalo(Halo):
    """The halo of a field on the sites of one parity (built from the full lattice's depth-1 Halo)."""

    def __init__(self, full, keep, send_idx, nbr):  # noqa: super().__init__ not called: all derived from `full`
        self.lat, self.depth = full.lat, 1
        self.V = full.lat.local_volume // 2
        self.messages_sent = 0
        self.bytes_sent = 0
        self.faces, off = [], 0
        for (mu, d, foff, size) in full.faces:
            n = int(np.count_nonzero(keep[foff:foff + size]))
            self.faces.append((mu, d, off, n))
            off += n
        self.Vh = off
        self.send_idx = send_idx
        self.nbr = nbr
        on_rank = np.all(nbr < self.V, axis=1)
        self.interior = np.ascontiguousarray(np.nonzero(on_rank)[0].astype(np.int32))
        self.boundary = np.ascontiguousarray(np.nonzero(~on_rank)[0].astype(np.int32))
        self._bufs = {}
        self._dev_cache = {}


class Checkerboard:
    """The two half lattices of a Lattice: sites, half-index tables and halos (lat.checkerboard())."""

    def __init__(self, lat):
        odd = [("xyzt"[mu], lat.dims[mu]) for mu in range(4) if lat.dims[mu] % 2]
        if odd:
            raise ValueError("even-odd decomposition needs even global extents; odd: "
                             + ", ".join(f"{n} = {L}" for n, L in odd))
        V = lat.local_volume
        self.lat = lat
        self.sites = (lat.sites_of_parity(0), lat.sites_of_parity(1))
        self.Vp = V // 2
        assert len(self.sites[0]) == len(self.sites[1]) == self.Vp
        par = lat.parity()
        row = np.empty(V, dtype=np.int64)  # a site's row in the field of its parity
        for p in (0, 1):
            row[self.sites[p]] = np.arange(self.Vp)
        full = lat.halo(1)
        nbr = full.nbr
        # the parity of each full-halo entry (the site it holds neighbours a local site of the other parity)
        hpar = np.full(full.Vh, -1, dtype=np.int8)
        for k in range(8):
            m = nbr[:, k] >= V
            hpar[nbr[m, k] - V] = 1 - par[m]
        assert not np.any(hpar < 0), "every depth-1 halo entry neighbours a local site"
        self.halo_parity = hpar
        hrow = np.empty(full.Vh, dtype=np.int64)  # an entry's position in the half halo of its parity
        for q in (0, 1):
            hrow[hpar == q] = np.arange(np.count_nonzero(hpar == q))
        self._halos = []
        for q in (0, 1):
            nb = nbr[self.sites[1 - q]].astype(np.int64)
            local = nb < V
            assert np.all(par[nb[local]] == q), "neighbours of parity-p sites have parity 1 - p"
            table = np.empty_like(nb)
            table[local] = row[nb[local]]
            table[~local] = self.Vp + hrow[nb[~local] - V]
            send = {key: np.ascontiguousarray(row[idx[par[idx] == q]].astype(np.int32))
                    for key, idx in full.send_idx.items()}
            self._halos.append(_ParityHalo(full, hpar == q, send, np.ascontiguousarray(table.astype(np.int32))))

    def halo(self, q):
        """The Halo of a field of parity q (its tables: the outputs of parity 1 - q that read it)."""
        return self._halos[q]
