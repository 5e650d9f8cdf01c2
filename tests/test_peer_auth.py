"""Nodes act only on what their peers signed: forged, unsigned, replayed or misattributed
node-to-node requests are refused (401/403) and leave no log entry, lock or reservation; an
answer not signed by the peer that was asked is no answer; an offer's facts are checked against
the source registry's own log."""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import httpx
import pytest
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from localfed import LocalFederation
from onereg.core.registries import RegistryId
from onereg.federation.httpsig import NodeSigningKey, sign_request
from onereg.federation.layout import DataDir
from onereg.federation.offer_facts import offer_facts_problems
from onereg.federation.peer_client import PeerClient, PeerError
from onereg.registry.identity import load_signer
from test_interrir_steps import Pair

# --- the offer's facts against the source's log --------------------------------------------


def test_an_offer_must_say_what_the_source_logged(tmp_path: Path) -> None:
    pair = Pair(tmp_path)
    t = pair.initialize(pair.signed("193.0.1.0/24"))
    mirror = DataDir(tmp_path / "mirror", {RegistryId.RIPENCC: tmp_path / "ripencc.sqlite"})
    honest = pair.offer(t)
    assert offer_facts_problems(mirror, honest) == []
    for name, value in (
        ("status", "bogus-status"),
        ("registered", "19800101"),
        ("authority", "lacnic"),
    ):
        forged = type(honest)(**{**_fields(honest), name: value})
        problems = offer_facts_problems(mirror, forged)
        assert problems and any(f"offer's {name}" in p for p in problems), (name, problems)


def test_an_offer_the_source_never_logged_waits(tmp_path: Path) -> None:
    pair = Pair(tmp_path)
    t = pair.initialize(pair.signed("193.0.1.0/24"))
    other = pair.signed("193.0.2.0/24")  # never submitted to the source
    offer = type(pair.offer(t))(**{**_fields(pair.offer(t)), "signed": other})
    mirror = DataDir(tmp_path / "mirror", {RegistryId.RIPENCC: tmp_path / "ripencc.sqlite"})
    assert offer_facts_problems(mirror, offer) is None
    assert offer_facts_problems(DataDir(tmp_path / "empty"), pair.offer(t)) is None


def test_a_block_is_registered_only_as_the_source_logged_it(tmp_path: Path) -> None:
    """The recipient registers when the source's log shows the transfer finalized with the
    facts of the offer; before that it waits, and a log that differs is named."""
    from dataclasses import replace

    from onereg.federation.offer_facts import registration_problems
    from onereg.registry import interrir

    pair = Pair(tmp_path)
    t = pair.initialize(pair.signed("193.0.1.0/24"))
    accepted = pair.accept(t)
    mirror = DataDir(tmp_path / "mirror", {RegistryId.RIPENCC: tmp_path / "ripencc.sqlite"})
    assert registration_problems(mirror, accepted) is None  # not finalized at the source yet
    interrir.finalize(pair.ripe, t.id, accepted.public())
    assert registration_problems(mirror, accepted) == []
    lied = replace(accepted, record={**accepted.record, "status": "assigned"})
    problems = registration_problems(mirror, lied)
    assert problems and "offer's status was 'assigned'" in problems[0]


def _fields(offer: object) -> dict[str, object]:
    return {f: getattr(offer, f) for f in offer.__dataclass_fields__}  # type: ignore[attr-defined]


# --- answers must be signed by the peer that was asked -------------------------------------


def _answer_with(key: Ed25519PrivateKey | None) -> web.Application:
    """A stand-in on the peer's port: answers `sourceFinalized`, signed by `key` if any."""
    from onereg.federation.httpsig import RequestVerifier, sign_response

    async def handler(request: web.Request) -> web.Response:
        body = json.dumps({"state": "sourceFinalized"}).encode()
        response = web.Response(body=body, content_type="application/json")
        if key is not None:
            verifier = RequestVerifier({"arin": CLIENT_KEY.public_key()})
            verified = verifier.verify(
                request.method, request.path_qs, dict(request.headers), await request.read()
            )
            headers = sign_response(NodeSigningKey("ripencc", key), 200, body, verified)
            response.headers.update(headers)
        return response

    app = web.Application()
    app.router.add_get("/transfers/{id}", handler)
    return app


CLIENT_KEY = Ed25519PrivateKey.generate()
SOURCE_KEY = Ed25519PrivateKey.generate()


async def _ask(app: web.Application) -> object:
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        async with aiohttp.ClientSession() as session:
            client = PeerClient(
                session,
                5,
                key=NodeSigningKey("arin", CLIENT_KEY),
                peer_keys={"ripencc": SOURCE_KEY.public_key()},
            )
            reply = await client.get(f"http://127.0.0.1:{port}/transfers/ab", peer="ripencc")
            return reply.body
    finally:
        await runner.cleanup()


