"""Checking a node's own database from top to bottom, reporting every problem found.

`RegistryNode.verify_log` stops at the first broken link, which is right for code that must
refuse a log; an operator asking "is this node intact?" needs the whole answer instead: every
entry whose stored hash does not match its content, every broken link, the Merkle tree against
the entries, the log against every checkpoint the node signed (a shorter log is a rollback, a
different root a rewrite, even when the chain was rewritten consistently and the tree dropped),
and the projection tables against a fresh replay of the log. Every message names the node.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from onereg.core.errors import OneregError
from onereg.ledger.checkpoint import Checkpoint, open_checkpoint
from onereg.ledger.entry import GENESIS_HASH, LogEntry, make_entry
from onereg.ledger.merkle import (
    EMPTY_ROOT,
    MemoryHashStore,
    MerkleTree,
    _fold,
    leaf_hash,
    node_hash,
)
from onereg.ledger.note import Verifier
from onereg.registry import events as ev
from onereg.registry import projection
from onereg.registry.identity import origin_of
from onereg.registry.node import RegistryNode
from onereg.registry.schema import PROJECTION_SCHEMA
from onereg.registry.treestore import SqliteHashStore

SHOWN = 20  # problems of one kind listed before "and N more"


@dataclass(slots=True)
class NodeReport:
    """What `verify_node` found; `problems` is empty when the node is intact."""

    name: str  # "<registry> node (<path>)"
    entries: int = 0
    checkpoint: int | None = None  # size of the newest signed checkpoint compared
    problems: list[str] = field(default_factory=list)
    replayed: bool = False

    @property
    def ok(self) -> bool:
        return not self.problems

    def add(self, problems: list[str], what: str) -> None:
        """Every problem with the node's name; beyond SHOWN of one kind, a count."""
        shown = problems[:SHOWN]
        self.problems += [f"{self.name}: {p}" for p in shown]
        if len(problems) > SHOWN:
            self.problems.append(f"{self.name}: and {len(problems) - SHOWN} more {what}")


def verify_node(
    node: RegistryNode, log_key: Verifier | None = None, replay: bool = True
) -> NodeReport:
    """Check everything and report all problems; `log_key`: the node's own log key (from its
    key file), trusted beside the keys its log names. `replay=False` skips the projection
    check (the audit, which reads only the log's integrity, not a rebuild's worth of work)."""
    return verify_node_state(node, log_key, replay)[0]


@dataclass(frozen=True, slots=True)
class Verified:
    """What a check found intact, to resume from when the log has only grown since: its size
    and head, the perfect subtrees its Merkle tree ends with (left to right; their fold is the
    root), the log keys its entries named, and the signed checkpoints it checked (size, SHA-256
    of the note)."""

    size: int
    head: bytes
    border: tuple[bytes, ...]
    vkeys: tuple[str, ...]
    checkpoints: tuple[tuple[int, str], ...]

    def root(self) -> bytes:
        return _fold(self.border) if self.border else EMPTY_ROOT


def verify_node_state(
    node: RegistryNode, log_key: Verifier | None = None, replay: bool = True
) -> tuple[NodeReport, Verified | None]:
    """`verify_node`, and what it verified when the node is intact."""
    report = NodeReport(f"{node.registry} node ({node.path})")
    entries = list(node.entries())
    report.entries = len(entries)
    report.add(chain_problems(entries), "broken entries")
    leaves = MemoryHashStore(leaf_hash(e.encoded()) for e in entries)
    report.add(tree_problems(node, leaves), "tree problems")
    report.add(checkpoint_problems(node, entries, leaves, log_key, report), "checkpoint problems")
    if replay:
        report.add(projection_problems(node, entries), "projection problems")
        report.replayed = True
    if not report.ok:
        return report, None
    border = _border(leaves.get, len(entries))
    head = entries[-1].hash if entries else GENESIS_HASH
    return report, Verified(
        len(entries), head, tuple(border), tuple(logged_vkeys(entries)), _checkpoint_ids(node)
    )


