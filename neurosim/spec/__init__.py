"""Configuration: YAML parsed once into frozen dataclasses in SI units, validated before anything runs."""

from neurosim.spec.chip import ChipSpec
from neurosim.spec.loader import Override, RunConfig, load_chip, load_config, load_workload
from neurosim.spec.workload import WorkloadSpec

__all__ = ["ChipSpec", "Override", "RunConfig", "WorkloadSpec", "load_chip", "load_config", "load_workload"]
