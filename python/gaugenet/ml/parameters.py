"""Layer weights: random initial values and shape checks.

Weights are plain arrays (numpy on the host; cupy is accepted where the fields live on a GPU),
collected in a list per layer, as in GPT's `model.weights()`. Initial values are complex Gaussian
with real and imaginary parts independent N(0, scale^2), the distribution GPT's
`rng.normal(model.weights())` gives (sigma = 1 by default).
"""
import numpy as np

from ..lattice.rng import gaussian_local


def random_global(shape, seed, scale=1.0, dtype=np.complex128):
    """Weights that are the same on every site (and on every rank): one generator from `seed`."""
    rng = np.random.default_rng(seed)
    w = rng.standard_normal(tuple(shape)) + 1j * rng.standard_normal(tuple(shape))
    return (scale * w).astype(dtype)


def random_per_site(lat, per_site_shape, seed, scale=1.0):
    """Per-site weights of shape (V_local,) + per_site_shape, drawn by the counter-based generator
    keyed by the global site index: the global weight field does not depend on the process grid."""
    z = gaussian_local(lat, (), tuple(per_site_shape), seed)  # <|z|^2> = 1: Re, Im of variance 1/2
    z = z.reshape((lat.local_volume,) + tuple(per_site_shape))
    return (z * (scale * np.sqrt(2.0))).astype(lat.complex_dtype)


def check_weights(weights, shapes, who):
    """`weights` must be a list/tuple of arrays with exactly the given shapes; returns the list."""
    if not isinstance(weights, (list, tuple)):
        raise TypeError(f"{who}: weights must be a list of arrays (as returned by weights()), "
                        f"got {type(weights).__name__}")
    if len(weights) != len(shapes):
        raise ValueError(f"{who}: expected {len(shapes)} weight array(s), got {len(weights)}")
    for i, (w, s) in enumerate(zip(weights, shapes)):
        shp = tuple(getattr(w, "shape", ()))
        if shp != tuple(s):
            raise ValueError(f"{who}: weight array {i} has shape {shp}, expected {tuple(s)}")
    return list(weights)
