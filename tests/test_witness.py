"""The witness protocol (C2SP tlog-witness) on one in-process witness: every answer it can give."""

from __future__ import annotations

import sqlite3

import pytest

from onereg.federation.node_config import Limits
from onereg.federation.witness import SIZE_CONTENT_TYPE, AddCheckpointRequest, Witness
from onereg.ledger.checkpoint import Checkpoint, CosignatureVerifier, Cosigner, sign_checkpoint
from onereg.ledger.merkle import MemoryHashStore, MerkleTree, leaf_hash
from onereg.ledger.note import Signer, parse_note, sign_note

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


def test_a_different_root_at_the_same_size_is_409(log: Log, witness: Witness) -> None:
    """tlog-witness: "If the old size matches the checkpoint size, the witness MUST check that
    the root hashes are also identical. If they don't match, ... 409 Conflict"."""
    assert witness.add_checkpoint(log.request(0)).status == 200
    fork = log.note(10, bytes(32))
    reply = witness.add_checkpoint(log.request(10, note=fork, proof=[]))
    assert (reply.status, reply.content_type, reply.body) == (409, SIZE_CONTENT_TYPE, "10\n")
    assert witness.state(ORIGIN) == (10, log.tree.root(10))
    assert witness.stored_note(ORIGIN) == log.note()


def test_a_proof_between_equal_sizes_must_be_empty(log: Log, witness: Witness) -> None:
    """The same checkpoint again is cosigned again with an empty proof; with any proof line
    (valid hash or not) the proof does not verify: 422, as Go's tlog.CheckTree decides."""
    assert witness.add_checkpoint(log.request(0)).status == 200
    for proof in ([log.tree.root(10)], [bytes(32)], [bytes(32)] * 3):
        reply = witness.add_checkpoint(log.request(10, proof=proof))
        assert reply.status == 422, (proof, reply)
    assert witness.add_checkpoint(log.request(10, proof=[])).status == 200
    assert witness.state(ORIGIN) == (10, log.tree.root(10))


def test_a_proof_from_size_zero_must_be_empty(log: Log, witness: Witness) -> None:
    """ "The proof MUST be empty if the old size is zero": a first checkpoint with proof lines
    is refused (422) and not stored."""
    reply = witness.add_checkpoint(log.request(0, proof=[log.tree.root(5)]))
    assert reply.status == 422
    assert witness.state(ORIGIN) == (0, b"") and witness.stored_note(ORIGIN) is None


def test_a_proof_line_must_be_one_hash(log: Log, witness: Witness) -> None:
    note = log.note()
    for line in ("AAAA", "not base64!", "A" * 4000):
        reply = witness.add_checkpoint(f"old 0\n{line}\n\n{note}")
        assert reply.status == 400 and "line 2" in reply.body, (line, reply)
    assert witness.state(ORIGIN) == (0, b"")


def test_unknown_signature_lines_are_not_stored(log: Log, witness: Witness) -> None:
    """The log's verified signature is all the witness keeps: 80 junk signature lines (a
    stranger's bytes) are dropped, not written to `witnessed`."""
    junk = "".join(f"\u2014 junk{i} " + "QUFB" * 200 + "\n" for i in range(80))
    reply = witness.add_checkpoint(log.request(0, note=log.note() + junk))
    assert reply.status == 200
    assert witness.stored_note(ORIGIN) == log.note()


def test_a_note_beyond_the_limit_is_refused_before_anything_is_stored(log: Log) -> None:
    conn = sqlite3.connect(":memory:", isolation_level=None)
    limits = Limits(witness_max_note=2048)
    witness = Witness(conn, Cosigner.generate("w"), {ORIGIN: [log.signer.verifier()]}, limits)
    junk = "".join(f"\u2014 junk{i} " + "QUFB" * 200 + "\n" for i in range(3))
    reply = witness.add_checkpoint(log.request(0, note=log.note() + junk))
    assert reply.status == 413 and "witness_max_note" in reply.body
    assert witness.state(ORIGIN) == (0, b"")
    assert witness.add_checkpoint(log.request(0)).status == 200  # within the limit: cosigned


def test_the_witness_follows_at_most_witness_max_logs(log: Log) -> None:
    other = Signer.generate("onereg.example/other")
    conn = sqlite3.connect(":memory:", isolation_level=None)
    logs = {ORIGIN: [log.signer.verifier()], other.name: [other.verifier()]}
    witness = Witness(conn, Cosigner.generate("w"), logs, Limits(witness_max_logs=1))
    assert witness.add_checkpoint(log.request(0)).status == 200
    note = sign_checkpoint(Checkpoint(other.name, 1, bytes(32)), [other])
    reply = witness.add_checkpoint(AddCheckpointRequest(0, [], note).body())
    assert reply.status == 403 and "witness_max_logs" in reply.body
    assert witness.state(other.name) == (0, b"")
    log.grow(1)
    assert witness.add_checkpoint(log.request(10)).status == 200  # a log it follows goes on


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


def test_a_malformed_note_is_400_and_a_malformed_signed_checkpoint_too(
    log: Log, witness: Witness
) -> None:
    """Malformed is not forged: no signature line, or a checkpoint text the log's key signed
    that is no checkpoint (a size with a leading zero), is a bad request."""
    text = f"{ORIGIN}\n10\n"
    for note in (
        text + "\nnot a signature line\n",
        sign_note(f"{ORIGIN}\n010\nAA==\n", [log.signer]),
    ):
        reply = witness.add_checkpoint(AddCheckpointRequest(0, [], note).body())
        assert reply.status == 400 and "malformed" in reply.body, (note, reply)
    assert witness.state(ORIGIN) == (0, b"")
