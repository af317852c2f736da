"""gaugenet's HDF5 format: round trips of gauge and fermion fields under any process grid, the
metadata attributes, the checksum against an independent implementation, writing without gathering
the lattice, and clear collective errors."""
import os
import zlib

import h5py
import numpy as np
import pytest
from conftest import COMM, grids

import gaugenet as gn
from gaugenet.io import GaugeFileError

DIMS = (4, 4, 4, 8)
RANK = COMM.Get_rank()


@pytest.fixture
def shared_dir(tmp_path):
    return COMM.bcast(str(tmp_path) if RANK == 0 else None, root=0)


def ref_checksum(global_array, lead):
    """per site (x fastest) crc32 of the little-endian values of the site, lead axes first;
    rotated by r % 29 and r % 31, xor (Python integers)"""
    a = np.moveaxis(global_array, tuple(range(lead)), tuple(range(4, 4 + lead))) if lead else global_array
    sites = np.ascontiguousarray(a).reshape(int(np.prod(a.shape[:4])), -1)
    sa = sb = 0
    for r, row in enumerate(sites):
        c = zlib.crc32(row.tobytes())
        sa ^= ((c << (r % 29)) | (c >> (32 - r % 29))) & 0xFFFFFFFF
        sb ^= ((c << (r % 31)) | (c >> (32 - r % 31))) & 0xFFFFFFFF
    return sa, sb


def _attrs(path, name):
    with h5py.File(path, "r") as f:
        return {k: f[name].attrs[k] for k in f[name].attrs}, f[name][...], dict(f.attrs)


@pytest.mark.mpi
@pytest.mark.parametrize("grid", grids(DIMS))
def test_gauge_roundtrip_and_attributes(grid, shared_dir):
    lat = gn.Lattice(DIMS, mpi=grid)
    U = gn.GaugeField.random(lat, 3, seed=21)
    path = os.path.join(shared_dir, "u.h5")
    gn.io.save_gauge(path, U)
    V = gn.io.load_gauge(path, lat)
    assert np.array_equal(V.data, U.data)
    u = U.to_numpy()
    plaq, ltr = gn.plaquette(U), gn.link_trace(U)
    if RANK == 0:
        a, data, root = _attrs(path, "gauge")
        assert np.array_equal(data, u) and data.dtype == np.dtype("<c16")
        assert tuple(a["dims"]) == DIMS and a["group"] == "SU(3)" and a["precision"] == "double"
        assert a["field_class"] == "GaugeField" and a["layout"] == "[mu,t,z,y,x,a,b]"
        assert a["creator"].startswith("gaugenet") and a["format_version"] == 1 == root["format_version"]
        assert abs(a["plaquette"] - plaq) < 1e-14 and abs(a["link_trace"] - ltr) < 1e-14
        assert (int(a["checksum_suma"]), int(a["checksum_sumb"])) == ref_checksum(u, 1)


@pytest.mark.mpi
@pytest.mark.parametrize("grid", grids(DIMS))
def test_fields_roundtrip(grid, shared_dir):
    lat = gn.Lattice(DIMS, mpi=grid)
    fields = {"psi": gn.FermionField.random(lat, 3, seed=1), "psis": gn.FermionField.random(lat, 3, nvec=3, seed=2),
              "chi": gn.StaggeredField.random(lat, 2, seed=3), "c": gn.CoarseField.random(lat, 12, seed=4),
              "om": gn.ColorMatrixField.random_su(lat, 3, seed=5), "w": gn.SpinMatrixField.random(lat, 4, 4, seed=6),
              "u2": gn.GaugeField.random(lat, 2, seed=7)}
    path = os.path.join(shared_dir, "fields.h5")
    for i, (name, f) in enumerate(fields.items()):
        gn.io.save_field(path, f, name=name, mode="w" if i == 0 else "a", metadata={"note": f"field {name}"})
    for name, f in fields.items():
        g = gn.io.load_field(path, lat, name=name)
        assert type(g) is type(f) and np.array_equal(g.data, f.data)
    g = gn.io.load_field(path, lat, name="psis", cls=gn.FermionField)
    assert g.nvec == 3
    a = COMM.bcast(_attrs(path, "psis")[0] if RANK == 0 else None)
    assert a["layout"] == "[t,z,y,x,vec,spin,colour]" and a["note"] == "field psis" and a["group"] == "SU(3)"
    assert (int(a["checksum_suma"]), int(a["checksum_sumb"])) == ref_checksum(fields["psis"].to_numpy(), 0)
    assert gn.io.load_gauge(path, lat, name="u2").N == 2
    with pytest.raises(GaugeFileError) as e:
        gn.io.load_field(path, lat, name="psi", cls=gn.StaggeredField)
    assert e.value.check == "field class"


