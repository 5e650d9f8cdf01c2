"""A node's keys and signed checkpoints: what it signs, and what it refuses to sign."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest

from onereg.core.errors import LogIntegrityError
from onereg.core.registries import RegistryId
from onereg.federation.publish import cosignature_count
from onereg.ledger.checkpoint import Checkpoint, open_checkpoint
from onereg.ledger.note import Signer, parse_note, sign_note
from onereg.ledger.statetree import StateTree
from onereg.registry.checkpoints import (
    Checkpointer,
    parse_state_extension,
    rotate_key_of,
    state_leaves,
)
from onereg.registry.identity import (
    KeyFileError,
    key_path,
    load_or_create_key,
    load_or_create_signer,
    load_signer,
)
from onereg.registry.node import RegistryNode

RID = RegistryId.LACNIC
PAYLOAD = {
    "afi": "ipv4",
    "start": "200.0.0.0",
    "value": 1024,
    "cc": "BR",
    "date": "20000101",
    "status": "allocated",
    "holder": "H1",
    "opaque": "H1",
    "ext": [],
}


@pytest.fixture
def node(tmp_path: Path) -> RegistryNode:
    return RegistryNode.open(RID, tmp_path / "n.sqlite")


def test_checkpoint_commits_to_log_and_state(node: RegistryNode, tmp_path: Path) -> None:
    signer = load_or_create_signer(tmp_path / "keys", RID, "onereg.example/lacnic")
    node.add_delegation(PAYLOAD)
    note = Checkpointer(node, signer).sign()
    checkpoint = open_checkpoint(note, [signer.verifier()], origin="onereg.example/lacnic")
    assert checkpoint.size == node.head()[0]
    assert checkpoint.root == node.tree().root()
    count, root = parse_state_extension(checkpoint)
    assert count == 1 and root == StateTree(state_leaves(node.conn)).root()
    # the log names the key that signs
    vkeys = [r[0] for r in node.conn.execute("SELECT vkey FROM node_keys")]
    assert vkeys == [signer.verifier().vkey()]


def test_growth_is_signed_but_a_rewritten_history_is_refused(
    node: RegistryNode, tmp_path: Path
) -> None:
    signer = load_or_create_signer(tmp_path / "keys", RID, "onereg.example/lacnic")
    checkpointer = Checkpointer(node, signer)
    first = checkpointer.sign()
    node.add_delegation(PAYLOAD)
    second = checkpointer.sign()
    assert first != second
    node.conn.execute("UPDATE tree SET hashes = zeroblob(length(hashes)) WHERE level = 0")
    node.add_delegation({**PAYLOAD, "start": "201.0.0.0"})
    with pytest.raises(LogIntegrityError, match="not an extension"):
        checkpointer.sign()


def test_key_file_is_private_and_refused_when_it_is_not(tmp_path: Path) -> None:
    signer = load_or_create_signer(tmp_path / "keys", RID, "onereg.example/lacnic")
    path = key_path(tmp_path / "keys", RID)
    assert path.stat().st_mode & 0o777 == 0o600
    assert load_signer(path).verifier().vkey() == signer.verifier().vkey()
    os.chmod(path, 0o644)
    with pytest.raises(KeyFileError, match="readable by others"):
        load_signer(path)
    # the secret never appears in the public description
    secret = base64.b64encode(signer.private_key.private_bytes_raw()).decode()
    assert secret not in signer.verifier().vkey()


def test_a_missing_key_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match="no node key at"):
        load_signer(tmp_path / "nope.key")


def test_the_state_root_follows_changes_incrementally(
    node: RegistryNode, tmp_path: Path, shared_data: Path
) -> None:
    from onereg.registry import events as ev
    from onereg.registry.checkpoints import StateCache

    signer = load_or_create_signer(tmp_path / "keys", RID, "onereg.example/lacnic")
    cache = StateCache()
    node.add_delegation(PAYLOAD)
    node.add_delegation({**PAYLOAD, "start": "201.0.0.0", "holder": "H2", "opaque": "H2"})
    first = cache.tree(node)
    node.append(
        [
            (ev.DELEGATION_CHANGED, {**PAYLOAD, "holder": "H9", "opaque": "H9"}),
            (ev.DELEGATION_REMOVED, {"afi": "ipv4", "start": "201.0.0.0", "value": 1024}),
            (ev.DELEGATION_ADDED, {**PAYLOAD, "afi": "asn", "start": "27000", "value": 10}),
        ],
        batch=True,
    )
    updated = cache.tree(node)
    assert updated is first  # the same tree, updated in place, not rebuilt
    assert updated.root() == StateTree(state_leaves(node.conn)).root()
    note = Checkpointer(node, signer).sign()
    _, root = parse_state_extension(open_checkpoint(note, [signer.verifier()]))
    assert root == StateTree(state_leaves(node.conn)).root()


def test_the_rotation_checkpoint_is_signed_by_both_keys(node: RegistryNode, tmp_path: Path) -> None:
    """Whoever knows either key (a policy with the first key, a federation file described
    after the rotation) accepts the checkpoint that commits the rotation; no cosignature is
    counted for the second log signature."""
    key = tmp_path / "log.key"
    old = load_or_create_key(key, "onereg.example/lacnic")
    node.add_delegation(PAYLOAD)
    Checkpointer(node, old).sign()
    rotate_key_of(node, key)
    new = load_signer(key)
    checkpointer = Checkpointer(node, new)
    note = checkpointer.latest()
    assert note is not None
    assert Checkpoint.parse(parse_note(note)[0]).size == node.head()[0]
    for verifier in (old.verifier(), new.verifier()):
        assert open_checkpoint(note, [verifier]).size == node.head()[0]
    assert cosignature_count(note) == 0
    assert checkpointer.sign() == note  # the publisher's next checkpoint: this one, as it is


def test_a_checkpoint_the_retired_key_signed_alone_gets_the_new_key_s_signature(
    node: RegistryNode, tmp_path: Path
) -> None:
    """A node rotated before rotations signed with both keys: its latest checkpoint carries
    the retired key only; the next `sign` adds the key in use (the text is unchanged)."""
    key = tmp_path / "log.key"
    old = load_or_create_key(key, "onereg.example/lacnic")
    node.add_delegation(PAYLOAD)
    rotate_key_of(node, key)
    new = load_signer(key)
    size = node.head()[0]
    text = parse_note(Checkpointer(node, new).latest() or "")[0]
    only_old = sign_note(text, [old])
    node.conn.execute("UPDATE checkpoints SET note = ? WHERE size = ?", (only_old, size))
    signed = Checkpointer(node, new).sign()
    assert parse_note(signed)[0] == text
    assert [s.key for s in parse_note(signed)[1]] == [old.key, new.key]
    assert open_checkpoint(signed, [new.verifier()]).size == size
    assert Checkpointer(node, new).latest() == signed
    stranger = Signer.generate("onereg.example/lacnic")  # not the log's key: adds nothing
    assert Checkpointer(node, stranger).sign() == signed


def test_a_rotation_and_its_sealing_checkpoint_commit_together(
    node: RegistryNode, tmp_path: Path
) -> None:
    """The rotation entry and the checkpoint that seals it are one write (a schema statement
    run inside it once committed half of it); the key file switches only after."""
    key_file = key_path(tmp_path / "keys", RID)
    old = load_or_create_signer(tmp_path / "keys", RID, "onereg.example/lacnic")
    Checkpointer(node, old).sign()
    retired, in_use = rotate_key_of(node, key_file)
    assert retired == old.verifier().key and load_signer(key_file).verifier().key == in_use
    size = node.head()[0]
    last = node.entries_of_kind("key.rotated")[-1]
    assert last.seq == size
    note = node.conn.execute("SELECT note FROM checkpoints WHERE size = ?", (size,)).fetchone()
    assert open_checkpoint(note[0], [old.verifier()]).size == size  # sealed by the old key
    assert not node.conn.in_transaction
