"""The audit as the sum of each registry's part, so that after a change only the moved node is
read and judged again.

Almost everything the audit reports about a registry depends on that registry's records and on
IANA's node alone: its summary, its overclaimed space and cross-registry holdings, its records
on special-purpose space. What joins the registries is small: whether any two of them list the
same numbers, and which of IANA's grants nobody lists. Both follow from each registry's listed
space as a set of intervals (a registry's records merged where they touch, a few thousand
intervals where it has a hundred thousand records). So a node's part is cached under its log
head, IANA's head, the digests of the ERX list and the allow-list and the audit code
(`<data-dir>/cache/<registry>.part.json`, signed as every cache file: `audit.signed`), and an
audit after a change reads the unchanged nodes' parts, reads the moved node from SQLite, and
recombines.

Conflicts are the exception: naming every conflicting pair needs the records of both sides.
When any registry's records overlap each other, or two registries' listed space overlaps, the
audit is computed in full (`checks.run_audit`) and its result is exactly that one; the tests
compare the two on real data.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from contextlib import suppress
from dataclasses import asdict, dataclass, fields
from operator import attrgetter
from pathlib import Path
from typing import Any

import orjson

from onereg.audit import findings
from onereg.audit.checks import (
    AllowedRanges,
    SpecialFound,
    _has_overlap,
    authority_of,
    date_notes,
    fill_counts,
    merge_specials,
    special_of,
    summarise,
    unclaimed,
)
from onereg.audit.findings import AuditReport, RegistrySummary
from onereg.audit.signed import file_digest, read_signed, write_signed
from onereg.audit.view import (
    AFIS,
    FederationView,
    RegistryView,
    _ints,
    _numbers,
    iana_view,
    registry_view,
)
from onereg.core.intervals import IntervalSet
from onereg.core.registries import RIRS, RegistryId
from onereg.federation.authority import ErxIndex
from onereg.federation.layout import DataDir

PART_VERSION = 2
_CODE = [
    Path(findings.__file__).with_name(name)
    for name in ("checks.py", "findings.py", "view.py", "parts.py")
]


@dataclass(slots=True)
class NodePart:
    """What one registry contributes to the audit."""

    summary: RegistrySummary  # as `checks.summarise` makes it (counts filled in later)
    as_of: str
    listed: dict[str, tuple[list[int], list[int]]]  # per family: its records, merged
    overlapping: bool  # two of its own records overlap
    overclaimed: list[findings.Overclaim]
    cross: list[findings.CrossHolding]
    special: SpecialFound


def node_part(
    view: FederationView, rview: RegistryView, erx: ErxIndex, allowed: AllowedRanges
) -> NodePart:
    """One registry's part, judged against IANA's node in `view` (its `rirs` are not read)."""
    listed: dict[str, tuple[list[int], list[int]]] = {}
    overlapping = False
    for afi in AFIS:
        starts, ends = rview.families[afi].spans()
        if _has_overlap(starts, sorted(ends)):
            overlapping = True
            listed[afi] = ([], [])
            continue
        merged = IntervalSet.from_sorted_disjoint(starts, ends)
        listed[afi] = (list(merged.starts), list(merged.ends))
    overclaimed, cross = authority_of(view, rview.registry, rview, erx)
    return NodePart(
        summarise(rview),
        rview.as_of,
        listed,
        overlapping,
        overclaimed,
        cross,
        special_of(view, rview, allowed),
    )


def combine(view: FederationView, parts: list[NodePart]) -> AuditReport | None:
    """The report of these parts (in registry order) against IANA's node in `view`, equal to
    `checks.run_audit` on their records; None when records overlap (naming each conflicting
    pair needs the records: the caller audits in full)."""
    if any(part.overlapping for part in parts):
        return None
    listed: dict[str, IntervalSet] = {}
    for afi in AFIS:
        starts = [s for part in parts for s in part.listed[afi][0]]
        ends = [e for part in parts for e in part.listed[afi][1]]
        starts.sort()
        ends.sort()
        if _has_overlap(starts, ends):
            return None
        listed[afi] = IntervalSet.from_sorted_disjoint(starts, ends)
    report = AuditReport([copy.deepcopy(p.summary) for p in parts], [], [], [], [], [], [])
    for part in parts:
        report.overclaimed += part.overclaimed
        report.cross_holdings += part.cross
    as_of = {RegistryId(p.summary.registry): p.as_of for p in parts}
    unclaimed(view.authority, as_of, listed, report)
    report.special_purpose = merge_specials([part.special for part in parts])
    fill_counts(report)
    report.notes.extend(date_notes([p.as_of for p in parts], view.iana_updated))
    return report


def audit_by_parts(
    data: DataDir,
    erx: ErxIndex,
    allowed: AllowedRanges,
    lists: tuple[Path | None, Path | None],
    full: Callable[[], AuditReport],
) -> AuditReport:
    """The audit from each registry's cached part, computing only the parts of nodes that
    moved (or after IANA's node, a list or the code changed); `full()` when the parts cannot
    tell (no IANA node, or records that overlap). `lists`: the ERX and allow-list files."""
    view = iana_view(data, {})
    if not view.authority:
        return full()
    common = {
        "version": PART_VERSION,
        "kind": "part",
        "iana": _head(data, RegistryId.IANA),
        "erx": file_digest(lists[0]),
        "allow": file_digest(lists[1]),
        "code": [_stat(path) for path in _CODE],
    }
    parts = []
    for rid in RIRS:
        if not data.exists(rid):
            continue
        header = {**common, "registry": rid.value, "head": _head(data, rid)}
        path = data.root / "cache" / f"{rid.value}.part.json"
        part = _read_part(path, header)
        if part is None:
            part = node_part(view, registry_view(data, rid), erx, allowed)
            with suppress(OSError):  # a read-only or full disk: computed again next time
                write_signed(path, header, part_to_json(part))
        parts.append(part)
    report = combine(view, parts)
    return report if report is not None else full()


def _head(data: DataDir, registry: RegistryId) -> list[object]:
    with data.read(registry) as node:
        size, head = node.head()
    return [size, head.hex()]


def _stat(path: Path) -> list[int]:
    try:
        info = path.stat()
    except OSError:
        return []
    return [info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns]


def _values(kind: type[Any]) -> Callable[[Any], Any]:
    return attrgetter(*(f.name for f in fields(kind)))


def _size_at(kind: type[Any]) -> int:
    """Where the `size` field of Overclaim and CrossHolding rows is: IPv6 sizes exceed 64 bits."""
    return [f.name for f in fields(kind)].index("size")


def _sized_rows(kind: type[Any], items: list[Any]) -> list[list[Any]]:
    rows = [list(row) for row in map(_values(kind), items)]
    at = _size_at(kind)
    for row in rows:
        row[at] = hex(row[at])
    return rows


def part_to_json(part: NodePart) -> bytes:
    """Findings as rows of values in field order; numbers that may exceed orjson's 64-bit
    integers (IPv6 starts, sizes and totals) as hex text."""
    summary = asdict(part.summary)
    summary["totals"] = {
        afi: {status: hex(n) for status, n in per.items()}
        for afi, per in part.summary.totals.items()
    }
    doc = {
        "summary": summary,
        "as_of": part.as_of,
        "listed": {
            afi: [_numbers(starts), _numbers(ends)] for afi, (starts, ends) in part.listed.items()
        },
        "overlapping": part.overlapping,
        "overclaimed": _sized_rows(findings.Overclaim, part.overclaimed),
        "cross": _sized_rows(findings.CrossHolding, part.cross),
        "special": [
            [index, *_values(findings.SpecialPurposeHolding)(h)] for index, h in part.special
        ],
    }
    return orjson.dumps(doc)


def _rows(kind: type[Any], rows: object, sized: bool = False) -> list[Any]:
    width = len(fields(kind))
    if not isinstance(rows, list) or any(
        not isinstance(row, list) or len(row) != width for row in rows
    ):
        raise ValueError(f"a cached {kind.__name__} of another shape")
    if sized:
        at = _size_at(kind)
        for row in rows:
            row[at] = int(row[at], 16)
    return [kind(*row) for row in rows]


def part_from_json(body: bytes) -> NodePart:
    """The inverse of `part_to_json`; ValueError, TypeError or KeyError for another shape."""
    doc = orjson.loads(body)
    summary = doc["summary"]
    if set(summary) != {f.name for f in fields(RegistrySummary)}:
        raise ValueError("a cached summary of another shape")
    summary["totals"] = {
        afi: {status: int(n, 16) for status, n in per.items()}
        for afi, per in summary["totals"].items()
    }
    listed = {}
    for afi in AFIS:
        starts, ends = (_ints(column) for column in doc["listed"][afi])
        if len(starts) != len(ends):
            raise ValueError("cached listed space of another shape")
        listed[afi] = (starts, ends)
    special = doc["special"]
    if not isinstance(special, list) or any(not isinstance(s, list) or not s for s in special):
        raise ValueError("cached special-purpose holdings of another shape")
    holdings = _rows(findings.SpecialPurposeHolding, [s[1:] for s in special])
    return NodePart(
        RegistrySummary(**summary),
        str(doc["as_of"]),
        listed,
        bool(doc["overlapping"]),
        _rows(findings.Overclaim, doc["overclaimed"], sized=True),
        _rows(findings.CrossHolding, doc["cross"], sized=True),
        [(int(s[0]), h) for s, h in zip(special, holdings, strict=True)],
    )


def _read_part(path: Path, header: dict[str, object]) -> NodePart | None:
    body = read_signed(path, header)
    if body is None:
        return None
    try:
        return part_from_json(body)
    except (KeyError, TypeError, ValueError):
        return None  # another shape: computed again
