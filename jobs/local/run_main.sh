#!/usr/bin/env bash
# The main job end to end with built-in defaults, on a fresh machine:
# set up .venv, install gaugenet, run it on 2 MPI ranks.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
source "$ROOT/jobs/local/setup_venv.sh"
cd "$ROOT"
NP="${NP:-2}"
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
exec mpiexec -n "$NP" python -m gaugenet "$@"
