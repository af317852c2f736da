"""Every operator gives the same result on every process grid: the distributed result (gathered)
equals a single-rank computation on the gathered fields (an MPI.COMM_SELF lattice built on every
rank) to 1e-12 in double and to single precision in single; zero-boundary-link mode equals one rank
with the crossing links zeroed."""
import numpy as np
import pytest
from mpi4py import MPI

import gaugenet as gn
from conftest import assert_close, grids, random_global, random_su_global

DIMS = (4, 4, 4, 8)
THETA = (0.0, 0.0, 0.5, np.pi)


def self_lattice(precision="double", dims=DIMS):
    return gn.Lattice(dims, mpi=(1, 1, 1, 1), comm=MPI.COMM_SELF, precision=precision)


def wilson_results(U, psi):
    out = {}
    for name, D in (("wilson", gn.Wilson(U, mass=-0.4, boundary_phases=THETA)),
                    ("clover", gn.WilsonClover(U, mass=-0.4, csw=1.0, boundary_phases=THETA))):
        out[name] = D(psi)
        out[name + " adjoint"] = D.adjoint(psi)
        out[name + " hop even"] = D.hop(psi, sites=U.lat.sites_of_parity(0))
        M = gn.EvenOdd(D)
        out[name + " schur"] = M(psi)
        out[name + " schur adjoint"] = M.adjoint(psi)
        out[name + " prepare"] = M.prepare_source(psi)
        out[name + " reconstruct"] = M.reconstruct(psi, psi)
    return out


def staggered_results(U, chi):
    S = gn.Staggered(U, mass=0.3)
    St = gn.Staggered(U, mass=0.3, boundary_phases=THETA)
    return {"staggered": S(chi), "staggered adjoint": S.adjoint(chi), "staggered DdagD": S.DdagD(chi),
            "staggered DdagD_even": S.DdagD_even(chi), "staggered DdagD_odd": S.DdagD_even(chi, parity=1),
            "staggered DdagD_odd half": S.embed(S.DdagD_even(S.restrict(chi, 1), parity=1)),
            "staggered theta": St(chi)}


@pytest.mark.mpi
@pytest.mark.parametrize("grid", grids(DIMS))
@pytest.mark.parametrize("N", [3, 2])
def test_wilson_family_rank_independent(grid, N):
    u = random_su_global(DIMS, N, seed=200 + N)
    p = random_global(tuple(reversed(DIMS)) + (2, 4, N), seed=210)
    lat = gn.Lattice(DIMS, mpi=grid)
    got = wilson_results(gn.GaugeField.from_numpy(lat, u), gn.FermionField.from_numpy(lat, p))
    ref_lat = self_lattice()
    ref = wilson_results(gn.GaugeField.from_numpy(ref_lat, u), gn.FermionField.from_numpy(ref_lat, p))
    for name in ref:
        assert_close(got[name].to_numpy(), ref[name].data, 1e-12, f"{name} on grid {grid}")


@pytest.mark.mpi
@pytest.mark.parametrize("grid", grids(DIMS))
@pytest.mark.parametrize("N", [3, 2])
def test_staggered_rank_independent(grid, N):
    u = random_su_global(DIMS, N, seed=220 + N)
    c = random_global(tuple(reversed(DIMS)) + (3, N), seed=230)
    lat = gn.Lattice(DIMS, mpi=grid)
    got = staggered_results(gn.GaugeField.from_numpy(lat, u), gn.StaggeredField.from_numpy(lat, c))
    ref_lat = self_lattice()
    ref = staggered_results(gn.GaugeField.from_numpy(ref_lat, u), gn.StaggeredField.from_numpy(ref_lat, c))
    for name in ref:
        assert_close(got[name].to_numpy(), ref[name].data, 1e-12, f"{name} on grid {grid}")


@pytest.mark.mpi
@pytest.mark.parametrize("grid", grids(DIMS))
def test_single_precision_rank_independent(grid):
    u = random_su_global(DIMS, 3, seed=240)
    p = random_global(tuple(reversed(DIMS)) + (4, 3), seed=241)
    c = random_global(tuple(reversed(DIMS)) + (3,), seed=242)
    lat = gn.Lattice(DIMS, mpi=grid, precision="single")
    U = gn.GaugeField.from_numpy(lat, u)
    got = {**wilson_results(U, gn.FermionField.from_numpy(lat, p)),
           **staggered_results(U, gn.StaggeredField.from_numpy(lat, c))}
    ref_lat = self_lattice("double")
    Ur = gn.GaugeField.from_numpy(ref_lat, u)
    ref = {**wilson_results(Ur, gn.FermionField.from_numpy(ref_lat, p)),
           **staggered_results(Ur, gn.StaggeredField.from_numpy(ref_lat, c))}
    for name in ref:
        g = got[name].to_numpy()
        assert g.dtype == np.complex64
        assert_close(g, ref[name].data, 2e-6, f"single-precision {name} on grid {grid}")


