"""NERSC gauge files: round trip, all FLOATING_POINT / DATATYPE variants written by an independent
numpy writer (checksum from the values' bit patterns), header checks and clear collective errors."""
import os

import numpy as np
import pytest
from conftest import COMM, grids, random_su_global

import gaugenet as gn
from gaugenet.io import GaugeFileError

DIMS = (4, 4, 4, 8)
RANK = COMM.Get_rank()


@pytest.fixture
def shared_dir(tmp_path):
    """rank 0's tmp_path, the same directory on every rank"""
    return COMM.bcast(str(tmp_path) if RANK == 0 else None, root=0)


def np_plaquette(u):
    """independent plaquette of a global [mu, t, z, y, x, N, N] array (numpy rolls)"""
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


def np_link_trace(u):
    return np.trace(u, axis1=-2, axis2=-1).real.mean() / u.shape[-1]


def value_checksum(vals, word):
    """sum of the 32-bit halves of the values' bit patterns (independent of any byte order)"""
    if word == 8:
        bits = np.asarray(vals, dtype=np.float64).view(np.uint64).astype(object)
        return int(sum(int(b) >> 32 for b in bits) + sum(int(b) & 0xFFFFFFFF for b in bits)) & 0xFFFFFFFF
    bits = np.asarray(vals, dtype=np.float32).view(np.uint32)
    return int(bits.astype(np.uint64).sum()) & 0xFFFFFFFF


FP = {"IEEE64BIG": (">", 8), "IEEE64LITTLE": ("<", 8), "IEEE32BIG": (">", 4), "IEEE32LITTLE": ("<", 4),
      "IEEE64": (">", 8), "IEEE32": (">", 4)}


def write_nersc(path, u, fp="IEEE64BIG", rows=3, order=None, **override):
    """independent NERSC writer (rank 0 only): site order t, z, y, x (x fastest), mu, row, column"""
    o, word = FP[fp]
    o = order or o
    s = np.moveaxis(u, 0, 4)[..., :rows, :]
    vals = np.stack([s.real, s.imag], axis=-1).astype(np.float64 if word == 8 else np.float32).ravel()
    Lt, Lz, Ly, Lx = u.shape[1:5]
    h = {"HDR_VERSION": "1.0", "DATATYPE": "4D_SU3_GAUGE_3x3" if rows == 3 else "4D_SU3_GAUGE",
         "STORAGE_FORMAT": "1.0", "DIMENSION_1": Lx, "DIMENSION_2": Ly, "DIMENSION_3": Lz, "DIMENSION_4": Lt,
         "LINK_TRACE": f"{np_link_trace(u):.10f}", "PLAQUETTE": f"{np_plaquette(u):.10f}",
         "CHECKSUM": f"{value_checksum(vals, word):X}", "FLOATING_POINT": fp}
    h.update(override)
    text = "BEGIN_HEADER\n" + "".join(f" {k} = {v}\n" for k, v in h.items() if v is not None) + "END_HEADER\n"
    with open(path, "wb") as f:
        f.write(text.encode())
        f.write(vals.astype(f"{o}f{word}").tobytes())


def written(path, u, **kw):
    if RANK == 0:
        write_nersc(path, u, **kw)
    COMM.Barrier()
    return path


@pytest.mark.mpi
@pytest.mark.parametrize("grid", grids(DIMS))
def test_roundtrip_and_header(grid, shared_dir):
    lat = gn.Lattice(DIMS, mpi=grid)
    U = gn.GaugeField.random(lat, 3, seed=11)
    path = os.path.join(shared_dir, "u.nersc")
    info = gn.io.save_gauge(path, U, format="nersc")
    V = gn.io.load_gauge(path, lat)
    assert np.array_equal(V.data, U.data)
    # the header, checked against independent computations on the global field
    u = U.to_numpy()
    with open(path, "rb") as f:
        content = f.read()
    end = content.index(b"END_HEADER\n") + len(b"END_HEADER\n")
    h = dict(line.split(" = ", 1) for line in content[:end].decode().splitlines()[1:-1])
    assert h["DATATYPE"] == "4D_SU3_GAUGE_3x3" and h["FLOATING_POINT"] == "IEEE64BIG"
    assert [int(h[f"DIMENSION_{i}"]) for i in (1, 2, 3, 4)] == list(DIMS)
    data = content[end:]
    assert len(data) == np.prod(DIMS) * 4 * 9 * 16
    vals = np.frombuffer(data, dtype=">f8")
    s = np.moveaxis(u, 0, 4)
    assert np.array_equal(vals, np.stack([s.real, s.imag], -1).ravel())
    assert int(h["CHECKSUM"], 16) == value_checksum(vals, 8) == int(info["checksum"], 16)
    assert abs(float(h["PLAQUETTE"]) - np_plaquette(u)) < 1e-14
    assert abs(float(h["LINK_TRACE"]) - np_link_trace(u)) < 1e-14


