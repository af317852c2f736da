"""Straight lines of links that wrap the lattice (Polyakov lines from every site), distributed along
their direction, and the linear-time backprop through them (the stout layer's C^poly term; see
gaugenet.gauge.stout and docs/stout.md). NumPy on the host: one line product per site and direction,
O(V N^3) per direction, against O(V N^3 x 36) for the staples; the compiled core does the rest.

On a process grid the line is formed with a sub-communicator along mu: every rank forms its local
prefix products pi(i) = U(o) ... U(o+i-1) of the segment it holds, the segment products S_r are
all-gathered, and P(o+i) = pi(i)^dag (S_r S_(r+1) ... S_(r-1)) pi(i).
"""
import numpy as np

from ..gauge.group import dag


class Line:
    """Arrays of one direction mu arranged as (l, Vt, N, N): l = local extent along mu, Vt = the
    other three local extents (C order of the remaining axes)."""

    def __init__(self, lat, mu):
        self.lat = lat
        self.mu = mu
        self.axis = 3 - mu                                  # axis of mu in (t, z, y, x)
        self.shape = lat.local_shape
        self.l = self.shape[self.axis]
        self.nranks = lat.grid[mu]
        self.r = lat.mpi_coords[mu]

    def to_line(self, a):
        N = a.shape[-1]
        b = np.moveaxis(a.reshape(self.shape + (N, N)), self.axis, 0)
        return np.ascontiguousarray(b).reshape(self.l, -1, N, N)

    def from_line(self, b):
        N = b.shape[-1]
        rest = tuple(s for k, s in enumerate(self.shape) if k != self.axis)
        a = np.moveaxis(b.reshape((self.l,) + rest + (N, N)), 0, self.axis)
        return np.ascontiguousarray(a).reshape(-1, N, N)

    def allgather(self, a):
        """(nranks, ...) stack of `a` from the ranks along mu, in coordinate order (a itself on one rank)."""
        if self.nranks == 1:
            return a[None]
        from mpi4py import MPI
        sub = self.lat.cart.Sub([d == self.mu for d in range(4)])
        try:
            if sub.Get_rank() != self.r:
                raise RuntimeError("stout: the sub-communicator along a direction is not in coordinate order")
            out = np.empty((self.nranks,) + a.shape, dtype=a.dtype)
            sub.Allgather([np.ascontiguousarray(a), MPI.C_DOUBLE_COMPLEX], [out, MPI.C_DOUBLE_COMPLEX])
        finally:
            sub.Free()
        return out


def polyakov_forward(lat, links_mu, mu):
    """P_mu(x) (the full line from x) for the local sites, and the data for the backward pass."""
    ln = Line(lat, mu)
    u = ln.to_line(links_mu)
    l, Vt, N = u.shape[0], u.shape[1], u.shape[-1]
    pi = np.empty((l + 1, Vt, N, N), dtype=np.complex128)
    pi[0] = np.eye(N)
    for i in range(l):
        pi[i + 1] = pi[i] @ u[i]
    segs = ln.allgather(pi[l])
    P0 = segs[ln.r].copy()                                   # the loop from the first site of this segment
    for k in range(1, ln.nranks):
        P0 = P0 @ segs[(ln.r + k) % ln.nranks]
    pi = pi[:l]
    P = dag(pi) @ P0[None] @ pi
    return ln.from_line(P), (ln, pi, segs, P0)


def polyakov_backward(aux, Zt):
    """U Sigma for the links of the lines, Sigma_(y) = d/dU(y) of sum_x Re tr(W(x) Zt(x) U(x)),
    W(x) = U(x+mu) ... U(x+(L-1)mu), given Zt(x) (= Z(x) U(x)^dag) on the local sites (V, N, N)."""
    ln, pi, segs, P0 = aux
    z = ln.to_line(Zt)
    zhat = pi @ z @ dag(pi)                                   # transported to the segment start
    cs = np.cumsum(zhat, axis=0)
    total = cs[-1]
    before = cs - zhat                                        # sum over j < i
    after = total[None] - cs                                  # sum over j > i (this segment)
    if ln.nranks > 1:
        totals = ln.allgather(total)
        K = None
        other = np.zeros_like(total)
        for k in range(1, ln.nranks):
            K = segs[ln.r] if K is None else K @ segs[(ln.r + k - 1) % ln.nranks]
            other += K @ totals[(ln.r + k) % ln.nranks] @ dag(K)
        after = after + other[None]
    USig = dag(pi) @ (after @ P0[None] + P0[None] @ before) @ pi
    return ln.from_line(USig)
