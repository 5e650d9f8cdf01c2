"""Transfer agreements: what both holders sign before a registry moves a block between them.

The signed bytes are `onereg-transfer-agreement/1\\n` followed by the canonical JSON of the
agreement (sorted keys, no whitespace), so that every implementation signs and checks the same
bytes. A nonce makes every agreement unique (a registry refuses one it has executed before) and
an expiry bounds how long a signature can be used.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import datetime

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from onereg.core.errors import SignatureError
from onereg.ledger.entry import canonical_json

AGREEMENT_FORMAT = "onereg-transfer-agreement/1"
KINDS = ("transfer", "merger", "return")  # a return gives the block back to the pool


@dataclass(frozen=True, slots=True)
class Agreement:
    resource: str
    source_registry: str
    source_holder: str
    recipient_registry: str
    recipient_holder: str
    kind: str
    nonce: str  # hex, at least 16 bytes of randomness
    expires: str  # RFC 3339, UTC, e.g. 2026-12-31T00:00:00Z

    def fields(self) -> dict[str, str]:
        # by hand: dataclasses.asdict deep-copies, and this runs several times per transfer
        return {"format": AGREEMENT_FORMAT, **{k: getattr(self, k) for k in self.__slots__}}

    def message(self) -> bytes:
        return AGREEMENT_FORMAT.encode() + b"\n" + canonical_json(self.fields())

    def expiry(self) -> datetime:
        return datetime.fromisoformat(self.expires.replace("Z", "+00:00"))

    def problems(self) -> list[str]:
        """What is malformed about the agreement itself (empty when nothing is)."""
        out = []
        if self.kind not in KINDS:
            out.append(f"kind {self.kind!r} is not one of {', '.join(KINDS)}")
        try:
            if len(bytes.fromhex(self.nonce)) < 16:
                out.append("nonce has fewer than 16 bytes")
        except ValueError:
            out.append(f"nonce {self.nonce!r} is not hex")
        try:
            if self.expiry().tzinfo is None:
                out.append(f"expires {self.expires!r} has no time zone")
        except ValueError:
            out.append(f"expires {self.expires!r} is not an RFC 3339 time")
        if (
            self.source_registry == self.recipient_registry
            and self.source_holder == self.recipient_holder
        ):
            out.append("source and recipient are the same holder")
        return out


@dataclass(frozen=True, slots=True)
class SignedAgreement:
    agreement: Agreement
    source_signature: bytes
    recipient_signature: bytes

    def to_json(self) -> str:
        return json.dumps(
            {
                "agreement": self.agreement.fields(),
                "source_signature": base64.b64encode(self.source_signature).decode(),
                "recipient_signature": base64.b64encode(self.recipient_signature).decode(),
            },
            indent=1,
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str) -> SignedAgreement:
        try:
            data = json.loads(text)
            fields = dict(data["agreement"])
            if fields.pop("format") != AGREEMENT_FORMAT:
                raise ValueError(f"format is not {AGREEMENT_FORMAT}")
            agreement = Agreement(**{k: str(v) for k, v in fields.items()})
            return cls(
                agreement,
                base64.b64decode(data["source_signature"], validate=True),
                base64.b64decode(data["recipient_signature"], validate=True),
            )
        except (ValueError, KeyError, TypeError, RecursionError) as exc:  # deep JSON nesting
            raise SignatureError(f"malformed signed agreement: {exc}") from None


def sign_agreement(agreement: Agreement, key: Ed25519PrivateKey) -> bytes:
    return key.sign(agreement.message())


def check_signature(agreement: Agreement, signature: bytes, public_key: bytes, who: str) -> None:
    """Raise SignatureError naming `who` unless `signature` is theirs over this agreement."""
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, agreement.message())
    except (InvalidSignature, ValueError):
        raise SignatureError(f"the {who}'s signature does not verify over the agreement") from None
