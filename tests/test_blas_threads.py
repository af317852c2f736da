"""gaugenet keeps numpy's OpenBLAS to one thread per rank (util/blas.py), also when numpy was imported
first (as in this test process: conftest imports numpy before gaugenet)."""
import os
import subprocess
import sys

import gaugenet
from gaugenet.util.blas import openblas_threads


def test_one_blas_thread_in_this_process():
    n = openblas_threads()
    assert n in (None, 1), n


def test_numpy_imported_first_is_limited_too():
    env = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                                                               "OMP_NUM_THREADS")}
    path = gaugenet.util.blas.__file__      # loaded on its own, so that gaugenet is not imported yet
    code = ("import importlib.util, numpy\n"
            f"spec = importlib.util.spec_from_file_location('blas_alone', {path!r})\n"
            "m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)\n"
            "before = m.openblas_threads()\nimport gaugenet\nprint(before, m.openblas_threads())")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout.split()
    if out[0] == "None":
        return                      # numpy without OpenBLAS: nothing to limit
    assert out[1] == "1", out


def test_user_setting_is_respected():
    env = dict(os.environ, OPENBLAS_NUM_THREADS="2")
    code = "import gaugenet, os\nprint(gaugenet.util.blas.limit_blas_threads(1), os.environ['OPENBLAS_NUM_THREADS'])"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout.split()
    assert out == ["user", "2"]
