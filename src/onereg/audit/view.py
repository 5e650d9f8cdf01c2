"""The federation as the audit sees it: every node's delegations, loaded once into plain tuples.

Plain tuples rather than objects because the audit walks half a million records per run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import orjson

from onereg.core.registries import RIRS, RegistryId
from onereg.federation.authority import AuthorityMap
from onereg.federation.layout import DataDir
from onereg.registry.imports import DELEGATED_SLOT
from onereg.registry.node import RegistryNode
from onereg.registry.sources.delegated import DelegatedHeader


class Rec(NamedTuple):
    """One delegation of one registry."""

    afi: str
    start: int
    end: int
    registry: str
    start_text: str
    value: int
    cc: str
    date: str
    status: str
    holder: str | None

    def label(self) -> str:
        who = self.holder or "pool"
        return (f"{self.registry}|{self.cc}|{self.afi}|{self.start_text}|{self.value}|{self.date}"
                f"|{self.status} ({who})")


class Special(NamedTuple):
    afi: str
    start: int
    end: int
    range_text: str
    name: str
    rfc: str


class Recorded(NamedTuple):
    afi: str
    start: int
    end: int
    authority: str
    origin: str
    evidence: str


@dataclass(slots=True)
class RegistryView:
    registry: RegistryId
    records: list[Rec]
    as_of: str  # end date of the imported file, yyyymmdd ("" if unknown)
    source: str
    holders: int
    cross: list[Recorded] = field(default_factory=list)


@dataclass(slots=True)
class FederationView:
    rirs: dict[RegistryId, RegistryView]
    authority: AuthorityMap
    specials: list[Special]
    iana_updated: dict[str, str]


_SELECT = ("SELECT afi, start, end, start_text, value, cc, date, status, holder FROM delegations"
           " ORDER BY afi, start")


def _records(node: RegistryNode) -> list[Rec]:
    reg = node.registry.value
    frm = int.from_bytes
    return [Rec(afi, frm(s, "big"), frm(e, "big"), reg, text, value, cc, date, status, holder)
            for afi, s, e, text, value, cc, date, status, holder in node.conn.execute(_SELECT)]


def _as_of(node: RegistryNode) -> tuple[str, str]:
    meta = node.source(DELEGATED_SLOT)
    if meta is None:
        return "", ""
    fields = str(meta["header"]).split("|")
    header = DelegatedHeader(*fields[:3], int(fields[3]), *fields[4:7])
    return header.enddate, str(meta["file"])


def _recorded(node: RegistryNode) -> list[Recorded]:
    frm = int.from_bytes
    return [Recorded(a, frm(s, "big"), frm(e, "big"), auth, origin, ev) for a, s, e, auth, origin, ev
            in node.conn.execute("SELECT afi, start, end, authority, origin, evidence FROM "
                                 "cross_holdings ORDER BY afi, start")]


def _registry_view(node: RegistryNode) -> RegistryView:
    as_of, source = _as_of(node)
    return RegistryView(node.registry, _records(node), as_of, source, node.count("holders"),
                        _recorded(node))


def _specials(node: RegistryNode) -> list[Special]:
    out = []
    for afi, s, e, text, name, attrs in node.conn.execute(
            "SELECT afi, start, end, range_text, name, attrs FROM special_purpose"):
        rfc = str(orjson.loads(attrs).get("rfc", ""))
        out.append(Special(afi, int.from_bytes(s, "big"), int.from_bytes(e, "big"), text, name,
                           rfc))
    return out


def load_view(data: DataDir) -> FederationView:
    """Read every node of the data directory (nodes that do not exist are simply absent)."""
    with data.nodes() as nodes:
        rirs = {rid: _registry_view(nodes[rid]) for rid in RIRS if rid in nodes}
        iana = nodes.get(RegistryId.IANA)
        authority = AuthorityMap.from_node(iana) if iana else AuthorityMap([])
        specials = _specials(iana) if iana else []
        meta = iana.source("iana-registries") if iana else None
    updated = dict(meta["updated"]) if meta else {}
    return FederationView(rirs, authority, specials, updated)
