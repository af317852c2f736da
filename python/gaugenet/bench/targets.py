"""The performance targets of the suite (issue 4), evaluated on a report: for each target what this run
measured, the threshold, and whether it is met (None where the run did not measure it, e.g. --quick or
--no-numpy). Nothing here times anything; the numbers are the report's own records."""
import numpy as np

OUT_OF_CACHE_SITES = 32 ** 4  # the local volume of the bandwidth targets (out of cache in double)


def _sites(r):
    return int(np.prod([int(d) for d in r["local_volume"].split(".")])) if r.get("local_volume") else 0


def _plain(r, threads):
    """A kernel record of the weak-scaling sweep: one vector, normal mode, the given threads."""
    return (r.get("local_volume") and r["threads"] == threads and r.get("nvec", 1) == 1
            and r.get("mode", "normal") == "normal" and r.get("scaling", "weak") == "weak"
            and r.get("seconds_per_call"))


def _fastest(recs):
    return min(recs, key=lambda r: r["seconds_per_call"]) if recs else None


def _variant(r):
    v = r.get("layout", "site")
    if v != "packed":
        return "ordinary layout"
    return ("packed 2-row" if r.get("link_rows") == 2 else "packed") + (" doubled" if r.get("doubled_links") else "")


def _fraction(r):
    """The roofline fraction to judge: paired (kernel and triad measured together) where the run has it,
    else the one against the triad right before the case's group, else against the run's best triad."""
    for key, what in (("roofline_fraction_paired", "paired"), ("roofline_fraction_adjacent", "adjacent triad"),
                      ("roofline_fraction", "best triad of the run")):
        if r.get(key) is not None:
            return r[key], what
    return None, None


def _entry(target, threshold, measured, met, detail):
    return {"target": target, "threshold": threshold, "measured": measured, "met": met, "detail": detail}


