"""The inter-registry transfer protocol between node processes over HTTP.

The source node coordinates: it locks the block (`initialize`), offers the transfer to the
recipient node, and on the recipient's answer finalizes or cancels; the recipient then learns
the outcome from the source (it is told, and it also asks) and registers or releases the block.
Every message is idempotent (each node answers with the state its log records), so every
message is simply retried. Both sides run `recover` in a loop: a source re-offers every
transfer it has locked but not decided, a recipient asks about every transfer it has reserved
but not settled. A node restarted after a crash therefore picks up exactly where its log says
it was, and the transfer converges without a person.

The counterpart holder's key is read from the counterpart registry (its node answers from its
own log), never from the request.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

from onereg.core.errors import OneregError
from onereg.core.registries import RegistryId
from onereg.federation.faults import FaultPlan, Faults
from onereg.ledger.agreement import SignedAgreement
from onereg.registry import interrir
from onereg.registry.interrir import Offer, TransferState
from onereg.registry.node import RegistryNode
from onereg.registry.transfer_policy import PolicySet
from onereg.registry.transfers import (
    RECIPIENT_ACCEPTED,
    RECIPIENT_CANCELLED,
    SOURCE_CANCELLED,
    SOURCE_FINALIZED,
    SOURCE_INITIALIZED,
    KnownKey,
    TransferRefused,
    transfer_within,
)

_log = logging.getLogger("onereg.transfers")


class MalformedRequest(OneregError):
    """A request body that is not what the protocol sends (HTTP 400)."""


class PeerUnavailable(OneregError):
    """The counterpart node could not be asked (HTTP 503: try again later)."""


@dataclass(frozen=True, slots=True)
class ProtocolConfig:
    registry: RegistryId
    peers: Mapping[str, str]  # registry -> base URL of its node
    policies: PolicySet
    retry_seconds: float = 0.5
    timeout_seconds: float = 5.0
    faults: FaultPlan = field(default_factory=FaultPlan)


def _now() -> datetime:
    return datetime.now(UTC)


def offer_body(t: TransferState) -> dict[str, Any]:
    rec = t.record
    return {
        "agreement": rec["agreement"],
        "source_signature": rec["signatures"]["source"],
        "recipient_signature": rec["signatures"]["recipient"],
        "evidence": rec.get("evidence", {}),
        "original": rec["original"],
        "registered": rec.get("registered", ""),
        "source_cc": rec.get("source_cc", ""),
        "status": rec.get("status", "allocated"),
        "authority": rec["authority"],
    }


def parse_offer(transfer_id: str, body: object) -> Offer:
    if not isinstance(body, dict):
        raise MalformedRequest("the offer is not a JSON object")
    try:
        signed = SignedAgreement.from_json(
            json.dumps(
                {k: body[k] for k in ("agreement", "source_signature", "recipient_signature")}
            )
        )
        offer = Offer(
            signed,
            dict(body.get("evidence") or {}),
            {k: str(v) for k, v in dict(body["original"]).items()},
            str(body.get("registered", "")),
            str(body.get("source_cc", "")),
            str(body.get("status", "allocated")),
            str(body["authority"]),
        )
    except (KeyError, TypeError, ValueError, OneregError) as exc:
        raise MalformedRequest(f"malformed offer: {exc}") from None
    if signed.agreement.nonce != transfer_id:
        raise MalformedRequest("the transfer id in the path is not the agreement's nonce")
    return offer


class TransferProtocol:
    """One node's side of every transfer it takes part in; all calls run on one event loop."""

    def __init__(
        self,
        node: RegistryNode,
        config: ProtocolConfig,
        client: httpx.AsyncClient,
        clock: Callable[[], datetime] = _now,
    ) -> None:
        self.node = node
        self.config = config
        self.client = client
        self.clock = clock
        self.faults = Faults(config.faults)
        self._busy: set[str] = set()

    def _peer(self, registry: str) -> str:
        url = self.config.peers.get(registry)
        if url is None:
            raise TransferRefused([f"no node of registry {registry!r} is known to this node"])
        return url

    # --- asked by a holder (or the CLI) ----------------------------------------------------------

    async def submit(
        self, signed: SignedAgreement, evidence: Mapping[str, object]
    ) -> TransferState:
        """Start (or, asked again, report) a transfer at its source registry."""
        a = signed.agreement
        if a.source_registry != self.node.registry.value:
            raise TransferRefused(
                [
                    f"a transfer is submitted to its source registry {a.source_registry}, "
                    f"not to {self.node.registry}"
                ]
            )
        if a.recipient_registry == self.node.registry.value:
            found = interrir.transfer_state(self.node, a.nonce)
            if found is None:
                transfer_within(self.node, signed, self.config.policies, self.clock(), evidence)
            state = interrir.transfer_state(self.node, a.nonce)
            assert state is not None
            return state
        key = await self.holder_key(a.recipient_registry, a.recipient_holder)
        t = interrir.initialize(
            self.node, signed, self.config.policies, self.clock(), evidence, key
        )
        self.faults.point("source:initialized")
        await self.drive(t.id)
        state = interrir.transfer_state(self.node, t.id)
        assert state is not None
        return state

    async def holder_key(self, registry: str, handle: str) -> KnownKey:
        where = f"the {registry} log (asked of its node)"
        url = f"{self._peer(registry)}/holders/{handle}/key"
        try:
            reply = await self.client.get(url, timeout=self.config.timeout_seconds)
        except httpx.HTTPError as exc:
            raise PeerUnavailable(f"cannot read the holder key from {registry}: {exc!r}") from None
        if reply.status_code == 404:
            return KnownKey(None, where)
        if reply.status_code != 200:
            raise PeerUnavailable(f"{registry} answered {reply.status_code} for the holder key")
        return KnownKey(bytes.fromhex(reply.json()["key"]), where)

    # --- source side -----------------------------------------------------------------------------

    async def drive(self, transfer_id: str) -> None:
        """Offer a locked transfer to the recipient and act on its answer (no answer: later)."""
        if transfer_id in self._busy:
            return
        self._busy.add(transfer_id)
        try:
            await self._drive(transfer_id)
        finally:
            self._busy.discard(transfer_id)

    async def _drive(self, transfer_id: str) -> None:
        t = interrir.transfer_state(self.node, transfer_id)
        if t is None or t.role != "source" or t.state != SOURCE_INITIALIZED:
            return
        url = f"{self._peer(t.counterpart)}/transfers/{transfer_id}/accept"
        try:
            reply = await self.client.post(
                url, json=offer_body(t), timeout=self.config.timeout_seconds
            )
        except httpx.HTTPError:
            self._cancel_if_expired(t, "the recipient registry did not answer")
            return
        if reply.status_code == 200:
            answer = reply.json()
            if answer.get("state") == RECIPIENT_ACCEPTED:
                self.faults.point("source:answered")
                interrir.finalize(self.node, transfer_id, answer)
                self.faults.point("source:finalized")
                await self._tell_recipient(t)
            elif answer.get("state") == RECIPIENT_CANCELLED:
                interrir.cancel(self.node, transfer_id, list(answer.get("reasons", [])))
                self.faults.point("source:cancelled")
        elif reply.status_code in (400, 422):
            reasons = reply.json().get("reasons", [reply.text[:200]])
            interrir.cancel(
                self.node, transfer_id, [f"{t.counterpart} refused: {r}" for r in reasons]
            )
            self.faults.point("source:cancelled")
        else:
            self._cancel_if_expired(t, f"the recipient registry answered {reply.status_code}")

    def _cancel_if_expired(self, t: TransferState, why: str) -> None:
        if t.signed().agreement.expiry() <= self.clock():
            interrir.cancel(self.node, t.id, [f"{why} before the agreement expired"])
            self.faults.point("source:cancelled")

    async def _tell_recipient(self, t: TransferState) -> None:
        """Best effort: the recipient also asks by itself (`recover`), so a lost message is fine."""
        url = f"{self._peer(t.counterpart)}/transfers/{t.id}/finalized"
        with contextlib.suppress(httpx.HTTPError):
            await self.client.post(url, timeout=self.config.timeout_seconds)

    # --- recipient side --------------------------------------------------------------------------

    async def on_offer(self, transfer_id: str, body: object) -> TransferState:
        offer = parse_offer(transfer_id, body)
        found = interrir.transfer_state(self.node, transfer_id)
        if found is not None:  # asked again: the recorded answer, nothing re-checked
            return interrir.accept(
                self.node, offer, self.config.policies, self.clock(), KnownKey(None, "")
            )
        a = offer.signed.agreement
        key = await self.holder_key(a.source_registry, a.source_holder)
        t = interrir.accept(self.node, offer, self.config.policies, self.clock(), key)
        if t.state == RECIPIENT_ACCEPTED:
            self.faults.point("recipient:accepted")
        return t

    async def follow(self, transfer_id: str) -> TransferState | None:
        """Ask the source how a reserved transfer ended, and settle it here."""
        t = interrir.transfer_state(self.node, transfer_id)
        if t is None or t.role != "recipient" or t.state != RECIPIENT_ACCEPTED:
            return t
        url = f"{self._peer(t.counterpart)}/transfers/{transfer_id}"
        try:
            reply = await self.client.get(url, timeout=self.config.timeout_seconds)
        except httpx.HTTPError:
            return t
        if reply.status_code == 404:
            if t.signed().agreement.expiry() <= self.clock():
                t = interrir.abort(
                    self.node, transfer_id, "the source registry has no such transfer"
                )
            return t
        state = reply.json().get("state") if reply.status_code == 200 else None
        if state == SOURCE_FINALIZED:
            t = interrir.register(self.node, transfer_id, self.clock())
            self.faults.point("recipient:registered")
        elif state == SOURCE_CANCELLED:
            t = interrir.abort(self.node, transfer_id, "the source registry cancelled the transfer")
            self.faults.point("recipient:aborted")
        return t

    # --- recovery --------------------------------------------------------------------------------

    async def recover(self) -> int:
        """One pass over every transfer this node has not settled; returns how many it saw."""
        pending = interrir.transfers_in(self.node, SOURCE_INITIALIZED, RECIPIENT_ACCEPTED)
        for t in pending:
            if t.role == "source":
                await self.drive(t.id)
            else:
                await self.follow(t.id)
        return len(pending)

    async def recover_forever(self) -> None:
        while True:
            try:
                await self.recover()
            except OneregError as exc:  # keep the loop alive; the next pass tries again
                _log.warning("%s: transfer recovery: %s", self.node.registry, exc)
            await asyncio.sleep(self.config.retry_seconds)
