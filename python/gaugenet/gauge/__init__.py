"""Gauge-field algebra and observables."""
from .group import dag, haar_su, project_su, traceless_antihermitian, unitarity_violation
from .observables import link_trace, plaquette, plaquette_field, polyakov_loop, spatial_temporal_plaquettes
from .action import action_derivative, gauge_force, staples, wilson_action
from .heatbath import QuenchedUpdater
from .stout import StoutLayer, StoutNetwork, stout_smear

__all__ = ["dag", "haar_su", "project_su", "traceless_antihermitian", "unitarity_violation", "plaquette",
           "plaquette_field", "polyakov_loop", "link_trace", "spatial_temporal_plaquettes",
           "wilson_action", "gauge_force", "staples", "action_derivative", "QuenchedUpdater",
           "StoutLayer", "StoutNetwork", "stout_smear"]
