"""gaugenet's own HDF5 format (h5py) for gauge fields, fermion fields and any other Field.

One dataset per field, in the global layout of shared/CONVENTIONS.md (gauge: [mu, t, z, y, x, a, b];
Wilson fermion: [t, z, y, x, (vec,) spin, colour]; ...), little-endian complex128 ('double') or
complex64 ('single'). Attributes of the dataset: gaugenet_format, format_version, field_class, layout,
dims (Lx, Ly, Lz, Lt), group ('SU(N)' for fields with a colour index), precision, creator, created,
checksum_suma / checksum_sumb / checksum_method and, for gauge fields, plaquette and link_trace;
extra user metadata under their own names.

Checksum: the SciDAC definition (checksums.py) applied to the data as stored: per site the bytes of
all its values (lead axes, then the per-site axes, little-endian), global lexicographic site index.
Every rank checksums its own sites and the partial sums are combined by XOR, so the checksum is the
same for any process grid and the whole lattice is never gathered.

Writing: rank 0 creates the dataset and its attributes, then the ranks write their hyperslabs one
after another (serialised, plain h5py, no parallel HDF5 needed). Reading: every rank reads its own
hyperslab.
"""
import os
import time

import numpy as np

from .._backend import to_host
from .checksums import combine_scidac, scidac_sums
from .common import (atomic_write, check_unitarity, check_value, comm_of, default_unitarity_tol, lattice_for,
                     tolerance)
from .errors import GaugeFileError, everywhere, on_root, serialised
from .sites import local_to_sites

FORMAT = "gaugenet-hdf5"
VERSION = 1
SIGNATURE = b"\x89HDF\r\n\x1a\n"
CHECKSUM_METHOD = ("scidac: per-site CRC-32 of the stored little-endian bytes (lead axes, then per-site axes), "
                   "rotated left by the global lexicographic site index mod 29 (suma) and mod 31 (sumb), XOR over "
                   "sites")
_DTYPES = {"double": np.dtype("<c16"), "single": np.dtype("<c8")}
_INNER_NAMES = {"GaugeField": ("a", "b"), "FermionField": ("spin", "colour"), "StaggeredField": ("colour",),
                "CoarseField": ("basis",), "SpinMatrixField": ("s", "s'"), "ColorMatrixField": ("a", "b")}


def _h5py():
    try:
        import h5py
    except ImportError as exc:  # pragma: no cover
        raise ImportError("the HDF5 format needs h5py (pip install h5py)") from exc
    return h5py


def _field_classes():
    from .. import fields
    return {name: getattr(fields, name) for name in fields.__all__
            if isinstance(getattr(fields, name), type) and issubclass(getattr(fields, name), fields.Field)}


def _layout(field):
    cls = type(field).__name__
    lead = ["mu"] if field.lead_shape == (4,) else [f"l{i}" for i in range(len(field.lead_shape))]
    inner = list(_INNER_NAMES.get(cls, [f"i{i}" for i in range(len(field.inner_shape))]))
    if len(field.inner_shape) == len(inner) + 1:
        inner = ["vec"] + inner
    elif len(field.inner_shape) != len(inner):
        inner = [f"i{i}" for i in range(len(field.inner_shape))]
    return "[" + ",".join(lead + ["t", "z", "y", "x"] + inner) + "]"


