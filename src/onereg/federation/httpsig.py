"""HTTP Message Signatures (RFC 9421, Ed25519) for node-to-node requests and their answers.

A node signs every request it sends to a peer and every answer it gives one, so that neither
side acts on a message a third party wrote, altered or replayed:

* a request covers ``"@method" "@path" "@query" "content-digest"`` (RFC 9421 §2.2.6, §2.2.7;
  Content-Digest is RFC 9530 sha-256 of the body) with the parameters ``created``, optional
  ``expires``, a random 128-bit ``nonce``, ``keyid`` (the registry id) and ``alg="ed25519"``,
  under the label ``onereg``. The verifier accepts it only within ``+-window`` seconds of its
  clock and only once: the nonce is remembered until the request would be too old anyway.
* an answer covers ``"@status" "content-digest"`` and is bound to the request it answers
  (RFC 9421 §2.4): ``"@method";req "@path";req "@query";req "signature";req;key="onereg"``. The
  request signature covers the request's nonce, so an answer cannot be replayed for another
  request, not even for an identical one sent later.

The signature base, structured-field parsing and serialisation, Ed25519 and Content-Digest
checking come from the ``http-message-signatures`` library (pyauth). It implements RFC 9421
with ed25519, Content-Digest and request-bound response signatures (``;req``) and reproduces the
RFC's appendix B.2.6 vector byte for byte, so this module keeps only onereg's policy: which
components must be covered, the time window, replay, key lookup by registry id, size limits,
and turning every refusal into :class:`SignatureRejected`. Two points of fit are handled here:
the library resolves components from an absolute URL, so the request target is put under a
fixed placeholder origin (``@authority`` and ``@scheme`` are never covered), and its freshness
check reads the wall clock, so it is switched off in favour of this module's, which takes an
injectable clock.
"""

from __future__ import annotations

import base64
import hashlib
import heapq
import re
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cryptography.exceptions import InvalidSignature as CryptoInvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from http_message_signatures import (
    ContentDigest,
    HTTPMessageSignaturesException,
    HTTPMessageSigner,
    HTTPMessageVerifier,
    HTTPSignatureKeyResolver,
    InvalidSignature,
    VerifyResult,
)
from http_message_signatures.algorithms import ED25519

from onereg.core.errors import OneregError

LABEL = "onereg"
ALG = "ed25519"
MAX_HEADER_BYTES = 8 * 1024
MAX_NONCE_CHARS = 128
REQUEST_COMPONENTS = ("@method", "@path", "@query", "content-digest")
RESPONSE_COMPONENTS = (
    "@status",
    "content-digest",
    '"@method";req',
    '"@path";req',
    '"@query";req',
    f'"signature";req;key="{LABEL}"',
)
# The library resolves @path/@query from an absolute URL; the origin is never covered.
_ORIGIN = "http://peer.onereg.invalid"
_TARGET = re.compile(r"/[!$&'()*+,;=:@/?A-Za-z0-9._~%\-]*")
_SIGNATURE_MEMBER = re.compile(rf"{LABEL}=:([A-Za-z0-9+/]*={{0,2}}):")


class SignatureRejected(OneregError):
    """Why a signed message was refused (HTTP 401)."""


@dataclass(frozen=True)
class NodeSigningKey:
    keyid: str
    private: Ed25519PrivateKey


@dataclass(frozen=True)
class VerifiedRequest:
    keyid: str
    nonce: str
    created: int
    signature: bytes  # raw signature bytes of the request (answers bind to it)
    signature_input: str  # the Signature-Input member value (serialised inner list)
    method: str = "GET"  # request method and target, for the answer's "@method";req etc.
    target: str = "/"


# --- message views the library resolves components from -------------------------------------


@dataclass
class _Request:
    method: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class _Response:
    status_code: int
    request: _Request
    headers: dict[str, str] = field(default_factory=dict)


def _target_problem(target: str) -> str | None:
    if _TARGET.fullmatch(target) is None:
        return f"request target {target[:200]!r} is not an origin-form path with optional query"
    return None


