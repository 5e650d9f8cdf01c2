"""The combined NRO statistics file, built from every node (REFERENCE.md section 2.2).

Follows RIPE-NCC/nro-delegated-stats: RIR records are normalised (allocated becomes assigned;
reserved and available get cc ZZ, today's date and the RIR's name as opaque-id) and tagged
`e-stats`; IANA's own space (reserved, IETF, IANA-held, and its pool as `ianapool`) is added with
the extension `iana`; IANA always wins where an RIR lists space IANA kept; space IANA gave an
RIR that no RIR lists is written as that RIR's `available` space (the NRO's "unclaimed").
"""

from __future__ import annotations

import socket
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime

from onereg.audit.view import FederationView, RegistryView
from onereg.core.intervals import IntervalSet
from onereg.core.resources import Afi, format_number, range_to_cidrs
from onereg.federation.authority import AuthorityBlock

MAGIC_SERIAL = "19821213"
_ORDER = [Afi.ASN.value, Afi.IPV4.value, Afi.IPV6.value]


def _value_rows(afi: str, start: int, end: int) -> Iterator[tuple[int, str, int]]:
    """(start, start text, value) rows covering [start, end]; IPv6 rows must be prefixes."""
    if afi == "ipv6":
        for net, plen in range_to_cidrs(start, end, 128):
            yield net, format_number(Afi.IPV6, net), plen
    elif afi == "ipv4":
        yield start, socket.inet_ntop(socket.AF_INET, start.to_bytes(4, "big")), end - start + 1
    else:
        yield start, str(start), end - start + 1


def _rir_rows(
    rview: RegistryView, afi: str, index: int, span: tuple[int, int], today: str
) -> Iterator[tuple[int, str]]:
    """Rows of the part `span` of record `index` (all of it unless IANA kept some)."""
    fam = rview.families[afi]
    status = "assigned" if fam.statuses[index] == "allocated" else fam.statuses[index]
    pool = status in ("available", "reserved")
    reg = rview.registry.value
    cc = "ZZ" if pool else fam.ccs[index]
    date = today if pool else fam.dates[index]
    opaque = reg if pool else (fam.holders[index] or "")
    for start, start_text, value in _value_rows(afi, *span):
        yield start, f"{reg}|{cc}|{afi}|{start_text}|{value}|{date}|{status}|{opaque}|e-stats"


def _iana_rows(block: AuthorityBlock, lo: int, hi: int) -> Iterator[tuple[int, str]]:
    status = "ianapool" if block.status == "available" else "reserved"
    holder = block.holder or "iana"
    date = block.date or "00000000"
    for start, start_text, value in _value_rows(block.afi, lo, hi):
        yield start, f"iana|ZZ|{block.afi}|{start_text}|{value}|{date}|{status}|{holder}|iana"


def _unclaimed_rows(view: FederationView, afi: str, today: str) -> list[tuple[int, str]]:
    """Space IANA gave an RIR that no RIR lists, as that RIR's `available` rows (NRO style)."""
    listed = IntervalSet.from_ranges(
        (s, e) for v in view.rirs.values() for s, e in zip(*v.families[afi].spans(), strict=True)
    )
    rows: list[tuple[int, str]] = []
    for rid in view.rirs:
        granted = IntervalSet.from_ranges(
            (b.start, b.end) for b in view.authority.blocks.get(afi, []) if b.registry is rid
        )
        reg = rid.value
        for lo, hi in granted - listed:
            for piece in view.authority.pieces(afi, lo, hi):  # rows split along IANA's blocks
                for start, text, value in _value_rows(afi, piece.start, piece.end):
                    line = f"{reg}|ZZ|{afi}|{text}|{value}|{today}|available|{reg}|e-stats"
                    rows.append((start, line))
    return rows


def _family_rows(view: FederationView, afi: str, today: str) -> list[tuple[int, str]]:
    iana_kept = [b for b in view.authority.blocks.get(afi, []) if b.registry is None]
    kept = IntervalSet.from_ranges((b.start, b.end) for b in iana_kept)
    rows: list[tuple[int, str]] = []
    for rview in view.rirs.values():
        fam = rview.families[afi]
        for i, span in enumerate(zip(fam.starts, fam.ends, strict=True)):
            if not kept.overlaps_range(*span):
                rows.extend(_rir_rows(rview, afi, i, span, today))
                continue
            # IANA wins where it kept the space; the rest of the record is still the RIR's.
            for rest in IntervalSet.from_ranges([span]) - kept:
                rows.extend(_rir_rows(rview, afi, i, rest, today))
    for block in iana_kept:
        rows.extend(_iana_rows(block, block.start, block.end))
    rows.extend(_unclaimed_rows(view, afi, today))
    rows.sort(key=lambda r: r[0])
    return rows


def export_nro(view: FederationView, today: str | None = None) -> Iterator[str]:
    """Lines of the combined file: header, three summaries, then records by type and start."""
    day = today or datetime.now(UTC).strftime("%Y%m%d")
    by_afi = {afi: _family_rows(view, afi, day) for afi in _ORDER}
    counts = Counter({afi: len(rows) for afi, rows in by_afi.items()})
    yield f"2|nro|{day}|{sum(counts.values())}|{MAGIC_SERIAL}|{day}|+0000"
    for afi in _ORDER:
        yield f"nro|*|{afi}|*|{counts[afi]}|summary"
    for afi in _ORDER:
        for _, line in by_afi[afi]:
            yield line
