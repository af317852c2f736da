"""Block linear algebra on fields with one global reduction per call."""
import numpy as np


def inner_many(vs, w):
    """[<v_i, w>] for a list of fields, with a single MPI reduction."""
    xp = w.xp
    loc = np.array([complex(xp.vdot(v.data, w.data)) for v in vs], dtype=np.complex128)
    return w.lat.allreduce(loc)


def combine(vs, coeffs, out):
    """out += sum_i coeffs[i] vs[i] (in place)."""
    for c, v in zip(coeffs, vs):
        if c != 0:
            out.data += c * v.data
    return out
