"""Python side of the C++ stencils: links with halo, overlap of exchange and compute."""
from .links import StencilLinks
from .run import StencilRunner
from .onehop import OneHop

__all__ = ["StencilLinks", "StencilRunner", "OneHop"]
