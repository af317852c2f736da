"""Per-rank access to a binary region of a file that holds the global lattice site by site in
lexicographic order (x fastest, then y, z, t), `site_bytes` bytes per site: the layout of the
NERSC data section and of the ILDG binary record.

Each rank reads only its own sub-block (a memory map of the file, read-only). Writing is
serialised: the ranks write their sub-blocks one after the other into a file whose size is
already final, so no parallel I/O library is needed and the whole lattice is never gathered.
"""
import numpy as np


def local_to_sites(a, lead):
    """(lead..., lt, lz, ly, lx, inner...) -> (lt, lz, ly, lx, lead..., inner...)"""
    return np.moveaxis(a, tuple(range(lead)), tuple(range(4, 4 + lead))) if lead else a


def sites_to_local(a, lead):
    """Inverse of local_to_sites."""
    return np.moveaxis(a, tuple(range(4, 4 + lead)), tuple(range(lead))) if lead else a


def read_local_sites(path, offset, site_bytes, lat):
    """This rank's sites as a (lt, lz, ly, lx, site_bytes) uint8 array."""
    mm = np.memmap(path, dtype=np.uint8, mode="r", offset=offset, shape=lat.global_shape + (site_bytes,))
    try:
        return np.array(mm[lat.local_slice()])
    finally:
        del mm


def write_local_sites(path, offset, lat, raw):
    """Write this rank's (lt, lz, ly, lx, site_bytes) uint8 block into an existing file of final size
    (call inside errors.serialised so that the ranks take turns)."""
    site_bytes = raw.shape[-1]
    mm = np.memmap(path, dtype=np.uint8, mode="r+", offset=offset, shape=lat.global_shape + (site_bytes,))
    try:
        mm[lat.local_slice()] = raw
        mm.flush()
    finally:
        del mm
