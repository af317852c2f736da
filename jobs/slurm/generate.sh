#!/bin/bash
# Quenched ensemble (seed-000 defaults: 8^3x16 SU(3), beta 6.0) on N ranks; resumes when resubmitted.
#SBATCH --job-name=gaugenet-generate
#SBATCH --nodes=1
#SBATCH --ntasks-per-node=4
#SBATCH --cpus-per-task=1
#SBATCH --time=01:00:00
#SBATCH --output=gaugenet-generate-%j.out
set -euo pipefail
cd "${SLURM_SUBMIT_DIR:-$PWD}"
source "${GAUGENET_VENV:-.venv}/bin/activate"
export OMP_NUM_THREADS="${SLURM_CPUS_PER_TASK:-1}"
OUT="${OUT:-ensemble_b6.0_8c16}"
srun python -m gaugenet generate --lattice 8.8.8.16 --beta 6.0 --therm 200 --sep 10 --count "${COUNT:-10}" \
     --out "$OUT" --format "${FORMAT:-hdf5}"
