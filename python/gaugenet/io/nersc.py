"""NERSC gauge files (the 'Gauge Connection' archive format, as read and written by Grid and GPT).

Layout: an ASCII header from `BEGIN_HEADER` to `END_HEADER` of `KEY = VALUE` lines, then the links
site by site in lexicographic order (x fastest, then y, z, t); per site mu = x, y, z, t; per link the
3x3 matrix row-major (`4D_SU3_GAUGE_3x3`) or its first two rows (`4D_SU3_GAUGE`, the third row is
conj(row0 x row1)); each entry real then imaginary part in the FLOATING_POINT format.
Checks on reading: header fields, file size, CHECKSUM (see checksums.py), PLAQUETTE and LINK_TRACE
(normalised to 1 on the unit field), unitarity.
"""
import os
import platform
import time

import numpy as np

from .._backend import to_host
from ..util.log import log
from .checksums import combine_word_sums, word_sum
from .common import (atomic_write, check_unitarity, check_value, comm_of, default_unitarity_tol, lattice_for,
                     tolerance)
from .errors import GaugeFileError, everywhere, on_root
from .sites import local_to_sites, read_local_sites, sites_to_local, write_local_sites

MAGIC = b"BEGIN_HEADER"
# FLOATING_POINT -> (byte order, bytes per real); None: not stated, big-endian by the NERSC
# archive's definition, but Grid and GPT treat IEEE32/IEEE64 as little-endian: the checksum decides.
FLOATING_POINT = {"IEEE32BIG": (">", 4), "IEEE32LITTLE": ("<", 4), "IEEE64BIG": (">", 8),
                  "IEEE64LITTLE": ("<", 8), "IEEE32": (None, 4), "IEEE64": (None, 8)}
DATATYPES = {"4D_SU3_GAUGE": 2, "4D_SU3_GAUGE_3x3": 3}   # stored rows per link
MAX_HEADER = 1 << 16


def read_header(path):
    """Parse and validate the header (rank 0); returns a small dict."""
    with open(path, "rb") as f:
        head = f.read(MAX_HEADER)
        size = os.fstat(f.fileno()).st_size
    if not head.startswith(MAGIC):
        raise GaugeFileError(path, "format", "does not start with BEGIN_HEADER: not a NERSC file")
    end = head.find(b"END_HEADER")
    if end < 0:
        raise GaugeFileError(path, "header", f"no END_HEADER line within the first {MAX_HEADER} bytes")
    nl = head.find(b"\n", end)
    offset = nl + 1 if nl >= 0 else len(head)
    fields = {}
    for line in head[:end].decode("ascii", errors="replace").splitlines()[1:]:
        line = line.strip()
        if not line:
            continue
        if "=" not in line:
            raise GaugeFileError(path, "header", f"line {line!r} is not of the form KEY = VALUE")
        k, v = line.split("=", 1)
        fields[k.strip()] = v.strip()

    def need(key):
        if key not in fields:
            raise GaugeFileError(path, "header", f"the header has no {key} line")
        return fields[key]

    dtype = need("DATATYPE")
    if dtype not in DATATYPES:
        raise GaugeFileError(path, "header", f"DATATYPE = {dtype!r} is not one of {', '.join(DATATYPES)}")
    fp = need("FLOATING_POINT")
    if fp not in FLOATING_POINT:
        raise GaugeFileError(path, "header", f"FLOATING_POINT = {fp!r} is not one of {', '.join(FLOATING_POINT)}")
    texts = [need(f"DIMENSION_{i + 1}") for i in range(4)]
    try:
        dims = tuple(int(t) for t in texts)
    except ValueError:
        raise GaugeFileError(path, "header", "DIMENSION_1..4 must be integers: " + ", ".join(
            f"{fields.get(f'DIMENSION_{i + 1}')!r}" for i in range(4))) from None
    if min(dims) < 1:
        raise GaugeFileError(path, "header", f"DIMENSION_1..4 = {dims} must be positive")
    text = need("CHECKSUM")
    try:
        checksum = int(text, 16)
    except ValueError:
        raise GaugeFileError(path, "header", f"CHECKSUM = {text!r} is not a hexadecimal number") from None
    for key in ("PLAQUETTE", "LINK_TRACE"):
        if key in fields:
            try:
                float(fields[key])
            except ValueError:
                raise GaugeFileError(path, "header", f"{key} = {fields[key]!r} is not a number") from None
    order, word = FLOATING_POINT[fp]
    rows = DATATYPES[dtype]
    site_bytes = 4 * rows * 3 * 2 * word
    want = int(np.prod(dims)) * site_bytes
    have = size - offset
    if have < want:
        raise GaugeFileError(path, "size", f"file is truncated: {dtype} {fp} on a {'x'.join(map(str, dims))} lattice "
                                           f"needs {want} bytes of links after the {offset}-byte header, found {have} "
                                           f"(or the header's DIMENSION, DATATYPE or FLOATING_POINT is wrong)")
    if have > want:
        raise GaugeFileError(path, "size", f"{have - want} bytes more than the {want} bytes of links that {dtype} {fp} "
                                           f"on a {'x'.join(map(str, dims))} lattice needs (wrong DIMENSION, DATATYPE "
                                           f"or FLOATING_POINT in the header?)")
    return dict(fields=fields, dims=dims, datatype=dtype, floating_point=fp, order=order, word=word, rows=rows,
                site_bytes=site_bytes, offset=offset, checksum=checksum)