def verify_since(
    node: RegistryNode, since: Verified, log_key: Verifier | None = None
) -> tuple[NodeReport, Verified] | None:
    """The audit's check of a node that has grown since `since` (no replay): every new entry
    (hash, link, number), the links of all entries (a rewritten chain), the stored tree
    against the verified prefix plus the new leaves, and every checkpoint not checked before.
    What is below the prefix was hashed when it was verified and is pinned by its head and
    root; a payload changed there without its stored hash is `verify_node`'s to find.
    None when this cannot resume (the prefix's head is gone, a new checkpoint within the
    prefix, no tree): the caller checks in full."""
    report = NodeReport(f"{node.registry} node ({node.path})")
    if since.size and _stored_hash(node, since.size) != since.head:
        return None
    if not node.has_table("tree"):
        return None
    rows = node.conn.execute("SELECT seq, prev_hash, hash FROM log ORDER BY seq").fetchall()
    report.entries = len(rows)
    report.add(_link_problems(rows), "broken links")
    entries = list(node.entries(after=since.size))
    report.add(chain_problems(entries, since.size + 1, since.head), "broken entries")
    wanted = {int(size) for size, _ in _checkpoint_rows(node)}
    stack, roots = list(since.border), {since.size: since.root()}
    for count, entry in enumerate(entries, start=since.size + 1):
        _push(stack, leaf_hash(entry.encoded()), count)
        if count in wanted:
            roots[count] = _fold(stack)
    size = since.size + len(entries)
    root = _fold(stack) if stack else EMPTY_ROOT
    stored = MerkleTree(SqliteHashStore(node.conn))
    if stored.size() != size:
        report.add([f"the Merkle tree has {stored.size():,} leaves, the log {size:,} entries"], "")
    elif size and stored.root() != root:
        report.add(["the stored Merkle tree does not match the entries"], "tree problems")
    vkeys = (*since.vkeys, *logged_vkeys(entries))
    checked = set(since.checkpoints)
    for stored_size, note in _checkpoint_rows(node):
        ident = (int(stored_size), hashlib.sha256(note.encode()).hexdigest())
        if ident in checked:
            report.checkpoint = max(report.checkpoint or 0, ident[0])
            continue
        if ident[0] <= since.size:
            return None  # a checkpoint within the prefix not seen before: check in full
        report.add(_one_checkpoint(node, ident[0], note, vkeys, log_key, size, roots, report), "")
    if not report.ok:
        return report, since
    head = entries[-1].hash if entries else since.head
    return report, Verified(size, head, tuple(stack), vkeys, _checkpoint_ids(node))


def _one_checkpoint(
    node: RegistryNode,
    stored_size: int,
    note: str,
    vkeys: tuple[str, ...],
    own: Verifier | None,
    size: int,
    roots: dict[int, bytes],
    report: NodeReport,
) -> list[str]:
    keys = [own] if own is not None else []
    keys += _verifiers(vkeys)
    try:
        cp = open_checkpoint(note, keys, origin=origin_of(node.registry))
    except OneregError as exc:
        return [f"signed checkpoint at size {stored_size}: {exc}"]
    report.checkpoint = max(report.checkpoint or 0, cp.size)
    if cp.size != stored_size:
        return [f"the checkpoint stored at size {stored_size} is for size {cp.size}"]
    if cp.size > size:
        return [
            f"rollback: the node signed a checkpoint at size {cp.size:,} but its log has only "
            f"{size:,} entries"
        ]
    if cp.size and roots.get(cp.size) != cp.root:
        return [
            f"the log's first {cp.size:,} entries do not hash to the root the node signed at "
            "that size: the log was rewritten"
        ]
    return []


def _stored_hash(node: RegistryNode, seq: int) -> bytes | None:
    row = node.conn.execute("SELECT hash FROM log WHERE seq = ?", (seq,)).fetchone()
    return None if row is None else bytes(row[0])


def _link_problems(rows: list[tuple[int, bytes, bytes]]) -> list[str]:
    """Numbers and links of every entry from the stored hashes alone (no payload read)."""
    problems = []
    prev = GENESIS_HASH
    for expected, (seq, prev_hash, digest) in enumerate(rows, start=1):
        if seq != expected:
            problems.append(f"log entry {seq}: expected entry {expected} here (a gap)")
        if bytes(prev_hash) != prev:
            problems.append(f"log entry {seq}: does not link to the entry before it")
        prev = bytes(digest)
    return problems


def _checkpoint_rows(node: RegistryNode) -> list[tuple[int, str]]:
    if not node.has_table("checkpoints"):
        return []
    return node.conn.execute("SELECT size, note FROM checkpoints ORDER BY size").fetchall()


def _checkpoint_ids(node: RegistryNode) -> tuple[tuple[int, str], ...]:
    return tuple(
        (int(size), hashlib.sha256(note.encode()).hexdigest())
        for size, note in _checkpoint_rows(node)
    )


def _push(stack: list[bytes], leaf: bytes, count: int) -> None:
    """Add the count-th leaf to the perfect subtrees of the first count - 1 (as
    `merkle.root_from_leaves` does): every trailing zero bit of count merges a pair."""
    stack.append(leaf)
    while count & 1 == 0:
        right = stack.pop()
        stack[-1] = node_hash(stack[-1], right)
        count >>= 1


def _border(get: Callable[[int, int], bytes], size: int) -> list[bytes]:
    """The perfect subtrees of a tree of `size` leaves, largest first."""
    out, start = [], 0
    for level in reversed(range(size.bit_length())):
        if size >> level & 1:
            out.append(get(level, start >> level))
            start += 1 << level
    return out


