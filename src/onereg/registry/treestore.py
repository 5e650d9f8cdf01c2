"""The Merkle tree of a node's log, kept in the node's SQLite file.

Only perfect-subtree hashes are stored: each is written once, when the log grows past it, and
they are exactly what tiles publish and what any root or proof needs. They are grouped 256 to a
row, (level, group) -> concatenated hashes, so that appending n entries touches about n/128 rows
instead of 2n: appending is the hot path of every change. Rows are written in the same
transaction as the log entries they cover, so the tree never lags the log.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from itertools import groupby

from onereg.ledger.merkle import leaf_hash, node_hash

GROUP = 256
HASH = 32

TREE_SCHEMA = """
CREATE TABLE IF NOT EXISTS tree (
    level INTEGER NOT NULL,
    grp INTEGER NOT NULL,
    hashes BLOB NOT NULL,
    PRIMARY KEY (level, grp)
) WITHOUT ROWID;
"""


class SqliteHashStore:
    """A `HashStore` over the `tree` table of one node."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def size(self) -> int:
        row = self.conn.execute(
            "SELECT grp, length(hashes) FROM tree WHERE level = 0 ORDER BY grp DESC LIMIT 1"
        ).fetchone()
        return 0 if row is None else int(row[0]) * GROUP + int(row[1]) // HASH

    def get(self, level: int, index: int) -> bytes:
        group, offset = divmod(index, GROUP)
        row = self.conn.execute(
            "SELECT substr(hashes, ?, ?) FROM tree WHERE level = ? AND grp = ?",
            (offset * HASH + 1, HASH, level, group),
        ).fetchone()
        if row is None or len(row[0]) != HASH:
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
            rows.append((level, pos, h))
            while pos & 1:
                h = node_hash(frontier.pop(level), h)
                level, pos = level + 1, pos >> 1
                rows.append((level, pos, h))
            frontier[level] = h
            index += 1
        rows.sort(key=lambda r: (r[0], r[1]))  # hashes of one group arrive in index order
        self.conn.executemany(
            "INSERT INTO tree (level, grp, hashes) VALUES (?, ?, ?) ON CONFLICT (level, grp) "
            "DO UPDATE SET hashes = CAST(hashes || excluded.hashes AS BLOB)",
            [
                (level, grp, b"".join(r[2] for r in run))
                for (level, grp), run in groupby(rows, key=lambda r: (r[0], r[1] // GROUP))
            ],
        )
        return index - first_index
