#!/bin/bash
# Distributed self-check on 2 nodes x 4 ranks: halo exchange, stencils, Dirac operator, zero-boundary mode.
#SBATCH --job-name=gaugenet-selfcheck
#SBATCH --nodes=2
#SBATCH --ntasks-per-node=4
#SBATCH --cpus-per-task=1
#SBATCH --time=00:10:00
#SBATCH --output=gaugenet-selfcheck-%j.out
set -euo pipefail
cd "${SLURM_SUBMIT_DIR:-$PWD}"
source "${GAUGENET_VENV:-.venv}/bin/activate"
export OMP_NUM_THREADS="${SLURM_CPUS_PER_TASK:-1}"
srun python -m gaugenet selfcheck --lattice 16.16.16.32
