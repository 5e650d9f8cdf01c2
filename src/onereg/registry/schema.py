"""SQLite schema of a node: the log (the truth) and the projection tables derived from it."""

from __future__ import annotations

LOG_SCHEMA = """
CREATE TABLE IF NOT EXISTS log (
    seq INTEGER PRIMARY KEY,
    time TEXT NOT NULL,
    kind TEXT NOT NULL,
    payload BLOB NOT NULL,
    prev_hash BLOB NOT NULL,
    hash BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS node (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TRIGGER IF NOT EXISTS log_no_update BEFORE UPDATE ON log
BEGIN SELECT RAISE(ABORT, 'the log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS log_no_delete BEFORE DELETE ON log
BEGIN SELECT RAISE(ABORT, 'the log is append-only'); END;
"""

# Addresses are stored as 16-byte big-endian blobs so that IPv6 (128 bits, beyond SQLite's
# 64-bit integers) sorts and compares correctly with the same index as IPv4 and AS numbers.
PROJECTION_TABLES = (
    "holders",
    "delegations",
    "cross_holdings",
    "special_purpose",
    "sources",
    "node_keys",
    "holder_keys",
    "used_nonces",
    "transfers",
    "locks",
)
PROJECTION_SCHEMA = """
CREATE TABLE IF NOT EXISTS holders (
    handle TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    cc TEXT NOT NULL,
    seq INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS delegations (
    afi TEXT NOT NULL,
    start BLOB NOT NULL,
    end BLOB NOT NULL,
    start_text TEXT NOT NULL,
    value INTEGER NOT NULL,
    cc TEXT NOT NULL,
    date TEXT NOT NULL,
    status TEXT NOT NULL,
    holder TEXT,
    opaque TEXT,
    ext TEXT NOT NULL,
    attrs TEXT,
    seq INTEGER NOT NULL,
    PRIMARY KEY (afi, start)
) WITHOUT ROWID;
CREATE VIEW IF NOT EXISTS pool AS
    SELECT afi, start, end, start_text, value, status FROM delegations
    WHERE status IN ('available', 'reserved');
CREATE TABLE IF NOT EXISTS cross_holdings (
    afi TEXT NOT NULL,
    start BLOB NOT NULL,
    end BLOB NOT NULL,
    range_text TEXT NOT NULL,
    authority TEXT NOT NULL,
    origin TEXT NOT NULL,
    evidence TEXT NOT NULL,
    seq INTEGER NOT NULL,
    PRIMARY KEY (afi, start)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS special_purpose (
    afi TEXT NOT NULL,
    start BLOB NOT NULL,
    end BLOB NOT NULL,
    range_text TEXT NOT NULL,
    name TEXT NOT NULL,
    attrs TEXT NOT NULL,
    seq INTEGER NOT NULL,
    PRIMARY KEY (afi, start, end)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS holder_keys (
    handle TEXT PRIMARY KEY,
    key TEXT NOT NULL,
    seq INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS used_nonces (
    nonce TEXT PRIMARY KEY,
    seq INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS transfers (
    id TEXT PRIMARY KEY,
    role TEXT NOT NULL,
    state TEXT NOT NULL,
    afi TEXT NOT NULL,
    start BLOB NOT NULL,
    end BLOB NOT NULL,
    counterpart TEXT NOT NULL,
    record TEXT NOT NULL,
    first_seq INTEGER NOT NULL,
    seq INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS locks (
    afi TEXT NOT NULL,
    start BLOB NOT NULL,
    end BLOB NOT NULL,
    transfer TEXT NOT NULL,
    PRIMARY KEY (afi, start)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS node_keys (
    seq INTEGER PRIMARY KEY,
    vkey TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS sources (
    name TEXT PRIMARY KEY,
    sha256 TEXT NOT NULL,
    meta TEXT NOT NULL,
    seq INTEGER NOT NULL
) WITHOUT ROWID;
"""

# Secondary indexes are kept apart so that a bulk write can drop them and build them once at the
# end (building the holder index over 190,000 rows at once is several times cheaper than keeping
# it up to date row by row).
SECONDARY_INDEXES = {
    # (holder, date): a holder's records, and its earliest registration date from the index
    # alone (registry.dates.holder_dates, on every whois organisation and RDAP entity)
    "delegations_holder": (
        "CREATE INDEX IF NOT EXISTS delegations_holder ON delegations (holder, date)"
    ),
    # handles in any case (RegistryNode.holder_handles): a whois key that is not a handle, an
    # address for one, is a miss that would otherwise scan every holder on every query
    "holders_nocase": (
        "CREATE INDEX IF NOT EXISTS holders_nocase ON holders (handle COLLATE NOCASE)"
    ),
}
PROJECTION_SCHEMA += ";\n".join(SECONDARY_INDEXES.values()) + ";\n"

DROP_PROJECTION = """
DROP VIEW IF EXISTS pool;
DROP TABLE IF EXISTS holders;
DROP TABLE IF EXISTS delegations;
DROP TABLE IF EXISTS cross_holdings;
DROP TABLE IF EXISTS special_purpose;
DROP TABLE IF EXISTS sources;
DROP TABLE IF EXISTS node_keys;
DROP TABLE IF EXISTS holder_keys;
DROP TABLE IF EXISTS used_nonces;
DROP TABLE IF EXISTS transfers;
DROP TABLE IF EXISTS locks;
"""


def key(value: int) -> bytes:
    """Index key of a number of any family."""
    return value.to_bytes(16, "big")


def unkey(blob: bytes) -> int:
    return int.from_bytes(blob, "big")