def save_field(path, field, name=None, mode="w", precision=None, metadata=None):
    """Write a Field (any subclass) as dataset `name` (default: 'gauge' for gauge fields, else the
    field's kind) of an HDF5 file. mode 'w' replaces the file, 'a' adds or replaces the dataset in an
    existing file. precision: 'double' or 'single' (default: the field's). metadata: extra attributes."""
    from .. import __version__
    from ..fields import GaugeField
    h5py = _h5py()
    path = os.fspath(path)
    lat = field.lat
    comm = lat.cart
    if mode not in ("w", "a"):
        raise ValueError(f"mode must be 'w' or 'a', got {mode!r}")
    precision = precision or lat.precision
    if precision not in _DTYPES:
        raise ValueError(f"precision must be 'double' or 'single', got {precision!r}")
    name = name or ("gauge" if isinstance(field, GaugeField) else field.kind)
    dtype = _DTYPES[precision]
    nl = len(field.lead_shape)
    local = np.ascontiguousarray(to_host(field.data).astype(dtype))
    site_raw = np.ascontiguousarray(local_to_sites(local, nl)).reshape(lat.local_volume, -1).view(np.uint8)
    suma, sumb = combine_scidac(comm, scidac_sums(site_raw, lat.global_index()))
    attrs = dict(gaugenet_format=FORMAT, format_version=VERSION, field_class=type(field).__name__,
                 kind=field.kind, layout=_layout(field), dims=np.array(lat.dims, dtype=np.int64),
                 precision=precision, creator=f"gaugenet {__version__}",
                 created=time.strftime("%Y-%m-%dT%H:%M:%S%z"), checksum_suma=np.uint32(suma),
                 checksum_sumb=np.uint32(sumb), checksum_method=CHECKSUM_METHOD)
    if getattr(field, "N", None) is not None and type(field).__name__ in ("GaugeField", "FermionField",
                                                                          "StaggeredField", "ColorMatrixField"):
        attrs["group"] = f"SU({field.N})"
    if isinstance(field, GaugeField):
        from ..gauge import link_trace, plaquette
        attrs["plaquette"] = plaquette(field)
        attrs["link_trace"] = link_trace(field)
    for k, v in (metadata or {}).items():
        if k in attrs:
            raise ValueError(f"metadata key {k!r} is reserved")
        attrs[k] = v
    shape = tuple(field.lead_shape) + lat.global_shape + field.inner_shape
    sl = (slice(None),) * nl + lat.local_slice()

    def create(fname, fmode):
        with h5py.File(fname, fmode) as f:
            f.attrs["gaugenet_format"] = FORMAT
            f.attrs["format_version"] = VERSION
            f.attrs["creator"] = f"gaugenet {__version__}"
            if name in f:
                del f[name]
            d = f.create_dataset(name, shape=shape, dtype=dtype)
            for k, v in attrs.items():
                d.attrs[k] = v

    def write_slab(fname):
        with h5py.File(fname, "r+") as f:
            f[name][sl] = local

    if mode == "w":
        atomic_write(comm, path, lambda tmp: create(tmp, "w"), write_slab)
    else:
        on_root(comm, path, lambda: create(path, "a"), "write")
        serialised(comm, path, lambda: write_slab(path))
    out = dict(path=path, format="hdf5", dataset=name, suma=f"{suma:08x}", sumb=f"{sumb:08x}")
    if "plaquette" in attrs:
        out["plaquette"] = attrs["plaquette"]
    return out


def _s(v):
    return v.decode() if isinstance(v, bytes) else str(v)


def read_info(path, name=None, cls=None):
    """Dataset choice and attributes (rank 0)."""
    h5py = _h5py()
    with open(path, "rb") as f:
        if f.read(8) != SIGNATURE:
            raise GaugeFileError(path, "format", "not an HDF5 file (no HDF5 signature)")
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise GaugeFileError(path, "open", f"HDF5 cannot open the file (truncated or corrupt?): {exc}") from None
    with f:
        if _s(f.attrs.get("gaugenet_format", "")) != FORMAT:
            raise GaugeFileError(path, "format",
                                 f"not a gaugenet HDF5 file (no gaugenet_format = {FORMAT!r} attribute)")
        sets = [k for k in f.keys() if isinstance(f[k], h5py.Dataset)]
        if name is None:
            cands = sets if cls is None else [k for k in sets if _s(f[k].attrs.get("field_class", "")) == cls.__name__]
            if cls is not None and cls.__name__ == "GaugeField" and "gauge" in cands:
                cands = ["gauge"]
            if len(cands) != 1:
                what = "" if cls is None else f" {cls.__name__}"
                raise GaugeFileError(path, "dataset", f"{len(cands)}{what} datasets in the file ({sets}); "
                                                      f"name the one to read")
            name = cands[0]
        if name not in sets:
            raise GaugeFileError(path, "dataset", f"no dataset {name!r}; the file holds {sets}")
        d = f[name]
        a = {k: d.attrs[k] for k in d.attrs}
        need = ["format_version", "field_class", "dims", "precision", "checksum_suma", "checksum_sumb"]
        miss = [k for k in need if k not in a]
        if miss:
            raise GaugeFileError(path, "header", f"dataset {name!r} lacks the attributes {miss}")
        if int(a["format_version"]) > VERSION:
            raise GaugeFileError(path, "header", f"format_version {int(a['format_version'])} is newer than this "
                                                 f"gaugenet reads ({VERSION})")
        fcls = _s(a["field_class"])
        classes = _field_classes()
        if fcls not in classes:
            raise GaugeFileError(path, "header", f"field_class {fcls!r} is not a gaugenet field class")
        if cls is not None and not issubclass(classes[fcls], cls):
            raise GaugeFileError(path, "field class", f"dataset {name!r} holds a {fcls}, not a {cls.__name__}")
        prec = _s(a["precision"])
        if prec not in _DTYPES or d.dtype != _DTYPES[prec]:
            raise GaugeFileError(path, "header", f"precision attribute {prec!r} does not match the dataset's type "
                                                 f"{d.dtype}")
        dims = tuple(int(x) for x in np.asarray(a["dims"]).ravel())
        nl = len(classes[fcls].lead_shape)
        if len(dims) != 4 or tuple(d.shape[nl:nl + 4]) != tuple(reversed(dims)):
            raise GaugeFileError(path, "dimensions", f"dims attribute {dims} (Lx, Ly, Lz, Lt) does not match the "
                                                     f"dataset shape {d.shape} (layout {_s(a.get('layout', '?'))})")
        plaq = float(a["plaquette"]) if "plaquette" in a else None
        return dict(name=name, field_class=fcls, dims=dims, precision=prec, shape=tuple(d.shape), nl=nl,
                    checksum=(int(a["checksum_suma"]), int(a["checksum_sumb"])), plaquette=plaq)


