"""onereg: independent Internet number registries that behave as one registry system."""

__version__ = "0.1.0"
