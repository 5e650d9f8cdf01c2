"""Checking a node's own database from top to bottom, reporting every problem found.

`RegistryNode.verify_log` stops at the first broken link, which is right for code that must
refuse a log; an operator asking "is this node intact?" needs the whole answer instead: every
entry whose stored hash does not match its content, every broken link, the Merkle tree against
the entries, the log against every checkpoint the node signed (a shorter log is a rollback, a
different root a rewrite, even when the chain was rewritten consistently and the tree dropped),
and the projection tables against a fresh replay of the log. Every message names the node.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable

from onereg.core.errors import OneregError
from onereg.ledger.checkpoint import open_checkpoint
from onereg.ledger.entry import GENESIS_HASH, LogEntry
from onereg.ledger.merkle import (
    MemoryHashStore,
    MerkleTree,
    leaf_hash,
)
from onereg.ledger.note import Verifier
from onereg.registry import projection
from onereg.registry.identity import origin_of
from onereg.registry.node import RegistryNode
from onereg.registry.resume import (
    NodeReport,
    Verified,
    _border,
    _checkpoint_ids,
    _verifiers,
    against_log,
    chain_problems,
    logged_vkeys,
)
from onereg.registry.schema import PROJECTION_SCHEMA
from onereg.registry.treestore import SqliteHashStore


def verify_node(
    node: RegistryNode, log_key: Verifier | None = None, replay: bool = True
) -> NodeReport:
    """Check everything and report all problems; `log_key`: the node's own log key (from its
    key file), trusted beside the keys its log names. `replay=False` skips the projection
    check (the audit, which reads only the log's integrity, not a rebuild's worth of work)."""
    return verify_node_state(node, log_key, replay)[0]


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
        problems += against_log(cp.size, cp.root, int(stored_size), size, tree.root)
    return problems


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
