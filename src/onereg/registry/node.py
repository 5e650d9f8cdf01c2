"""A registry node: one SQLite file holding the node's log and the projections derived from it.

Every write goes through `append`, which hashes the new entries onto the chain and applies them to
the projection in the same transaction; nothing else writes the projection tables.

One writer at a time: a command that plans from the node's state (an import, a transfer step, a
key) does so inside `writing()`, one `BEGIN IMMEDIATE` transaction, so no other process can move
the log between the plan and its commit. A second writer waits for the first (up to `wait`
seconds) and then plans from what the first wrote; it never interleaves with it. Commands that
only read open the file read-only (`open_readonly`), which works on a read-only disk too.
"""

from __future__ import annotations

import functools
import hashlib
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import groupby
from operator import itemgetter
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar

import orjson

from onereg.core.errors import LogIntegrityError, OneregError, OverlapError
from onereg.core.fs import private_dir
from onereg.core.gc import collector_paused
from onereg.core.registries import RegistryId, holder_label
from onereg.core.resources import Afi, Resource, format_number
from onereg.ledger.entry import (
    GENESIS_HASH,
    LogEntry,
    canonical_json,
    chain_encoded,
    utc_now,
    verify_chain,
)
from onereg.ledger.merkle import MerkleTree
from onereg.registry import events as ev
from onereg.registry import projection
from onereg.registry.schema import (
    DROP_PROJECTION,
    LOG_SCHEMA,
    PROJECTION_SCHEMA,
    PROJECTION_TABLES,
    key,
    unkey,
)
from onereg.registry.treestore import TREE_SCHEMA, SqliteHashStore


@dataclass(frozen=True, slots=True)
class Delegation:
    """A delegation as the projection holds it."""

    registry: RegistryId
    resource: Resource
    start_text: str
    value: int
    cc: str
    date: str
    status: str
    holder: str | None
    opaque: str | None
    ext: str
    attrs: dict[str, Any] | None
    seq: int

    def describe(self) -> str:
        who = holder_label(self.holder, self.status)
        return (
            f"{self.registry}|{self.cc}|{self.resource.afi}|{self.start_text}|{self.value}|"
            f"{self.date}|{self.status} ({who}; log entry {self.seq})"
        )


Encoded = tuple[str, ev.Payload, bytes]  # (kind, payload, canonical payload bytes)


def pack(items: list[ev.Item]) -> list[Encoded]:
    """Runs of same-kind items as `batch` entries whose payload stays under BATCH_BYTES.

    The cap is in bytes because log entries are published in tile bundles whose entries carry a
    16-bit length. The batch payload is assembled from the items' own canonical bytes: with its
    keys in sorted order ("items" < "kind") it is exactly what `canonical_json` would produce.
    """
    packed: list[Encoded] = []
    for kind, run in groupby(items, key=itemgetter(0)):
        payloads = [p for _, p in run]
        if len(payloads) == 1:
            packed.append((kind, payloads[0], canonical_json(payloads[0])))
            continue
        chunk: list[ev.Payload] = []
        parts: list[bytes] = []
        used = 0
        for payload in payloads:
            data = canonical_json(payload)
            if parts and used + len(data) + 1 > ev.BATCH_BYTES:
                packed.append(_batch(kind, chunk, parts))
                chunk, parts, used = [], [], 0
            chunk.append(payload)
            parts.append(data)
            used += len(data) + 1
        packed.append(_batch(kind, chunk, parts))
    return packed


def _batch(kind: str, chunk: list[ev.Payload], parts: list[bytes]) -> Encoded:
    data = b'{"items":[' + b",".join(parts) + batch_tail(kind)
    return ev.BATCH, {"kind": kind, "items": chunk}, data


def batch_tail(kind: str) -> bytes:
    """How the payload of a batch of `kind` items ends: a query can find such batches in the
    log by their last bytes, without decoding every batch."""
    return b'],"kind":' + canonical_json(kind) + b"}"


_DELEGATION_COLUMNS = (
    "afi, start, end, start_text, value, cc, date, status, holder, opaque, ext, attrs, seq"
)


class NodeBusyError(OneregError):
    """Another process kept the node's write lock for longer than this one would wait."""


class StalePlanError(OneregError):
    """A plan was made against a log head that has moved since: nothing was written."""


class NodeStorageError(OneregError):
    """The node's file cannot be opened or written (disk full, read-only, permissions)."""


