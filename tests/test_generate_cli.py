"""`python -m gaugenet generate`: the plaquette log (rank 0, and DIR/plaquette.log) is the same on 1 and 2
ranks, the configurations are written and carry the logged plaquette, and a resumed run reproduces
the uninterrupted chain."""
import argparse
import importlib.util
import json
import os
import shutil
import subprocess
import sys

import pytest

from conftest import NRANKS, assert_close

pytestmark = pytest.mark.skipif(NRANKS > 1, reason="launches its own processes")

SMALL = ["--lattice", "4.4.4.8", "--N", "3", "--beta", "6.0", "--seed", "5", "--or-steps", "1",
         "--reunitarize-every", "2"]


def _has_io():
    if importlib.util.find_spec("gaugenet.io") is None:
        return False
    import gaugenet.io as gio
    return hasattr(gio, "save_gauge") and hasattr(gio, "load_gauge")


HAS_IO = _has_io()
needs_io = pytest.mark.skipif(not HAS_IO, reason="gaugenet.io (gauge-file I/O) is not available")


def _run(args, n=1, timeout=300):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "gaugenet", "generate"] + args
    if n > 1:
        exe = shutil.which("mpiexec", path=os.path.dirname(sys.executable)) or shutil.which("mpiexec")
        if exe is None:
            pytest.skip("no mpiexec")
        cmd = [exe, "-n", str(n)] + cmd
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)


def _plaquettes(out):
    """{sweep: plaquette} from DIR/plaquette.log (comment lines skipped)."""
    rows = {}
    with open(os.path.join(out, "plaquette.log")) as f:
        for line in f:
            if line.strip() and not line.startswith("#"):
                s, p = line.split()
                assert int(s) not in rows, f"sweep {s} logged twice"
                rows[int(s)] = float(p)
    return rows


def _load(path):
    import gaugenet as gn
    from mpi4py import MPI
    lat = gn.Lattice((4, 4, 4, 8), mpi=(1, 1, 1, 1), comm=MPI.COMM_SELF)
    return gn.io.load_gauge(path, lat)


def test_defaults_are_the_seed000_ensemble():
    from gaugenet.cli import generate
    p = argparse.ArgumentParser()
    generate.add_arguments(p)
    a = p.parse_args([])
    assert (a.lattice, a.N, a.beta) == ("8.8.8.16", 3, 6.0)
    assert a.format == "hdf5" and a.therm > 0 and a.sep > 0 and a.count > 0


def test_log_and_files_same_on_one_and_two_ranks(tmp_path):
    count = 2 if HAS_IO else 0
    args = SMALL + ["--therm", "2", "--sep", "1", "--count", str(count)]
    outs = {}
    for n in (1, 2):
        out = str(tmp_path / f"ranks{n}")
        r = _run(args + ["--out", out], n=n)
        assert r.returncode == 0, r.stdout + r.stderr
        total = 2 + count
        for s in range(1, total + 1):
            assert r.stdout.count(f"sweep {s}/{total} ") == 1, f"sweep {s} not logged exactly once:\n{r.stdout}"
        outs[n] = out
        plaq = _plaquettes(out)
        assert sorted(plaq) == list(range(1, total + 1))
        assert 0.55 < plaq[total] < 0.75, plaq       # on the way from 1 (cold start) towards ~0.6
        state = json.load(open(os.path.join(out, "generate.json")))
        assert state["params"]["lattice"] == [4, 4, 4, 8] and state["params"]["beta"] == 6.0
        assert [c["sweep"] for c in state["configs"]] == [2 + k for k in range(1, count + 1)]
    p1, p2 = _plaquettes(outs[1]), _plaquettes(outs[2])
    assert_close([p2[s] for s in sorted(p2)], [p1[s] for s in sorted(p1)], 1e-12, "plaquette log 1 vs 2 ranks")
    if HAS_IO:
        import gaugenet as gn
        for c in json.load(open(os.path.join(outs[1], "generate.json")))["configs"]:
            U1 = _load(os.path.join(outs[1], c["file"]))
            U2 = _load(os.path.join(outs[2], c["file"]))
            assert abs(gn.plaquette(U1) - p1[c["sweep"]]) < 1e-12
            assert_close(U2.data, U1.data, 1e-12, f"{c['file']} 1 vs 2 ranks")
            assert U1.unitarity_violation() < 1e-12


@needs_io
@pytest.mark.parametrize("fmt", ["hdf5", "nersc", "ildg"])
def test_resume_reproduces_uninterrupted_chain(tmp_path, fmt):
    base = SMALL + ["--therm", "2", "--sep", "2", "--format", fmt]
    full, part = str(tmp_path / "full"), str(tmp_path / "part")
    r = _run(base + ["--count", "3", "--out", full])
    assert r.returncode == 0, r.stdout + r.stderr
    r = _run(base + ["--count", "1", "--out", part])
    assert r.returncode == 0, r.stdout + r.stderr
    # an interrupted run would have logged sweeps past the last configuration: they are redone
    with open(os.path.join(part, "plaquette.log"), "a") as f:
        f.write("5 0.123\n")
    r = _run(base + ["--count", "3", "--out", part])
    assert r.returncode == 0, r.stdout + r.stderr
    assert "continuing the chain" in r.stdout and "(4 sweeps done" in r.stdout, r.stdout
    assert "sweep 1/8 " not in r.stdout and "sweep 5/8 " in r.stdout
    pf, pp = _plaquettes(full), _plaquettes(part)
    assert sorted(pp) == sorted(pf) == list(range(1, 9))
    assert_close([pp[s] for s in range(1, 9)], [pf[s] for s in range(1, 9)], 1e-12, "resumed plaquette log")
    sf = json.load(open(os.path.join(full, "generate.json")))
    sp = json.load(open(os.path.join(part, "generate.json")))
    assert [c["file"] for c in sp["configs"]] == [c["file"] for c in sf["configs"]]
    last = sf["configs"][-1]["file"]
    assert_close(_load(os.path.join(part, last)).data, _load(os.path.join(full, last)).data, 1e-12, "last config")
    # nothing left to do: a rerun changes nothing
    r = _run(base + ["--count", "3", "--out", part])
    assert r.returncode == 0 and "nothing to do" in r.stdout, r.stdout + r.stderr


def test_changed_parameters_refuse_to_continue(tmp_path):
    out = str(tmp_path / "ens")
    r = _run(SMALL + ["--therm", "1", "--count", "0", "--out", out])
    assert r.returncode == 0, r.stdout + r.stderr
    r = _run(["--lattice", "4.4.4.8", "--N", "3", "--beta", "5.9", "--seed", "5", "--or-steps", "1",
              "--reunitarize-every", "2", "--therm", "1", "--count", "0", "--out", out])
    assert r.returncode != 0
    assert "parameters differ" in r.stderr and "beta: 6.0" in r.stderr, r.stderr


def test_bad_arguments_fail_clearly(tmp_path):
    r = _run(SMALL + ["--lattice", "4.4.4.5", "--out", str(tmp_path / "x")])
    assert r.returncode != 0 and "even extents" in r.stderr, r.stderr
    r = _run(SMALL + ["--sep", "0", "--out", str(tmp_path / "y")])
    assert r.returncode != 0 and "--sep must be >= 1" in r.stderr, r.stderr
