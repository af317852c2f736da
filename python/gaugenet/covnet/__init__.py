"""Gauge-covariant networks on the links for self-learning HMC: stout layers (gauge/stout.py) and CASK
attention (seed 004), composed in LinkNetwork; built on the link-network core (links/)."""
from .cask import CaskLayer, staple_paths
from .network import NETWORKS, LinkNetwork, parse_spec

__all__ = ["CaskLayer", "LinkNetwork", "NETWORKS", "parse_spec", "staple_paths"]