@pytest.mark.mpi
def test_written_without_gathering(shared_dir, monkeypatch):
    lat = gn.Lattice(DIMS)
    psi = gn.FermionField.random(lat, 3, seed=9)
    U = gn.GaugeField.random(lat, 3, seed=9)

    def forbidden(*a, **k):
        raise AssertionError("the lattice was gathered")
    monkeypatch.setattr(gn.Lattice, "gather_global", forbidden)
    monkeypatch.setattr(gn.Field, "to_numpy", forbidden)
    monkeypatch.setattr(gn.Field, "gather", forbidden)
    path = os.path.join(shared_dir, "ng.h5")
    gn.io.save_field(path, psi)
    gn.io.save_gauge(path, U, mode="a")
    for fmt in ("nersc", "ildg"):
        gn.io.save_gauge(path + "." + fmt, U, format=fmt)
        assert np.array_equal(gn.io.load_gauge(path + "." + fmt, lat).data, U.data)
    assert np.array_equal(gn.io.load_field(path, lat, name="fermion").data, psi.data)
    assert np.array_equal(gn.io.load_gauge(path, lat).data, U.data)


@pytest.mark.mpi
def test_precisions(shared_dir):
    lat_s = gn.Lattice(DIMS, precision="single")
    U = gn.GaugeField.random(lat_s, 3, seed=12)
    path = os.path.join(shared_dir, "s.h5")
    gn.io.save_gauge(path, U)
    V = gn.io.load_gauge(path, lat_s)
    assert V.data.dtype == np.complex64 and np.array_equal(V.data, U.data)
    lat = gn.Lattice(DIMS)
    W = gn.GaugeField.random(lat, 3, seed=12)
    gn.io.save_gauge(path, W, precision="single")
    assert np.abs(gn.io.load_gauge(path, lat).data - W.data).max() < 1e-7


def _h5edit(path, fn):
    if RANK == 0:
        with h5py.File(path, "r+") as f:
            fn(f)
    COMM.Barrier()


def _set(d, **kw):
    for k, v in kw.items():
        d.attrs[k] = v


def _poke(f):
    x = f["gauge"][1, 2, 3, 0, 1]
    x[0, 0] += 1e-9
    f["gauge"][1, 2, 3, 0, 1] = x


@pytest.mark.mpi
@pytest.mark.parametrize("case,check,words", [
    ("poke", "checksum", "corrupt"),
    ("dims_attr", "dimensions", "dataset shape"),
    ("lattice", "dimensions", "(4, 4, 8, 4)"),
    ("plaquette", "plaquette", "plaquette attribute"),
    ("precision", "header", "precision"),
    ("truncate", "open", "truncated"),
    ("not_gaugenet", "format", "not a gaugenet HDF5 file"),
])
def test_errors(case, check, words, shared_dir):
    lat = gn.Lattice(DIMS)
    path = os.path.join(shared_dir, f"{case}.h5")
    gn.io.save_gauge(path, gn.GaugeField.random(lat, 3, seed=13))
    if case == "poke":
        _h5edit(path, _poke)
    elif case == "dims_attr":
        _h5edit(path, lambda f: _set(f["gauge"], dims=np.array([4, 4, 8, 4])))
    elif case == "plaquette":
        _h5edit(path, lambda f: _set(f["gauge"], plaquette=0.5))
    elif case == "precision":
        _h5edit(path, lambda f: _set(f["gauge"], precision="single"))
    elif case == "not_gaugenet":
        _h5edit(path, lambda f: f.attrs.__delitem__("gaugenet_format"))
    elif case == "truncate" and RANK == 0:
        with open(path, "r+b") as fh:
            fh.truncate(os.path.getsize(path) // 2)
    COMM.Barrier()
    with pytest.raises(GaugeFileError) as e:
        gn.io.load_gauge(path, gn.Lattice((4, 4, 8, 4)) if case == "lattice" else lat)
    assert e.value.check == check and path in str(e.value) and words in str(e.value), str(e.value)


@pytest.mark.mpi
def test_format_detection(shared_dir):
    lat = gn.Lattice(DIMS)
    U = gn.GaugeField.random(lat, 3, seed=14)
    for fmt in ("hdf5", "nersc", "ildg"):
        path = os.path.join(shared_dir, "conf")            # no telling suffix
        gn.io.save_gauge(path, U, format=fmt)
        assert gn.io.detect(path, lat.cart) == fmt
        assert np.array_equal(gn.io.load_gauge(path, lat).data, U.data)


@pytest.mark.mpi
@pytest.mark.parametrize("fmt", ["hdf5", "nersc", "ildg"])
def test_write_error_is_collective(fmt, shared_dir):
    lat = gn.Lattice(DIMS)
    path = os.path.join(shared_dir, "no_such_dir", "u")
    with pytest.raises(GaugeFileError) as e:
        gn.io.save_gauge(path, gn.GaugeField.unit(lat, 3), format=fmt)
    assert e.value.check == "write" and "No such file or directory" in str(e.value)
    assert not os.path.exists(os.path.dirname(path))
