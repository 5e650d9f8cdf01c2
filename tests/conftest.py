"""Shared fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

# Timing-free property tests: a shared 2-core CI machine must not turn a slow example into a
# failure (the benchmarks in bench/ measure speed, the tests measure correctness).
settings.register_profile("onereg", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("onereg")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The read-only real registry data next to the repository (../shared/data)."""
    return Path(__file__).resolve().parents[1].parent / "shared" / "data"
