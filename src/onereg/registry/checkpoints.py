"""Signed checkpoints of a node's log, committing to the log and to the node's current state.

A checkpoint's body is a C2SP tlog-checkpoint (origin, size, root of the log's Merkle tree) with
one extension line, `onereg-state <count> <base64 root>`: the root of the state tree over the
node's delegations at that size, so that a holder can prove current holding against a signed,
witnessed checkpoint. The node refuses to sign a checkpoint that is not an extension of the last
one it signed.
"""

from __future__ import annotations

import base64
import sqlite3
from collections.abc import Iterable
from pathlib import Path

from onereg.core.errors import LogIntegrityError
from onereg.ledger.checkpoint import Checkpoint, sign_checkpoint
from onereg.ledger.entry import LogEntry
from onereg.ledger.note import Signature, Signer, format_note, parse_note
from onereg.ledger.statetree import StateLeaf, StateTree
from onereg.registry import events as ev
from onereg.registry import identity, projection
from onereg.registry.node import RegistryNode
from onereg.registry.schema import unkey

STATE_EXTENSION = "onereg-state"

CHECKPOINT_SCHEMA = """
CREATE TABLE IF NOT EXISTS checkpoints (
    size INTEGER PRIMARY KEY,
    note TEXT NOT NULL
);
"""


def state_leaves(conn: sqlite3.Connection) -> list[StateLeaf]:
    """The state tree's leaves, read from the projection in (afi, start) order."""
    rows = conn.execute("SELECT afi, start, end, holder, status FROM delegations")
    return [StateLeaf(a, unkey(s), unkey(e), h or "", st) for a, s, e, h, st in rows]


class StateCache:
    """The state tree of each node this process has signed for, kept up to date by replaying
    the log entries since, so a checkpoint after one change costs one treap update, not a
    rebuild of the whole state."""

    def __init__(self) -> None:
        self._trees: dict[str, tuple[int, StateTree]] = {}

    def tree(self, node: RegistryNode) -> StateTree:
        size = node.head()[0]
        cached = self._trees.get(str(node.path))
        if cached is None or cached[0] > size:
            tree = StateTree(state_leaves(node.conn))
        else:
            tree = cached[1]
            _apply(tree, node.entries(after=cached[0]))
        self._trees[str(node.path)] = (size, tree)
        return tree


def _apply(tree: StateTree, entries: Iterable[LogEntry]) -> None:
    changes = projection.expand((e.seq, e.kind, e.data()) for e in entries)
    for _, kind, p in changes:
        if kind == ev.DELEGATION_REMOVED:
            tree.delete(p["afi"], projection.payload_range(p)[0])
        elif kind in (ev.DELEGATION_ADDED, ev.DELEGATION_CHANGED):
            start, end = projection.payload_range(p)
            leaf = StateLeaf(p["afi"], start, end, p["holder"] or "", p["status"])
            if kind == ev.DELEGATION_ADDED:
                tree.insert(leaf)
            else:
                tree.replace(leaf)


STATE_CACHE = StateCache()


def state_extension(tree: StateTree) -> str:
    return f"{STATE_EXTENSION} {len(tree)} {base64.b64encode(tree.root()).decode()}"


def parse_state_extension(checkpoint: Checkpoint) -> tuple[int, bytes]:
    """(leaf count, state root) of a onereg checkpoint."""
    for line in checkpoint.extensions:
        name, _, rest = line.partition(" ")
        if name == STATE_EXTENSION:
            count, _, root = rest.partition(" ")
            return int(count), base64.b64decode(root, validate=True)
    raise LogIntegrityError(
        f"checkpoint of {checkpoint.origin} at {checkpoint.size} has no {STATE_EXTENSION} line"
    )


