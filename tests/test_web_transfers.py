"""The transfers page's data (`web.transfer_view`) on nodes' own logs, without processes: an
intra-registry transfer with both signatures checked against the keys the holders' registry
logs held when the transfer was logged (not the keys now), what the page says once a holder has
rotated its key, of a forged signature, of one made with a key registered after the transfer,
of a missing one, and of an inter-registry transfer whose recipient's log is not here (or not
yet this far); and the registry-layer lookup of the key in force at a log entry."""

from __future__ import annotations

import base64
import os
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from localfed import EVIDENCE, LocalFederation
from onereg.core.registries import RegistryId
from onereg.core.resources import Resource
from onereg.ledger.agreement import Agreement, SignedAgreement, sign_agreement
from onereg.registry import events as ev
from onereg.registry import interrir
from onereg.registry.interrir import Offer
from onereg.registry.node import RegistryNode
from onereg.registry.transfer_policy import PolicySet, default_policy_dir
from onereg.registry.transfers import (
    SOURCE_FINALIZED,
    agreement_record,
    holder_key,
    own_key,
    register_holder_key,
    transfer_item,
    transfer_within,
)
from onereg.web.transfer_view import (
    INVALID,
    MISSING,
    UNKNOWN_KEY,
    VERIFIED,
    key_id,
    transfers_overview,
)

Nodes = Callable[[RegistryId], RegistryNode | None]


