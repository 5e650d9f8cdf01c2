"""What the explorer knows of the RPKI: the VRPs a block or AS is covered by, and the origin
validation (RFC 6811) of the announced routes inside or covering it when a route table is loaded.

The VRPs are the node's own CA's ROAs (its `ca.sqlite`, read again only when the CA's state
moves) and, when the node's config names one (`[explorer] vrps`), a file of validated VRPs. The
route table (`[explorer] route_table`, a RouteViews/pyasn prefix->origin file, bgpdump text or
MRT) is read once, in a thread of its own at start, by the ROV readers (`rpki.routes`, with
their fast path), and capped at `MAX_TABLE_ROUTES`; until it is read the lookup says so.
Validation itself is `rpki.rov.validate_routes` on the few routes and VRPs that concern the
block: nothing here decides validity.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Hashable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from onereg.core.resources import Afi, Resource
from onereg.federation.guard import Deadline
from onereg.rpki.ca import issued_roas
from onereg.rpki.routes import read_routes, read_vrps
from onereg.rpki.rov import validate_routes
from onereg.rpki.rov_index import PrefixColumns, RouteSet, VrpSet, vrps_from_tuples

MAX_TABLE_ROUTES = 3_000_000  # routes read from the table (a full table today is ~1.2 M)
MAX_SHOWN = 100  # VRPs and routes listed per lookup (the totals are said)
_ALL64 = np.uint64(0xFFFF_FFFF_FFFF_FFFF)
Indices = npt.NDArray[np.intp]


@dataclass(frozen=True)
class Vrps:
    """Every VRP the node knows, as columns, with where each came from."""

    columns: VrpSet
    sources: dict[int, list[str]]  # family -> per-row source ("ROA <file> of <holder>" / file)
    index: PrefixIndex  # of the IPv4 columns

    def ipv4_spans(self) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """Each IPv4 VRP's first and last address."""
        cols = self.columns.v4
        first = cols.hi.astype(np.int64)
        return first, first + (np.int64(1) << (32 - cols.length.astype(np.int64))) - 1


class PrefixIndex:
    """IPv4 prefixes sorted by first address, for `overlapping` in O(log n): the prefixes
    inside the block start within it (one range of the sorted firsts), and those covering it
    are at most one per length (33 exact-key searches), so a lookup does not scan a full table.
    """

    def __init__(self, cols: PrefixColumns) -> None:
        first = cols.hi.astype(np.int64)
        self.order = np.argsort(first, kind="stable")
        self.firsts = first[self.order]
        keys = first * 64 + cols.length.astype(np.int64)
        self.key_order = np.argsort(keys, kind="stable")
        self.keys = keys[self.key_order]

    def overlapping(self, res: Resource) -> Indices:
        """The same rows as `overlapping(cols, res)`, in first-address order."""
        lo = np.searchsorted(self.firsts, res.start, side="left")
        hi = np.searchsorted(self.firsts, res.end, side="right")
        lengths = np.arange(33, dtype=np.int64)
        heads = (res.start >> (32 - lengths)) << (32 - lengths)  # res.start's covering prefixes
        wanted = (heads * 64 + lengths)[heads < res.start]
        left = np.searchsorted(self.keys, wanted, side="left")
        right = np.searchsorted(self.keys, wanted, side="right")
        covering = [self.key_order[a:b] for a, b in zip(left.tolist(), right.tolist(), strict=True)]
        return np.concatenate([*covering, self.order[lo:hi]]).astype(np.intp)


def _find(cols: PrefixColumns, index: PrefixIndex | None, res: Resource) -> Indices:
    return (
        index.overlapping(res) if index is not None and cols.family == 4 else overlapping(cols, res)
    )


def overlapping(cols: PrefixColumns, res: Resource) -> Indices:
    """Rows of `cols` whose prefix overlaps the block `res` (covers it or lies inside it)."""
    if len(cols) == 0:
        return np.zeros(0, dtype=np.intp)
    if cols.family == 4:
        first = cols.hi.astype(np.int64)
        last = first + (np.int64(1) << (32 - cols.length.astype(np.int64))) - 1
        return np.flatnonzero((first <= res.end) & (last >= res.start))
    # IPv6: the top 64 bits narrow it down, the few candidates are checked exactly
    span = 64 - np.minimum(cols.length, 64).astype(np.uint64)
    low_bits = np.where(span >= 64, _ALL64, (np.uint64(1) << np.minimum(span, 63)) - np.uint64(1))
    top_last = cols.hi | low_bits
    near = np.flatnonzero(
        (cols.hi <= np.uint64(res.end >> 64)) & (top_last >= np.uint64(res.start >> 64))
    )
    out = []
    for i in near.tolist():
        start = (int(cols.hi[i]) << 64) | int(cols.lo[i])
        end = start | ((1 << (128 - int(cols.length[i]))) - 1)
        if start <= res.end and end >= res.start:
            out.append(i)
    return np.asarray(out, dtype=np.intp)