def _request_view(method: str, target: str, headers: dict[str, str]) -> _Request:
    return _Request(method, _ORIGIN + target, headers)


# --- Content-Digest (RFC 9530) ---------------------------------------------------------------


def content_digest(body: bytes) -> str:
    """The Content-Digest field value for ``body``: ``sha-256=:<base64>:``."""
    return "sha-256=:" + base64.b64encode(hashlib.sha256(body).digest()).decode("ascii") + ":"


# --- signing -----------------------------------------------------------------------------------


class _Ed25519(ED25519):
    """The library's Ed25519, with a failed check reported as a rejection with a reason."""

    def verify(self, signature: bytes, message: bytes) -> None:
        try:
            super().verify(signature=signature, message=message)
        except CryptoInvalidSignature:
            raise InvalidSignature("bad signature: ed25519 verification failed") from None


class _KeyResolver(HTTPSignatureKeyResolver):
    def __init__(
        self,
        public: Mapping[str, Ed25519PublicKey],
        private: Ed25519PrivateKey | None = None,
        expected: str | None = None,
    ) -> None:
        self.public = dict(public)
        self.private = private
        self.expected = expected

    def resolve_public_key(self, key_id: str) -> Ed25519PublicKey:
        if self.expected is not None and key_id != self.expected:
            raise InvalidSignature(f"keyid is {key_id[:100]!r}, expected {self.expected!r}")
        key = self.public.get(key_id)
        if key is None:
            raise InvalidSignature(f"unknown keyid {key_id[:100]!r}")
        return key

    def resolve_private_key(self, key_id: str) -> Ed25519PrivateKey:
        if self.private is None:
            raise KeyError(key_id)
        return self.private


def _sign_message(
    message: _Request | _Response,
    private: Ed25519PrivateKey,
    *,
    keyid: str,
    covered: Sequence[str],
    created: int,
    label: str = LABEL,
    body: bytes | None = None,
    nonce: str | None = None,
    expires: int | None = None,
    include_alg: bool = True,
) -> None:
    """Add Signature-Input and Signature (and Content-Digest when body is given) to message."""
    signer = HTTPMessageSigner(signature_algorithm=_Ed25519, key_resolver=_KeyResolver({}, private))
    signer.sign(
        message,
        key_id=keyid,
        created=datetime.fromtimestamp(created, tz=UTC),
        expires=None if expires is None else datetime.fromtimestamp(expires, tz=UTC),
        nonce=nonce,
        label=label,
        include_alg=include_alg,
        covered_component_ids=covered,
        body=body,
    )


def _outgoing(headers: Mapping[str, str]) -> dict[str, str]:
    names = {"content-digest": "Content-Digest", "signature-input": "Signature-Input"}
    names["signature"] = "Signature"
    return {names[k.lower()]: v for k, v in headers.items() if k.lower() in names}


def sign_request(
    key: NodeSigningKey,
    method: str,
    target: str,
    body: bytes,
    *,
    now: float | None = None,
    nonce: str | None = None,
    expires_in: int | None = None,
) -> dict[str, str]:
    """The headers to add to a request: Content-Digest, Signature-Input, Signature.

    ``target`` is the path plus optional ``?query`` exactly as sent on the request line.
    """
    problem = _target_problem(target)
    if problem is not None:
        raise ValueError(problem)
    created = int(time.time() if now is None else now)
    message = _request_view(method, target, {})
    _sign_message(
        message,
        key.private,
        keyid=key.keyid,
        covered=REQUEST_COMPONENTS,
        created=created,
        body=body,
        nonce=secrets.token_urlsafe(16) if nonce is None else nonce,
        expires=None if expires_in is None else created + expires_in,
    )
    return _outgoing(message.headers)


