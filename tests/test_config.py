"""TOML configuration files of the commands (gaugenet/cli/config.py): precedence, checks, saved configs,
the example configs in jobs/configs/, errors on every rank; and `gaugenet info`."""
import glob
import os
import shutil
import subprocess
import sys
import tempfile
import time

import pytest

from conftest import GAUGENET_PATH, COMM, NRANKS
from gaugenet.cli import config
from gaugenet.cli.main import build_parser, main, resolve

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLES = sorted(glob.glob(os.path.join(ROOT, "jobs", "configs", "*.toml")))


def _write(tmp_path, text, name="run.toml"):
    path = os.path.join(str(tmp_path), name)
    with open(path, "w") as f:
        f.write(text)
    return path


@pytest.fixture
def shared_dir(tmp_path):
    """One directory for every rank (rank 0 makes it; tmp_path differs between the ranks of mpiexec)."""
    if NRANKS == 1:
        yield str(tmp_path)
        return
    d = COMM.bcast(tempfile.mkdtemp(prefix="gn-config-") if COMM.Get_rank() == 0 else None, root=0)
    yield d
    COMM.Barrier()
    if COMM.Get_rank() == 0:
        shutil.rmtree(d, ignore_errors=True)


def _write_shared(d, text, name="run.toml"):
    path = os.path.join(d, name)
    if COMM.Get_rank() == 0:
        _write(d, text, name)
    COMM.Barrier()
    return path


def _settings(argv):
    """The resolved {key: value} of a command line, without running the command."""
    command, _, sub, args = resolve(argv)
    return config.resolved(sub, args)


def _error(argv):
    with pytest.raises(config.ConfigError) as e:
        resolve(argv)
    return str(e.value)


# ------------------------------------------------------------------------------------------ precedence
def test_file_sets_options_and_flags_override_it(tmp_path):
    path = _write(tmp_path, 'steps = 7\ntrain_samples = 4\nbeta = 3\nstart = "hot"\nlattice = "4.4.4.8"\n'
                            'verbose = true\nout = "somewhere"\n')
    s = _settings(["hmc", path])
    assert s["steps"] == 7 and s["train_samples"] == 4 and s["start"] == "hot" and s["lattice"] == "4.4.4.8"
    assert s["beta"] == 3.0 and isinstance(s["beta"], float)  # a TOML integer for a float option
    assert s["verbose"] is True and s["out"] == "somewhere"
    assert s["tau"] == 1.0 and s["mass"] == 0.3  # not in the file: the defaults
    s = _settings(["hmc", path, "--steps", "8", "--start", "cold"])
    assert s["steps"] == 8 and s["start"] == "cold" and s["train_samples"] == 4
    s = _settings(["hmc", "--steps", "9", path])  # the file may also come after the flags
    assert s["steps"] == 9 and s["train_samples"] == 4


def test_no_file_keeps_the_defaults_and_config_option_is_separate(tmp_path):
    """Without a file every option has its argparse default; `--config` (a gauge file of solve and mg) is an
    option of its own, not the configuration file."""
    parser, commands = build_parser()
    for name, (_, sub) in commands.items():
        s = _settings([name])
        for dest, action in config.option_actions(sub).items():
            assert s[dest] == action.default, (name, dest)
        assert config.CONFIG_DEST not in s
    path = _write(tmp_path, 'config = "gauge.h5"\ncsw = 0.0\n')
    s = _settings(["solve", path, "--config", "other.h5"])
    assert s["config"] == "other.h5" and s["csw"] == 0.0
    assert _settings(["solve", path])["config"] == "gauge.h5"
    _, _, _, args = resolve(["mg", path])
    assert args.config_file == path and args.config == "gauge.h5" and args.command == "mg"


def test_store_true_flag_from_file_and_command_line(tmp_path):
    path = _write(tmp_path, "antiperiodic_t = true\nquick = false\n")
    s = _settings(["mg", path])
    assert s["antiperiodic_t"] is True and s["quick"] is False
    assert _settings(["mg", path, "--quick"])["quick"] is True