def _zero_crossing(u, lat):
    u = u.copy()
    for mu in range(4):
        if lat.grid[mu] > 1:
            l = lat.local_dims[mu]
            sl = [mu, slice(None), slice(None), slice(None), slice(None)]
            sl[4 - mu] = np.arange(lat.dims[mu]) % l == l - 1
            u[tuple(sl)] = 0
    return u


@pytest.mark.mpi
@pytest.mark.parametrize("grid", grids(DIMS))
def test_zero_boundary_links(grid):
    u = random_su_global(DIMS, 3, seed=250)
    p = random_global(tuple(reversed(DIMS)) + (4, 3), seed=251)
    c = random_global(tuple(reversed(DIMS)) + (3,), seed=252)
    lat = gn.Lattice(DIMS, mpi=grid, zero_boundary_links=True)
    U = gn.GaugeField.from_numpy(lat, u)
    psi, chi = gn.FermionField.from_numpy(lat, p), gn.StaggeredField.from_numpy(lat, c)
    cb = lat.checkerboard()

    def sent_so_far():  # the full lattice's halo and the even-odd operator's half-lattice halos
        return lat.halo(1).messages_sent + cb.halo(0).messages_sent + cb.halo(1).messages_sent

    sent = sent_so_far()
    D = gn.Wilson(U, mass=-0.4, boundary_phases=THETA)
    S = gn.Staggered(U, mass=0.3)
    got = {"wilson": D(psi), "staggered": S(chi), "staggered DdagD_even": S.DdagD_even(chi),
           "schur": gn.EvenOdd(D)(psi)}
    assert sent_so_far() == sent, "no messages in zero-boundary-link mode"
    # one rank, the crossing links zeroed by hand (the clover term is not part of this mode's contract)
    ref_lat = self_lattice()
    Ur = gn.GaugeField(ref_lat, ref_lat.scatter_global(_zero_crossing(u, lat), lead=1))
    psir, chir = gn.FermionField.from_numpy(ref_lat, p), gn.StaggeredField.from_numpy(ref_lat, c)
    Dr = gn.Wilson(Ur, mass=-0.4, boundary_phases=THETA)
    Sr = gn.Staggered(Ur, mass=0.3)
    ref = {"wilson": Dr(psir), "staggered": Sr(chir), "staggered DdagD_even": Sr.DdagD_even(chir),
           "schur": gn.EvenOdd(Dr)(psir)}
    for name in ref:
        assert_close(got[name].to_numpy(), ref[name].data, 1e-12, f"zero-boundary {name} on grid {grid}")


@pytest.mark.mpi
@pytest.mark.parametrize("grid", grids((8, 4, 4, 8)))
def test_halo_overlap_and_serial_schedules_agree(grid):
    """The stencils' two schedules (lattice.halo_overlap): interior sites while the faces travel, then the boundary;
    or the exchange first and one pass. On one node auto picks the second; both must give the same results."""
    import os
    from gaugenet._backend import core
    from gaugenet.lattice.lattice import halo_overlap
    lat = gn.Lattice((8, 4, 4, 8), mpi=grid)
    node = MPI.COMM_WORLD.Split_type(MPI.COMM_TYPE_SHARED)
    if "GAUGENET_HALO_OVERLAP" not in os.environ and node.Get_size() == MPI.COMM_WORLD.Get_size():
        assert not lat.overlap_halo   # every rank of this job on one node: auto does not overlap
    node.Free()
    U = gn.GaugeField.random(lat, 3, seed=5)
    psi, chi = gn.FermionField.random(lat, 3, seed=6), gn.StaggeredField.random(lat, 3, seed=7)
    D = gn.WilsonClover(U, mass=0.1, csw=1.0)
    S = gn.Staggered(U, mass=0.3)
    eo = gn.EvenOdd(D)
    packed = bool(core.packed_available()) and lat.local_dims[0] % 8 == 0
    P = gn.PackedWilson(D) if packed else None
    res = {}
    for overlap in (True, False):
        lat.overlap_halo = overlap
        res[overlap] = [D(psi).data, eo.apply(eo.restrict(psi)).data, S.DdagD_even(S.restrict(chi)).data, S(chi).data]
        if packed:
            res[overlap].append(P(P.pack(psi)).data)
    for a, b in zip(res[True], res[False]):
        assert np.array_equal(a, b)
    os.environ["GAUGENET_HALO_OVERLAP"], old = "sometimes", os.environ.get("GAUGENET_HALO_OVERLAP")
    try:
        with pytest.raises(ValueError, match="GAUGENET_HALO_OVERLAP"):
            halo_overlap(lat.cart, [])
    finally:
        if old is None:
            del os.environ["GAUGENET_HALO_OVERLAP"]
        else:
            os.environ["GAUGENET_HALO_OVERLAP"] = old
