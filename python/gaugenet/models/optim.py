"""Adam (Kingma & Ba) for lists of complex weight arrays, seed 000 settings by default
(beta1 = 0.9, beta2 = 0.98, alpha = 1e-3; shared/CONVENTIONS.md "Learned preconditioners").

A complex weight counts as two real parameters: the moments are kept for the real and the imaginary
part separately, and the gradient convention dC/dRe w + i dC/dIm w (gaugenet.ml.layer) makes the
step w -= alpha m^ / (sqrt(v^) + eps) a descent step in both. Weights are updated in place, so
global (PTC) weights stay identical on every rank as long as their gradients are (they are: one
allreduce in the layer); per-site (LPTC, cLPTC) weights are updated by their own rank. Real weights
(the stout parameters of SLHMC) work the same way.
"""
import numpy as np


def _real_view(a):
    a = np.asarray(a)
    return a.view(a.real.dtype) if np.iscomplexobj(a) else a


class Adam:
    def __init__(self, alpha=1e-3, beta1=0.9, beta2=0.98, eps=1e-8, lr=None):
        alpha = alpha if lr is None else lr
        for name, v in (("alpha", alpha), ("eps", eps)):
            if not v > 0:
                raise ValueError(f"Adam: {name} must be positive, got {v}")
        for name, v in (("beta1", beta1), ("beta2", beta2)):
            if not 0 <= v < 1:
                raise ValueError(f"Adam: {name} must be in [0, 1), got {v}")
        self.alpha, self.beta1, self.beta2, self.eps = alpha, beta1, beta2, eps
        self.t = 0
        self._m = self._v = None

    def step(self, weights, grads):
        """One update of `weights` (list of arrays, modified in place) with `grads` (same shapes)."""
        if len(weights) != len(grads):
            raise ValueError(f"Adam: {len(weights)} weight arrays but {len(grads)} gradients")
        if self._m is None:
            self._m = [np.zeros_like(_real_view(w)) for w in weights]
            self._v = [np.zeros_like(_real_view(w)) for w in weights]
        self.t += 1
        c1 = 1.0 - self.beta1 ** self.t
        c2 = 1.0 - self.beta2 ** self.t
        for w, g, m, v in zip(weights, grads, self._m, self._v):
            if g.shape != w.shape:
                raise ValueError(f"Adam: gradient of shape {g.shape} for weights of shape {w.shape}")
            gr = _real_view(np.ascontiguousarray(g, dtype=w.dtype))
            if not np.all(np.isfinite(gr)):
                raise FloatingPointError("Adam: the gradient contains NaN/Inf (diverging training: lower alpha)")
            m *= self.beta1
            m += (1.0 - self.beta1) * gr
            v *= self.beta2
            v += (1.0 - self.beta2) * gr * gr
            _real_view(w)[...] -= self.alpha * (m / c1) / (np.sqrt(v / c2) + self.eps)

    def state(self):
        """Step count and moments as plain lists (JSON-friendly, for checkpoints: a resumed run makes
        exactly the same updates)."""
        def lists(ms):
            return None if ms is None else [m.tolist() for m in ms]
        return {"t": self.t, "m": lists(self._m), "v": lists(self._v)}

    def load_state(self, state):
        def arrays(ms):
            return None if ms is None else [np.array(m, dtype=np.float64) for m in ms]
        self.t = int(state["t"])
        self._m, self._v = arrays(state["m"]), arrays(state["v"])
