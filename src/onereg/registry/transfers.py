"""Transfers inside one registry, and the checks every transfer runs (also between registries).

The command checks everything first and writes nothing unless all checks pass: the agreement is
well formed, unexpired and not executed before (its nonce), both holders signed it with the keys
their registries' logs hold for them, the source holds the whole block in one delegation that no
other transfer has locked, and the transfer policy in force allows it. Every failing check is
reported, not just the first. The entry records the agreement, both signatures, the policy
versions that decided, and the delegation changes (a partial transfer splits the delegation).

A return gives a block back to the registry's pool: only the holder signs it, no transfer policy
applies, and the block goes into quarantine (`reserved`) as the RIRs do with returned space.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import orjson

from onereg.core.errors import OneregError, ResourceParseError, SignatureError
from onereg.core.registries import RegistryId, Status
from onereg.core.resources import Afi, Resource, format_number, range_to_cidrs
from onereg.ledger.agreement import SignedAgreement, check_signature
from onereg.ledger.entry import LogEntry
from onereg.registry import events as ev
from onereg.registry.node import Delegation, RegistryNode, batch_tail, one_write
from onereg.registry.schema import key
from onereg.registry.transfer_policy import (
    EventKind,
    PolicySet,
    Receipt,
    TransferKind,
    TransferRequest,
    evaluate,
)

HELD = (Status.ALLOCATED.value, Status.ASSIGNED.value)
RETURN = "return"

# NRO transfer states (REFERENCE.md section 1.7); `transfers.state` holds one of them.
SOURCE_INITIALIZED = "sourceInitialized"
RECIPIENT_ACCEPTED = "recipientAccepted"
RECIPIENT_CANCELLED = "recipientCancelled"
SOURCE_FINALIZED = "sourceFinalized"
SOURCE_CANCELLED = "sourceCancelled"
FINAL_STATES = frozenset({SOURCE_FINALIZED, SOURCE_CANCELLED, RECIPIENT_CANCELLED})


class TransferRefused(OneregError):
    """A transfer was not executed; `reasons` lists every check that failed."""

    def __init__(self, reasons: Sequence[str]) -> None:
        super().__init__("transfer refused: " + "; ".join(reasons))
        self.reasons = list(reasons)


@one_write
def register_holder_key(node: RegistryNode, handle: str, public_key: bytes) -> LogEntry:
    """Record a holder's Ed25519 public key in the registry's log (the only place it is read)."""
    if node.holder(handle) is None:
        raise OneregError(f"{node.registry} has no holder {handle!r}")
    if len(public_key) != 32:
        raise OneregError(f"an Ed25519 public key has 32 bytes, not {len(public_key)}")
    key_text = base64.b64encode(public_key).decode()
    return node.append([(ev.HOLDER_KEY, {"handle": handle, "key": key_text})])[0]


def holder_key(
    node: RegistryNode, handle: str, before: int | None = None
) -> tuple[bytes, int] | None:
    """The holder's key and the log entry that recorded it: the key now, or with `before`
    the key in force when entry `before` was written (the last key entry below it), which is
    the key a signature checked at that entry was checked with, whatever the holder rotated
    to since."""
    row = node.conn.execute(
        "SELECT key, seq FROM holder_keys WHERE handle = ?", (handle,)
    ).fetchone()
    if row is None:
        return None  # keys are never removed: no key now, no key ever
    if before is None or int(row[1]) < before:
        return base64.b64decode(row[0]), int(row[1])
    return _logged_key_before(node, handle, before)


_KEY_BATCH_TAIL = batch_tail(ev.HOLDER_KEY)


def _logged_key_before(node: RegistryNode, handle: str, before: int) -> tuple[bytes, int] | None:
    """The holder's last key entry below `before`, read from the log itself: the projection
    keeps only the newest key. Walks back one key entry at a time from `before` and stops at
    the first naming the holder, so a key registered after the registry's bulk imports costs a
    few rows (one row per query: a cursor left open would read ahead through every batch)."""
    while True:
        row = node.conn.execute(
            "SELECT seq, kind, payload FROM log WHERE seq < ? AND (kind = ? OR "
            "(kind = ? AND substr(payload, -?) = ?)) ORDER BY seq DESC LIMIT 1",
            (before, ev.HOLDER_KEY, ev.BATCH, len(_KEY_BATCH_TAIL), _KEY_BATCH_TAIL),
        ).fetchone()
        if row is None:
            return None
        before, kind, payload = int(row[0]), row[1], row[2]
        entry = orjson.loads(payload)
        items = entry["items"] if kind == ev.BATCH else [entry]
        for item in reversed(items):  # in a batch the last item for the holder wins
            if item["handle"] == handle:
                return base64.b64decode(item["key"]), before


@dataclass(frozen=True, slots=True)
class KnownKey:
    """A holder's key as read from a registry's log (`where` names that log for messages;
    `seq` is the log entry that recorded the key)."""

    key: bytes | None
    where: str
    seq: int | None = None


def own_key(node: RegistryNode, handle: str) -> KnownKey:
    found = holder_key(node, handle)
    where = f"the {node.registry} log"
    return KnownKey(None, where) if found is None else KnownKey(found[0], where, found[1])


def check_signatures(signed: SignedAgreement, source: KnownKey, recipient: KnownKey) -> list[str]:
    a = signed.agreement
    parties = [("source holder", a.source_holder, signed.source_signature, source)]
    if a.kind != RETURN:
        parties.append(
            ("recipient holder", a.recipient_holder, signed.recipient_signature, recipient)
        )
    reasons = []
    for who, handle, signature, known in parties:
        if known.key is None:
            reasons.append(f"the {who} {handle!r} has no key in {known.where}")
            continue
        if not signature:  # an unsigned slot is not a bad signature: say what to do
            role = who.split()[0]
            reasons.append(
                f"the {who} {handle!r} has not signed the agreement yet "
                f"(onereg agreement sign FILE --key KEY --as {role})"
            )
            continue
        try:
            check_signature(a, signature, known.key, f"{who} {handle!r}")
        except SignatureError as exc:
            reasons.append(str(exc))
    return reasons


def check_fresh(node: RegistryNode, signed: SignedAgreement, now: datetime) -> list[str]:
    """Well formed, unexpired, and never executed at this node (its nonce is unused)."""
    a = signed.agreement
    reasons = list(a.problems())
    if not reasons and a.expiry() <= now:
        reasons.append(f"the agreement expired at {a.expires}")
    used = node.conn.execute(
        "SELECT u.seq, l.time FROM used_nonces u LEFT JOIN log l ON l.seq = u.seq "
        "WHERE u.nonce = ?",
        (a.nonce,),
    ).fetchone()
    if used:
        reasons.append(
            f"the agreement (nonce {a.nonce[:16]}...) was already executed at {used[1]} "
            f"(log entry {used[0]}): a replay"
        )
    return reasons


def check_unlocked(node: RegistryNode, resource: Resource) -> list[str]:
    """A block that another transfer has locked (or reserved) cannot move or change."""
    rows = node.conn.execute(
        "SELECT l.transfer, t.state FROM locks l JOIN transfers t ON t.id = l.transfer "
        "WHERE l.afi = ? AND l.start <= ? AND l.end >= ?",
        (resource.afi.value, key(resource.end), key(resource.start)),
    ).fetchall()
    return [f"{resource} overlaps a block locked by transfer {t[:16]}... ({s})" for t, s in rows]


def parse_block(signed: SignedAgreement) -> tuple[list[str], Resource | None]:
    try:
        return [], Resource.parse(signed.agreement.resource)
    except ResourceParseError as exc:
        return [str(exc)], None


def source_block(
    node: RegistryNode, signed: SignedAgreement
) -> tuple[list[str], Resource | None, Delegation | None]:
    """The one delegation of the source holder that contains the block, unlocked."""
    a = signed.agreement
    reasons, resource = parse_block(signed)
    if resource is None:
        return reasons, None, None
    found = node.overlapping(resource)
    if len(found) != 1 or not found[0].resource.contains(resource):
        return [f"{resource} is not within one delegation of {node.registry}"], resource, None
    held = found[0]
    if held.holder != a.source_holder or held.status not in HELD:
        who = held.holder or "the registry pool"
        return [f"{resource} is held by {who}, not by {a.source_holder!r}"], resource, None
    locked = check_unlocked(node, resource)
    return locked, resource, None if locked else held


def received(held: Delegation) -> Receipt:
    """How the holder got the delegation: a transfer records it in the delegation's attrs."""
    try:
        when = datetime.strptime(held.date, "%Y%m%d").date()
    except ValueError:
        return Receipt(EventKind.LEGACY, date(1970, 1, 1))
    how = (held.attrs or {}).get("received_by")
    kind = EventKind(how) if how in ("transfer", "merger") else EventKind.ALLOCATION
    return Receipt(kind, when)


