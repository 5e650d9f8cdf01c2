"""The witness and the tiles over HTTP, in process: the exact answers c2sp.org/tlog-witness
prescribes (status, `Content-Type: text/x.tlog.size` with no parameters), what the witness
stores, and entry bundles (c2sp.org/tlog-tiles) compressed when the client asks."""

from __future__ import annotations

import gzip
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from starlette.testclient import TestClient

from onereg.core.registries import RegistryId
from onereg.federation.httpsig import NodeSigningKey, RequestVerifier, sign_request
from onereg.federation.node_config import Limits
from onereg.http.app import NodeService, build_app
from onereg.http.signed import SignedRoutes
from onereg.ledger.checkpoint import CosignatureVerifier, Cosigner, merge_signatures
from onereg.ledger.note import Signer, parse_note, verify_note
from onereg.ledger.tiles import parse_entry_bundle
from onereg.registry import events as ev
from onereg.registry.checkpoints import Checkpointer
from onereg.registry.node import RegistryNode
from test_witness import ORIGIN, Log

WITNESS = Cosigner.generate("onereg.example/ripencc")
PEER = "afrinic"  # the log's node, which asks for cosignatures
BASE = "http://127.0.0.1:8000"


@pytest.fixture
def log() -> Log:
    log = Log()
    log.grow(10)
    return log


def _node(path: Path) -> None:
    """The witness's own log, with a few hundred entries and a signed checkpoint."""
    with RegistryNode.open(RegistryId.RIPENCC, path) as node:
        holders = [{"handle": f"H{i}", "name": "x" * 40, "cc": "NL"} for i in range(300)]
        node.append([(ev.HOLDER_REGISTERED, h) for h in holders])
        Checkpointer(node, Signer.generate("onereg.example/ripencc")).sign()


@pytest.fixture
def app(tmp_path: Path, log: Log) -> Iterator[tuple[TestClient, NodeSigningKey, Path]]:
    db = tmp_path / "node.sqlite"
    _node(db)
    peer = NodeSigningKey(PEER, Signer.generate("peer").private_key)
    me = NodeSigningKey("ripencc", Signer.generate("me").private_key)
    peer_keys = {PEER: peer.private.public_key()}
    service = NodeService(
        RegistryId.RIPENCC,
        db,
        WITNESS,
        {ORIGIN: [log.signer.verifier()]},
        SignedRoutes(me, RequestVerifier(peer_keys, 60.0), 256 * 1024),
        {PEER: ORIGIN},
        peer_keys,
        limits=Limits(witness_max_note=4096),
    )
    with TestClient(build_app(service), base_url=BASE) as client:
        yield client, peer, db


def _post(client: TestClient, key: NodeSigningKey, body: str) -> httpx.Response:
    path = "/witness/add-checkpoint"
    headers = sign_request(key, "POST", path, body.encode())
    return client.post(path, content=body.encode(), headers=headers)


def test_409_answers_are_text_x_tlog_size_without_parameters(
    app: tuple[TestClient, NodeSigningKey, Path], log: Log
) -> None:
    client, peer, _ = app
    assert _post(client, peer, log.request(0)).status_code == 200
    log.grow(2)
    wrong_old = _post(client, peer, log.request(3))
    assert wrong_old.status_code == 409
    assert wrong_old.headers["content-type"] == "text/x.tlog.size"
    assert wrong_old.text == "10\n"
    fork = _post(client, peer, log.request(10, note=log.note(10, bytes(32)), proof=[]))
    assert (fork.status_code, fork.headers["content-type"], fork.text) == (
        409,
        "text/x.tlog.size",
        "10\n",
    )


def test_the_stored_note_carries_only_the_verified_signature(
    app: tuple[TestClient, NodeSigningKey, Path], log: Log
) -> None:
    client, peer, db = app
    junk = "".join(f"\u2014 junk{i} " + "QUFB" * 100 + "\n" for i in range(3))
    reply = _post(client, peer, log.request(0, note=log.note() + junk))
    assert reply.status_code == 200, reply.text
    with sqlite3.connect(db) as conn:
        (stored,) = conn.execute("SELECT note FROM witnessed").fetchone()
    assert stored == log.note()
    assert [s.name for s in parse_note(stored)[1]] == [ORIGIN]


def test_a_note_over_the_configured_limit_is_413_and_nothing_is_stored(
    app: tuple[TestClient, NodeSigningKey, Path], log: Log
) -> None:
    client, peer, db = app
    junk = "".join(f"\u2014 junk{i} " + "QUFB" * 400 + "\n" for i in range(3))
    reply = _post(client, peer, log.request(0, note=log.note() + junk))
    assert reply.status_code == 413 and "witness_max_note" in reply.text
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM witnessed").fetchone() == (0,)


def test_entry_bundles_are_gzipped_when_asked(
    app: tuple[TestClient, NodeSigningKey, Path],
) -> None:
    client, _, _ = app
    path = "/log/tile/entries/000"
    plain = client.get(path, headers={"Accept-Encoding": "identity"})
    assert plain.status_code == 200 and "content-encoding" not in plain.headers
    assert len(parse_entry_bundle(plain.content)) == 256
    with client.stream("GET", path, headers={"Accept-Encoding": "gzip"}) as zipped:
        assert zipped.headers["content-encoding"] == "gzip"
        assert "accept-encoding" in zipped.headers["vary"].lower()
        raw = b"".join(zipped.iter_raw())
    assert len(raw) < len(plain.content) / 2
    assert gzip.decompress(raw) == plain.content
    refused = client.get(path, headers={"Accept-Encoding": "gzip;q=0, identity"})
    assert "content-encoding" not in refused.headers and refused.content == plain.content
    partial = client.get("/log/tile/entries/001.p/45", headers={"Accept-Encoding": "gzip"})
    assert partial.headers["content-encoding"] == "gzip"
    assert len(parse_entry_bundle(partial.content)) == 45


def test_a_body_that_is_not_utf8_is_400(
    app: tuple[TestClient, NodeSigningKey, Path], log: Log
) -> None:
    client, peer, _ = app
    body = log.request(0).encode().replace(b"\n\n", b"\n\n\xff", 1)
    path = "/witness/add-checkpoint"
    reply = client.post(path, content=body, headers=sign_request(peer, "POST", path, body))
    assert reply.status_code == 400 and "not UTF-8" in reply.text
    assert _post(client, peer, log.request(0)).status_code == 200  # nothing was stored


def test_200_is_cosignature_lines_over_the_checkpoint(
    app: tuple[TestClient, NodeSigningKey, Path], log: Log
) -> None:
    """ "The response body MUST be a sequence of one or more note signature lines, each
    starting with the — character (U+2014) and ending with a newline": they merge into the
    note and verify as the witness's cosignature (type 0x04)."""
    client, peer, _ = app
    reply = _post(client, peer, log.request(0))
    assert reply.status_code == 200 and reply.text.endswith("\n")
    lines = reply.text[:-1].split("\n")
    assert lines and all(line.startswith("\u2014 ") for line in lines)
    merged = merge_signatures(log.note(), reply.text)
    witness = CosignatureVerifier.from_vkey(WITNESS.verifier().vkey())
    assert verify_note(merged, [witness]).verified
