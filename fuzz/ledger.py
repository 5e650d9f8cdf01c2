"""Signed notes, checkpoints, tlog policies, proof files, split-view evidence, agreements.

These arrive from peers (checkpoints, notes), from people (proof and evidence files checked
offline, policies) and from holders (agreements); every one is parsed before any signature can
vouch for it. Seeds are real objects of the shared world, so mutations reach past the format
checks into the signature, proof and claim code.
"""

from __future__ import annotations

import io

from rich.console import Console

from fuzz.harness import Target, json_tokens, scratch_file, select, text
from fuzz.world import ORIGIN, world
from onereg.cli.serve import verify_evidence
from onereg.core.errors import OneregError, SignatureError
from onereg.federation.proofs import verify_proof_file
from onereg.ledger.agreement import SignedAgreement, check_signature
from onereg.ledger.checkpoint import Checkpoint, open_checkpoint
from onereg.ledger.note import parse_note, verify_note
from onereg.ledger.policy import Policy


def _note_seeds() -> list[bytes]:
    w = world()
    return [w.note.encode(), w.evidence.encode(), b"origin\n1\nAAAA\n\n\xe2\x80\x94 k AAAA\n"]


def _note(data: bytes) -> object:
    w = world()
    parse_note(data)
    return verify_note(data, [w.signer.verifier(), *(c.verifier() for c in w.witnesses)])


NOTE = Target("note", _note, (SignatureError,), _note_seeds)


def _checkpoint_seeds() -> list[bytes]:
    note = world().note.encode()
    return [b"\x00" + note, b"\x01" + note.split(b"\n\n")[0] + b"\n", b"\x02" + note]


def _checkpoint(data: bytes) -> object:
    """0: a signed checkpoint as a witness or mirror opens it; 1: a bare body; 2: under a policy."""
    w = world()
    choice, body = select(data, 3)
    if choice == 0:
        return open_checkpoint(body, [w.signer.verifier()], origin=ORIGIN)
    if choice == 1:
        return Checkpoint.parse(text(body))
    return w.policy.check(body)


CHECKPOINT = Target("checkpoint", _checkpoint, (SignatureError,), _checkpoint_seeds)


def _policy_seeds() -> list[bytes]:
    return [world().policy_text.encode(), b"log x+1+AA\nwitness w x\nquorum none\n"]


POLICY = Target("tlog_policy", lambda d: Policy.parse(text(d)), (SignatureError,), _policy_seeds)


def _proof_seeds() -> list[bytes]:
    w = world()
    return [w.holding_proof.encode(), w.absence_proof.encode()]


def _proof(data: bytes) -> object:
    return verify_proof_file(data, world().policy)


PROOF = Target("proof_file", _proof, (OneregError,), _proof_seeds, 16384)


def _evidence(data: bytes) -> object:
    """As `onereg verify-evidence FILE --policy P` reads the file it was given."""
    policy = scratch_file(world().policy_text.encode(), "policy.txt")
    console = Console(file=io.StringIO())
    return verify_evidence(scratch_file(data, "evidence.json"), policy, console)


EVIDENCE = Target(
    "evidence",
    _evidence,
    (OneregError,),
    lambda: [world().evidence.encode()],
    8192,
    tokens=json_tokens("format", "first", "second", "path"),
)


def _agreement(data: bytes) -> object:
    """As a node reads a submitted agreement: parse, list its problems, check both signatures."""
    signed = SignedAgreement.from_json(text(data))
    signed.agreement.problems()
    key = world().holder_public
    check_signature(signed.agreement, signed.source_signature, key, "source holder")
    check_signature(signed.agreement, signed.recipient_signature, key, "recipient holder")
    return signed


AGREEMENT = Target(
    "agreement",
    _agreement,
    (OneregError,),
    lambda: [world().agreement.encode()],
    tokens=json_tokens(
        "agreement",
        "source_signature",
        "recipient_signature",
        "format",
        "resource",
        "source_registry",
        "source_holder",
        "recipient_registry",
        "recipient_holder",
        "kind",
        "nonce",
        "expires",
    ),
)

TARGETS = [NOTE, CHECKPOINT, POLICY, PROOF, EVIDENCE, AGREEMENT]
