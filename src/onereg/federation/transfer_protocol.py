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
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from onereg.core.errors import OneregError
from onereg.core.registries import RegistryId
from onereg.federation.faults import FaultPlan, Faults
from onereg.federation.layout import DataDir
from onereg.federation.offer_facts import offer_facts_problems, registration_problems
from onereg.federation.peer_client import PeerClient, PeerError, Reply
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
    holder_key,
    transfer_within,
)

_log = logging.getLogger("onereg.transfers")
KEY_CACHE_SECONDS = 30.0


class MalformedRequest(OneregError):
    """A request body that is not what the protocol sends (HTTP 400)."""


class PeerUnavailable(OneregError):
    """The counterpart node could not be asked (HTTP 503: try again later)."""


class NotTheCounterpart(OneregError):
    """A message signed by a federation node that has no say in this transfer (HTTP 403)."""


@dataclass(frozen=True, slots=True)
class ProtocolConfig:
    registry: RegistryId
    peers: Mapping[str, str]  # registry -> base URL of its node
    policies: PolicySet
    retry_seconds: float = 0.5
    timeout_seconds: float = 5.0
    faults: FaultPlan = field(default_factory=FaultPlan)
    # the node's verified mirrors of the peers' logs: holder keys and the facts of an offer
    # are checked there, not taken from a message
    mirrors: DataDir | None = None


def _optional_int(value: object) -> int | None:
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f"a key entry number must be an integer, not {value!r}")
    return value


