"""Checksums of lattice data, computed in parts by the ranks and combined collectively.

- NERSC: the sum modulo 2^32 of all 32-bit words of the binary data, the words taken as
  unsigned integers in the byte order the header states (for 64-bit data each double counts as
  its two 32-bit halves; their order does not matter for a sum). This is what Grid and GPT
  compute after converting the file's words to host order; for 3x2 files it covers the stored
  two rows, not the reconstructed third row.
- SciDAC (QIO, Grid, GPT): for every site with global lexicographic index r = x + Lx(y + Ly(z + Lz t))
  take c = CRC-32 (zlib) of that site's bytes exactly as stored in the file (all directions of the
  site), rotate c left by r mod 29 and, separately, by r mod 31 (32-bit rotations; a rotation by 0
  leaves c), and XOR over all sites: suma, sumb.
"""
import zlib

import numpy as np

_MASK = 0xFFFFFFFF


def word_sum(raw, byteorder):
    """Partial NERSC sum of the 32-bit words of `raw` (bytes-like or uint8 array) in `byteorder` ('>' or '<')."""
    w = np.frombuffer(np.ascontiguousarray(raw).reshape(-1), dtype=np.dtype(byteorder + "u4"))
    return int(w.sum(dtype=np.uint64)) & _MASK


def combine_word_sums(comm, part):
    return sum(comm.allgather(int(part))) & _MASK


def site_crcs(raw):
    """CRC-32 of each row of a (V, site_bytes) uint8 array."""
    raw = np.ascontiguousarray(raw)
    V = raw.shape[0]
    s = int(np.prod(raw.shape[1:])) if raw.ndim > 1 else 0
    mv = memoryview(raw.reshape(-1))
    return np.fromiter((zlib.crc32(mv[i * s:(i + 1) * s]) for i in range(V)), dtype=np.uint64, count=V)


def _rotl(c, k):
    k = k.astype(np.uint64)
    return ((c << k) | (c >> (np.uint64(32) - k))) & np.uint64(_MASK)


def scidac_sums(raw, global_index):
    """Partial (suma, sumb) of the sites in `raw` (V, site_bytes) with the given global indices."""
    c = site_crcs(raw)
    if c.size == 0:
        return 0, 0
    g = np.asarray(global_index, dtype=np.int64)
    a = np.bitwise_xor.reduce(_rotl(c, g % 29))
    b = np.bitwise_xor.reduce(_rotl(c, g % 31))
    return int(a), int(b)


def combine_scidac(comm, part):
    a = b = 0
    for pa, pb in comm.allgather((int(part[0]), int(part[1]))):
        a ^= pa
        b ^= pb
    return a, b
