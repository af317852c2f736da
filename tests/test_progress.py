"""Watching a run: progress (tqdm bar on a terminal, periodic log lines otherwise, nothing on other ranks)
and the PNG plots the commands write (valid PNG files; matplotlib absent: one log line, no crash)."""
import builtins
import io
import json
import logging
import os
import subprocess
import sys

import pytest

from conftest import GAUGENET_PATH, NRANKS

PNG = b"\x89PNG\r\n\x1a\n"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _is_png(path):
    """A PNG signature, an IHDR chunk with a positive size, and an IEND chunk at the end."""
    with open(path, "rb") as f:
        data = f.read()
    assert data[:8] == PNG, f"{path} is not a PNG"
    assert data[12:16] == b"IHDR"
    w, h = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert w > 100 and h > 100, (w, h)
    assert data[-8:-4] == b"IEND"
    return w, h


@pytest.fixture
def logs():
    """The gaugenet log records of the test, as text."""
    from gaugenet.util.log import log
    buf = io.StringIO()
    h = logging.StreamHandler(buf)
    h.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    old = (list(log.handlers), log.level, log.propagate)
    log.handlers[:] = [h]
    log.setLevel(logging.DEBUG)
    log.propagate = False
    yield buf
    log.handlers[:], log.level, log.propagate = old[0], old[1], old[2]


@pytest.fixture
def no_matplotlib(monkeypatch):
    """Make `import matplotlib` (and its submodules) fail, as on a machine without it."""
    import gaugenet.util.plots as plots
    real = builtins.__import__

    def fake(name, *a, **kw):
        if name == "matplotlib" or name.startswith("matplotlib."):
            raise ImportError(f"No module named {name!r} (test)")
        return real(name, *a, **kw)
    monkeypatch.setattr(builtins, "__import__", fake)
    monkeypatch.setattr(plots, "_warned", False)


needs_mpl = pytest.mark.skipif(not __import__("gaugenet.util.plots", fromlist=["x"]).matplotlib_available(),
                               reason="matplotlib not installed (pip install 'gaugenet[plots]')")
needs_tqdm = pytest.mark.skipif(not __import__("gaugenet.util.progress", fromlist=["x"]).have_tqdm(),
                                reason="tqdm not installed (pip install 'gaugenet[progress]')")


# ---------------------------------------------------------------------------------------------- progress
def test_mode_choice(monkeypatch):
    from gaugenet.util.progress import choose_mode, have_tqdm

    class Tty(io.StringIO):
        def isatty(self):
            return True
    monkeypatch.delenv("GAUGENET_PROGRESS", raising=False)
    assert choose_mode(io.StringIO(), rank=0) == "log"                 # a batch job's output file
    assert choose_mode(Tty(), rank=0) == ("bar" if have_tqdm() else "log")
    assert choose_mode(Tty(), rank=1) == "off"                         # other ranks print nothing
    monkeypatch.setenv("GAUGENET_PROGRESS", "off")
    assert choose_mode(Tty(), rank=0) == "off"
    monkeypatch.setenv("GAUGENET_PROGRESS", "log")
    assert choose_mode(Tty(), rank=0) == "log"
    monkeypatch.setenv("GAUGENET_PROGRESS", "fancy")
    with pytest.raises(ValueError, match="GAUGENET_PROGRESS"):
        choose_mode(Tty(), rank=0)


def test_log_mode_lines_every_ten_percent(logs):
    from gaugenet.util.progress import Progress
    with Progress(40, "loop", unit="sweep", initial=10, mode="log", every_seconds=1e9) as p:
        for k in range(30):
            p.update(1, plaquette=f"{0.5 + k * 1e-3:.4f}")
    lines = [ln for ln in logs.getvalue().splitlines() if ln.startswith("INFO loop:")]
    # from 25 % (10 of 40 already done) to 100 %: one line at each multiple of 10 % crossed
    assert len(lines) == 8 and p.lines == 8, lines
    assert "100.0% (40/40 sweeps)" in lines[-1] and "sweeps/s" in lines[-1] and "ETA 0:00" in lines[-1]
    assert "plaquette 0.5290" in lines[-1]
    assert " 30.0% (12/40 sweeps)" in lines[0]


