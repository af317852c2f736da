#!/bin/bash
# Benchmark suite (docs/performance.md) on one node: N ranks with C cores each; writes the JSON report
# bench-<ranks>r-<jobid>.json next to the job output. Weak scaling: submit with different --ntasks and
# merge the reports with `python -m gaugenet bench --compare bench-*.json`.
#   sbatch --ntasks=4 --cpus-per-task=2 jobs/slurm/bench.sh            (full suite, about 10 minutes)
#   BENCH_ARGS="--quick" sbatch jobs/slurm/bench.sh                      (about a minute)
#SBATCH --job-name=gaugenet-bench
#SBATCH --nodes=1
#SBATCH --ntasks=1
#SBATCH --cpus-per-task=2
#SBATCH --exclusive
#SBATCH --time=00:30:00
#SBATCH --output=gaugenet-bench-%j.out
set -euo pipefail
cd "${SLURM_SUBMIT_DIR:-$PWD}"
source "${GAUGENET_VENV:-.venv}/bin/activate"
export OMP_NUM_THREADS="${SLURM_CPUS_PER_TASK:-1}"
export OMP_PROC_BIND=close OMP_PLACES=cores
ntasks="${SLURM_NTASKS:-1}"
out="bench-${ntasks}r-${SLURM_JOB_ID:-local}.json"
# threads per rank tried: 1 and the cores given to each rank
threads="1"
if [ "${OMP_NUM_THREADS}" -gt 1 ]; then threads="1,${OMP_NUM_THREADS}"; fi
srun --cpu-bind=cores python -m gaugenet bench --threads "${threads}" --json "${out}" ${BENCH_ARGS:-}
echo "report: ${out}"
