"""`python -m gaugenet solve`: solve the Wilson-clover equation D x = b with the baseline solvers
and report iterations, D applications, time to solution and the true residual (rank 0).

The gauge field is read from --config (any format gaugenet reads) or made by --sweeps heat-bath
sweeps from a cold start (beta, seed). Defaults: the seed-000 problem, 8^3 x 16, SU(3), beta = 6.0,
m = -0.6, c_sw = 1, periodic boundaries, relative residual 1e-8, even-odd CG (CGNR).

At the seed-000 mass m = -0.6 (c_sw = 1, beta = 6.0) the operator of a finite lattice is invertible but so badly
conditioned (--lowest-eigenvalue tells how badly: docs/operators.md) that the non-normal Krylov solvers on D
(BiCGStab, restarted GMRES) stall far above 1e-8; CG on the normal equations converges whenever D is invertible,
so it is the default method. Compare all methods with --methods at a heavier mass (e.g. --mass -0.5).
"""
import numpy as np

from ..util.atomic import atomic_write_json
from ..util.log import log
from ..util.plots import beside, plot_residuals
from ..util.progress import solve_progress


def add_arguments(p):
    p.add_argument("--config", default=None, help="gauge configuration file (NERSC, ILDG or HDF5)")
    p.add_argument("--lattice", default="8.8.8.16", help="lattice when no --config is given (default 8.8.8.16)")
    p.add_argument("--beta", type=float, default=6.0, help="heat-bath coupling when no --config is given")
    p.add_argument("--sweeps", type=int, default=100, help="heat-bath sweeps (with 1 overrelaxation each) when "
                   "no --config is given")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--mass", type=float, default=-0.6)
    p.add_argument("--csw", type=float, default=1.0)
    p.add_argument("--antiperiodic-t", action="store_true", help="antiperiodic fermion boundary in time")
    p.add_argument("--tol", type=float, default=1e-8)
    p.add_argument("--maxiter", type=int, default=20000)
    p.add_argument("--restart", type=int, default=100, help="GMRES restart length (default 100)")
    p.add_argument("--methods", default="eo-cg",
                   help="comma-separated: gmres, bicgstab, packed-bicgstab (local x extent a multiple of 8), "
                        "eo-bicgstab, eo-cg (default eo-cg: the one that converges near the critical mass; every "
                        "method asked for must converge, else the command exits nonzero)")
    p.add_argument("--lowest-eigenvalue", action="store_true",
                   help="also estimate the lowest eigenvalue of D^dag D by inverse iteration (two eo-cg solves per "
                        "step): how close the mass is to critical on this field")
    p.add_argument("--precision", choices=("double", "single"), default="double")
    p.add_argument("--mpi", default=None, help="process grid Px.Py.Pz.Pt")
    p.add_argument("--json", default=None, help="write the results to this JSON file (rank 0); the residual "
                   "histories are plotted beside it (FILE.residuals.png)")
    p.add_argument("--no-plots", action="store_true", help="do not write FILE.residuals.png beside --json")
    p.add_argument("--verbose", action="store_true")


def gauge_field(args):
    import gaugenet as gn
    if args.config:
        U = gn.io.load_gauge(args.config, None if args.mpi is None else None)
        if args.mpi is not None or args.precision != "double":
            lat = gn.Lattice(U.lat.dims, mpi=args.mpi, precision=args.precision)
            U = gn.io.load_gauge(args.config, lat)
        log.info("read %s: lattice %s, plaquette %.10f", args.config, "x".join(map(str, U.lat.dims)), gn.plaquette(U))
        return U
    from ..gauge.heatbath import QuenchedUpdater
    dims = tuple(int(v) for v in args.lattice.split("."))
    lat = gn.Lattice(dims, mpi=args.mpi)
    U = gn.GaugeField.unit(lat, 3)
    QuenchedUpdater(args.beta, seed=args.seed, or_steps=1).run(U, 0, args.sweeps)
    log.info("heat bath: %d sweeps at beta=%g on %s, plaquette %.10f", args.sweeps, args.beta,
             "x".join(map(str, dims)), gn.plaquette(U))
    if args.precision != "double":
        U = gn.GaugeField.from_numpy(lat.like(precision=args.precision), U.to_numpy())
    return U


def run(args):
    import gaugenet as gn
    from ..solvers.baselines import METHODS, solve_wilson

    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    for m in methods:
        if m not in METHODS:
            raise ValueError(f"unknown method {m!r}; choose from {', '.join(METHODS)}")
    U = gauge_field(args)
    lat = U.lat
    phases = (0, 0, 0, np.pi) if args.antiperiodic_t else (0, 0, 0, 0)
    D = gn.WilsonClover(U, mass=args.mass, csw=args.csw, boundary_phases=phases)
    b = gn.FermionField.random(lat, U.N, seed=args.seed + 1000)
    log.info("Wilson-clover m=%g c_sw=%g on %d ranks (grid %s), tolerance %.0e", args.mass, args.csw, lat.size,
             ".".join(map(str, lat.grid)), args.tol)
    out = []
    for m in methods:
        with solve_progress(args.tol, args.maxiter, desc=m):
            _, rec = solve_wilson(D, b, m, tol=args.tol, maxiter=args.maxiter, restart=args.restart,
                                  raise_on_fail=False)
        rec.update(lattice=list(lat.dims), ranks=lat.size, precision=lat.precision, mass=args.mass, csw=args.csw)
        out.append(rec)
        log.info("%-12s %6d iterations %7d D applications %9.3f s   |b - D x|/|b| = %.2e %s", m, rec["iterations"],
                 rec["operator_applications"], rec["seconds"], rec["residual"],
                 "" if rec["converged"] else "NOT CONVERGED")
    report = {"results": out}
    if args.lowest_eigenvalue:
        from ..solvers.spectrum import lowest_normal_eigenvalue
        lam, hist = lowest_normal_eigenvalue(D, seed=args.seed)
        report.update(lowest_eigenvalue_DdagD=lam, lowest_eigenvalue_steps=len(hist))
        log.info("lowest eigenvalue of D^dag D: %.6e (inverse iteration, %d steps; last change %.1e relative); "
                 "smallest singular value of D %.4e", lam, len(hist),
                 abs(hist[-1] - hist[-2]) / lam if len(hist) > 1 else float("nan"), np.sqrt(lam))
    if args.json and lat.rank == 0:
        atomic_write_json(args.json, report, indent=1)
        if not args.no_plots:
            plot_residuals(beside(args.json, "residuals"), out,
                           title=f"solve: Wilson-clover m={args.mass} c_sw={args.csw} on "
                                 f"{'x'.join(map(str, lat.dims))}, tolerance {args.tol:g}")
    if not all(r["converged"] for r in out):
        from ..solvers import NotConvergedError
        raise NotConvergedError("some solves did not reach the tolerance (see the table above)")
    return 0