def sign_response(
    key: NodeSigningKey,
    status: int,
    body: bytes,
    request: VerifiedRequest,
    *,
    now: float | None = None,
) -> dict[str, str]:
    """The headers to add to the answer to ``request``: Content-Digest, Signature-Input,
    Signature."""
    request_headers = {"Signature": _signature_field(request.signature)}
    answered = _request_view(request.method, request.target, request_headers)
    message = _Response(status, answered)
    created = int(time.time() if now is None else now)
    _sign_message(
        message,
        key.private,
        keyid=key.keyid,
        covered=RESPONSE_COMPONENTS,
        created=created,
        body=body,
    )
    return _outgoing(message.headers)


def _signature_field(signature: bytes) -> str:
    return f"{LABEL}=:{base64.b64encode(signature).decode('ascii')}:"


# --- verifying ---------------------------------------------------------------------------------


class _Verifier(HTTPMessageVerifier):
    """The library's verifier with its wall-clock freshness check left to this module."""

    def validate_created_and_expires(self, sig_input: Any, max_age: Any = None) -> None:
        return None


def _signed_headers(headers: Mapping[str, str], body: bytes) -> dict[str, str]:
    """The three signature fields, lower-cased, checked for presence and size; the digest."""
    lowered = {name.lower(): value for name, value in headers.items()}
    picked: dict[str, str] = {}
    for name in ("signature-input", "signature", "content-digest"):
        value = lowered.get(name)
        if value is None:
            raise SignatureRejected(f"missing {name} header field")
        if not isinstance(value, str):
            raise SignatureRejected(f"{name} header field is not text")
        if len(value) > MAX_HEADER_BYTES:
            raise SignatureRejected(f"{name} header field is {len(value)} bytes, over 8 KiB")
        picked[name] = value
    _check_digest(picked["content-digest"], body)
    return picked


def _check_digest(value: str, body: bytes) -> None:
    """Content-Digest against the body, before (and besides) the signature covering it."""
    try:
        ContentDigest.verify(value, body)
    except HTTPMessageSignaturesException as exc:
        raise SignatureRejected(f"content-digest: {exc}") from exc


def _run_verifier(
    message: _Request | _Response,
    resolver: _KeyResolver,
    required: Sequence[str],
    body: bytes,
) -> VerifyResult:
    verifier = _Verifier(signature_algorithm=_Ed25519, key_resolver=resolver)
    try:
        results = verifier.verify(message, max_age=None, require_components=required, body=body)
    except HTTPMessageSignaturesException as exc:
        raise SignatureRejected(_reason(exc)) from exc
    result: VerifyResult = results[0]
    if result.label != LABEL:
        raise SignatureRejected(f"signature label is {result.label[:100]!r}, expected {LABEL!r}")
    return result


def _reason(exc: Exception) -> str:
    text = str(exc) or type(exc).__name__
    if text.startswith("Unexpected algorithm"):
        text += f": alg must be {ALG!r}"
    return text if text.startswith("bad signature") else f"signature refused: {text}"


def _check_alg_and_time(
    params: Mapping[str, int | str], now: float, window: float
) -> tuple[str, int]:
    """Return (keyid, created) after checking alg, created and expires against ``now``."""
    alg = params.get("alg")
    if alg != ALG:
        raise SignatureRejected(f"signature parameter alg is {alg!r}, expected {ALG!r}")
    created = params.get("created")
    if not isinstance(created, int):
        raise SignatureRejected("signature parameter created is missing")
    if created < now - window:
        raise SignatureRejected(f"signature created={created} is older than {window:g} s")
    if created > now + window:
        raise SignatureRejected(f"signature created={created} is more than {window:g} s ahead")
    expires = params.get("expires")
    if isinstance(expires, int) and now > expires:
        raise SignatureRejected(f"signature expired at expires={expires}")
    return str(params["keyid"]), created


def _signature_bytes(signature_field: str) -> bytes:
    match = _SIGNATURE_MEMBER.fullmatch(signature_field.strip(" \t"))
    if match is None:
        raise SignatureRejected(f"signature header field is not a single {LABEL!r} member")
    return base64.b64decode(match.group(1))


