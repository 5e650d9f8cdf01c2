"""A small, real federation world the targets and their seeds share, built once per process.

One RIPE NCC node from a synthetic delegated file, its log key, two witnesses (fixed seeds, so
every seed corpus is the same on every run), a cosigned checkpoint, the tlog policy that trusts
them, proof files built by the project's own code, split-view evidence and a signed agreement.
Seeds made from these reach the code behind the signature checks, where random bytes never get.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from fuzz.harness import scratch_file, temp_dir
from fuzz.sources import DELEGATED_SAMPLE
from onereg.core.registries import RegistryId
from onereg.core.resources import Resource
from onereg.federation.importer import import_delegated_file
from onereg.federation.layout import DataDir
from onereg.federation.proofs import build_absence_proof, build_holding_proof
from onereg.ledger.agreement import Agreement, SignedAgreement, sign_agreement
from onereg.ledger.checkpoint import Checkpoint, Cosigner, merge_signatures, sign_checkpoint
from onereg.ledger.evidence import SplitViewEvidence
from onereg.ledger.note import Signer, parse_note
from onereg.ledger.policy import Policy
from onereg.registry.checkpoints import Checkpointer
from onereg.registry.identity import origin_of
from onereg.registry.node import RegistryNode

ORIGIN = origin_of(RegistryId.RIPENCC)
HOLDER_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))


@dataclass(frozen=True)
class World:
    node: RegistryNode
    signer: Signer
    witnesses: tuple[Cosigner, Cosigner]
    note: str  # the latest checkpoint, cosigned by both witnesses
    policy_text: str
    holding_proof: str
    absence_proof: str
    evidence: str
    agreement: str

    @property
    def holder_public(self) -> bytes:
        return HOLDER_KEY.public_key().public_bytes_raw()

    @property
    def policy(self) -> Policy:
        return Policy.parse(self.policy_text)


def _cosigned(world_signer: Signer, witnesses: tuple[Cosigner, Cosigner], note: str) -> str:
    body, _ = parse_note(note)
    return merge_signatures(note, "".join(w.cosign(body, 1_700_000_000) for w in witnesses))


def _evidence(signer: Signer, note: str) -> str:
    """Two checkpoints of one size with different roots: a split view in its simplest form."""
    real = Checkpoint.parse(parse_note(note)[0])
    other = Checkpoint(real.origin, real.size, bytes(32), real.extensions)
    return SplitViewEvidence(note, sign_checkpoint(other, [signer]), ()).to_json()


def _agreement() -> str:
    agreement = Agreement(
        "193.0.0.0/24",
        "ripencc",
        "RIPE-NCC-HM",
        "apnic",
        "APNIC-HM",
        "transfer",
        "00112233445566778899aabbccddeeff",
        "2030-01-01T00:00:00Z",
    )
    signature = sign_agreement(agreement, HOLDER_KEY)
    return SignedAgreement(agreement, signature, signature).to_json()


@functools.cache
def world() -> World:
    home = temp_dir("onereg-fuzz-world.")
    data = DataDir(home)
    import_delegated_file(data, scratch_file(DELEGATED_SAMPLE, "world-delegated"), None)
    node = data.open(RegistryId.RIPENCC)
    signer = Signer.from_seed(ORIGIN, b"\x01" * 32)
    witnesses = (
        Cosigner.from_seed("witness-one", b"\x02" * 32),
        Cosigner.from_seed("witness-two", b"\x03" * 32),
    )
    checkpointer = Checkpointer(node, signer)
    note = _cosigned(signer, witnesses, checkpointer.sign())
    checkpointer.add_cosignatures(node.head()[0], note)
    one, two = witnesses
    policy_text = (
        f"log {signer.verifier().vkey()}\n"
        f"witness witness-one {one.verifier().vkey()}\n"
        f"witness witness-two {two.verifier().vkey()}\n"
        "group both all witness-one witness-two\nquorum both\n"
    )
    return World(
        node,
        signer,
        witnesses,
        note,
        policy_text,
        build_holding_proof(node, note, Resource.parse("193.0.0.0/24")),
        build_absence_proof(node, note, Resource.parse("10.0.0.0/8")),
        _evidence(signer, note),
        _agreement(),
    )
