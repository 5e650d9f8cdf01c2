"""Inter-registry transfers between real node processes over HTTP (NRO states, two-phase)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from localfed import LocalFederation
from onereg.core.registries import RegistryId
from onereg.core.resources import Resource


@pytest.fixture
def fed(tmp_path: Path) -> Iterator[LocalFederation]:
    f = LocalFederation(
        tmp_path,
        {
            "ripencc": [("ipv4", "193.0.0.0", 65536, "R1"), ("asn", "3333", 1, "R2")],
            "arin": [("ipv4", "23.0.0.0", 65536, "A1")],
        },
    )
    for registry in ("ripencc", "arin"):
        f.start(registry)
    yield f
    f.stop()


def _holder(fed: LocalFederation, registry: str, address: str) -> str | None:
    with fed.data.open(RegistryId(registry), create=False) as node:
        found = node.overlapping(Resource.parse(address))
        return found[0].holder if found else None


def test_a_block_moves_between_two_node_processes(fed: LocalFederation) -> None:
    signed = fed.agreement("193.0.1.0/24", ("ripencc", "R1"), ("arin", "A1"))
    with httpx.Client() as client:
        reply = fed.submit(client, signed)
        assert reply.status_code == 200, reply.text
        assert reply.json()["state"] == "sourceFinalized"
        tid = signed.agreement.nonce
        deadline_state = ""
        for _ in range(50):
            deadline_state = client.get(f"{fed.urls['arin']}/transfers/{tid}").json()["state"]
            if deadline_state == "sourceFinalized":
                break
            import time

            time.sleep(0.1)
        assert deadline_state == "sourceFinalized"
    assert _holder(fed, "ripencc", "193.0.1.1") is None
    assert _holder(fed, "ripencc", "193.0.0.1") == "R1"
    assert _holder(fed, "ripencc", "193.0.2.1") == "R1"
    assert _holder(fed, "arin", "193.0.1.1") == "A1"
