"""Writing a node's state back out as a delegated-extended file.

The header, the leading comment block and the order of the summary lines come from the last
imported file (kept in the log's `source.imported` entry); counts are recomputed from the state, so
an export reflects every change made since the import.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime

import orjson

from onereg.core.resources import Afi, Resource, format_number, range_to_cidrs
from onereg.registry.imports import DELEGATED_SLOT
from onereg.registry.node import RegistryNode

_DEFAULT_ORDER = [Afi.ASN.value, Afi.IPV4.value, Afi.IPV6.value]


def record_line(registry: str, row: tuple[object, ...]) -> str:
    """A record line from (afi, cc, start_text, value, date, status, opaque, ext-json)."""
    afi, cc, start_text, value, date, status, opaque, ext = row
    parts = [registry, str(cc), str(afi), str(start_text), str(value), str(date), str(status)]
    if opaque is not None:
        parts.append(str(opaque))
        parts.extend(orjson.loads(str(ext)))
    return "|".join(parts)


def export_delegated(node: RegistryNode) -> Iterator[str]:
    """The lines of the file (without newlines), header first."""
    meta = node.source(DELEGATED_SLOT)
    reg = node.registry.value
    rows = node.conn.execute(
        "SELECT afi, cc, start_text, value, date, status, opaque, ext "
        "FROM delegations ORDER BY afi, start"
    ).fetchall()
    counts = Counter(str(r[0]) for r in rows)
    if meta is None:
        today = datetime.now(UTC).strftime("%Y%m%d")
        header = ["2.3", reg, today, "", "", today, "+0000"]
        preamble: list[str] = []
        order = [a for a in _DEFAULT_ORDER if counts[a]]
    else:
        header = str(meta["header"]).split("|")
        preamble = list(meta["preamble"])
        order = [str(a) for a, _ in meta["summaries"]]
        order += [a for a in _DEFAULT_ORDER if counts[a] and a not in order]
    header[3] = str(len(rows))
    yield from preamble
    yield "|".join(header)
    for afi in order:
        yield f"{reg}|*|{afi}|*|{counts[afi]}|summary"
    for afi in order:
        for row in rows:
            if row[0] == afi:
                yield record_line(reg, row)


def _net_range(afi: Afi, start: int, end: int) -> dict[str, object]:
    if afi is Afi.ASN:
        return {"start": start, "end": end}
    return {
        "start_address": format_number(afi, start),
        "end_address": format_number(afi, end),
        "cidrs": [
            {"prefix": format_number(afi, net), "length": plen}
            for net, plen in range_to_cidrs(start, end, afi.bits)
        ],
    }


_SET_NAMES = {Afi.ASN: "asns", Afi.IPV4: "ip4nets", Afi.IPV6: "ip6nets"}


def _organization(node: RegistryNode, handle: str) -> dict[str, str]:
    """Delegated files publish no names: the handle stands in for the organisation's name."""
    info = node.holder(handle)
    cc = str(info["cc"]) if info and info["cc"] else "ZZ"
    return {"name": handle, "country_code": cc}


def export_transfers(node: RegistryNode) -> dict[str, object]:
    """The node's transfers as an NRO `transfers_latest.json` (REFERENCE.md section 2.3)."""
    transfers: list[dict[str, object]] = []
    for entry in node.entries_of_kind("transfer.completed"):
        payload = entry.data()
        agreement = payload["agreement"]
        moved = Resource.parse(agreement["resource"])
        removed = next(p for k, p in payload["changes"] if k == "delegation.removed")
        original = Resource.from_delegated(moved.afi, removed["start"], removed["value"])
        registry = node.registry.display_name
        transfers.append(
            {
                _SET_NAMES[moved.afi]: {
                    "original_set": [_net_range(moved.afi, original.start, original.end)],
                    "transfer_set": [_net_range(moved.afi, moved.start, moved.end)],
                },
                "source_organization": _organization(node, agreement["source_holder"]),
                "recipient_organization": _organization(node, agreement["recipient_holder"]),
                "transfer_date": entry.time[:19] + "Z",
                "source_rir": registry,
                "recipient_rir": registry,
                "type": "MERGER_ACQUISITION"
                if agreement["kind"] == "merger"
                else "RESOURCE_TRANSFER",
            }
        )
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "version": {
            "stats_version": "4.0",
            "producer": node.registry.display_name,
            "UTC_offset": 0,
            "production_date": now,
        },
        "transfers": transfers,
    }
