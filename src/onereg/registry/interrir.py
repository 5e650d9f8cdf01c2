"""The steps of an inter-registry transfer as each node records them (NRO states, REFERENCE.md
section 1.7): a two-phase commit in which the source registry decides and the recipient follows.

Source: `initialize` (sourceInitialized: the block is locked, nothing else may move or change
it), then `finalize` (sourceFinalized: the block leaves the source's inventory) once the
recipient accepted, or `cancel` (sourceCancelled). Recipient: `accept` (recipientAccepted: the
block is reserved for the new holder, so both registries' claims are on record and neither may
delegate it) or `decline` (recipientCancelled), then `register` (the block is delegated to the new
holder) once the source finalized, or `abort` when the source cancelled.

Each step is one log entry written in one transaction, and each is idempotent: asked again, a
node answers with the state it recorded. That is what lets the protocol layer retry every
message and recover after a crash from the log alone. Nothing here talks to the network: the
counterpart's holder key and the counterpart's answers are passed in by the caller.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import orjson

from onereg.core.errors import OneregError
from onereg.core.resources import Afi, Resource, format_number, parse_number
from onereg.ledger.agreement import SignedAgreement
from onereg.registry import events as ev
from onereg.registry.node import RegistryNode, one_write
from onereg.registry.schema import key, unkey
from onereg.registry.transfer_policy import EventKind, PolicySet, Receipt
from onereg.registry.transfers import (
    RECIPIENT_ACCEPTED,
    RECIPIENT_CANCELLED,
    RETURN,
    SOURCE_CANCELLED,
    SOURCE_FINALIZED,
    SOURCE_INITIALIZED,
    KnownKey,
    TransferRefused,
    agreement_record,
    block_range,
    carve,
    check_fresh,
    check_signatures,
    check_unlocked,
    granted,
    holder_cc,
    own_key,
    parse_block,
    policy_check,
    received,
    source_block,
    transfer_item,
)


@dataclass(frozen=True, slots=True)
class TransferState:
    """A transfer as one node has recorded it (its row in `transfers`)."""

    id: str
    role: str
    state: str
    block: Resource
    counterpart: str
    record: dict[str, Any]
    first_seq: int
    seq: int

    def signed(self) -> SignedAgreement:
        return SignedAgreement.from_json(
            orjson.dumps(
                {
                    "agreement": self.record["agreement"],
                    "source_signature": self.record["signatures"]["source"],
                    "recipient_signature": self.record["signatures"]["recipient"],
                }
            ).decode()
        )

    def public(self) -> dict[str, Any]:
        """What a node tells anyone who asks about the transfer (its counterpart included)."""
        return {
            "id": self.id,
            "role": self.role,
            "state": self.state,
            "resource": str(self.block),
            "counterpart": self.counterpart,
            "reasons": self.record.get("reasons", []),
            "recipient_cc": self.record.get("recipient_cc"),
            "policy": self.record.get("policy", {}),
            "log_seq": self.seq,
        }


_COLUMNS = "id, role, state, afi, start, end, counterpart, record, first_seq, seq"


def _state(row: tuple[Any, ...]) -> TransferState:
    afi = Afi(row[3])
    return TransferState(
        row[0],
        row[1],
        row[2],
        Resource(afi, unkey(row[4]), unkey(row[5])),
        row[6],
        orjson.loads(row[7]),
        row[8],
        row[9],
    )


def transfer_state(node: RegistryNode, transfer_id: str) -> TransferState | None:
    row = node.conn.execute(
        f"SELECT {_COLUMNS} FROM transfers WHERE id = ?", (transfer_id,)
    ).fetchone()
    return None if row is None else _state(row)


def transfers_in(node: RegistryNode, *states: str) -> list[TransferState]:
    marks = ",".join("?" * len(states))
    rows = node.conn.execute(
        f"SELECT {_COLUMNS} FROM transfers WHERE state IN ({marks}) ORDER BY first_seq", states
    ).fetchall()
    return [_state(r) for r in rows]


def all_transfers(node: RegistryNode) -> list[TransferState]:
    rows = node.conn.execute(f"SELECT {_COLUMNS} FROM transfers ORDER BY first_seq").fetchall()
    return [_state(r) for r in rows]


def _same_agreement(found: TransferState, signed: SignedAgreement) -> TransferState:
    if found.record["agreement"] != signed.agreement.fields():
        raise TransferRefused(
            [f"transfer id {found.id[:16]}... is already used by a different agreement: replay"]
        )
    return found


def authority_of(node: RegistryNode, block: Resource) -> str:
    """The registry IANA gave the block to: a cross-registry holding says so, else the node."""
    row = node.conn.execute(
        "SELECT authority FROM cross_holdings WHERE afi = ? AND start <= ? AND end >= ?",
        (block.afi.value, key(block.start), key(block.end)),
    ).fetchone()
    return node.registry.value if row is None else str(row[0])


# --- source side -------------------------------------------------------------------------------


@one_write
def initialize(
    node: RegistryNode,
    signed: SignedAgreement,
    policies: PolicySet,
    now: datetime,
    evidence: Mapping[str, object],
    recipient_key: KnownKey,
) -> TransferState:
    """sourceInitialized: every source-side check, then the block is locked for this transfer."""
    a = signed.agreement
    found = transfer_state(node, a.nonce)
    if found is not None:
        return _same_agreement(found, signed)
    reasons = check_fresh(node, signed, now)
    if a.source_registry != node.registry.value or a.recipient_registry == node.registry.value:
        reasons.append(
            f"an inter-registry transfer starts at its source registry ({a.source_registry}) "
            f"and ends at another; this node is {node.registry}"
        )
    if a.kind == RETURN:
        reasons.append("a return to the pool stays inside one registry")
    source_key = own_key(node, a.source_holder)
    reasons += check_signatures(signed, source_key, recipient_key)
    block_reasons, block, held = source_block(node, signed)
    reasons += block_reasons
    versions: dict[str, str] = {}
    if block is not None and held is not None and not reasons:
        failed, versions = policy_check(
            node, signed, block, received(held), policies, now, evidence, None
        )
        reasons += failed
    if reasons or block is None or held is None:
        raise TransferRefused(reasons)
    record = {
        **agreement_record(signed),
        "evidence": dict(evidence),
        "policy": versions,
        "original": block_range(held.resource),
        "registered": held.date,
        "source_cc": held.cc,
        "status": held.status,
        "authority": authority_of(node, block),
    }
    return _write(
        node,
        ev.TRANSFER_INITIALIZED,
        SOURCE_INITIALIZED,
        "source",
        block,
        a.recipient_registry,
        record,
        lock="set",
        first=True,
    )


@one_write
def finalize(node: RegistryNode, transfer_id: str, answer: Mapping[str, Any]) -> TransferState:
    """sourceFinalized: the recipient accepted; the block leaves this registry for good."""
    t = _expect(node, transfer_id, "source", SOURCE_INITIALIZED, SOURCE_FINALIZED)
    if t.state != SOURCE_INITIALIZED:
        return t
    held = node.overlapping(t.block)
    if len(held) != 1 or not held[0].resource.contains(t.block):
        raise OneregError(f"transfer {transfer_id[:16]}...: the locked block {t.block} is gone")
    changes = carve(held[0], t.block) + _cross_holding_changes(node, t.block)
    record = {
        **t.record,
        "recipient_cc": answer.get("recipient_cc") or "",
        "recipient_policy": answer.get("policy", {}),
    }
    return _write(
        node,
        ev.TRANSFER_FINALIZED,
        SOURCE_FINALIZED,
        "source",
        t.block,
        t.counterpart,
        record,
        changes=changes,
        lock="release",
    )


@one_write
def cancel(node: RegistryNode, transfer_id: str, reasons: list[str]) -> TransferState:
    """sourceCancelled: the recipient refused, or never answered before the agreement expired."""
    t = _expect(node, transfer_id, "source", SOURCE_INITIALIZED, SOURCE_CANCELLED)
    if t.state != SOURCE_INITIALIZED:
        return t
    return _write(
        node,
        ev.TRANSFER_CANCELLED,
        SOURCE_CANCELLED,
        "source",
        t.block,
        t.counterpart,
        {**t.record, "reasons": reasons},
        lock="release",
    )


def _cross_holding_changes(node: RegistryNode, block: Resource) -> list[tuple[str, ev.Payload]]:
    """A block the source held outside its own IANA space: its record shrinks to what is left."""
    rows = node.conn.execute(
        "SELECT range_text, authority, origin, evidence FROM cross_holdings "
        "WHERE afi = ? AND start <= ? AND end >= ?",
        (block.afi.value, key(block.end), key(block.start)),
    ).fetchall()
    changes: list[tuple[str, ev.Payload]] = []
    afi = block.afi
    for text, authority, origin, evidence in rows:
        start_text, _, end_text = text.partition("-")
        whole = Resource(afi, parse_number(afi, start_text), parse_number(afi, end_text))
        changes.append((ev.CROSS_HOLDING_CLEARED, {"afi": afi.value, "start": start_text}))
        for lo, hi in ((whole.start, block.start - 1), (block.end + 1, whole.end)):
            if lo <= hi and lo >= whole.start and hi <= whole.end:
                changes.append(
                    (
                        ev.CROSS_HOLDING_RECORDED,
                        {
                            "afi": afi.value,
                            "start": format_number(afi, lo),
                            "end": format_number(afi, hi),
                            "authority": authority,
                            "origin": origin,
                            "evidence": evidence,
                        },
                    )
                )
    return changes


# --- recipient side ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Offer:
    """What the source registry sends the recipient registry with `recipientAccept`."""

    signed: SignedAgreement
    evidence: Mapping[str, object]
    original: Mapping[str, str]
    registered: str
    source_cc: str
    status: str
    authority: str
    source_key_seq: int | None = None  # the key entries the source checked the signatures with
    recipient_key_seq: int | None = None


@one_write
def accept(
    node: RegistryNode,
    offer: Offer,
    policies: PolicySet,
    now: datetime,
    source_key: KnownKey,
) -> TransferState:
    """recipientAccepted (block reserved for the new holder) or recipientCancelled (reasons)."""
    signed = offer.signed
    a = signed.agreement
    found = transfer_state(node, a.nonce)
    if found is not None:
        return _same_agreement(found, signed)
    reasons, block, versions = _recipient_checks(node, offer, policies, now, source_key)
    if block is None:
        raise TransferRefused(reasons)  # no block, nothing to record a decision about
    record = {
        **agreement_record(signed),
        "evidence": dict(offer.evidence),
        "original": dict(offer.original),
        "registered": offer.registered,
        "source_cc": offer.source_cc,
        "status": offer.status,
        "authority": offer.authority,
        "recipient_cc": holder_cc(node, a.recipient_holder, offer.source_cc),
        "policy": versions,
    }
    if reasons:
        return _write(
            node,
            ev.TRANSFER_DECLINED,
            RECIPIENT_CANCELLED,
            "recipient",
            block,
            a.source_registry,
            {**record, "reasons": reasons},
            first=True,
        )
    return _write(
        node,
        ev.TRANSFER_ACCEPTED,
        RECIPIENT_ACCEPTED,
        "recipient",
        block,
        a.source_registry,
        record,
        lock="set",
        first=True,
    )


def _recipient_checks(
    node: RegistryNode,
    offer: Offer,
    policies: PolicySet,
    now: datetime,
    source_key: KnownKey,
) -> tuple[list[str], Resource | None, dict[str, str]]:
    signed = offer.signed
    a = signed.agreement
    reasons, block = parse_block(signed)
    versions: dict[str, str] = {}
    if block is None:
        return reasons, None, versions
    reasons += check_fresh(node, signed, now)
    if a.recipient_registry != node.registry.value or a.source_registry == node.registry.value:
        reasons.append(f"this node ({node.registry}) is not the recipient registry of {block}")
    recipient_key = own_key(node, a.recipient_holder)
    reasons += check_signatures(signed, source_key, recipient_key)
    if offer.recipient_key_seq is not None and recipient_key.seq != offer.recipient_key_seq:
        reasons.append(
            f"the key of {a.recipient_holder!r} in the {node.registry} log changed (entry "
            f"{recipient_key.seq}) after the source registry checked it (entry "
            f"{offer.recipient_key_seq})"
        )
    if node.holder(a.recipient_holder) is None:
        reasons.append(f"{node.registry} has no holder {a.recipient_holder!r}")
    clash = node.overlapping(block)
    if clash:
        reasons.append(f"{block} overlaps {clash[0].describe()} at {node.registry}")
    reasons += check_unlocked(node, block)
    if not reasons:
        failed, versions = policy_check(
            node,
            signed,
            block,
            received_from(offer),
            policies,
            now,
            offer.evidence,
            node.holds_any(a.recipient_holder),
        )
        reasons += failed
    return reasons, block, versions


def received_from(offer: Offer) -> Receipt:
    """When the source holder got the block, as the source registry reported it."""
    try:
        when = datetime.strptime(offer.registered, "%Y%m%d").date()
    except ValueError:
        return Receipt(EventKind.LEGACY, date(1970, 1, 1))
    return Receipt(EventKind.ALLOCATION, when)


@one_write
def register(node: RegistryNode, transfer_id: str, now: datetime) -> TransferState:
    """The source finalized: the reserved block is delegated to the new holder."""
    t = _expect(node, transfer_id, "recipient", RECIPIENT_ACCEPTED, SOURCE_FINALIZED)
    if t.state != RECIPIENT_ACCEPTED:
        return t
    a = t.signed().agreement
    clash = node.overlapping(t.block)
    if clash:
        raise OneregError(
            f"transfer {transfer_id[:16]}...: {t.block} overlaps {clash[0].describe()}"
        )
    template = {
        "afi": t.block.afi.value,
        "cc": "",
        "date": "",
        "status": t.record.get("status", "allocated"),
        "holder": None,
        "opaque": None,
        "ext": [],
    }
    changes = granted(
        t.block, template, a.recipient_holder, t.record["recipient_cc"], now.date(), t.id, a.kind
    )
    if t.record["authority"] != node.registry.value:
        changes.append(
            (
                ev.CROSS_HOLDING_RECORDED,
                {
                    **block_range(t.block),
                    "authority": t.record["authority"],
                    "origin": "inter-rir",
                    "evidence": f"onereg transfer {t.id} from {a.source_registry}",
                },
            )
        )
    return _write(
        node,
        ev.TRANSFER_REGISTERED,
        SOURCE_FINALIZED,
        "recipient",
        t.block,
        t.counterpart,
        t.record,
        changes=changes,
        lock="release",
    )


@one_write
def abort(node: RegistryNode, transfer_id: str, reason: str) -> TransferState:
    """The source cancelled (or never started) the transfer: the reservation is released."""
    t = _expect(node, transfer_id, "recipient", RECIPIENT_ACCEPTED, SOURCE_CANCELLED)
    if t.state != RECIPIENT_ACCEPTED:
        return t
    return _write(
        node,
        ev.TRANSFER_ABORTED,
        SOURCE_CANCELLED,
        "recipient",
        t.block,
        t.counterpart,
        {**t.record, "reasons": [reason]},
        lock="release",
    )


# --- shared ------------------------------------------------------------------------------------


def _expect(
    node: RegistryNode, transfer_id: str, role: str, before: str, after: str
) -> TransferState:
    """The transfer, in state `before` (to act) or already `after` (nothing to do)."""
    t = transfer_state(node, transfer_id)
    if t is None or t.role != role:
        raise OneregError(f"{node.registry} has no {role} side of transfer {transfer_id[:16]}...")
    if t.state not in (before, after):
        raise OneregError(
            f"transfer {transfer_id[:16]}... is {t.state} at {node.registry}, not {before}"
        )
    return t


def _write(
    node: RegistryNode,
    kind: str,
    state: str,
    role: str,
    block: Resource,
    counterpart: str,
    record: Mapping[str, Any],
    **extra: Any,
) -> TransferState:
    transfer_id = record["agreement"]["nonce"]
    item = transfer_item(
        kind,
        transfer_id=transfer_id,
        role=role,
        state=state,
        block=block,
        counterpart=counterpart,
        record=record,
        **extra,
    )
    node.append([item])
    found = transfer_state(node, transfer_id)
    assert found is not None
    return found