@pytest.mark.mpi
@pytest.mark.parametrize("rows", [3, 2])
@pytest.mark.parametrize("fp", list(FP))
def test_read_variants(fp, rows, shared_dir):
    u = random_su_global(DIMS, 3, seed=3)
    path = written(os.path.join(shared_dir, f"{fp}_{rows}.nersc"), u, fp=fp, rows=rows)
    lat = gn.Lattice(DIMS)
    U = gn.io.load_gauge(path, lat)
    tol = 1e-14 if FP[fp][1] == 8 else 3e-7
    assert np.abs(U.to_numpy() - u).max() < tol


@pytest.mark.mpi
def test_unlabelled_byte_order_follows_checksum(shared_dir):
    """IEEE64 without BIG/LITTLE: big-endian per the NERSC archive, little-endian as Grid and GPT write it"""
    u = random_su_global(DIMS, 3, seed=4)
    path = written(os.path.join(shared_dir, "le.nersc"), u, fp="IEEE64", order="<")
    assert np.abs(gn.io.load_gauge(path, gn.Lattice(DIMS)).to_numpy() - u).max() < 1e-14


@pytest.mark.mpi
def test_dims_from_header_without_lattice(shared_dir):
    u = random_su_global(DIMS, 3, seed=5)
    path = written(os.path.join(shared_dir, "u.nersc"), u)
    U = gn.io.load_gauge(path)
    assert U.lat.dims == DIMS and np.abs(U.to_numpy() - u).max() < 1e-14


def _damage(path, how):
    if RANK == 0:
        with open(path, "r+b") as f:
            if how == "flip":
                f.seek(-100, 2)
                b = f.read(1)
                f.seek(-100, 2)
                f.write(bytes([b[0] ^ 0x10]))
            elif how == "truncate":
                f.truncate(os.path.getsize(path) - 576)
    COMM.Barrier()


@pytest.mark.mpi
@pytest.mark.parametrize("case,check,words", [
    ("flip", "checksum", "corrupt"),
    ("truncate", "size", "truncated"),
    ("lattice", "dimensions", "(4, 4, 8, 4)"),
    ("plaquette", "plaquette", "PLAQUETTE"),
    ("link_trace", "link trace", "LINK_TRACE"),
    ("floating", "header", "IEEE48BIG"),
    ("datatype", "header", "4D_SU2_GAUGE"),
    ("no_checksum", "header", "CHECKSUM"),
    ("dims_header", "size", "DIMENSION"),
    ("not_su3", "unitarity", "not SU(3)"),
])
def test_errors(case, check, words, shared_dir):
    u = random_su_global(DIMS, 3, seed=6)
    path = os.path.join(shared_dir, f"{case}.nersc")
    over = {"plaquette": {"PLAQUETTE": "0.1234567890"}, "link_trace": {"LINK_TRACE": "0.0123456789"},
            "floating": {"FLOATING_POINT": "IEEE48BIG"}, "datatype": {"DATATYPE": "4D_SU2_GAUGE"},
            "no_checksum": {"CHECKSUM": None}, "dims_header": {"DIMENSION_4": 16},
            "not_su3": {"PLAQUETTE": None, "LINK_TRACE": None}}.get(case, {})
    if case == "not_su3":
        u = u * 1.01
    written(path, u, **over)
    _damage(path, {"flip": "flip", "truncate": "truncate"}.get(case))
    lat = gn.Lattice((4, 4, 8, 4) if case == "lattice" else DIMS)
    with pytest.raises(GaugeFileError) as e:
        gn.io.load_gauge(path, lat)
    assert e.value.check == check and e.value.collective
    assert path in str(e.value) and words in str(e.value), str(e.value)


def test_unknown_format(tmp_path):
    p = tmp_path / "x.dat"
    p.write_bytes(b"GARBAGE" * 20)
    with pytest.raises(GaugeFileError, match="unknown file format"):
        gn.io.load_gauge(str(p), gn.Lattice(DIMS, comm=COMM.Split(COMM.Get_rank(), 0)))


def test_su2_is_refused(tmp_path):
    lat = gn.Lattice((4, 4, 4, 4), comm=COMM.Split(COMM.Get_rank(), 0))
    with pytest.raises(ValueError, match="SU\\(3\\)"):
        gn.io.save_gauge(str(tmp_path / "u.nersc"), gn.GaugeField.unit(lat, 2), format="nersc")