# ------------------------------------------------------------------------------------------ errors
def test_unknown_key_names_the_nearest_valid_one(tmp_path):
    msg = _error(["hmc", _write(tmp_path, "train_sample = 4\n")])
    assert "unknown key 'train_sample'" in msg and "did you mean 'train_samples'" in msg and "run.toml" in msg
    msg = _error(["hmc", _write(tmp_path, "train-samples = 4\n")])
    assert "'train-samples'" in msg and "'train_samples'" in msg
    msg = _error(["solve", _write(tmp_path, "methds = 'gmres'\n")])
    assert "unknown key 'methds'" in msg and "'methods'" in msg
    msg = _error(["selfcheck", _write(tmp_path, "train_samples = 4\n")])  # nothing close: the list of keys
    assert "unknown key 'train_samples'" in msg and "nearest valid key is" in msg
    assert "valid keys: lattice, mpi, N, seed, verbose" in msg
    # a key of another command is unknown here
    assert "unknown key 'trajectories'" in _error(["generate", _write(tmp_path, "trajectories = 4\n")])


@pytest.mark.parametrize("text, expect", [
    ('steps = "eight"', ["'steps'", '"eight"', "--steps", "an integer"]),
    ("steps = 8.5", ["'steps'", "8.5", "an integer"]),
    ("steps = true", ["'steps'", "true", "an integer"]),
    ('beta = "2.7"', ["'beta'", '"2.7"', "--beta", "a number"]),
    ("verbose = 1", ["'verbose'", "1", "--verbose", "a boolean"]),
    ("lattice = 4", ["'lattice'", "4", "--lattice", "a string or an array"]),
    ("lattice = [4, [4, 4], 4, 4]", ["'lattice'", "--lattice"]),
    ("start = 1", ["'start'", "--start", "a string"]),
    ("lattice = 2026-12-04", ["'lattice'", "2026-12-04", "--lattice"]),
    ("[hmc]\nsteps = 4", ["[hmc] is a table", "no tables"]),
])
def test_wrong_type_names_key_value_and_type(tmp_path, text, expect):
    msg = _error(["hmc", _write(tmp_path, text + "\n")])
    assert "wrong type" in msg or "tables" in msg, msg
    for e in expect:
        assert e in msg, (e, msg)


def test_choices_missing_file_and_bad_toml(tmp_path):
    msg = _error(["hmc", _write(tmp_path, 'integrator = "verlet"\n')])
    assert "'integrator'" in msg and '"verlet"' in msg and '"omelyan", "leapfrog"' in msg
    assert "not one of the choices" in _error(["generate", _write(tmp_path, "N = 4\n")])
    missing = os.path.join(str(tmp_path), "nope.toml")
    assert "cannot read the configuration file" in _error(["selfcheck", missing]) and "nope.toml" in _error(
        ["selfcheck", missing])
    msg = _error(["selfcheck", _write(tmp_path, "seed = = 3\n")])
    assert "is not valid TOML" in msg and "run.toml" in msg


def test_errors_exit_nonzero_through_main(tmp_path, capsys):
    """A bad file goes through the command's error path: every rank reports, exit status 1, nothing runs."""
    path = _write(tmp_path, "seeed = 3\n")
    assert main(["selfcheck", path]) == 1
    err = capsys.readouterr().err
    assert "ConfigError" in err and "unknown key 'seeed'" in err and "'seed'" in err
    assert f"[rank {COMM.Get_rank()}]" in err


# ------------------------------------------------------------------------------------------ lists
def test_arrays_for_list_options(tmp_path):
    path = _write(tmp_path, 'lattice = [8, 8, 8, 16]\nmpi = [1, 1, 1, 2]\nbaselines = ["gmres", "eo-cg"]\n'
                            'block = [2, 2, 2, 4]\nsteps = [10, 5, 20, 2]\n')
    s = _settings(["mg", path])
    assert (s["lattice"], s["mpi"], s["baselines"], s["block"], s["steps"]) == \
        ("8.8.8.16", "1.1.1.2", "gmres,eo-cg", "2.2.2.4", "10,5,20,2")
    path = _write(tmp_path, 'methods = ["gmres"]\n')
    assert _settings(["solve", path])["methods"] == "gmres"
    path = _write(tmp_path, 'volumes = [4, [4, 4, 4, 8]]\nthreads = [1, 2]\nprecisions = ["double"]\n'
                            'rho_unused = 1\n')
    assert "unknown key 'rho_unused'" in _error(["bench", path])
    path = _write(tmp_path, 'volumes = [4, [4, 4, 4, 8]]\nthreads = [1, 2]\nprecisions = ["double"]\n'
                            'compare = "a.json"\n')
    s = _settings(["bench", path])
    assert (s["volumes"], s["threads"], s["precisions"]) == ("4,4.4.4.8", "1,2", "double")
    assert s["compare"] == ["a.json"]  # an nargs="+" option: one value or an array
    s = _settings(["bench", _write(tmp_path, 'compare = ["a.json", "b.json"]\n')])
    assert s["compare"] == ["a.json", "b.json"]
    path = _write(tmp_path, 'rho = [0.1, 0.0, -0.05, 0.2, 0.0, 0.0]\n')
    assert _settings(["hmc", path])["rho"] == "0.1,0.0,-0.05,0.2,0.0,0.0"


