"""HTTP Message Signatures between nodes: requests, request-bound answers, replay, RFC vectors."""

from __future__ import annotations

import base64
import contextlib

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import load_der_private_key, load_der_public_key
from http_message_signatures import ContentDigest
from hypothesis import given, settings
from hypothesis import strategies as st

from onereg.federation import httpsig
from onereg.federation.httpsig import (
    NodeSigningKey,
    RequestVerifier,
    SignatureRejected,
    VerifiedRequest,
    content_digest,
    sign_request,
    sign_response,
    verify_response,
)

T0 = 1_700_000_000.0
BODY = b'{"transfer": "193.0.0.0/21", "to": "arin"}'
TARGET = "/federation/transfers?after=12&limit=5"

RIPE = NodeSigningKey("ripencc", Ed25519PrivateKey.from_private_bytes(bytes(range(32))))
ARIN = NodeSigningKey("arin", Ed25519PrivateKey.from_private_bytes(bytes(range(1, 33))))
KEYS: dict[str, Ed25519PublicKey] = {
    RIPE.keyid: RIPE.private.public_key(),
    ARIN.keyid: ARIN.private.public_key(),
}


class Clock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _verifier(clock: Clock | None = None, **kwargs: float) -> RequestVerifier:
    return RequestVerifier(KEYS, clock=clock or Clock(), **kwargs)  # type: ignore[arg-type]


def _signed(
    method: str = "POST", target: str = TARGET, body: bytes = BODY, now: float = T0
) -> dict[str, str]:
    return sign_request(RIPE, method, target, body, now=now)


def _rejected(verifier: RequestVerifier, headers: dict[str, str], **over: object) -> str:
    args: dict[str, object] = {"method": "POST", "target": TARGET, "body": BODY}
    args.update(over)
    with pytest.raises(SignatureRejected) as info:
        verifier.verify(args["method"], args["target"], headers, args["body"])  # type: ignore[arg-type]
    return str(info.value)


def _resign(**params: object) -> dict[str, str]:
    """Sign the standard request again with chosen low-level parameters."""
    message = httpsig._Request("POST", httpsig._ORIGIN + TARGET, {})
    args: dict[str, object] = {
        "keyid": RIPE.keyid,
        "covered": httpsig.REQUEST_COMPONENTS,
        "created": int(T0),
        "body": BODY,
        "nonce": "resigned-nonce-0001",
    }
    args.update(params)
    httpsig._sign_message(message, RIPE.private, **args)  # type: ignore[arg-type]
    return message.headers


# --- Content-Digest ---------------------------------------------------------------------------


def test_content_digest_is_rfc9530_sha256() -> None:
    # The {"hello": "world"} body of the RFC 9421/9530 examples; its SHA-256 in RFC 9421's drafts.
    body = b'{"hello": "world"}'
    assert content_digest(body) == "sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:"
    assert content_digest(b"") == "sha-256=:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=:"
    assert content_digest(BODY) == ContentDigest.create(BODY)  # and the library agrees


# --- requests ---------------------------------------------------------------------------------


def test_round_trip() -> None:
    headers = _signed()
    assert set(headers) == {"Content-Digest", "Signature-Input", "Signature"}
    assert headers["Content-Digest"] == content_digest(BODY)
    got = _verifier().verify("POST", TARGET, headers, BODY)
    assert (got.keyid, got.created, got.method, got.target) == ("ripencc", int(T0), "POST", TARGET)
    assert len(got.nonce) >= 22  # 128 random bits, base64url
    assert headers["Signature-Input"] == f"onereg={got.signature_input}"
    assert headers["Signature"] == "onereg=:" + base64.b64encode(got.signature).decode() + ":"
    params = got.signature_input
    assert params.startswith('("@method" "@path" "@query" "content-digest");created=')
    assert ';keyid="ripencc";alg="ed25519";nonce="' in params


def test_header_names_are_case_insensitive_and_query_may_be_absent() -> None:
    headers = {k.upper(): v for k, v in _signed(target="/a/b", body=b"").items()}
    assert _verifier().verify("POST", "/a/b", headers, b"").target == "/a/b"
    assert _rejected(_verifier(), headers, target="/a/b?x", body=b"").startswith("bad signature")
    # RFC 9421 §2.2.7: an absent and an empty query both give "@query": ?
    assert _verifier().verify("POST", "/a/b?", headers, b"").target == "/a/b?"


