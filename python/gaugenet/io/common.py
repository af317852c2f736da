"""Helpers shared by the format modules: lattice from a file's dims, post-load checks of gauge fields."""
import os
from decimal import Decimal, InvalidOperation

import numpy as np

from .errors import GaugeFileError, require


def comm_of(lat):
    if lat is not None:
        return lat.cart
    from mpi4py import MPI
    return MPI.COMM_WORLD


def lattice_for(lat, dims, path, source):
    """`lat` itself after checking that its dims equal the file's, or a new Lattice of the file's dims
    (double precision, default process grid) when lat is None."""
    dims = tuple(int(d) for d in dims)
    if lat is None:
        from ..lattice import Lattice
        return Lattice(dims)
    require(lat.cart, path, tuple(lat.dims) == dims, "dimensions",
            f"{source} gives lattice dims (Lx, Ly, Lz, Lt) = {dims} but the lattice is {tuple(lat.dims)}")
    return lat


def printed_resolution(text):
    """10^exponent of the last printed digit of a decimal number ('0.5714' -> 1e-4); 0 if unparsable."""
    try:
        e = Decimal(text.strip()).as_tuple().exponent
    except (InvalidOperation, AttributeError):
        return 0.0
    return 10.0 ** e if isinstance(e, int) else 0.0


def tolerance(text, eps):
    """Accepted |computed - header| for a value printed as `text` from data with machine epsilon eps:
    ten units of the last printed digit, but at least 100 eps."""
    return max(10.0 * printed_resolution(text), 100.0 * eps)


def check_value(comm, path, name, computed, expected, tol, source):
    """Header value check (computed identically on all ranks after a reduction; decided on rank 0)."""
    ok = np.isfinite(computed) and abs(computed - expected) <= tol
    require(comm, path, ok, name,
            f"{source} says {expected!r}, the links give {computed:.16g} (|difference| "
            f"{abs(computed - expected):.3g} > tolerance {tol:.3g})")


def default_unitarity_tol(word_bytes, lat):
    return 1e-5 if (word_bytes == 4 or lat.precision == "single") else 1e-8


def check_unitarity(U, path, tol):
    """Collective: every link must be SU(N) within tol."""
    if tol is None or tol is False:
        return
    v = U.unitarity_violation()
    require(U.lat.cart, path, np.isfinite(v) and v <= tol, "unitarity",
            f"links are not SU({U.N}): max |U U^dag - 1|, |det U - 1| = {v:.3e} > tolerance {tol:.1e} "
            f"(wrong gauge group, precision, byte order or layout?)")


def temp_name(path):
    """Name of the file that is written and then renamed to `path` (so that a failed write never
    leaves a half-written file under the final name)."""
    from ..util.atomic import temp_name as name
    return name(path)


_collective_writes = 0      # atomic_write calls in this process (the step of the fault-injection point)


def atomic_write(comm, path, create, write_local):
    """Write a file collectively: rank 0 runs create(tmp) (headers, final size), then every rank in
    turn runs write_local(tmp) (its own block) and fsyncs it (its node's page cache: the ranks may sit
    on different nodes of a shared file system), then rank 0 renames tmp to path and fsyncs the
    directory. A kill at any moment leaves the previous file under `path` intact. On any error the
    temporary file is removed and the error is raised on every rank."""
    from ..util.atomic import fsync_dir, fsync_file
    from ..util.signals import inject
    from .errors import on_root, serialised
    global _collective_writes
    _collective_writes += 1
    tmp = temp_name(path)

    def write_and_sync(tmp):
        write_local(tmp)
        fsync_file(tmp)

    def rename():
        os.replace(tmp, path)
        fsync_dir(path)

    try:
        on_root(comm, path, lambda: create(tmp), "write")
        serialised(comm, path, lambda: write_and_sync(tmp))
        inject("io.atomic_write", _collective_writes, comm.Get_rank())   # tests: a kill before the rename
        on_root(comm, path, rename, "write")
    except GaugeFileError:
        if comm.Get_rank() == 0 and os.path.exists(tmp):
            os.remove(tmp)
        raise


__all__ = ["GaugeFileError", "comm_of", "lattice_for", "tolerance", "check_value", "check_unitarity",
           "default_unitarity_tol", "temp_name", "atomic_write"]