def _links_from_raw(raw, lat, order, word, rows):
    f = raw.view(np.dtype(f"{order}f{word}")).reshape(lat.local_shape + (4, rows, 3, 2))
    z = f[..., 0].astype(np.float64) + 1j * f[..., 1].astype(np.float64)
    if rows == 2:
        third = np.conj(np.cross(z[..., 0, :], z[..., 1, :]))
        z = np.concatenate([z, third[..., None, :]], axis=-2)
    return np.ascontiguousarray(sites_to_local(z, 1))


def load(path, lat=None, unitarity_tol=None):
    """Read a NERSC file into a GaugeField on `lat` (every rank reads its own block)."""
    from ..fields import GaugeField
    from ..gauge import link_trace, plaquette
    path = os.fspath(path)
    comm = comm_of(lat)
    h = on_root(comm, path, lambda: read_header(path))
    lat = lattice_for(lat, h["dims"], path, "the header (DIMENSION_1..4)")
    raw = everywhere(comm, path, lambda: read_local_sites(path, h["offset"], h["site_bytes"], lat), "read")

    orders = [h["order"]] if h["order"] else [">", "<"]
    sums = [combine_word_sums(comm, word_sum(raw, o)) for o in orders]
    if h["checksum"] not in sums:
        found = ", ".join(f"{s:08x} ({'big' if o == '>' else 'little'}-endian words)" for o, s in zip(orders, sums))
        raise GaugeFileError(path, "checksum", f"header CHECKSUM = {h['checksum']:08x}, the data sum to {found} "
                                               f"(32-bit words summed modulo 2^32): the file is corrupt")
    order = orders[sums.index(h["checksum"])]
    if h["order"] is None:
        log.info(f"{path}: FLOATING_POINT = {h['floating_point']} read as "
                 f"{'big' if order == '>' else 'little'}-endian (the byte order whose checksum matches)")

    U = GaugeField(lat, _links_from_raw(raw, lat, order, h["word"], h["rows"]).astype(lat.complex_dtype))
    eps = max(np.finfo(np.float32 if h["word"] == 4 else np.float64).eps, np.finfo(lat.real_dtype).eps)
    fields = h["fields"]
    for key, fn in (("PLAQUETTE", plaquette), ("LINK_TRACE", link_trace)):
        if key in fields:
            check_value(comm, path, key.lower().replace("_", " "), fn(U), float(fields[key]),
                        tolerance(fields[key], eps), f"header {key}")
        else:
            log.warning(f"{path}: no {key} in the header; not checked")
    check_unitarity(U, path, default_unitarity_tol(h["word"], lat) if unitarity_tol is None else unitarity_tol)
    return U


def _format_header(items):
    lines = ["BEGIN_HEADER"] + [f"{k} = {v}" for k, v in items] + ["END_HEADER"]
    return ("\n".join(lines) + "\n").encode("ascii")


def save(path, U, floating_point="IEEE64BIG", datatype="4D_SU3_GAUGE_3x3", ensemble_id="gaugenet",
         ensemble_label="", sequence_number=0):
    """Write U (SU(3)) as a NERSC file; by default IEEE64BIG with full 3x3 matrices.
    Each rank converts and checksums its own block; the blocks are written in turn (no gather)."""
    from .. import __version__
    from ..gauge import link_trace, plaquette
    path = os.fspath(path)
    if U.N != 3:
        raise ValueError(f"NERSC files hold SU(3) links; this field is SU({U.N}) (use format='ildg' or 'hdf5')")
    if floating_point not in FLOATING_POINT or FLOATING_POINT[floating_point][0] is None:
        raise ValueError(f"floating_point must be one of IEEE32BIG, IEEE32LITTLE, IEEE64BIG, IEEE64LITTLE, "
                         f"got {floating_point!r}")
    if datatype not in DATATYPES:
        raise ValueError(f"datatype must be one of {', '.join(DATATYPES)}, got {datatype!r}")
    lat = U.lat
    comm = lat.cart
    order, word = FLOATING_POINT[floating_point]
    rows = DATATYPES[datatype]
    z = local_to_sites(to_host(U.data), 1)[..., :rows, :]
    raw = np.ascontiguousarray(np.stack([z.real, z.imag], axis=-1).astype(f"{order}f{word}"))
    raw = raw.reshape(lat.local_shape + (-1,)).view(np.uint8)
    checksum = combine_word_sums(comm, word_sum(raw, order))
    plaq, ltr = plaquette(U), link_trace(U)
    items = [("HDR_VERSION", "1.0"), ("DATATYPE", datatype), ("STORAGE_FORMAT", "1.0")]
    items += [(f"DIMENSION_{i + 1}", str(lat.dims[i])) for i in range(4)]
    items += [("LINK_TRACE", f"{ltr:.15f}"), ("PLAQUETTE", f"{plaq:.15f}")]
    items += [(f"BOUNDARY_{i + 1}", "PERIODIC") for i in range(4)]
    items += [("CHECKSUM", f"{checksum:08x}"), ("ENSEMBLE_ID", ensemble_id), ("ENSEMBLE_LABEL", ensemble_label),
              ("SEQUENCE_NUMBER", str(int(sequence_number))), ("CREATOR", f"gaugenet {__version__}"),
              ("CREATOR_HARDWARE", f"{platform.node()}-{platform.machine()}"),
              ("CREATION_DATE", time.strftime("%a %b %d %H:%M:%S %Y")), ("ARCHIVE_DATE", ""),
              ("FLOATING_POINT", floating_point)]
    header = _format_header(items)
    total = len(header) + lat.global_volume * raw.shape[-1]

    def create(tmp):
        with open(tmp, "wb") as f:
            f.write(header)
            f.truncate(total)

    atomic_write(comm, path, create, lambda tmp: write_local_sites(tmp, len(header), lat, raw))
    return dict(path=path, format="nersc", checksum=f"{checksum:08x}", plaquette=plaq, link_trace=ltr)
