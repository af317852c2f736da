"""Distributed self-check (the default main job until the learned-multigrid job lands).

Builds a lattice on the process grid, and verifies on every rank:
  1. halo exchange of depth 1 and 2 for every field type against the rolled global array;
  2. the Wilson-clover operator against a single-rank run on the gathered fields;
  3. gamma5-hermiticity and <a, D b> = <D^dag a, b>;
  4. zero-boundary-link mode: no messages, and equal to one rank with the crossing links zeroed.
"""
import time

import numpy as np

from ..util.log import log


def add_arguments(p):
    p.add_argument("--lattice", default="8.8.8.16", help="global lattice Lx.Ly.Lz.Lt (default 8.8.8.16)")
    p.add_argument("--mpi", default=None, help="process grid Px.Py.Pz.Pt (default: chosen from the rank count)")
    p.add_argument("--N", type=int, default=3, choices=(2, 3), help="gauge group SU(N)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--verbose", action="store_true")


def _max_rel(a, b):
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-300))


def run(args):
    from mpi4py import MPI

    import gaugenet as gn
    from ..fields import ColorMatrixField, CoarseField, SpinMatrixField

    t0 = time.time()
    dims = tuple(int(v) for v in args.lattice.split("."))
    lat = gn.Lattice(dims, mpi=args.mpi)
    N = args.N
    log.info("lattice %s on %d ranks, process grid %s, local volume %s",
             "x".join(map(str, dims)), lat.size, ".".join(map(str, lat.grid)), ".".join(map(str, lat.local_dims)))
    failures = []

    def report(name, err, tol):
        ok = err < tol
        log.info("%-58s %s (max rel. deviation %.2e, tolerance %.0e)", name, "ok" if ok else "FAILED", err, tol)
        if not ok:
            failures.append(name)

    # 1. halo exchange for every field type and depth
    U = gn.GaugeField.random(lat, N, seed=args.seed)
    fields = {
        "gauge": (U, 1),
        "fermion": (gn.FermionField.random(lat, N, seed=args.seed + 1), 0),
        "staggered": (gn.StaggeredField.random(lat, N, seed=args.seed + 2), 0),
        "coarse": (CoarseField.random(lat, 12, seed=args.seed + 3), 0),
        "spin matrix": (SpinMatrixField.random(lat, 4, 4, seed=args.seed + 4), 0),
        "colour matrix": (ColorMatrixField.random_su(lat, N, seed=args.seed + 5), 0),
    }
    depths = [d for d in (1, 2) if all(lat.grid[m] == 1 or lat.local_dims[m] >= 2 * d for m in range(4))]
    for name, (f, lead) in fields.items():
        glob = f.to_numpy()
        for depth in depths:
            h = lat.halo(depth)
            err = 0.0
            for mu in range(4):
                for s in (+depth, -depth):
                    axis = lead + 3 - mu
                    ref = lat.scatter_global(np.roll(glob, -s, axis=axis), lead=lead)
                    arrs = f.sites()
                    if lead:
                        got = np.stack([h.shift(np.ascontiguousarray(arrs[m]), mu, s) for m in range(4)])
                    else:
                        got = h.shift(arrs, mu, s)
                    err = max(err, _max_rel(got.reshape(ref.shape), ref))
            report(f"halo exchange depth {depth}: {name}", err, 1e-15)

    # 2. Wilson-clover against one rank holding the whole lattice
    D = gn.WilsonClover(U, mass=-0.6, csw=1.0)
    psi = gn.FermionField.random(lat, N, seed=args.seed + 6)
    chi = D(psi).to_numpy()
    U_glob, psi_glob = U.to_numpy(), psi.to_numpy()
    ref = None
    if lat.rank == 0:
        lat1 = gn.Lattice(dims, comm=MPI.COMM_SELF)
        U1 = gn.GaugeField.from_numpy(lat1, U_glob)
        ref = gn.WilsonClover(U1, mass=-0.6, csw=1.0)(gn.FermionField.from_numpy(lat1, psi_glob)).to_numpy()
    ref = lat.cart.bcast(ref, root=0)
    report(f"Wilson-clover on {lat.size} ranks == 1 rank", _max_rel(chi, ref), 1e-12)

    # 3. gamma5-hermiticity and the adjoint identity
    a = gn.FermionField.random(lat, N, seed=args.seed + 7)
    lhs = a.inner(D(psi))
    rhs = D.adjoint(a).inner(psi)
    report("<a, D b> == <D^dag a, b>", abs(lhs - rhs) / abs(lhs), 1e-12)
    g5 = D(psi.gamma5()).gamma5()
    report("D^dag == g5 D g5", _max_rel(D.adjoint(psi).data, g5.data), 1e-13)

    # 4. zero-boundary-link mode
    latz = lat.like(zero_boundary_links=True)
    Uz = gn.GaugeField.from_numpy(latz, U_glob)
    hz = latz.halo(1)
    before = hz.messages_sent
    Dz = gn.Wilson(Uz, mass=-0.6)
    chiz = Dz(gn.FermionField.from_numpy(latz, psi_glob)).to_numpy()
    msgs = latz.cart.allreduce(hz.messages_sent - before, op=MPI.SUM)
    refz = None
    if lat.rank == 0:
        glob = U_glob.copy()
        for mu in range(4):
            if lat.grid[mu] > 1:
                for r in range(lat.grid[mu]):
                    sl = [slice(None)] * 4
                    sl[3 - mu] = (r + 1) * lat.local_dims[mu] - 1
                    glob[(mu,) + tuple(sl)] = 0
        lat1 = gn.Lattice(dims, comm=MPI.COMM_SELF)
        U1 = gn.GaugeField(lat1, lat1.scatter_global(glob, lead=1))
        refz = gn.Wilson(U1, mass=-0.6)(gn.FermionField.from_numpy(lat1, psi_glob)).to_numpy()
    refz = lat.cart.bcast(refz, root=0)
    report(f"zero-boundary-link Wilson == 1 rank with links zeroed", _max_rel(chiz, refz), 1e-12)
    if msgs != 0:
        failures.append("zero-boundary-link mode sent messages")
    log.info("zero-boundary-link mode: %d halo messages sent (normal mode: %d per exchange)", msgs,
             lat.cart.allreduce(len(lat.halo(1).faces), op=MPI.SUM))
    log.info("plaquette of the random field %.12f, elapsed %.2f s", gn.plaquette(U), time.time() - t0)
    if failures:
        raise RuntimeError("self-check failed: " + "; ".join(failures))
    log.info("self-check passed on %d ranks", lat.size)
    return 0
