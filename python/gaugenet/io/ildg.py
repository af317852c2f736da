"""ILDG gauge files: SciDAC LIME records holding

- `ildg-format` (XML): field (su3gauge; gaugenet writes su2gauge for SU(2)), precision 32 or 64,
  lx ly lz lt;
- `ildg-binary-data`: the links, big-endian IEEE floats, sites in lexicographic order (x fastest,
  then y, z, t), per site mu = x, y, z, t, per link the N x N matrix row-major, real then imaginary;
- `scidac-checksum` (XML suma/sumb, see checksums.py), verified when present.

Files without `ildg-format` (e.g. those of LatticeQCD.jl) are read with the dims of the lattice the
caller gives; the gauge group and precision then follow from the record length (bytes per site:
576 SU(3) 64-bit, 288 SU(3) 32-bit, 256 SU(2) 64-bit, 128 SU(2) 32-bit). Without a lattice the dims
are inferred from the record length for a hypercubic lattice, and the log says so.
"""
import os
import re
import time

import numpy as np

from .._backend import to_host
from ..util.log import log
from . import lime
from .checksums import combine_scidac, scidac_sums
from .common import (atomic_write, check_unitarity, check_value, comm_of, default_unitarity_tol, lattice_for,
                     tolerance)
from .errors import GaugeFileError, everywhere, on_root
from .sites import local_to_sites, read_local_sites, sites_to_local, write_local_sites

BINARY_TYPES = ("ildg-binary-data", "scidac-binary-data")
FIELDS = {"su3gauge": 3, "su2gauge": 2}
XML_HEAD = '<?xml version="1.0" encoding="UTF-8"?>'


def xml_value(text, tag):
    """Text of the first <tag> (any namespace prefix) in an XML string, or None."""
    m = re.search(rf"<(?:[\w.-]+:)?{tag}\b[^>]*>(.*?)</(?:[\w.-]+:)?{tag}\s*>", text, re.S)
    return m.group(1).strip() if m else None


def _site_bytes(N, word):
    return 4 * N * N * 2 * word