def chain_problems(
    entries: list[LogEntry], first: int = 1, prev: bytes = GENESIS_HASH
) -> list[str]:
    """Every entry whose hash, link or number is wrong (a changed entry is reported once: the
    next one is checked against the hash stored before it, not against the recomputed one).
    `first`, `prev`: where the entries start, and the hash they link to."""
    problems = []
    for expected, e in enumerate(entries, start=first):
        if e.seq != expected:
            problems.append(f"log entry {e.seq}: expected entry {expected} here (a gap)")
        if e.prev_hash != prev:
            problems.append(f"log entry {e.seq}: does not link to the entry before it")
        if make_entry(e.seq, e.time, e.kind, e.payload, e.prev_hash).hash != e.hash:
            problems.append(f"log entry {e.seq}: stored hash does not match content")
        prev = e.hash
    return problems


def tree_problems(node: RegistryNode, leaves: MemoryHashStore) -> list[str]:
    """The stored Merkle tree must be the tree of the stored entries."""
    if not node.has_table("tree"):
        return ["the Merkle tree table is missing"]
    stored = MerkleTree(SqliteHashStore(node.conn))
    size = leaves.size()
    if stored.size() != size:
        return [f"the Merkle tree has {stored.size():,} leaves, the log {size:,} entries"]
    if size and stored.root() != MerkleTree(leaves).root():
        return ["the stored Merkle tree does not match the entries"]
    return []


def log_keys(entries: Iterable[LogEntry], own: Verifier | None) -> list[Verifier]:
    """The node's log keys: its own key file's and every key its log published or rotated to
    (older checkpoints are signed by keys rotated away since)."""
    keys = [own] if own is not None else []
    return keys + _verifiers(logged_vkeys(entries))


def logged_vkeys(entries: Iterable[LogEntry]) -> list[str]:
    """Every key the entries publish or rotate to or from, as vkey text."""
    out = []
    for e in entries:
        if e.kind in (ev.KEY_PUBLISHED, ev.KEY_ROTATED):
            data = e.data()
            out += [str(data.get("vkey")), str(data.get("previous"))]
    return out


def _verifiers(vkeys: Iterable[str]) -> list[Verifier]:
    keys = []
    for vkey in vkeys:
        try:
            keys.append(Verifier.from_vkey(vkey))
        except (OneregError, ValueError):
            continue  # a damaged key entry: its hash check already reports it
    return keys


def checkpoint_problems(
    node: RegistryNode,
    entries: list[LogEntry],
    leaves: MemoryHashStore,
    own: Verifier | None,
    report: NodeReport,
) -> list[str]:
    """The log against every checkpoint the node signed: each must be signed by a log key
    and the log must still have its size and root there."""
    if not node.has_table("checkpoints"):
        return []
    rows = node.conn.execute("SELECT size, note FROM checkpoints ORDER BY size").fetchall()
    keys, tree, size = log_keys(entries, own), MerkleTree(leaves), len(entries)
    problems = []
    for stored_size, note in rows:
        try:
            cp = open_checkpoint(note, keys, origin=origin_of(node.registry))
        except OneregError as exc:
            problems.append(f"signed checkpoint at size {stored_size}: {exc}")
            continue
        report.checkpoint = cp.size
        problems += _against_log(cp, int(stored_size), size, tree)
    return problems


def _against_log(cp: Checkpoint, stored_size: int, size: int, tree: MerkleTree) -> list[str]:
    if cp.size != stored_size:
        return [f"the checkpoint stored at size {stored_size} is for size {cp.size}"]
    if cp.size > size:
        return [
            f"rollback: the node signed a checkpoint at size {cp.size:,} but its log has only "
            f"{size:,} entries"
        ]
    if cp.size and tree.root(cp.size) != cp.root:
        return [
            f"the log's first {cp.size:,} entries do not hash to the root the node signed at "
            "that size: the log was rewritten"
        ]
    return []


def projection_problems(node: RegistryNode, entries: list[LogEntry]) -> list[str]:
    """Replay the log into a scratch database and compare every projection table."""
    scratch = sqlite3.connect(":memory:", isolation_level=None)
    try:
        scratch.executescript(PROJECTION_SCHEMA)
        try:
            with projection.indexes_deferred(scratch, len(entries)):
                projection.apply(scratch, ((e.seq, e.kind, e.data()) for e in entries))
        except Exception as exc:  # a tampered payload may not even replay: say so, go on
            return [f"the log does not replay: {type(exc).__name__}: {exc}"]
        replayed = RegistryNode(node.registry, scratch, node.path, readonly=True)
        live, fresh = node.table_digests(), replayed.table_digests()
    finally:
        scratch.close()
    return [
        f"table {table} differs from the replay of the log"
        for table in live
        if live[table] != fresh.get(table)
    ]
