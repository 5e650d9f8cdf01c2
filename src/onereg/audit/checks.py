"""The global checks: uniqueness across and inside registries, and authority against IANA.

Every check is a linear walk over records sorted by start, so the whole federation (half a million
records) is audited in about a second.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterator
from itertools import groupby

from onereg.audit.findings import (
    AuditReport,
    Conflict,
    CrossHolding,
    Overclaim,
    RegistrySummary,
    SpecialPurposeHolding,
    Unclaimed,
)
from onereg.audit.view import FederationView, Rec, RegistryView
from onereg.core.intervals import IntervalSet
from onereg.core.registries import RIRS, RegistryId, Status
from onereg.core.resources import Afi, Resource
from onereg.federation.authority import AuthorityBlock, ErxIndex, Piece, classify

_HELD = frozenset((Status.ALLOCATED.value, Status.ASSIGNED.value))
_AFIS = [a.value for a in Afi]
AllowedRanges = set[tuple[str, int, int]]


def text(afi: str, start: int, end: int) -> str:
    return str(Resource(Afi(afi), start, end))


# --- uniqueness ------------------------------------------------------------------------------

def find_conflicts(records: list[Rec]) -> list[Conflict]:
    """Every pair of overlapping records (any registries), in address order."""
    out: list[Conflict] = []
    ordered = sorted(records, key=lambda r: (r.afi, r.start, r.end))
    for _, group in groupby(ordered, key=lambda r: r.afi):
        out.extend(_overlapping_pairs(list(group)))
    return out


def _overlapping_pairs(records: list[Rec]) -> Iterator[Conflict]:
    """Sweep with the set of records still open; it stays tiny unless records overlap."""
    active: list[Rec] = []
    for rec in records:
        if active and active[-1].end < rec.start and len(active) == 1:
            active.clear()
        else:
            active = [a for a in active if a.end >= rec.start]
        for other in active:
            lo, hi = rec.start, min(rec.end, other.end)
            yield Conflict(rec.afi, text(rec.afi, lo, hi), hi - lo + 1, other.label(),
                           rec.label(), other.registry == rec.registry)
        active.append(rec)


# --- authority -------------------------------------------------------------------------------

def _pieces_outside(view: RegistryView, blocks: list[AuthorityBlock],
                    records: list[Rec]) -> Iterator[tuple[Rec, Piece]]:
    """Parts of the registry's records lying in blocks IANA did not give to it (linear merge)."""
    reg = view.registry.value
    nb, bi = len(blocks), 0
    for rec in records:
        while bi < nb and blocks[bi].end < rec.start:
            bi += 1
        if bi < nb and blocks[bi].holder == reg and rec.end <= blocks[bi].end:
            continue  # the common case: wholly inside one of its own blocks
        j = bi
        while j < nb and blocks[j].start <= rec.end:
            block = blocks[j]
            if block.holder != reg:
                yield rec, Piece(max(rec.start, block.start), min(rec.end, block.end), block)
            j += 1


def check_authority(view: FederationView, erx: ErxIndex, report: AuditReport) -> None:
    for rid, rview in view.rirs.items():
        recorded = {(c.afi, c.start, c.end): c for c in rview.cross}
        for afi, group in groupby(rview.records, key=lambda r: r.afi):
            blocks = view.authority.blocks.get(afi, [])
            for rec, piece in _pieces_outside(rview, blocks, list(group)):
                _classify_piece(rid, rec, piece, recorded, erx, report)


def _classify_piece(rid: RegistryId, rec: Rec, piece: Piece,
                    recorded: dict[tuple[str, int, int], object], erx: ErxIndex,
                    report: AuditReport) -> None:
    block = piece.block
    rng = text(rec.afi, piece.start, piece.end)
    size = piece.end - piece.start + 1
    if block.registry is None:
        report.overclaimed.append(Overclaim(rid.value, rec.afi, rng, size, rec.label(),
                                            block.label()))
        return
    origin, evidence = classify(piece, rec.afi, rid, erx)
    found = (rec.afi, piece.start, piece.end) in recorded
    report.cross_holdings.append(CrossHolding(rid.value, block.holder, rec.afi, rng, size, origin,
                                              evidence, found, rec.label()))


