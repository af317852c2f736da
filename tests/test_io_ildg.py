"""ILDG / SciDAC LIME files: LIME records, round trips (SU(3), SU(2), 64/32 bit), the SciDAC checksum
against an independent implementation, files without ildg-format, errors, and the four
LatticeQCD.jl configurations compared with their text dumps."""
import glob
import os
import re
import struct
import zlib

import numpy as np
import pytest
from conftest import COMM, grids, random_su_global

import gaugenet as gn
from gaugenet.io import GaugeFileError, lime

DIMS = (4, 4, 4, 8)
RANK = COMM.Get_rank()
JL = "/work/shared/testdata/latticeqcd_jl"
if not os.path.isdir(JL):  # the same files relative to the checkout
    JL = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "testdata", "latticeqcd_jl")


@pytest.fixture
def shared_dir(tmp_path):
    return COMM.bcast(str(tmp_path) if RANK == 0 else None, root=0)


def np_plaquette(u):
    N = u.shape[-1]
    axis = {0: 3, 1: 2, 2: 1, 3: 0}

    def fwd(a, mu):
        return np.roll(a, -1, axis=axis[mu])

    def dag(a):
        return np.conj(np.swapaxes(a, -1, -2))
    s = 0.0
    for mu in range(4):
        for nu in range(mu + 1, 4):
            p = u[mu] @ fwd(u[nu], mu) @ dag(fwd(u[mu], nu)) @ dag(u[nu])
            s += np.trace(p, axis1=-2, axis2=-1).real.sum()
    return s / (6 * u[0, ..., 0, 0].size * N)


