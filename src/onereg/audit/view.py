"""The federation as the audit sees it: every node's delegations, loaded once as parallel lists.

Columns (starts, ends, statuses, holders) rather than one object per record, because the audit
walks half a million records per run and the list-level operations (sort, map, bisect) run in C.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import orjson

from onereg.core.registries import RIRS, RegistryId, holder_label
from onereg.core.resources import Afi, range_text
from onereg.federation.authority import AuthorityMap
from onereg.federation.layout import DataDir
from onereg.registry.imports import DELEGATED_SLOT
from onereg.registry.node import RegistryNode

AFIS = tuple(a.value for a in Afi)


@dataclass(slots=True)
class Family:
    """One registry's records of one family, sorted by start."""

    starts: list[int] = field(default_factory=list)
    ends: list[int] = field(default_factory=list)
    statuses: list[str] = field(default_factory=list)
    holders: list[str | None] = field(default_factory=list)
    ccs: list[str] = field(default_factory=list)
    dates: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.starts)


class Special(NamedTuple):
    afi: str
    start: int
    end: int
    name: str
    rfc: str


class Recorded(NamedTuple):
    afi: str
    start: int
    end: int
    authority: str
    origin: str


@dataclass(slots=True)
class RegistryView:
    registry: RegistryId
    families: dict[str, Family]
    as_of: str  # end date of the imported file, yyyymmdd ("" if unknown)
    source: str
    holders: int
    totals: dict[str, dict[str, int]]
    cross: list[Recorded] = field(default_factory=list)

    @property
    def records(self) -> int:
        return sum(len(f) for f in self.families.values())

    def label(self, afi: str, index: int) -> str:
        """A record named well enough to find it: registry, range, status, holder."""
        fam = self.families[afi]
        who = holder_label(fam.holders[index], fam.statuses[index])
        rng = range_text(Afi(afi), fam.starts[index], fam.ends[index])
        return f"{self.registry.value} {rng} {fam.statuses[index]} ({who})"


@dataclass(slots=True)
class FederationView:
    rirs: dict[RegistryId, RegistryView]
    authority: AuthorityMap
    specials: list[Special]
    iana_updated: dict[str, str]


def _families(node: RegistryNode, details: bool) -> dict[str, Family]:
    """Country and date only when asked (the NRO export needs them, the checks do not)."""
    out = {afi: Family() for afi in AFIS}
    columns = "start, end, status, holder" + (", cc, date" if details else "")
    for afi in AFIS:
        rows = node.conn.execute(
            f"SELECT {columns} FROM delegations WHERE afi = ? ORDER BY start", (afi,)
        ).fetchall()
        if rows:
            cols = list(zip(*rows, strict=True))
            fam = out[afi]
            fam.starts = [int.from_bytes(b, "big") for b in cols[0]]
            fam.ends = [int.from_bytes(b, "big") for b in cols[1]]
            fam.statuses, fam.holders = list(cols[2]), list(cols[3])
            if details:
                fam.ccs, fam.dates = list(cols[4]), list(cols[5])
    return out


def _totals(node: RegistryNode) -> dict[str, dict[str, int]]:
    """Numbers per family and status, summed by SQLite (IPv6 values are prefix lengths)."""
    totals: dict[str, dict[str, int]] = {}
    for afi, status, value, count in node.conn.execute(
        "SELECT afi, status, value, count(*) FROM delegations GROUP BY afi, status, value"
    ):
        size = (1 << (128 - value)) if afi == "ipv6" else value
        per = totals.setdefault(afi, {})
        per[status] = per.get(status, 0) + size * count
    return totals


def _as_of(node: RegistryNode) -> tuple[str, str]:
    meta = node.source(DELEGATED_SLOT)
    if meta is None:
        return "", ""
    return str(meta["header"]).split("|")[5], str(meta["file"])


def _recorded(node: RegistryNode) -> list[Recorded]:
    frm = int.from_bytes
    return [
        Recorded(a, frm(s, "big"), frm(e, "big"), auth, origin)
        for a, s, e, auth, origin in node.conn.execute(
            "SELECT afi, start, end, authority, origin FROM cross_holdings"
        )
    ]


def _registry_view(node: RegistryNode, details: bool) -> RegistryView:
    as_of, source = _as_of(node)
    return RegistryView(
        node.registry,
        _families(node, details),
        as_of,
        source,
        node.count("holders"),
        _totals(node),
        _recorded(node),
    )


def _specials(node: RegistryNode) -> list[Special]:
    out = []
    for afi, s, e, name, attrs in node.conn.execute(
        "SELECT afi, start, end, name, attrs FROM special_purpose ORDER BY afi, start"
    ):
        rfc = str(orjson.loads(attrs).get("rfc", ""))
        out.append(Special(afi, int.from_bytes(s, "big"), int.from_bytes(e, "big"), name, rfc))
    return out


def load_view(data: DataDir, details: bool = False) -> FederationView:
    """Read every node of the data directory (nodes that do not exist are simply absent)."""
    with data.nodes() as nodes:
        rirs = {rid: _registry_view(nodes[rid], details) for rid in RIRS if rid in nodes}
        iana = nodes.get(RegistryId.IANA)
        authority = AuthorityMap.from_node(iana) if iana else AuthorityMap([])
        specials = _specials(iana) if iana else []
        meta = iana.source("iana-registries") if iana else None
    updated = dict(meta["updated"]) if meta else {}
    return FederationView(rirs, authority, specials, updated)
