"""Field types with the layouts of shared/CONVENTIONS.md."""
from .base import Field
from .gauge import GaugeField, NonUnitaryLinksError
from .parity import ParityField, StaggeredParityField
from .vector import ColorMatrixField, CoarseField, FermionField, SpinMatrixField, StaggeredField

__all__ = ["Field", "GaugeField", "NonUnitaryLinksError", "FermionField", "ParityField", "StaggeredParityField",
           "StaggeredField", "CoarseField", "SpinMatrixField", "ColorMatrixField"]
