"""Transfers inside one registry: a block moves between two of its holders in one log entry.

The command checks everything first and writes nothing unless all checks pass: the agreement is
well formed, unexpired and not executed before (its nonce), both holders signed it with the keys
their registry's log holds for them, the source holds the whole block in one delegation, and the
registry's transfer policy in force allows it. Every failing check is reported, not just the
first. The entry records the agreement, both signatures, the policy versions that decided, and
the delegation changes (a partial transfer splits the source's delegation).
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime

from onereg.core.errors import OneregError, ResourceParseError, SignatureError
from onereg.core.registries import Status
from onereg.core.resources import Afi, Resource, format_number, range_to_cidrs
from onereg.ledger.agreement import SignedAgreement, check_signature
from onereg.ledger.entry import LogEntry
from onereg.registry import events as ev
from onereg.registry.node import Delegation, RegistryNode
from onereg.registry.transfer_policy import (
    EventKind,
    PolicySet,
    Receipt,
    TransferKind,
    TransferRequest,
    evaluate,
)

_HELD = (Status.ALLOCATED.value, Status.ASSIGNED.value)


class TransferRefused(OneregError):
    """A transfer was not executed; `reasons` lists every check that failed."""

    def __init__(self, reasons: list[str]) -> None:
        super().__init__("transfer refused: " + "; ".join(reasons))
        self.reasons = reasons


def register_holder_key(node: RegistryNode, handle: str, public_key: bytes) -> LogEntry:
    """Record a holder's Ed25519 public key in the registry's log (the only place it is read)."""
    if node.holder(handle) is None:
        raise OneregError(f"{node.registry} has no holder {handle!r}")
    if len(public_key) != 32:
        raise OneregError(f"an Ed25519 public key has 32 bytes, not {len(public_key)}")
    key = base64.b64encode(public_key).decode()
    return node.append([(ev.HOLDER_KEY, {"handle": handle, "key": key})])[0]


def holder_key(node: RegistryNode, handle: str) -> bytes | None:
    row = node.conn.execute("SELECT key FROM holder_keys WHERE handle = ?", (handle,)).fetchone()
    return None if row is None else base64.b64decode(row[0])


@dataclass(frozen=True, slots=True)
class Checked:
    resource: Resource
    delegation: Delegation
    versions: dict[str, str]


def _signatures(node: RegistryNode, signed: SignedAgreement) -> list[str]:
    reasons = []
    a = signed.agreement
    for who, handle, signature in (
        ("source holder", a.source_holder, signed.source_signature),
        ("recipient holder", a.recipient_holder, signed.recipient_signature),
    ):
        key = holder_key(node, handle)
        if key is None:
            reasons.append(f"the {who} {handle!r} has no key in the {node.registry} log")
            continue
        try:
            check_signature(a, signature, key, f"{who} {handle!r}")
        except SignatureError as exc:
            reasons.append(str(exc))
    return reasons


def _freshness(node: RegistryNode, signed: SignedAgreement, now: datetime) -> list[str]:
    a = signed.agreement
    reasons = list(a.problems())
    if not reasons and a.expiry() <= now:
        reasons.append(f"the agreement expired at {a.expires}")
    if node.conn.execute("SELECT seq FROM used_nonces WHERE nonce = ?", (a.nonce,)).fetchone():
        reasons.append(f"the agreement (nonce {a.nonce[:16]}...) was executed before: replay")
    if a.source_registry != node.registry.value or a.recipient_registry != node.registry.value:
        reasons.append(
            f"both holders must be at {node.registry} for a transfer inside it "
            "(between registries the transfer protocol applies)"
        )
    return reasons


def _source_block(
    node: RegistryNode, signed: SignedAgreement
) -> tuple[list[str], Resource | None, Delegation | None]:
    a = signed.agreement
    try:
        resource = Resource.parse(a.resource)
    except ResourceParseError as exc:
        return [str(exc)], None, None
    found = node.overlapping(resource)
    if len(found) != 1 or not found[0].resource.contains(resource):
        return [f"{resource} is not within one delegation of {node.registry}"], resource, None
    held = found[0]
    if held.holder != a.source_holder or held.status not in _HELD:
        who = held.holder or "the registry pool"
        return [f"{resource} is held by {who}, not by {a.source_holder!r}"], resource, None
    return [], resource, held


def _received(held: Delegation) -> Receipt:
    try:
        when = datetime.strptime(held.date, "%Y%m%d").date()
    except ValueError:
        return Receipt(EventKind.LEGACY, date(1970, 1, 1))
    return Receipt(EventKind.ALLOCATION, when)


def check_transfer(
    node: RegistryNode,
    signed: SignedAgreement,
    policies: PolicySet,
    now: datetime,
    evidence: Mapping[str, object],
) -> Checked:
    """Every check, all of them run; raises TransferRefused listing each failure."""
    reasons = _freshness(node, signed, now) + _signatures(node, signed)
    block_reasons, resource, held = _source_block(node, signed)
    reasons += block_reasons
    versions: dict[str, str] = {}
    if resource is not None and held is not None:
        request = TransferRequest(
            resource=resource,
            source=node.registry,
            recipient=node.registry,
            on=now.date(),
            received=_received(held),
            kind=TransferKind(signed.agreement.kind),
            evidence=evidence,
            recipient_is_holder=bool(node.holder_resources(signed.agreement.recipient_holder)),
        )
        decision = evaluate(request, policies)
        reasons += [str(f) for f in decision.failures]
        versions = {str(k): v for k, v in decision.versions.items()}
    if reasons or resource is None or held is None:
        raise TransferRefused(reasons)
    return Checked(resource, held, versions)


def _pieces(afi: Afi, lo: int, hi: int, template: ev.Payload) -> list[ev.Payload]:
    if afi is Afi.IPV6:
        spans = [(net, net + (1 << (128 - plen)) - 1) for net, plen in range_to_cidrs(lo, hi, 128)]
    else:
        spans = [(lo, hi)]
    out = []
    for start, end in spans:
        value = (128 - (end - start + 1).bit_length() + 1) if afi is Afi.IPV6 else end - start + 1
        out.append({**template, "start": format_number(afi, start), "value": value})
    return out


def _changes(
    checked: Checked, recipient: str, recipient_cc: str, on: date
) -> list[tuple[str, ev.Payload]]:
    held, res = checked.delegation, checked.resource
    afi = res.afi
    source_part: ev.Payload = {
        "afi": afi.value,
        "cc": held.cc,
        "date": held.date,
        "status": held.status,
        "holder": held.holder,
        "opaque": held.opaque,
        "ext": [],
    }
    moved = {
        **source_part,
        "cc": recipient_cc,
        "date": on.strftime("%Y%m%d"),
        "holder": recipient,
        "opaque": recipient,
    }
    changes: list[tuple[str, ev.Payload]] = [
        (ev.DELEGATION_REMOVED, {"afi": afi.value, "start": held.start_text, "value": held.value})
    ]
    whole = held.resource
    if whole.start < res.start:
        changes += [
            (ev.DELEGATION_ADDED, p) for p in _pieces(afi, whole.start, res.start - 1, source_part)
        ]
    changes += [(ev.DELEGATION_ADDED, p) for p in _pieces(afi, res.start, res.end, moved)]
    if res.end < whole.end:
        changes += [
            (ev.DELEGATION_ADDED, p) for p in _pieces(afi, res.end + 1, whole.end, source_part)
        ]
    return changes


def transfer_within(
    node: RegistryNode,
    signed: SignedAgreement,
    policies: PolicySet,
    now: datetime,
    evidence: Mapping[str, object] | None = None,
) -> LogEntry:
    """Execute an intra-registry transfer as one log entry, or raise TransferRefused."""
    checked = check_transfer(node, signed, policies, now, evidence or {})
    recipient = signed.agreement.recipient_holder
    info = node.holder(recipient)
    cc = str(info["cc"]) if info else checked.delegation.cc
    payload = {
        "agreement": signed.agreement.fields(),
        "signatures": {
            "source": base64.b64encode(signed.source_signature).decode(),
            "recipient": base64.b64encode(signed.recipient_signature).decode(),
        },
        "policy": checked.versions,
        "changes": [[k, p] for k, p in _changes(checked, recipient, cc, now.date())],
    }
    return node.append([(ev.TRANSFER_COMPLETED, payload)])[0]
