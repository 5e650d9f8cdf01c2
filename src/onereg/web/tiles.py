"""The IPv4 map's tiles: one byte per cell, cells in Hilbert-curve order.

A tile is 65,536 cells. The whole-IPv4 tile has one cell per /16 (each /8 is 256 consecutive
cells, so a 16 x 16 square of the curve); a /8's tile has one cell per /24. The browser lays
cell i at the Hilbert curve's point i of a 256 x 256 grid, so the server needs no geometry and
a tile is 64 KiB however much data is behind it.

A cell's byte is a category of the chosen colouring (`LEGENDS`); 0 is "nothing known". A /16
cell takes the category most of its sixteen /20s have (so a /16 mostly free is shown free),
a /24 cell the category of its first address.

The categories come from the node's own database and its verified mirrors, read once per
state of the logs (`MapData`, keyed by every log's head), then every tile is a few numpy
lookups over sorted interval arrays.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt

from onereg.core.registries import ALL_REGISTRIES, RIRS, RegistryId
from onereg.core.resources import Afi
from onereg.federation.guard import Deadline
from onereg.federation.layout import DataDir
from onereg.http.rdap import RdapAuthority

CELLS = 65536
SAMPLES = 16  # points sampled in a /16 cell of the whole map (one per /20)

# code -> (label, fill colour); 0 is always "unknown"
LEGENDS: dict[str, list[tuple[str, str]]] = {
    "registry": [("not designated", "#e6e6e6")]
    + [
        (r.display_name, c)
        for r, c in zip(
            ALL_REGISTRIES,
            ("#7f7f7f", "#2e8b57", "#e6a23c", "#3b6fd8", "#c0392b", "#8e44ad"),
            strict=True,
        )
    ],
    "status": [
        ("unknown", "#e6e6e6"),
        ("allocated", "#3b6fd8"),
        ("assigned", "#2e8b57"),
        ("available", "#f2d45c"),
        ("reserved", "#9a9a9a"),
        ("legacy", "#c0392b"),
    ],
}
LEGENDS["transfers"] = [
    ("no transfer in the logs", "#e6e6e6"),
    ("moved within a registry, past year", "#3b6fd8"),
    ("moved within a registry, earlier", "#a9c1f0"),
    ("moved between registries, past year", "#c0392b"),
    ("moved between registries, earlier", "#eba59e"),
    ("transfer in flight", "#e6a23c"),
]
LEGENDS["rpki"] = [
    ("no VRP covers it", "#e6e6e6"),
    ("under 25 % covered by VRPs", "#c7e9c0"),
    ("25-49 % covered by VRPs", "#74c476"),
    ("50-74 % covered by VRPs", "#31a354"),
    ("75-99 % covered by VRPs", "#1b7d3a"),
    ("all covered by VRPs", "#00441b"),
]
TRANSFER_RECENT_DAYS = 365
IN_FLIGHT = ("sourceInitialized", "recipientAccepted")
STATUS_CODES = {"allocated": 1, "assigned": 2, "available": 3, "reserved": 4, "legacy": 5}
REGISTRY_CODES = {r.value: i + 1 for i, r in enumerate(ALL_REGISTRIES)}


class TileError(ValueError):
    """A tile that does not exist: names the mode or block asked for."""


@dataclass(frozen=True)
class Intervals:
    """Disjoint-enough sorted intervals with a category each (later starts win on overlap)."""

    starts: npt.NDArray[np.int64]
    ends: npt.NDArray[np.int64]
    codes: npt.NDArray[np.uint8]

    @classmethod
    def of(cls, rows: list[tuple[int, int, int]]) -> Intervals:
        rows.sort()
        arr = np.array(rows, dtype=np.int64).reshape(-1, 3)
        return cls(arr[:, 0].copy(), arr[:, 1].copy(), arr[:, 2].astype(np.uint8))

    def at(self, points: npt.NDArray[np.int64]) -> npt.NDArray[np.uint8]:
        """Each point's category (0 where no interval holds it)."""
        if len(self.starts) == 0:
            return np.zeros(points.shape, dtype=np.uint8)
        index = np.searchsorted(self.starts, points, side="right") - 1
        safe = np.clip(index, 0, None)
        inside = (index >= 0) & (self.ends[safe] >= points)
        return np.where(inside, self.codes[safe], 0).astype(np.uint8)


