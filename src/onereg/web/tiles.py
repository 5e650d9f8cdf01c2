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


def _delegation_rows(
    data: DataDir, rid: RegistryId, deadline: Deadline
) -> list[tuple[int, int, int]]:
    """(start, end, status code) of the registry's IPv4 records, straight from SQLite (a few
    hundred thousand rows: no objects per row)."""
    path = data.node_path(rid)
    if not path.exists():
        return []
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    conn.set_progress_handler(deadline.expired, 10_000)
    try:
        rows = conn.execute(
            "SELECT start, end, status FROM delegations WHERE afi = ?", (Afi.IPV4.value,)
        ).fetchall()
    except sqlite3.OperationalError:
        deadline.check()
        return []  # a mirror not yet given its tables
    finally:
        conn.close()
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