def policy_check(
    node: RegistryNode,
    signed: SignedAgreement,
    resource: Resource,
    held_date: Receipt,
    policies: PolicySet,
    now: datetime,
    evidence: Mapping[str, object],
    recipient_is_holder: bool | None,
) -> tuple[list[str], dict[str, str]]:
    """The transfer judged by every registry's published policy.

    `recipient_is_holder` is None when this node cannot know it (the source of an
    inter-registry transfer): then only failures that hold either way are reported, and the
    recipient's registry, which does know, judges again. Recorded versions are this registry's.
    """
    a = signed.agreement

    def failures(is_holder: bool) -> tuple[list[str], dict[str, str]]:
        request = TransferRequest(
            resource=resource,
            source=RegistryId(a.source_registry),
            recipient=RegistryId(a.recipient_registry),
            on=now.date(),
            received=held_date,
            kind=TransferKind(a.kind),
            evidence=evidence,
            recipient_is_holder=is_holder,
        )
        decision = evaluate(request, policies)
        versions = {str(k): v for k, v in decision.versions.items() if k is node.registry}
        return [str(f) for f in decision.failures], versions

    if recipient_is_holder is not None:
        return failures(recipient_is_holder)
    (as_holder, versions), (as_newcomer, _) = failures(True), failures(False)
    return [r for r in as_holder if r in as_newcomer], versions


