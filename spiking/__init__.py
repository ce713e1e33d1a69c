"""spiking: the simulation engine (numpy reference, numba CPU, numba CUDA backends)."""
from .checkpoint import CheckpointError
from .engine import NumericalError, Simulator
from .model import (CurrentStep, FixedInDegree, FixedOutDegree, LogNormal, Network, Pairs, PoissonSource, Population,
                    Probability, Projection, SpikeGenerator, Uniform)
from .monitors import GroupCounts, PopulationRate, SpikeCounts, SpikeTrains, StateSamples, raster, rate_plot
from .state import SimState
from .params import LIF, IZH_FAMILIES, Izhikevich, ParameterError, Receptor, izhikevich_2003_heterogeneity

__all__ = [
    "Simulator", "NumericalError", "CheckpointError", "SimState", "CurrentStep", "Network", "Population", "PoissonSource", "SpikeGenerator", "Projection",
    "FixedOutDegree", "FixedInDegree", "Probability", "Pairs", "Uniform", "LogNormal", "LIF", "Izhikevich", "Receptor",
    "IZH_FAMILIES", "izhikevich_2003_heterogeneity", "ParameterError", "SpikeCounts", "SpikeTrains",
    "PopulationRate", "GroupCounts", "StateSamples", "raster", "rate_plot",
]
__version__ = "0.1.0"