def ref_scidac(data, site_bytes):
    """QIO's definition written out with Python integers: per site crc32, rotate left by r%29 / r%31, xor"""
    a = b = 0
    for r in range(len(data) // site_bytes):
        c = zlib.crc32(data[r * site_bytes:(r + 1) * site_bytes])
        for k, acc in ((r % 29, "a"), (r % 31, "b")):
            rot = ((c << k) | (c >> (32 - k))) & 0xFFFFFFFF
            if acc == "a":
                a ^= rot
            else:
                b ^= rot
    return a, b


def lime_records(path):
    """independent LIME parser: [(type, data bytes, MB, ME)]"""
    out, raw = [], open(path, "rb").read()
    pos = 0
    while pos < len(raw):
        magic, ver, flags, n = struct.unpack(">IHHQ", raw[pos:pos + 16])
        assert magic == 0x456789AB and ver == 1
        t = raw[pos + 16:pos + 144].rstrip(b"\0").decode()
        out.append((t, raw[pos + 144:pos + 144 + n], bool(flags & 0x8000), bool(flags & 0x4000)))
        pos += 144 + n + (-n) % 8
    assert pos == len(raw)
    return out


def bare_ildg(path, u, word=8):
    """a LIME file with only an ildg-binary-data record, as LatticeQCD.jl writes them (rank 0)"""
    if RANK == 0:
        s = np.moveaxis(u, 0, 4)
        data = np.stack([s.real, s.imag], -1).astype(f">f{word}").tobytes()
        with open(path, "wb") as f:
            f.write(struct.pack(">IHHQ", 0x456789AB, 1, 0xC000, len(data)) + b"ildg-binary-data".ljust(128, b"\0"))
            f.write(data)
    COMM.Barrier()
    return path


def test_lime_records(tmp_path):
    msgs = [[("first", b"abc"), ("second", b"x" * 8)], [("big", 21), ("last", b"<xml/>")]]
    p = str(tmp_path / "r.lime")
    reserved, total = lime.write_skeleton(p, msgs)
    assert total == os.path.getsize(p) == (144 + 8) + (144 + 8) + (144 + 24) + (144 + 8)
    raw = open(p, "rb").read()
    assert raw[:4] == bytes.fromhex("456789ab") and raw[4:6] == b"\x00\x01"
    assert raw[144 + 3:152] == b"\0" * 5          # padding to 8 bytes
    recs = lime.scan(p)
    assert [(r.type, r.nbytes, r.mb, r.me) for r in recs] == [
        ("first", 3, True, False), ("second", 8, False, True), ("big", 21, True, False), ("last", 6, False, True)]
    assert reserved == {"big": recs[2].offset} and lime.read_data(p, recs[3]) == b"<xml/>"
    assert [(t, d, mb, me) for t, d, mb, me in lime_records(p)][0] == ("first", b"abc", True, False)


@pytest.mark.mpi
@pytest.mark.parametrize("grid", grids(DIMS))
@pytest.mark.parametrize("N,prec", [(3, 64), (2, 64), (3, 32)])
def test_roundtrip(N, prec, grid, shared_dir):
    lat = gn.Lattice(DIMS, mpi=grid)
    U = gn.GaugeField.random(lat, N, seed=7)
    path = os.path.join(shared_dir, f"u{N}_{prec}.ildg")
    info = gn.io.save_gauge(path, U, format="ildg", precision=prec)
    V = gn.io.load_gauge(path, lat)
    err = np.abs(V.data - U.data).max()
    assert err == 0 if prec == 64 else err < 1e-7
    # the file, read with an independent parser
    recs = {t: (d, mb, me) for t, d, mb, me in lime_records(path)}
    fmt = recs["ildg-format"][0].decode()
    assert re.search(rf"<field>su{N}gauge</field>", fmt) and f"<precision>{prec}</precision>" in fmt
    assert [int(re.search(rf"<{k}>(\d+)</{k}>", fmt).group(1)) for k in ("lx", "ly", "lz", "lt")] == list(DIMS)
    data = recs["ildg-binary-data"][0]
    s = np.moveaxis(U.to_numpy(), 0, 4)
    assert data == np.stack([s.real, s.imag], -1).astype(f">f{prec // 8}").tobytes()
    a, b = ref_scidac(data, 4 * N * N * 2 * prec // 8)
    cs = recs["scidac-checksum"][0].decode()
    assert int(re.search(r"<suma>(\w+)</suma>", cs).group(1), 16) == a == int(info["suma"], 16)
    assert int(re.search(r"<sumb>(\w+)</sumb>", cs).group(1), 16) == b == int(info["sumb"], 16)
    assert recs["scidac-private-file-xml"][1] and recs["scidac-file-xml"][2]      # message 1: MB ... ME
    assert recs["scidac-private-record-xml"][1] and recs["scidac-checksum"][2]    # message 2: MB ... ME


@pytest.mark.mpi
def test_without_format_record(shared_dir):
    u = random_su_global(DIMS, 3, seed=8)
    path = bare_ildg(os.path.join(shared_dir, "bare.ildg"), u)
    U = gn.io.load_gauge(path, gn.Lattice(DIMS))
    assert np.abs(U.to_numpy() - u).max() < 1e-15
    u2 = random_su_global((4, 4, 4, 4), 2, seed=8)
    p2 = bare_ildg(os.path.join(shared_dir, "bare2.ildg"), u2, word=4)
    U2 = gn.io.load_gauge(p2)                  # hypercubic lattice inferred from the record length
    assert U2.lat.dims == (4, 4, 4, 4) and U2.N == 2 and np.abs(U2.to_numpy() - u2).max() < 1e-7
    with pytest.raises(GaugeFileError) as e:
        gn.io.load_gauge(p2, gn.Lattice(DIMS))
    assert e.value.check == "dimensions" and "4^4 lattice of SU(2) links in 32-bit" in str(e.value)
    with pytest.raises(GaugeFileError) as e:
        gn.io.load_gauge(path)                 # 4x4x4x8 is not hypercubic: the user must give the lattice
    assert e.value.check == "dimensions" and "give the lattice" in str(e.value)


def _edit(path, fn):
    if RANK == 0:
        raw = bytearray(open(path, "rb").read())
        raw = fn(raw)
        open(path, "wb").write(bytes(raw))
    COMM.Barrier()


def _flip_data(raw):
    i = raw.index(b"ildg-binary-data") - 16 + 144 + 1000
    raw[i] ^= 1
    return raw


def _format(raw, old, new):
    assert len(old) == len(new)
    i = raw.index(old)
    raw[i:i + len(old)] = new
    return raw


@pytest.mark.mpi
@pytest.mark.parametrize("case,check,words", [
    ("flip", "checksum", "corrupt"),
    ("truncate", "size", "truncated"),
    ("lattice", "dimensions", "(4, 4, 8, 4)"),
    ("format_dims", "size", "ildg-format"),
    ("format_prec", "size", "32-bit"),
    ("magic", "LIME record", "magic number"),
    ("plaquette", "plaquette", "scidac-record-xml"),
])
def test_errors(case, check, words, shared_dir):
    lat = gn.Lattice(DIMS)
    path = os.path.join(shared_dir, f"{case}.ildg")
    gn.io.save_gauge(path, gn.GaugeField.random(lat, 3, seed=9), format="ildg")
    edits = {"flip": _flip_data, "truncate": lambda r: r[:-300],
             "format_dims": lambda r: _format(r, b"<lt>8</lt>", b"<lt>6</lt>"),
             "format_prec": lambda r: _format(r, b"<precision>64<", b"<precision>32<"),
             "magic": _magic, "plaquette": _plaq}
    if case in edits:
        _edit(path, edits[case])
    with pytest.raises(GaugeFileError) as e:
        gn.io.load_gauge(path, gn.Lattice((4, 4, 8, 4)) if case == "lattice" else lat)
    assert e.value.check == check and path in str(e.value) and words in str(e.value), str(e.value)


def _magic(raw):
    i = raw.index(b"ildg-format") - 16       # header of the ildg-format record
    raw[i:i + 4] = b"\x12\x34\x56\x78"
    return raw


def _plaq(raw):
    m = re.search(rb"<plaquette>-?0\.", bytes(raw))
    raw[m.end() - 2] = ord("7")              # 0.xxx -> 7.xxx: same length, wrong value
    return raw


JL_PLAQUETTES = {   # measured with gaugenet and with the text dumps (test below), LatticeQCD.jl 4^4 files
    "Heatbath_L04040404_beta5.7_quenched_su3.ildg": (3, 0.5714781743564794),
    "Heatbath_L04040404_beta5.7_quenched_su2.ildg": (2, 0.47764126331268303),
    "HMC_L04040404_beta5.7_Staggered_mass0.5.ildg": (3, 0.5755840394747146),
    "HMC_L04040404_beta5.7_Wilson_kappa0.141139.ildg": (3, 0.5658002268452863),
}


@pytest.mark.mpi
@pytest.mark.parametrize("name", sorted(JL_PLAQUETTES))
def test_latticeqcd_jl_files(name, capsys):
    path = os.path.join(JL, name)
    assert sorted(os.path.basename(p) for p in glob.glob(os.path.join(JL, "*.ildg"))) == sorted(JL_PLAQUETTES)
    N, plaq_pinned = JL_PLAQUETTES[name]
    # the text dump: one real per line, in the order of the binary record (t, z, y, x, mu, row, col, re/im)
    txt = np.loadtxt(path + ".txt")
    z = (txt[0::2] + 1j * txt[1::2]).reshape(4, 4, 4, 4, 4, N, N)
    u_txt = np.moveaxis(z, 4, 0)
    p_txt = np_plaquette(u_txt)
    for grid in grids((4, 4, 4, 4)):
        lat = gn.Lattice((4, 4, 4, 4), mpi=grid)
        U = gn.io.load_gauge(path, lat)        # also checks unitarity (1e-8)
        assert U.N == N
        assert np.abs(U.to_numpy() - u_txt).max() < 1e-15
        p = gn.plaquette(U)
        assert np.isfinite(p) and abs(p - p_txt) < 1e-13 and abs(p - plaq_pinned) < 1e-12
        assert U.unitarity_violation() < 1e-9
    if RANK == 0:
        with capsys.disabled():
            print(f"\n  {name}: SU({N}) plaquette {p:.15f} (text dump {p_txt:.15f})")