def test_two_requests_get_different_nonces() -> None:
    assert _signed()["Signature-Input"] != _signed()["Signature-Input"]


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"method": "PUT"}, "bad signature"),
        ({"target": "/federation/transfers?after=12&limit=6"}, "bad signature"),
        ({"target": "/federation/transferz?after=12&limit=5"}, "bad signature"),
        ({"target": "/federation/transfers"}, "bad signature"),
        ({"body": BODY + b" "}, "Content-Digest does not match"),
    ],
)
def test_tampered_request_is_rejected(change: dict[str, object], reason: str) -> None:
    assert reason in _rejected(_verifier(), _signed(), **change)


def test_tampered_digest_header_is_rejected() -> None:
    other = b'{"transfer": "0.0.0.0/0"}'
    headers = _signed() | {"Content-Digest": content_digest(other)}
    assert "Content-Digest does not match" in _rejected(_verifier(), headers)
    # a digest matching a substituted body passes the digest check but not the signature
    assert "bad signature" in _rejected(_verifier(), headers, body=other)


def test_flipped_signature_byte_is_rejected() -> None:
    headers = _signed()
    raw = bytearray(base64.b64decode(headers["Signature"][8:-1]))
    raw[10] ^= 0x01
    headers["Signature"] = "onereg=:" + base64.b64encode(bytes(raw)).decode() + ":"
    assert _rejected(_verifier(), headers).startswith("bad signature: ed25519")


def test_wrong_key_and_unknown_keyid_are_rejected() -> None:
    impostor = NodeSigningKey("ripencc", Ed25519PrivateKey.generate())
    headers = sign_request(impostor, "POST", TARGET, BODY, now=T0)
    assert _rejected(_verifier(), headers).startswith("bad signature")
    stranger = NodeSigningKey("lacnic", Ed25519PrivateKey.generate())
    headers = sign_request(stranger, "POST", TARGET, BODY, now=T0)
    assert "unknown keyid 'lacnic'" in _rejected(_verifier(), headers)


def test_alg_other_than_ed25519_is_rejected() -> None:
    headers = _signed()
    headers["Signature-Input"] = headers["Signature-Input"].replace("ed25519", "rsa-pss-sha512")
    assert "Unexpected algorithm" in _rejected(_verifier(), headers)
    without_alg = _resign(include_alg=False)
    assert "alg is None, expected 'ed25519'" in _rejected(_verifier(), without_alg)


@pytest.mark.parametrize("name", ["Signature", "Signature-Input", "Content-Digest"])
def test_missing_header_is_rejected(name: str) -> None:
    headers = _signed()
    del headers[name]
    assert _rejected(_verifier(), headers) == f"missing {name.lower()} header field"


def test_oversized_header_is_rejected_before_parsing() -> None:
    headers = _signed()
    headers["Signature-Input"] += ";x=" + "a" * 9000
    assert "signature-input header field is" in _rejected(_verifier(), headers)
    assert "over 8 KiB" in _rejected(_verifier(), headers)


def test_uncovered_component_is_rejected() -> None:
    headers = _resign(covered=("@method", "@path", "content-digest"))
    assert 'Required component "@query" was not covered' in _rejected(_verifier(), headers)


def test_unparsable_fields_are_rejected() -> None:
    for name, value in [
        ("Signature-Input", "onereg=(@method"),
        ("Signature", "onereg=:not base64!:"),
        ("Content-Digest", "sha-256=abc"),
    ]:
        headers = _signed() | {name: value}
        assert name.lower() in _rejected(_verifier(), headers).lower()


def test_other_signature_label_is_rejected() -> None:
    headers = _resign(label="other")
    assert "signature label is 'other', expected 'onereg'" in _rejected(_verifier(), headers)


def test_bad_target_is_rejected() -> None:
    assert "not an origin-form path" in _rejected(_verifier(), _signed(), target="relative")
    with pytest.raises(ValueError, match="not an origin-form path"):
        sign_request(RIPE, "GET", "/x#frag", b"")


# --- freshness and replay ---------------------------------------------------------------------


def test_replay_is_rejected() -> None:
    verifier = _verifier()
    headers = _signed()
    verifier.verify("POST", TARGET, headers, BODY)
    verifier.verify("POST", TARGET, _signed(), BODY)  # the same request with a fresh nonce
    assert "replayed request: nonce" in _rejected(verifier, headers)


