#!/usr/bin/env bash
# The main job end to end with built-in defaults, on a fresh machine: set up .venv, install gaugenet,
# then on 2 MPI ranks (NP=...): the distributed self-check, and the seed-000 learned-multigrid
# experiment (8^3x16 beta=6.0 gauge field by heat bath, train the multigrid preconditioner, compare
# FGMRES time-to-solution with the baselines; results in mg-main.json). With arguments, runs
# `python -m gaugenet <arguments>` instead.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
source "$ROOT/jobs/local/setup_venv.sh"
cd "$ROOT"
NP="${NP:-2}"
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
if [ "$#" -gt 0 ]; then
  exec mpiexec -n "$NP" python -m gaugenet "$@"
fi
mpiexec -n "$NP" python -m gaugenet selfcheck
exec mpiexec -n "$NP" python -m gaugenet mg --repeat 3 --json mg-main.json
