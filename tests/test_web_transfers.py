"""The transfers page's data (`web.transfer_view`) on a node's own log, without processes: an
intra-registry transfer with both signatures checked against the holders' keys in the log,
the flows it adds, and what the page says once a holder has changed its key."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from localfed import EVIDENCE, LocalFederation
from onereg.core.registries import RegistryId
from onereg.registry.node import RegistryNode
from onereg.registry.transfer_policy import PolicySet, default_policy_dir
from onereg.registry.transfers import register_holder_key, transfer_within
from onereg.web.transfer_view import key_id, transfers_overview


def test_an_intra_registry_transfer_with_both_signatures_and_its_flow(tmp_path: Path) -> None:
    fed = LocalFederation(tmp_path, {"ripencc": [("ipv4", "193.0.0.0", 1024, "R1")]})
    signed = fed.agreement("193.0.1.0/24", ("ripencc", "R1"), ("ripencc", "RIPENCC-NEW"))
    with fed.data.open(RegistryId.RIPENCC, create=False) as node:
        policies = PolicySet.load(default_policy_dir())
        transfer_within(node, signed, policies, datetime.now(UTC), EVIDENCE)

        def nodes(rid: RegistryId) -> RegistryNode | None:
            return node if rid is RegistryId.RIPENCC else None

        seen = transfers_overview(nodes, RegistryId.RIPENCC)
        [t] = seen["transfers"]
        assert (t["resource"], t["from"], t["to"]) == ("193.0.1.0/24", "ripencc", "ripencc")
        assert t["state"] == "completed" and not t["inFlight"]
        assert t["policy"] and all(k == "ripencc" for k in t["policy"])
        holders = [("ripencc", "R1"), ("ripencc", "RIPENCC-NEW")]
        for shown, holder in zip(t["signatures"], holders, strict=True):
            raw = fed.keys[holder].public_key().public_bytes_raw()
            assert shown["verified"] and shown["holder"] == holder[1]
            assert shown["keyId"] == key_id(raw) and shown["keyEntry"].startswith("ripencc:")
        [flow] = seen["flows"]
        assert (flow["from"], flow["to"], flow["blocks"], flow["ipv4"]) == (
            "ripencc", "ripencc", 1, 256,
        )  # fmt: skip
        assert flow["month"] == t["time"][:7]
        # the recipient changes its key: its signature is no longer checked as valid, and the
        # page says with which key it was checked
        register_holder_key(
            node, "RIPENCC-NEW", Ed25519PrivateKey.generate().public_key().public_bytes_raw()
        )
        [again] = transfers_overview(nodes, RegistryId.RIPENCC)["transfers"]
        source, recipient = again["signatures"]
        assert source["verified"] and not recipient["verified"]
        assert "does not verify" in recipient["problem"] and "key now in" in recipient["problem"]
