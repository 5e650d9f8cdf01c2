"""The global checks: uniqueness across and inside registries, and authority against IANA.

Every check is a linear walk over records sorted by start (the nodes hand them over sorted), and
the common case, no overlap at all, is decided by comparing two sorted lists in C; only when that
fails does the audit walk the records to name every conflicting pair.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from datetime import date
from itertools import islice
from operator import le

from onereg.audit.findings import (
    AuditReport,
    Conflict,
    CrossHolding,
    Overclaim,
    RegistrySummary,
    SpecialPurposeHolding,
    Unclaimed,
)
from onereg.audit.view import AFIS, FederationView, RegistryView
from onereg.core.gc import collector_paused
from onereg.core.intervals import IntervalSet
from onereg.core.registries import RIRS, RegistryId, Status
from onereg.core.resources import range_text
from onereg.federation.authority import AuthorityMap, ErxIndex, classify

_HELD = frozenset((Status.ALLOCATED.value, Status.ASSIGNED.value))
AllowedRanges = set[tuple[str, int, int]]


_text = range_text


# --- uniqueness ------------------------------------------------------------------------------


def _has_overlap(starts: list[int], ends: list[int]) -> bool:
    """Sorted separately, disjoint intervals satisfy starts[i+1] > ends[i] for every i."""
    return any(map(le, islice(starts, 1, None), ends))


def listed_space(view: FederationView, afi: str) -> tuple[list[int], list[int], bool]:
    """All registries' records of a family as sorted starts and ends, and whether any overlap."""
    starts = [s for v in view.rirs.values() for s in v.families[afi].starts]
    ends = [e for v in view.rirs.values() for e in v.families[afi].ends]
    starts.sort()
    ends.sort()
    return starts, ends, _has_overlap(starts, ends)


def find_conflicts(view: FederationView, afi: str) -> list[Conflict]:
    """Every pair of overlapping records of one family, in address order."""
    records = sorted(
        (
            (fam.starts[i], fam.ends[i], rview, i)
            for rview in view.rirs.values()
            if (fam := rview.families[afi])
            for i in range(len(fam))
        ),
        key=lambda r: (r[0], r[1], r[2].registry.value, r[3]),  # ties: two registries, one range
    )
    out: list[Conflict] = []
    active: list[tuple[int, int, RegistryView, int]] = []
    for rec in records:
        active = [a for a in active if a[1] >= rec[0]]
        for other in active:
            lo, hi = rec[0], min(rec[1], other[1])
            out.append(
                Conflict(
                    afi,
                    _text(afi, lo, hi),
                    hi - lo + 1,
                    other[2].label(afi, other[3]),
                    rec[2].label(afi, rec[3]),
                    other[2] is rec[2],
                )
            )
        active.append(rec)
    return out


# --- authority -------------------------------------------------------------------------------


AuthorityPart = tuple[list[Overclaim], list[CrossHolding]]


def check_authority(view: FederationView, erx: ErxIndex, report: AuditReport) -> None:
    """Each registry's records against IANA's blocks."""
    for rid, rview in view.rirs.items():
        overclaimed, cross = authority_of(view, rid, rview, erx)
        report.overclaimed += overclaimed
        report.cross_holdings += cross


def authority_of(
    view: FederationView, rid: RegistryId, rview: RegistryView, erx: ErxIndex
) -> AuthorityPart:
    """One registry's overclaimed space and cross-registry holdings, in address order."""
    overclaimed: list[Overclaim] = []
    cross: list[CrossHolding] = []
    recorded = {(c.afi, c.start, c.end): c.origin for c in rview.cross}
    for afi in AFIS:
        fam = rview.families[afi]
        for index, piece in view.authority.pieces_outside(rid.value, afi, fam.starts, fam.ends):
            block = piece.block
            block_label = block.label()
            rng = _text(afi, piece.start, piece.end)
            size = piece.end - piece.start + 1
            if block.registry is None:
                overclaimed.append(
                    Overclaim(rid.value, afi, rng, size, rview.label(afi, index), block_label)
                )
                continue
            origin, evidence = classify(piece, afi, rid, erx)
            logged = recorded.get((afi, piece.start, piece.end))
            found = logged is not None
            if logged is not None and logged != origin:
                # The registry's own log says why it holds the piece; the audit reports that,
                # and what it would have inferred, rather than overriding the log.
                evidence = f"origin recorded in the {rid} log; inferred here: {origin}"
                origin = logged
            cross.append(
                CrossHolding(
                    rid.value,
                    block.holder,
                    afi,
                    rng,
                    size,
                    origin,
                    evidence,
                    found,
                    rview.label(afi, index),
                )
            )
    return overclaimed, cross


def check_unclaimed(
    view: FederationView, listed: dict[str, IntervalSet], report: AuditReport
) -> None:
    """IANA's grants to each RIR minus everything any RIR lists, cut along IANA's blocks."""
    as_of = {rid: rview.as_of for rid, rview in view.rirs.items()}
    unclaimed(view.authority, as_of, listed, report)


