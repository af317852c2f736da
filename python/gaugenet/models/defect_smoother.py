"""A smoother built from the fine operator itself and learned high-mode layers: r defect-correction
steps, each with its own trained PTC layer (the cheaper alternative to the 2r-layer PTC smoother of
seed 000, Sec. VI A):

    (u_0, b) -> u_r,    u_k = u_{k-1} + L_k(W_k, b - D u_{k-1}),   L_k a PTC layer 1 -> 1

Initialised with every W_k = the trained high-mode weights, it is exactly r steps of the defect
correction that the PTC smoother is trained to imitate (eq. 36), but with the full operator D
(clover term included) at the cost of one D and one 1 -> 1 layer per step instead of two 2 -> 2
layers. The weights are then trained with the whole multigrid model (eq. 37).

Backprop, for C = Re <left, u_r>: with g_r = left and, for k = r ... 1,
    [dC/dW_k, e_k] = L_k.projected_gradient_adj(W_k, b - D u_{k-1}, g_k)    (e_k = L_k^dag g_k)
    g_{k-1} = g_k - D^dag e_k,   dC/db = sum_k e_k,   dC/du_0 = g_0.
"""
from ..ml.layer import Layer
from .features import join_features, split_features


class DefectSmoother(Layer):
    """(u, b) (two features, gaugenet.models.features) -> u after len(layers) defect-correction steps
    with the operator D; layers: PTC layers 1 -> 1 on D's gauge field."""
    n_in, n_out = 2, 1

    def __init__(self, D, layers):
        if not layers or any(l.n_in != 1 or l.n_out != 1 or l.n_weights != 1 for l in layers):
            raise ValueError("DefectSmoother: give at least one layer, each mapping one feature to one with one "
                             "weight array (a PTC or LPTC layer)")
        self.D = D
        self.layers = list(layers)

    @property
    def weight_shapes(self):
        return [s for l in self.layers for s in l.weight_shapes]

    def weights(self, seed=0, scale=1.0):
        return [w for i, l in enumerate(self.layers) for w in l.weights(seed + i, scale)]

    def on_gauge_field(self, U, cast_layer):
        """The same smoother on another copy of the gauge field (e.g. cast to single precision): D rebuilt
        with the same parameters, each layer through cast_layer(layer, U)."""
        D = self.D
        kw = dict(mass=D.mass, boundary_phases=D.links.boundary_phases, zero_boundary_links=D.links.zero_boundary)
        if hasattr(D, "csw"):
            kw["csw"] = D.csw
        return DefectSmoother(type(D)(U, **kw), [cast_layer(l, U) for l in self.layers])

    def _states(self, weights, phi):
        """The residuals r_k = b - D u_{k-1} and the output u_r."""
        weights = self.check(weights)
        u, b = split_features(phi, 2)
        res = []
        for l, w in zip(self.layers, weights):
            r = b - self.D(u)
            res.append(r)
            u = u + l([w], r)
        return res, u, b

    def __call__(self, weights, phi):
        return self._states(weights, phi)[1]

    def projected_gradient_adj(self, weights, phi, left):
        weights = self.check(weights)
        res, _, b = self._states(weights, phi)
        g, db, dW = left, None, [None] * len(self.layers)
        for k in range(len(self.layers) - 1, -1, -1):
            dw, e = self.layers[k].projected_gradient_adj([weights[k]], res[k], g)
            dW[k] = dw
            g = g - self.D.adjoint(e)
            db = e if db is None else db + e
        return dW + [join_features([g, db])]


class PackedDefectSmoother:
    """The forward of a DefectSmoother on the packed eight-site-block layout (gaugenet.operators.packed): D
    through PackedWilson and the 1 -> 1 PTC layers through gaugenet.ml.PackedPTC (one packed copy of the
    links for all of them; two_rows as for PackedWilson), u and b packed once per call and u unpacked at the
    end. Inference only (the multigrid preconditioner inside FGMRES, models.multigrid.preconditioner);
    training uses the DefectSmoother itself. Same results to rounding; applicable() says when it can be used."""

    def __init__(self, smoother, two_rows="auto"):
        from ..ml.ptc_packed import PackedPTC
        from ..operators.packed import PackedWilson
        if not self.applicable(smoother):
            raise ValueError("PackedDefectSmoother: needs host fields, local x extent % 8 == 0, the AVX-512 "
                             "kernels, and one-hop PTC layers with global weights")
        self.smoother = smoother
        self.D = PackedWilson(smoother.D, two_rows=two_rows)
        self.layers = [PackedPTC(l, share=self.D, two_rows=two_rows) for l in smoother.layers]

    @staticmethod
    def applicable(smoother):
        from ..ml.ptc_packed import PackedPTC
        from ..operators import Wilson
        # the layers live on D's gauge field: their test covers the build, the lattice and the host arrays
        return (isinstance(smoother, DefectSmoother) and isinstance(smoother.D, Wilson)  # Wilson or WilsonClover
                and all(PackedPTC.applicable(l) for l in smoother.layers))

    def __call__(self, weights, phi):
        u, b = split_features(phi, 2)
        return self.D.unpack(self.run(weights, self.D.pack(u), self.D.pack(b)))

    def run(self, weights, pu, pb):
        """u_r from packed u_0 and b (PackedFermion in the smoother's precision), packed; pu is updated in place
        (and returned). Each step is two kernel passes: r = b - D u (the residual formed in the operator's
        pass) into a work vector kept between calls, and u += L_k(r) (the layer adding into u): no allocation
        per step, no separate vector updates."""
        weights = self.smoother.check(weights)
        key = (pu.data.shape, pu.data.dtype)
        if getattr(self, "_work_key", None) != key:
            self._work, self._work_key = pu.empty_like(), key
        r = self._work
        for l, w in zip(self.layers, weights):
            self.D.apply(pu, out=r, residual_of=pb)   # r = b - D u
            l([w], r, out=pu, add=pu)                 # u += L_k(r)
        return pu