def _subset(cols: PrefixColumns, rows: Indices) -> PrefixColumns:
    return PrefixColumns(
        cols.family,
        cols.hi[rows],
        cols.lo[rows],
        cols.length[rows],
        cols.extra[rows],
        cols.asn[rows],
    )


def _family(afi: Afi) -> int:
    return 4 if afi is Afi.IPV4 else 6


class RpkiView:
    """The node's VRPs and route table for the explorer; used from worker threads."""

    def __init__(
        self, ca_db: Path, vrps_file: Path | None = None, route_table: Path | None = None
    ) -> None:
        self.ca_db = ca_db
        self.vrps_file = vrps_file
        self.route_table = route_table
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self._key: tuple[int | None, bool] | None = None
        self._vrps: Vrps | None = None
        self._file_vrps: tuple[VrpSet, list[str], list[str]] | None = None
        self._routes: RouteSet | None = None
        self._route_index: PrefixIndex | None = None
        self._problem: str | None = None
        self._loaded = threading.Event()

    def start(self) -> None:
        """Read the VRP file and the route table in a thread of their own (seconds for a full
        table: never on the event loop, and lookups need not wait for it)."""
        threading.Thread(target=self._load, name="explorer-rpki-files", daemon=True).start()

    def _load(self) -> None:
        try:
            if self.vrps_file is not None:
                found = read_vrps(self.vrps_file)
                name = f"VRP file {self.vrps_file.name}"
                self._file_vrps = (found, [name] * len(found.v4), [name] * len(found.v6))
            if self.route_table is not None:
                routes = read_routes(self.route_table, max_records=MAX_TABLE_ROUTES)
                self._route_index = PrefixIndex(routes.v4)
                self._routes = routes
        except (OSError, ValueError) as exc:
            self._problem = f"{exc}"
        finally:
            self._loaded.set()

    def wait_loaded(self, timeout: float) -> bool:
        """Until the files are read (or failed): for tools and tests, never a request."""
        return self._loaded.wait(timeout)

    def routes_state(self) -> str:
        """'none' (no table configured), 'loading', 'loaded' or 'failed'."""
        if self.route_table is None:
            return "none"
        if not self._loaded.is_set():
            return "loading"
        return "loaded" if self._routes is not None else "failed"

    def state(self) -> Hashable:
        """What the VRPs depend on: the CA's state and whether the files are read yet."""
        with self._lock:
            return self._ca_state(), self._loaded.is_set()

    def _ca_state(self) -> int | None:
        if not self.ca_db.exists():
            return None
        if self._conn is None:
            self._conn = sqlite3.connect(
                f"file:{self.ca_db}?mode=ro", uri=True, check_same_thread=False
            )
        return int(self._conn.execute("PRAGMA data_version").fetchone()[0])

    def vrps(self, deadline: Deadline) -> Vrps:
        """Every VRP the node knows now (rebuilt only when the CA's state or the files moved)."""
        with self._lock:
            deadline.check()
            key = (self._ca_state(), self._loaded.is_set())
            if self._vrps is None or key != self._key:
                self._vrps = self._build()
                self._key = key
            return self._vrps

    def _build(self) -> Vrps:
        rows, labels = [], []
        if self._conn is not None:
            try:
                for roa in issued_roas(self._conn):
                    for p in roa.prefixes:
                        prefix = str(p).split("-")[0]
                        rows.append((roa.asn, prefix, p.max_length))
                        labels.append(f"ROA {roa.file} of {roa.holder} (this node's CA)")
            except sqlite3.OperationalError:  # a CA not yet given its tables
                rows, labels = [], []
        own = vrps_from_tuples(rows)
        own_sources = {
            4: [lb for (_, p, _), lb in zip(rows, labels, strict=True) if ":" not in p],
            6: [lb for (_, p, _), lb in zip(rows, labels, strict=True) if ":" in p],
        }
        if self._file_vrps is None:
            return Vrps(own, own_sources, PrefixIndex(own.v4))
        found, v4, v6 = self._file_vrps
        merged = VrpSet(_concat(own.v4, found.v4), _concat(own.v6, found.v6))
        sources = {4: own_sources[4] + v4, 6: own_sources[6] + v6}
        return Vrps(merged, sources, PrefixIndex(merged.v4))

    def about(self, res: Resource, deadline: Deadline) -> dict[str, Any]:
        """The lookup's RPKI section for an address block or AS numbers."""
        vrps = self.vrps(deadline)
        answer: dict[str, Any] = {
            "query": str(res),
            "vrpSources": self._source_names(),
            "routeTable": self.route_table.name if self.route_table else None,
            "routesState": self.routes_state(),
            "routesProblem": self._problem if self.routes_state() == "failed" else None,
        }
        if res.afi is Afi.ASN:
            answer.update(self._about_asn(vrps, res))
        else:
            answer.update(self._about_block(vrps, res))
        return answer

    def _source_names(self) -> list[str]:
        names = ["this node's CA"]
        if self.vrps_file is not None:
            names.append(f"VRP file {self.vrps_file.name}")
        return names

    def _about_block(self, vrps: Vrps, res: Resource) -> dict[str, Any]:
        family = _family(res.afi)
        cols = vrps.columns.family(family)
        rows = _find(cols, vrps.index, res)
        near = _subset(cols, rows)
        listed = [_vrp_row(near, i, vrps.sources[family][int(r)], res) for i, r in enumerate(rows)]
        out: dict[str, Any] = {"vrps": listed[:MAX_SHOWN], "vrpCount": len(listed)}
        routes = self._routes
        if routes is not None:
            table = routes.family(family)
            hits = _find(table, self._route_index, res)
            shown = _subset(table, hits[:MAX_SHOWN])
            out["routes"] = _validated(near, shown, family)
            out["routeCount"] = len(hits)
        return out

    def _about_asn(self, vrps: Vrps, res: Resource) -> dict[str, Any]:
        listed: list[dict[str, Any]] = []
        for family in (4, 6):
            cols = vrps.columns.family(family)
            rows = np.flatnonzero((cols.asn >= res.start) & (cols.asn <= res.end))
            near = _subset(cols, rows)
            listed += [
                _vrp_row(near, i, vrps.sources[family][int(r)], None) for i, r in enumerate(rows)
            ]
        out: dict[str, Any] = {"vrps": listed[:MAX_SHOWN], "vrpCount": len(listed)}
        routes = self._routes
        if routes is not None:
            shown_rows: list[dict[str, Any]] = []
            total = 0
            for family in (4, 6):
                table = routes.family(family)
                hits = np.flatnonzero((table.asn >= res.start) & (table.asn <= res.end))
                total += len(hits)
                shown = _subset(table, hits[: max(0, MAX_SHOWN - len(shown_rows))])
                cols = vrps.columns.family(family)
                covering = np.unique(
                    np.concatenate(
                        [
                            _find(cols, vrps.index, _prefix_resource(shown, i))
                            for i in range(len(shown))
                        ]
                        or [np.zeros(0, dtype=np.intp)]
                    )
                )
                shown_rows += _validated(_subset(cols, covering), shown, family)
            out["routes"] = shown_rows
            out["routeCount"] = total
        return out


