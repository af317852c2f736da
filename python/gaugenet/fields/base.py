"""Field base class: a numpy (host) or cupy (device) array of the local volume.

Storage is site-major, x fastest: lead axes (e.g. mu for gauge fields), then (lt, lz, ly, lx),
then the per-site shape. An optional batch axis (right-hand sides or features) sits right after
the site axes, so a kernel loads each link once for all vectors of a site.
"""
import numpy as np

from .._backend import array_module, core, is_device, to_host
from ..lattice.rng import gaussian_local


class VectorArithmetic:
    """+, -, unary -, and scalar * for a vector type with `data`, `_new(data)` and `_scaled(s)` (the data times
    a scalar); used by Field and by the packed fermions of operators/packed.py."""

    def __add__(self, o):
        return self._new(self.data + o.data)

    def __sub__(self, o):
        return self._new(self.data - o.data)

    def __neg__(self):
        return self._new(-self.data)

    def __mul__(self, s):
        if isinstance(s, VectorArithmetic):
            raise TypeError("use inner() for field products")
        return self._new(self._scaled(s))

    __rmul__ = __mul__


class LinearAlgebra(VectorArithmetic):
    """The vector operations of the Krylov solvers (inner, norm2, norm, axpy, xpay; one global reduction
    each) for a vector type with `lat` and a host or device array `data` of the local part: used by Field
    and by the half-lattice fields of the even-odd operators (fields/parity.py)."""

    @property
    def xp(self):
        return array_module(self.data)

    def inner(self, other):
        """<self, other> = sum conj(self) other over the global lattice."""
        v = complex(self.xp.vdot(self.data, other.data))
        return complex(self.lat.allreduce(v))

    def norm2(self):
        return float(self.lat.allreduce(float(self.xp.vdot(self.data, self.data).real)))

    def norm(self):
        return float(np.sqrt(self.norm2()))

    def _scaled(self, s):
        return self.data * s

    def _fused(self, x):
        """Whether the one-pass host kernels (core.axpy / core.xpay) apply to self and x."""
        d, e = self.data, x.data
        return (self.xp is np and d.dtype == e.dtype and d.dtype.kind == "c" and d.shape == e.shape
                and d.flags.c_contiguous and e.flags.c_contiguous)

    def axpy(self, a, x, norm=False):
        """self += a * x (in place; on host arrays one pass without a temporary). With norm=True returns
        |self|^2 of the result (global, computed in the same pass), else self."""
        if self._fused(x):
            loc = core.axpy(self.data, complex(a), x.data, norm)
        else:
            self.data += a * x.data
            loc = float(self.xp.vdot(self.data, self.data).real) if norm else 0.0
        return float(self.lat.allreduce(loc)) if norm else self

    def xpay(self, b, x):
        """self = x + b * self (in place; one pass on host arrays)."""
        if self._fused(x):
            core.xpay(self.data, complex(b), x.data)
        else:
            self.data *= b
            self.data += x.data
        return self


class Field(LinearAlgebra):
    lead_shape = ()          # axes before the site axes
    site_ndim = 1            # minimal number of per-site axes
    kind = "field"

    def __init__(self, lat, data):
        self.lat = lat
        want = tuple(self.lead_shape) + lat.local_shape
        if tuple(data.shape[:len(want)]) != want:
            raise ValueError(f"{type(self).__name__}: local array of shape {data.shape} does not start with {want}")
        if data.dtype != lat.complex_dtype:
            data = data.astype(lat.complex_dtype)
        self.data = array_module(data).ascontiguousarray(data)
        self._check_inner()

    def _check_inner(self):
        pass

    # -------------------------------------------------------------- shape helpers
    @property
    def inner_shape(self):
        return tuple(self.data.shape[len(self.lead_shape) + 4:])

    @property
    def site_elems(self):
        return int(np.prod(self.inner_shape))

    @property
    def on_device(self):
        return is_device(self.data)

    def sites(self):
        """View with the four site axes flattened: lead + (V,) + inner."""
        return self.data.reshape(tuple(self.lead_shape) + (self.lat.local_volume,) + self.inner_shape)

    def _new(self, data):
        out = object.__new__(type(self))
        out.__dict__.update(self.__dict__)
        out.data = data
        return out

    # -------------------------------------------------------------- construction
    @classmethod
    def _from_local(cls, lat, data, **kw):
        return cls(lat, data, **kw)

    @classmethod
    def from_numpy(cls, lat, a, **kw):
        """From the GLOBAL array (given on every rank, layout of shared/CONVENTIONS.md)."""
        a = np.asarray(a)
        nl = len(cls.lead_shape)
        if a.ndim < nl + 4 + cls.site_ndim or tuple(a.shape[nl:nl + 4]) != lat.global_shape:
            raise ValueError(
                f"{cls.__name__}.from_numpy: global array of shape {a.shape} does not match lattice "
                f"{lat.global_shape} (t, z, y, x) after {nl} leading axes")
        return cls._from_local(lat, lat.scatter_global(a.astype(lat.complex_dtype, copy=False), lead=nl), **kw)

    @classmethod
    def from_root(cls, lat, a, root=0, **kw):
        """From a GLOBAL array held by `root` only (None on the other ranks), e.g. read from a file."""
        nl = len(cls.lead_shape)
        ok = True
        if lat.rank == root:
            a = np.asarray(a)
            ok = a.ndim >= nl + 4 + cls.site_ndim and tuple(a.shape[nl:nl + 4]) == lat.global_shape
        lat.check(ok, f"{cls.__name__}.from_root: the global array does not match lattice {lat.global_shape} (t, z, y, x)")
        local = lat.scatter_from_root(a.astype(lat.complex_dtype, copy=False) if lat.rank == root else None,
                                      lead=nl, root=root)
        return cls._from_local(lat, local, **kw)

    def to_numpy(self):
        """The GLOBAL array, on every rank."""
        return self.lat.gather_global(to_host(self.data), lead=len(self.lead_shape))

    def gather(self, root=0):
        """The global array on `root`, None elsewhere (for I/O)."""
        return self.lat.gather_global(to_host(self.data), lead=len(self.lead_shape), root=root)

    def to_device(self):
        import cupy
        return self._new(cupy.asarray(self.data))

    def to_host(self):
        return self._new(to_host(self.data))

    def copy(self):
        return self._new(self.data.copy())

    def zeros_like(self):
        return self._new(self.xp.zeros_like(self.data))

    def gaussian_like(self, seed, stream=0):
        """Complex Gaussian noise with <|z|^2> = 1, reproducible for any process grid."""
        return self._new(self.xp.asarray(gaussian_local(self.lat, self.lead_shape, self.inner_shape, seed, stream)))

    def sum(self):
        """Sum over all sites (and lead axes): the per-site array."""
        loc = to_host(self.sites().sum(axis=tuple(range(len(self.lead_shape) + 1))))
        return self.lat.allreduce(np.asarray(loc))

    def __repr__(self):
        return f"{type(self).__name__}(lattice={self.lat.dims}, inner={self.inner_shape}, dtype={self.data.dtype})"