P = ParamSpec("P")
R = TypeVar("R")

# Seconds a write waits for another process's write before NodeBusyError. A server's own
# connection keeps SQLite's usual 5 s (its event loop must not stall behind an import: the step
# fails clearly and is retried); a CLI command waits out a whole-registry import (WRITE_WAIT).
BUSY_WAIT = 5.0
WRITE_WAIT = 600.0


class RegistryNode:
    """One registry's database; open it with `RegistryNode.open(registry, path)`."""

    def __init__(
        self, registry: RegistryId, conn: sqlite3.Connection, path: Path, readonly: bool = False
    ) -> None:
        self.registry = registry
        self.conn = conn
        self.path = path
        self.readonly = readonly
        self.on_close: list[Callable[[], None]] = []  # run after the connection closes (locks)
        self._depth = 0  # nesting of `writing()`: only the outermost begins and commits
        self._wait = BUSY_WAIT

    @classmethod
    def open(
        cls, registry: RegistryId, path: Path, mirror: bool = False, wait: float = BUSY_WAIT
    ) -> RegistryNode:
        """Open or create the node's file; a `mirror` starts empty and takes entries by `ingest`.

        `wait`: how long a write waits for another process's write before giving up."""
        private_dir(path.parent)
        if not path.exists():
            cls._create_whole(registry, path, mirror)
        node = cls._connect(registry, path, wait)
        stored = node._stored_registry()
        if stored != registry.value:
            node.conn.close()
            if stored is None:
                raise NodeStorageError(
                    f"{path}: a node file without the node's identity (left half-made by an "
                    "older version); move it away and let the node create it again"
                )
            raise LogIntegrityError(f"{path} is the node of {stored}, not of {registry}")
        return node

    @classmethod
    def _connect(cls, registry: RegistryId, path: Path, wait: float) -> RegistryNode:
        try:
            conn = sqlite3.connect(path, isolation_level=None, timeout=wait)
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA cache_size = -262144")  # 256 MiB: a full import touches ~100 MB
            conn.executescript(LOG_SCHEMA + TREE_SCHEMA + PROJECTION_SCHEMA)
        except sqlite3.DatabaseError as exc:  # also "file is not a database"
            raise storage_error(path, exc) from None
        node = cls(registry, conn, path)
        node._wait = wait
        node._catch_up_tree()
        return node

    @classmethod
    def _create_whole(cls, registry: RegistryId, path: Path, mirror: bool) -> None:
        """Make the file complete (schema, identity, a node's genesis entry) under a name of
        its own, then link it into place: a file at `path` always says whose it is. A reader
        that once opened a mirror while it was being made found no identity and wrote a
        node's genesis entry into it, and the mirror refused the peer's own log for good.
        Two creators at once: the first link wins, the other's file is dropped."""
        temp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.new")
        try:
            node = cls._connect(registry, temp, BUSY_WAIT)
            try:
                node._create(mirror)
            finally:
                node.conn.close()  # the last connection: SQLite folds the WAL into the file
            _link_unless_there(temp, path)
        except OSError as exc:
            raise NodeStorageError(f"{path}: cannot create the node's file ({exc})") from None
        finally:
            for suffix in ("", "-wal", "-shm"):
                temp.with_name(temp.name + suffix).unlink(missing_ok=True)

    def _create(self, mirror: bool) -> None:
        """Write the node's identity (and, for a node, its genesis entry) into a new file."""
        with self.writing():
            self.conn.execute(
                "INSERT INTO node (key, value) VALUES ('registry', ?)", (self.registry.value,)
            )
            if not mirror:
                self.append([(ev.NODE_CREATED, {"registry": self.registry.value})])

    @classmethod
    def open_readonly(cls, registry: RegistryId, path: Path) -> RegistryNode:
        """Open an existing node only to read it: never creates, upgrades or writes anything,
        so it works on a read-only disk or directory (then as `immutable`: nobody can be
        writing it) and cannot change the node by accident."""
        if not path.is_file():
            raise NodeStorageError(f"{path}: no such node database")
        writable = os.access(path.parent, os.W_OK) and os.access(path, os.W_OK)
        wal = path.with_name(path.name + "-wal")
        # `immutable` lets SQLite read without the -shm file it could not create here, but it
        # ignores the WAL: only when there is none (a node closed cleanly) is that the same.
        pending = wal.exists() and wal.stat().st_size > 0
        uri = f"{path.resolve().as_uri()}?mode=ro" + ("" if writable or pending else "&immutable=1")
        try:
            conn = sqlite3.connect(uri, uri=True, isolation_level=None)
            stored = conn.execute("SELECT value FROM node WHERE key = 'registry'").fetchone()
        except sqlite3.DatabaseError as exc:
            raise storage_error(path, exc) from None
        if stored is None or stored[0] != registry.value:
            conn.close()
            raise LogIntegrityError(f"{path} is not the node of {registry}")
        return cls(registry, conn, path, readonly=True)

    def close(self) -> None:
        self.conn.close()
        while self.on_close:
            self.on_close.pop()()

    def __enter__(self) -> RegistryNode:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _catch_up_tree(self) -> None:
        """Give entries written before the tree existed their leaves (a one-time upgrade)."""
        store = SqliteHashStore(self.conn)
        if store.size() >= self.head()[0]:
            return
        with collector_paused(), self.writing():
            # Read both sizes again under the write lock: another connection (a mirror being
            # ingested) may have committed entries and their leaves in between, and appending
            # those leaves twice would corrupt the tree.
            done, (size, _) = store.size(), self.head()
            if done < size:
                store.append_entries(done, (e.encoded() for e in self.entries(after=done)))

    @contextmanager
    def writing(self) -> Iterator[tuple[int, bytes]]:
        """The node's one writer: everything read, planned and appended inside is one
        transaction (all or nothing), taken before the first read so that the plan is made
        from the state it will be committed onto. Yields the log head at the start.

        Re-entrant: an inner `writing()` (an `append` inside a planned write) joins the outer
        transaction. Another process waits up to the node's `wait`, then gets NodeBusyError."""
        if self.readonly:
            raise NodeStorageError(f"{self.path}: opened read-only, cannot write the node")
        if self._depth:
            self._depth += 1
            try:
                yield self.head()
            finally:
                self._depth -= 1
            return
        self._begin()
        self._depth = 1
        try:
            yield self.head()
            self._depth = 0
            if not self.conn.in_transaction:  # an executescript inside committed half of it
                raise LogIntegrityError(f"{self.path}: a write's transaction ended inside it")
            self._commit()
        except BaseException:
            self._depth = 0
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            raise

    def _begin(self) -> None:
        try:
            self.conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                raise NodeBusyError(
                    f"the {self.registry} node ({self.path}) is being written by another "
                    f"process and stayed busy past the wait ({self._wait:.0f} s); nothing was "
                    "written, try again"
                ) from None
            raise storage_error(self.path, exc) from None

    def _commit(self) -> None:
        try:
            self.conn.execute("COMMIT")
        except sqlite3.OperationalError as exc:
            raise storage_error(self.path, exc) from None

    def tree(self) -> MerkleTree:
        """The Merkle tree over the log's encoded entries (RFC 9162 hashing)."""
        return MerkleTree(SqliteHashStore(self.conn))

    def _stored_registry(self) -> str | None:
        row = self.conn.execute("SELECT value FROM node WHERE key = 'registry'").fetchone()
        return None if row is None else str(row[0])

    # --- the log ----------------------------------------------------------------------------

    def head(self) -> tuple[int, bytes]:
        """(size of the log, hash of its last entry)."""
        row = self.conn.execute("SELECT seq, hash FROM log ORDER BY seq DESC LIMIT 1").fetchone()
        return (0, GENESIS_HASH) if row is None else (int(row[0]), bytes(row[1]))

    def append(
        self,
        items: list[ev.Item],
        batch: bool = False,
        planned: tuple[int, bytes] | None = None,
    ) -> list[LogEntry]:
        """Append entries and project them, all in one transaction (all or nothing).

        With `batch`, runs of same-kind items are packed into `batch` entries (bulk imports).
        `planned`: the log head the items were planned against; if the log has moved since,
        nothing is written (StalePlanError) rather than a plan applied to a state it was not
        made for. Inside `writing()` the append joins that transaction.
        """
        if not items:
            return []
        changes = len(items)
        encoded = pack(items) if batch else [(k, p, canonical_json(p)) for k, p in items]
        for kind, _, data in encoded:
            if len(data) > ev.MAX_PAYLOAD_BYTES:
                raise LogIntegrityError(f"a {kind} entry of {len(data)} bytes is too large")
        with collector_paused(), self.writing() as head:
            if planned is not None and head != planned:
                raise StalePlanError(
                    f"the {self.registry} log moved from {planned[0]} to {head[0]} entries "
                    "since this change was planned; nothing was written"
                )
            return self._append(changes, encoded)

    def _append(self, changes: int, encoded: list[Encoded]) -> list[LogEntry]:
        """Inside a transaction; a savepoint so that a failed append inside a larger write
        leaves nothing of itself behind even if the caller goes on."""
        self.conn.execute("SAVEPOINT append")
        try:
            size, last = self.head()
            pairs = chain_encoded(size + 1, last, utc_now(), [(k, data) for k, _, data in encoded])
            entries = [entry for entry, _ in pairs]
            self.conn.executemany(
                "INSERT INTO log (seq, time, kind, payload, prev_hash, hash) VALUES (?,?,?,?,?,?)",
                entries,
            )
            SqliteHashStore(self.conn).append_entries(size, (data for _, data in pairs))
            with projection.indexes_deferred(self.conn, changes):
                projection.apply(
                    self.conn,
                    ((e.seq, e.kind, p) for e, (_, p, _) in zip(entries, encoded, strict=True)),
                )
        except sqlite3.OperationalError as exc:
            self.conn.execute("ROLLBACK TO append")
            raise storage_error(self.path, exc) from None
        except BaseException:
            self.conn.execute("ROLLBACK TO append")
            raise
        self.conn.execute("RELEASE append")
        return entries

    def ingest(self, entries: list[LogEntry], expected_root: bytes | None = None) -> None:
        """Append entries written elsewhere (a mirror of another node's log), as they are.

        They must continue this log's chain exactly; each is projected like a local write, so a
        mirror's state is the replay of the log and nothing else.
        """
        if not entries:
            return
        with collector_paused(), self.writing() as (size, last):
            verify_chain(entries, last, size + 1)
            self.conn.executemany(
                "INSERT INTO log (seq, time, kind, payload, prev_hash, hash) VALUES (?,?,?,?,?,?)",
                [tuple(e) for e in entries],
            )
            SqliteHashStore(self.conn).append_entries(size, (e.encoded() for e in entries))
            with projection.indexes_deferred(self.conn, projection.BULK_THRESHOLD):
                projection.apply(self.conn, ((e.seq, e.kind, e.data()) for e in entries))
            if expected_root is not None and self.tree().root() != expected_root:
                raise LogIntegrityError(
                    f"{self.registry}: the entries do not hash to the checkpoint's root"
                )

    def entries(self, after: int = 0) -> Iterator[LogEntry]:
        rows = self.conn.execute(
            "SELECT seq, time, kind, payload, prev_hash, hash FROM log WHERE seq > ? ORDER BY seq",
            (after,),
        )
        for seq, time, kind, payload, prev, digest in rows:
            yield LogEntry(seq, time, kind, bytes(payload), bytes(prev), bytes(digest))

    def entries_of_kind(self, kind: str) -> list[LogEntry]:
        rows = self.conn.execute(
            "SELECT seq, time, kind, payload, prev_hash, hash FROM log WHERE kind = ? ORDER BY seq",
            (kind,),
        )
        return [LogEntry(s, t, k, bytes(p), bytes(h0), bytes(h)) for s, t, k, p, h0, h in rows]

    def verify_log(self) -> int:
        """Check the whole hash chain; returns the number of entries."""
        entries = list(self.entries())
        verify_chain(entries)
        return len(entries)

    def rebuild(self) -> int:
        """Drop every projection table and replay the log into fresh ones (one transaction)."""
        with collector_paused():
            return self._rebuild()

    def _rebuild(self) -> int:
        with self.writing():  # the log read is the log replayed: no append in between
            entries = list(self.entries())
            verify_chain(entries)
            for statement in (DROP_PROJECTION + PROJECTION_SCHEMA).split(";"):
                if statement.strip():
                    self.conn.execute(statement)
            with projection.indexes_deferred(self.conn, projection.BULK_THRESHOLD):
                projection.apply(self.conn, ((e.seq, e.kind, e.data()) for e in entries))
        return len(entries)

    def state_digest(self) -> str:
        """SHA-256 over every projection row in key order: equal digests, identical state."""
        digest = hashlib.sha256()
        for table in PROJECTION_TABLES:
            digest.update(table.encode())
            for row in self._rows(table):
                digest.update(row)
        return digest.hexdigest()

    def table_digests(self) -> dict[str, str]:
        """The same, one digest per projection table: which tables differ, not only whether."""
        out = {}
        for table in PROJECTION_TABLES:
            digest = hashlib.sha256()
            for row in self._rows(table):
                digest.update(row)
            out[table] = digest.hexdigest()
        return out

    def _rows(self, table: str) -> Iterator[bytes]:
        if not self.has_table(table):
            return
        width = len(self.conn.execute(f"SELECT * FROM {table} LIMIT 0").description)
        order = ", ".join(str(i) for i in range(1, width + 1))  # every column: a total order
        for row in self.conn.execute(f"SELECT * FROM {table} ORDER BY {order}"):
            yield orjson.dumps([r.hex() if isinstance(r, bytes) else r for r in row])

    # --- queries ----------------------------------------------------------------------------

    def _delegation(self, row: tuple[Any, ...]) -> Delegation:
        afi = Afi(row[0])
        attrs = orjson.loads(row[11]) if row[11] else None
        return Delegation(
            self.registry,
            Resource(afi, unkey(row[1]), unkey(row[2])),
            row[3],
            row[4],
            row[5],
            row[6],
            row[7],
            row[8],
            row[9],
            row[10],
            attrs,
            row[12],
        )

    def overlapping(self, resource: Resource) -> list[Delegation]:
        """Delegations that share at least one number with `resource` (index range scan)."""
        lo, hi = key(resource.start), key(resource.end)
        sql = f"SELECT {_DELEGATION_COLUMNS} FROM delegations WHERE afi = ? AND start "
        before = self.conn.execute(
            sql + "<= ? ORDER BY start DESC LIMIT 1", (resource.afi.value, lo)
        ).fetchone()
        rows = [before] if before is not None and before[2] >= lo else []
        rows += self.conn.execute(
            sql + "> ? AND start <= ? ORDER BY start", (resource.afi.value, lo, hi)
        ).fetchall()
        return [self._delegation(r) for r in rows]

    def containing(self, resource: Resource) -> Delegation | None:
        """The delegation holding all of `resource`, if any: one index probe, since a node's
        records never overlap (the one starting last at or before it is the only candidate)."""
        lo, hi = key(resource.start), key(resource.end)
        row = self.conn.execute(
            f"SELECT {_DELEGATION_COLUMNS} FROM delegations WHERE afi = ? AND start <= ? "
            "ORDER BY start DESC LIMIT 1",
            (resource.afi.value, lo),
        ).fetchone()
        return self._delegation(row) if row is not None and row[2] >= hi else None

    def starting_within(self, resource: Resource) -> Iterator[Delegation]:
        """Delegations that start inside `resource`, in order, read lazily: a caller that
        stops after a few rows (a capped search) never makes SQLite read the rest."""
        lo, hi = key(resource.start), key(resource.end)
        rows = self.conn.execute(
            f"SELECT {_DELEGATION_COLUMNS} FROM delegations WHERE afi = ? AND start >= ? "
            "AND start <= ? ORDER BY start",
            (resource.afi.value, lo, hi),
        )
        for row in rows:
            yield self._delegation(row)

    def within(self, resource: Resource, limit: int) -> list[Delegation]:
        """The first `limit` delegations lying wholly inside `resource`, in order.

        One index range scan that stops after `limit` rows: records never overlap, so at most
        one row in the range (the last) sticks out past its end."""
        lo, hi = key(resource.start), key(resource.end)
        rows = self.conn.execute(
            f"SELECT {_DELEGATION_COLUMNS} FROM delegations WHERE afi = ? AND start >= ? "
            "AND start <= ? AND end <= ? ORDER BY start LIMIT ?",
            (resource.afi.value, lo, hi, hi, limit),
        )
        return [self._delegation(r) for r in rows]

    def delegations(self, afi: Afi | None = None) -> Iterator[Delegation]:
        sql = f"SELECT {_DELEGATION_COLUMNS} FROM delegations"
        rows = (
            self.conn.execute(sql + " ORDER BY afi, start")
            if afi is None
            else self.conn.execute(sql + " WHERE afi = ? ORDER BY start", (afi.value,))
        )
        for row in rows:
            yield self._delegation(row)

    def holder(self, handle: str) -> dict[str, Any] | None:
        row = self.conn.execute(
            "SELECT handle, name, cc, seq FROM holders WHERE handle = ?", (handle,)
        ).fetchone()
        if row is None:
            return None
        return {"handle": row[0], "name": row[1], "cc": row[2], "seq": row[3]}

    def holder_handles(self, asked: str) -> list[str]:
        """The stored handles `asked` names, in any case. RIR handles are case-insensitive and
        clients change their case (whoisit upper-cases them), while each registry writes its
        own in one case (RIPE NCC's and ARIN's lower, APNIC's and AFRINIC's upper): so the
        exact, lower- and upper-case spellings are tried first (primary-key probes), then the
        case-blind index (`holders_nocase`), which returns every match (at most three: enough
        to tell one from several)."""
        for spelling in dict.fromkeys((asked, asked.lower(), asked.upper())):
            if self.holder(spelling) is not None:
                return [spelling]
        rows = self.conn.execute(
            "SELECT handle FROM holders WHERE handle = ? COLLATE NOCASE ORDER BY handle LIMIT 3",
            (asked,),
        )
        return [str(row[0]) for row in rows]

    def holder_resources(self, handle: str, limit: int | None = None) -> list[Delegation]:
        """The holder's delegations in order; the first `limit` only, when given."""
        sql = f"SELECT {_DELEGATION_COLUMNS} FROM delegations WHERE holder = ? ORDER BY afi, start"
        rows = self.conn.execute(sql + " LIMIT ?", (handle, -1 if limit is None else limit))
        return [self._delegation(r) for r in rows]

    def holds_any(self, handle: str) -> bool:
        return (
            self.conn.execute(
                "SELECT 1 FROM delegations WHERE holder = ? LIMIT 1", (handle,)
            ).fetchone()
            is not None
        )

    def has_table(self, name: str) -> bool:
        """Whether the file has this table (a read-only open creates none)."""
        row = self.conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)
        ).fetchone()
        return row is not None

    def source(self, slot: str) -> dict[str, Any] | None:
        row = self.conn.execute("SELECT meta FROM sources WHERE name = ?", (slot,)).fetchone()
        return None if row is None else dict(orjson.loads(row[0]))

    def count(self, table: str) -> int:
        if table not in (*PROJECTION_TABLES, "log"):
            raise ValueError(table)
        return int(self.conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])

    # --- single writes ----------------------------------------------------------------------

    def check_free(self, resource: Resource, label: str) -> None:
        """Refuse a new record that would overlap one the node already has, naming both."""
        clash = self.overlapping(resource)
        if clash:
            raise OverlapError(label, clash[0].describe())

    def add_delegation(self, payload: ev.Payload) -> LogEntry:
        """Add one delegation (payload in the `delegation.added` form) after the overlap check."""
        afi = Afi(payload["afi"])
        resource = Resource.from_delegated(afi, payload["start"], payload["value"])
        with self.writing():  # checked against the state it is added to
            self.check_free(
                resource,
                f"new {self.registry} record {resource} "
                f"({format_number(afi, resource.start)}|{payload['value']})",
            )
            return self.append([(ev.DELEGATION_ADDED, payload)])[0]


