"""Bad input that the other test files did not cover (the full list of bad-input kinds and their tests is in
docs/cli.md, "Troubleshooting"): a disk that fills up while a checkpoint is written, infinite values in
links, gauge files and sources, and a solver that stops at its iteration limit, reported with the residual
it reached. Each must be a clear error naming the problem (on every rank) and a nonzero exit, never a hang,
and must leave the last good state usable."""
import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest
from mpi4py import MPI

import gaugenet as gn
from conftest import NRANKS, random_su_global
from test_faults import _env, _gauge_bytes

COMM = MPI.COMM_WORLD
DIMS = (4, 4, 4, 8)
GEN = ["--lattice", "4.4.4.4", "--N", "3", "--beta", "6.0", "--seed", "11", "--or-steps", "1",
       "--reunitarize-every", "3", "--therm", "4", "--sep", "2", "--no-plots"]
# a process whose files may not grow beyond `limit` bytes from the moment after MPI is up (the MPI library's
# shared-memory files need more): a write past it fails with EFBIG, as a full disk fails with ENOSPC
FULL_DISK = ("import resource, sys\nfrom mpi4py import MPI\n"
             "resource.setrlimit(resource.RLIMIT_FSIZE, ({limit}, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))\n"
             "from gaugenet.cli.main import main\nsys.exit(main(sys.argv[1:]))\n")


def _generate(args, limit=None):
    pre = [sys.executable, "-c", FULL_DISK.format(limit=limit)] if limit else [sys.executable, "-m", "gaugenet"]
    return subprocess.run(pre + ["generate"] + args, capture_output=True, text=True, timeout=120, env=_env())


@pytest.mark.skipif(NRANKS > 1, reason="launches its own processes")
def test_full_disk_during_a_checkpoint_keeps_the_last_one(tmp_path):
    """The disk fills up while the next checkpoint (154 kB) is written: GaugeFileError naming the file and
    the cause, exit status 1, no stray temporary file; the last checkpoint and the state naming it are intact,
    and the rerun (space freed) continues from it to the uninterrupted chain."""
    full, part = str(tmp_path / "full"), str(tmp_path / "part")
    r = _generate(GEN + ["--count", "2", "--checkpoint-every", "1", "--out", full])
    assert r.returncode == 0, r.stdout + r.stderr
    r = _generate(GEN + ["--count", "0", "--out", part])                # ends with checkpoint.h5 of sweep 4
    assert r.returncode == 0, r.stdout + r.stderr
    ck = os.path.join(part, "checkpoint.h5")
    before = open(ck, "rb").read()
    r = _generate(GEN + ["--count", "2", "--checkpoint-every", "1", "--out", part], limit=100_000)
    assert r.returncode == 1, r.stdout + r.stderr
    assert re.search(r"GaugeFileError: \S*checkpoint\.h5: write check failed: .*File too large", r.stderr), r.stderr
    assert open(ck, "rb").read() == before
    state = json.load(open(os.path.join(part, "generate.json")))
    assert state["checkpoint"]["sweep"] == 4 and state["sweeps_done"] == 4, state
    assert not [n for n in os.listdir(part) if n.endswith(".gaugenet-part")], os.listdir(part)
    r = _generate(GEN + ["--count", "2", "--checkpoint-every", "1", "--out", part])
    assert r.returncode == 0, r.stdout + r.stderr
    assert "from checkpoint.h5 (4 sweeps done" in r.stdout, r.stdout
    assert open(os.path.join(part, "plaquette.log"), "rb").read() == open(os.path.join(full, "plaquette.log"), "rb").read()
    for c in json.load(open(os.path.join(full, "generate.json")))["configs"]:
        assert _gauge_bytes(os.path.join(part, c["file"])) == _gauge_bytes(os.path.join(full, c["file"])), c["file"]


@pytest.mark.mpi
def test_infinite_link_is_refused_on_every_rank():
    """An Inf in one link (held by one rank): NonUnitaryLinksError on every rank, naming the group and the
    deviation (inf)."""
    lat = gn.Lattice(DIMS)
    u = random_su_global(DIMS, 3, 5)
    u[3, 7, 0, 1, 2, 1, 1] = np.inf
    with pytest.raises(gn.NonUnitaryLinksError, match=r"not SU\(3\).* = inf"):
        gn.GaugeField.from_numpy(lat, u, check_unitary=1e-10)


@pytest.mark.mpi
def test_gauge_file_with_infinite_values_is_refused(tmp_path_factory):
    """A gauge file whose links contain Inf (written without the unitarity check, so its checksum is that of
    the bad data): refused when read, naming the file (the plaquette check: NaN)."""
    d = COMM.bcast(str(tmp_path_factory.mktemp("inf")) if COMM.Get_rank() == 0 else None, root=0)
    path = os.path.join(d, "inf.h5")
    lat = gn.Lattice(DIMS)
    u = random_su_global(DIMS, 3, 6)
    u[0, 2, 3, 1, 0, 0, 0] = np.inf
    gn.io.save_gauge(path, gn.GaugeField(lat, lat.scatter_global(u, lead=1)), format="hdf5")
    with pytest.raises(gn.io.GaugeFileError, match=r"inf\.h5: plaquette check failed.*nan"):
        gn.io.load_gauge(path, lat)


@pytest.mark.mpi
@pytest.mark.parametrize("bad", [np.inf, -np.inf, np.nan])
def test_infinite_or_nan_source_is_reported(bad):
    """A right-hand side with Inf or NaN in one entry (on one rank): NotConvergedError saying so at once, on
    every rank, for the Krylov solvers."""
    from gaugenet.solvers import NotConvergedError, bicgstab, fgmres
    lat = gn.Lattice(DIMS)
    U = gn.GaugeField.random(lat, 3, seed=3)
    D = gn.WilsonClover(U, mass=-0.3, csw=1.0)
    b = gn.FermionField.random(lat, 3, seed=4)
    if lat.rank == lat.size - 1:
        b.data[1, 0, 0, 0, 2, 1] = bad
    for solve in (fgmres, bicgstab):
        with pytest.raises(NotConvergedError, match="NaN/Inf"):
            solve(D, b, tol=1e-8, maxiter=50)


@pytest.mark.skipif(NRANKS > 1, reason="launches its own processes")
def test_solver_at_its_limit_reports_the_residual_reached(tmp_path):
    """solve with an iteration limit too small: exit nonzero, NotConvergedError, and the table line of the
    method with the residual it reached (a number well above the tolerance) and NOT CONVERGED; the JSON
    report holds the same residual."""
    out = str(tmp_path / "s.json")
    r = subprocess.run([sys.executable, "-m", "gaugenet", "solve", "--lattice", "4.4.4.4", "--sweeps", "2",
                        "--methods", "eo-cg", "--maxiter", "3", "--mass", "-0.3", "--json", out, "--no-plots"],
                       capture_output=True, text=True, timeout=120, env=_env())
    assert r.returncode == 1, r.stdout + r.stderr
    assert "NotConvergedError: some solves did not reach the tolerance" in r.stderr, r.stderr
    m = re.search(r"eo-cg\s+3 iterations.*\|b - D x\|/\|b\| = (\S+) NOT CONVERGED", r.stdout)
    assert m, r.stdout
    res = float(m.group(1))
    assert 1e-8 < res < 1
    rec = json.load(open(out))["results"][0]
    assert not rec["converged"] and f"{rec['residual']:.2e}" == m.group(1)
