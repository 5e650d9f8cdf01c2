"""Transfer agreements: the bytes both holders sign, and what breaks a signature."""

from __future__ import annotations

import dataclasses

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from onereg.core.errors import SignatureError
from onereg.ledger.agreement import Agreement, SignedAgreement, check_signature, sign_agreement

AGREEMENT = Agreement(
    "193.0.1.0/24",
    "ripencc",
    "SRC",
    "ripencc",
    "DST",
    "transfer",
    "00" * 16,
    "2026-12-31T00:00:00Z",
)


def test_the_signed_bytes_are_the_format_line_and_canonical_json() -> None:
    message = AGREEMENT.message()
    assert message.startswith(b"onereg-transfer-agreement/1\n{")
    assert b'"expires":"2026-12-31T00:00:00Z","format":"onereg-transfer-agreement/1"' in message
    assert b" " not in message.split(b"\n", 1)[1]


def test_any_changed_field_breaks_the_signature() -> None:
    key = Ed25519PrivateKey.generate()
    public = key.public_key().public_bytes_raw()
    signature = sign_agreement(AGREEMENT, key)
    check_signature(AGREEMENT, signature, public, "source")
    for name in ("resource", "recipient_holder", "nonce", "expires", "kind"):
        changed = dataclasses.replace(AGREEMENT, **{name: getattr(AGREEMENT, name) + "0"})
        with pytest.raises(SignatureError, match="source"):
            check_signature(changed, signature, public, "source")


def test_json_round_trip_and_strict_parsing() -> None:
    key = Ed25519PrivateKey.generate()
    signed = SignedAgreement(AGREEMENT, sign_agreement(AGREEMENT, key), b"x" * 64)
    assert SignedAgreement.from_json(signed.to_json()) == signed
    with pytest.raises(SignatureError, match="malformed"):
        SignedAgreement.from_json(signed.to_json().replace("onereg-transfer-agreement/1", "v2"))
    with pytest.raises(SignatureError, match="malformed"):
        SignedAgreement.from_json("{}")


def test_problems_of_the_agreement_itself() -> None:
    bad = dataclasses.replace(
        AGREEMENT, kind="gift", nonce="abc", expires="tomorrow", recipient_holder="SRC"
    )
    problems = " | ".join(bad.problems())
    assert "kind 'gift'" in problems and "nonce" in problems and "RFC 3339" in problems
    assert "same holder" in problems
    assert AGREEMENT.problems() == []
