"""Planning the IANA node's state from IANA's own registries.

The IANA node records which registry each IANA block went to (the root of authority) and the
special-purpose space that nobody may hold. Special-purpose blocks overlap the blocks they sit in
(192.0.2.0/24 lies in a LEGACY /8), so they live in their own table, not among the delegations.
"""

from __future__ import annotations

from typing import Any

from onereg.core.registries import RIRS, RegistryId
from onereg.core.resources import format_number
from onereg.registry import events as ev
from onereg.registry.imports import Plan, plan_sync
from onereg.registry.node import RegistryNode
from onereg.registry.sources.iana import (
    HOLDER_IANA,
    HOLDER_IETF,
    IanaBlock,
    IanaSources,
    SpecialPurposeBlock,
)

IANA_SLOT = "iana-registries"

_HOLDER_NAMES = {
    **{rid.value: rid.display_name for rid in RIRS},
    HOLDER_IETF: "Internet Engineering Task Force (special-purpose and reserved space)",
    HOLDER_IANA: "Internet Assigned Numbers Authority",
}


def block_payload(block: IanaBlock) -> ev.Payload:
    res = block.resource
    attrs: dict[str, Any] = {
        "iana_status": block.iana_status,
        "designation": block.designation,
        "whois": block.whois,
        "rdap": list(block.rdap),
        "source": block.source,
    }
    return {
        "afi": res.afi.value,
        "start": res.start_text(),
        "value": res.delegated_value(),
        "cc": "ZZ",
        "date": block.date,
        "status": block.status.value,
        "holder": block.holder or None,
        "opaque": block.holder,
        "ext": [],
        "attrs": attrs,
    }


def special_payload(block: SpecialPurposeBlock) -> ev.Payload:
    res = block.resource
    return {
        "afi": res.afi.value,
        "start": res.start_text(),
        "end": format_number(res.afi, res.end),
        "name": block.name,
        "attrs": {
            "rfc": block.rfc,
            "allocation_date": block.allocation_date,
            "globally_reachable": block.globally_reachable,
            "reserved_by_protocol": block.reserved_by_protocol,
            "source": block.source,
        },
    }


def _special_key(p: ev.Payload) -> tuple[str, str, str]:
    return (p["afi"], p["start"], p["end"])


def plan_specials(node: RegistryNode, specials: list[SpecialPurposeBlock], plan: Plan) -> None:
    wanted = {_special_key(p): p for p in map(special_payload, specials)}
    current = {}
    for afi, text, name in node.conn.execute("SELECT afi, range_text, name FROM special_purpose"):
        start, _, end = text.partition("-")
        current[(afi, start, end)] = name
    for k in current.keys() - wanted.keys():
        plan.items.append((ev.SPECIAL_RELEASED, {"afi": k[0], "start": k[1], "end": k[2]}))
    for k in wanted.keys() - current.keys():
        plan.items.append((ev.SPECIAL_RESERVED, wanted[k]))
        plan.stats["special"] += 1


def plan_iana_import(node: RegistryNode, sources: IanaSources, digest: str) -> Plan | None:
    """The plan for IANA's registries, or None when this exact set is already imported."""
    if node.registry is not RegistryId.IANA:
        raise ValueError(f"IANA registries go into the IANA node, not {node.registry}")
    previous = node.source(IANA_SLOT)
    if previous is not None and previous["sha256"] == digest:
        return None
    payloads = [block_payload(b) for b in sources.blocks]
    holders = {h: (_HOLDER_NAMES.get(h, h), "ZZ") for h in {b.holder for b in sources.blocks} if h}
    meta = {"slot": IANA_SLOT, "sha256": digest, "updated": sources.updated}
    plan = plan_sync(node, meta, holders, payloads)
    plan_specials(node, sources.specials, plan)
    return plan
