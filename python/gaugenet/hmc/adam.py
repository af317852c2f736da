"""Adam (Kingma & Ba) for a small real parameter vector (the stout weights of SLHMC).

The state (step count and moments) is plain data, so that a checkpoint can store it and a resumed
run continues with exactly the same updates."""
import numpy as np


class Adam:
    def __init__(self, n, lr=1e-3, beta1=0.9, beta2=0.98, eps=1e-8):
        if not lr > 0 or not eps > 0:
            raise ValueError(f"Adam: lr and eps must be positive, got {lr}, {eps}")
        if not (0 <= beta1 < 1 and 0 <= beta2 < 1):
            raise ValueError(f"Adam: beta1, beta2 must be in [0, 1), got {beta1}, {beta2}")
        self.lr, self.beta1, self.beta2, self.eps = float(lr), float(beta1), float(beta2), float(eps)
        self.t = 0
        self.m = np.zeros(n)
        self.v = np.zeros(n)

    def step(self, params, grad):
        """The updated parameters (a new array)."""
        g = np.asarray(grad, dtype=np.float64).ravel()
        if g.shape != self.m.shape:
            raise ValueError(f"Adam: gradient of size {g.size}, expected {self.m.size}")
        if not np.all(np.isfinite(g)):
            raise FloatingPointError(f"Adam: the gradient contains NaN/Inf: {g}")
        self.t += 1
        self.m = self.beta1 * self.m + (1 - self.beta1) * g
        self.v = self.beta2 * self.v + (1 - self.beta2) * g * g
        mh = self.m / (1 - self.beta1 ** self.t)
        vh = self.v / (1 - self.beta2 ** self.t)
        return np.asarray(params, dtype=np.float64).ravel() - self.lr * mh / (np.sqrt(vh) + self.eps)

    def state(self):
        return {"t": self.t, "m": [float(v) for v in self.m], "v": [float(v) for v in self.v]}

    def load_state(self, st):
        self.t = int(st["t"])
        self.m = np.array(st["m"], dtype=np.float64)
        self.v = np.array(st["v"], dtype=np.float64)