def test_log_mode_by_time(logs, monkeypatch):
    """Without percentage steps, lines come every `every_seconds` (the clock is faked)."""
    import gaugenet.util.progress as pr
    now = [0.0]
    monkeypatch.setattr(pr.time, "perf_counter", lambda: now[0])
    p = pr.Progress(1000, "slow", mode="log", every_percent=0, every_seconds=30)
    for _ in range(10):
        now[0] += 10.0
        p.update(1)
    assert p.lines == 3                       # at 30, 60, 90 s
    # the last line at 90 s: 9 steps done at 0.1 step/s, 991 to go: 9910 s
    assert "0.9% (9/1000 steps), 0.1 steps/s, elapsed 1:30, ETA 2:45:10" in logs.getvalue().splitlines()[-1]
    p.close()


def test_off_mode_prints_nothing(logs):
    from gaugenet.util.progress import Progress
    with Progress(5, "quiet", mode="off") as p:
        for _ in range(5):
            p.update()
    assert logs.getvalue() == ""


@needs_tqdm
def test_bar_mode_writes_a_tqdm_bar(monkeypatch):
    """On a terminal: a tqdm bar with rate and ETA; log lines during the loop go above the bar."""
    from gaugenet.util.log import configure_logging, log
    from gaugenet.util.progress import Progress
    out = io.StringIO()
    monkeypatch.setattr(sys, "stdout", out)
    old = (list(log.handlers), log.level, log.propagate)
    configure_logging()                    # gaugenet's handler on (the patched) stdout
    try:
        _bar_loop(out, log, Progress)
    finally:
        log.handlers[:], log.level, log.propagate = old[0], old[1], old[2]
    assert log.handlers == old[0]


def _bar_loop(out, log, Progress):
    with Progress(20, "gen", unit="sweep", mode="bar", stream=out) as p:
        for _ in range(20):
            p.update(1, plaquette="0.6")
        log.info("a message during the loop")
    text = out.getvalue()
    assert "gen: 100%" in text and "20/20" in text and "sweep/s" in text and "plaquette=0.6" in text, text
    assert "a message during the loop" in text             # printed through tqdm.write, not over the bar


def test_residual_progress(logs):
    from gaugenet.util.progress import ResidualProgress
    p = ResidualProgress(1e-8, 100, desc="eo-cg", mode="log", every_percent=50, every_seconds=1e9)
    assert p.fraction(1.0) == 0.0 and p.fraction(1e-8) == 1.0 and abs(p.fraction(1e-4) - 0.5) < 1e-12
    p.update_residual(1, 1e-2)
    p.update_residual(2, 1e-1)                # a rise: the bar does not move back
    assert p.n == 250
    p.update_residual(3, 1e-5)
    assert "eo-cg:  62.5% of the way to |r|/|b| = 1.0e-08; iteration 3/100; residual 1.00e-05" in logs.getvalue()
    p.close()


def test_solve_progress_follows_the_outer_solve():
    """Monitor.observer is set inside the block only, and the bar follows the first solve that reports."""
    import numpy as np
    from gaugenet.solvers.result import Monitor
    from gaugenet.util.progress import solve_progress
    with solve_progress(1e-6, 50, desc="t", mode="log") as bar:
        assert Monitor.observer is not None
        outer = Monitor("outer", 1.0, 1e-6, 50)
        inner = Monitor("inner", 1.0, 1e-6, 50)
        outer.record(1e-3)
        inner.record(1e-5)                    # a nested solve: not followed
        assert bar.n == 500 and bar.info["iteration"] == "1/50"
        outer.record(1e-6)
        assert bar.n == 1000
        assert np.isfinite(bar.rate())
    assert Monitor.observer is None


