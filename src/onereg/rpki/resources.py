"""RFC 3779 resource sets: per family either explicit intervals or ``inherit``.

Why not `onereg.core.resources.Resource` lists: a certificate's resources are compared with its
issuer's as whole sets (containment, and the excess named in a rejection), which is what
`IntervalSet` does in a few list passes.  ``inherit`` has no interval form at all: it means
"whatever my issuer holds", so it is kept as a marker and resolved against the issuer during
top-down validation, never guessed at decode time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Literal

from onereg.core.intervals import IntervalSet
from onereg.core.resources import Afi, range_text


class Inherit(Enum):
    """The RFC 3779 ``inherit`` choice (an enum, so the type checker can tell it from a set)."""

    INHERIT = "inherit"


INHERIT: Literal[Inherit.INHERIT] = Inherit.INHERIT
Held = IntervalSet | Literal[Inherit.INHERIT]

FAMILIES: tuple[Afi, ...] = (Afi.ASN, Afi.IPV4, Afi.IPV6)


@dataclass(frozen=True, slots=True)
class ResourceSet:
    """The AS numbers, IPv4 and IPv6 addresses a certificate holds (or inherits)."""

    asn: Held = field(default_factory=IntervalSet)
    ipv4: Held = field(default_factory=IntervalSet)
    ipv6: Held = field(default_factory=IntervalSet)

    def get(self, afi: Afi) -> Held:
        if afi is Afi.ASN:
            return self.asn
        return self.ipv4 if afi is Afi.IPV4 else self.ipv6

    @property
    def inherits(self) -> bool:
        return any(self.get(afi) is INHERIT for afi in FAMILIES)

    @property
    def is_empty(self) -> bool:
        return not any(self.get(afi) is INHERIT or self.get(afi) for afi in FAMILIES)

    def resolve(self, issuer: ResourceSet) -> ResourceSet:
        """This set with every ``inherit`` replaced by the issuer's (already resolved) family."""
        parts = [issuer.get(afi) if self.get(afi) is INHERIT else self.get(afi) for afi in FAMILIES]
        return ResourceSet(*parts)

    def excess_over(self, issuer: ResourceSet) -> list[str]:
        """What this set holds beyond `issuer`, as text (empty when contained).

        An ``inherit`` family is always contained; an issuer family still marked ``inherit``
        means the caller forgot to resolve it, which is a bug, so it counts as holding nothing.
        """
        out: list[str] = []
        for afi in FAMILIES:
            mine = self.get(afi)
            if mine is INHERIT or not mine:
                continue
            theirs = issuer.get(afi)
            held = theirs if isinstance(theirs, IntervalSet) else IntervalSet()
            extra = mine - held
            out.extend(range_text(afi.value, s, e) for s, e in extra)
        return out

    def covers_prefix(self, afi: Afi, start: int, end: int) -> bool:
        held = self.get(afi)
        return isinstance(held, IntervalSet) and held.contains_range(start, end)

    def text(self) -> list[str]:
        """One line per range (``inherit`` named per family), in family order."""
        lines: list[str] = []
        for afi in FAMILIES:
            held = self.get(afi)
            if held is INHERIT:
                lines.append(f"{afi.value}: inherit")
                continue
            lines.extend(f"{afi.value}: {range_text(afi.value, s, e)}" for s, e in held)
        return lines
