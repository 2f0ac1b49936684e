"""The estate: environment files, the exceptions register and the shared-service register."""

from keyplane.config.errors import ConfigError, Problem
from keyplane.config.estate import Estate, load_environment, load_estate
from keyplane.config.model import Environment, KeySpec, ResolvedKey, SecretSpec

__all__ = [
    "ConfigError",
    "Environment",
    "Estate",
    "KeySpec",
    "Problem",
    "ResolvedKey",
    "SecretSpec",
    "load_environment",
    "load_estate",
]