def test_training_recorder():
    """train() reports every step to a recorder in a `recording` block (and to none outside)."""
    import numpy as np
    from gaugenet.models import training

    class Quadratic:
        """A stand-in model: quadratic_cost is replaced below by cost (sum Re w)^2 + 1."""

    rec = training.TrainingRecorder(progress=False)
    calls = []

    def batch(step):
        calls.append(step)
        return None, None
    old = training.quadratic_cost
    training.quadratic_cost = lambda model, w, x, y: (float(w[0].real.sum() ** 2 + 1), [2 * w[0], 0])
    try:
        w = [np.ones(3, dtype=complex)]
        with training.recording(rec):
            training.train(Quadratic(), w, batch, 4, name="toy")
        training.train(Quadratic(), w, batch, 2, name="outside")
    finally:
        training.quadratic_cost = old
    assert [h[0] for h in rec.histories["toy"]] == [0, 1, 2, 3] and "outside" not in rec.histories
    assert rec.histories["toy"][0][1] == 10.0
    assert calls == [0, 1, 2, 3, 0, 1]


# ---------------------------------------------------------------------------------------------- plots
@needs_mpl
def test_plot_functions_write_pngs(tmp_path, logs):
    from gaugenet.util import plots
    logp = tmp_path / "plaquette.log"
    logp.write_text("# header\n# sweep plaquette\n" + "".join(f"{s} {0.6 + 0.01 / s:.16f}\n" for s in range(1, 31))
                    + "# saved 30 cfg_000030.h5\n")
    assert plots.read_plaquette_log(logp)[0] == list(range(1, 31))
    out = plots.plot_plaquette_log(logp, tmp_path / "plaquette.png", therm=20)
    assert out and _is_png(out)
    recs = [{"method": "eo-cg", "history": [10.0 ** (-k / 3) for k in range(25)]},
            {"method": "gmres", "history": [10.0 ** (-k / 5) for k in range(41)]}, {"method": "none"}]
    assert _is_png(plots.plot_residuals(plots.beside(tmp_path / "s.json", "residuals"), recs))
    assert os.path.exists(tmp_path / "s.residuals.png")
    hist = {"high-mode": [(s, 1.0 / (s + 1), 0.01) for s in range(20)], "multigrid": [(s, 0.1, 0.05) for s in range(3)]}
    assert _is_png(plots.plot_training(tmp_path / "t.png", hist, {"multigrid": [(0, 30), (1, 25), (2, 24)]}, 120))
    report = {"ranks": 1, "results": [
        {"kernel": "wilson", "precision": p, "local_volume": v, "threads": 1, "nvec": 1, "scaling": "weak",
         "gflops": g, "roofline_fraction": f, "scattered_read_fraction": f * 1.2, "mode": "normal", "layout": "site"}
        for p, g0 in (("double", 10.0), ("single", 18.0)) for v, g, f in
        (("4.4.4.4", g0, 0.5), ("8.8.8.8", g0 * 1.3, 0.7), ("16.16.16.16", g0 * 1.2, 0.65))]}
    assert set(plots.bench_series(report, "gflops")) == {"wilson double", "wilson single"}
    assert plots.bench_series(report, "gflops")["wilson double"][0] == [256, 4096, 65536]
    assert _is_png(plots.plot_bench(tmp_path / "b.png", report))
    traj = [{"trajectory": t, "plaquette": 0.58 + 0.001 * t, "accepted": t % 3 != 0, "dH": 0.1 * (-1) ** t,
             "loss": 1.0 / t, "polyakov": [[0.01 * t, 0.0], [0.02, 0.01], [0.0, 0.0], [0.03, -0.01]]}
            for t in range(1, 21)]
    assert _is_png(plots.plot_hmc(tmp_path / "hmc.png", traj))
    # the records as cli/hmc.py writes them to DIR/hmc.jsonl
    jsonl = [{"traj": t, "accepted": t % 4 != 0, "dH": 0.2, "plaquette": 0.6, "polyakov_loop_x": 0.01 * t,
              "polyakov_loop_x_im": 0.0, "polyakov_loop_t": -0.02 * t, "chiral_condensate": 0.4,
              **({"loss": 2.0 / t} if t < 10 else {})} for t in range(1, 30)]
    assert _is_png(plots.plot_hmc(tmp_path / "hmc2.png", jsonl))
    assert _is_png(plots.plot_series(tmp_path / "one.png", {"x^2": (range(5), [k * k for k in range(5)])}))
    assert plots.plot_residuals(tmp_path / "none.png", [{"method": "x"}]) is None    # nothing to draw
    assert not [n for n in os.listdir(tmp_path) if n.endswith(".gaugenet-part")]
    assert logs.getvalue().count("plot written to") == 7


