#!/usr/bin/env bash
# The first check on a machine with a GPU and nvcc, no preparation needed beyond python3 with numpy, mpi4py,
# h5py, pybind11, cmake, ninja, pytest and cupy: build gaugenet in place with the CUDA kernels of every family
# (Wilson/clover, hop, block, link-network kernels: staples, exponentials, transports) for the GPU's
# architecture, then run the CUDA tests (GPU kernels against the CPU ones) and the link-network and dense
# operator tests with that build, and the standalone transport-kernel check (jobs/gpu/check_transport.cu).
# Logs go to $OUT when set. About 3-5 minutes on 16 cores.
# Usage: bash jobs/gpu/check.sh            ARCHS=80 bash jobs/gpu/check.sh  (default 90: H100/H200)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
PY="${PYTHON:-python3}"
BUILD="${BUILD:-$ROOT/build-gpu}"
LOG="${OUT:-$ROOT}"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
T0=$(date +%s)
cmake -S "$ROOT" -B "$BUILD" -G Ninja -DGAUGENET_CUDA=ON -DGAUGENET_CUDA_ARCHS="${ARCHS:-90}" \
  -DPython_EXECUTABLE="$(command -v "$PY")" -Dpybind11_DIR="$("$PY" -c 'import pybind11; print(pybind11.get_cmake_dir())')" \
  > "$LOG/gpu-configure.log" 2>&1 || { tail -30 "$LOG/gpu-configure.log"; exit 1; }
cmake --build "$BUILD" -j "$(nproc)" > "$LOG/gpu-build.log" 2>&1 || { tail -60 "$LOG/gpu-build.log"; exit 1; }
echo "== built with CUDA in $(( $(date +%s) - T0 )) s"
cd "$ROOT/tests"
PYTHONPATH="$ROOT/python" OMP_NUM_THREADS="${OMP_NUM_THREADS:-8}" "$PY" -m pytest -q -p no:cacheprovider -rs \
  test_cuda.py test_links.py test_link_paths.py test_wilson_dense.py 2>&1 | tee "$LOG/gpu-tests.log"
# the transport kernels alone, GPU against the CPU executor (exit status 1 on a mismatch)
nvcc -std=c++17 --expt-relaxed-constexpr -O3 -arch="sm_${ARCHS:-90}" -I"$ROOT/csrc" "$ROOT/jobs/gpu/check_transport.cu" \
  -o "$BUILD/check_transport"
"$BUILD/check_transport" | tee "$LOG/gpu-transport.log"
echo "== GPU check passed in $(( $(date +%s) - T0 )) s"
