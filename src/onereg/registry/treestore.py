"""The Merkle tree of a node's log, kept in the node's SQLite file.

Only perfect-subtree hashes are stored (level, index) -> hash: each is written once, when the
log grows past it, and they are exactly what tiles publish and what any root or proof needs.
Rows are added in the same transaction as the log entries they cover, so the tree never lags
the log.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable

from onereg.ledger.merkle import leaf_hash, node_hash

TREE_SCHEMA = """
CREATE TABLE IF NOT EXISTS tree (
    level INTEGER NOT NULL,
    idx INTEGER NOT NULL,
    hash BLOB NOT NULL,
    PRIMARY KEY (level, idx)
) WITHOUT ROWID;
"""


class SqliteHashStore:
    """A `HashStore` over the `tree` table of one node."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def size(self) -> int:
        row = self.conn.execute("SELECT max(idx) FROM tree WHERE level = 0").fetchone()
        return 0 if row[0] is None else int(row[0]) + 1

    def get(self, level: int, index: int) -> bytes:
        row = self.conn.execute(
            "SELECT hash FROM tree WHERE level = ? AND idx = ?", (level, index)
        ).fetchone()
        if row is None:
            raise KeyError((level, index))
        return bytes(row[0])

    def _frontier(self, size: int) -> dict[int, bytes]:
        """The pending left siblings of the right edge: level -> hash."""
        return {
            level: self.get(level, (size >> level) - 1)
            for level in range(size.bit_length())
            if (size >> level) & 1
        }

    def append_entries(self, first_index: int, entries: Iterable[bytes]) -> int:
        """Add the leaves of encoded entries numbered from `first_index` (inside a transaction)."""
        frontier = self._frontier(first_index)
        rows: list[tuple[int, int, bytes]] = []
        index = first_index
        for entry in entries:
            h, level, pos = leaf_hash(entry), 0, index
            rows.append((0, pos, h))
            while pos & 1:
                h = node_hash(frontier.pop(level), h)
                level, pos = level + 1, pos >> 1
                rows.append((level, pos, h))
            frontier[level] = h
            index += 1
        self.conn.executemany("INSERT INTO tree (level, idx, hash) VALUES (?, ?, ?)", rows)
        return index - first_index
