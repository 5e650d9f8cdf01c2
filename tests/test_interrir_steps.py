"""The inter-registry steps at each node (registry layer, no network): every bad input is
refused with its reasons and leaves both nodes exactly as they were; every step is idempotent."""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from localfed import EVIDENCE
from onereg.core.errors import OneregError
from onereg.core.registries import RegistryId
from onereg.core.resources import Resource
from onereg.ledger.agreement import Agreement, SignedAgreement, sign_agreement
from onereg.registry import events as ev
from onereg.registry import interrir
from onereg.registry.interrir import Offer
from onereg.registry.node import RegistryNode
from onereg.registry.transfer_policy import PolicySet, default_policy_dir
from onereg.registry.transfers import (
    KnownKey,
    TransferRefused,
    own_key,
    register_holder_key,
    transfer_within,
)

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


class Pair:
    """A RIPE NCC node (source) and an ARIN node (recipient), with holders and keys."""

    def __init__(self, tmp: Path) -> None:
        self.policies = PolicySet.load(default_policy_dir())
        self.keys: dict[str, Ed25519PrivateKey] = {}
        self.ripe = self._node(tmp, RegistryId.RIPENCC, ["R1", "R2"], "NL")
        self.arin = self._node(tmp, RegistryId.ARIN, ["A1"], "US")
        for payload in (
            _row("ipv4", "193.0.0.0", 65536, "R1", "20100101"),
            _row("ipv4", "195.0.0.0", 256, "R1", "20260101"),  # inside RIPE's 24 months
            _row("ipv6", "2001:db8::", 32, "R1", "20100101"),
            _row("asn", "3333", 1, "R2", "20100101"),
        ):
            self.ripe.add_delegation(payload)
        self.arin.add_delegation(_row("ipv4", "23.0.0.0", 65536, "A1", "20100101"))

    def _node(self, tmp: Path, rid: RegistryId, holders: list[str], cc: str) -> RegistryNode:
        node = RegistryNode.open(rid, tmp / f"{rid.value}.sqlite")
        node.append([(ev.HOLDER_REGISTERED, {"handle": h, "name": "", "cc": cc}) for h in holders])
        for handle in holders:
            self.keys[handle] = Ed25519PrivateKey.generate()
            register_holder_key(node, handle, self.keys[handle].public_key().public_bytes_raw())
        return node

    def signed(
        self, resource: str, source: str = "R1", recipient: str = "A1", **change: str
    ) -> SignedAgreement:
        fields = {
            "resource": resource,
            "source_registry": "ripencc",
            "source_holder": source,
            "recipient_registry": "arin",
            "recipient_holder": recipient,
            "kind": "transfer",
            "nonce": os.urandom(16).hex(),
            "expires": (NOW + timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        a = Agreement(**{**fields, **change})
        signer = self.keys.get(source, Ed25519PrivateKey.generate())
        taker = self.keys.get(recipient, Ed25519PrivateKey.generate())
        return SignedAgreement(a, sign_agreement(a, signer), sign_agreement(a, taker))

    def initialize(self, signed: SignedAgreement) -> interrir.TransferState:
        recipient_key = own_key(self.arin, signed.agreement.recipient_holder)
        return interrir.initialize(self.ripe, signed, self.policies, NOW, EVIDENCE, recipient_key)

    def offer(self, t: interrir.TransferState) -> Offer:
        r = t.record
        return Offer(
            t.signed(),
            r["evidence"],
            r["original"],
            r["registered"],
            r["source_cc"],
            r["status"],
            r["authority"],
        )

    def accept(self, t: interrir.TransferState) -> interrir.TransferState:
        source_key = own_key(self.ripe, t.signed().agreement.source_holder)
        return interrir.accept(self.arin, self.offer(t), self.policies, NOW, source_key)

    def snapshot(self) -> tuple[object, ...]:
        return (
            self.ripe.head(),
            self.ripe.state_digest(),
            self.arin.head(),
            self.arin.state_digest(),
        )


def _row(afi: str, start: str, value: int, holder: str, date: str) -> ev.Payload:
    cc = "US" if holder.startswith("A") else "NL"
    return {
        "afi": afi,
        "start": start,
        "value": value,
        "cc": cc,
        "date": date,
        "status": "allocated",
        "holder": holder,
        "opaque": holder,
        "ext": [],
    }


@pytest.fixture
def pair(tmp_path: Path) -> Pair:
    return Pair(tmp_path)


def _holders(node: RegistryNode, text: str) -> list[str | None]:
    return [d.holder for d in node.overlapping(Resource.parse(text))]


def test_the_happy_path_runs_through_the_nro_states(pair: Pair) -> None:
    t = pair.initialize(pair.signed("193.0.1.0/24"))
    assert t.state == "sourceInitialized"
    assert _holders(pair.ripe, "193.0.1.0/24") == ["R1"]  # still the source's, but locked
    answer = pair.accept(t)
    assert answer.state == "recipientAccepted" and "arin" in answer.record["policy"]
    assert _holders(pair.arin, "193.0.1.0/24") == []  # reserved, not yet delegated
    done = interrir.finalize(pair.ripe, t.id, answer.public())
    assert done.state == "sourceFinalized"
    assert _holders(pair.ripe, "193.0.0.0/16") == ["R1", "R1"]  # split around the hole
    assert _holders(pair.ripe, "193.0.1.0/24") == []
    registered = interrir.register(pair.arin, t.id, NOW)
    assert registered.state == "sourceFinalized"
    [moved] = pair.arin.overlapping(Resource.parse("193.0.1.0/24"))
    assert moved.holder == "A1" and moved.attrs and moved.attrs["received_by"] == "transfer"
    cross = pair.arin.conn.execute("SELECT authority, origin FROM cross_holdings").fetchall()
    assert cross == [("ripencc", "inter-rir")]
    assert pair.arin.conn.execute("SELECT count(*) FROM locks").fetchone()[0] == 0
    assert pair.ripe.conn.execute("SELECT count(*) FROM locks").fetchone()[0] == 0


def test_every_step_is_idempotent(pair: Pair) -> None:
    signed = pair.signed("193.0.1.0/24")
    t = pair.initialize(signed)
    size = pair.ripe.head()[0]
    assert pair.initialize(signed).seq == t.seq and pair.ripe.head()[0] == size
    answer = pair.accept(t)
    arin_size = pair.arin.head()[0]
    assert pair.accept(t).seq == answer.seq and pair.arin.head()[0] == arin_size
    interrir.finalize(pair.ripe, t.id, answer.public())
    size = pair.ripe.head()[0]
    interrir.finalize(pair.ripe, t.id, answer.public())
    assert pair.ripe.head()[0] == size
    interrir.register(pair.arin, t.id, NOW)
    arin_size = pair.arin.head()[0]
    interrir.register(pair.arin, t.id, NOW)
    assert pair.arin.head()[0] == arin_size
    with pytest.raises(OneregError, match="sourceFinalized"):
        interrir.cancel(pair.ripe, t.id, ["too late"])


def test_a_locked_block_cannot_move_split_or_be_transferred_again(pair: Pair) -> None:
    pair.initialize(pair.signed("193.0.1.0/24"))
    before = pair.snapshot()
    for competing in ("193.0.1.0/24", "193.0.1.128/25", "193.0.0.0/16"):
        with pytest.raises(TransferRefused, match="locked by transfer"):
            pair.initialize(pair.signed(competing))
    intra = pair.signed("193.0.1.0/25", recipient="R2", recipient_registry="ripencc")
    with pytest.raises(TransferRefused, match="locked by transfer"):
        transfer_within(pair.ripe, intra, pair.policies, NOW, EVIDENCE)
    assert pair.snapshot() == before
    # the part of the /16 outside the lock still moves
    assert pair.initialize(pair.signed("193.0.2.0/24")).state == "sourceInitialized"


def test_a_cancelled_transfer_releases_the_lock_and_the_reservation(pair: Pair) -> None:
    t = pair.initialize(pair.signed("193.0.1.0/24"))
    pair.accept(t)
    interrir.cancel(pair.ripe, t.id, ["the recipient registry did not answer"])
    aborted = interrir.abort(pair.arin, t.id, "the source registry cancelled the transfer")
    assert aborted.state == "sourceCancelled"
    assert _holders(pair.ripe, "193.0.1.0/24") == ["R1"]
    assert pair.initialize(pair.signed("193.0.1.0/24")).state == "sourceInitialized"


def test_the_recipient_declines_what_its_policy_refuses_and_records_why(pair: Pair) -> None:
    t = pair.initialize(pair.signed("193.0.1.0/24"))
    offer = pair.offer(t)
    no_needs = Offer(
        offer.signed,
        {},
        offer.original,
        offer.registered,
        offer.source_cc,
        offer.status,
        offer.authority,
    )
    key = own_key(pair.ripe, "R1")
    answer = interrir.accept(pair.arin, no_needs, pair.policies, NOW, key)
    assert answer.state == "recipientCancelled"
    assert any("needs evidence not met" in r for r in answer.record["reasons"])
    assert pair.arin.conn.execute("SELECT count(*) FROM locks").fetchone()[0] == 0
    assert interrir.cancel(pair.ripe, t.id, answer.record["reasons"]).state == "sourceCancelled"


Case = Callable[[Pair], SignedAgreement]
BAD_AT_SOURCE: list[tuple[str, Case, str]] = [
    ("not held", lambda p: p.signed("194.0.0.0/24"), "not within one delegation"),
    ("held by another", lambda p: p.signed("3333", source="R1"), "held by R2"),
    ("below the minimum", lambda p: p.signed("193.0.1.0/25"), "minimum"),
    ("holding period", lambda p: p.signed("195.0.0.0/24"), "24-month hold"),
    ("ipv6 between registries", lambda p: p.signed("2001:db8::/48"), "IPv6"),
    (
        "incompatible counterpart",
        lambda p: p.signed("193.0.1.0/24", recipient_registry="afrinic"),
        "AFRINIC",
    ),
    ("expired", lambda p: p.signed("193.0.1.0/24", expires="2020-01-01T00:00:00Z"), "expired"),
    ("malformed nonce", lambda p: p.signed("193.0.1.0/24", nonce="xyz"), "nonce"),
    ("malformed resource", lambda p: p.signed("193.0.1.0/33"), "193.0.1.0/33"),
]


@pytest.mark.parametrize(
    ("name", "make", "reason"), BAD_AT_SOURCE, ids=[c[0] for c in BAD_AT_SOURCE]
)
def test_bad_transfers_are_refused_at_the_source_with_no_change(
    pair: Pair, name: str, make: Case, reason: str
) -> None:
    signed = make(pair)
    before = pair.snapshot()
    with pytest.raises(TransferRefused) as refused:
        pair.initialize(signed)
    assert any(reason.lower() in r.lower() for r in refused.value.reasons), refused.value.reasons
    assert pair.snapshot() == before


def test_a_forged_recipient_signature_is_caught_with_the_key_from_the_recipients_log(
    pair: Pair,
) -> None:
    good = pair.signed("193.0.1.0/24")
    forger = Ed25519PrivateKey.generate()
    forged = SignedAgreement(
        good.agreement, good.source_signature, sign_agreement(good.agreement, forger)
    )
    before = pair.snapshot()
    with pytest.raises(TransferRefused, match=r"recipient holder 'A1'.s signature does not verify"):
        pair.initialize(forged)
    missing = SignedAgreement(good.agreement, good.source_signature, b"")
    with pytest.raises(TransferRefused, match="recipient holder 'A1' has not signed the agreement"):
        pair.initialize(missing)
    unknown = pair.signed("193.0.1.0/24", recipient="NOBODY")
    with pytest.raises(TransferRefused, match="no key in the arin log"):
        interrir.initialize(
            pair.ripe, unknown, pair.policies, NOW, EVIDENCE, KnownKey(None, "the arin log")
        )
    assert pair.snapshot() == before


def test_a_replayed_agreement_is_refused_on_both_sides(pair: Pair) -> None:
    signed = pair.signed("193.0.1.0/24")
    t = pair.initialize(signed)
    answer = pair.accept(t)
    interrir.finalize(pair.ripe, t.id, answer.public())
    interrir.register(pair.arin, t.id, NOW)
    # the same agreement again is the same transfer (idempotent), never a second one
    assert pair.initialize(signed).state == "sourceFinalized"
    # a different agreement under the same nonce is a replay
    other = pair.signed("193.0.2.0/24", nonce=signed.agreement.nonce)
    with pytest.raises(TransferRefused, match="replay"):
        pair.initialize(other)


def test_the_recipient_refuses_a_block_it_already_has(pair: Pair) -> None:
    t = pair.initialize(pair.signed("193.0.1.0/24"))
    pair.arin.add_delegation(_row("ipv4", "193.0.1.0", 256, "A1", "20100101"))
    answer = pair.accept(t)
    assert answer.state == "recipientCancelled"
    assert any("overlaps" in r for r in answer.record["reasons"])


def test_an_asn_moves_between_registries(pair: Pair) -> None:
    t = pair.initialize(pair.signed("AS3333", source="R2"))
    answer = pair.accept(t)
    assert answer.state == "recipientAccepted", answer.record.get("reasons")
    interrir.finalize(pair.ripe, t.id, answer.public())
    interrir.register(pair.arin, t.id, NOW)
    assert _holders(pair.arin, "AS3333") == ["A1"] and _holders(pair.ripe, "AS3333") == []


def test_rebuild_replays_the_transfer_tables(pair: Pair) -> None:
    t = pair.initialize(pair.signed("193.0.1.0/24"))
    answer = pair.accept(t)
    interrir.finalize(pair.ripe, t.id, answer.public())
    pair.initialize(pair.signed("193.0.2.0/24"))  # left locked
    for node in (pair.ripe, pair.arin):
        digest = node.state_digest()
        node.rebuild()
        assert node.state_digest() == digest
    assert pair.ripe.conn.execute("SELECT count(*) FROM locks").fetchone()[0] == 1


def test_an_import_may_not_change_a_locked_block(pair: Pair) -> None:
    from onereg.core.errors import SourceFormatError
    from onereg.registry.imports import Plan, check_locks

    pair.initialize(pair.signed("193.0.1.0/24"))
    removal = Plan([(ev.DELEGATION_REMOVED, {"afi": "ipv4", "start": "193.0.0.0", "value": 65536})])
    with pytest.raises(SourceFormatError, match="locked"):
        check_locks(pair.ripe, removal, "delegated-ripencc-extended-latest")
    elsewhere = Plan([(ev.DELEGATION_REMOVED, {"afi": "ipv4", "start": "195.0.0.0", "value": 256})])
    check_locks(pair.ripe, elsewhere, "delegated-ripencc-extended-latest")  # no error