def _link_unless_there(made: Path, path: Path) -> None:
    """Put a finished file at `path` unless one is there already (another creator won)."""
    try:
        os.link(made, path)
    except FileExistsError:
        pass
    except OSError:  # a file system without hard links: a rename, checked first
        if not path.exists():
            os.rename(made, path)


def storage_error(path: Path, exc: sqlite3.Error) -> NodeStorageError:
    """SQLite's terse message made into one line naming the file and what to do."""
    text = str(exc)
    if "full" in text:
        hint = "the disk is full; free space and run the command again (nothing was written)"
    elif "readonly" in text or "read-only" in text:
        hint = "the file or its directory is read-only; this command needs to write it"
    elif "unable to open" in text:
        hint = "cannot open it (missing directory, permissions or a read-only disk)"
    else:
        hint = text
    return NodeStorageError(f"{path}: {hint} ({text})")


def one_write(
    func: Callable[Concatenate[RegistryNode, P], R],
) -> Callable[Concatenate[RegistryNode, P], R]:
    """Run a write step (checks, plan and append) as one `writing()` transaction on the node
    it is given first, so what it checked is still true when it commits."""

    @functools.wraps(func)
    def step(node: RegistryNode, /, *args: P.args, **kwargs: P.kwargs) -> R:
        with node.writing():
            return func(node, *args, **kwargs)

    return step