def test_missing_nonce_is_rejected() -> None:
    headers = _resign(nonce=None)
    assert "nonce is missing" in _rejected(_verifier(), headers)


@pytest.mark.parametrize(
    ("clock_offset", "reason"),
    [(61.0, "is older than 60 s"), (-61.0, "is more than 60 s ahead")],
)
def test_created_outside_window_is_rejected(clock_offset: float, reason: str) -> None:
    headers = _signed()
    assert reason in _rejected(_verifier(Clock(T0 + clock_offset)), headers)
    _verifier(Clock(T0 + clock_offset * 59 / 61)).verify("POST", TARGET, headers, BODY)


def test_expired_request_is_rejected() -> None:
    headers = sign_request(RIPE, "POST", TARGET, BODY, now=T0, expires_in=10)
    assert f"expired at expires={int(T0) + 10}" in _rejected(_verifier(Clock(T0 + 11)), headers)
    _verifier(Clock(T0 + 9)).verify("POST", TARGET, headers, BODY)


def test_nonce_cache_is_bounded_and_evicts_with_the_window() -> None:
    clock = Clock()
    verifier = _verifier(clock, window_seconds=60.0, max_nonces=2)
    first = _signed()
    verifier.verify("POST", TARGET, first, BODY)
    verifier.verify("POST", TARGET, _signed(), BODY)
    assert "nonce cache full (2 nonces" in _rejected(verifier, _signed())
    assert len(verifier) == 2
    clock.now = T0 + 61  # the first two are now too old to replay, so they are forgotten
    verifier.verify("POST", TARGET, _signed(now=clock.now), BODY)
    assert len(verifier) == 1
    assert "is older than" in _rejected(verifier, first)  # forgotten, yet still refused


# --- answers ----------------------------------------------------------------------------------


def _answered(headers: dict[str, str] | None = None) -> tuple[dict[str, str], VerifiedRequest]:
    headers = headers or _signed()
    return headers, _verifier().verify("POST", TARGET, headers, BODY)


def _check_answer(
    answer: dict[str, str], sent: dict[str, str], *, status: int = 200, body: bytes = b"ok"
) -> None:
    verify_response(KEYS, "arin", status, answer, body, "POST", TARGET, sent, now=T0)


def test_response_round_trip_and_coverage() -> None:
    sent, request = _answered()
    answer = sign_response(ARIN, 200, b"ok", request, now=T0)
    _check_answer(answer, sent)
    assert answer["Signature-Input"].startswith(
        'onereg=("@status" "content-digest" "@method";req "@path";req "@query";req '
        '"signature";req;key="onereg");created='
    )


def test_response_for_one_request_fails_for_another() -> None:
    sent_a, request_a = _answered()
    sent_b, _ = _answered()  # identical request, different nonce and so different signature
    answer = sign_response(ARIN, 200, b"ok", request_a, now=T0)
    with pytest.raises(SignatureRejected, match="bad signature"):
        _check_answer(answer, sent_b)
    _check_answer(answer, sent_a)


@pytest.mark.parametrize(
    ("status", "body", "reason"),
    [(201, b"ok", "bad signature"), (200, b"no", "Content-Digest does not match")],
)
def test_tampered_response_is_rejected(status: int, body: bytes, reason: str) -> None:
    sent, request = _answered()
    answer = sign_response(ARIN, 200, b"ok", request, now=T0)
    with pytest.raises(SignatureRejected, match=reason):
        _check_answer(answer, sent, status=status, body=body)


def test_response_from_other_node_or_too_old_is_rejected() -> None:
    sent, request = _answered()
    by_ripe = sign_response(RIPE, 200, b"ok", request, now=T0)
    with pytest.raises(SignatureRejected, match="keyid is 'ripencc', expected 'arin'"):
        _check_answer(by_ripe, sent)
    stale = sign_response(ARIN, 200, b"ok", request, now=T0 - 120)
    with pytest.raises(SignatureRejected, match="is older than 60 s"):
        _check_answer(stale, sent)


def test_request_signature_is_not_accepted_as_a_response() -> None:
    sent = sign_request(ARIN, "POST", TARGET, BODY, now=T0)
    with pytest.raises(SignatureRejected, match=r"@status|@method"):
        _check_answer(sent, sent, body=BODY)