@dataclass(frozen=True)
class MapData:
    """Every colouring's intervals for one state of the logs."""

    heads: tuple[int, ...]
    layers: dict[str, list[Intervals]]  # mode -> layers, the first one that knows a point wins

    def tile(self, mode: str, block: str) -> bytes:
        layers = self.layers.get(mode)
        if layers is None:
            raise TileError(f"map mode {mode!r}: choose one of {', '.join(sorted(self.layers))}")
        if block == "all":
            offsets = np.arange(SAMPLES, dtype=np.int64) << 12
            points = (np.arange(CELLS, dtype=np.int64) << 16)[:, None] + offsets[None, :]
            codes = self._codes(layers, points.ravel()).reshape(CELLS, SAMPLES)
            return _majority(codes).tobytes()
        if not block.isdigit() or int(block) > 255:
            raise TileError(f"map block {block[:16]!r}: 'all' or a /8 number 0..255")
        points = (int(block) << 24) + (np.arange(CELLS, dtype=np.int64) << 8)
        return self._codes(layers, points).tobytes()

    @staticmethod
    def _codes(layers: list[Intervals], points: npt.NDArray[np.int64]) -> npt.NDArray[np.uint8]:
        out = np.zeros(points.shape, dtype=np.uint8)
        for layer in layers:
            found = layer.at(points)
            out = np.where(out == 0, found, out)
        return out


def _majority(codes: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    """Each row's most frequent non-zero code (0 for a row of zeros); ties go to the lowest."""
    width = int(codes.max(initial=0)) + 1
    rows = np.repeat(np.arange(codes.shape[0], dtype=np.int64), codes.shape[1])
    flat = rows * width + codes.ravel().astype(np.int64)
    counts = np.bincount(flat, minlength=codes.shape[0] * width).reshape(-1, width)
    counts[:, 0] = 0
    best = counts.argmax(axis=1).astype(np.uint8)
    return np.where(counts.max(axis=1) > 0, best, 0).astype(np.uint8)


def delegation_columns(
    data: DataDir, rid: RegistryId, third: str, afi: Afi, deadline: Deadline
) -> list[tuple[bytes, bytes, Any]]:
    """(start, end, `third`: a column expression, the caller's constant, never input) of every
    record of one family of the registry's node or mirror, on a read-only connection under the
    deadline; none while the mirror has no tables yet."""
    path = data.node_path(rid)
    if not path.exists():
        return []
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    conn.set_progress_handler(deadline.expired, 10_000)
    try:
        return conn.execute(
            f"SELECT start, end, {third} FROM delegations WHERE afi = ?", (afi.value,)
        ).fetchall()
    except sqlite3.OperationalError:
        deadline.check()
        return []  # a mirror not yet given its tables
    finally:
        conn.close()


def _delegation_rows(
    data: DataDir, rid: RegistryId, deadline: Deadline
) -> list[tuple[int, int, int]]:
    """(start, end, status code) of the registry's IPv4 records, straight from SQLite (a few
    hundred thousand rows: no objects per row)."""
    rows = delegation_columns(data, rid, "status", Afi.IPV4, deadline)
    return [
        (int.from_bytes(s, "big"), int.from_bytes(e, "big"), STATUS_CODES.get(st, 0))
        for s, e, st in rows
    ]


def build_map(
    data: DataDir, auth: RdapAuthority, heads: tuple[int, ...], mode: str, deadline: Deadline
) -> MapData:
    """Read what the map shows in `mode` from the node's view (its database and mirrors):
    by registry, only the authority map (no database read); by status, every registry's
    records over IANA's blocks."""
    if mode == "registry":
        spans = auth.spans.get(Afi.IPV4.value, ())
        rows = [(s.start, s.end, REGISTRY_CODES[s.registry.value]) for s in spans]
        return MapData(heads, {mode: [Intervals.of(rows)]})
    if mode != "status":
        raise TileError(f"map mode {mode[:32]!r}: choose one of {', '.join(sorted(LEGENDS))}")
    held: list[tuple[int, int, int]] = []
    for rid in RIRS:
        deadline.check()
        held += _delegation_rows(data, rid, deadline)
    iana = []
    for block in auth.iana.blocks.get(Afi.IPV4.value, []):
        iana_status = block.iana_status.upper()
        if iana_status == "LEGACY":
            code = STATUS_CODES["legacy"]
        elif block.registry in RIRS:
            code = STATUS_CODES["available"]  # the RIR's, not in any record of it
        else:
            code = STATUS_CODES["reserved"]
        iana.append((block.start, block.end, code))
    return MapData(heads, {mode: [Intervals.of(held), Intervals.of(iana)]})


# --- transfer activity ---------------------------------------------------------------------------


def _transfer_rows(
    data: DataDir, rid: RegistryId, since: str, deadline: Deadline
) -> tuple[list[tuple[int, int, int]], list[tuple[int, int, int]]]:
    """(in flight, finished) IPv4 transfers in the registry's log (its node or mirror), each as
    (start, end, code): within or between registries, in the past year or earlier (`since`
    is the log time a year ago). Cancelled transfers moved nothing and are left out."""
    path = data.node_path(rid)
    if not path.exists():
        return [], []
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    conn.set_progress_handler(deadline.expired, 10_000)
    try:
        rows = conn.execute(
            "SELECT t.role, t.state, t.start, t.end, l.time FROM transfers t "
            "JOIN log l ON l.seq = t.seq WHERE t.afi = ?",
            (Afi.IPV4.value,),
        ).fetchall()
    except sqlite3.OperationalError:
        deadline.check()
        return [], []  # a mirror not yet given its tables
    finally:
        conn.close()
    flying: list[tuple[int, int, int]] = []
    done: list[tuple[int, int, int]] = []
    for role, state, start, end, when in rows:
        span = (int.from_bytes(start, "big"), int.from_bytes(end, "big"))
        if state in IN_FLIGHT:
            flying.append((*span, 5))
        elif state == "sourceFinalized":
            code = (1 if role == "intra" else 3) + (0 if str(when) >= since else 1)
            done.append((*span, code))
    return flying, done


def transfer_map(
    data: DataDir, heads: tuple[int, ...], now: datetime, deadline: Deadline
) -> Touched:
    """Blocks moved by a transfer in any registry's log this node follows."""
    since = (now - timedelta(days=TRANSFER_RECENT_DAYS)).strftime("%Y-%m-%dT%H:%M:%S")
    rows: list[tuple[int, int, int]] = []
    for rid in RIRS:
        deadline.check()
        flying, done = _transfer_rows(data, rid, since, deadline)
        rows += flying + done
    return Touched.of(rows, TRANSFER_PRIORITY)


TRANSFER_PRIORITY = (5, 1, 3, 2, 4)  # in flight, then the past year's, then earlier ones


@dataclass(frozen=True)
class Touched:
    """Intervals by category, for colourings where any part of a cell counts: a /24 moved in
    a /16 shows on the whole map (a majority of samples would hide it). A cell takes the first
    category of `priority` that touches it."""

    spans: dict[int, tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]]  # starts, ends sorted
    priority: tuple[int, ...]

    @classmethod
    def of(cls, rows: list[tuple[int, int, int]], priority: tuple[int, ...]) -> Touched:
        spans = {}
        for code in priority:
            mine = [(s, e) for s, e, c in rows if c == code]
            starts = np.sort(np.array([s for s, _ in mine], dtype=np.int64))
            ends = np.sort(np.array([e for _, e in mine], dtype=np.int64))
            spans[code] = (starts, ends)
        return cls(spans, priority)

    def tile(self, mode: str, block: str) -> bytes:
        firsts, size = _cells(block)
        lasts = firsts + size - 1
        out = np.zeros(CELLS, dtype=np.uint8)
        for code in self.priority:
            starts, ends = self.spans[code]
            # intervals starting at or before the cell's end, minus those ended before it starts
            touching = np.searchsorted(starts, lasts, side="right") - np.searchsorted(
                ends, firsts, side="left"
            )
            out = np.where((out == 0) & (touching > 0), code, out).astype(np.uint8)
        return out.tobytes()


