"""A block basis stored in bfloat16 (the upper 16 bits of each IEEE single), for restriction and
prolongation on the CPU (kernels/block.h widens each site's tile to the fields' precision in L1).

It halves the bytes R and P stream against a single-precision basis: in the seed-000 multigrid
preconditioner inside FGMRES the basis (24 vectors, 9.4 MB per rank in single precision) no longer
stays in cache between applications, and R and P are bound by reading it. Rounding to nearest even,
relative error <= 2^-8 per entry; the coarse operator D~ stays the one of the exact basis. Measured
on the seed-000 problem: the same 31 FGMRES iterations as with the single-precision basis."""
import numpy as np


def to_bf16(a):
    """float32 array -> uint16 bfloat16 bit patterns (round to nearest, ties to even; NaN stays NaN)."""
    u = np.ascontiguousarray(a, dtype=np.float32).view(np.uint32).astype(np.uint64)
    rounded = (u + 0x7FFF + ((u >> 16) & 1)) >> 16
    nan = np.isnan(a.astype(np.float32, copy=False))
    out = rounded.astype(np.uint16)
    out[nan] = 0x7FC0
    return out


def from_bf16(h):
    """uint16 bfloat16 bit patterns -> float32."""
    return (np.asarray(h, dtype=np.uint16).astype(np.uint32) << 16).view(np.float32)


class Bf16Basis:
    """The block basis u_i of a Blocking in bfloat16: data (V, n_basis, 4 N, 2) uint16 (real, imaginary).
    Blocking.project / promote take it in place of the FermionField basis (host fields only)."""
    batched = True

    def __init__(self, basis):
        from ..fields import FermionField
        if not isinstance(basis, FermionField) or not basis.batched:
            raise TypeError("Bf16Basis: compress a batched FermionField basis [t, z, y, x, n_basis, 4, N]")
        if basis.on_device:
            raise ValueError("Bf16Basis: a CPU format; the basis is on the GPU")
        self.lat, self.nvec, self.N = basis.lat, basis.nvec, basis.N
        re_im = np.asarray(basis.data).astype(np.complex64).view(np.float32)
        self.data = np.ascontiguousarray(to_bf16(re_im).reshape(self.lat.local_volume, self.nvec, 4 * self.N, 2))
        self.xp = np

    def to_field(self, dtype=np.complex64):
        """The rounded basis as a FermionField (for checks)."""
        from ..fields import FermionField
        f = from_bf16(self.data).view(np.complex64).astype(dtype)
        return FermionField(self.lat, f.reshape(self.lat.local_shape + (self.nvec, 4, self.N)))
