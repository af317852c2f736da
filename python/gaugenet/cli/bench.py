"""`python -m gaugenet bench`: the benchmark suite (gaugenet.bench); run it under mpiexec -n N for
the multi-rank numbers. --compare merges the JSON of runs with different rank counts into weak and
strong scaling tables."""
import json


def _dims(text):
    d = tuple(int(v) for v in text.split("."))
    if len(d) == 1:
        d = d * 4
    if len(d) != 4 or min(d) < 1:
        raise ValueError(f"a volume is L or Lx.Ly.Lz.Lt, got {text!r}")
    return d


def add_arguments(p):
    p.add_argument("--quick", action="store_true", help="small volumes only (about a minute)")
    p.add_argument("--json", default=None, metavar="OUT.json", help="write the report as JSON")
    p.add_argument("--volumes", default=None,
                   help="comma-separated local volumes per rank, L or Lx.Ly.Lz.Lt (default 4,8,16,24,32; quick 4,8)")
    p.add_argument("--precisions", default="double,single")
    p.add_argument("--threads", default="1,2", help="OpenMP threads per rank to try (default 1,2)")
    p.add_argument("--nvec", default="1,2,4,8,12", help="right-hand sides of the many-rhs scan")
    p.add_argument("--side-volume", default=None, help="local volume of the side studies (default 16; quick 8)")
    p.add_argument("--strong", default=None, help="global volume of the strong-scaling records (default 16.16.16.32)")
    p.add_argument("--kernels", default=None, help="comma-separated record names to run (default: all)")
    p.add_argument("--no-numpy", action="store_true", help="skip the numpy references")
    p.add_argument("--no-end-to-end", action="store_true",
                   help="skip the end-to-end part (seed-000 multigrid training and solves, SLHMC vs HMC; minutes)")
    p.add_argument("--seed000-config", default=None, metavar="FILE",
                   help="gauge file of the seed-000 problem (default: 8^3x16 beta=6.0 by heat bath in the run)")
    p.add_argument("--min-time", type=float, default=None, help="seconds of timed calls per case")
    p.add_argument("--wilson-kernel", choices=("simd", "generic"), default=None,
                   help="CPU Wilson kernel to time (default: simd where built; generic = the site-by-site kernel)")
    p.add_argument("--compare", nargs="+", default=None, metavar="RUN.json",
                   help="print weak/strong scaling tables from reports of runs with different rank counts and exit")
    p.add_argument("--markdown", action="store_true", help="print the table as Markdown (as in docs/performance.md)")
    p.add_argument("--show", default=None, metavar="RUN.json", help="print the table of a saved report and exit")
    p.add_argument("--no-plots", action="store_true",
                   help="do not plot GFLOP/s and roofline fractions beside --json (FILE.png)")
    p.add_argument("--verbose", action="store_true")


def run(args):
    from ..bench.table import format_report, scaling_tables
    if args.show:
        with open(args.show) as f:
            report = json.load(f)
        print(format_report(report, markdown=args.markdown))
        if not args.no_plots and report.get("results"):
            from ..util.plots import beside, plot_bench
            plot_bench(beside(args.show, "bench"), report)   # (re)draw the plot of a saved report
        return 0
    if args.compare:
        reports = []
        for path in args.compare:
            with open(path) as f:
                reports.append(json.load(f))
        print(scaling_tables(reports))
        return 0
    from mpi4py import MPI
    from .._backend import core
    from ..bench.suite import SuiteConfig, run_suite
    if args.wilson_kernel:
        core.wilson_variant(args.wilson_kernel)
    cfg = SuiteConfig(
        quick=args.quick,
        volumes=None if args.volumes is None else tuple(_dims(v) for v in args.volumes.split(",")),
        precisions=tuple(p.strip() for p in args.precisions.split(",")),
        threads=tuple(int(t) for t in args.threads.split(",")),
        nvecs=tuple(int(n) for n in args.nvec.split(",")),
        side_volume=None if args.side_volume is None else _dims(args.side_volume),
        strong_global=None if args.strong is None else _dims(args.strong),
        kernels=None if args.kernels is None else tuple(k.strip() for k in args.kernels.split(",")),
        numpy=not args.no_numpy,
        min_time=args.min_time,
        end_to_end=not args.no_end_to_end,
        seed000_config=args.seed000_config,
    )
    for p in cfg.precisions:
        if p not in ("double", "single"):
            raise ValueError(f"precision must be double or single, got {p!r}")
    report = run_suite(cfg)
    comm = MPI.COMM_WORLD
    if comm.Get_rank() == 0:
        print(format_report(report, markdown=args.markdown), flush=True)
        if args.json:
            from ..util.atomic import atomic_write_json
            atomic_write_json(args.json, report, indent=1)
            print(f"report written to {args.json}", flush=True)
            if not args.no_plots:
                from ..util.plots import beside, plot_bench
                plot_bench(beside(args.json, "bench"), report)
    return 0
