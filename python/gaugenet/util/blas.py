"""One BLAS thread per rank (unless the user chose otherwise).

gaugenet's kernels run OpenMP threads; a multithreaded OpenBLAS under numpy busy-waits on the same cores, and
every small GEMV/dot of the Krylov solvers and of the training loops became 2-20x slower (measured: the FGMRES
projections on 4^3 x 8 went from 5 ms to 0.2 ms per call, the even-odd CG solve on 8^3 x 16 from 3.4 s to 1.2 s).
If numpy is not imported yet, the environment variables do it; otherwise the already loaded OpenBLAS is told
through its C API (the library is found in /proc/self/maps; nothing happens where that is not possible).
"""
import ctypes
import os
import sys

_VARS = ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
_SYMBOLS = ("scipy_openblas_set_num_threads64_", "openblas_set_num_threads64_", "openblas_set_num_threads")


def _loaded_openblas():
    try:
        with open("/proc/self/maps") as f:
            paths = {line.split()[-1] for line in f if "openblas" in line.lower() and ".so" in line}
    except OSError:
        return []
    return sorted(p for p in paths if p.startswith("/"))


def openblas_threads():
    """The thread count of the loaded OpenBLAS (None if none is loaded or it cannot be asked)."""
    for path in _loaded_openblas():
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for sym in ("scipy_openblas_get_num_threads64_", "openblas_get_num_threads64_", "openblas_get_num_threads"):
            fn = getattr(lib, sym, None)
            if fn is not None:
                return int(fn())
    return None


def limit_blas_threads(n=1):
    """Returns how it was done: "env", "openblas-api", "user" (the user set a variable) or "none"."""
    if any(v in os.environ for v in _VARS):
        return "user"
    if "numpy" not in sys.modules:
        for v in _VARS:
            os.environ[v] = str(n)
        return "env"
    for path in _loaded_openblas():
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for sym in _SYMBOLS:
            fn = getattr(lib, sym, None)
            if fn is not None:
                fn(ctypes.c_int(n))
                return "openblas-api"
    return "none"