def _obj(reply: Reply) -> dict[str, Any]:
    return reply.body if isinstance(reply.body, dict) else {}


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
        "source_key_seq": rec.get("source_key_seq"),
        "recipient_key_seq": rec.get("recipient_key_seq"),
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
            _optional_int(body.get("source_key_seq")),
            _optional_int(body.get("recipient_key_seq")),
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
        client: PeerClient,
        clock: Callable[[], datetime] = _now,
        on_step: Callable[[], None] | None = None,
        on_behind: Callable[[], None] | None = None,
    ) -> None:
        self.node = node
        self.on_step = on_step or (lambda: None)  # the log grew: e.g. publish a checkpoint
        self.on_behind = on_behind or (lambda: None)  # a peer's mirror is behind: refresh it
        self.config = config
        self.client = client
        self.clock = clock
        self.faults = Faults(config.faults)
        self._busy: set[str] = set()
        self._keys: dict[tuple[str, str], tuple[float, KnownKey]] = {}

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
        self.on_step()  # the recipient checks the offer against our published log
        await self._drive_for_a_while(t.id)
        state = interrir.transfer_state(self.node, t.id)
        assert state is not None
        return state

    async def holder_key(self, registry: str, handle: str, seq: int | None = None) -> KnownKey:
        """The holder's key as the counterpart's log has it, cached for KEY_CACHE_SECONDS.

        A cached key is safe to use: the key entry it came from travels with the offer, and
        the registry that owns the key declines when its log has a newer one (and a recipient
        that accepted on a stale key only registers what the source itself finalized).
        `seq`, when given, is the entry the caller expects: anything else is fetched afresh.
        """
        cached = self._keys.get((registry, handle))
        fresh = cached is not None and time.monotonic() - cached[0] < KEY_CACHE_SECONDS
        if cached is not None and fresh and (seq is None or cached[1].seq == seq):
            return cached[1]
        known = await self._fetch_key(registry, handle)
        if known.key is not None:
            self._keys[(registry, handle)] = (time.monotonic(), known)
        return known

    async def _fetch_key(self, registry: str, handle: str) -> KnownKey:
        mirrored = self._mirrored_key(registry, handle)
        if mirrored is not None:
            return mirrored
        where = f"the {registry} log (asked of its node)"
        url = f"{self._peer(registry)}/holders/{handle}/key"
        try:
            reply = await self.client.get(url, peer=registry)
        except PeerError as exc:
            raise PeerUnavailable(f"cannot read the holder key from {registry}: {exc}") from None
        if reply.status == 404:
            return KnownKey(None, where)
        if reply.status != 200:
            raise PeerUnavailable(f"{registry} answered {reply.status} for the holder key")
        found = _obj(reply)
        return KnownKey(bytes.fromhex(found["key"]), where, _optional_int(found.get("seq")))

    def _mirrored_key(self, registry: str, handle: str) -> KnownKey | None:
        """The holder's key from the verified mirror of its registry's log, if there."""
        mirrors = self.config.mirrors
        if mirrors is None or not mirrors.exists(RegistryId(registry)):
            return None
        with mirrors.read(RegistryId(registry)) as mirror:
            found = holder_key(mirror, handle)
        if found is None:
            return None  # perhaps registered after the last checkpoint: ask the node
        return KnownKey(found[0], f"the {registry} log (verified mirror)", found[1])

    def _check_facts(self, offer: Offer) -> None:
        """The offer's facts about the block (holder, status, dates, authority) must be what
        the source's own log says; a mirror that does not have them yet means: later."""
        if self.config.mirrors is None:
            return
        problems = offer_facts_problems(self.config.mirrors, offer)
        if problems is None:
            # Not mirrored yet: the block is only reserved, on the source node's signed word;
            # it is registered once the source's own log shows the transfer finalized with
            # these facts (`_register_when_logged`).
            self.on_behind()
            return
        if problems:
            raise TransferRefused(problems)

    # --- source side -----------------------------------------------------------------------------

    async def _drive_for_a_while(self, transfer_id: str) -> None:
        """Offer until the recipient decides or a few timeouts passed, so that a holder
        usually gets the outcome in its answer; the recovery loop carries on after that."""
        deadline = time.monotonic() + 2 * self.config.timeout_seconds
        while True:
            await self.drive(transfer_id)
            t = interrir.transfer_state(self.node, transfer_id)
            if t is None or t.state != SOURCE_INITIALIZED or time.monotonic() > deadline:
                return
            await asyncio.sleep(0.05)

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
            reply = await self.client.post(url, offer_body(t), peer=t.counterpart)
        except PeerError:
            self._cancel_if_expired(t, "the recipient registry did not answer")
            return
        if reply.status == 200:
            answer = _obj(reply)
            if answer.get("state") == RECIPIENT_ACCEPTED:
                self.faults.point("source:answered")
                interrir.finalize(self.node, transfer_id, answer)
                self.faults.point("source:finalized")
                await self._tell_recipient(t)
            elif answer.get("state") == RECIPIENT_CANCELLED:
                interrir.cancel(self.node, transfer_id, list(answer.get("reasons", [])))
                self.faults.point("source:cancelled")
        elif reply.status in (400, 422):
            reasons = _obj(reply).get("reasons", [reply.text[:200]])
            interrir.cancel(
                self.node, transfer_id, [f"{t.counterpart} refused: {r}" for r in reasons]
            )
            self.faults.point("source:cancelled")
        else:
            self._cancel_if_expired(t, f"the recipient registry answered {reply.status}")

    def _cancel_if_expired(self, t: TransferState, why: str) -> None:
        if t.signed().agreement.expiry() <= self.clock():
            interrir.cancel(self.node, t.id, [f"{why} before the agreement expired"])
            self.faults.point("source:cancelled")

    async def _tell_recipient(self, t: TransferState) -> None:
        """Best effort: the recipient also asks by itself (`recover`), so a lost message is
        fine. The request carries this node's signature, like every node-to-node request."""
        url = f"{self._peer(t.counterpart)}/transfers/{t.id}/finalized"
        with contextlib.suppress(PeerError):
            await self.client.post(url, {}, peer=t.counterpart)

    # --- recipient side --------------------------------------------------------------------------

    async def on_offer(self, transfer_id: str, body: object, sender: str) -> TransferState:
        """An offer, from the node `sender` (whose signature the route checked)."""
        offer = parse_offer(transfer_id, body)
        a = offer.signed.agreement
        if sender != a.source_registry:
            raise NotTheCounterpart(
                f"the offer is signed by {sender}'s node, not by the source registry "
                f"{a.source_registry}'s"
            )
        found = interrir.transfer_state(self.node, transfer_id)
        if found is not None:  # asked again: the recorded answer, nothing re-checked
            return interrir.accept(
                self.node, offer, self.config.policies, self.clock(), KnownKey(None, "")
            )
        self._check_facts(offer)
        key = await self.holder_key(a.source_registry, a.source_holder, offer.source_key_seq)
        t = interrir.accept(self.node, offer, self.config.policies, self.clock(), key)
        if t.state == RECIPIENT_ACCEPTED:
            self.faults.point("recipient:accepted")
        return t

    async def on_finalized(
        self, transfer_id: str, body: object, sender: str
    ) -> TransferState | None:
        """The source says it finalized: believed at once when its node signed the notice,
        otherwise checked by asking the source."""
        t = interrir.transfer_state(self.node, transfer_id)
        if t is None or t.role != "recipient" or t.state != RECIPIENT_ACCEPTED:
            return t
        if sender != t.counterpart:
            raise NotTheCounterpart(
                f"the notice is signed by {sender}'s node, not by the source registry "
                f"{t.counterpart}'s"
            )
        return self._register_when_logged(t)

    async def follow(self, transfer_id: str) -> TransferState | None:
        """Ask the source how a reserved transfer ended, and settle it here."""
        t = interrir.transfer_state(self.node, transfer_id)
        if t is None or t.role != "recipient" or t.state != RECIPIENT_ACCEPTED:
            return t
        url = f"{self._peer(t.counterpart)}/transfers/{transfer_id}"
        try:
            reply = await self.client.get(url, peer=t.counterpart)
        except PeerError:
            return t
        if reply.status == 404:
            if t.signed().agreement.expiry() <= self.clock():
                t = interrir.abort(
                    self.node, transfer_id, "the source registry has no such transfer"
                )
            return t
        state = _obj(reply).get("state") if reply.status == 200 else None
        if state == SOURCE_FINALIZED:
            t = self._register_when_logged(t)
        elif state == SOURCE_CANCELLED:
            t = interrir.abort(self.node, transfer_id, "the source registry cancelled the transfer")
            self.faults.point("recipient:aborted")
        return t

    def _register_when_logged(self, t: TransferState, ask: bool = True) -> TransferState:
        """Register the block only once the source's own log, as verified here, shows the
        transfer finalized with the facts the offer gave; until then it stays reserved (a
        fresher mirror is asked for when `ask`, and `settle_from_mirrors` runs after every
        refresh), and a source whose log says otherwise gets an abort that names the
        difference."""
        if self.config.mirrors is not None:
            problems = registration_problems(self.config.mirrors, t)
            if problems is None:
                if ask:
                    self.on_behind()
                return t
            if problems:
                return interrir.abort(self.node, t.id, "; ".join(problems))
        t = interrir.register(self.node, t.id, self.clock())
        self.faults.point("recipient:registered")
        return t

    def settle_from_mirrors(self) -> int:
        """After the mirrors moved: register every reserved block whose source's log now
        shows it finalized (no network: the mirrors decide). Returns how many settled."""
        settled = 0
        for t in interrir.transfers_in(self.node, RECIPIENT_ACCEPTED):
            if t.role == "recipient" and self._register_when_logged(t, ask=False).state != (
                RECIPIENT_ACCEPTED
            ):
                settled += 1
        if settled:
            self.on_step()
        return settled

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
                before = self.node.head()[0]
                await self.recover()
                if self.node.head()[0] != before:
                    self.on_step()
            except OneregError as exc:  # keep the loop alive; the next pass tries again
                _log.warning("%s: transfer recovery: %s", self.node.registry, exc)
            await asyncio.sleep(self.config.retry_seconds)
