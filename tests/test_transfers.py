"""Transfers inside one registry: one log entry, both holders' signatures, the real policy."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from onereg.core.registries import RegistryId
from onereg.core.resources import Resource
from onereg.ledger.agreement import Agreement, SignedAgreement, sign_agreement
from onereg.registry import events as ev
from onereg.registry.node import RegistryNode
from onereg.registry.transfer_policy import PolicySet, default_policy_dir
from onereg.registry.transfers import TransferRefused, register_holder_key, transfer_within

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def _record(start: str, value: int, holder: str, date: str = "20100101") -> ev.Payload:
    return {
        "afi": "ipv4",
        "start": start,
        "value": value,
        "cc": "NL",
        "date": date,
        "status": "allocated",
        "holder": holder,
        "opaque": holder,
        "ext": [],
    }


class World:
    def __init__(self, tmp: Path, registry: RegistryId) -> None:
        self.node = RegistryNode.open(registry, tmp / f"{registry.value}.sqlite")
        self.keys = {h: Ed25519PrivateKey.generate() for h in ("SRC", "DST", "OTHER")}
        self.node.append(
            [(ev.HOLDER_REGISTERED, {"handle": h, "name": "", "cc": "NL"}) for h in self.keys]
        )
        for handle, key in self.keys.items():
            register_holder_key(self.node, handle, key.public_key().public_bytes_raw())
        self.node.add_delegation(_record("193.0.0.0", 65536, "SRC"))
        self.node.add_delegation(_record("194.0.0.0", 256, "OTHER"))
        self.node.add_delegation(_record("195.0.0.0", 256, "SRC", date="20260101"))
        self.policies = PolicySet.load(default_policy_dir())

    def agreement(self, resource: str, **change: str) -> Agreement:
        fields = {
            "resource": resource,
            "source_registry": self.node.registry.value,
            "source_holder": "SRC",
            "recipient_registry": self.node.registry.value,
            "recipient_holder": "DST",
            "kind": "transfer",
            "nonce": os.urandom(16).hex(),
            "expires": (NOW + timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        return Agreement(**{**fields, **change})

    def signed(
        self, agreement: Agreement, source: str = "SRC", recipient: str = "DST"
    ) -> SignedAgreement:
        return SignedAgreement(
            agreement,
            sign_agreement(agreement, self.keys[source]),
            sign_agreement(agreement, self.keys[recipient]),
        )

    def state(self) -> tuple[tuple[int, bytes], str]:
        return self.node.head(), self.node.state_digest()


@pytest.fixture
def ripe(tmp_path: Path) -> World:
    return World(tmp_path, RegistryId.RIPENCC)


def test_a_partial_transfer_splits_the_delegation_in_one_entry(ripe: World) -> None:
    size = ripe.node.head()[0]
    entry = transfer_within(
        ripe.node, ripe.signed(ripe.agreement("193.0.1.0/24")), ripe.policies, NOW
    )
    assert entry.kind == "transfer.completed" and entry.seq == size + 1
    held = {str(d.resource): d.holder for d in ripe.node.delegations()}
    assert held["193.0.1.0/24"] == "DST"
    assert held["193.0.0.0/24"] == "SRC" and held["193.0.2.0-193.0.255.255"] == "SRC"
    assert "ripencc" in entry.data()["record"]["policy"]  # the policy version that decided
    digest = ripe.node.state_digest()
    ripe.node.rebuild()
    assert ripe.node.state_digest() == digest


def test_a_replayed_agreement_is_refused(ripe: World) -> None:
    signed = ripe.signed(ripe.agreement("193.0.1.0/24"))
    transfer_within(ripe.node, signed, ripe.policies, NOW)
    before = ripe.state()
    with pytest.raises(TransferRefused, match="replay"):
        transfer_within(ripe.node, signed, ripe.policies, NOW)
    assert ripe.state() == before


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("not-held", "is held by OTHER"),
        ("forged", "signature does not verify"),
        ("expired", "expired"),
        ("holding-period", "24-month hold"),
        ("pool", "not within one delegation"),
        ("malformed-nonce", "nonce"),
    ],
)
def test_bad_requests_are_refused_with_their_reason_and_change_nothing(
    ripe: World, case: str, expected: str
) -> None:
    before = ripe.state()
    if case == "not-held":
        signed = ripe.signed(ripe.agreement("194.0.0.0/24"))
    elif case == "forged":
        signed = ripe.signed(ripe.agreement("193.0.1.0/24"), recipient="OTHER")
    elif case == "expired":
        signed = ripe.signed(ripe.agreement("193.0.1.0/24", expires="2026-01-01T00:00:00Z"))
    elif case == "holding-period":
        signed = ripe.signed(ripe.agreement("195.0.0.0/24"))
    elif case == "pool":
        signed = ripe.signed(ripe.agreement("10.0.0.0/24"))
    else:
        signed = ripe.signed(ripe.agreement("193.0.1.0/24", nonce="xyz"))
    with pytest.raises(TransferRefused) as refused:
        transfer_within(ripe.node, signed, ripe.policies, NOW)
    assert any(expected in reason for reason in refused.value.reasons), refused.value.reasons
    assert ripe.state() == before


def test_every_failing_check_is_listed(ripe: World) -> None:
    signed = ripe.signed(
        ripe.agreement("195.0.0.0/24", expires="2026-01-01T00:00:00Z"), recipient="OTHER"
    )
    with pytest.raises(TransferRefused) as refused:
        transfer_within(ripe.node, signed, ripe.policies, NOW)
    reasons = " | ".join(refused.value.reasons)
    assert "expired" in reasons and "signature" in reasons and "24-month hold" in reasons


def test_below_the_minimum_size_at_arin(tmp_path: Path) -> None:
    arin = World(tmp_path, RegistryId.ARIN)
    before = arin.state()
    with pytest.raises(TransferRefused) as refused:
        transfer_within(arin.node, arin.signed(arin.agreement("193.0.1.0/25")), arin.policies, NOW)
    assert any("/24" in reason for reason in refused.value.reasons), refused.value.reasons
    assert arin.state() == before


def test_a_holder_key_must_be_in_the_log(ripe: World) -> None:
    ripe.node.append([(ev.HOLDER_REGISTERED, {"handle": "NEW", "name": "", "cc": "NL"})])
    agreement = ripe.agreement("193.0.1.0/24", recipient_holder="NEW")
    signed = SignedAgreement(
        agreement,
        sign_agreement(agreement, ripe.keys["SRC"]),
        sign_agreement(agreement, Ed25519PrivateKey.generate()),
    )
    before = ripe.state()
    with pytest.raises(TransferRefused, match="has no key in the ripencc log"):
        transfer_within(ripe.node, signed, ripe.policies, NOW)
    assert ripe.state() == before


def test_a_return_puts_the_block_in_quarantine_with_only_the_holders_signature(
    ripe: World,
) -> None:

    a = ripe.agreement("193.0.1.0/24", kind="return", recipient_holder="")
    signed = SignedAgreement(a, sign_agreement(a, ripe.keys["SRC"]), b"")
    transfer_within(ripe.node, signed, ripe.policies, NOW)
    [back] = ripe.node.overlapping(Resource.parse("193.0.1.0/24"))
    assert back.status == "reserved" and back.holder is None
    held = {str(d.resource): d.holder for d in ripe.node.delegations()}
    assert held["193.0.0.0/24"] == "SRC" and held["193.0.2.0-193.0.255.255"] == "SRC"
    forged = SignedAgreement(
        ripe.agreement("193.0.2.0/24", kind="return", recipient_holder=""),
        sign_agreement(a, ripe.keys["OTHER"]),
        b"",
    )
    before = ripe.state()
    with pytest.raises(TransferRefused, match="signature does not verify"):
        transfer_within(ripe.node, forged, ripe.policies, NOW)
    assert ripe.state() == before


def test_a_merger_moves_a_block_inside_its_holding_period(ripe: World) -> None:
    """RIPE's 24-month hold stops a market transfer of a 2026 allocation, not an M&A."""
    with pytest.raises(TransferRefused, match="24-month hold"):
        transfer_within(ripe.node, ripe.signed(ripe.agreement("195.0.0.0/24")), ripe.policies, NOW)
    entry = transfer_within(
        ripe.node, ripe.signed(ripe.agreement("195.0.0.0/24", kind="merger")), ripe.policies, NOW
    )
    assert entry.data()["record"]["agreement"]["kind"] == "merger"
    [moved] = ripe.node.overlapping(Resource.parse("195.0.0.0/24"))
    assert moved.holder == "DST" and moved.attrs == {
        "received_by": "merger",
        "transfer": entry.data()["id"],
    }
