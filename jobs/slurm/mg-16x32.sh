#!/bin/bash
# Issue 19, part 4: the learned multigrid at 16^3 x 32 (jobs/configs/seed000-16x32.toml: heat-bath field at
# beta 6.0, Wilson-clover m = -0.6, c_sw = 1, 4^4 blocks, 12 near-null vectors, propagators of 12 point sources
# by the learned multigrid, even-odd CG and the conventional multigrid). The same command runs on 1, 2 or 4 ranks
# (time dimension split first); about an hour on two cores of a laptop-class node, minutes on a cluster node.
# Submit with, e.g.:  sbatch --ntasks-per-node=4 jobs/slurm/mg-16x32.sh
# EXTRA: flags that override the config, e.g. EXTRA="--baselines eo-cg,amg-exact".
#SBATCH --job-name=gaugenet-mg-16x32
#SBATCH --nodes=1
#SBATCH --ntasks-per-node=2
#SBATCH --cpus-per-task=1
#SBATCH --time=02:00:00
#SBATCH --output=gaugenet-mg-16x32-%j.out
set -euo pipefail
cd "${SLURM_SUBMIT_DIR:-$PWD}"
source "${GAUGENET_VENV:-.venv}/bin/activate"
export OMP_NUM_THREADS="${SLURM_CPUS_PER_TASK:-1}"
# shellcheck disable=SC2086
srun python -m gaugenet mg jobs/configs/seed000-16x32.toml ${EXTRA:-} \
     --json "mg-16x32-${SLURM_JOB_ID:-local}.json"
