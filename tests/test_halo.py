"""Halo exchange of depth 1 and 2 for every field type, checked against numpy.roll of the gathered field."""
import numpy as np
import pytest

import gaugenet as gn
from gaugenet.fields import ColorMatrixField, CoarseField, SpinMatrixField

from conftest import grids

DIMS = (4, 4, 4, 8)


def _fields(lat):
    return {
        "gauge3": gn.GaugeField.random(lat, 3, seed=11),
        "gauge2": gn.GaugeField.random(lat, 2, seed=12),
        "fermion": gn.FermionField.random(lat, 3, seed=13),
        "fermion_batch": gn.FermionField.random(lat, 2, nvec=3, seed=14),
        "staggered": gn.StaggeredField.random(lat, 3, seed=15),
        "coarse": CoarseField.random(lat, 12, seed=16),
        "spin_matrix": SpinMatrixField.random(lat, 4, 4, seed=17),
        "color_matrix": ColorMatrixField.random_su(lat, 3, seed=18),
    }


@pytest.mark.mpi
@pytest.mark.parametrize("grid", grids(DIMS))
@pytest.mark.parametrize("precision", ["double", "single"])
def test_halo_matches_roll(grid, precision):
    lat = gn.Lattice(DIMS, mpi=grid, precision=precision)
    for name, f in _fields(lat).items():
        lead = len(f.lead_shape)
        glob = f.to_numpy()
        for depth in (1, 2):
            if any(lat.grid[m] > 1 and lat.local_dims[m] < 2 * depth for m in range(4)):
                continue
            h = lat.halo(depth)
            for mu in range(4):
                for s in (depth, -depth):
                    # f(x + s mu): roll by -s along the axis of direction mu (axes t, z, y, x)
                    ref = lat.scatter_global(np.roll(glob, -s, axis=lead + 3 - mu), lead=lead)
                    if lead:
                        got = np.stack([h.shift(np.ascontiguousarray(f.sites()[m]), mu, s) for m in range(4)])
                    else:
                        got = h.shift(f.sites(), mu, s)
                    assert np.array_equal(got.reshape(ref.shape), ref), f"{name} depth {depth} mu {mu} shift {s}"


@pytest.mark.mpi
def test_halo_contents_and_message_count():
    lat = gn.Lattice(DIMS)
    h = lat.halo(1)
    split = [mu for mu in range(4) if lat.grid[mu] > 1]
    assert len(h.faces) == 2 * len(split)
    assert h.Vh == sum(2 * lat.local_volume // lat.local_dims[mu] for mu in split)
    f = gn.FermionField.random(lat, 3, seed=3)
    before = h.messages_sent
    halo = h.exchange(f.sites())
    assert h.messages_sent - before == len(h.faces)
    # every halo site holds the value of the global field at its coordinate
    glob = f.to_numpy()
    c = lat.global_coordinates()
    for k in range(8):
        mu, s = k // 2, (1 if k % 2 == 0 else -1)
        sel = h.nbr[:, k] >= lat.local_volume
        cc = c[sel].copy()
        cc[:, mu] = (cc[:, mu] + s) % lat.dims[mu]
        ref = glob[cc[:, 3], cc[:, 2], cc[:, 1], cc[:, 0]]
        assert np.array_equal(halo[h.nbr[sel, k] - lat.local_volume], ref)
    # interior/boundary split covers all sites once
    both = np.sort(np.concatenate([h.interior, h.boundary]))
    assert np.array_equal(both, np.arange(lat.local_volume))


@pytest.mark.mpi
def test_depth_two_needs_local_extent_four():
    if gn.Lattice(DIMS).size == 1:
        pytest.skip("needs a split direction")
    lat = gn.Lattice((4, 4, 4, 4 * gn.Lattice(DIMS).size // 2), mpi=(1, 1, 1, gn.Lattice(DIMS).size))
    if lat.local_dims[3] >= 4:
        pytest.skip("local extent large enough")
    with pytest.raises(ValueError, match="too small for a halo of depth 2"):
        lat.halo(2)