def evaluate(report):
    """The list of targets (dicts: target, threshold, measured, met, detail) for a report of the suite."""
    res = report["results"]
    threads = max(report["threads_per_rank"])
    out = []

    def pick(kernel, precision, min_sites=0, sites=None, features=None):
        return [r for r in res if r["kernel"] == kernel and r["precision"] == precision and _plain(r, threads)
                and (_sites(r) >= min_sites if sites is None else _sites(r) == sites)
                and (features is None or r.get("features") == features)]

    # bandwidth: each Wilson kernel, double, out of cache; the layout with the highest fraction (all compute the
    # same operator, each counted with the bytes it stores)
    for kernel in ("wilson_hop", "wilson_clover"):
        name = f"{kernel}, double, out of cache (>= 32^4 local), {threads} thread(s): >= 70% of the bandwidth roofline"
        recs = [r for r in pick(kernel, "double", OUT_OF_CACHE_SITES) if _fraction(r)[0] is not None]
        best = max(recs, key=lambda r: _fraction(r)[0]) if recs else None
        if best is None:
            out.append(_entry(name, 0.70, None, None, "not measured in this run"))
            continue
        f, what = _fraction(best)
        scat = best.get("scattered_read_fraction_paired", best.get("scattered_read_fraction"))
        out.append(_entry(name, 0.70, f, f >= 0.70,
                          f"{_variant(best)} {best['seconds_per_call'] * 1e3:.2f} ms, {best['gbytes_per_s']:.1f} GB/s, "
                          f"{100 * f:.1f}% ({what})"
                          + ("" if scat is None else f"; {100 * scat:.1f}% of the scattered read")))
    # against numpy, same volume
    name = "wilson_hop, double, out of cache: >= 30x the numpy version"
    recs = [r for r in pick("wilson_hop", "double", OUT_OF_CACHE_SITES) if r.get("speedup_vs_numpy")]
    best = max(recs, key=lambda r: r["speedup_vs_numpy"]) if recs else None
    out.append(_entry(name, 30.0, best and best["speedup_vs_numpy"], best and best["speedup_vs_numpy"] >= 30.0,
                      f"{_variant(best)} at {best['local_volume']}" if best else "not measured in this run (numpy off "
                      "or no out-of-cache volume)"))
    # single vs double: the fastest of each, same volume
    for kernel in ("wilson_hop", "wilson_clover"):
        name = f"{kernel}, out of cache: single precision about 2x double (>= 1.8x)"
        d = _fastest(pick(kernel, "double", OUT_OF_CACHE_SITES))
        s = d and _fastest(pick(kernel, "single", sites=_sites(d)))
        if s is None:
            out.append(_entry(name, 1.8, None, None, "not measured in this run"))
            continue
        ratio = d["seconds_per_call"] / s["seconds_per_call"]
        out.append(_entry(name, 1.8, ratio, ratio >= 1.8, f"{d['seconds_per_call'] * 1e3:.2f} ms ({_variant(d)}) / "
                          f"{s['seconds_per_call'] * 1e3:.2f} ms ({_variant(s)}) at {d['local_volume']}"))
    # the PTC layer against the Wilson hop, and its backward against its forward: 1->1, double, per volume; each
    # ratio within one layout (the same link storage on both sides), the best layout judged, all listed
    for v in sorted({_sites(r) for r in pick("ptc_forward", "double", features="1->1")}):
        fr, br = [], []
        fwds = sorted(pick("ptc_forward", "double", sites=v, features="1->1"), key=_variant)
        for fwd in fwds:
            same = lambda r: _variant(r) == _variant(fwd)
            hop = _fastest([r for r in pick("wilson_hop", "double", sites=v) if same(r)])
            bwd = _fastest([r for r in pick("ptc_backward", "double", sites=v, features="1->1") if same(r)])
            if hop is not None:
                fr.append((fwd["seconds_per_call"] / hop["seconds_per_call"], _variant(fwd)))
            if bwd is not None:
                br.append((bwd["seconds_per_call"] / fwd["seconds_per_call"], _variant(fwd)))
        vol = fwds[0]["local_volume"]
        for what, thr, rs in (("ptc_forward 1->1 within 1.5x of the Wilson hop's time", 1.5, fr),
                              ("ptc_backward 1->1 within 2x of its forward", 2.0, br)):
            if rs:
                best = min(rs)
                out.append(_entry(f"{what}, {vol}", thr, best[0], best[0] <= thr,
                                  "; ".join(f"{name} {x:.2f}x" for x, name in rs)))
    # end to end, seed-000 problem
    mg = next((r for r in res if r["kernel"] == "fgmres_seed000" and r.get("method") == "fgmres_multigrid"), None)
    for name, key, thr in (("learned multigrid solve: >= 5x faster than unpreconditioned FGMRES",
                            "speedup_vs_unpreconditioned", 5.0),
                           ("learned multigrid solve: >= 2x faster than the best non-learned baseline",
                            "speedup_vs_best_baseline", 2.0)):
        v = mg.get(key) if mg else None
        if v is None:
            out.append(_entry(name, thr, None, None, "not measured in this run (end-to-end part off)"))
            continue
        detail = f"{mg['iterations']} iterations, {mg['seconds_per_call']:.3f} s"
        if key == "speedup_vs_best_baseline":
            detail += f" (best baseline: {mg.get('best_baseline')})"
        else:
            plain = next((r for r in res if r["kernel"] == "fgmres_seed000"
                          and r.get("method") == "fgmres_unpreconditioned"), None)
            if plain is not None and not plain.get("converged", True):
                detail += "; a lower bound: the unpreconditioned solve stopped unconverged at its iteration limit"
        if not mg.get("converged", True):
            detail += "; NOT CONVERGED"
        out.append(_entry(name, thr, v, v >= thr and mg.get("converged", True), detail))
    return out


def targets_table(targets):
    """Text lines: one per target, met / missed / not measured, with what was measured."""
    lines = []
    for t in targets:
        state = "not measured" if t["met"] is None else ("met" if t["met"] else "MISSED")
        val = "-" if t["measured"] is None else (f"{100 * t['measured']:.1f}%" if t["threshold"] < 1
                                                  else f"{t['measured']:.2f}x")
        lines.append(f"  [{state:12s}] {t['target']}: {val} ({t['detail']})")
    return "\n".join(lines)
