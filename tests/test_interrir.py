"""Inter-registry transfers between real node processes over HTTP (NRO states, two-phase)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from localfed import EVIDENCE, ONEREG, LocalFederation, delegation
from onereg.core.registries import RegistryId
from onereg.core.resources import Resource
from onereg.registry.export import export_transfers, transfer_log_problems
from test_peer_auth import _post_as


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


def _holder(fed: LocalFederation, registry: str, text: str) -> list[str | None]:
    with fed.data.open(RegistryId(registry), create=False) as node:
        return [d.holder for d in node.overlapping(Resource.parse(text))]


def _state(fed: LocalFederation, registry: str, tid: str) -> str:
    reply = httpx.get(f"{fed.urls[registry]}/transfers/{tid}", timeout=10)
    return str(reply.json().get("state", reply.status_code))


def _until(fed: LocalFederation, registry: str, tid: str, want: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while _state(fed, registry, tid) != want:
        assert time.monotonic() < deadline, f"{registry} never reached {want}"
        time.sleep(0.1)


def _heads(fed: LocalFederation) -> list[tuple[int, bytes]]:
    out = []
    for registry in ("ripencc", "arin"):
        with fed.data.open(RegistryId(registry), create=False) as node:
            out.append(node.head())
    return out


def test_a_block_moves_between_two_node_processes(fed: LocalFederation) -> None:
    signed = fed.agreement("193.0.1.0/24", ("ripencc", "R1"), ("arin", "A1"))
    with httpx.Client() as client:
        reply = fed.submit(client, signed)
    assert reply.status_code == 200, reply.text
    assert reply.json()["state"] == "sourceFinalized"
    _until(fed, "arin", signed.agreement.nonce, "sourceFinalized")
    assert _holder(fed, "ripencc", "193.0.1.0/24") == []
    assert _holder(fed, "ripencc", "193.0.0.0/16") == ["R1", "R1"]
    assert _holder(fed, "arin", "193.0.1.0/24") == ["A1"]
    for registry in ("ripencc", "arin"):  # in both registries' transfer logs, valid
        with fed.data.open(RegistryId(registry), create=False) as node:
            log = export_transfers(node)
        assert transfer_log_problems(log) == []
        [done] = log["transfers"]  # type: ignore[misc]
        assert done["source_rir"] == "RIPE NCC" and done["recipient_rir"] == "ARIN"
        assert done["ip4nets"]["transfer_set"][0]["start_address"] == "193.0.1.0"
    listed = httpx.get(f"{fed.urls['arin']}/transfers", timeout=10).json()
    assert len(listed["transfers"]) == 1


def test_a_transfer_waits_for_a_dead_recipient_and_completes_after_its_restart(
    fed: LocalFederation,
) -> None:
    """The recipient holder's key comes from RIPE NCC's verified mirror of ARIN's log, so the
    source can lock the block while ARIN is down; the transfer completes once ARIN is back."""
    fed.wait_mirrored(("ripencc",), ("arin",))
    fed.kill("arin")
    signed = fed.agreement("AS3333", ("ripencc", "R2"), ("arin", "A1"))
    with httpx.Client() as client:
        reply = fed.submit(client, signed)
    assert reply.status_code == 202 and reply.json()["state"] == "sourceInitialized"
    assert _holder(fed, "ripencc", "AS3333") == ["R2"]  # locked, still R2's
    fed.start("arin")
    _until(fed, "ripencc", signed.agreement.nonce, "sourceFinalized")
    _until(fed, "arin", signed.agreement.nonce, "sourceFinalized")
    assert _holder(fed, "arin", "AS3333") == ["A1"]


def test_without_the_recipients_key_nothing_happens(tmp_path: Path) -> None:
    """A recipient never mirrored and not reachable: its holder's key cannot be read, so the
    source refuses at once (503) and nothing is locked."""
    f = LocalFederation(
        tmp_path / "alone",
        {"ripencc": [("asn", "3333", 1, "R2")], "arin": [("ipv4", "23.0.0.0", 256, "A1")]},
    )
    f.start("ripencc")
    try:
        signed = f.agreement("AS3333", ("ripencc", "R2"), ("arin", "A1"))
        with httpx.Client() as client:
            reply = f.submit(client, signed)
        assert reply.status_code == 503, reply.text
        with f.data.open(RegistryId.RIPENCC, create=False) as node:
            assert node.conn.execute("SELECT count(*) FROM locks").fetchone()[0] == 0
    finally:
        f.stop()


def test_a_source_killed_after_locking_recovers_from_its_log(fed: LocalFederation) -> None:
    fed.kill("ripencc")
    fed.start("ripencc", {"probability": 1.0, "seed": 1, "points": ["source:initialized"]})
    signed = fed.agreement("193.0.4.0/24", ("ripencc", "R1"), ("arin", "A1"))
    with httpx.Client() as client, pytest.raises(httpx.HTTPError):
        fed.submit(client, signed)  # the node dies right after writing sourceInitialized
    fed.kill("ripencc")
    fed.start("ripencc")  # no faults: the recovery loop offers the transfer again
    _until(fed, "ripencc", signed.agreement.nonce, "sourceFinalized")
    _until(fed, "arin", signed.agreement.nonce, "sourceFinalized")
    assert _holder(fed, "arin", "193.0.4.0/24") == ["A1"]


def test_the_recipient_declines_and_the_source_cancels(fed: LocalFederation) -> None:
    """What only the recipient registry knows (here: it already lists the block) makes it
    decline; the source cancels and releases its lock."""
    with fed.data.open(RegistryId.ARIN, create=False) as arin:
        arin.add_delegation(delegation("ipv4", "193.0.2.0", 256, "A1", "US"))
    signed = fed.agreement("193.0.2.0/24", ("ripencc", "R1"), ("arin", "A1"))
    with httpx.Client() as client:
        reply = fed.submit(client, signed)
    assert reply.status_code == 200
    answer = reply.json()
    assert answer["state"] == "sourceCancelled"
    assert any("overlaps" in r for r in answer["reasons"])
    assert _state(fed, "arin", signed.agreement.nonce) == "recipientCancelled"
    assert _holder(fed, "ripencc", "193.0.2.0/24") == ["R1"]  # lock released: it may move again
    intra = fed.agreement("193.0.2.0/24", ("ripencc", "R1"), ("ripencc", "RIPENCC-NEW"))
    with httpx.Client() as client:
        assert fed.submit(client, intra).json()["state"] == "sourceFinalized"


def test_what_the_recipients_published_policy_refuses_is_refused_at_once(
    fed: LocalFederation,
) -> None:
    before = _heads(fed)
    signed = fed.agreement("193.0.2.0/24", ("ripencc", "R1"), ("arin", "A1"))
    with httpx.Client() as client:
        reply = fed.submit(client, signed, evidence={})  # ARIN's needs evidence missing
    assert reply.status_code == 422
    assert any("needs evidence not met" in r for r in reply.json()["reasons"])
    assert _heads(fed) == before


def test_a_malformed_evidence_date_is_refused_naming_the_field(fed: LocalFederation) -> None:
    before = _heads(fed)
    signed = fed.agreement("193.0.2.0/24", ("ripencc", "R1"), ("arin", "A1"))
    with httpx.Client() as client:
        reply = fed.submit(client, signed, evidence={**EVIDENCE, "pre_approval_date": "2026-2-1"})
    assert reply.status_code == 400, reply.text
    [reason] = reply.json()["reasons"]
    assert "evidence field 'pre_approval_date': '2026-2-1' is not a date" in reason
    assert _heads(fed) == before


@pytest.mark.parametrize(
    ("body", "status", "reason"),
    [
        (b"{not json", 400, "not JSON"),
        (b"[]", 400, "JSON object"),
        (json.dumps({"agreement": {"format": "x"}}).encode(), 400, "malformed"),
        (b"x" * 70_000, 413, "exceeds"),  # refused from Content-Length, before reading
    ],
)
def test_malformed_requests_are_refused_and_change_nothing(
    fed: LocalFederation, body: bytes, status: int, reason: str
) -> None:
    before = _heads(fed)
    reply = httpx.post(f"{fed.urls['ripencc']}/transfers", content=body, timeout=10)
    assert reply.status_code == status, reply.text
    assert any(reason in r for r in reply.json()["reasons"])
    # a node-to-node route: unsigned is 401 whatever the body (too large: 413 before that);
    # signed by a peer, judged
    url = f"{fed.urls['ripencc']}/transfers/00/accept"
    unsigned = httpx.post(url, content=body, timeout=10).status_code
    assert unsigned == (413 if status == 413 else 401)
    reply = _post_as(fed, "arin", url, body)
    assert reply.status_code == status, reply.text
    assert any(reason in r for r in reply.json()["reasons"])
    assert _heads(fed) == before


def test_an_offer_not_from_the_source_registry_is_refused(fed: LocalFederation) -> None:
    """Someone posts a forged offer straight to the recipient: without the source node's
    signature it is refused before anything is read, and nothing is recorded."""
    real = fed.agreement("193.0.3.0/24", ("ripencc", "R1"), ("arin", "A1"))
    body = json.loads(real.to_json())
    body["source_signature"] = body["recipient_signature"]
    body.update(
        evidence={},
        original={"afi": "ipv4", "start": "193.0.0.0", "end": "193.0.255.255"},
        registered="20100101",
        source_cc="NL",
        status="allocated",
        authority="ripencc",
    )
    tid = real.agreement.nonce
    before = _heads(fed)
    reply = httpx.post(f"{fed.urls['arin']}/transfers/{tid}/accept", json=body, timeout=10)
    assert reply.status_code == 401
    assert _holder(fed, "arin", "193.0.3.0/24") == []
    assert _heads(fed)[1] == before[1]


def test_the_cli_submits_an_inter_registry_transfer_to_the_source_node(
    fed: LocalFederation, tmp_path: Path
) -> None:
    import subprocess

    signed = fed.agreement("193.0.5.0/24", ("ripencc", "R1"), ("arin", "A1"))
    path = tmp_path / "agreement.json"
    path.write_text(signed.to_json())
    evidence = tmp_path / "evidence.json"
    from localfed import EVIDENCE

    evidence.write_text(json.dumps(EVIDENCE))
    done = subprocess.run(
        [ONEREG, "--data-dir", str(fed.root), "transfer", str(path), "--evidence", str(evidence)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "sourceFinalized" in done.stdout
    _until(fed, "arin", signed.agreement.nonce, "sourceFinalized")
