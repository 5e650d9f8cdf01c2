"""Answering "who holds this?" across the federation: IANA -> registry -> holder.

The chain is what an operator needs to trust an answer: which block IANA gave to which registry,
which record of that registry covers the resource, and which holder that record names.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from onereg.core.registries import RIRS, RegistryId
from onereg.core.resources import Resource
from onereg.federation.layout import DataDir
from onereg.registry.node import Delegation, RegistryNode
from onereg.registry.schema import key


@dataclass(slots=True)
class HolderView:
    registry: RegistryId
    handle: str
    name: str
    cc: str
    resources: list[str]


@dataclass(slots=True)
class LookupResult:
    """Everything the federation knows about one resource."""

    resource: Resource
    iana: list[Delegation] = field(default_factory=list)
    records: list[Delegation] = field(default_factory=list)
    holders: list[HolderView] = field(default_factory=list)
    special: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    cross: list[tuple[RegistryId, str, str, str]] = field(default_factory=list)


def _pretty(range_text: str) -> str:
    """'start-end' as stored, written as a prefix where it is one."""
    return str(Resource.parse(range_text))


def _specials(node: RegistryNode, res: Resource) -> list[tuple[str, str, dict[str, Any]]]:
    rows = node.conn.execute(
        "SELECT range_text, name, attrs FROM special_purpose WHERE afi = ? AND start <= ? "
        "AND end >= ?",
        (res.afi.value, key(res.end), key(res.start)),
    )
    return [(_pretty(r[0]), r[1], dict(orjson.loads(r[2]))) for r in rows]


def _cross(node: RegistryNode, res: Resource) -> list[tuple[RegistryId, str, str, str]]:
    rows = node.conn.execute(
        "SELECT range_text, authority, origin FROM cross_holdings WHERE afi = ? AND start <= ? "
        "AND end >= ?",
        (res.afi.value, key(res.end), key(res.start)),
    )
    return [(node.registry, _pretty(r[0]), r[1], r[2]) for r in rows]


def _holder(node: RegistryNode, handle: str) -> HolderView | None:
    info = node.holder(handle)
    if info is None:
        return None
    held = [str(d.resource) for d in node.holder_resources(handle)]
    return HolderView(node.registry, handle, info["name"], info["cc"], held)


def lookup(data: DataDir, res: Resource) -> LookupResult:
    result = LookupResult(res)
    with data.nodes() as nodes:
        iana = nodes.get(RegistryId.IANA)
        if iana is not None:
            result.iana = iana.overlapping(res)
            result.special = _specials(iana, res)
        for rid in RIRS:
            node = nodes.get(rid)
            if node is None:
                continue
            found = node.overlapping(res)
            result.records += found
            result.cross += _cross(node, res)
            for handle in dict.fromkeys(d.holder for d in found if d.holder):
                view = _holder(node, handle)
                if view is not None:
                    result.holders.append(view)
    return result
