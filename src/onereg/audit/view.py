"""The federation as the audit sees it: every node's delegations, loaded once as parallel lists.

A node's part is cached in `<data-dir>/cache/` under the node's log head (size and hash): the
cache is derived data, used only while the log is exactly the one it was made from, so a repeated
audit of unchanged nodes skips reading half a million rows from SQLite. The cache is plain JSON
(data only: reading it can run no code, unlike a pickle) carrying an HMAC over the log head and
the content under a key only this user can read, so a stale, damaged or planted file is ignored.

Columns (starts, ends, statuses, holders) rather than one object per record, because the audit
walks half a million records per run and the list-level operations (sort, map, bisect) run in C.
"""

from __future__ import annotations

from contextlib import suppress
from dataclasses import dataclass, field
from functools import partial
from itertools import compress, repeat
from operator import eq
from pathlib import Path
from typing import Literal, NamedTuple, cast

import orjson

from onereg.audit.signed import read_signed, write_signed
from onereg.core.gc import collector_paused
from onereg.core.registries import RIRS, RegistryId, holder_label
from onereg.core.resources import Afi, range_text
from onereg.federation.authority import AuthorityMap
from onereg.federation.layout import DataDir
from onereg.registry.imports import DELEGATED_SLOT
from onereg.registry.node import RegistryNode

AFIS = tuple(a.value for a in Afi)
# int.from_bytes's byte order as a positional argument from an endless iterator (stateless, so
# shared): a partial with a keyword argument costs three times as much per call.
_BIG: repeat[Literal["big"]] = repeat("big")
# Bump when RegistryView's shape changes: old cache files are then ignored, never misread.
CACHE_VERSION = 2


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

    def spans(self) -> tuple[list[int], list[int]]:
        return self.starts, self.ends


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
        rng = range_text(afi, fam.starts[index], fam.ends[index])
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
            fam.starts = list(map(int.from_bytes, cols[0], _BIG))
            fam.ends = list(map(int.from_bytes, cols[1], _BIG))
            fam.statuses, fam.holders = list(cols[2]), list(cols[3])
            if details:
                fam.ccs, fam.dates = list(cols[4]), list(cols[5])
    return out


def _totals(families: dict[str, Family]) -> dict[str, dict[str, int]]:
    """Addresses (or AS numbers) per family and status."""
    totals: dict[str, dict[str, int]] = {}
    for afi, fam in families.items():
        per: dict[str, int] = {}
        # a few statuses, many records: one C-level pass per status, not a Python loop per record
        for status in dict.fromkeys(fam.statuses):
            mine = list(map(eq, fam.statuses, repeat(status)))
            count = sum(mine)
            per[status] = sum(compress(fam.ends, mine)) - sum(compress(fam.starts, mine)) + count
        if per:
            totals[afi] = per
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


def _registry_view(
    data: DataDir, registry: RegistryId, details: bool, keep: bool = True
) -> RegistryView:
    """One node's part of the view, from the cache when the node's log has not moved since;
    `keep`: write the cache for a node read from SQLite (`audit.parts` keeps a smaller one)."""
    with data.read(registry) as node:
        size, head = node.head()
        tag = {"version": CACHE_VERSION, "size": size, "head": head.hex(), "details": details}
        cache = data.root / "cache" / f"{registry.value}.audit.json"
        cached = _read_cache(cache, registry, tag)
        if cached is not None:
            return cached
        as_of, source = _as_of(node)
        families = _families(node, details)
        view = RegistryView(
            node.registry,
            families,
            as_of,
            source,
            node.count("holders"),
            _totals(families),
            _recorded(node),
        )
    if keep:
        with suppress(OSError):  # a read-only or full disk: the audit works without its cache
            _write_cache(cache, tag, view)
    return view


def registry_view(data: DataDir, registry: RegistryId) -> RegistryView:
    """One node's records for the checks: its cached view if the node has not moved, else
    read from SQLite without caching it (the audit then keeps the node's findings instead)."""
    with collector_paused():
        return _registry_view(data, registry, False, keep=False)


