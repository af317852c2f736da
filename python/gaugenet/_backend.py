"""Access to the C++ kernels and to the array module (numpy or cupy) of a field."""
import numpy as np

try:
    from . import _core as core
except ImportError as exc:  # pragma: no cover - only when the package was not built
    raise ImportError(
        "gaugenet's C++ extension (gaugenet._core) is missing: install with `pip install .` "
        "or build in place with `cmake -S . -B build && cmake --build build`"
    ) from exc

try:  # optional GPU arrays
    import cupy as _cupy  # noqa: F401
except Exception:  # pragma: no cover
    _cupy = None


def array_module(a):
    """numpy for host arrays, cupy for device arrays."""
    if _cupy is not None and isinstance(a, _cupy.ndarray):
        return _cupy
    return np


def is_device(a):
    return _cupy is not None and isinstance(a, _cupy.ndarray)


def to_host(a):
    return a.get() if is_device(a) else np.asarray(a)


def has_cuda():
    """True when the extension holds CUDA kernels and cupy can see a GPU."""
    if not core.has_cuda or _cupy is None:
        return False
    try:
        return _cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:
        return False
