"""Text tables of a benchmark report, and weak/strong scaling tables merged from several reports
(runs of the suite under mpiexec -n 1, 2, 4)."""
from .targets import evaluate, targets_table


def _f(v, fmt):
    return "-" if v is None else format(v, fmt)


def _label(r):
    if r.get("method") or r.get("stage") or r.get("algorithm"):
        return r.get("method") or r.get("stage") or r.get("algorithm")
    parts = []
    if r.get("features"):
        parts.append(r["features"])
    elif r.get("nvec", 1) != 1:
        parts.append(f"nvec={r['nvec']}")
    if r.get("mode", "normal") != "normal":
        parts.append("zero-bdy")
    if r.get("layout", "site") == "packed":
        parts.append(("packed 2-row" if r.get("link_rows") == 2 else "packed")
                     + (" doubled" if r.get("doubled_links") else ""))
    if r.get("scaling") == "strong":
        parts.append("strong")
    return " ".join(parts)


def results_table(report, markdown=False):
    rows = [("kernel", "local vol", "prec", "thr", "rk", "variant", "ms/call", "GFLOP/s", "GB/s", "roof%", "x numpy",
             "adj%", "pair%", "scat%", "pscat%")]
    for r in report["results"]:
        rows.append((r["kernel"], r["local_volume"] or "-", r["precision"][0], str(r["threads"]), str(r["ranks"]), _label(r),
                     _f(r["seconds_per_call"] and r["seconds_per_call"] * 1e3, ".3f"), _f(r["gflops"], ".2f"),
                     _f(r["gbytes_per_s"], ".2f"),
                     _f(r["roofline_fraction"] and 100 * r["roofline_fraction"], ".1f"),
                     _f(r["speedup_vs_numpy"], ".1f"),
                     _f(r.get("roofline_fraction_adjacent") and 100 * r["roofline_fraction_adjacent"], ".1f"),
                     _f(r.get("roofline_fraction_paired") and 100 * r["roofline_fraction_paired"], ".1f"),
                     _f(r.get("scattered_read_fraction") and 100 * r["scattered_read_fraction"], ".1f"),
                     _f(r.get("scattered_read_fraction_paired") and 100 * r["scattered_read_fraction_paired"], ".1f")))
    if markdown:
        out = ["| " + " | ".join(rows[0]) + " |", "|" + "|".join("---" if i < 6 else "--:" for i in range(len(rows[0]))) + "|"]
        out += ["| " + " | ".join(row) + " |" for row in rows[1:]]
        return "\n".join(out)
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for j, row in enumerate(rows):
        lines.append("  ".join(c.ljust(w) if i < 6 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))))
        if j == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def halo_overhead(report):
    """Per kernel: normal time / zero-boundary-link time - 1 (the cost of the halo exchange and of
    the split into interior and boundary sites) at the side-study volume."""
    out = []
    normal = {}
    for r in report["results"]:
        if (r["kernel"] in ("wilson_hop", "wilson_clover") and r["nvec"] == 1 and r.get("scaling") != "strong"
                and r.get("layout", "site") == "site"):
            key = (r["kernel"], r["local_volume"], r["precision"], r["threads"])
            if r["mode"] == "normal":
                normal[key] = r
            else:
                n = normal.get(key)
                if n:
                    out.append((r["kernel"], r["local_volume"], r["threads"], n["seconds_per_call"],
                                r["seconds_per_call"]))
    return out


def header(report):
    m = report["machine"]
    caches = ", ".join(f"{k} {v >> 10} KiB" if v < (1 << 20) else f"{k} {v >> 20} MiB" for k, v in m["caches"].items())
    lines = [f"gaugenet bench {report['date']}: {report['ranks']} rank(s), grid {report['process_grid']}, threads per "
             f"rank {report['threads_per_rank']}{' (quick)' if report['quick'] else ''}",
             f"machine: {m['cpu_model']}, {m['cores']} cores, {caches}, {m.get('memory_gb', '?')} GB; "
             f"Wilson CPU kernel: {m.get('wilson_cpu_kernel')}",
             "STREAM triad (gaugenet, same run): " + ", ".join(
                 f"{t} thread(s)/rank {v['gbytes_per_s']:.2f} GB/s" for t, v in report["stream_triad"].items()),
             "scattered read (chunks at random addresses, software prefetch; same run): " + ", ".join(
                 f"{t} thread(s)/rank {v['gbytes_per_s']:.2f} GB/s" for t, v in report.get("scattered_read", {}).items()),
             "traffic model: " + report["traffic_model"],
             "flops per site: " + "; ".join(f"{k}: {v}" for k, v in report["flop_conventions"].items())]
    lines += ["note: " + n for n in report["notes"]]
    return "\n".join(lines)


