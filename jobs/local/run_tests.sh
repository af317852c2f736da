#!/usr/bin/env bash
# The whole test suite on a fresh machine: set up .venv, install gaugenet (once for both commands),
# run pytest on one rank, then the MPI-marked tests under mpiexec -n 2 and -n 4.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
source "$ROOT/jobs/local/setup_venv.sh"
cd "$ROOT/tests"   # run against the installed package, not the source tree
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
T0=$(date +%s)
echo "== pytest, 1 rank"
python -m pytest -q -p no:cacheprovider --rootdir="$ROOT" -c "$ROOT/pyproject.toml" "$ROOT/tests"
for n in 2 4; do
  echo "== pytest -m mpi under mpiexec -n $n"
  timeout 900 mpiexec -n "$n" python -m pytest -q -p no:cacheprovider -m mpi --rootdir="$ROOT" \
      -c "$ROOT/pyproject.toml" "$ROOT/tests"
done
echo "== all tests passed in $(( $(date +%s) - T0 )) s"
