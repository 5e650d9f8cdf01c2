"""Every fuzz target by family (one module per family)."""

from __future__ import annotations

from fuzz.harness import Target

FAMILIES = ["sources", "ledger", "config", "bodies", "der", "rrdp", "rtr", "routes", "queries"]


def family_targets(family: str) -> list[Target]:
    """The targets of one family; imported on demand so a run instruments only what it uses."""
    import importlib

    module = importlib.import_module(f"fuzz.{family}")
    targets: list[Target] = module.TARGETS
    return targets


def all_targets() -> dict[str, Target]:
    return {t.name: t for family in FAMILIES for t in family_targets(family)}


def family_of(name: str) -> str:
    """The family of a target (the families are imported in order until it is found)."""
    for family in FAMILIES:
        if any(t.name == name for t in family_targets(family)):
            return family
    raise KeyError(f"no fuzz target {name!r}")