def end_to_end_table(report):
    """Time to solution of the seed-000 problem and SLHMC vs HMC cost per independent sample."""
    out = []
    solves = [r for r in report["results"] if r["kernel"] == "fgmres_seed000"]
    if solves:
        out.append(f"seed-000 problem: {solves[0].get('problem', '')}, relative residual {solves[0].get('tolerance')}")
        out.append(f"  {'method':26s} {'iterations':>10s} {'seconds':>9s} {'gain':>7s} {'speed-up':>9s}")
        for r in solves:
            out.append(f"  {r['method']:26s} {r['iterations']:10d} {r['seconds_per_call']:9.3f} "
                       f"{_f(r.get('iteration_gain'), '7.1f')} {_f(r.get('speedup_vs_unpreconditioned'), '9.2f')}"
                       f"{'' if r.get('converged', True) else '  NOT CONVERGED'}")
        mg = solves[-1]
        if mg.get("speedup_vs_best_baseline") is not None:
            out.append(f"  multigrid vs best non-learned baseline ({mg['best_baseline']}): "
                       f"{mg['speedup_vs_best_baseline']:.2f}x in wall-clock")
        for r in report["results"]:
            if r["kernel"] == "multigrid_training_step":
                out.append(f"  training step {r['stage']:26s} {r['seconds_per_call'] * 1e3:9.1f} ms x {r['steps']} steps")
    hmc = [r for r in report["results"] if r["kernel"].endswith("_cost_per_sample")]
    for r in hmc:
        out.append(f"{r['algorithm']:6s} {r['lattice']} beta={r['beta']} m={r['mass']}: {r['n_trajectories']} "
                   f"trajectories, acceptance {r['acceptance']:.3f}, {r['seconds_per_trajectory']:.4f} s/trajectory, "
                   f"tau_int(plaq) {r['tau_int_plaquette']:.2f}({r['tau_int_error']:.2f}) -> "
                   f"{r['seconds_per_independent_sample']:.3f}({r['seconds_per_independent_sample_error']:.3f}) s per "
                   f"independent sample")
    return "\n".join(out)


def format_report(report, markdown=False):
    parts = [header(report), "", results_table(report, markdown)]
    e2e = end_to_end_table(report)
    if e2e:
        parts += ["", "end to end:", e2e]
    ho = halo_overhead(report)
    if ho:
        parts.append("")
        parts.append("zero-boundary-link mode vs normal (same kernel, volume, threads):")
        for k, v, t, tn, tz in ho:
            parts.append(f"  {k:14s} {v:12s} t={t}: normal {tn * 1e3:.3f} ms, zero-boundary {tz * 1e3:.3f} ms "
                         f"({100 * (tn / tz - 1):+.1f}%)")
    if report.get("threads_per_rank"):  # judged again from the records (also for reports saved before the targets)
        parts += ["", "targets (issue 4), as measured in this run:", targets_table(evaluate(report))]
    if report["not_available"]:
        parts.append("")
        parts.append("not available yet:")
        parts += [f"  {n['kernel']}: {n['reason']}" for n in report["not_available"]]
    return "\n".join(parts)


def scaling_tables(reports, kernels=("wilson_hop", "wilson_clover"), precision="double"):
    """Weak scaling (same local volume, more ranks) and strong scaling (same global volume) from the
    reports of runs with different rank counts; times per call and efficiency vs the fewest ranks."""
    lines = []
    for kind in ("weak", "strong"):
        rows = {}
        for rep in reports:
            for r in rep["results"]:
                if (r["kernel"] in kernels and r["precision"] == precision and r.get("scaling", "weak") == kind
                        and r["nvec"] == 1 and r["mode"] == "normal" and r.get("layout", "site") == "site"):
                    vol = r["local_volume"] if kind == "weak" else r["global_volume"]
                    key = (r["kernel"], vol, r["threads"])
                    rows.setdefault(key, {})[r["ranks"]] = r
        if not rows:
            continue
        lines.append(f"{kind} scaling ({precision}; {'local' if kind == 'weak' else 'global'} volume fixed; "
                     f"efficiency vs the fewest ranks){':'}")
        for (k, vol, t), by in sorted(rows.items()):
            if len(by) < 2:
                continue
            r0 = min(by)
            base = by[r0]["seconds_per_call"]
            cells = []
            for n in sorted(by):
                s = by[n]["seconds_per_call"]
                eff = base / s if kind == "weak" else base * r0 / (s * n)
                over = "*" if by[n].get("oversubscribed") else ""
                cells.append(f"{n} rk{over}: {s * 1e3:.3f} ms ({100 * eff:.0f}%)")
            lines.append(f"  {k:14s} {vol:12s} t={t}  " + "   ".join(cells))
    if any(r.get("oversubscribed") for rep in reports for r in rep["results"]):
        lines.append("  * oversubscribed: more ranks x threads than cores (e.g. 4 ranks on this 2-core machine)")
    return "\n".join(lines)