def test_an_unsigned_or_wrongly_signed_answer_is_no_answer() -> None:
    with pytest.raises(PeerError, match="not signed by ripencc"):
        asyncio.run(_ask(_answer_with(None)))
    with pytest.raises(PeerError, match="not signed by ripencc"):
        asyncio.run(_ask(_answer_with(Ed25519PrivateKey.generate())))  # an impostor's key
    assert asyncio.run(_ask(_answer_with(SOURCE_KEY))) == {"state": "sourceFinalized"}


# --- forged requests to real node processes ------------------------------------------------


@pytest.fixture
def fed(tmp_path: Path) -> Iterator[LocalFederation]:
    f = LocalFederation(
        tmp_path,
        {
            "ripencc": [("ipv4", "193.0.0.0", 65536, "R1")],
            "arin": [("ipv4", "23.0.0.0", 65536, "A1")],
        },
    )
    f.start("ripencc")
    f.start("arin")
    for registry in ("ripencc", "arin"):  # its first checkpoint logs its key: wait for it
        deadline = time.monotonic() + 30
        while httpx.get(f"{f.urls[registry]}/log/checkpoint").status_code != 200:
            assert time.monotonic() < deadline, f"{registry} never published"
            time.sleep(0.1)
    yield f
    f.stop()


def _trace(fed: LocalFederation, registry: str) -> tuple[object, ...]:
    """Everything a request could have left behind at a node."""
    with fed.data.open(RegistryId(registry), create=False) as node:
        locks = node.conn.execute("SELECT count(*) FROM locks").fetchone()[0]
        transfers = node.conn.execute("SELECT count(*) FROM transfers").fetchone()[0]
        return node.head(), locks, transfers


def _post_as(fed: LocalFederation, registry: str, url: str, body: bytes) -> httpx.Response:
    signer = load_signer(fed.root / "nodes" / registry / "keys/node.key")
    headers = sign_request(
        NodeSigningKey(registry, signer.private_key), "POST", httpx.URL(url).raw_path.decode(), body
    )
    return httpx.post(url, content=body, headers=headers, timeout=10)


def _offer(fed: LocalFederation, resource: str) -> tuple[str, bytes]:
    """A genuinely holder-signed agreement, dressed as an offer with made-up facts."""
    signed = fed.agreement(resource, ("ripencc", "R1"), ("arin", "A1"))
    body = json.loads(signed.to_json())
    body.update(
        evidence={"x" * 1000: "y" * 50_000},
        original={"afi": "ipv4", "start": "0.0.0.0", "end": "255.255.255.255"},
        registered="19700101",
        source_cc="NL",
        status="bogus-status",
        authority="lacnic",
    )
    return signed.agreement.nonce, json.dumps(body).encode()


def test_unsigned_offers_are_refused_and_leave_no_trace(fed: LocalFederation) -> None:
    before = _trace(fed, "arin")
    for resource in ("0.0.0.0/0", "193.0.1.0/24", "AS0-AS4294967295"):
        tid, body = _offer(fed, resource) if "/" in resource else _offer(fed, "193.0.2.0/24")
        url = f"{fed.urls['arin']}/transfers/{tid}/accept"
        reply = httpx.post(url, content=body, timeout=10)
        assert reply.status_code == 401, reply.text
        notice = httpx.post(f"{fed.urls['arin']}/transfers/{tid}/finalized", json={}, timeout=10)
        assert notice.status_code == 401
    assert _trace(fed, "arin") == before


def test_a_request_signed_by_a_stranger_or_the_wrong_node_is_refused(
    fed: LocalFederation,
) -> None:
    before = _trace(fed, "arin")
    tid, body = _offer(fed, "193.0.3.0/24")
    url = f"{fed.urls['arin']}/transfers/{tid}/accept"
    stranger = NodeSigningKey("ripencc", Ed25519PrivateKey.generate())  # claims to be RIPE
    headers = sign_request(stranger, "POST", httpx.URL(url).raw_path.decode(), body)
    assert httpx.post(url, content=body, headers=headers, timeout=10).status_code == 401
    wrong = _post_as(fed, "apnic", url, body)  # a federation node, but not the source
    assert wrong.status_code == 403, wrong.text
    assert _trace(fed, "arin") == before


