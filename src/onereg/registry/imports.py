"""Planning the log entries that bring a node to the state a published source describes.

An import is a synchronisation: the node's state becomes what the source says and the log records
only the difference (new holders, added, changed and removed delegations). Importing the same file
twice therefore writes nothing the second time, and a newer file writes just its changes. Planning
is separate from writing so that the federation can add its own entries (cross-registry holdings)
to the same transaction.
"""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any

import orjson

from onereg.core.errors import OverlapError, SourceFormatError
from onereg.registry import events as ev
from onereg.registry.node import RegistryNode
from onereg.registry.projection import payload_range
from onereg.registry.schema import unkey
from onereg.registry.sources.delegated import DelegatedFile, DelegatedRecord

DELEGATED_SLOT = "delegated"
Key = tuple[str, str]  # (afi, start text)


@dataclass(slots=True)
class Plan:
    """Entries to append, with counts for the operator."""

    items: list[ev.Item] = field(default_factory=list)
    stats: Counter[str] = field(default_factory=Counter)


def check_disjoint(dfile: DelegatedFile) -> None:
    """Refuse a file in which two records overlap, naming both lines.

    Real files are nearly sorted, so the records are first checked in file order; only a file
    that goes backwards somewhere pays for a sort.
    """
    if _disjoint_in_file_order(dfile.records):
        return
    ordered = sorted(dfile.records, key=lambda r: (r.type, r.start))
    for before, after in pairwise(ordered):
        if before.type == after.type and after.start <= before.end:
            raise OverlapError(
                f"{dfile.path}:{before.line} {before.text()}",
                f"{dfile.path}:{after.line} {after.text()}",
            )


def _disjoint_in_file_order(records: list[DelegatedRecord]) -> bool:
    """True when each type's records ascend without overlap and types come in blocks."""
    last_end: dict[str, int] = {}
    current, end = "", -1
    for rec in records:
        if rec.type != current:
            if rec.type in last_end:
                return False  # a type resumes after another one: let the sort decide
            last_end[current] = end
            current, end = rec.type, -1
        if rec.start <= end:
            return False
        end = rec.end
    return True


def record_payload(rec: DelegatedRecord) -> ev.Payload:
    return {
        "afi": rec.type,
        "start": rec.start_text,
        "value": rec.value,
        "cc": rec.cc,
        "date": rec.date,
        "status": rec.status,
        "holder": rec.opaque_id if rec.opaque_id and rec.held else None,
        "opaque": rec.opaque_id,
        "ext": list(rec.extensions),
    }


def holder_countries(records: list[DelegatedRecord]) -> dict[str, str]:
    """Each opaque-id's country: the most frequent cc on its records.

    Ties go to the alphabetically first cc, not to the first seen: the order of lines in a file
    carries no meaning (an export sorts them), so it must not change a holder's country.
    Only allocated and assigned records make a holder: reserved and available space is the
    registry's pool, whatever opaque-id the line carries.
    """
    counts: dict[str, dict[str, int]] = defaultdict(dict)
    for rec in records:
        if rec.opaque_id and rec.held:
            per_cc = counts[rec.opaque_id]
            per_cc[rec.cc] = per_cc.get(rec.cc, 0) + 1
    return {
        handle: next(iter(per_cc)) if len(per_cc) == 1 else _main_cc(per_cc)
        for handle, per_cc in counts.items()
    }


def _main_cc(per_cc: dict[str, int]) -> str:
    return min(per_cc, key=lambda cc: (-per_cc[cc], cc))


def _current(node: RegistryNode) -> dict[Key, ev.Payload]:
    rows = node.conn.execute(
        "SELECT afi, start_text, value, cc, date, status, holder, opaque,"
        " ext, attrs FROM delegations"
    )
    return {(r[0], r[1]): _payload_of_row(r) for r in rows}


def _payload_of_row(r: tuple[Any, ...]) -> ev.Payload:
    payload: ev.Payload = {
        "afi": r[0],
        "start": r[1],
        "value": r[2],
        "cc": r[3],
        "date": r[4],
        "status": r[5],
        "holder": r[6],
        "opaque": r[7],
        "ext": orjson.loads(r[8]),
    }
    if r[9]:
        payload["attrs"] = orjson.loads(r[9])
    return payload


