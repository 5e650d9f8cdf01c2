"""The NRO lists every audit reads, loaded in one place: `onereg audit`, `onereg up` and
`onereg verify` (which audits its replay of the published logs) must agree on what is on the
ERX list and on the allow-list of special-purpose holdings (AS112, for one)."""

from __future__ import annotations

from dataclasses import dataclass, field

from onereg.audit.checks import AllowedRanges
from onereg.cli.settings import Settings
from onereg.federation.authority import ErxIndex
from onereg.registry.sources.nro_lists import (
    ErxTransfer,
    parse_allowed_overlaps,
    parse_erx_transfers,
)


@dataclass(frozen=True)
class AuditLists:
    """The ERX transfers and the allowed special-purpose overlaps, empty without the files."""

    erx: ErxIndex = field(default_factory=lambda: ErxIndex([]))
    allowed: AllowedRanges = field(default_factory=set)


def audit_lists(settings: Settings, erx_list: list[ErxTransfer] | None = None) -> AuditLists:
    """The lists from the shared data named by `settings` (what every audit command uses);
    `erx_list`: the ERX file already parsed (the audit keeps it cached)."""
    if erx_list is None:
        erx_list = parse_erx_transfers(settings.erx_file) if settings.erx_file else []
    erx = ErxIndex(erx_list)
    allowed: AllowedRanges = set()
    if settings.allowlist_file:
        allowed = {
            (a.resource.afi.value, a.resource.start, a.resource.end)
            for a in parse_allowed_overlaps(settings.allowlist_file)
        }
    return AuditLists(erx, allowed)
