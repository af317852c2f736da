"""gaugenet: gauge-equivariant neural networks for lattice QCD.

Foundation: Lattice (MPI process grid), fields in the layouts of shared/CONVENTIONS.md,
halo-exchanging C++ stencils (CPU/OpenMP, CUDA when built), Dirac operators, gauge observables.
"""
from .util.blas import limit_blas_threads as _limit_blas_threads

# one BLAS thread per rank: a multithreaded OpenBLAS busy-waits against the OpenMP kernels (util/blas.py)
_limit_blas_threads(1)

from .lattice import DecompositionError, Lattice  # noqa: E402
from .fields import (ColorMatrixField, CoarseField, FermionField, Field, GaugeField, NonUnitaryLinksError,
                     ParityField, SpinMatrixField, StaggeredField, StaggeredParityField)
from .gauge import QuenchedUpdater, gauge_force, link_trace, plaquette, polyakov_loop, wilson_action
from .operators import EvenOdd, PackedFermion, PackedWilson, Staggered, Wilson, WilsonClover

__version__ = "0.1.0"

from . import io  # noqa: E402  gauge and field files (gaugenet/io)
from . import ml  # noqa: E402  PTC/LPTC layers with backprop (gaugenet/ml)

__all__ = ["Lattice", "DecompositionError", "Field", "GaugeField", "FermionField", "ParityField", "StaggeredParityField",
           "StaggeredField", "CoarseField",
           "SpinMatrixField", "ColorMatrixField", "NonUnitaryLinksError", "plaquette", "polyakov_loop", "link_trace",
           "Wilson", "WilsonClover", "Staggered", "EvenOdd", "PackedWilson", "PackedFermion"]
__all__ += ["wilson_action", "gauge_force", "QuenchedUpdater"]