def pieces(afi: Afi, lo: int, hi: int, template: ev.Payload) -> list[ev.Payload]:
    """Delegation payloads covering lo..hi (IPv6 delegations are CIDR blocks)."""
    if afi is Afi.IPV6:
        spans = [(net, net + (1 << (128 - plen)) - 1) for net, plen in range_to_cidrs(lo, hi, 128)]
    else:
        spans = [(lo, hi)]
    out = []
    for start, end in spans:
        value = (128 - (end - start + 1).bit_length() + 1) if afi is Afi.IPV6 else end - start + 1
        out.append({**template, "start": format_number(afi, start), "value": value})
    return out


def delegation_payload(held: Delegation) -> ev.Payload:
    payload: ev.Payload = {
        "afi": held.resource.afi.value,
        "cc": held.cc,
        "date": held.date,
        "status": held.status,
        "holder": held.holder,
        "opaque": held.opaque,
        "ext": [],
    }
    if held.attrs:
        payload["attrs"] = held.attrs
    return payload


def carve(held: Delegation, block: Resource) -> list[tuple[str, ev.Payload]]:
    """Remove `block` from the delegation: the delegation goes, what is left of it comes back."""
    afi = block.afi
    kept = delegation_payload(held)
    changes: list[tuple[str, ev.Payload]] = [
        (ev.DELEGATION_REMOVED, {"afi": afi.value, "start": held.start_text, "value": held.value})
    ]
    whole = held.resource
    if whole.start < block.start:
        changes += [
            (ev.DELEGATION_ADDED, p) for p in pieces(afi, whole.start, block.start - 1, kept)
        ]
    if block.end < whole.end:
        changes += [(ev.DELEGATION_ADDED, p) for p in pieces(afi, block.end + 1, whole.end, kept)]
    return changes


def granted(
    block: Resource,
    template: ev.Payload,
    holder: str,
    cc: str,
    on: date,
    transfer_id: str,
    how: str,
) -> list[tuple[str, ev.Payload]]:
    """The block delegated to its new holder, remembering it came by transfer (holding periods)."""
    moved = {
        **template,
        "cc": cc,
        "date": on.strftime("%Y%m%d"),
        "holder": holder,
        "opaque": holder,
        "attrs": {"received_by": how, "transfer": transfer_id},
    }
    return [(ev.DELEGATION_ADDED, p) for p in pieces(block.afi, block.start, block.end, moved)]


def block_range(block: Resource) -> dict[str, str]:
    return {
        "afi": block.afi.value,
        "start": format_number(block.afi, block.start),
        "end": format_number(block.afi, block.end),
    }


