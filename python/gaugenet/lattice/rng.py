"""Counter-based random numbers keyed by global site: the same field for any process grid.

A value is a hash of (seed, stream, global site index, component) - splitmix64 finalisers -
so every rank produces exactly its own part of the global random field, without
communication and independent of the decomposition.
"""
import numpy as np

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_G = np.uint64(0x9E3779B97F4A7C15)


def _mix(z):
    z = z.copy()
    z ^= z >> np.uint64(30)
    z *= _M1
    z ^= z >> np.uint64(27)
    z *= _M2
    z ^= z >> np.uint64(31)
    return z


def _key(seed, stream):
    k = np.array([(int(seed) * 0x2545F4914F6CDD1D + int(stream) * 0x9E3779B97F4A7C15 + 1) % 2**64], dtype=np.uint64)
    return _mix(k)[0]


def uniform_bits(seed, stream, counters):
    """64 random bits per counter (uint64 array of any shape)."""
    with np.errstate(over="ignore"):
        c = np.asarray(counters, dtype=np.uint64)
        return _mix(_mix(c * _G + _key(seed, stream)) ^ _key(seed, stream + 0x5bd1e995))


def uniform(seed, stream, counters):
    """Uniform doubles in [0, 1)."""
    return (uniform_bits(seed, stream, counters) >> np.uint64(11)).astype(np.float64) * (1.0 / 2**53)


def normal(seed, stream, counters):
    """Standard normal doubles (Box-Muller on two independent uniforms per counter)."""
    c = np.asarray(counters, dtype=np.uint64)
    u1 = uniform(seed, stream, c * np.uint64(2))
    u2 = uniform(seed, stream, c * np.uint64(2) + np.uint64(1))
    return np.sqrt(-2.0 * np.log1p(-u1)) * np.cos(2.0 * np.pi * u2)


def site_counters(lat, per_site, lead=1):
    """Counters for `lead` x local sites x `per_site` values: (lead, V_local, per_site) uint64,
    numbered by global site index so that they do not depend on the process grid."""
    g = lat.global_index().astype(np.uint64)
    V = np.uint64(lat.global_volume)
    lead_ix = np.arange(lead, dtype=np.uint64)[:, None, None]
    comp = np.arange(per_site, dtype=np.uint64)[None, None, :]
    with np.errstate(over="ignore"):
        return (lead_ix * V + g[None, :, None]) * np.uint64(per_site) + comp


def gaussian_local(lat, lead_shape, inner_shape, seed, stream=0):
    """Local part of a global complex Gaussian field; identical for any process grid."""
    per_site = int(np.prod(inner_shape))
    lead = int(np.prod(lead_shape)) if lead_shape else 1
    c = site_counters(lat, 2 * per_site, lead)
    z = normal(seed, stream, c).reshape(lead, lat.local_volume, per_site, 2)
    z = (z[..., 0] + 1j * z[..., 1]) / np.sqrt(2.0)
    return z.reshape(tuple(lead_shape) + lat.local_shape + tuple(inner_shape)).astype(lat.complex_dtype)