class Checkpointer:
    """Signs and stores the checkpoints of one node."""

    def __init__(self, node: RegistryNode, signer: Signer) -> None:
        self.node = node
        self.signer = signer
        # one statement, not executescript: that would COMMIT a write the caller has open
        node.conn.execute(CHECKPOINT_SCHEMA)

    @property
    def origin(self) -> str:
        return self.signer.name

    def latest(self) -> str | None:
        row = self.node.conn.execute(
            "SELECT note FROM checkpoints ORDER BY size DESC LIMIT 1"
        ).fetchone()
        return None if row is None else str(row[0])

    def at(self, size: int) -> str | None:
        row = self.node.conn.execute(
            "SELECT note FROM checkpoints WHERE size = ?", (size,)
        ).fetchone()
        return None if row is None else str(row[0])

    def ensure_key_published(self) -> None:
        """The first key goes into the log before the first checkpoint that it signs."""
        vkey = self.signer.verifier().vkey()
        with self.node.writing():
            if self.node.conn.execute("SELECT 1 FROM node_keys LIMIT 1").fetchone() is None:
                self.node.append([(ev.KEY_PUBLISHED, {"vkey": vkey})])

    def current_key(self) -> str | None:
        row = self.node.conn.execute(
            "SELECT vkey FROM node_keys ORDER BY seq DESC LIMIT 1"
        ).fetchone()
        return None if row is None else str(row[0])

    def sign(self, also: Iterable[Signer] = ()) -> str:
        """Sign a checkpoint of the log as it is now (or return the one already signed, with
        this signer's signature added when it is the log's current key and lacks it).

        `also`: further signers of a new checkpoint (a rotation's new key)."""
        with self.node.writing():  # the size signed is the size checked and stored
            return self._sign(also)

    def _sign(self, also: Iterable[Signer]) -> str:
        self.ensure_key_published()
        size, _ = self.node.head()
        existing = self.at(size)
        if existing is not None:
            return self._countersigned(size, existing)
        tree = self.node.tree()
        self._check_extends_last(size)
        state = STATE_CACHE.tree(self.node)
        checkpoint = Checkpoint(self.origin, size, tree.root(size), (state_extension(state),))
        note = sign_checkpoint(checkpoint, [self.signer, *also])
        self.node.conn.execute("INSERT INTO checkpoints (size, note) VALUES (?, ?)", (size, note))
        return note

    def _countersigned(self, size: int, note: str) -> str:
        """`note` signed by this signer too, if it is the log's key in use and has not signed.

        A checkpoint signed before a rotation (by the retired key only) would otherwise stay
        the latest until the log grows, and witnesses that know only the new key refuse it."""
        text, signatures = parse_note(note)
        me = self.signer.verifier()
        if any((s.name, s.key_id) == (me.name, me.key_id) for s in signatures):
            return note
        if self.current_key() != me.vkey():
            return note
        mine = Signature(me.name, me.key_id, self.signer.sign(text.encode("utf-8")))
        logs = sum(1 for s in signatures if s.name == self.origin)  # the log's, then witnesses'
        signed = format_note(text, [*signatures[:logs], mine, *signatures[logs:]])
        self.node.conn.execute("UPDATE checkpoints SET note = ? WHERE size = ?", (signed, size))
        return signed

    def _check_extends_last(self, size: int) -> None:
        last = self.latest()
        if last is None:
            return
        prior = Checkpoint.parse(parse_note(last)[0])  # our own note, maybe under an older key
        if prior.size > size or self.node.tree().root(prior.size) != prior.root:
            raise LogIntegrityError(
                f"{self.origin}: refusing to sign size {size}: it is not an extension of the "
                f"checkpoint already signed at size {prior.size}"
            )

    def add_cosignatures(self, size: int, note: str) -> None:
        """Store the note with the witnesses' cosignature lines merged in."""
        self.node.conn.execute("UPDATE checkpoints SET note = ? WHERE size = ?", (note, size))


def rotate_key_of(node: RegistryNode, key_file: Path) -> tuple[str, str]:
    """Rotate the node's key: log the rotation, sign that under the old key, then switch.

    Verifiers follow the chain in the log (each `key.rotated` names the key it replaces), so a
    policy that lists the first key keeps working; one that lists only the new key (a
    federation file described again) accepts the rotation's checkpoint too, which both keys
    sign. Returns (old, new) verifier key names.
    """
    origin = identity.origin_of(node.registry)
    old, new = identity.rotate_signer(key_file, origin)
    with node.writing():  # the rotation and the checkpoint that seals it commit together
        checkpointer = Checkpointer(node, old)
        checkpointer.ensure_key_published()
        node.append(
            [(ev.KEY_ROTATED, {"vkey": new.verifier().vkey(), "previous": old.verifier().vkey()})]
        )
        # The checkpoint that commits the rotation is signed by both keys: the old one vouches
        # for the rotation, and the new one is in use at once, so witnesses and verifiers that
        # know either key accept the very next checkpoint (no entry needs to follow).
        checkpointer.sign(also=[new])
    identity.commit_rotation(key_file)  # only once the log says so
    return old.verifier().key, new.verifier().key
