"""PNG plots written by the commands next to their outputs (matplotlib, Agg backend: no display needed).

matplotlib is optional (pip install 'gaugenet[plots]'). Without it every plot function logs one line
saying that plots were skipped and how to install it (once per process) and returns None; nothing
fails. Every function returns the path written (or None), writes on the calling process only (call it
on rank 0) and writes atomically (a kill never leaves half a PNG).

Data-level functions (for any command, e.g. hmc):

    plot_series(path, {"label": (x, y), ...}, title=..., xlabel=..., ylabel=..., logy=False)
    plot_panels(path, [panel, ...], title=...)   # panel: dict(series=..., xlabel, ylabel, logy, title)

Command-level ones: plot_plaquette_log (generate), plot_residuals (solve, mg), plot_training (mg),
plot_bench (bench), plot_hmc (hmc: plaquette, acceptance, loss, Polyakov loops per trajectory).
"""
import io
import math
import os

from .atomic import atomic_write_bytes
from .log import log

INSTALL_HINT = "pip install 'gaugenet[plots]' (or pip install matplotlib)"
_warned = False


def _never_fails(fn):
    """A plot that cannot be drawn or written (full disk, read-only directory, a matplotlib problem) is a
    warning, never the end of the run that produced the data."""
    import functools

    @functools.wraps(fn)
    def wrapped(path, *a, **kw):
        try:
            return fn(path, *a, **kw)
        except Exception as exc:  # noqa: BLE001
            log.warning("plot %s not written: %s: %s", path, type(exc).__name__, exc)
            return None
    return wrapped


def beside(path, tag):
    """The plot's name next to an output file: 'run/out.json', 'residuals' -> 'run/out.residuals.png'."""
    path = os.fspath(path)
    stem = path[:-5] if path.endswith(".json") else path
    return f"{stem}.{tag}.png"


def matplotlib_available():
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def _figure_class():
    """matplotlib's Figure (used with the Agg canvas, no pyplot state), or None after one log line."""
    global _warned
    try:
        import matplotlib
        matplotlib.use("Agg", force=False)
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        if not _warned:
            log.info("plots skipped: matplotlib is not installed (%s; --no-plots silences this)", INSTALL_HINT)
            _warned = True
        return None
    return Figure, FigureCanvasAgg


def _new_figure(Figure, size):
    try:
        return Figure(figsize=size, layout="constrained")      # titles and labels of stacked panels apart
    except TypeError:                                          # matplotlib < 3.5
        return Figure(figsize=size, constrained_layout=True)