def _raw(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes_raw()


def _only(*held: RegistryNode) -> Nodes:
    """The node's view: its own log and the mirrors it has (here: exactly `held`)."""
    by_id = {node.registry: node for node in held}
    return by_id.get


def _signatures(nodes: Nodes, transfer_id: str) -> list[dict[str, Any]]:
    seen = transfers_overview(nodes, RegistryId.RIPENCC)["transfers"]
    [t] = [t for t in seen if t["id"] == transfer_id]
    return list(t["signatures"])


def test_an_intra_registry_transfer_stays_valid_after_both_holders_rotate_their_keys(
    tmp_path: Path,
) -> None:
    fed = LocalFederation(tmp_path, {"ripencc": [("ipv4", "193.0.0.0", 1024, "R1")]})
    holders = [("ripencc", "R1"), ("ripencc", "RIPENCC-NEW")]
    signed = fed.agreement("193.0.1.0/24", *holders)
    with fed.data.open(RegistryId.RIPENCC, create=False) as node:
        old_entries = {h: holder_key(node, h[1]) for h in holders}
        policies = PolicySet.load(default_policy_dir())
        logged = transfer_within(node, signed, policies, datetime.now(UTC), EVIDENCE)
        nodes = _only(node)

        seen = transfers_overview(nodes, RegistryId.RIPENCC)
        [t] = seen["transfers"]
        assert (t["resource"], t["from"], t["to"]) == ("193.0.1.0/24", "ripencc", "ripencc")
        assert t["state"] == "completed" and not t["inFlight"]
        assert t["policy"] and all(k == "ripencc" for k in t["policy"])
        before = t["signatures"]
        for shown, holder in zip(before, holders, strict=True):
            found = old_entries[holder]
            assert found is not None
            assert shown["status"] == VERIFIED and shown["verified"]
            assert shown["holder"] == holder[1]
            assert shown["keyId"] == key_id(_raw(fed.keys[holder]))
            assert shown["keyEntry"] == f"ripencc:{found[1]}"
            assert shown["decidedEntry"] == f"ripencc:{logged.seq}"
            assert shown["keyUsed"] == (
                f"key of {holder[1]} registered at RIPE NCC log entry {found[1]}"
            )
        [flow] = seen["flows"]
        assert (flow["from"], flow["to"], flow["blocks"], flow["ipv4"]) == (
            "ripencc", "ripencc", 1, 256,
        )  # fmt: skip
        assert flow["month"] == t["time"][:7]

        # both holders rotate their keys (twice for one): the transfer was valid when logged
        # and stays so, checked with the keys in force then; the lookup now gives the new keys
        new_keys = [_raw(Ed25519PrivateKey.generate()) for _ in range(3)]
        rotated = [
            register_holder_key(node, h[1], k)
            for h, k in zip((*holders, holders[0]), new_keys, strict=True)
        ]
        assert holder_key(node, "R1") == (new_keys[-1], rotated[-1].seq)
        after = _signatures(nodes, t["id"])
        assert after == before  # the same verdict, key entry, key and signature


def _forge(node: RegistryNode, signed: SignedAgreement, block: str) -> int:
    """A transfer entry as a registry that did not check its signatures would log it."""
    item = transfer_item(
        ev.TRANSFER_COMPLETED,
        transfer_id=signed.agreement.nonce,
        role="intra",
        state=SOURCE_FINALIZED,
        block=Resource.parse(block),
        counterpart=node.registry.value,
        record=agreement_record(signed),
        first=True,
    )
    return node.append([item])[0].seq


def test_forged_late_and_missing_signatures_do_not_verify(tmp_path: Path) -> None:
    fed = LocalFederation(tmp_path, {"ripencc": [("ipv4", "193.0.0.0", 1024, "R1")]})
    source, recipient = ("ripencc", "R1"), ("ripencc", "RIPENCC-NEW")
    with fed.data.open(RegistryId.RIPENCC, create=False) as node:
        nodes = _only(node)
        # forged: the recipient's slot signed by a key nobody registered
        base = fed.agreement("193.0.1.0/24", source, recipient)
        forged = SignedAgreement(
            base.agreement,
            base.source_signature,
            sign_agreement(base.agreement, Ed25519PrivateKey.generate()),
        )
        _forge(node, forged, "193.0.1.0/24")
        good, bad = _signatures(nodes, base.agreement.nonce)
        assert good["status"] == VERIFIED
        assert bad["status"] == INVALID and not bad["verified"]
        assert "does not verify" in bad["problem"] and bad["keyUsed"] in bad["problem"]
        assert "registered after" not in bad["problem"]

        # late: signed with a key the recipient registered only after the transfer's entry
        late_key = Ed25519PrivateKey.generate()
        late = fed.agreement("193.0.2.0/24", source, recipient)
        late = SignedAgreement(
            late.agreement, late.source_signature, sign_agreement(late.agreement, late_key)
        )
        at = _forge(node, late, "193.0.2.0/24")
        entry = register_holder_key(node, recipient[1], _raw(late_key))
        assert holder_key(node, recipient[1]) == (_raw(late_key), entry.seq)
        _, shown = _signatures(nodes, late.agreement.nonce)
        assert shown["status"] == INVALID and shown["decidedEntry"] == f"ripencc:{at}"
        assert shown["keyId"] == key_id(_raw(fed.keys[recipient]))  # the key then, not now
        assert f"registered after the transfer, at entry {entry.seq}" in shown["problem"]

        # a holder with no key at all when the transfer was logged, registering one after it
        node.append([(ev.HOLDER_REGISTERED, {"handle": "R3", "name": "", "cc": "NL"})])
        terms = replace(fed.agreement("193.0.3.0/24", source, recipient).agreement,
                        recipient_holder="R3")  # fmt: skip
        keyless = SignedAgreement(
            terms, sign_agreement(terms, fed.keys[source]), sign_agreement(terms, late_key)
        )
        at = _forge(node, keyless, "193.0.3.0/24")
        entry = register_holder_key(node, "R3", _raw(late_key))
        good, shown = _signatures(nodes, keyless.agreement.nonce)
        assert good["status"] == VERIFIED and shown["status"] == INVALID
        held_none = f"RIPE NCC's log held no key for R3 before the transfer's entry {at}"
        assert held_none in shown["problem"]
        assert f"registered after the transfer, at entry {entry.seq}" in shown["problem"]
        assert "keyId" not in shown

        # missing: the recipient never signed
        unsigned = fed.agreement("193.0.4.0/24", source, recipient)
        unsigned = SignedAgreement(unsigned.agreement, unsigned.source_signature, b"")
        _forge(node, unsigned, "193.0.4.0/24")
        _, shown = _signatures(nodes, unsigned.agreement.nonce)
        assert shown["status"] == MISSING and "has not signed" in shown["problem"]
        assert "keyId" not in shown


# --- between registries: each holder's key from its own registry's log ----------------------

NOW = datetime.now(UTC)


class Pair:
    """A RIPE NCC node (the source) and an ARIN node (the recipient), in one folder."""

    def __init__(self, tmp: Path) -> None:
        self.keys: dict[str, Ed25519PrivateKey] = {}
        self.policies = PolicySet.load(default_policy_dir())
        self.ripe = self._node(tmp, RegistryId.RIPENCC, "R1", "NL")
        self.arin = self._node(tmp, RegistryId.ARIN, "A1", "US")
        self.ripe.add_delegation(
            {"afi": "ipv4", "start": "193.0.0.0", "value": 65536, "cc": "NL",
             "date": "20100101", "status": "allocated", "holder": "R1", "opaque": "R1",
             "ext": []}
        )  # fmt: skip

    def _node(self, tmp: Path, rid: RegistryId, holder: str, cc: str) -> RegistryNode:
        node = RegistryNode.open(rid, tmp / f"{rid.value}.sqlite")
        node.append([(ev.HOLDER_REGISTERED, {"handle": holder, "name": "", "cc": cc})])
        self.keys[holder] = Ed25519PrivateKey.generate()
        register_holder_key(node, holder, _raw(self.keys[holder]))
        return node

    def signed(self, resource: str) -> SignedAgreement:
        a = Agreement(
            resource, "ripencc", "R1", "arin", "A1", "transfer", os.urandom(16).hex(),
            (NOW + timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        )  # fmt: skip
        return SignedAgreement(
            a, sign_agreement(a, self.keys["R1"]), sign_agreement(a, self.keys["A1"])
        )

    def close(self) -> None:
        self.ripe.close()
        self.arin.close()


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[Pair]:
    made = Pair(tmp_path)
    yield made
    made.close()


def test_between_registries_each_key_comes_from_its_own_registrys_log(pair: Pair) -> None:
    signed = pair.signed("193.0.1.0/24")
    source_key, recipient_key = own_key(pair.ripe, "R1"), own_key(pair.arin, "A1")
    t = interrir.initialize(pair.ripe, signed, pair.policies, NOW, EVIDENCE, recipient_key)

    # ARIN's log not here at all, then here but not yet this far: the recipient's key for
    # this transfer is not known here; the source's signature verifies
    for view, words in (
        (_only(pair.ripe), "no verified copy of ARIN's log"),
        (_only(pair.ripe, pair.arin), "ARIN's log as this node has it holds no entry"),
    ):
        source, recipient = _signatures(view, t.id)
        assert source["status"] == VERIFIED and source["keyEntry"] == f"ripencc:{source_key.seq}"
        assert recipient["status"] == UNKNOWN_KEY and words in recipient["problem"]
        assert not recipient["verified"] and "keyId" not in recipient

    r = t.record
    offer = Offer(signed, r["evidence"], r["original"], r["registered"], r["source_cc"],
                  r["status"], r["authority"])  # fmt: skip
    answer = interrir.accept(pair.arin, offer, pair.policies, NOW, source_key)
    interrir.finalize(pair.ripe, t.id, answer.public())
    interrir.register(pair.arin, t.id, NOW)
    # both holders rotate their keys at their registries after the transfer
    register_holder_key(pair.ripe, "R1", _raw(Ed25519PrivateKey.generate()))
    register_holder_key(pair.arin, "A1", _raw(Ed25519PrivateKey.generate()))

    source, recipient = _signatures(_only(pair.ripe, pair.arin), t.id)
    assert source["status"] == recipient["status"] == VERIFIED
    assert source["keyEntry"] == f"ripencc:{source_key.seq}"
    assert recipient["keyEntry"] == f"arin:{recipient_key.seq}"
    assert recipient["decidedEntry"] == f"arin:{answer.first_seq}"
    assert recipient["keyUsed"] == f"key of A1 registered at ARIN log entry {recipient_key.seq}"
    assert recipient["keyId"] == key_id(_raw(pair.keys["A1"]))


def test_the_key_in_force_at_an_entry_is_the_last_one_below_it(pair: Pair) -> None:
    """`holder_key(node, handle, before=N)`, also for keys packed into a batch entry."""
    node = pair.ripe
    first = holder_key(node, "R1")
    assert first is not None
    node.append([(ev.HOLDER_REGISTERED, {"handle": "R2", "name": "", "cc": "NL"})])
    keys = [Ed25519PrivateKey.generate() for _ in range(3)]
    [batch] = node.append(
        [(ev.HOLDER_KEY, {"handle": h, "key": base64.b64encode(_raw(k)).decode()})
         for h, k in (("R1", keys[0]), ("R2", keys[1]), ("R1", keys[2]))],
        batch=True,
    )  # fmt: skip
    assert batch.kind == ev.BATCH
    later = register_holder_key(node, "R1", _raw(Ed25519PrivateKey.generate()))
    assert holder_key(node, "R1", before=batch.seq) == first
    assert holder_key(node, "R1", before=later.seq) == (_raw(keys[2]), batch.seq)
    assert holder_key(node, "R2", before=later.seq) == (_raw(keys[1]), batch.seq)
    assert holder_key(node, "R2", before=batch.seq) is None
    assert holder_key(node, "R1", before=later.seq + 1) == holder_key(node, "R1")
    assert holder_key(node, "R1", before=first[1]) is None
    assert holder_key(node, "NOBODY", before=later.seq) is None
