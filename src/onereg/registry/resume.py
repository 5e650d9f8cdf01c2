"""Verifying a node from where its last check left it: the audit's check of a node that has
only grown since (`verify_since`), and the state a check leaves to resume from (`Verified`).

Apart from `registry.verify` so that an audit after a change loads no signature code (the
`cryptography` bindings) unless a new checkpoint is to be checked: that import costs more
than checking a few new entries.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from onereg.core.errors import OneregError
from onereg.ledger.entry import GENESIS_HASH, LogEntry, make_entry
from onereg.ledger.merkle import EMPTY_ROOT, MerkleTree, _fold, leaf_hash, node_hash
from onereg.registry import events as ev
from onereg.registry.node import RegistryNode
from onereg.registry.treestore import SqliteHashStore

if TYPE_CHECKING:
    from onereg.ledger.note import Verifier

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


def verify_since(
    node: RegistryNode, since: Verified, log_key: Callable[[], Verifier | None] = lambda: None
) -> tuple[NodeReport, Verified] | None:
    """The audit's check of a node that has grown since `since` (no replay): every new entry
    (hash, link, number), the links of all entries (a rewritten chain), the stored tree
    against the verified prefix plus the new leaves, and every checkpoint not checked before.
    What is below the prefix was hashed when it was verified and is pinned by its head and
    root; a payload changed there without its stored hash is `verify_node`'s to find.
    None when this cannot resume (the prefix's head is gone, a new checkpoint within the
    prefix, no tree): the caller checks in full. `log_key`: the node's own log key, loaded only
    when a new checkpoint is to be checked."""
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
    own: Callable[[], Verifier | None],
    size: int,
    roots: dict[int, bytes],
    report: NodeReport,
) -> list[str]:
    from onereg.ledger.checkpoint import open_checkpoint
    from onereg.registry.identity import origin_of

    key = own()
    keys = [key] if key is not None else []
    keys += _verifiers(vkeys)
    try:
        cp = open_checkpoint(note, keys, origin=origin_of(node.registry))
    except OneregError as exc:
        return [f"signed checkpoint at size {stored_size}: {exc}"]
    report.checkpoint = max(report.checkpoint or 0, cp.size)
    return against_log(cp.size, cp.root, stored_size, size, roots.get)


def against_log(
    signed_size: int,
    signed_root: bytes,
    stored_size: int,
    size: int,
    root_at: Callable[[int], bytes | None],
) -> list[str]:
    """What is wrong between a checkpoint the node signed (stored at `stored_size`) and its log
    of `size` entries, whose root at a size `root_at` gives: a mislabelled checkpoint, a
    rollback (the log shorter than what it signed), or a rewritten log."""
    if signed_size != stored_size:
        return [f"the checkpoint stored at size {stored_size} is for size {signed_size}"]
    if signed_size > size:
        return [
            f"rollback: the node signed a checkpoint at size {signed_size:,} but its log has "
            f"only {size:,} entries"
        ]
    if signed_size and root_at(signed_size) != signed_root:
        return [
            f"the log's first {signed_size:,} entries do not hash to the root the node signed "
            "at that size: the log was rewritten"
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


def logged_vkeys(entries: Iterable[LogEntry]) -> list[str]:
    """Every key the entries publish or rotate to or from, as vkey text."""
    out = []
    for e in entries:
        if e.kind in (ev.KEY_PUBLISHED, ev.KEY_ROTATED):
            data = e.data()
            out += [str(data.get("vkey")), str(data.get("previous"))]
    return out


def _verifiers(vkeys: Iterable[str]) -> list[Verifier]:
    from onereg.ledger.note import Verifier

    keys = []
    for vkey in vkeys:
        try:
            keys.append(Verifier.from_vkey(vkey))
        except (OneregError, ValueError):
            continue  # a damaged key entry: its hash check already reports it
    return keys
