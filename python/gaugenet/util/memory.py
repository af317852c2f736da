"""Host arrays on cache-line boundaries."""
import numpy as np

ALIGN = 64  # bytes: whole AVX-512 registers, and streaming stores of them


def aligned_empty(shape, dtype):
    """An uninitialised C-contiguous host array whose data start on a 64-byte boundary."""
    dtype = np.dtype(dtype)
    n = int(np.prod(shape)) * dtype.itemsize
    raw = np.empty(n + ALIGN, dtype=np.uint8)
    off = (-raw.ctypes.data) % ALIGN
    return raw[off:off + n].view(dtype).reshape(shape)
