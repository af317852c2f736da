#!/usr/bin/env bash
# Create (or reuse) the virtual environment .venv in the project root and install gaugenet into it,
# with MPI from PyPI wheels (mpich provides mpiexec inside the venv): no system MPI needed.
# Usage: source jobs/local/setup_venv.sh [extra]     (extra: "test" adds pytest)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="${GAUGENET_VENV:-$ROOT/.venv}"
PY="${PYTHON:-python3}"
if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --quiet --upgrade pip >/dev/null 2>&1 || true
EXTRA="mpi"
if [ "${1:-}" = "test" ]; then EXTRA="mpi,test"; fi
echo "gaugenet: installing into $VENV (extras: $EXTRA; compiling the C++ kernels, and CUDA ones if nvcc is found) ..."
"$VENV/bin/python" -m pip install --quiet "$ROOT[$EXTRA]"
export PATH="$VENV/bin:$PATH"