def unclaimed(
    authority: AuthorityMap,
    as_of: dict[RegistryId, str],
    listed: dict[str, IntervalSet],
    report: AuditReport,
) -> None:
    """`check_unclaimed` from the registries' file dates alone (`audit.parts` has no records)."""
    for rid in RIRS:
        file_date = as_of.get(rid, "")
        for afi in AFIS:
            mine = [b for b in authority.blocks.get(afi, []) if b.holder == rid.value]
            granted = IntervalSet.from_ranges((b.start, b.end) for b in mine)
            for lo, hi in granted - listed[afi]:
                for piece in authority.pieces(afi, lo, hi):
                    block = piece.block
                    report.unclaimed.append(
                        Unclaimed(
                            rid.value,
                            afi,
                            _text(afi, piece.start, piece.end),
                            piece.end - piece.start + 1,
                            block.label(),
                            block.date,
                            bool(file_date) and block.date > file_date,
                        )
                    )


def check_special_purpose(
    view: FederationView, allowed: AllowedRanges, report: AuditReport
) -> None:
    """Held records on special-purpose space, found by bisection per special block; in the
    order of the special blocks, then of the registries."""
    found = [special_of(view, rview, allowed) for rview in view.rirs.values()]
    report.special_purpose += merge_specials(found)


SpecialFound = list[tuple[int, SpecialPurposeHolding]]  # (index of the special block, holding)


def special_of(view: FederationView, rview: RegistryView, allowed: AllowedRanges) -> SpecialFound:
    """One registry's held records on special-purpose space, each with its block's index."""
    out: SpecialFound = []
    for index, sp in enumerate(view.specials):
        fam = rview.families[sp.afi]
        first = max(bisect_right(fam.starts, sp.start) - 1, 0)
        last = bisect_left(fam.starts, sp.end + 1)
        for i in range(first, last):
            if fam.statuses[i] in _HELD and fam.ends[i] >= sp.start:
                lo, hi = max(fam.starts[i], sp.start), min(fam.ends[i], sp.end)
                holding = SpecialPurposeHolding(
                    rview.registry.value,
                    sp.afi,
                    rview.label(sp.afi, i),
                    f"{_text(sp.afi, sp.start, sp.end)} {sp.name} ({sp.rfc})",
                    (sp.afi, lo, hi) in allowed,
                )
                out.append((index, holding))
    return out


def merge_specials(per_registry: list[SpecialFound]) -> list[SpecialPurposeHolding]:
    """The registries' findings (in registry order) as one list by special block, then
    registry (a stable sort keeps each registry's own order)."""
    tagged = [(index, pos, h) for pos, found in enumerate(per_registry) for index, h in found]
    tagged.sort(key=lambda t: (t[0], t[1]))
    return [h for _, _, h in tagged]


# --- report ----------------------------------------------------------------------------------


def summarise(rview: RegistryView) -> RegistrySummary:
    by_type = {afi: len(fam) for afi, fam in rview.families.items() if len(fam)}
    return RegistrySummary(
        rview.registry.value,
        rview.source,
        rview.as_of,
        rview.records,
        by_type,
        rview.holders,
        rview.totals,
    )


def fill_counts(report: AuditReport) -> None:
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
    for conflict in report.conflicts:
        for label in (conflict.first, conflict.second):
            index[label.split(" ", 1)[0]].conflicts += 1


def run_audit(
    view: FederationView, erx: ErxIndex | None = None, allowed: AllowedRanges | None = None
) -> AuditReport:
    """The whole audit from every record (`audit.parts` recombines cached parts instead)."""
    with collector_paused():
        return _run_audit(view, erx, allowed)


def _run_audit(
    view: FederationView, erx: ErxIndex | None, allowed: AllowedRanges | None
) -> AuditReport:
    report = AuditReport([summarise(v) for v in view.rirs.values()], [], [], [], [], [], [])
    listed: dict[str, IntervalSet] = {}
    for afi in AFIS:
        starts, ends, overlap = listed_space(view, afi)
        if overlap:
            report.conflicts += find_conflicts(view, afi)
            listed[afi] = IntervalSet.from_ranges(zip(starts, ends, strict=True))
        else:
            listed[afi] = IntervalSet.from_sorted_disjoint(starts, ends)
    if view.authority:
        check_authority(view, erx or ErxIndex([]), report)
        check_unclaimed(view, listed, report)
        check_special_purpose(view, allowed or set(), report)
    else:
        report.notes.append(
            "no IANA node: authority checks (cross-registry, overclaimed, unclaimed) were not run"
        )
    fill_counts(report)
    report.notes.extend(_date_notes(view))
    return report


def _days_apart(first: str, last: str) -> int:
    parse = date.fromisoformat
    return (
        parse(f"{last[:4]}-{last[4:6]}-{last[6:]}") - parse(f"{first[:4]}-{first[4:6]}-{first[6:]}")
    ).days


def _date_notes(view: FederationView) -> list[str]:
    return date_notes([v.as_of for v in view.rirs.values()], view.iana_updated)


def date_notes(as_of: list[str], iana_updated: dict[str, str]) -> list[str]:
    """Notes on files of different dates, and on IANA registries newer than the files."""
    notes = []
    dates = sorted({d for d in as_of if d})
    if dates and iana_updated:
        newest = max(iana_updated.values())
        if newest > dates[-1]:
            notes.append(
                f"IANA registries are newer (updated up to {newest}) than the registry files "
                f"(as of {', '.join(dates)}): space IANA granted after a file's date shows as "
                "unclaimed and is marked newer_than_file"
            )
    if len(dates) > 1 and _days_apart(dates[0], dates[-1]) > 2:
        notes.append(
            f"registry files are of different dates ({', '.join(dates)}): resources "
            "transferred between registries in between appear under both"
        )
    return notes