def _save(fig, canvas_cls, path):
    canvas_cls(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    d = os.path.dirname(os.path.abspath(path))
    os.makedirs(d, exist_ok=True)
    atomic_write_bytes(path, buf.getvalue())
    log.info("plot written to %s", path)
    return path


def _finite(x, y, positive=False):
    pts = [(a, b) for a, b in zip(x, y) if b is not None and math.isfinite(b) and (b > 0 or not positive)]
    return [a for a, _ in pts], [b for _, b in pts]


def _draw(ax, panel):
    logy = panel.get("logy", False)
    n = 0
    for label, data in panel.get("series", {}).items():
        x, y = data
        x, y = _finite(list(x), list(y), positive=logy)
        if not y:
            continue
        style = dict(marker="o", markersize=3) if len(y) < 40 else {}
        ax.plot(x, y, label=label, linewidth=1.2, **style)
        n += 1
    for y, label in panel.get("hlines", []):
        ax.axhline(y, color="grey", linestyle="--", linewidth=0.8, label=label)
    if panel.get("vline") is not None:
        ax.axvline(panel["vline"], color="grey", linestyle=":", linewidth=0.8)
    if logy:
        ax.set_yscale("log")
    if panel.get("logx"):
        ax.set_xscale("log")
    ax.set_xlabel(panel.get("xlabel", ""))
    ax.set_ylabel(panel.get("ylabel", ""))
    if panel.get("title"):
        ax.set_title(panel["title"], fontsize=10)
    ax.grid(True, alpha=0.3)
    if n > 1 or panel.get("hlines"):
        ax.legend(fontsize=8 if n < 8 else 6, ncol=1 if n < 12 else 2)
    return n


@_never_fails
def plot_panels(path, panels, title=None):
    """Panels stacked vertically in one PNG; returns path, or None when matplotlib is absent or there is
    nothing to draw."""
    panels = [p for p in panels if any(len(list(v[1])) for v in p.get("series", {}).values())]
    if not panels:
        return None
    classes = _figure_class()
    if classes is None:
        return None
    Figure, Canvas = classes
    fig = _new_figure(Figure, (7.0, 2.8 * len(panels) + 0.4))
    axes = fig.subplots(len(panels), 1, squeeze=False)[:, 0]
    for ax, panel in zip(axes, panels):
        _draw(ax, panel)
    if title:
        fig.suptitle(title, fontsize=11)
    return _save(fig, Canvas, path)


@_never_fails
def plot_series(path, series, title=None, xlabel="", ylabel="", logy=False):
    """One panel of lines: series {label: (x, y)}."""
    return plot_panels(path, [dict(series=series, xlabel=xlabel, ylabel=ylabel, logy=logy)], title=title)


# ------------------------------------------------------------------------ generate
def read_plaquette_log(path):
    """(sweeps, plaquettes) from a generate plaquette log (comment lines skipped)."""
    xs, ys = [], []
    with open(path) as f:
        for line in f:
            fields = line.split()
            if line.startswith("#") or len(fields) != 2:
                continue
            xs.append(int(fields[0]))
            ys.append(float(fields[1]))
    return xs, ys


@_never_fails
def plot_plaquette_log(log_path, path, therm=None, title=None):
    """The plaquette per sweep of a generate run, the end of thermalisation marked."""
    xs, ys = read_plaquette_log(log_path)
    panel = dict(series={"plaquette": (xs, ys)}, xlabel="sweep", ylabel="plaquette",
                 vline=therm if therm and xs and therm <= xs[-1] else None)   # end of thermalisation, dotted
    return plot_panels(path, [panel], title=title or "generate: plaquette history")


# ------------------------------------------------------------------------ solvers
@_never_fails
def plot_residuals(path, records, title=None):
    """Residual histories of solves: records with 'method' (or 'name') and 'history' (relative
    residual per iteration); records without a history are left out."""
    series = {}
    for r in records:
        h = r.get("history") or []
        if len(h):
            name = r.get("method") or r.get("name") or f"solve {len(series) + 1}"
            series[name] = (range(1, len(h) + 1), list(h))
    if not series:
        return None
    return plot_series(path, series, title=title or "residual histories", xlabel="iteration",
                       ylabel="|r|/|b| (solver's estimate)", logy=True)


# ------------------------------------------------------------------------ mg training
@_never_fails
def plot_training(path, histories, iterations=None, reference_iterations=None, title=None):
    """Training cost per step of every stage (histories {stage: [(step, cost, seconds), ...]}) and, when
    given, the FGMRES iterations of the per-step solves of the multigrid stage ({stage: [(step, its)]})
    as the iteration gain reference_iterations / iterations (or the iterations themselves without a
    reference)."""
    cost = {name: ([h[0] for h in hist], [h[1] for h in hist]) for name, hist in histories.items() if hist}
    panels = [dict(series=cost, xlabel="training step", ylabel="cost", logy=True, title="training cost")]
    if iterations:
        its = {}
        for name, rows in iterations.items():
            if not rows:
                continue
            x = [r[0] for r in rows]
            if reference_iterations:
                its[name] = (x, [reference_iterations / max(1, r[1]) for r in rows])
            else:
                its[name] = (x, [r[1] for r in rows])
        if its:
            panels.append(dict(series=its, xlabel="training step",
                               ylabel="iteration gain" if reference_iterations else "FGMRES iterations",
                               title=(f"iteration gain of the per-step solve (unpreconditioned FGMRES: "
                                      f"{reference_iterations} iterations to the same tolerance)"
                                      if reference_iterations else "FGMRES iterations of the per-step solve")))
    return plot_panels(path, panels, title=title or "mg: training")


# ------------------------------------------------------------------------ bench
def _sites(vol):
    try:
        n = 1
        for v in str(vol).split("."):
            n *= int(v)
        return n
    except ValueError:
        return None


def bench_series(report, key):
    """{label: (local sites ascending, values)} of the weak-scaling single-rhs records of a bench report ('results')
    at the largest thread count, one series per kernel variant and precision."""
    recs = [r for r in report.get("results", []) if isinstance(r, dict) and r.get(key) is not None
            and r.get("gflops") is not None and r.get("scaling", "weak") == "weak" and r.get("nvec", 1) == 1]
    if not recs:
        return {}
    tmax = max(int(r.get("threads") or 1) for r in recs)
    series = {}
    for r in recs:
        if int(r.get("threads") or 1) != tmax:
            continue
        x = _sites(r.get("local_volume"))
        if x is None:
            continue
        label = f"{r.get('kernel', '?')} {r.get('precision', '')}"
        if r.get("mode", "normal") != "normal":
            label += f" {r['mode']}"
        if r.get("layout", "site") != "site":
            label += f" {r['layout']}"
        if r.get("link_rows") == 2:
            label += " 2row"
        xs, ys = series.setdefault(label, ([], []))
        xs.append(x)
        ys.append(float(r[key]))
    for label, (xs, ys) in series.items():
        order = sorted(range(len(xs)), key=xs.__getitem__)
        series[label] = ([xs[i] for i in order], [ys[i] for i in order])
    return series


@_never_fails
def plot_bench(path, report, title=None):
    """Horizontal bars, one row per kernel variant and precision (weak scaling, one right-hand side, most
    threads) at its largest local volume: GFLOP/s, fraction of the STREAM-triad roofline, fraction of the
    scattered-read ceiling (dashed line: 1)."""
    keys = ("gflops", "roofline_fraction", "scattered_read_fraction")
    per = {k: bench_series(report, k) for k in keys}
    labels = list(per["gflops"])
    if not labels:
        return None
    classes = _figure_class()
    if classes is None:
        return None
    Figure, Canvas = classes
    sizes = {lab: per["gflops"][lab][0][-1] for lab in labels}     # the largest local volume of each row
    one_size = len(set(sizes.values())) == 1
    names = [lab if one_size else f"{lab} ({sizes[lab]} sites)" for lab in labels]

    def at_largest(key, lab):
        xs, ys = per[key].get(lab, ([], []))
        return ys[xs.index(sizes[lab])] if sizes[lab] in xs else 0.0

    cols = [k for k in keys if per[k]]
    fig = _new_figure(Figure, (4.0 * len(cols) + 2.5, 0.22 * len(labels) + 1.4))
    axes = fig.subplots(1, len(cols), squeeze=False, sharey=True)[0]
    ypos = list(range(len(labels)))
    colours = {"gflops": "tab:blue", "roofline_fraction": "tab:orange", "scattered_read_fraction": "tab:green"}
    xlabels = {"gflops": "GFLOP/s", "roofline_fraction": "fraction of the STREAM triad",
               "scattered_read_fraction": "fraction of the scattered read"}
    for ax, key in zip(axes, cols):
        ax.barh(ypos, [at_largest(key, lab) for lab in labels], color=colours[key])
        if key != "gflops":
            ax.axvline(1.0, color="grey", linestyle="--", linewidth=0.8)
        ax.set_xlabel(xlabels[key])
        ax.grid(True, axis="x", alpha=0.3)
    axes[0].set_yticks(ypos)
    axes[0].set_yticklabels(names, fontsize=7)
    axes[0].invert_yaxis()
    where = f", local volume {next(iter(sizes.values()))} sites" if one_size else ""
    fig.suptitle(title or f"bench: {report.get('ranks', '?')} rank(s){where}", fontsize=11)
    return _save(fig, Canvas, path)


# ------------------------------------------------------------------------ hmc
@_never_fails
def plot_hmc(path, records, title=None):
    """Per-trajectory histories of an hmc run from its records (the dicts of DIR/hmc.jsonl, as
    cli/hmc.py writes them): plaquette; acceptance (the running mean of 'accepted', or 'acceptance');
    the SLHMC network's 'loss' (training trajectories); |dH|; the Polyakov loops ('polyakov_loop_x' ..
    'polyakov_loop_t', real parts; or 'polyakov' as a number, [re, im] or a list of those per direction);
    the chiral condensate. Keys that are absent are skipped; the trajectory number is 'traj' or
    'trajectory' (else the record's position)."""
    def traj(i, r):
        return r.get("traj", r.get("trajectory", i + 1))

    def col(key):
        xs, ys = [], []
        for i, r in enumerate(records):
            v = r.get(key)
            if v is None or isinstance(v, (list, dict, str)):
                continue
            xs.append(traj(i, r))
            ys.append(float(v))
        return xs, ys

    panels = [dict(series={"plaquette": col("plaquette")}, xlabel="trajectory", ylabel="plaquette")]
    acc = {}
    x, y = col("accepted")
    if y:
        run, tot = [], 0.0
        for i, v in enumerate(y):
            tot += v
            run.append(tot / (i + 1))
        acc["running acceptance"] = (x, run)
    x, y = col("acceptance")
    if y:
        acc["acceptance"] = (x, y)
    panels.append(dict(series=acc, xlabel="trajectory", ylabel="acceptance"))
    panels.append(dict(series={"loss": col("loss")}, xlabel="trajectory", ylabel="loss", logy=True))
    x, y = col("dH")
    panels.append(dict(series={"|dH|": (x, [abs(v) for v in y])}, xlabel="trajectory", ylabel="|dH|", logy=True))
    pol = {f"Re P_{d}": col(f"polyakov_loop_{d}") for d in "xyzt"}
    for i, r in enumerate(records):
        v = r.get("polyakov")
        if v is None:
            continue
        vals = v if isinstance(v, (list, tuple)) and v and isinstance(v[0], (list, tuple, dict)) else [v]
        for mu, p in enumerate(vals):
            re = p.get("re", p.get("real")) if isinstance(p, dict) else p[0] if isinstance(p, (list, tuple)) else p
            if re is None:
                continue
            xs, ys = pol.setdefault(f"Re P (mu={mu})" if len(vals) > 1 else "Re P", ([], []))
            xs.append(traj(i, r))
            ys.append(float(re))
    panels.append(dict(series=pol, xlabel="trajectory", ylabel="Polyakov loop"))
    panels.append(dict(series={"chiral condensate": col("chiral_condensate")}, xlabel="trajectory",
                       ylabel="chiral condensate"))
    return plot_panels(path, panels, title=title or "hmc: histories")
