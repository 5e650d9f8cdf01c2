"""HTTP request bodies of the federation API: transfer submissions and offers, witness
add-checkpoint requests, holder-signed ROA requests and operators' holder-key registrations.

Each target is the function the route hands the raw body to, so what it may raise is what the
route turns into a 4xx; anything else would be a 500.
"""

from __future__ import annotations

import functools
import json
import sqlite3
from datetime import UTC, datetime

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from fuzz.harness import Target, json_tokens, select, text
from fuzz.world import HOLDER_KEY, ORIGIN, world
from onereg.core.errors import OneregError
from onereg.federation.httpsig import (
    NodeSigningKey,
    RequestVerifier,
    SignatureRejected,
    sign_request,
    sign_response,
    verify_response,
)
from onereg.federation.transfer_protocol import MalformedRequest, parse_offer
from onereg.federation.witness import AddCheckpointRequest, Witness
from onereg.http.operator_routes import parse_holder_key_body
from onereg.http.rpki_routes import parse_roa_body
from onereg.http.transfers import parse_json_body, parse_submission
from onereg.rpki.objects import RoaPrefix, roa_content
from onereg.rpki.requests import RoaRequest, check_request

NONCE = "00112233445566778899aabbccddeeff"
NOW = datetime(2029, 6, 1, tzinfo=UTC)


def _submission_seeds() -> list[bytes]:
    signed = json.loads(world().agreement)
    return [
        json.dumps(signed).encode(),
        json.dumps({**signed, "evidence": {"contract": "https://example.net/x.pdf"}}).encode(),
    ]


def _submission(data: bytes) -> object:
    return parse_submission(parse_json_body(data))


AGREEMENT_TOKENS = json_tokens(
    "agreement",
    "source_signature",
    "recipient_signature",
    "format",
    "resource",
    "source_registry",
    "source_holder",
    "recipient_registry",
    "recipient_holder",
    "kind",
    "nonce",
    "expires",
    "evidence",
)
SUBMISSION = Target(
    "transfer_submit", _submission, (MalformedRequest,), _submission_seeds, tokens=AGREEMENT_TOKENS
)


def _offer_seeds() -> list[bytes]:
    offer = {
        **json.loads(world().agreement),
        "evidence": {},
        "original": {"start": "193.0.0.0", "value": "2048", "date": "19930901"},
        "registered": "19930901",
        "source_cc": "NL",
        "status": "allocated",
        "authority": "ripencc",
        "source_key_seq": 3,
        "recipient_key_seq": None,
    }
    return [json.dumps(offer).encode()]


def _offer(data: bytes) -> object:
    return parse_offer(NONCE, parse_json_body(data))


OFFER_KEYS = ("original", "registered", "source_cc", "status", "authority", "source_key_seq")
OFFER = Target(
    "transfer_offer",
    _offer,
    (MalformedRequest,),
    _offer_seeds,
    tokens=AGREEMENT_TOKENS + json_tokens(*OFFER_KEYS, "recipient_key_seq"),
)


@functools.cache
def _witness() -> Witness:
    w = world()
    conn = sqlite3.connect(":memory:", isolation_level=None)
    return Witness(conn, w.witnesses[0], {ORIGIN: [w.signer.verifier()]})


def _witness_seeds() -> list[bytes]:
    note = world().note
    return [
        AddCheckpointRequest(0, [], note).body().encode(),
        AddCheckpointRequest(3, [bytes(32), bytes(range(32))], note).body().encode(),
    ]


def _add_checkpoint(data: bytes) -> object:
    """As the route hands it on: decoded leniently, answered with a status, never raising."""
    return _witness().add_checkpoint(text(data))


ADD_CHECKPOINT = Target("witness_add", _add_checkpoint, (), _witness_seeds)


def _roa_seeds() -> list[bytes]:
    def signed(*prefixes: str) -> bytes:
        request = RoaRequest(
            "ripencc", "RIPE-NCC-HM", "add", 3333, prefixes, "", "2029-06-02T00:00:00Z", NONCE
        )
        return json.dumps(request.sign(HOLDER_KEY)).encode()

    return [signed("193.0.0.0/21-24"), signed("193.0.0.0/24", "2001:67c::/32-48")]


