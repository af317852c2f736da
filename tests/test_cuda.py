"""CUDA kernels on cupy arrays agree with the CPU kernels (skipped without a GPU)."""
import numpy as np
import pytest
from mpi4py import MPI

import gaugenet as gn
from gaugenet._backend import core, has_cuda


def test_extension_reports_backend():
    assert isinstance(core.has_cuda, bool)
    assert core.max_threads() >= 1


def _nvcc():
    import os
    import shutil
    return shutil.which("nvcc") or next((p for p in ("/usr/local/cuda/bin/nvcc",) if os.path.exists(p)), None)


@pytest.mark.skipif(_nvcc() is None or __import__("os").environ.get("GAUGENET_CUDA", "AUTO").upper() == "OFF",
                    reason="no nvcc on this machine (or GAUGENET_CUDA=OFF)")
def test_cuda_kernels_were_compiled_when_nvcc_is_present():
    # GAUGENET_CUDA=AUTO builds the CUDA versions of every kernel whenever CMake finds nvcc: CI proves they compile
    assert core.has_cuda, f"nvcc at {_nvcc()} but the extension was built without CUDA kernels"


@pytest.mark.skipif(not has_cuda(), reason="no CUDA build or no GPU")
@pytest.mark.parametrize("precision", ["double", "single"])
def test_wilson_clover_gpu_equals_cpu(precision):
    lat = gn.Lattice((4, 4, 4, 8), comm=MPI.COMM_SELF, precision=precision)
    U = gn.GaugeField.random(lat, 3, seed=1)
    psi = gn.FermionField.random(lat, 3, nvec=2, seed=2)
    D = gn.WilsonClover(U, mass=-0.6, csw=1.0)
    ref = D(psi).data
    Dg = gn.WilsonClover(U.to_device(), mass=-0.6, csw=1.0)
    got = Dg(psi.to_device()).data.get()
    tol = 1e-12 if precision == "double" else 1e-5
    assert np.abs(got - ref).max() / np.abs(ref).max() < tol
