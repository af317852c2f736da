"""SciDAC LIME container (the record format of ILDG and QIO files).

A file is a sequence of records; each record is a 144-byte big-endian header
    uint32 magic 0x456789ab | uint16 version (1) | uint16 flags (0x8000 MB = message begin,
    0x4000 ME = message end) | uint64 data length | char type[128] (NUL-padded)
followed by the data, padded with zeros to a multiple of 8 bytes. Records are grouped into
messages: the first record of a message has MB set, the last has ME set.
"""
import os
import struct
from dataclasses import dataclass

from .errors import GaugeFileError

MAGIC = 0x456789AB
VERSION = 1
HEADER_BYTES = 144
FLAG_MB = 0x8000
FLAG_ME = 0x4000
_HEAD = struct.Struct(">IHHQ128s")
assert _HEAD.size == HEADER_BYTES


@dataclass
class LimeRecord:
    type: str
    offset: int      # file offset of the data
    nbytes: int      # data length (without padding)
    mb: bool
    me: bool


def padding(n):
    return (-n) % 8


def pack_header(rtype, nbytes, mb, me):
    name = rtype.encode("ascii")
    if len(name) > 127:
        raise ValueError(f"LIME record type {rtype!r} is longer than 127 bytes")
    flags = (FLAG_MB if mb else 0) | (FLAG_ME if me else 0)
    return _HEAD.pack(MAGIC, VERSION, flags, nbytes, name)


def is_lime(head):
    return len(head) >= 4 and struct.unpack(">I", head[:4])[0] == MAGIC


def scan(path):
    """All records of a LIME file (headers only); GaugeFileError on a bad magic number or truncation."""
    records = []
    size = os.path.getsize(path)
    pos = 0
    with open(path, "rb") as f:
        while pos < size:
            f.seek(pos)
            head = f.read(HEADER_BYTES)
            n = len(records)
            if len(head) < HEADER_BYTES:
                if not records or head.strip(b"\0"):
                    raise GaugeFileError(path, "LIME record", f"file is truncated: record {n} at byte {pos} has only "
                                                              f"{len(head)} of its {HEADER_BYTES} header bytes")
                break
            magic, version, flags, nbytes, name = _HEAD.unpack(head)
            if magic != MAGIC:
                raise GaugeFileError(path, "LIME record", f"record {n} at byte {pos} has magic number {magic:#010x}, "
                                                          f"expected {MAGIC:#010x} (not a LIME file, or corrupt)")
            if version != VERSION:
                raise GaugeFileError(path, "LIME record", f"record {n} at byte {pos} has LIME version {version}, "
                                                          f"expected {VERSION}")
            rtype = name.split(b"\0", 1)[0].decode("ascii", errors="replace")
            start = pos + HEADER_BYTES
            if start + nbytes > size:
                raise GaugeFileError(path, "size", f"file is truncated: LIME record {n} ({rtype!r}) declares "
                                                   f"{nbytes} bytes of data from byte {start}, the file ends at {size}")
            records.append(LimeRecord(rtype, start, nbytes, bool(flags & FLAG_MB), bool(flags & FLAG_ME)))
            pos = start + nbytes + padding(nbytes)
    if not records:
        raise GaugeFileError(path, "LIME record", "the file holds no LIME record")
    return records


def read_data(path, rec):
    with open(path, "rb") as f:
        f.seek(rec.offset)
        return f.read(rec.nbytes)


def layout(messages):
    """File layout of messages = [[(type, payload bytes or a byte count), ...], ...]:
    a list of (header bytes, header offset, data offset, payload or count)."""
    out, pos = [], 0
    for msg in messages:
        for i, (rtype, payload) in enumerate(msg):
            n = payload if isinstance(payload, int) else len(payload)
            out.append((pack_header(rtype, n, i == 0, i == len(msg) - 1), pos, pos + HEADER_BYTES, payload))
            pos += HEADER_BYTES + n + padding(n)
    return out, pos


def write_skeleton(path, messages):
    """Write all headers and the byte payloads; records given by a byte count are left zero-filled
    for the caller to fill. Returns {type: data offset} of those records and the file size."""
    recs, total = layout(messages)
    reserved = {}
    with open(path, "wb") as f:
        for head, hoff, doff, payload in recs:
            f.seek(hoff)
            f.write(head)
            if isinstance(payload, int):
                reserved[head[16:].split(b"\0", 1)[0].decode("ascii")] = doff
            else:
                f.write(payload)
        f.truncate(total)
    return reserved, total
