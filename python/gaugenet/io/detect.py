"""Recognise a gauge file's format from its first bytes."""
import os

from . import hdf5, lime, nersc
from .errors import GaugeFileError, on_root

FORMATS = ("nersc", "ildg", "hdf5")


def sniff(path):
    """'nersc', 'ildg' or 'hdf5' from the first bytes of the file (rank-local)."""
    with open(path, "rb") as f:
        head = f.read(16)
    if head.startswith(nersc.MAGIC):
        return "nersc"
    if lime.is_lime(head):
        return "ildg"
    if head.startswith(hdf5.SIGNATURE):
        return "hdf5"
    raise GaugeFileError(path, "format", f"unknown file format (first bytes {head[:8]!r}); gaugenet reads NERSC "
                                         f"(BEGIN_HEADER), ILDG/SciDAC LIME (magic 0x456789ab) and HDF5 files")


def detect(path, comm):
    """Collective: the format of `path`, decided on rank 0."""
    path = os.fspath(path)
    return on_root(comm, path, lambda: sniff(path), "format")