def _concat(a: PrefixColumns, b: PrefixColumns) -> PrefixColumns:
    return PrefixColumns(
        a.family,
        np.concatenate([a.hi, b.hi]),
        np.concatenate([a.lo, b.lo]),
        np.concatenate([a.length, b.length]),
        np.concatenate([a.extra, b.extra]),
        np.concatenate([a.asn, b.asn]),
    )


def _prefix_resource(cols: PrefixColumns, i: int) -> Resource:
    return Resource.parse(cols.prefix(i))


def _vrp_row(cols: PrefixColumns, i: int, source: str, block: Resource | None) -> dict[str, Any]:
    prefix = cols.prefix(i)
    row: dict[str, Any] = {
        "asn": int(cols.asn[i]),
        "prefix": prefix,
        "maxLength": int(cols.extra[i]),
        "source": source,
    }
    if block is not None:
        res = Resource.parse(prefix)
        row["relation"] = "covers the block" if res.contains(block) else "inside the block"
    return row


def _validated(vrps: PrefixColumns, routes: PrefixColumns, family: int) -> list[dict[str, Any]]:
    """RFC 6811 states of `routes` against `vrps` (which must hold every VRP covering them)."""
    empty6 = PrefixColumns.empty(6 if family == 4 else 4)
    vrp_set = VrpSet(vrps, empty6) if family == 4 else VrpSet(empty6, vrps)
    route_set = RouteSet(routes, empty6) if family == 4 else RouteSet(empty6, routes)
    return [
        {
            "prefix": row.prefix,
            "origin": row.origin,
            "state": str(row.state),
            "reason": row.reason,
            "vrps": [f"AS{a} {p} max /{m}" for a, p, m in row.vrps],
        }
        for row in validate_routes(vrp_set, route_set).rows()
    ]
