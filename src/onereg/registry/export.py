"""Writing a node's state back out as a delegated-extended file.

The header, the leading comment block and the order of the summary lines come from the last
imported file (kept in the log's `source.imported` entry); counts are recomputed from the state, so
an export reflects every change made since the import.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from jsonschema import Draft202012Validator

from onereg.core.registries import RegistryId
from onereg.core.resources import Afi, format_number, parse_number, range_to_cidrs
from onereg.registry.imports import DELEGATED_SLOT
from onereg.registry.node import RegistryNode
from onereg.registry.schema import unkey

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


_IN_PROGRESS = {
    "sourceInitialized": "SOURCE_INITIALIZED",
    "recipientAccepted": "RECIPIENT_ACCEPTED",
}
_TYPES = {"merger": "MERGER_ACQUISITION", "transfer": "RESOURCE_TRANSFER"}


def _stamp(node: RegistryNode, seq: int) -> str:
    row = node.conn.execute("SELECT time FROM log WHERE seq = ?", (seq,)).fetchone()
    return str(row[0])[:19] + "Z"


def _registration(day: str) -> str | None:
    try:
        return datetime.strptime(day, "%Y%m%d").strftime("%Y-%m-%dT00:00:00Z")
    except ValueError:
        return None


def _transfer_object(node: RegistryNode, row: tuple[Any, ...]) -> dict[str, Any]:
    """One transfer as the NRO log describes it; returns have no NRO form and are skipped."""
    role, block_afi, block_start, block_end, record = row[1], row[3], row[4], row[5], row[7]
    rec = orjson.loads(record)
    a = rec["agreement"]
    afi = Afi(block_afi)
    original = rec.get("original") or {}
    out: dict[str, Any] = {
        _SET_NAMES[afi]: {
            "original_set": [
                _net_range(
                    afi, parse_number(afi, original["start"]), parse_number(afi, original["end"])
                )
            ]
            if original and role != "recipient"
            else [],
            "transfer_set": [_net_range(afi, unkey(block_start), unkey(block_end))],
        },
        "source_organization": _org(a["source_holder"], rec.get("source_cc")),
        "recipient_organization": _org(a["recipient_holder"], rec.get("recipient_cc")),
        "source_rir": RegistryId(a["source_registry"]).display_name,
        "recipient_rir": RegistryId(a["recipient_registry"]).display_name,
        "type": _TYPES[a["kind"]],
    }
    if not out[_SET_NAMES[afi]]["original_set"]:
        del out[_SET_NAMES[afi]]["original_set"]  # the recipient does not know the source's set
    registered = _registration(str(rec.get("registered", "")))
    if registered:
        out["source_registration_date"] = registered
    return out


def _org(handle: str, cc: object) -> dict[str, str]:
    """Delegated files publish no names: the handle stands in for the organisation's name."""
    org = {"name": handle}
    if isinstance(cc, str) and len(cc) == 2 and cc.isupper() and cc != "ZZ":
        org["country_code"] = cc
    return org


def export_transfers(node: RegistryNode) -> dict[str, object]:
    """The node's transfers as an NRO transfer log, version 4.1 (draft rir-transfer-log-01,
    REFERENCE.md section 2.3): finalized transfers under `transfers` (on both registries' logs
    for an inter-registry one), those still open under `transfers_in_progress`."""
    rows = node.conn.execute(
        "SELECT id, role, state, afi, start, end, counterpart, record, first_seq, seq "
        "FROM transfers ORDER BY first_seq"
    ).fetchall()
    done: list[dict[str, Any]] = []
    open_: list[dict[str, Any]] = []
    for row in rows:
        if orjson.loads(row[7])["agreement"]["kind"] not in _TYPES:
            continue
        if row[2] == "sourceFinalized":
            done.append({**_transfer_object(node, row), "transfer_date": _stamp(node, row[9])})
        elif row[2] in _IN_PROGRESS:
            open_.append({**_transfer_object(node, row), "status": _IN_PROGRESS[row[2]]})
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    first = node.conn.execute("SELECT min(time) FROM log").fetchone()[0]
    return {
        "version": {
            "stats_version": "4.1",
            "producer": node.registry.display_name,
            "UTC_offset": 0,
            "production_date": now,
            "records_interval": {
                "start_date": str(first)[:19] + "Z" if first else now,
                "end_date": now,
            },
        },
        "transfers": done,
        "transfers_in_progress": open_,
    }


def transfer_log_problems(document: object) -> list[str]:
    """Where the document breaks the published NRO transfer log schema (empty when it is valid)."""
    schema_file = Path(__file__).parent / "schemas" / "rir_transfer_log.schema.json"
    validator = Draft202012Validator(
        orjson.loads(schema_file.read_bytes()), format_checker=Draft202012Validator.FORMAT_CHECKER
    )
    return [
        f"{'/'.join(str(p) for p in error.absolute_path) or '(root)'}: {error.message}"
        for error in validator.iter_errors(document)
    ]