def _roa(data: bytes) -> object:
    request, signature = parse_roa_body(data)
    public = HOLDER_KEY.public_key().public_bytes_raw()
    check_request(request, signature, public, "ripencc", NOW)
    # what issuing does with it next (rpki_routes._execute): its prefixes, then the ROA content
    prefixes = [RoaPrefix.parse(p) for p in request.prefixes]
    return roa_content(request.asn, prefixes)


ROA_KEYS = ("request", "signature", "format", "registry", "holder", "action", "asn", "prefixes")
ROA_REQUEST = Target(
    "roa_request",
    _roa,
    (ValueError, OneregError),
    _roa_seeds,
    tokens=json_tokens(*ROA_KEYS, "file", "expires", "nonce", "add", "remove"),
)


def _holder_key_seeds() -> list[bytes]:
    return [json.dumps({"handle": "RIPE-NCC-HM", "key": "ab" * 32}).encode()]


def _prefixes(data: bytes) -> object:
    """A signed request's prefixes as issuing reads them (only a holder's key gets them this
    far, so the target above cannot mutate them; this one can): one prefix a line."""
    prefixes = [RoaPrefix.parse(line) for line in text(data).split("\n")]
    return roa_content(3333, prefixes)


ROA_PREFIXES = Target(
    "roa_prefixes",
    _prefixes,
    (ValueError,),
    lambda: [b"193.0.0.0/21-24\n2001:67c::/32-48", b"10.0.0.0/8", b"::/0-128\n0.0.0.0/0"],
    1024,
)

HOLDER_KEY_BODY = Target(
    "holder_key",
    parse_holder_key_body,
    (ValueError, KeyError, TypeError),
    _holder_key_seeds,
    tokens=json_tokens("handle", "key"),
)

TARGETS = [SUBMISSION, OFFER, ADD_CHECKPOINT, ROA_REQUEST, ROA_PREFIXES, HOLDER_KEY_BODY]


# --- RFC 9421 signatures on requests and answers ---------------------------------------------

_PEER = NodeSigningKey("peer-ripencc", Ed25519PrivateKey.from_private_bytes(bytes([7]) * 32))
_WHEN = 1_900_000_000.0
_SENT = b'{"x": 1}'


def _message(data: bytes) -> tuple[dict[str, str], bytes]:
    """`Name: value` header lines, a blank line, the body (as an HTTP message carries them)."""
    head, _, body = data.partition(b"\n\n")
    headers: dict[str, str] = {}
    for line in text(head).split("\n"):
        name, _, value = line.partition(":")
        headers[name.strip()] = value.strip()
    return headers, body


def _serialise(headers: dict[str, str], body: bytes) -> bytes:
    return "".join(f"{k}: {v}\n" for k, v in headers.items()).encode() + b"\n" + body


def _signed_seeds() -> list[bytes]:
    request = sign_request(_PEER, "POST", "/transfers/abc/accept", _SENT, now=_WHEN, nonce="n1")
    seeds = [b"\x00" + _serialise(request, _SENT)]
    verified = _verifier().verify("POST", "/transfers/abc/accept", request, _SENT)
    answer = sign_response(_PEER, 200, b"{}", verified, now=_WHEN)
    seeds.append(b"\x01" + _serialise(answer, b"{}"))
    return seeds


def _verifier() -> RequestVerifier:
    return RequestVerifier({_PEER.keyid: _PEER.private.public_key()}, clock=lambda: _WHEN)


def _signed(data: bytes) -> object:
    """0: a peer's signed request as a node checks it before any handler runs; 1: a peer's
    signed answer as a node checks it against the request it sent."""
    choice, rest = select(data, 2)
    headers, body = _message(rest)
    if choice == 0:
        return _verifier().verify("POST", "/transfers/abc/accept", headers, body)
    sent = sign_request(_PEER, "POST", "/transfers/abc/accept", _SENT, now=_WHEN, nonce="n1")
    keys = {_PEER.keyid: _PEER.private.public_key()}
    verify_response(
        keys, _PEER.keyid, 200, headers, body, "POST", "/transfers/abc/accept", sent, now=_WHEN
    )
    return headers


SIGNED = Target("signed_message", _signed, (SignatureRejected,), _signed_seeds)

TARGETS.append(SIGNED)
