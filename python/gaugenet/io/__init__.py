"""Gauge and field files: NERSC, ILDG / SciDAC LIME and gaugenet's HDF5 format (docs/io.md).

    U = gn.io.load_gauge(path, lat)                 # format recognised from the file's first bytes
    gn.io.save_gauge(path, U, format="hdf5")        # or "nersc" (IEEE64BIG 3x3), "ildg"
    gn.io.save_field(path, psi); gn.io.load_field(path, lat)

Every check of a file (format, header fields, dims against the lattice, size, checksum, plaquette,
link trace, unitarity) raises GaugeFileError naming the file and the check, on every rank.
"""
import os

from . import hdf5, ildg, lime, nersc
from .checksums import scidac_sums, word_sum
from .common import comm_of
from .detect import FORMATS, detect
from .errors import GaugeFileError
from .hdf5 import load_field, save_field

_MODULES = {"nersc": nersc, "ildg": ildg, "hdf5": hdf5}


def _module(fmt):
    if fmt not in _MODULES:
        raise ValueError(f"unknown gauge file format {fmt!r}; use one of {', '.join(FORMATS)}")
    return _MODULES[fmt]


def load_gauge(path, lat=None, format=None, unitarity_tol=None, **kw):
    """Read a gauge field. format: None (recognised from the content), 'nersc', 'ildg' or 'hdf5'.
    lat: the lattice to read onto; its dims must match the file's. Files without dims (ILDG without an
    ildg-format record) take them from lat. With lat=None a double-precision lattice of the file's
    dims on the default process grid is made. unitarity_tol: None (default for the precision: 1e-8
    double, 1e-5 single) or a number, False to skip the check."""
    path = os.fspath(path)
    comm = comm_of(lat)
    fmt = detect(path, comm) if format is None else format
    return _module(fmt).load(path, lat, unitarity_tol=unitarity_tol, **kw)


def save_gauge(path, U, format="hdf5", **kw):
    """Write a GaugeField. format 'hdf5' (gaugenet's own, options: precision, metadata),
    'nersc' (IEEE64BIG 4D_SU3_GAUGE_3x3 by default; options floating_point, datatype) or
    'ildg' (options: precision 64 or 32). Returns a dict of what was written (checksums, plaquette)."""
    return _module(format).save(os.fspath(path), U, **kw)


__all__ = ["load_gauge", "save_gauge", "load_field", "save_field", "GaugeFileError", "detect", "FORMATS",
           "nersc", "ildg", "hdf5", "lime", "scidac_sums", "word_sum"]