def test_a_replayed_node_request_is_refused(fed: LocalFederation) -> None:
    url = f"{fed.urls['arin']}/transfers/{os.urandom(16).hex()}/finalized"
    signer = load_signer(fed.root / "nodes/ripencc/keys/node.key")
    headers = sign_request(
        NodeSigningKey("ripencc", signer.private_key),
        "POST",
        httpx.URL(url).raw_path.decode(),
        b"{}",
    )
    first = httpx.post(url, content=b"{}", headers=headers, timeout=10)
    assert first.status_code == 404  # signed and fresh: heard (there is no such transfer)
    again = httpx.post(url, content=b"{}", headers=headers, timeout=10)
    assert again.status_code == 401 and "replay" in again.text


def test_transfers_still_complete_between_signed_nodes(fed: LocalFederation) -> None:
    signed = fed.agreement("193.0.9.0/24", ("ripencc", "R1"), ("arin", "A1"))
    with httpx.Client() as client:
        reply = fed.submit(client, signed)
    assert reply.json()["state"] == "sourceFinalized", reply.text


# --- peers only through verified mirrors ---------------------------------------------------


def test_a_node_knows_its_peers_from_verified_mirrors_and_says_what_is_stale(
    fed: LocalFederation,
) -> None:
    import subprocess

    from localfed import ONEREG
    from onereg.federation.mirror import load_status

    mirrors = fed.root / "nodes/arin/mirrors"
    deadline = time.monotonic() + 30
    while (
        not load_status(mirrors).get("ripencc", None)
        or not load_status(mirrors)["ripencc"].verified_at
    ):
        assert time.monotonic() < deadline, load_status(mirrors)
        time.sleep(0.2)
    # ARIN's mirror of RIPE NCC's log is a replay of it, verified against the cosigned root
    assert (mirrors / "nodes/ripencc/node.sqlite").exists()
    shown = subprocess.run(
        [ONEREG, "show", "193.0.0.1", "--node", str(fed.root / "nodes/arin/node.toml")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert shown.returncode == 0, shown.stderr
    assert "R1" in shown.stdout
    assert "apnic" in shown.stderr and "never been verified" in shown.stderr
    # the nodes that are not running are said to be stale where people read the answers
    help_ = httpx.get(f"{fed.urls['arin']}/rdap/help", timeout=10).json()
    stale = [n for n in help_["notices"] if n["title"] == "Stale federation data"]
    assert stale and any("apnic" in line for line in stale[0]["description"])
    assert not any(line.startswith("ripencc") for line in stale[0]["description"])


# --- what operators scrape ----------------------------------------------------------------


def test_metrics_tell_operators_what_they_expect(fed: LocalFederation) -> None:
    import shutil
    import subprocess

    from prometheus_client.parser import text_string_to_metric_families

    assert httpx.get(f"{fed.urls['arin']}/rdap/ip/23.0.0.1", timeout=10).status_code == 200
    signed = fed.agreement("193.0.7.0/24", ("ripencc", "R1"), ("arin", "A1"))
    with httpx.Client() as client:
        assert fed.submit(client, signed).json()["state"] == "sourceFinalized"
    deadline = time.monotonic() + 30
    while True:
        text = httpx.get(f"{fed.urls['arin']}/metrics", timeout=10).text
        samples = {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text)
            for s in family.samples
        }
        mirrored = samples.get(("onereg_peer_mirror_age_seconds", (("peer", "ripencc"),)), 1e9)
        registered = samples.get(("onereg_transfers", (("state", "sourceFinalized"),)), 0)
        cosigned = samples.get(("onereg_checkpoint_cosignatures", ()), 0)
        if mirrored < 60 and cosigned >= 1 and registered >= 1:
            break  # both eventually: the latest checkpoint may still be gathering
        assert time.monotonic() < deadline, text
        time.sleep(0.2)
    assert samples[("onereg_log_size", ())] >= 7
    assert samples[("onereg_checkpoint_cosignatures", ())] >= 1
    assert samples[("onereg_peer_mirror_age_seconds", (("peer", "apnic"),))] == float("inf")
    assert samples[("onereg_transfers", (("state", "sourceFinalized"),))] >= 1
    rdap = ("onereg_requests_total", (("face", "rdap"), ("status", "2xx")))
    assert samples[rdap] >= 1
    assert samples[("onereg_request_seconds_count", (("face", "transfers"),))] >= 1
    assert samples[("onereg_event_loop_lag_seconds_count", ())] >= 1  # sampled while serving
    promtool = shutil.which("promtool")
    if promtool:  # Prometheus's own linter, where installed (.ci/run installs it)
        checked = subprocess.run(
            [promtool, "check", "metrics"], input=text, capture_output=True, text=True
        )
        assert checked.returncode == 0, checked.stdout + checked.stderr
