"""`python -m gaugenet hmc --algorithm slhmc --network ...`: CASK and mixed LinkNetwork specs through training,
production and checkpoint/resume (bitwise); weights from --weights, --rho and HDF5 files (covnet.io) and back;
every bad input (unknown network or config key, wrong weight count, a weight file of another network, group
or lattice, a network changed on resume) refused with a clear message and a nonzero exit, on 2 ranks too."""
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from conftest import GAUGENET_PATH, NRANKS

from gaugenet.cli.hmc import read_records
from gaugenet.cli.main import main
from gaugenet.covnet import LinkNetwork
from gaugenet.covnet.io import load_weights, save_weights

pytestmark = pytest.mark.skipif(NRANKS > 1, reason="runs the command in-process and launches its own mpiexec")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# CASK with attention switched on (tau = 1, Q/K maps nonzero) so that every weight has a gradient
CASK_W = "0.02,0,0,0.01,0,0,0.01,0,0,1,0.01,-0.01,0.005"
BASE = ["hmc", "--algorithm", "slhmc", "--steps", "2", "--seed", "5", "--therm", "1", "--train", "2",
        "--lr", "0.01", "--condensate-vectors", "1", "--no-plots"]


def _cmd(out, *extra):
    return BASE + ["--out", str(out)] + list(extra)


def _records(out):
    """The hmc.jsonl records without the timings (everything else must agree bitwise)."""
    return [{k: v for k, v in r.items() if "seconds" not in k} for r in read_records(os.path.join(out, "hmc.jsonl"))]


def test_cask_chain_resumes_bitwise(tmp_path):
    net = ["--network", "cask", "--weights", CASK_W]
    full = tmp_path / "full"
    assert main(_cmd(full, *net, "--trajectories", "2", "--save-weights", str(tmp_path / "new" / "w.h5"))) == 0
    ref = _records(full)
    assert [r["phase"] for r in ref] == ["therm", "train", "train", "prod", "prod"]
    st = json.load(open(full / "hmc.json"))
    assert st["params"]["network"] == "cask"
    assert st["summary"]["production"]["network"] == "cask"
    w = np.array(st["summary"]["weights"])
    assert w.size == 13 and not np.allclose(w, [float(v) for v in CASK_W.split(",")])   # training moved them
    assert np.all(w[[0, 3, 6, 9]] != np.array([0.02, 0.01, 0.01, 1.0]))   # Q, K, V and tau all learn
    assert st["training"]["params"] == w.tolist() and len(st["training"]["adam"]["m"][0]) == 13
    # weight file: the trained weights, with the network, N and lattice
    rec = load_weights(tmp_path / "new" / "w.h5", spec="cask", N=2, lattice=(4, 4, 4, 4))
    assert rec["layers"] == "cask:3" and rec["weights"].tolist() == w.tolist()
    # stopped inside the training phase, then continued: the same chain, the same training state
    part = tmp_path / "part"
    assert main(_cmd(part, *net, "--trajectories", "0", "--train", "2", "--therm", "1")) == 0
    assert main(_cmd(part, *net, "--trajectories", "2")) == 0
    assert _records(part) == ref
    assert json.load(open(part / "hmc.json"))["training"] == st["training"]
    # a production chain started from the saved weights (no training) runs with them
    again = tmp_path / "again"
    assert main(_cmd(again, "--network", "cask", "--train", "0", "--trajectories", "1",
                     "--load-weights", str(tmp_path / "new" / "w.h5"))) == 0
    st2 = json.load(open(again / "hmc.json"))
    assert st2["params"]["rho"] == w.tolist() and st2["summary"]["weights"] == w.tolist()


def test_mixed_spec_and_stout_weights(tmp_path):
    """'stout,cask:1' takes 3 + 11 weights; the default stout network still takes --rho and its summary says
    network = stout; a stout run given its weights by --weights is the same chain as with --rho."""
    out = tmp_path / "mix"
    n = LinkNetwork("stout,cask:1").n_weights
    assert n == 14
    w = ",".join(["0.01"] * n)
    assert main(_cmd(out, "--network", "stout,cask:1", "--weights", w, "--trajectories", "1", "--train", "1")) == 0
    st = json.load(open(out / "hmc.json"))
    assert st["summary"]["production"]["network"] == "stout,cask:1" and len(st["summary"]["weights"]) == n
    rho = "0.01,-0.02,0.01,0.0,-0.01,0.02"
    a, b = tmp_path / "a", tmp_path / "b"
    assert main(_cmd(a, "--rho", rho, "--trajectories", "1")) == 0
    assert main(_cmd(b, "--network", "stout", "--weights", rho, "--trajectories", "1")) == 0
    assert _records(a) == _records(b)
    assert json.load(open(a / "hmc.json"))["summary"]["production"]["network"] == "stout"
    # an HMC run has no network
    h = tmp_path / "h"
    assert main(["hmc", "--steps", "2", "--therm", "1", "--trajectories", "1", "--no-plots", "--out", str(h)]) == 0
    assert json.load(open(h / "hmc.json"))["summary"]["production"]["network"] is None


def test_legacy_state_without_network_resumes(tmp_path):
    """A state written before the network was a chain parameter (stout SLHMC) continues as stout."""
    out = tmp_path / "old"
    assert main(_cmd(out, "--trajectories", "1")) == 0
    st = json.load(open(out / "hmc.json"))
    del st["params"]["network"]
    json.dump(st, open(out / "hmc.json", "w"))
    assert main(_cmd(out, "--trajectories", "2")) == 0
    ref = tmp_path / "ref"
    assert main(_cmd(ref, "--trajectories", "2")) == 0
    assert _records(out) == _records(ref)