# --- RFC 9421 appendix B.2.6 ------------------------------------------------------------------

# B.1.4 "test-key-ed25519" (PKCS#8 / SubjectPublicKeyInfo DER, base64)
RFC_PRIVATE = "MC4CAQAwBQYDK2VwBCIEIJ+DYvh6SEqVTm50DFtMDoQikTmiCqirVv9mWG9qfSnF"
RFC_PUBLIC = "MCowBQYDK2VwAyEAJrQLj5P/89iXES9+vFgrIy29clF9CC/oPPsw3c5D0bs="
B26_INPUT = (
    'sig-b26=("date" "@method" "@path" "@authority" "content-type" "content-length")'
    ';created=1618884473;keyid="test-key-ed25519"'
)
B26_SIGNATURE = (
    "sig-b26=:wqcAqbmYJ2ji2glfAMaRy4gruYYnx2nEFN2HN6jrnDnQCK1"
    "u02Gb04v9EDgwUPiu4A0w6vuQv5lIp5WPpBKRCw==:"
)


def test_rfc9421_b26_ed25519_vector_byte_for_byte() -> None:
    private = load_der_private_key(base64.b64decode(RFC_PRIVATE), password=None)
    assert isinstance(private, Ed25519PrivateKey)
    assert private.public_key() == load_der_public_key(base64.b64decode(RFC_PUBLIC))
    headers = {
        "Host": "example.com",
        "Date": "Tue, 20 Apr 2021 02:07:55 GMT",
        "Content-Type": "application/json",
        "Content-Length": "18",
    }
    message = httpsig._Request("POST", "https://example.com/foo?param=Value&Pet=dog", headers)
    httpsig._sign_message(
        message,
        private,
        keyid="test-key-ed25519",
        covered=("date", "@method", "@path", "@authority", "content-type", "content-length"),
        created=1618884473,
        label="sig-b26",
        include_alg=False,
    )
    assert message.headers["Signature-Input"] == B26_INPUT
    assert message.headers["Signature"] == B26_SIGNATURE


# --- fuzzing ----------------------------------------------------------------------------------

SF_CHARS = st.sampled_from(list('onereg=():;,"@ -_*.?/\\abcdefsig256ABZ019+=\t\x00é'))
FIELD = st.one_of(st.text(max_size=120), st.text(SF_CHARS, max_size=120))


@settings(max_examples=400, deadline=None)
@given(
    sig_input=FIELD,
    signature=FIELD,
    digest=FIELD,
    method=st.sampled_from(["POST", "GET", "post", ""]),
    target=st.one_of(st.just(TARGET), st.text(max_size=30)),
)
def test_random_headers_only_raise_signature_rejected(
    sig_input: str, signature: str, digest: str, method: str, target: str
) -> None:
    headers = {"Signature-Input": sig_input, "Signature": signature, "Content-Digest": digest}
    with pytest.raises(SignatureRejected):
        _verifier().verify(method, target, headers, BODY)


@settings(max_examples=300, deadline=None)
@given(
    name=st.sampled_from(["Signature-Input", "Signature", "Content-Digest"]),
    at=st.integers(min_value=0, max_value=200),
    insert=st.text(SF_CHARS, min_size=1, max_size=3),
)
def test_mutated_valid_headers_only_raise_signature_rejected(
    name: str, at: int, insert: str
) -> None:
    headers = _signed()
    value = headers[name]
    at %= len(value) + 1
    headers[name] = value[:at] + insert + value[at:]
    with contextlib.suppress(SignatureRejected):  # some insertions leave it valid
        _verifier().verify("POST", TARGET, headers, BODY)


@settings(max_examples=200, deadline=None)
@given(
    status=st.integers(min_value=-5, max_value=1000),
    sig_input=FIELD,
    signature=FIELD,
    digest=FIELD,
)
def test_random_response_headers_only_raise_signature_rejected(
    status: int, sig_input: str, signature: str, digest: str
) -> None:
    sent = _signed()
    answer = {"Signature-Input": sig_input, "Signature": signature, "Content-Digest": digest}
    with pytest.raises(SignatureRejected):
        verify_response(KEYS, "arin", status, answer, b"", "POST", TARGET, sent, now=T0)
