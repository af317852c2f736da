#!/bin/bash
# The seed-000 learned-multigrid experiment: train the preconditioner on one configuration and compare
# FGMRES time-to-solution with the baselines (results as JSON). CONFIG: a gauge file (NERSC/ILDG/HDF5).
#SBATCH --job-name=gaugenet-mg
#SBATCH --nodes=1
#SBATCH --ntasks-per-node=2
#SBATCH --cpus-per-task=2
#SBATCH --time=00:30:00
#SBATCH --output=gaugenet-mg-%j.out
set -euo pipefail
cd "${SLURM_SUBMIT_DIR:-$PWD}"
source "${GAUGENET_VENV:-.venv}/bin/activate"
export OMP_NUM_THREADS="${SLURM_CPUS_PER_TASK:-1}"
CONFIG="${CONFIG:?set CONFIG=path/to/configuration}"
srun python -m gaugenet mg --config "$CONFIG" --json "mg-${SLURM_JOB_ID:-local}.json"