def load_field(path, lat=None, name=None, cls=None, unitarity_tol=None):
    """Read a field written by save_field; returns an instance of the stored Field subclass
    (checked against `cls` when given). Every rank reads its own hyperslab."""
    h5py = _h5py()
    path = os.fspath(path)
    comm = comm_of(lat)
    h = on_root(comm, path, lambda: read_info(path, name, cls))
    lat = lattice_for(lat, h["dims"], path, f"the dims attribute of dataset {h['name']!r}")
    fcls = _field_classes()[h["field_class"]]
    nl = h["nl"]
    sl = (slice(None),) * nl + lat.local_slice()

    def read():
        with h5py.File(path, "r") as f:
            return np.ascontiguousarray(f[h["name"]][sl]).astype(_DTYPES[h["precision"]], copy=False)

    local = everywhere(comm, path, read, "read")
    site_raw = np.ascontiguousarray(local_to_sites(local, nl)).reshape(lat.local_volume, -1).view(np.uint8)
    got = combine_scidac(comm, scidac_sums(site_raw, lat.global_index()))
    if got != h["checksum"]:
        raise GaugeFileError(path, "checksum", f"dataset {h['name']!r}: checksum_suma/sumb attributes "
                                               f"{h['checksum'][0]:08x}/{h['checksum'][1]:08x}, the data give "
                                               f"{got[0]:08x}/{got[1]:08x}: the file is corrupt")
    try:
        field = fcls(lat, local.astype(lat.complex_dtype))
    except ValueError as exc:
        raise GaugeFileError(path, "header", f"dataset {h['name']!r} of shape {h['shape']} is not a valid "
                                             f"{h['field_class']}: {exc}") from None
    from ..fields import GaugeField
    if isinstance(field, GaugeField):
        word = 8 if h["precision"] == "double" else 4
        if h["plaquette"] is not None:
            from ..gauge import plaquette
            eps = max(np.finfo(np.float32 if word == 4 else np.float64).eps, np.finfo(lat.real_dtype).eps)
            check_value(comm, path, "plaquette", plaquette(field), h["plaquette"], tolerance("", eps),
                        f"the plaquette attribute of {h['name']!r}")
        check_unitarity(field, path, default_unitarity_tol(word, lat) if unitarity_tol is None else unitarity_tol)
    return field


def save(path, U, **kw):
    """save_gauge(format='hdf5')."""
    return save_field(path, U, name=kw.pop("name", "gauge"), **kw)


def load(path, lat=None, unitarity_tol=None, name=None):
    from ..fields import GaugeField
    return load_field(path, lat, name=name, cls=GaugeField, unitarity_tol=unitarity_tol)