def test_separator_rules():
    """The table names the known list options; options of later commands are recognised from their help."""
    import argparse
    p = argparse.ArgumentParser()
    a = p.add_argument("--grid", help="process grid Px.Py.Pz.Pt")
    b = p.add_argument("--names", help="comma-separated names")
    c = p.add_argument("--sizes", default="1,2,3")
    d = p.add_argument("--label", default="run")
    assert [config.list_separator(x) for x in (a, b, c, d)] == [".", ",", ",", None]
    config.add_config_argument(p)
    with pytest.raises(ValueError, match="reserved"):
        config.add_config_argument(p)
    with pytest.raises(config.ConfigError, match="'label'"):
        config.convert_value("f.toml", "label", ["a", "b"], d)


# ------------------------------------------------------------------------------------------ saved configs
def test_toml_writer_round_trips_values():
    values = {"a": 1, "b": -2.5e-12, "c": 1e300, "d": "x \"q\" \\ \n\t é", "e": True, "f": False,
              "g": ["a.json", "b \"c\""], "h": None, "i": 0.1, "j": float("inf")}
    text = config.to_toml(values, header=["a header", ""])
    assert text.startswith("# a header\n#\n")
    back = config._toml.loads(text)
    assert back == {k: v for k, v in values.items() if v is not None}
    assert "# h = (not set" in text


@pytest.mark.parametrize("command, extra", [
    ("hmc", ["--steps", "8", "--rho", "0.1,0,0,0,0,0.2", "--verbose"]),
    ("mg", ["--quick", "--block", "2.2.2.2", "--baselines", "gmres", "--tol", "1e-9", "--config", "g.h5"]),
    ("generate", ["--format", "nersc", "--N", "2"]),
    ("bench", ["--compare", "a.json", "b.json", "--min-time", "0.25"]),
])
def test_saved_config_reproduces_the_run(shared_dir, command, extra):
    """record() writes DIR/config.toml (--out) or FILE.config.toml (--json); resolving that file alone gives
    the same configuration again."""
    d = shared_dir
    src = _write_shared(d, 'seed = 5\n' if command != "bench" else "quick = true\n")
    outopt = ["--out", os.path.join(d, "run")] if command in ("hmc", "generate") else \
        ["--json", os.path.join(d, "res.json")]
    argv = [command, src] + extra + outopt
    _, _, sub, args = resolve(argv)
    first = config.resolved(sub, args)
    from gaugenet.util.log import log
    saved = config.record(sub, args, command, log)  # rank 0 writes; every rank returns after it did
    expect = os.path.join(d, "run", "config.toml") if "--out" in outopt else os.path.join(d, "res.config.toml")
    assert saved == expect and os.path.exists(saved)
    assert not [n for n in os.listdir(os.path.dirname(saved)) if ".tmp" in n]
    with open(saved) as f:
        text = f.read()
    assert f"python -m gaugenet {command} {saved}" in text
    again = config.resolved(*resolve([command, saved])[2:])
    assert again == first
    # the saved body is exactly the writer's text of the rerun's configuration
    body = [ln for ln in text.splitlines() if not ln.startswith("#")]
    assert body == [ln for ln in config.to_toml(again).splitlines() if not ln.startswith("#")]


def test_info_command_writes_and_reruns_its_config(shared_dir, capsys):
    """`gaugenet info` through main(): prints the build facts; --json writes them and FILE.config.toml; the
    saved config runs again."""
    import json

    import h5py
    import numpy
    js = os.path.join(shared_dir, "info.json")
    assert main(["info", "--json", js]) == 0
    out = capsys.readouterr().out
    cfg = os.path.join(shared_dir, "info.config.toml")
    assert os.path.exists(cfg)
    if COMM.Get_rank() == 0:
        for key in ("gaugenet", "build_type", "simd_kernels", "openmp_threads", "mpi_library", "mpi_ranks",
                    "cuda_built", "gpus_seen", "hdf5", "numpy", "configuration of `info`"):
            assert key in out, (key, out)
        assert out.split("mpi_ranks")[1].split()[0] == str(NRANKS)
        with open(js) as f:
            facts = json.load(f)
        assert facts["numpy"] == numpy.__version__ and facts["hdf5"] == h5py.version.hdf5_version
        assert facts["mpi_ranks"] == NRANKS
    COMM.Barrier()
    assert main(["info", cfg]) == 0


