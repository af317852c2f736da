"""Halo exchange of depth 1 or 2 with non-blocking point-to-point messages of packed faces.

Halo layout (per field, sites after the V local ones): for every direction mu split over
more than one rank, first the forward face (local coordinate x_mu = l_mu + j, j < depth),
then the backward face (x_mu = -1 - j); inside a face, layer j outermost, then the remaining
three coordinates in t, z, y, x order. Directions not split wrap around locally.
"""
import numpy as np

from .._backend import array_module, core, is_device, to_host

_FWD, _BWD = 0, 1


class Halo:
    """Neighbour tables, face index lists and message buffers for one lattice and depth."""

    def __init__(self, lat, depth):
        if depth not in (1, 2):
            raise ValueError(f"halo depth must be 1 or 2, got {depth}")
        need = depth if lat.coarse else 2 * depth  # CONVENTIONS.md: >= 4 on fine lattices for two-hop paths
        for mu in range(4):
            if lat.grid[mu] > 1 and lat.local_dims[mu] < need:
                raise ValueError(
                    f"local extent {lat.local_dims[mu]} in direction {'xyzt'[mu]} is too small for a halo of depth "
                    f"{depth} (need at least {need})")
        self.lat, self.depth = lat, depth
        self.V = lat.local_volume  # rows of the fields exchanged (half of it for lattice/checkerboard.py)
        self.messages_sent = 0
        self.bytes_sent = 0
        ld = lat.local_dims
        V = lat.local_volume
        coords = lat.local_coordinates()  # (V, 4) in x, y, z, t
        self.faces = []  # (mu, direction, offset into halo, size)
        off = 0
        self._face_off = {}
        for mu in range(4):
            if lat.grid[mu] == 1:
                continue
            area = V // ld[mu]
            for d in (_FWD, _BWD):
                self._face_off[(mu, d)] = off
                self.faces.append((mu, d, off, depth * area))
                off += depth * area
        self.Vh = off
        # neighbour table: hops 2 mu (+mu) and 2 mu + 1 (-mu), and for depth 2 the +-2 mu hops
        shifts = [(mu, s) for mu in range(4) for s in (+1, -1)]
        if depth == 2:
            shifts += [(mu, s) for mu in range(4) for s in (+2, -2)]
        nbr = np.empty((V, len(shifts)), dtype=np.int32)
        for k, (mu, s) in enumerate(shifts):
            nbr[:, k] = self._neighbour(coords, mu, s)
        self.nbr = np.ascontiguousarray(nbr[:, :8])  # one-hop table used by the stencils
        self.nbr_all = nbr
        self.shifts = shifts
        on_rank = np.all(self.nbr < V, axis=1)
        self.interior = np.ascontiguousarray(np.nonzero(on_rank)[0].astype(np.int32))
        self.boundary = np.ascontiguousarray(np.nonzero(~on_rank)[0].astype(np.int32))
        # what to send: my slices that become a neighbour's face
        self.send_idx = {}
        for (mu, d, foff, size) in self.faces:
            if d == _FWD:   # neighbour at -mu stores my slices x_mu = j in its forward face
                js = list(range(depth))
            else:           # neighbour at +mu stores my slices x_mu = l_mu - 1 - j in its backward face
                js = [ld[mu] - 1 - j for j in range(depth)]
            idx = []
            for x_mu in js:
                sel = np.nonzero(coords[:, mu] == x_mu)[0]  # already in t, z, y, x order
                idx.append(sel)
            self.send_idx[(mu, d)] = np.ascontiguousarray(np.concatenate(idx).astype(np.int32))
        self._bufs = {}
        self._dev_cache = {}

    def _neighbour(self, coords, mu, s):
        lat = self.lat
        ld = lat.local_dims
        V = lat.local_volume
        c = coords.copy()
        c[:, mu] += s
        out = np.empty(len(c), dtype=np.int64)
        if lat.grid[mu] == 1:
            c[:, mu] %= ld[mu]
            return lat.local_index(c)
        inside = (c[:, mu] >= 0) & (c[:, mu] < ld[mu])
        out[inside] = lat.local_index(c[inside])
        fwd = c[:, mu] >= ld[mu]
        bwd = c[:, mu] < 0
        perp = [nu for nu in (3, 2, 1, 0) if nu != mu]
        area = V // ld[mu]

        def perp_index(cc):
            ix = np.zeros(len(cc), dtype=np.int64)
            for nu in perp:
                ix = ix * ld[nu] + cc[:, nu]
            return ix

        j = c[fwd, mu] - ld[mu]
        out[fwd] = V + self._face_off[(mu, _FWD)] + j * area + perp_index(c[fwd])
        j = -c[bwd, mu] - 1
        out[bwd] = V + self._face_off[(mu, _BWD)] + j * area + perp_index(c[bwd])
        return out

    # ------------------------------------------------------------------ tables on the device
    def table(self, name, like):
        """A neighbour/site table as an array on the same device as `like`."""
        host = getattr(self, name)
        if not is_device(like):
            return host
        if name not in self._dev_cache:
            self._dev_cache[name] = array_module(like).asarray(host)
        return self._dev_cache[name]

    # ------------------------------------------------------------------ exchange
    def empty_halo(self, local):
        """A zeroed halo buffer for a field array `local` of shape (V, ...) ."""
        xp = array_module(local)
        return xp.zeros((self.Vh,) + tuple(local.shape[1:]), dtype=local.dtype)

    def start(self, local, halo=None, zero_boundary=None, packed=False):
        """Post the exchange of `local` (shape (V, ...), C-contiguous). Returns a handle for finish().
        In zero-boundary-link mode (default: the lattice's setting) nothing is sent and the halo is zero.
        packed=True: `local` is a field in the packed eight-site-block layout (operators/packed.py); the
        faces are sent, and the halo (then required) is filled, in the ordinary layout of `halo`."""
        lat = self.lat
        if packed and halo is None:
            raise ValueError("Halo.start(packed=True) needs the halo buffer (ordinary layout)")
        if zero_boundary is None:
            zero_boundary = lat.zero_boundary_links
        if halo is None:
            halo = self.empty_halo(local)
        handle = {"halo": halo, "reqs": [], "stage": []}
        if zero_boundary or self.Vh == 0:
            if zero_boundary:
                halo[...] = 0
            return handle
        xp = array_module(local)
        dev = is_device(local)
        site_shape, dtype = (tuple(halo.shape[1:]), halo.dtype) if packed else (tuple(local.shape[1:]), local.dtype)
        comm = lat.cart
        for (mu, d, foff, size) in self.faces:
            idx = self.table_send(mu, d, local)
            key = (mu, d, site_shape, dtype.str, dev)
            sbuf = self._bufs.get(key)
            if sbuf is None:
                sbuf = xp.empty((size,) + site_shape, dtype=dtype)
                self._bufs[key] = sbuf
            if packed:
                core.gather_packed8(local, idx, sbuf, self.V)
            else:
                core.gather(local, None, idx, sbuf, self.V, 0, 1)
            # forward face (d=FWD) comes from the +mu neighbour; I send my slices to -mu
            src = lat.neighbour_rank(mu, +1 if d == _FWD else -1)
            dst = lat.neighbour_rank(mu, -1 if d == _FWD else +1)
            tag = 100 + 2 * mu + d
            rview = halo[foff:foff + size]
            if dev:  # stage through host memory (no CUDA-aware MPI assumed)
                rhost = np.empty(rview.shape, dtype=local.dtype)
                handle["stage"].append((rview, rhost))
                handle["reqs"].append(comm.Irecv(rhost, source=src, tag=tag))
                handle["reqs"].append(comm.Isend(to_host(sbuf), dest=dst, tag=tag))
            else:
                handle["reqs"].append(comm.Irecv(rview, source=src, tag=tag))
                handle["reqs"].append(comm.Isend(sbuf, dest=dst, tag=tag))
            self.messages_sent += 1
            self.bytes_sent += sbuf.nbytes
        return handle

    def table_send(self, mu, d, like):
        if not is_device(like):
            return self.send_idx[(mu, d)]
        key = ("send", mu, d)
        if key not in self._dev_cache:
            self._dev_cache[key] = array_module(like).asarray(self.send_idx[(mu, d)])
        return self._dev_cache[key]

    def finish(self, handle):
        if handle["reqs"]:
            from mpi4py import MPI
            MPI.Request.Waitall(handle["reqs"])
            for rview, rhost in handle["stage"]:
                rview[...] = array_module(rview).asarray(rhost)
        return handle["halo"]

    def exchange(self, local, halo=None, zero_boundary=None):
        return self.finish(self.start(local, halo, zero_boundary))

    def shift(self, local, mu, sign, zero_boundary=False):
        """a(x + sign * mu) for a site-major array `local` of shape (V, ...) (a covariant-free cshift).
        By default the true neighbours are used even on a zero-boundary-link lattice."""
        k = 2 * mu + (0 if sign > 0 else 1)
        if abs(sign) == 2:
            k = 8 + 2 * mu + (0 if sign > 0 else 1)
        if k >= self.nbr_all.shape[1]:
            raise ValueError(f"shift by {sign} needs a halo of depth {abs(sign)}")
        local = array_module(local).ascontiguousarray(local)
        halo = self.exchange(local, zero_boundary=zero_boundary) if self.Vh else None
        out = array_module(local).empty_like(local)
        idx = self._shift_index(k, local)
        core.gather(local, halo, idx, out, self.lat.local_volume, self.Vh, 1)
        return out

    def _shift_index(self, k, like):
        key = ("shift", k)
        if key not in self._dev_cache:
            self._dev_cache[key] = np.ascontiguousarray(self.nbr_all[:, k])
        host = self._dev_cache[key]
        if not is_device(like):
            return host
        dkey = ("shift-dev", k)
        if dkey not in self._dev_cache:
            self._dev_cache[dkey] = array_module(like).asarray(host)
        return self._dev_cache[dkey]
