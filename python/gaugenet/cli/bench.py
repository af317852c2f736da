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
    # scaling past one machine, on paper (bench/scaling.py): no kernel benchmarks run
    p.add_argument("--project", action="store_true",
                   help="project strong/weak scaling of the Wilson-clover operator and of an FGMRES iteration to "
                        "1-1024 nodes from the measured time per site, the halo bytes and a network model, and exit")
    p.add_argument("--project-from", default=None, metavar="RUN.json",
                   help="take the time per site from a saved report (default: a quick measurement, a few seconds)")
    p.add_argument("--project-validate", nargs="+", default=None, metavar="RUN.json",
                   help="with --project: compare the model with the reports of 1/2/4-rank runs on this machine")
    p.add_argument("--project-measure", default=None, metavar="OUT.json",
                   help="run under mpiexec -n 2 (or 4): measure the validation data of --project-validate in one "
                        "job (operator normal and zero-boundary, halo, one rank alone, in turn) and write them")
    p.add_argument("--project-measure-volumes", default="4,8,16",
                   help="local volumes per rank of --project-measure (default 4,8,16)")
    p.add_argument("--project-measure-repeats", type=int, default=5, help="rounds of --project-measure (default 5)")
    p.add_argument("--network-bandwidth", type=float, default=None, metavar="GBs",
                   help="bandwidth per node between nodes in GB/s (default 25: HDR InfiniBand)")
    p.add_argument("--network-latency", type=float, default=None, metavar="us",
                   help="latency per message between nodes in microseconds (default 1.5: HDR InfiniBand)")
    p.add_argument("--ranks-per-node", type=int, default=1, help="MPI ranks per node in the projection (default 1)")
    p.add_argument("--cores-per-node", type=int, default=None,
                   help="cores per node (default: those of the measurement; compute assumed linear in the cores)")
    p.add_argument("--node-memory-bandwidth", type=float, default=None, metavar="GBs",
                   help="STREAM triad of a projected node in GB/s: compute scaled by it over the measured node's "
                        "triad (the operator is memory bound); instead of --cores-per-node")
    p.add_argument("--shm-bandwidth", type=float, default=None, metavar="GBs",
                   help="bandwidth between ranks of one node in GB/s (default: fitted on this machine)")
    p.add_argument("--shm-latency", type=float, default=None, metavar="us",
                   help="latency per message between ranks of one node in us (default: fitted on this machine)")
    p.add_argument("--project-volumes", default=None,
                   help="global volumes of the strong-scaling projection (default 32.32.32.64,64.64.64.128)")
    p.add_argument("--project-weak-volume", default=None,
                   help="volume per node of the weak-scaling projection (default 16.16.16.16)")
    p.add_argument("--project-max-nodes", type=int, default=None, help="largest node count (default 1024)")
    p.add_argument("--mg-iteration-seconds", type=float, default=None, metavar="S",
                   help="with --project: seconds per FGMRES iteration with the learned multigrid on one node (e.g. "
                        "solve time / iterations of `mg`), adds its projection; with --mg-apply-seconds")
    p.add_argument("--mg-apply-seconds", type=float, default=None, metavar="S",
                   help="seconds per application of the learned multigrid model on the same lattice")
    p.add_argument("--mg-volume", default="8.8.8.16", help="lattice of the two multigrid times (default 8.8.8.16)")
    p.add_argument("--project-precision", choices=("double", "single"), default="double")


def run(args):
    if args.project_measure:
        return run_project_measure(args)
    if (args.project or args.project_from or args.project_validate or args.mg_iteration_seconds is not None
            or args.mg_apply_seconds is not None):
        return run_projection(args)
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