def test_unwritable_output_is_a_clear_error(tmp_path, capsys):
    if NRANKS > 1:
        pytest.skip("tmp_path differs between ranks")
    blocker = _write(tmp_path, "a file, not a directory", name="blocker")
    out = os.path.join(blocker, "sub")  # a directory below a file cannot be made, not even by root
    assert main(["info", "--json", os.path.join(out, "x.json")]) == 1
    err = capsys.readouterr().err
    assert "cannot write the resolved configuration to" in err and "x.config.toml" in err


# ------------------------------------------------------------------------------------------ examples
def test_every_command_has_a_valid_example():
    _, commands = build_parser()
    names = {os.path.basename(p)[:-5] for p in EXAMPLES}
    for command in ("selfcheck", "generate", "solve", "mg", "hmc", "bench"):
        assert command in names, f"jobs/configs/{command}.toml is missing"
        assert config.example_command(os.path.join(ROOT, "jobs", "configs", command + ".toml"), commands) == command

@pytest.mark.parametrize("path", EXAMPLES, ids=[os.path.basename(p) for p in EXAMPLES])
def test_example_config_validates(path):
    """Each example starts with a header comment, names its command and validates against it (every key
    known, every value of the right type); nothing runs."""
    _, commands = build_parser()
    with open(path) as f:
        assert f.read().startswith("#"), "an example starts with a header comment"
    command = config.example_command(path, commands)
    assert command in commands, f"{os.path.basename(path)}: no registered command found for it"
    s = _settings([command, path])
    for key in config.read_file(path):
        assert key in s


# ------------------------------------------------------------------------------------------ every rank
@pytest.mark.mpi
def test_bad_file_fails_on_every_rank(capsys):
    """Every rank reads the file; an unknown key, or a file that is bad on one rank only, makes every rank
    return 1 with the message (no rank hangs in a collective)."""
    rank = COMM.Get_rank()
    d = tempfile.mkdtemp(prefix=f"gn-cfg-{rank}-")
    try:
        path = _write(d, "lattice = [4, 4, 4, 8]\nN = 2\nsed = 3\n")
        t0 = time.time()
        assert main(["selfcheck", path]) == 1
        err = capsys.readouterr().err
        assert f"[rank {rank}]" in err and "unknown key 'sed'" in err and "did you mean 'seed'" in err
        # bad on the last rank only: the others must fail too, with that rank's message
        text = "lattice = [4, 4, 4, 8]\nN = 2\n" + ("N = 3\n" if rank == NRANKS - 1 else "")
        path = _write(d, text)
        assert main(["selfcheck", path]) == 1
        err = capsys.readouterr().err
        assert "not valid TOML" in err, err
        if rank != NRANKS - 1:
            assert f"on rank {NRANKS - 1}" in err
        # a file with different contents on different ranks resolves differently: refused everywhere
        path = _write(d, f"lattice = [4, 4, 4, 8]\nN = 2\nseed = {rank}\n")
        if NRANKS > 1:
            assert main(["selfcheck", path]) == 1
            assert "resolves differently on different ranks" in capsys.readouterr().err
        assert time.time() - t0 < 30
    finally:
        shutil.rmtree(d, ignore_errors=True)
        COMM.Barrier()


def _mpiexec():
    exe = shutil.which("mpiexec", path=os.path.dirname(sys.executable)) or shutil.which("mpiexec")
    if exe is None:
        pytest.skip("no mpiexec")
    return exe


@pytest.mark.skipif(NRANKS > 1, reason="launches its own mpiexec")
def test_bad_file_under_mpiexec(tmp_path):
    path = _write(tmp_path, "lattice = [4, 4, 4, 8]\nN = 2\nseed = \"one\"\n")
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=GAUGENET_PATH)
    t0 = time.time()
    r = subprocess.run([_mpiexec(), "-n", "2", sys.executable, "-m", "gaugenet", "selfcheck", path],
                       capture_output=True, text=True, timeout=60, env=env)
    assert r.returncode != 0
    assert "[rank 0]" in r.stderr and "[rank 1]" in r.stderr, r.stderr
    assert "key 'seed' = \"one\" has the wrong type: --seed expects an integer" in r.stderr
    assert time.time() - t0 < 30