def _read_cache(path: Path, registry: RegistryId, tag: dict[str, object]) -> RegistryView | None:
    """The cached view if it was made from exactly this log head (same size and hash) and its
    HMAC verifies; anything else (stale, damaged, planted, unreadable) is None."""
    body = read_signed(path, {**tag, "registry": registry.value})
    if body is None:
        return None
    try:
        return _view_from_json(registry, orjson.loads(body))
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return None


def _write_cache(path: Path, tag: dict[str, object], view: RegistryView) -> None:
    write_signed(path, {**tag, "registry": view.registry.value}, orjson.dumps(_view_to_json(view)))


_FAMILY_FIELDS = ("statuses", "holders", "ccs", "dates")


def _view_to_json(view: RegistryView) -> dict[str, object]:
    """Numbers as hex text: IPv6 starts and address counts exceed JSON's 64-bit integers."""
    return {
        "families": {
            afi: {
                "starts": _numbers(fam.starts),
                "ends": _numbers(fam.ends),
                **{name: getattr(fam, name) for name in _FAMILY_FIELDS},
            }
            for afi, fam in view.families.items()
        },
        "as_of": view.as_of,
        "source": view.source,
        "holders": view.holders,
        "totals": {a: {k: hex(n) for k, n in per.items()} for a, per in view.totals.items()},
        "cross": [[c.afi, hex(c.start), hex(c.end), c.authority, c.origin] for c in view.cross],
    }


def _view_from_json(registry: RegistryId, doc: dict[str, object]) -> RegistryView:
    fams = doc["families"]
    totals, cross = doc["totals"], doc["cross"]
    if not (isinstance(fams, dict) and isinstance(totals, dict) and isinstance(cross, list)):
        raise TypeError("not a cached view")
    families = {}
    for afi, raw in fams.items():
        fam = Family(_ints(raw["starts"]), _ints(raw["ends"]))
        for name in _FAMILY_FIELDS:
            setattr(fam, name, list(raw[name]))
        if len(fam.ends) != len(fam) or len(fam.statuses) != len(fam):
            raise ValueError("columns of different lengths")
        families[afi] = fam
    return RegistryView(
        registry,
        families,
        str(doc["as_of"]),
        str(doc["source"]),
        int(str(doc["holders"])),
        {a: {k: _hex(n) for k, n in per.items()} for a, per in totals.items()},
        [Recorded(a, _hex(s), _hex(e), str(au), str(o)) for a, s, e, au, o in cross],
    )


_hex = partial(int, base=16)
_JSON_INT = 1 << 63


def _numbers(values: list[int]) -> dict[str, list[int] | list[str]]:
    """JSON numbers when they fit its 64-bit integers (IPv4, AS numbers: decoded in C, fast),
    else hex text (IPv6)."""
    if not values or max(values) < _JSON_INT:
        return {"int": values}
    return {"hex": list(map(hex, values))}


def _ints(column: dict[str, list[object]]) -> list[int]:
    """A column back as ints (the HMAC has vouched that this is what `_numbers` wrote)."""
    if "int" in column:
        return cast(list[int], column["int"])
    return list(map(_hex, column["hex"]))


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
    present = [rid for rid in RIRS if data.exists(rid)]
    with collector_paused():
        rirs = {rid: _registry_view(data, rid, details) for rid in present}
    return iana_view(data, rirs)


def iana_view(data: DataDir, rirs: dict[RegistryId, RegistryView]) -> FederationView:
    """The federation view of these registries' records with IANA's node read."""
    authority, specials, updated = AuthorityMap([]), [], {}
    if data.exists(RegistryId.IANA):
        with data.read(RegistryId.IANA) as iana:
            authority = AuthorityMap.from_node(iana)
            specials = _specials(iana)
            meta = iana.source("iana-registries")
            updated = dict(meta["updated"]) if meta else {}
    return FederationView(rirs, authority, specials, updated)
