#!/usr/bin/env bash
# Create (or reuse) the virtual environment .venv in the project root and install gaugenet into it,
# with MPI from PyPI wheels (mpich provides mpiexec inside the venv): no system MPI needed.
# Usage: source jobs/local/setup_venv.sh
# One install serves both README commands: the extras for the main job and the tests (mpi,test) are
# installed together, and the install is skipped when the venv already holds a build of the same sources
# (a stamp of the sources' hash in the venv), so the second command starts at once instead of
# compiling the C++ and CUDA kernels again. GAUGENET_REINSTALL=1 forces a fresh install.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="${GAUGENET_VENV:-$ROOT/.venv}"
PY="${PYTHON:-python3}"
EXTRA="mpi,test"
if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv "$VENV"
fi
STAMP="$VENV/.gaugenet-source-hash"
# hash of everything the wheel is built from (sources, build files, metadata), tracked or not
HASH="$("$VENV/bin/python" - "$ROOT" "$EXTRA" <<'PYEOF'
import hashlib, os, sys
root, extra = sys.argv[1], sys.argv[2]
h = hashlib.sha256(extra.encode())
paths = ["CMakeLists.txt", "pyproject.toml", "README.md"]
for top in ("csrc", "python"):
    for d, dirs, files in os.walk(os.path.join(root, top)):
        dirs[:] = sorted(x for x in dirs if x != "__pycache__")
        paths += [os.path.relpath(os.path.join(d, f), root) for f in sorted(files)
                  if not f.endswith((".so", ".so.tmp", ".pyc"))]
for p in sorted(paths):
    h.update(p.encode() + b"\0")
    with open(os.path.join(root, p), "rb") as f:
        h.update(hashlib.sha256(f.read()).digest())
print(h.hexdigest())
PYEOF
)"
if [ "${GAUGENET_REINSTALL:-0}" != "1" ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$HASH" ] \
   && "$VENV/bin/python" -c "import gaugenet._core, mpi4py, pytest" >/dev/null 2>&1; then
  echo "gaugenet: $VENV already holds this source tree's build (extras: $EXTRA); not reinstalling"
else
  "$VENV/bin/python" -m pip install --quiet --upgrade pip >/dev/null 2>&1 || true
  echo "gaugenet: installing into $VENV (extras: $EXTRA; compiling the C++ kernels, and CUDA ones if nvcc is found) ..."
  rm -f "$STAMP"
  "$VENV/bin/python" -m pip install --quiet "$ROOT[$EXTRA]"
  echo "$HASH" > "$STAMP"
fi
export PATH="$VENV/bin:$PATH"