@pytest.fixture(scope="module")
def weight_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("weights")
    files = {"cask": save_weights(str(d / "cask.h5"), "cask", 2, (4, 4, 4, 4), np.zeros(13)),
             "cask_8": save_weights(str(d / "cask_8.h5"), "cask", 2, (4, 4, 4, 8), np.zeros(13)),
             "cask_su3": save_weights(str(d / "cask_su3.h5"), "cask", 3, (4, 4, 4, 4), np.zeros(13)),
             "stout": save_weights(str(d / "stout.h5"), "stout", 2, (4, 4, 4, 4), np.zeros(6))}
    with open(d / "junk.h5", "w") as f:
        f.write("not hdf5")
    files["junk"] = str(d / "junk.h5")
    import h5py
    with h5py.File(d / "other.h5", "w") as f:
        f["gauge"] = np.zeros(3)
    files["other"] = str(d / "other.h5")
    assert not [n for n in os.listdir(d) if n.endswith(".gaugenet-part")]
    return files


@pytest.mark.parametrize("extra,msg", [
    (["--network", "transformer"], "unknown network layer 'transformer'"),
    (["--network", "cask:0"], "cask:S needs an integer S >= 1"),
    (["--network", "cask", "--weights", "1,2,3"], "network 'cask' has 13 weights, got 3"),
    (["--weights", "1,2,3,4,5"], "network 'stout' has 6 weights, got 5"),
    (["--weights", "1,2,x,4,5,6"], "--weights must be finite comma-separated numbers"),
    (["--network", "cask", "--rho", "0,0,0,0,0,0"], "--rho sets the stout network's weights"),
    (["--rho", "0,0,0,0,0,0", "--weights", "0,0,0,0,0,0"], "give the initial weights once"),
    (["--network", "cask", "--load-weights", "{stout}"], "it holds network 'stout'"),
    (["--network", "cask", "--load-weights", "{cask_8}"], "trained on the lattice 4x4x4x8, this run uses 4x4x4x4"),
    (["--network", "cask", "--load-weights", "{cask_su3}"], "trained for SU(3), this run is SU(2)"),
    (["--network", "cask", "--load-weights", "{junk}"], "not an HDF5 file"),
    (["--network", "cask", "--load-weights", "{other}"], "not a gaugenet link-network weight file"),
    (["--network", "cask", "--load-weights", "/nonexistent/w.h5"], "no such file"),
    (["--save-weights", "{junk}/dir/w.h5"], "/dir/w.h5: its directory cannot be created or written"),
])
def test_bad_network_input(tmp_path, capsys, weight_files, extra, msg):
    extra = [e.format(**weight_files) for e in extra]
    assert main(_cmd(tmp_path / "x", *extra, "--trajectories", "1")) == 1
    err = capsys.readouterr().err
    assert msg in err, err
    assert not os.path.exists(tmp_path / "x" / "hmc.log")          # refused before any trajectory


def test_network_flags_need_slhmc_and_unknown_config_key(tmp_path, capsys):
    assert main(["hmc", "--network", "cask", "--out", str(tmp_path / "h")]) == 1
    assert "--network needs --algorithm slhmc" in capsys.readouterr().err
    cfg = tmp_path / "c.toml"
    cfg.write_text('algorithm = "slhmc"\nnetwork = "cask"\nnetwrok_weights = "0"\n')
    assert main(["hmc", str(cfg), "--out", str(tmp_path / "c")]) == 1
    assert "unknown key 'netwrok_weights'" in capsys.readouterr().err
    cfg.write_text('algorithm = "slhmc"\nnetwork = "cask"\nweights = "' + CASK_W + '"\n'
                   'therm = 1\ntrain = 1\ntrajectories = 1\nsteps = 2\ncondensate_vectors = 0\nno_plots = true\n')
    assert main(["hmc", str(cfg), "--out", str(tmp_path / "c")]) == 0
    assert json.load(open(tmp_path / "c" / "hmc.json"))["params"]["network"] == "cask"


def test_network_changed_on_resume_is_refused(tmp_path, capsys):
    out = tmp_path / "r"
    assert main(_cmd(out, "--trajectories", "0", "--train", "0")) == 0
    assert main(_cmd(out, "--trajectories", "0", "--train", "0", "--network", "cask")) == 1
    err = capsys.readouterr().err
    assert "parameters differ" in err and "network: 'stout' in hmc.json, 'cask' now" in err, err


def test_bad_weight_file_on_two_ranks(tmp_path, weight_files):
    """The weight file is read by rank 0; the error reaches both ranks, which exit nonzero (no hang)."""
    exe = shutil.which("mpiexec", path=os.path.dirname(sys.executable)) or shutil.which("mpiexec")
    if exe is None:
        pytest.skip("no mpiexec")
    env = dict(os.environ, OMP_NUM_THREADS="1")
    env["PYTHONPATH"] = GAUGENET_PATH + os.pathsep + env.get("PYTHONPATH", "")
    p = subprocess.run([exe, "-n", "2", sys.executable, "-m", "gaugenet"] +
                       _cmd(tmp_path / "m", "--network", "cask", "--load-weights", weight_files["cask_8"]),
                       capture_output=True, text=True, timeout=120, env=env)
    assert p.returncode != 0
    for r in (0, 1):
        assert f"gaugenet error [rank {r}]: ValueError: weight file" in p.stderr, p.stderr
    assert "trained on the lattice 4x4x4x8" in p.stderr
