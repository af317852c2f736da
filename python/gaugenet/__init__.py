"""gaugenet: gauge-equivariant neural networks for lattice QCD.

Foundation: Lattice (MPI process grid), fields in the layouts of shared/CONVENTIONS.md,
halo-exchanging C++ stencils (CPU/OpenMP, CUDA when built), Dirac operators, gauge observables.
"""
import os as _os
import sys as _sys

# gaugenet's kernels use OpenMP threads; a multithreaded BLAS under numpy busy-waits on the same cores
# and made every small GEMV of the Krylov solvers ~20x slower (measured: FGMRES projections 5 ms -> 0.2 ms
# per call on 4^3 x 8). One BLAS thread per rank unless the user chose otherwise; this works when
# gaugenet is imported before numpy (python -m gaugenet always is); otherwise set OPENBLAS_NUM_THREADS=1.
if "numpy" not in _sys.modules:
    for _v in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        _os.environ.setdefault(_v, "1")

from .lattice import DecompositionError, Lattice  # noqa: E402
from .fields import (ColorMatrixField, CoarseField, FermionField, Field, GaugeField, NonUnitaryLinksError,
                     SpinMatrixField, StaggeredField)
from .gauge import QuenchedUpdater, gauge_force, link_trace, plaquette, polyakov_loop, wilson_action
from .operators import EvenOdd, Staggered, Wilson, WilsonClover

__version__ = "0.1.0"

from . import io  # noqa: E402  gauge and field files (gaugenet/io)
from . import ml  # noqa: E402  PTC/LPTC layers with backprop (gaugenet/ml)

__all__ = ["Lattice", "DecompositionError", "Field", "GaugeField", "FermionField", "StaggeredField", "CoarseField",
           "SpinMatrixField", "ColorMatrixField", "NonUnitaryLinksError", "plaquette", "polyakov_loop", "link_trace",
           "Wilson", "WilsonClover", "Staggered", "EvenOdd"]
__all__ += ["wilson_action", "gauge_force", "QuenchedUpdater"]
