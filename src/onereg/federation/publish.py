"""The log side of witnessing: a node signs a checkpoint and collects cosignatures for it.

Each witness is sent the checkpoint with a consistency proof from the size it last cosigned.
The node does not need to remember that size: it starts from what it believes and, on 409, the
witness answers with its size and the node retries once with the right proof.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from onereg.federation.config import NodeInfo
from onereg.federation.witness import SIZE_CONTENT_TYPE, AddCheckpointRequest
from onereg.ledger.checkpoint import Checkpoint, merge_signatures
from onereg.ledger.note import Signer, parse_note
from onereg.registry.checkpoints import Checkpointer
from onereg.registry.node import RegistryNode


@dataclass(frozen=True, slots=True)
class WitnessOutcome:
    witness: str
    status: int
    detail: str


def _request(node: RegistryNode, note: str, checkpoint: Checkpoint, old: int) -> str:
    proof = node.tree().consistency_proof(old, checkpoint.size) if 0 < old < checkpoint.size else []
    return AddCheckpointRequest(old, proof, note).body()


def ask_witness(
    client: httpx.Client, witness: NodeInfo, node: RegistryNode, note: str, guess: int = 0
) -> tuple[WitnessOutcome, str | None]:
    """(outcome, cosignature line or None) from one witness, retrying once after a 409."""
    checkpoint = Checkpoint.parse(parse_note(note)[0])
    url = f"{witness.url}/witness/add-checkpoint"
    response = client.post(url, content=_request(node, note, checkpoint, guess))
    if response.status_code == 409 and response.headers.get("content-type", "").startswith(
        SIZE_CONTENT_TYPE
    ):
        old = int(response.text.strip())
        response = client.post(url, content=_request(node, note, checkpoint, old))
    line = response.text if response.status_code == 200 else None
    return WitnessOutcome(witness.registry, response.status_code, response.text.strip()), line


def publish(
    node: RegistryNode, signer: Signer, witnesses: list[NodeInfo], client: httpx.Client
) -> tuple[str, list[WitnessOutcome]]:
    """Sign the node's current checkpoint, gather cosignatures, store the cosigned note."""
    checkpointer = Checkpointer(node, signer)
    note = checkpointer.sign()
    size = Checkpoint.parse(parse_note(note)[0]).size
    outcomes, lines = [], []
    for witness in witnesses:
        try:
            outcome, line = ask_witness(client, witness, node, note)
        except httpx.HTTPError as exc:
            outcome, line = WitnessOutcome(witness.registry, 0, f"unreachable: {exc}"), None
        outcomes.append(outcome)
        if line:
            lines.append(line)
    cosigned = merge_signatures(note, lines) if lines else note
    checkpointer.add_cosignatures(size, cosigned)
    return cosigned, outcomes
