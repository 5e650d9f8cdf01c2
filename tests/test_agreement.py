"""Transfer agreements: the bytes both holders sign, and what breaks a signature."""

from __future__ import annotations

import base64
import dataclasses
import json
from datetime import timedelta

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


def test_each_problem_is_named_exactly() -> None:
    def problems(**changes: str) -> list[str]:
        return dataclasses.replace(AGREEMENT, **changes).problems()

    assert problems(kind="gift") == ["kind 'gift' is not one of transfer, merger, return"]
    assert problems(kind="merger") == [] and problems(kind="return") == []
    assert problems(nonce="00" * 15) == ["nonce has fewer than 16 bytes"]
    assert problems(nonce="zz" * 16) == [f"nonce {'zz' * 16!r} is not hex"]
    assert problems(expires="2026-12-31T00:00:00") == [
        "expires '2026-12-31T00:00:00' has no time zone"
    ]
    assert problems(expires="soon") == ["expires 'soon' is not an RFC 3339 time"]
    assert problems(recipient_holder="SRC") == ["source and recipient are the same holder"]
    # the same handle in two registries is two holders
    assert problems(recipient_registry="afrinic", recipient_holder="SRC") == []


def test_expiry_reads_z_as_utc() -> None:
    expiry = AGREEMENT.expiry()
    assert expiry.utcoffset() == timedelta(0)
    assert (expiry.year, expiry.month, expiry.day) == (2026, 12, 31)


def test_the_json_file_is_sorted_indented_and_base64() -> None:
    signed = SignedAgreement(AGREEMENT, b"\x01" * 64, b"\x02" * 64)
    text = signed.to_json()
    assert text.startswith('{\n "agreement": {\n  "expires": ')
    data = json.loads(text)
    assert data["agreement"] == AGREEMENT.fields()
    assert data["source_signature"] == base64.b64encode(b"\x01" * 64).decode()
    assert data["recipient_signature"] == base64.b64encode(b"\x02" * 64).decode()


def test_a_signature_of_the_wrong_key_or_a_bad_key_names_who() -> None:
    key, other = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    signature = sign_agreement(AGREEMENT, key)
    wrong = other.public_key().public_bytes_raw()
    with pytest.raises(SignatureError, match=r"^the recipient's signature does not verify over"):
        check_signature(AGREEMENT, signature, wrong, "recipient")
    with pytest.raises(SignatureError, match="the source's signature"):
        check_signature(AGREEMENT, signature, b"short", "source")


def test_a_signed_agreement_with_bad_base64_or_fields_is_malformed() -> None:
    good = SignedAgreement(AGREEMENT, b"\x01" * 64, b"\x02" * 64).to_json()
    for broken in (
        good.replace('"source_signature": "', '"source_signature": "!'),
        good.replace('"recipient_signature": "', '"recipient_signature": "!'),
        good.replace('"kind"', '"sort"'),
        good.replace('"format": "onereg-transfer-agreement/1",', ""),
    ):
        with pytest.raises(SignatureError, match=r"^malformed signed agreement: "):
            SignedAgreement.from_json(broken)


def test_a_signed_agreement_of_another_format_says_which_format_it_needs() -> None:
    text = SignedAgreement(AGREEMENT, b"\x01" * 64, b"\x02" * 64).to_json()
    with pytest.raises(SignatureError) as caught:
        SignedAgreement.from_json(text.replace("onereg-transfer-agreement/1", "v2"))
    assert str(caught.value) == (
        "malformed signed agreement: format is not onereg-transfer-agreement/1"
    )