def _cells(block: str) -> tuple[npt.NDArray[np.int64], int]:
    """The first address of each cell of a tile, and the cell's size."""
    if block == "all":
        return np.arange(CELLS, dtype=np.int64) << 16, 1 << 16
    if block.isdigit() and int(block) <= 255:
        return (int(block) << 24) + (np.arange(CELLS, dtype=np.int64) << 8), 256
    raise TileError(f"map block {block[:16]!r}: 'all' or a /8 number 0..255")


# --- RPKI coverage -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Coverage:
    """The union of the VRPs' IPv4 prefixes as disjoint sorted intervals, with the covered
    addresses before each: any cell's covered share is two binary searches."""

    starts: npt.NDArray[np.int64]
    ends: npt.NDArray[np.int64]
    before: npt.NDArray[np.int64]

    @classmethod
    def of(cls, firsts: npt.NDArray[np.int64], lasts: npt.NDArray[np.int64]) -> Coverage:
        order = np.argsort(firsts, kind="stable")
        firsts, lasts = firsts[order], lasts[order]
        if len(firsts) == 0:
            empty = np.zeros(0, dtype=np.int64)
            return cls(empty, empty, empty)
        reach = np.maximum.accumulate(lasts)
        new = np.concatenate([[True], firsts[1:] > reach[:-1] + 1])
        group = np.cumsum(new) - 1
        starts = firsts[new]
        ends = np.zeros(len(starts), dtype=np.int64)
        np.maximum.at(ends, group, lasts)
        sizes = ends - starts + 1
        return cls(starts, ends, np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64))

    def covered_below(self, points: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        """How many covered addresses lie below each point."""
        if len(self.starts) == 0:
            return np.zeros(points.shape, dtype=np.int64)
        index = np.searchsorted(self.starts, points, side="right") - 1
        safe = np.clip(index, 0, None)
        inside = np.minimum(points, self.ends[safe] + 1) - self.starts[safe]
        return np.where(index >= 0, self.before[safe] + inside, 0)

    def tile(self, mode: str, block: str) -> bytes:
        """Each cell's covered share in five steps (`LEGENDS["rpki"]`): 0 none, 5 all."""
        firsts, size = _cells(block)
        covered = self.covered_below(firsts + size) - self.covered_below(firsts)
        steps = np.clip(covered * 4 // size + 1, 1, 4)
        codes = np.where(covered == 0, 0, np.where(covered == size, 5, steps))
        return codes.astype(np.uint8).tobytes()