def check_unclaimed(view: FederationView, report: AuditReport) -> None:
    """IANA's grants to each RIR minus everything any RIR lists."""
    listed = {afi: IntervalSet.from_ranges((r.start, r.end) for v in view.rirs.values()
                                           for r in v.records if r.afi == afi) for afi in _AFIS}
    for rid in RIRS:
        rview = view.rirs.get(rid)
        as_of = rview.as_of if rview else ""
        for afi in _AFIS:
            mine = [b for b in view.authority.blocks.get(afi, []) if b.holder == rid.value]
            granted = IntervalSet.from_ranges((b.start, b.end) for b in mine)
            for lo, hi in granted - listed[afi]:
                for piece in view.authority.pieces(afi, lo, hi):
                    block = piece.block
                    report.unclaimed.append(Unclaimed(
                        rid.value, afi, text(afi, piece.start, piece.end),
                        piece.end - piece.start + 1, block.label(), block.date,
                        bool(as_of) and block.date > as_of))


def check_special_purpose(view: FederationView, allowed: AllowedRanges,
                          report: AuditReport) -> None:
    by_afi: dict[str, IntervalSet] = {}
    for afi in _AFIS:
        by_afi[afi] = IntervalSet.from_ranges((s.start, s.end) for s in view.specials
                                              if s.afi == afi)
    for rid, rview in view.rirs.items():
        for rec in rview.records:
            if rec.status in _HELD and by_afi[rec.afi].overlaps_range(rec.start, rec.end):
                for sp in view.specials:
                    if sp.afi == rec.afi and sp.start <= rec.end and rec.start <= sp.end:
                        ok = (rec.afi, max(rec.start, sp.start), min(rec.end, sp.end)) in allowed
                        report.special_purpose.append(SpecialPurposeHolding(
                            rid.value, rec.afi, rec.label(),
                            f"{sp.range_text} {sp.name} ({sp.rfc})", ok))


# --- summaries -------------------------------------------------------------------------------

def summarise(rview: RegistryView) -> RegistrySummary:
    by_type: Counter[str] = Counter()
    totals: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for rec in rview.records:
        by_type[rec.afi] += 1
        totals[rec.afi][rec.status] += rec.end - rec.start + 1
    return RegistrySummary(rview.registry.value, rview.source, rview.as_of, len(rview.records),
                           dict(by_type), rview.holders,
                           {afi: dict(per) for afi, per in totals.items()})


def _fill_counts(report: AuditReport) -> None:
    index = {s.registry: s for s in report.summaries}
    for c in report.cross_holdings:
        summary = index[c.registry]
        summary.cross_by_origin[c.origin] = summary.cross_by_origin.get(c.origin, 0) + 1
        summary.unrecorded_cross += 0 if c.recorded else 1
    for o in report.overclaimed:
        index[o.registry].overclaimed += 1
    for u in report.unclaimed:
        if u.registry in index:
            index[u.registry].unclaimed += 1


def run_audit(view: FederationView, erx: ErxIndex | None = None,
              allowed: AllowedRanges | None = None) -> AuditReport:
    report = AuditReport([summarise(v) for v in view.rirs.values()], [], [], [], [], [], [])
    all_records = [r for v in view.rirs.values() for r in v.records]
    report.conflicts = find_conflicts(all_records)
    if view.authority:
        check_authority(view, erx or ErxIndex([]), report)
        check_unclaimed(view, report)
        check_special_purpose(view, allowed or set(), report)
    else:
        report.notes.append("no IANA node: authority checks (cross-registry, overclaimed, "
                            "unclaimed) were not run")
    _fill_counts(report)
    report.notes.extend(_date_notes(view))
    return report


def _date_notes(view: FederationView) -> list[str]:
    notes = []
    dates = sorted({v.as_of for v in view.rirs.values() if v.as_of})
    if dates and view.iana_updated:
        newest = max(view.iana_updated.values())
        if newest > dates[-1]:
            notes.append(
                f"IANA registries are newer (updated up to {newest}) than the registry files "
                f"(as of {', '.join(dates)}): space IANA granted after a file's date shows as "
                "unclaimed and is marked newer_than_file")
    if len(dates) > 1:
        notes.append(f"registry files are of different dates ({', '.join(dates)}): resources "
                     "transferred between registries in between appear under both")
    return notes