def run_projection(args):
    """`bench --project`: the scaling model of bench/scaling.py; prints the tables (rank 0), --json writes them."""
    from ..bench import scaling as S
    from mpi4py import MPI
    if not args.project:
        raise S.ProjectionError("--project-from, --project-validate and the --mg-* times go with --project")
    comm = MPI.COMM_WORLD
    if comm.Get_size() > 1:
        raise S.ProjectionError(f"bench --project runs on one process (it measures the node with one process and "
                                f"models the rest), not under {comm.Get_size()} ranks")
    net = S.Network(
        bandwidth_gbs=S.HDR_BANDWIDTH_GBS if args.network_bandwidth is None else args.network_bandwidth,
        latency_us=S.HDR_LATENCY_US if args.network_latency is None else args.network_latency,
        ranks_per_node=args.ranks_per_node, cores_per_node=args.cores_per_node,
        shm_bandwidth_gbs=S.SHM_BANDWIDTH_GBS if args.shm_bandwidth is None else args.shm_bandwidth,
        shm_latency_us=S.SHM_LATENCY_US if args.shm_latency is None else args.shm_latency,
        node_stream_gbs=args.node_memory_bandwidth).check()
    strong = (S.DEFAULT_STRONG if args.project_volumes is None
              else tuple(S.parse_dims(v) for v in args.project_volumes.split(",")))
    weak = S.DEFAULT_WEAK if args.project_weak_volume is None else S.parse_dims(args.project_weak_volume)
    max_nodes = S.DEFAULT_MAX_NODES if args.project_max_nodes is None else args.project_max_nodes
    S.node_counts(max_nodes)
    validation = None
    if args.project_validate:
        reports = [rep for p in args.project_validate for rep in _reports(_load(p))]
        validation = {"node": S.validate(reports, args.project_precision, per="node")}
        try:
            validation["rank"] = S.validate(reports, args.project_precision, per="rank")
        except ValueError as e:   # no one-thread records: the per-rank reading is left out, and said so
            validation["rank_skipped"] = str(e)
    if args.project_from:
        profile = S.profile_from_report(_load(args.project_from), args.project_precision)
    else:
        profile = S.measure_profile(precision=args.project_precision)
    if (args.mg_iteration_seconds is None) != (args.mg_apply_seconds is None):
        raise ValueError("--mg-iteration-seconds and --mg-apply-seconds go together")
    if args.mg_iteration_seconds is not None:
        S.set_multigrid(profile, args.mg_iteration_seconds, args.mg_apply_seconds, S.parse_dims(args.mg_volume),
                        "given on the command line")
    doc = S.project(profile, net, strong, weak, max_nodes)
    if validation is not None:
        doc["validation"] = validation
    print(S.format_projection(doc, markdown=args.markdown))
    print()
    print("where communication starts to dominate (t_comm > t_comp):")
    print("\n".join("  " + line for line in S.summary_lines(doc)))
    if validation is not None:
        print()
        for per in ("node", "rank"):
            if per in validation:
                print(S.format_validation(validation[per]))
        if "rank_skipped" in validation:
            print(f"per-rank validation skipped: {validation['rank_skipped']}")
    if args.json:
        from ..util.atomic import atomic_write_json
        atomic_write_json(args.json, doc, indent=1)
        print(f"projection written to {args.json}", flush=True)
    return 0


def _load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except OSError as e:
        raise ValueError(f"cannot read report {path}: {e.strerror}") from None
    except json.JSONDecodeError as e:
        raise ValueError(f"report {path} is not JSON: {e}") from None


def _reports(doc):
    """A suite report, or the list that --project-measure writes ({"reports": [...]})."""
    return doc["reports"] if isinstance(doc, dict) and "reports" in doc else [doc]


def run_project_measure(args):
    """`bench --project-measure OUT.json` under mpiexec -n R: the validation data of the scaling model."""
    from ..bench import scaling as S
    from mpi4py import MPI
    vols = tuple(S.parse_dims(v) for v in args.project_measure_volumes.split(","))
    if args.project_measure_repeats < 1:
        raise S.ProjectionError(f"--project-measure-repeats must be >= 1, got {args.project_measure_repeats}")
    reports = S.measure_for_validation(MPI.COMM_WORLD, vols, repeats=args.project_measure_repeats)
    if MPI.COMM_WORLD.Get_rank() == 0:
        from ..util.atomic import atomic_write_json
        atomic_write_json(args.project_measure, {"reports": reports}, indent=1)
        for rep in reports:
            for r in rep["results"]:
                print(f"{r['kernel']:14s} {r['mode']:13s} ranks {r['ranks']} x {r['threads']} thread(s) "
                      f"{r['local_volume']:>12s}: {r['seconds_per_call'] * 1e3:.4f} ms")
        print(f"validation data written to {args.project_measure}; compare: python -m gaugenet bench --project "
              f"--project-validate {args.project_measure}", flush=True)
    return 0
