"""What the audit reports: conflicts (uniqueness violations) and findings (authority questions)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Conflict:
    """Two records that claim the same numbers: a uniqueness violation."""

    afi: str
    overlap: str
    size: int
    first: str
    second: str
    same_registry: bool


@dataclass(frozen=True, slots=True)
class CrossHolding:
    """Space a registry holds inside a block IANA gave to another registry."""

    registry: str
    authority: str
    afi: str
    range: str
    size: int
    origin: str
    evidence: str
    recorded: bool
    record: str


@dataclass(frozen=True, slots=True)
class Overclaim:
    """Space a registry lists that IANA gave to no registry (reserved, IETF, IANA's pool)."""

    registry: str
    afi: str
    range: str
    size: int
    record: str
    iana_block: str


@dataclass(frozen=True, slots=True)
class Unclaimed:
    """Space IANA gave a registry that no registry lists."""

    registry: str
    afi: str
    range: str
    size: int
    iana_block: str
    iana_date: str
    newer_than_file: bool


@dataclass(frozen=True, slots=True)
class SpecialPurposeHolding:
    """A held record on special-purpose space (RFC 6890 style registries)."""

    registry: str
    afi: str
    record: str
    special: str
    allowed: bool


@dataclass(slots=True)
class RegistrySummary:
    registry: str
    source: str
    as_of: str
    records: int
    by_type: dict[str, int]
    holders: int
    totals: dict[str, dict[str, int]]  # afi -> status -> count of addresses or AS numbers
    conflicts: int = 0
    cross_by_origin: dict[str, int] = field(default_factory=dict)
    overclaimed: int = 0
    unclaimed: int = 0
    unrecorded_cross: int = 0


@dataclass(slots=True)
class AuditReport:
    summaries: list[RegistrySummary]
    conflicts: list[Conflict]
    cross_holdings: list[CrossHolding]
    overclaimed: list[Overclaim]
    unclaimed: list[Unclaimed]
    special_purpose: list[SpecialPurposeHolding]
    notes: list[str]

    @property
    def ok(self) -> bool:
        """True when no resource has two holders (findings do not change this)."""
        return not self.conflicts

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"ok": self.ok}
