"""What a holder signs to have its registry issue or revoke a ROA (the hosted model).

Like a transfer agreement, the request is canonical JSON under a format line, signed with the
holder's Ed25519 key that the registry's log holds. Each request carries a random nonce and
expires within MAX_VALIDITY; the registry's CA remembers the nonces of requests it executed until
they expire, so a captured request cannot be replayed (not even to bring back a ROA the holder
has since removed).
"""

from __future__ import annotations

import base64
import json
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from onereg.core.errors import OneregError
from onereg.core.resources import Afi
from onereg.ledger.entry import canonical_json

ROA_REQUEST_FORMAT = "onereg-roa-request/2"
MAX_VALIDITY = timedelta(days=1)
ACTIONS = ("add", "remove")


class RoaRequestError(OneregError):
    """A ROA request that is malformed, expired or not signed by the holder."""


@dataclass(frozen=True, slots=True)
class RoaRequest:
    registry: str
    holder: str
    action: str
    asn: int
    prefixes: tuple[str, ...]
    file: str  # the ROA to remove ("" when adding)
    expires: str  # RFC 3339, UTC, at most MAX_VALIDITY ahead
    nonce: str = field(default_factory=lambda: secrets.token_hex(16))

    def fields(self) -> dict[str, object]:
        return {
            "format": ROA_REQUEST_FORMAT,
            "registry": self.registry,
            "holder": self.holder,
            "action": self.action,
            "asn": self.asn,
            "prefixes": list(self.prefixes),
            "file": self.file,
            "expires": self.expires,
            "nonce": self.nonce,
        }

    def message(self) -> bytes:
        return ROA_REQUEST_FORMAT.encode() + b"\n" + canonical_json(self.fields())

    def sign(self, key: Ed25519PrivateKey) -> dict[str, object]:
        """The request as it is sent: fields and the holder's signature."""
        return {
            "request": self.fields(),
            "signature": base64.b64encode(key.sign(self.message())).decode(),
        }


def parse_signed(body: object) -> tuple[RoaRequest, bytes]:
    """(request, signature) from a request body; RoaRequestError says what is wrong."""
    try:
        assert isinstance(body, dict)
        fields = dict(body["request"])
        if fields.pop("format") != ROA_REQUEST_FORMAT:
            raise ValueError(f"format is not {ROA_REQUEST_FORMAT}")
        request = RoaRequest(
            str(fields["registry"]),
            str(fields["holder"]),
            str(fields["action"]),
            int(fields["asn"]),
            tuple(str(p) for p in fields["prefixes"]),
            str(fields.get("file", "")),
            str(fields["expires"]),
            str(fields["nonce"]),
        )
        signature = base64.b64decode(str(body["signature"]), validate=True)
    except (AssertionError, KeyError, TypeError, ValueError, OverflowError) as exc:  # inf asn
        raise RoaRequestError(f"malformed ROA request: {exc!r}") from None
    if not 16 <= len(request.nonce) <= 64 or not request.nonce.isalnum():
        raise RoaRequestError(f"nonce {request.nonce[:70]!r}: 16 to 64 letters or digits")
    if not 0 <= request.asn <= Afi.ASN.max_value:  # also keeps it inside canonical JSON's range
        raise RoaRequestError(f"asn {str(request.asn)[:20]} is not an AS number (0..4294967295)")
    if request.action not in ACTIONS:
        raise RoaRequestError(f"action {request.action!r} is not one of {', '.join(ACTIONS)}")
    return request, signature


def check_request(
    request: RoaRequest, signature: bytes, public_key: bytes | None, registry: str, now: datetime
) -> None:
    """Raise RoaRequestError unless the holder signed this, for this registry, unexpired."""
    if request.registry != registry:
        raise RoaRequestError(f"the request is for {request.registry}, this is {registry}")
    try:
        expires = datetime.fromisoformat(request.expires.replace("Z", "+00:00"))
    except ValueError:
        raise RoaRequestError(f"expires {request.expires!r} is not an RFC 3339 time") from None
    if expires.tzinfo is None or expires <= now.astimezone(UTC):
        raise RoaRequestError(f"the request expired at {request.expires}")
    if expires > now.astimezone(UTC) + MAX_VALIDITY:
        raise RoaRequestError(
            f"expires {request.expires} is more than {MAX_VALIDITY} ahead: sign a shorter-lived "
            "request"
        )
    if public_key is None:
        raise RoaRequestError(f"holder {request.holder!r} has no key in the {registry} log")
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, request.message())
    except (InvalidSignature, ValueError):
        raise RoaRequestError(
            f"the signature of holder {request.holder!r} does not verify over the request"
        ) from None


def to_json(signed: dict[str, object]) -> str:
    return json.dumps(signed, indent=1, sort_keys=True)