def _hypercubic(nbytes):
    """(L, N, word) such that an L^4 lattice of SU(N) links with `word`-byte reals has nbytes bytes."""
    out = []
    for N in (3, 2):
        for word in (8, 4):
            s = _site_bytes(N, word)
            if nbytes % s == 0:
                L = int(round((nbytes // s) ** 0.25))
                if L > 0 and L ** 4 * s == nbytes:
                    out.append((L, N, word))
    return out


def _describe(c):
    L, N, word = c
    return f"{L}^4 lattice of SU({N}) links in {8 * word}-bit precision"


def read_info(path, dims=None):
    """Records and metadata of an ILDG file (rank 0). `dims`: the caller's lattice, used when the
    file has no ildg-format record."""
    recs = lime.scan(path)
    types = [r.type for r in recs]
    ibin = next((i for i, r in enumerate(recs) if r.type in BINARY_TYPES), None)
    if ibin is None:
        raise GaugeFileError(path, "ILDG record", f"no ildg-binary-data record among the LIME records {types}")
    rbin = recs[ibin]
    fmt = next((r for r in recs if r.type == "ildg-format"), None)
    note = None
    if fmt is not None:
        x = lime.read_data(path, fmt).decode("utf-8", errors="replace")
        field = xml_value(x, "field")
        if field not in FIELDS:
            raise GaugeFileError(path, "ildg-format", f"field {field!r} is not one of {', '.join(FIELDS)}")
        N = FIELDS[field]
        try:
            prec = int(xml_value(x, "precision"))
            fdims = tuple(int(xml_value(x, t)) for t in ("lx", "ly", "lz", "lt"))
        except (TypeError, ValueError):
            raise GaugeFileError(path, "ildg-format", "precision and lx, ly, lz, lt must be integers in "
                                                      f"the ildg-format record: {x!r}") from None
        if prec not in (32, 64):
            raise GaugeFileError(path, "ildg-format", f"precision {prec} is neither 32 nor 64")
        if min(fdims) < 1:
            raise GaugeFileError(path, "ildg-format", f"lattice dims {fdims} must be positive")
        word = prec // 8
        want = int(np.prod(fdims)) * _site_bytes(N, word)
        if rbin.nbytes != want:
            raise GaugeFileError(path, "size", f"the ildg-binary-data record holds {rbin.nbytes} bytes but ildg-format "
                                               f"({field}, {prec}-bit, {'x'.join(map(str, fdims))}) needs {want}")
    else:
        hyper = _hypercubic(rbin.nbytes)
        if dims is not None:
            V = int(np.prod(dims))
            cands = [(N, w) for N in (3, 2) for w in (8, 4) if V * _site_bytes(N, w) == rbin.nbytes]
            if not cands:
                hint = (" It would fit a " + " or a ".join(_describe(c) for c in hyper) + ".") if hyper else ""
                raise GaugeFileError(path, "dimensions", f"the file has no ildg-format record and its "
                                     f"{rbin.nbytes}-byte binary record does not hold SU(2) or SU(3) links of a "
                                     f"{'x'.join(map(str, dims))} lattice in 32- or 64-bit precision.{hint}")
            N, word = cands[0]
            fdims = tuple(dims)
            note = (f"no ildg-format record: read as SU({N}), {8 * word}-bit, lattice "
                    f"{'x'.join(map(str, fdims))} (dims from the lattice given)")
        else:
            if len(hyper) != 1:
                raise GaugeFileError(path, "dimensions", f"the file has no ildg-format record; give the lattice "
                                     f"(load_gauge(path, gn.Lattice(dims))): its {rbin.nbytes}-byte binary record "
                                     + ("fits " + " and ".join(_describe(c) for c in hyper) if hyper else
                                        "fits no hypercubic lattice"))
            L, N, word = hyper[0]
            fdims = (L,) * 4
            note = (f"no ildg-format record and no lattice given: dims {fdims} inferred from the record length "
                    f"({rbin.nbytes} bytes) assuming a hypercubic lattice of SU({N}) links, {8 * word}-bit")
        prec = 8 * word
    checksum = None
    crec = next((r for r in recs[ibin + 1:] if r.type == "scidac-checksum"), None)
    if crec is not None:
        x = lime.read_data(path, crec).decode("utf-8", errors="replace")
        try:
            checksum = (int(xml_value(x, "suma"), 16), int(xml_value(x, "sumb"), 16))
        except (TypeError, ValueError):
            raise GaugeFileError(path, "scidac-checksum", f"record without hexadecimal suma/sumb: {x!r}") from None
    plaq = None
    rxml = next((r for r in recs if r.type == "scidac-record-xml"), None)
    if rxml is not None:
        plaq = xml_value(lime.read_data(path, rxml).decode("utf-8", errors="replace"), "plaquette")
    return dict(dims=fdims, N=N, word=word, precision=prec, site_bytes=_site_bytes(N, word), offset=rbin.offset,
                checksum=checksum, plaquette=plaq, note=note, records=types)


def load(path, lat=None, unitarity_tol=None):
    """Read an ILDG / SciDAC LIME gauge file into a GaugeField (every rank reads its own block)."""
    from ..fields import GaugeField
    from ..gauge import plaquette
    path = os.fspath(path)
    comm = comm_of(lat)
    h = on_root(comm, path, lambda: read_info(path, None if lat is None else lat.dims))
    if h["note"]:
        log.info(f"{path}: {h['note']}")
    lat = lattice_for(lat, h["dims"], path, "the ildg-format record")
    raw = everywhere(comm, path, lambda: read_local_sites(path, h["offset"], h["site_bytes"], lat), "read")
    if h["checksum"] is not None:
        got = combine_scidac(comm, scidac_sums(raw.reshape(lat.local_volume, -1), lat.global_index()))
        if got != h["checksum"]:
            raise GaugeFileError(path, "checksum", f"scidac-checksum record has suma {h['checksum'][0]:08x} sumb "
                                                   f"{h['checksum'][1]:08x}, the data give suma {got[0]:08x} sumb "
                                                   f"{got[1]:08x}: the file is corrupt")
    else:
        log.warning(f"{path}: no scidac-checksum record; the data cannot be verified")
    N, word = h["N"], h["word"]
    f = raw.view(np.dtype(f">f{word}")).reshape(lat.local_shape + (4, N, N, 2))
    z = f[..., 0].astype(np.float64) + 1j * f[..., 1].astype(np.float64)
    U = GaugeField(lat, np.ascontiguousarray(sites_to_local(z, 1)).astype(lat.complex_dtype))
    if h["plaquette"] is not None:
        eps = max(np.finfo(np.float32 if word == 4 else np.float64).eps, np.finfo(lat.real_dtype).eps)
        try:
            expected = float(h["plaquette"])
        except ValueError:
            raise GaugeFileError(path, "header", f"plaquette {h['plaquette']!r} in scidac-record-xml "
                                                 f"is not a number") from None
        check_value(comm, path, "plaquette", plaquette(U), expected, tolerance(h["plaquette"], eps),
                    "the scidac-record-xml record")
    check_unitarity(U, path, default_unitarity_tol(word, lat) if unitarity_tol is None else unitarity_tol)
    return U


def _xml(body):
    return (XML_HEAD + body).encode("utf-8")


def save(path, U, precision=64):
    """Write U as an ILDG file (precision 64 or 32 bits), with ildg-format, scidac-checksum and
    a record XML holding the plaquette. Each rank converts and checksums its own block; the
    blocks are written in turn (no gather)."""
    from .. import __version__
    from ..gauge import link_trace, plaquette
    path = os.fspath(path)
    if precision not in (32, 64):
        raise ValueError(f"ILDG precision must be 32 or 64, got {precision!r}")
    lat, N = U.lat, U.N
    comm = lat.cart
    word = precision // 8
    z = local_to_sites(to_host(U.data), 1)
    raw = np.ascontiguousarray(np.stack([z.real, z.imag], axis=-1).astype(f">f{word}"))
    raw = raw.reshape(lat.local_shape + (-1,)).view(np.uint8)
    suma, sumb = combine_scidac(comm, scidac_sums(raw.reshape(lat.local_volume, -1), lat.global_index()))
    plaq, ltr = plaquette(U), link_trace(U)
    Lx, Ly, Lz, Lt = lat.dims
    date = time.strftime("%a %b %d %H:%M:%S %Y")
    P = "D" if word == 8 else "F"
    nbytes = lat.global_volume * raw.shape[-1]
    messages = [
        [("scidac-private-file-xml", _xml(f"<scidacFile><version>1.1</version><spacetime>4</spacetime>"
                                          f"<dims>{Lx} {Ly} {Lz} {Lt} </dims><volfmt>0</volfmt></scidacFile>")),
         ("scidac-file-xml", _xml(f"<gaugenetFile><creator>gaugenet {__version__}</creator></gaugenetFile>"))],
        [("scidac-private-record-xml", _xml(
            f"<scidacRecord><version>1.1</version><date>{date}</date><recordtype>0</recordtype>"
            f"<datatype>QDP_{P}{N}_ColorMatrix</datatype><precision>{P}</precision><colors>{N}</colors>"
            f"<spins>4</spins><typesize>{2 * N * N * word}</typesize><datacount>4</datacount></scidacRecord>")),
         ("scidac-record-xml", _xml(
             f"<gaugenetRecord><creator>gaugenet {__version__}</creator><group>SU({N})</group>"
             f"<plaquette>{plaq:.15f}</plaquette><linkTrace>{ltr:.15f}</linkTrace></gaugenetRecord>")),
         ("ildg-format", _xml(
             '<ildgFormat xmlns="http://www.lqcd.org/ildg" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
             'xsi:schemaLocation="http://www.lqcd.org/ildg http://www.lqcd.org/ildg/filefmt.xsd">'
             f"<version>1.0</version><field>su{N}gauge</field><precision>{precision}</precision>"
             f"<lx>{Lx}</lx><ly>{Ly}</ly><lz>{Lz}</lz><lt>{Lt}</lt></ildgFormat>")),
         ("ildg-binary-data", nbytes),
         ("scidac-checksum", _xml(f"<scidacChecksum><version>1.0</version><suma>{suma:x}</suma>"
                                  f"<sumb>{sumb:x}</sumb></scidacChecksum>"))],
    ]
    offset = next(doff for _, _, doff, payload in lime.layout(messages)[0] if isinstance(payload, int))
    atomic_write(comm, path, lambda tmp: lime.write_skeleton(tmp, messages),
                 lambda tmp: write_local_sites(tmp, offset, lat, raw))
    return dict(path=path, format="ildg", suma=f"{suma:08x}", sumb=f"{sumb:08x}", plaquette=plaq, link_trace=ltr)
