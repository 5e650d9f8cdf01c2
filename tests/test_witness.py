"""The witness protocol (C2SP tlog-witness) on one in-process witness: every answer it can give."""

from __future__ import annotations

import sqlite3

import pytest

from onereg.federation.witness import SIZE_CONTENT_TYPE, AddCheckpointRequest, Witness
from onereg.ledger.checkpoint import Checkpoint, CosignatureVerifier, Cosigner, sign_checkpoint
from onereg.ledger.merkle import MemoryHashStore, MerkleTree, leaf_hash
from onereg.ledger.note import Signer, parse_note

ORIGIN = "onereg.example/testlog"


class Log:
    """A tiny log with its own key, to feed the witness."""

    def __init__(self) -> None:
        self.signer = Signer.generate(ORIGIN)
        self.store = MemoryHashStore()
        self.tree = MerkleTree(self.store)

    def grow(self, count: int) -> None:
        for i in range(count):
            self.store.append(leaf_hash(f"entry {self.store.size() + i}".encode()))

    def note(self, size: int | None = None, root: bytes | None = None) -> str:
        size = self.store.size() if size is None else size
        root = self.tree.root(size) if root is None else root
        return sign_checkpoint(Checkpoint(ORIGIN, size, root), [self.signer])

    def request(self, old: int, note: str | None = None, proof: list[bytes] | None = None) -> str:
        new = self.store.size()
        if proof is None:
            proof = self.tree.consistency_proof(old, new) if 0 < old < new else []
        return AddCheckpointRequest(old, proof, note or self.note()).body()


@pytest.fixture
def log() -> Log:
    log = Log()
    log.grow(10)
    return log


@pytest.fixture
def witness(log: Log) -> Witness:
    conn = sqlite3.connect(":memory:", isolation_level=None)
    return Witness(conn, Cosigner.generate("witness.example"), {ORIGIN: [log.signer.verifier()]})


def test_first_checkpoint_is_cosigned_and_remembered(log: Log, witness: Witness) -> None:
    reply = witness.add_checkpoint(log.request(0))
    assert reply.status == 200
    line = reply.body.strip()
    signature = parse_note(log.note() + line + "\n")[1][-1]
    verifier = CosignatureVerifier(witness.cosigner.name, witness.cosigner.public_key)
    assert verifier.verify_cosignature(parse_note(log.note())[0], signature) > 0
    assert witness.state(ORIGIN) == (10, log.tree.root(10))


def test_growth_needs_a_consistency_proof_from_the_cosigned_size(
    log: Log, witness: Witness
) -> None:
    assert witness.add_checkpoint(log.request(0)).status == 200
    log.grow(7)
    assert witness.add_checkpoint(log.request(10)).status == 200
    assert witness.state(ORIGIN)[0] == 17


def test_wrong_old_size_is_409_with_the_witness_size(log: Log, witness: Witness) -> None:
    assert witness.add_checkpoint(log.request(0)).status == 200
    log.grow(3)
    reply = witness.add_checkpoint(log.request(5))
    assert (reply.status, reply.content_type, reply.body) == (409, SIZE_CONTENT_TYPE, "10\n")


def test_bad_proof_is_422_and_changes_nothing(log: Log, witness: Witness) -> None:
    assert witness.add_checkpoint(log.request(0)).status == 200
    log.grow(6)
    proof = log.tree.consistency_proof(10, 16)
    proof[0] = bytes(32)
    assert witness.add_checkpoint(log.request(10, proof=proof)).status == 422
    assert witness.state(ORIGIN)[0] == 10


def test_a_different_root_at_the_same_size_is_422(log: Log, witness: Witness) -> None:
    assert witness.add_checkpoint(log.request(0)).status == 200
    fork = log.note(10, bytes(32))
    reply = witness.add_checkpoint(log.request(10, note=fork, proof=[]))
    assert reply.status == 422
    assert witness.state(ORIGIN) == (10, log.tree.root(10))


def test_unknown_origin_is_404_and_bad_signature_403(log: Log, witness: Witness) -> None:
    stranger = Signer.generate("other.example/log")
    note = sign_checkpoint(Checkpoint("other.example/log", 1, bytes(32)), [stranger])
    assert witness.add_checkpoint(AddCheckpointRequest(0, [], note).body()).status == 404
    impostor = Signer.generate(ORIGIN)  # right name, wrong key
    forged = sign_checkpoint(Checkpoint(ORIGIN, 10, log.tree.root(10)), [impostor])
    assert witness.add_checkpoint(AddCheckpointRequest(0, [], forged).body()).status == 403


def test_old_beyond_new_is_400_and_garbage_is_400(log: Log, witness: Witness) -> None:
    assert witness.add_checkpoint(log.request(11, proof=[])).status == 400
    assert witness.add_checkpoint("hello").status == 400
    assert witness.add_checkpoint("old 01\n\n" + log.note()).status == 400