def transfer_item(
    kind: str,
    *,
    transfer_id: str,
    role: str,
    state: str,
    block: Resource,
    counterpart: str,
    record: Mapping[str, Any],
    changes: Sequence[tuple[str, ev.Payload]] = (),
    lock: str | None = None,
    first: bool = False,
) -> ev.Item:
    """A transfer log entry: it carries its own projection (see `projection._expand_transfer`)."""
    payload: ev.Payload = {
        "id": transfer_id,
        "role": role,
        "state": state,
        "range": block_range(block),
        "counterpart": counterpart,
        "record": dict(record),
    }
    if changes:
        payload["changes"] = [[k, p] for k, p in changes]
    if lock:
        payload["lock"] = lock
    if first:
        payload["first"] = True
    return kind, payload


def agreement_record(signed: SignedAgreement) -> dict[str, Any]:
    return {
        "agreement": signed.agreement.fields(),
        "signatures": {
            "source": base64.b64encode(signed.source_signature).decode(),
            "recipient": base64.b64encode(signed.recipient_signature).decode(),
        },
    }


def holder_cc(node: RegistryNode, handle: str, default: str) -> str:
    info = node.holder(handle)
    return str(info["cc"]) if info and info["cc"] else default


def _within_checks(
    node: RegistryNode,
    signed: SignedAgreement,
    policies: PolicySet,
    now: datetime,
    evidence: Mapping[str, object],
) -> tuple[list[str], Resource | None, Delegation | None, dict[str, str]]:
    a = signed.agreement
    reasons = check_fresh(node, signed, now)
    if a.source_registry != node.registry.value or a.recipient_registry != node.registry.value:
        reasons.append(
            f"both holders must be at {node.registry} for a transfer inside it "
            "(between registries the transfer protocol applies)"
        )
    reasons += check_signatures(
        signed, own_key(node, a.source_holder), own_key(node, a.recipient_holder)
    )
    if a.kind != RETURN and node.holder(a.recipient_holder) is None:
        reasons.append(f"{node.registry} has no holder {a.recipient_holder!r}")
    block_reasons, resource, held = source_block(node, signed)
    reasons += block_reasons
    versions: dict[str, str] = {}
    if resource is not None and held is not None and a.kind != RETURN:
        failed, versions = policy_check(
            node,
            signed,
            resource,
            received(held),
            policies,
            now,
            evidence,
            node.holds_any(a.recipient_holder),
        )
        reasons += failed
    return reasons, resource, held, versions


@one_write
def transfer_within(
    node: RegistryNode,
    signed: SignedAgreement,
    policies: PolicySet,
    now: datetime,
    evidence: Mapping[str, object] | None = None,
) -> LogEntry:
    """Execute an intra-registry transfer (or a return) as one log entry, or raise
    TransferRefused listing every failed check."""
    facts = dict(evidence or {})
    reasons, block, held, versions = _within_checks(node, signed, policies, now, facts)
    if reasons or block is None or held is None:
        raise TransferRefused(reasons)
    a = signed.agreement
    changes = carve(held, block)
    template = delegation_payload(held)
    if a.kind == RETURN:
        pool = {**template, "status": Status.RESERVED.value, "holder": None, "opaque": None}
        pool["date"] = now.strftime("%Y%m%d")
        pool.pop("attrs", None)
        changes += [
            (ev.DELEGATION_ADDED, p) for p in pieces(block.afi, block.start, block.end, pool)
        ]
    else:
        cc = holder_cc(node, a.recipient_holder, held.cc)
        changes += granted(block, template, a.recipient_holder, cc, now.date(), a.nonce, a.kind)
    record = {
        **agreement_record(signed),
        "policy": versions,
        "evidence": facts,
        "original": block_range(held.resource),
        "source_cc": held.cc,
        "recipient_cc": holder_cc(node, a.recipient_holder, held.cc),
        "registered": held.date,
    }
    item = transfer_item(
        ev.TRANSFER_COMPLETED,
        transfer_id=a.nonce,
        role="intra",
        state=SOURCE_FINALIZED,
        block=block,
        counterpart=node.registry.value,
        record=record,
        changes=changes,
        first=True,
    )
    return node.append([item])[0]
