#!/bin/bash
# Baseline Wilson-clover solves (seed-000 problem: m=-0.6, c_sw=1) on one configuration, results as JSON.
#SBATCH --job-name=gaugenet-solve
#SBATCH --nodes=1
#SBATCH --ntasks-per-node=2
#SBATCH --cpus-per-task=2
#SBATCH --time=00:30:00
#SBATCH --output=gaugenet-solve-%j.out
set -euo pipefail
cd "${SLURM_SUBMIT_DIR:-$PWD}"
source "${GAUGENET_VENV:-.venv}/bin/activate"
export OMP_NUM_THREADS="${SLURM_CPUS_PER_TASK:-1}"
CONFIG="${CONFIG:?set CONFIG=path/to/configuration}"
srun python -m gaugenet solve --config "$CONFIG" --methods eo-bicgstab,eo-cg,gmres --restart 200 \
     --json "solve-${SLURM_JOB_ID:-local}.json"
