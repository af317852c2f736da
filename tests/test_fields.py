"""Fields: global <-> local round trips, reductions, reproducible random fields, gauge transformations."""
import numpy as np
import pytest
from mpi4py import MPI

import gaugenet as gn
from gaugenet.fields import CoarseField

from conftest import assert_close, grids, random_global, random_su_global

DIMS = (4, 4, 4, 8)


@pytest.mark.mpi
@pytest.mark.parametrize("grid", grids(DIMS))
def test_from_to_numpy_round_trip(grid):
    lat = gn.Lattice(DIMS, mpi=grid)
    gs = lat.global_shape
    cases = [
        (gn.GaugeField, random_su_global(DIMS, 3, 1)),
        (gn.GaugeField, random_su_global(DIMS, 2, 2)),
        (gn.FermionField, random_global(gs + (4, 3), 3)),
        (gn.FermionField, random_global(gs + (5, 4, 2), 4)),
        (gn.StaggeredField, random_global(gs + (3,), 5)),
        (CoarseField, random_global(gs + (12,), 6)),
    ]
    for cls, a in cases:
        f = cls.from_numpy(lat, a)
        assert f.data.shape[len(f.lead_shape):len(f.lead_shape) + 4] == lat.local_shape
        assert np.array_equal(f.to_numpy(), a)
        g = f.gather(root=0)
        if lat.rank == 0:
            assert np.array_equal(g, a)
        else:
            assert g is None


@pytest.mark.mpi
@pytest.mark.parametrize("grid", grids(DIMS))
def test_reductions_one_allreduce(grid):
    lat = gn.Lattice(DIMS, mpi=grid)
    a = random_global(lat.global_shape + (4, 3), 7)
    b = random_global(lat.global_shape + (4, 3), 8)
    fa, fb = gn.FermionField.from_numpy(lat, a), gn.FermionField.from_numpy(lat, b)
    assert_close(fa.inner(fb), np.vdot(a, b), 1e-12, "inner")
    assert_close(fa.norm2(), np.vdot(a, a).real, 1e-12, "norm2")
    assert_close(fa.sum(), a.sum(axis=(0, 1, 2, 3)), 1e-12, "sum")


@pytest.mark.mpi
@pytest.mark.parametrize("grid", grids(DIMS))
def test_random_fields_independent_of_grid(grid):
    lat = gn.Lattice(DIMS, mpi=grid)
    ref_lat = gn.Lattice(DIMS, comm=MPI.COMM_SELF)
    for make in (lambda L: gn.FermionField.random(L, 3, seed=5),
                 lambda L: gn.GaugeField.random(L, 3, seed=6),
                 lambda L: gn.StaggeredField.random(L, 2, nvec=2, seed=7)):
        assert np.array_equal(make(lat).to_numpy(), make(ref_lat).to_numpy())


@pytest.mark.mpi
def test_random_gauge_field_is_su_n_and_gaussian_statistics():
    lat = gn.Lattice(DIMS)
    for N in (2, 3):
        U = gn.GaugeField.random(lat, N, seed=9)
        assert U.unitarity_violation() < 1e-13
    f = gn.FermionField.random(lat, 3, seed=10)
    n = lat.global_volume * 12
    mean_abs2 = f.norm2() / n
    assert abs(mean_abs2 - 1.0) < 5.0 / np.sqrt(n), mean_abs2  # <|z|^2> = 1


@pytest.mark.mpi
def test_non_unitary_links_rejected_on_every_rank():
    lat = gn.Lattice(DIMS)
    u = random_su_global(DIMS, 3, 3)
    u[2, 1, 0, 1, 2] *= 1.01
    with pytest.raises(gn.NonUnitaryLinksError, match="not SU\\(3\\)"):
        gn.GaugeField.from_numpy(lat, u, check_unitary=1e-10)
    u[2, 1, 0, 1, 2] = np.nan
    with pytest.raises(gn.NonUnitaryLinksError):
        gn.GaugeField.from_numpy(lat, u, check_unitary=1e-10)


def test_wrong_global_shape_is_named():
    lat = gn.Lattice(DIMS, comm=MPI.COMM_SELF)
    with pytest.raises(ValueError, match="does not match lattice"):
        gn.FermionField.from_numpy(lat, np.zeros((8, 4, 4, 2, 4, 3)))
    with pytest.raises(ValueError, match="spin axis"):
        gn.FermionField(lat, np.zeros(lat.local_shape + (3, 3), dtype=complex))


@pytest.mark.mpi
def test_gauge_transformation_preserves_plaquette():
    lat = gn.Lattice(DIMS)
    U = gn.GaugeField.random(lat, 3, seed=21)
    om = gn.ColorMatrixField.random_su(lat, 3, seed=22)
    Ut = U.transform(om)
    assert abs(gn.plaquette(Ut) - gn.plaquette(U)) < 1e-13
    # check the definition on the gathered arrays: U'_mu(x) = Om(x) U_mu(x) Om(x+mu)^dag
    u, o, ut = U.to_numpy(), om.to_numpy(), Ut.to_numpy()
    for mu in range(4):
        of = np.roll(o, -1, axis=3 - mu)
        assert_close(ut[mu], o @ u[mu] @ np.conj(np.swapaxes(of, -1, -2)), 1e-13, f"transform mu={mu}")


@pytest.mark.mpi
@pytest.mark.parametrize("grid", grids(DIMS))
def test_from_root_scatters_without_global_copies(grid):
    lat = gn.Lattice(DIMS, mpi=grid)
    a = random_su_global(DIMS, 3, 71)
    U = gn.GaugeField.from_root(lat, a if lat.rank == 0 else None)
    assert np.array_equal(U.to_numpy(), a)
    f = random_global(lat.global_shape + (2, 4, 3), 72)
    F = gn.FermionField.from_root(lat, f if lat.rank == 0 else None)
    assert np.array_equal(F.to_numpy(), f) and F.nvec == 2
    with pytest.raises(ValueError, match="does not match lattice"):
        gn.FermionField.from_root(lat, np.zeros((2, 2, 2, 2, 4, 3)) if lat.rank == 0 else None)