class RequestVerifier:
    """Checks signed peer requests; remembers nonces so each request is accepted only once."""

    def __init__(
        self,
        keys: Mapping[str, Ed25519PublicKey],
        window_seconds: float = 60.0,
        clock: Callable[[], float] = time.time,
        max_nonces: int = 100_000,
    ) -> None:
        self.keys = dict(keys)
        self.window = window_seconds
        self.clock = clock
        self.max_nonces = max_nonces
        self._nonces: dict[tuple[str, str], float] = {}  # (keyid, nonce) -> forget after
        self._expiry: list[tuple[float, str, str]] = []  # heap of (forget after, keyid, nonce)

    def verify(
        self, method: str, target: str, headers: Mapping[str, str], body: bytes
    ) -> VerifiedRequest:
        """The verified request, or SignatureRejected naming what was wrong."""
        fields = _signed_headers(headers, body)
        problem = _target_problem(target)
        if problem is not None:
            raise SignatureRejected(problem)
        message = _request_view(method, target, fields)
        result = _run_verifier(message, _KeyResolver(self.keys), REQUEST_COMPONENTS, body)
        now = self.clock()
        keyid, created = _check_alg_and_time(result.parameters, now, self.window)
        nonce = self._check_nonce(keyid, result.nonce, created, now)
        return VerifiedRequest(
            keyid=keyid,
            nonce=nonce,
            created=created,
            signature=_signature_bytes(fields["signature"]),
            signature_input=result.covered_components['"@signature-params"'],
            method=method,
            target=target,
        )

    def _check_nonce(self, keyid: str, nonce: str | None, created: int, now: float) -> str:
        if not nonce:
            raise SignatureRejected("signature parameter nonce is missing")
        if len(nonce) > MAX_NONCE_CHARS:
            raise SignatureRejected(f"signature nonce is {len(nonce)} characters, over 128")
        self._forget_expired(now)
        if (keyid, nonce) in self._nonces:
            raise SignatureRejected(f"replayed request: nonce {nonce!r} from {keyid!r} seen before")
        if len(self._nonces) >= self.max_nonces:
            raise SignatureRejected(
                f"nonce cache full ({self.max_nonces} nonces younger than {self.window:g} s)"
            )
        # After created + window the request is refused as too old, so the nonce can go.
        forget_after = created + self.window
        self._nonces[(keyid, nonce)] = forget_after
        heapq.heappush(self._expiry, (forget_after, keyid, nonce))
        return nonce

    def _forget_expired(self, now: float) -> None:
        while self._expiry and self._expiry[0][0] < now:
            forget_after, keyid, nonce = heapq.heappop(self._expiry)
            if self._nonces.get((keyid, nonce)) == forget_after:
                del self._nonces[(keyid, nonce)]

    def __len__(self) -> int:
        """How many nonces are remembered."""
        return len(self._nonces)


def verify_response(
    keys: Mapping[str, Ed25519PublicKey],
    expected_keyid: str,
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    request_method: str,
    request_target: str,
    request_headers: Mapping[str, str],
    *,
    window_seconds: float = 60.0,
    now: float | None = None,
) -> None:
    """Check that an answer was signed by ``expected_keyid`` for the request we sent.

    ``request_headers`` are the headers :func:`sign_request` returned for that request.
    """
    fields = _signed_headers(headers, body)
    sent = {k.lower(): v for k, v in request_headers.items() if k.lower() == "signature"}
    if "signature" not in sent:
        raise SignatureRejected("request_headers has no Signature field to bind the answer to")
    problem = _target_problem(request_target)
    if problem is not None:
        raise SignatureRejected(problem)
    message = _Response(status, _request_view(request_method, request_target, sent), fields)
    resolver = _KeyResolver(keys, expected=expected_keyid)
    result = _run_verifier(message, resolver, RESPONSE_COMPONENTS, body)
    clock = time.time() if now is None else now
    _check_alg_and_time(result.parameters, clock, window_seconds)