def plan_delegations(node: RegistryNode, payloads: list[ev.Payload], plan: Plan) -> None:
    """Removals first (so replay never sees a transient overlap), then additions and changes."""
    current = _current(node)
    if not current:  # a first import: everything is new, no need to index it
        plan.items.extend((ev.DELEGATION_ADDED, p) for p in payloads)
        plan.stats["added"] += len(payloads)
        return
    wanted = {(p["afi"], p["start"]): p for p in payloads}
    for k, old in current.items():
        replacement = wanted.get(k)
        if replacement is None or replacement["value"] != old["value"]:
            plan.items.append(
                (ev.DELEGATION_REMOVED, {"afi": k[0], "start": k[1], "value": old["value"]})
            )
            plan.stats["removed"] += 1
    for k, new in wanted.items():
        previous = current.get(k)
        if previous is None or previous["value"] != new["value"]:
            plan.items.append((ev.DELEGATION_ADDED, new))
            plan.stats["added"] += 1
        elif previous != new:
            plan.items.append((ev.DELEGATION_CHANGED, new))
            plan.stats["changed"] += 1


def plan_holders(node: RegistryNode, wanted: dict[str, tuple[str, str]], plan: Plan) -> None:
    """Register new holders and update changed ones; `wanted` maps handle -> (name, cc)."""
    known = {r[0]: (r[1], r[2]) for r in node.conn.execute("SELECT handle, name, cc FROM holders")}
    for handle, (name, cc) in wanted.items():
        old = known.get(handle)
        if old is None:
            plan.items.append((ev.HOLDER_REGISTERED, {"handle": handle, "name": name, "cc": cc}))
            plan.stats["holders_added"] += 1
        elif old != (name, cc):
            plan.items.append((ev.HOLDER_CHANGED, {"handle": handle, "name": name, "cc": cc}))


def plan_retirements(node: RegistryNode, wanted: dict[str, tuple[str, str]], plan: Plan) -> None:
    """Holders left with nothing are retired after their delegations are gone."""
    for (handle,) in node.conn.execute("SELECT handle FROM holders"):
        if handle not in wanted:
            plan.items.append((ev.HOLDER_RETIRED, {"handle": handle}))
            plan.stats["holders_retired"] += 1


def plan_sync(
    node: RegistryNode,
    source: ev.Payload,
    holders: dict[str, tuple[str, str]],
    wanted: list[ev.Payload],
) -> Plan:
    """Everything needed to make the node hold exactly `holders` and `wanted`."""
    plan = Plan([(ev.SOURCE_IMPORTED, source)])
    plan_holders(node, holders, plan)
    plan_delegations(node, wanted, plan)
    plan_retirements(node, holders, plan)
    return plan


def source_meta(dfile: DelegatedFile, sha256: str) -> ev.Payload:
    return {
        "slot": DELEGATED_SLOT,
        "file": Path(dfile.path).name,
        "sha256": sha256,
        "header": dfile.header.line(),
        "preamble": dfile.preamble,
        "summaries": [[afi.value, n] for afi, n in dfile.summaries],
        "records": len(dfile.records),
    }


def plan_delegated_import(node: RegistryNode, dfile: DelegatedFile, sha256: str) -> Plan | None:
    """The plan for a checked delegated file, or None when this exact file is already in."""
    if dfile.registry != node.registry.value:
        raise SourceFormatError(
            dfile.path,
            1,
            f"this is a {dfile.registry} file; the node is {node.registry}",
            "registry",
            dfile.registry,
        )
    check_disjoint(dfile)
    previous = node.source(DELEGATED_SLOT)
    if previous is not None and previous["sha256"] == sha256:
        return None
    holders = {h: ("", cc) for h, cc in holder_countries(dfile.records).items()}
    wanted = [record_payload(r) for r in dfile.records]
    plan = plan_sync(node, source_meta(dfile, sha256), holders, wanted)
    check_locks(node, plan, dfile.path)
    return plan


def check_locks(node: RegistryNode, plan: Plan, source: str) -> None:
    """An import must not touch a block an open transfer has locked: refuse the whole file."""
    locks = node.conn.execute("SELECT afi, start, end, transfer FROM locks").fetchall()
    if not locks:
        return
    for kind, payload in plan.items:
        if kind not in (ev.DELEGATION_ADDED, ev.DELEGATION_CHANGED, ev.DELEGATION_REMOVED):
            continue
        start, end = payload_range(payload)
        for afi, lo, hi, transfer in locks:
            if afi == payload["afi"] and unkey(lo) <= end and start <= unkey(hi):
                raise SourceFormatError(
                    source,
                    None,
                    f"the import would change {payload['afi']} {payload['start']}, which transfer "
                    f"{transfer[:16]}... has locked; import it after the transfer settles",
                    "record",
                    payload["start"],
                )


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
