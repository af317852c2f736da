#!/usr/bin/env bash
# Side-by-side timing of gaugenet's packed Wilson kernels and GridBench's hand-vectorised AVX-512 Wilson kernel
# (issue 22; method and results in docs/performance.md, "Against GridBench"). GridBench is not part of gaugenet:
# build a driver for its dslash_kernel outside the project (one that prints one JSON line per precision, like
# jobs/bench/wilson_calls.py) and point GRIDBENCH_DRIVER at it. The two codes alternate ROUNDS times, 2 threads.
#   GRIDBENCH_DRIVER=/path/to/driver ROUNDS=3 L=32 CALLS=50 bash jobs/bench/gridbench_compare.sh > compare.jsonl
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
: "${GRIDBENCH_DRIVER:?set GRIDBENCH_DRIVER to the GridBench driver binary}"
ROUNDS=${ROUNDS:-3}; L=${L:-32}; CALLS=${CALLS:-50}
PY=${PYTHON:-$ROOT/.venv/bin/python}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2} OMP_PROC_BIND=${OMP_PROC_BIND:-close}
for r in $(seq "$ROUNDS"); do
  for prec in double single; do
    "$GRIDBENCH_DRIVER" --prec "$prec" --L "$L" --calls "$CALLS" --warmup 3
  done
  PYTHONPATH="$ROOT/python${PYTHONPATH:+:$PYTHONPATH}" "$PY" "$ROOT/jobs/bench/wilson_calls.py" --L "$L" --calls "$CALLS"
done
