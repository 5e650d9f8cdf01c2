"""The log side of witnessing: a node signs a checkpoint and collects cosignatures for it.

Each witness is sent the checkpoint with a consistency proof from the size it last cosigned.
The node does not need to remember that size: it starts from what it believes and, on 409, the
witness answers with its size and the node retries once with the right proof.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from onereg.core.errors import OneregError
from onereg.federation.config import NodeInfo
from onereg.federation.peer_client import PeerClient, PeerError
from onereg.federation.witness import AddCheckpointRequest
from onereg.ledger.checkpoint import Checkpoint, merge_signatures
from onereg.ledger.note import Signer, parse_note
from onereg.registry.checkpoints import Checkpointer
from onereg.registry.node import RegistryNode

_log = logging.getLogger("onereg.publish")


@dataclass(frozen=True, slots=True)
class WitnessOutcome:
    witness: str
    status: int
    detail: str


def _request(node: RegistryNode, note: str, checkpoint: Checkpoint, old: int) -> str:
    proof = node.tree().consistency_proof(old, checkpoint.size) if 0 < old < checkpoint.size else []
    return AddCheckpointRequest(old, proof, note).body()


async def ask_witness_async(
    client: PeerClient, witness: NodeInfo, node: RegistryNode, note: str, guess: int = 0
) -> tuple[WitnessOutcome, str | None]:
    """(outcome, cosignature line or None) from one witness, retrying once after a 409 that
    names the size the witness holds; the request is signed by the node key."""
    checkpoint = Checkpoint.parse(parse_note(note)[0])
    url = f"{witness.url}/witness/add-checkpoint"
    try:
        reply = await client.post_text(url, _request(node, note, checkpoint, guess))
        if reply.status == 409 and reply.text.strip().isdigit():
            old = int(reply.text.strip())
            reply = await client.post_text(url, _request(node, note, checkpoint, old))
    except PeerError as exc:
        return WitnessOutcome(witness.registry, 0, f"unreachable: {exc}"), None
    line = reply.text if reply.status == 200 else None
    return WitnessOutcome(witness.registry, reply.status, reply.text.strip()[:200]), line


def cosignature_count(note: str) -> int:
    """Signatures by others than the log (whose key is named after its origin): a checkpoint
    signed by two log keys across a rotation still counts no cosignature."""
    text, signatures = parse_note(note)
    origin = text.split("\n", 1)[0]
    return sum(1 for sig in signatures if sig.name != origin)


class NodePublisher:
    """Signs a checkpoint when the log has grown (or lacks cosignatures) and gathers the
    witnesses' cosignatures: on a timer, and at once when `poke`d (after a transfer step).

    All of it runs in the node's event loop (the node's SQLite connection lives there); the
    witnesses are asked all at once, each with the peer timeout."""

    def __init__(
        self,
        node: Callable[[], RegistryNode],
        signer: Callable[[], Signer],
        witnesses: list[NodeInfo],
        quorum: int,
        interval: float,
    ) -> None:
        self.node, self.signer, self.witnesses = node, signer, witnesses
        self.quorum, self.interval = quorum, interval
        self.last: list[WitnessOutcome] = []
        self.last_at = 0.0
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()

    def poke(self) -> None:
        self._wake.set()

    def due(self) -> bool:
        node = self.node()
        latest = Checkpointer(node, self.signer()).latest()
        if latest is None:
            return True
        size = Checkpoint.parse(parse_note(latest)[0]).size
        return size < node.head()[0] or cosignature_count(latest) < self.quorum

    async def publish(self, client: PeerClient) -> tuple[str, list[WitnessOutcome]]:
        async with self._lock:
            node = self.node()
            checkpointer = Checkpointer(node, self.signer())
            note = checkpointer.sign()
            size = Checkpoint.parse(parse_note(note)[0]).size
            asked = [ask_witness_async(client, w, node, note) for w in self.witnesses]
            answers = await asyncio.gather(*asked)  # all witnesses at once: one round trip
            outcomes = [outcome for outcome, _ in answers]
            lines = [line for _, line in answers if line]
            cosigned = merge_signatures(note, lines) if lines else note
            checkpointer.add_cosignatures(size, cosigned)
            self.last, self.last_at = outcomes, time.time()
            return cosigned, outcomes

    async def forever(self, client: PeerClient) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.interval)
            self._wake.clear()
            try:
                if self.due():
                    await self.publish(client)
            except OneregError as exc:  # keep publishing; the next tick tries again
                _log.warning("publishing the checkpoint failed: %s", exc)
