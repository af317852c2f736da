"""A one-hop PTC layer on fermions in the packed eight-site-block layout (gaugenet.operators.packed).

PackedPTC(layer) runs the forward and the backward of a gaugenet.ml.PTC layer with global weights whose
paths are all of at most one hop (e.g. one_hop_paths()) on PackedFermion, through the transpose-free
AVX-512 kernel (kernels/onehop_packed.h); the layer's weights are used as they are:

    P = PackedPTC(layer)
    x = P.pack(phi)                               # FermionField (batch nrhs * n_in) -> PackedFermion
    y = P(W, x)                                   # = P.pack(layer(W, phi))
    dW, dx = P.projected_gradient_adj(W, x, P.pack(left))
                                                  # = layer.projected_gradient_adj(W, phi, left), dphi packed
    P.projected_gradient_adj(W, x, lx, out=dx)    # the same into an existing PackedFermion

The backward is one sweep, as the layer's fused host path: the adjoint stencil (reversed slots, spin
matrices conjugate-transposed, features swapped) on left, each transported colour of left paired with
phi on the site for dW (summed over the lattice: one allreduce, identical on every rank). Without the
AVX-512 kernel the same calls run the ordinary kernels on unpacked copies.
"""
import numpy as np

from ..operators.packed import PackedOneHop
from .ptc import PTC, _reverse_slot


def _one_hop(layer):
    """A PTC layer whose paths are all of at most one hop (one group, no prefix)."""
    groups = layer.paths.groups
    return len(groups) == 1 and not groups[0][0]


def ptc_slot_weights(layer, weights):
    """The nine-slot weights (9, nout, nin, 4, 4) of a one-hop gaugenet.ml.PTC layer (global weights, all
    paths of at most one hop), for PackedOneHop(layer.links, layer.n_in, layer.n_out)."""
    if not _one_hop(layer) or getattr(layer, "per_site", False):
        raise ValueError("ptc_slot_weights: a PTC layer with global weights on one-hop paths only")
    W = np.asarray(layer.check(weights)[0]).astype(layer.lat.complex_dtype)
    Wk, _ = layer._slot_weights(W, layer.paths.groups[0][1])
    return np.ascontiguousarray(Wk)


class PackedPTC:
    """Forward and backward of a one-hop gaugenet.ml.PTC layer on PackedFermion (see the module docstring).
    share: a packed operator (PackedWilson, PackedOneHop) whose packed links are used when they are the
    layer's (no second copy). two_rows: the link storage, as for gaugenet.PackedWilson (default 'auto': the first
    two rows of SU(3) links, the third rebuilt in the kernel)."""

    def __init__(self, layer, share=None, two_rows="auto"):
        if not isinstance(layer, PTC):
            raise TypeError(f"PackedPTC: needs a gaugenet.ml.PTC layer, got {type(layer).__name__}")
        if not _one_hop(layer):
            raise ValueError("PackedPTC: the layer's paths must all be of at most one hop (one group, no prefix)")
        self.layer = layer
        self.slots = layer.paths.groups[0][1]  # (slot k, path index i)
        self.fwd = PackedOneHop(layer.links, layer.n_in, layer.n_out, share=share, two_rows=two_rows)
        self.adj = PackedOneHop(layer.links, layer.n_out, layer.n_in, share=self.fwd)  # the same packed links

    @staticmethod
    def applicable(layer):
        """Whether the packed kernel runs this layer: an AVX-512 build, a one-hop PTC layer with 1-4 features on
        host links, a local x extent that is a multiple of 8 (elsewhere PackedPTC falls back to the ordinary
        kernels on unpacked copies, no faster than the layer itself)."""
        from .._backend import core
        return (bool(core.packed_available()) and type(layer) is PTC and _one_hop(layer)
                and max(layer.n_in, layer.n_out) <= 4 and layer.lat.local_dims[0] % 8 == 0
                and not hasattr(layer.U.data, "__cuda_array_interface__"))

    def pack(self, phi):
        return self.fwd.pack(phi)

    def unpack(self, x):
        return self.fwd.unpack(x)

    def __call__(self, weights, x, out=None, add=None):
        """L(W, x) on a PackedFermion x (nrhs * n_in vectors); out: a PackedFermion to write into; add: a
        PackedFermion shaped like the result (it may be out) to which L(W, x) is added in the same pass."""
        return self.fwd(x, ptc_slot_weights(self.layer, weights), out=out, add=add)

    def projected_gradient_adj(self, weights, x, left, out=None):
        """[dC/dW, dC/dx] for C = Re <left, L(W, x)>, x and left PackedFermion; dC/dW of the layer's weight
        shape (P, n_out, n_in, 4, 4), summed over the lattice; dC/dx = L^dag left, a PackedFermion (written
        into out, a PackedFermion shaped like x, when given: no allocation per call)."""
        lay = self.layer
        W = np.asarray(lay.check(weights)[0])
        if left.nvec * lay.n_in != x.nvec * lay.n_out:
            raise ValueError(f"PackedPTC: left holds {left.nvec} vectors, x {x.nvec}: they must be the same "
                             f"right-hand sides of n_out={lay.n_out} and n_in={lay.n_in} features")
        Wadj, hops = lay._adjoint_slot_weights(W.astype(lay.lat.complex_dtype, copy=False), self.slots, None)
        Gs = np.zeros((9, lay.n_out, lay.n_in, 4, 4), dtype=np.complex128)
        dx = self.adj.apply_grad(left, Wadj, x, Gs, out=out, slots=hops)
        G = np.empty((lay.n_paths, lay.n_out, lay.n_in, 4, 4), dtype=np.complex128)
        for k, i in self.slots:
            G[i] = Gs[_reverse_slot(k)]
        G = np.asarray(lay.lat.allreduce(G)).astype(W.dtype, copy=False)
        return [G, dx]


class PackedSequential:
    """The forward of a gaugenet.ml.Sequential of one-hop PTC layers (1-4 features each) on the packed layout:
    the input packed once, the layers through PackedPTC on one packed copy of the links, the output unpacked
    (shaped as Sequential's). Inference only (e.g. the seed-000 PTC smoother inside a preconditioner); the
    same results to rounding. applicable() says when it can be used."""

    def __init__(self, seq):
        if not self.applicable(seq):
            raise ValueError("PackedSequential: needs one-hop PTC layers with 1-4 features on host fields, a local x "
                             "extent that is a multiple of 8 and the AVX-512 kernels")
        self.seq = seq
        self.layers = []
        for lay in seq.layers:
            self.layers.append(PackedPTC(lay, share=self.layers[0].fwd if self.layers else None))

    @staticmethod
    def applicable(seq):
        from .layer import Sequential
        return isinstance(seq, Sequential) and all(PackedPTC.applicable(lay) for lay in seq.layers)

    def __call__(self, weights, phi):
        x = self.layers[0].pack(phi)
        batched = phi.batched
        for p, w in zip(self.layers, self.seq._split(weights)):
            x = p(w, x)
            batched = x.nvec > 1 or (batched and p.layer.n_in == 1)  # the rule of PTC's output fields
        out = self.layers[-1].unpack(x)
        lat = out.lat
        shape = lat.local_shape + ((x.nvec,) if batched else ()) + (4, out.N)
        return out._new(out.data.reshape(shape))