@needs_mpl
def test_plot_into_unwritable_place_is_a_warning(tmp_path, logs):
    from gaugenet.util import plots
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert plots.plot_series(blocker / "sub" / "p.png", {"a": ([0, 1], [1, 2])}) is None
    assert "not written" in logs.getvalue()


def test_plots_without_matplotlib(tmp_path, logs, no_matplotlib):
    """No matplotlib: every plot returns None, one log line says how to install it, nothing is written."""
    from gaugenet.util import plots
    assert not plots.matplotlib_available()
    assert plots.plot_series(tmp_path / "a.png", {"a": ([0, 1], [1, 2])}) is None
    assert plots.plot_residuals(tmp_path / "b.png", [{"method": "m", "history": [1, 0.1]}]) is None
    assert plots.plot_hmc(tmp_path / "c.png", [{"plaquette": 0.5}]) is None
    text = logs.getvalue()
    assert text.count("plots skipped: matplotlib is not installed") == 1, text
    assert "pip install 'gaugenet[plots]'" in text
    assert os.listdir(tmp_path) == []


# ---------------------------------------------------------------------------------------------- commands
pytestmark_cmd = pytest.mark.skipif(NRANKS > 1, reason="launches its own processes")


def _gen(tmp_path, *extra, env_extra=None):
    env = dict(os.environ, OMP_NUM_THREADS="1", GAUGENET_PROGRESS="log")
    env["PYTHONPATH"] = GAUGENET_PATH + os.pathsep + env.get("PYTHONPATH", "")
    env.update(env_extra or {})
    out = str(tmp_path / "ens")
    cmd = [sys.executable, "-m", "gaugenet", "generate", "--lattice", "4.4.4.4", "--therm", "6", "--sep", "2",
           "--count", "2", "--or-steps", "1", "--out", out, *extra]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    return out, r


@pytestmark_cmd
@needs_mpl
def test_generate_writes_progress_and_plot(tmp_path):
    out, r = _gen(tmp_path)
    assert _is_png(os.path.join(out, "plaquette.png"))
    assert "generate: 100.0% (10/10 sweeps)" in r.stdout and "ETA" in r.stdout, r.stdout
    out2, r = _gen(tmp_path / "np", "--no-plots")
    assert not os.path.exists(os.path.join(out2, "plaquette.png"))


@pytestmark_cmd
def test_generate_without_matplotlib(tmp_path):
    """A command on a machine without matplotlib: exit 0, one line saying plots were skipped."""
    shim = tmp_path / "shim"
    shim.mkdir()
    (shim / "matplotlib.py").write_text("raise ImportError('matplotlib hidden by the test')\n")
    out, r = _gen(tmp_path, env_extra={"PYTHONPATH": f"{shim}{os.pathsep}{GAUGENET_PATH}"})
    assert r.stdout.count("plots skipped: matplotlib is not installed") == 1, r.stdout
    assert not os.path.exists(os.path.join(out, "plaquette.png"))
    assert json.load(open(os.path.join(out, "generate.json")))["sweeps_done"] == 10
