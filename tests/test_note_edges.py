"""Edges of signed notes and checkpoints (ledger.note, .checkpoint): exact refusals, bounds.

Written against the mutants mutmut left alive (docs/mutation.md): each test pins a boundary
(sizes, timestamps, surrogate ranges), the text and line number a refusal names, or the key an
error carries, so that a caller (and an operator reading the message) gets what is documented.
"""

from __future__ import annotations

import re
import time

import pytest

from onereg.core.errors import SignatureError, UnknownKeyError
from onereg.ledger.checkpoint import (
    MAX_TIMESTAMP,
    MAX_TREE_SIZE,
    Checkpoint,
    CheckpointFormatError,
    CosignatureVerifier,
    Cosigner,
    cosignature_message,
    merge_signatures,
    open_checkpoint,
    sign_checkpoint,
)
from onereg.ledger.note import (
    MAX_SIGNATURES,
    Signature,
    Signer,
    Verifier,
    check_note_text,
    decode_base64,
    encode_base64,
    format_note,
    key_id,
    key_name_problem,
    parse_note,
    sign_note,
    text_problem,
    verify_note,
)

ROOT = bytes(range(32))
LOG = Signer.from_seed("example.org/log", bytes(32))
WITNESS = Cosigner.from_seed("example.org/witness", bytes([7]) * 32)


def _raises(exc: type[Exception], text: str) -> pytest.RaisesContext[Exception]:
    return pytest.raises(exc, match="^" + re.escape(text) + "$")


# --- note: text rules -----------------------------------------------------------------------


def test_decode_base64_refuses_the_empty_text() -> None:
    with _raises(ValueError, "empty base64"):
        decode_base64("")


def test_key_name_problems_are_named() -> None:
    assert key_name_problem("") == "the key name is empty"
    assert key_name_problem("a\x01") == (
        "the key name 'a\\x01' contains a control character (U+0001)"
    )
    assert key_name_problem("a b") == "the key name 'a b' contains a space character (U+0020)"
    # The surrogate block is U+D800..U+DFFF, both ends included; U+D7FF and U+E000 are fine.
    for ch in ("\ud800", "\ud801", "\udffe", "\udfff"):
        assert key_name_problem("a" + ch) == f"the key name {'a' + ch!r} is not valid UTF-8"
    assert key_name_problem("a\ud7ff") is None
    assert key_name_problem("a\ue000") is None


def test_text_problems_name_the_line_and_the_surrogate_range() -> None:
    assert text_problem("a\x01") == "line 1 contains the control character U+0001"
    assert text_problem("a\nb\x1f") == "line 2 contains the control character U+001F"
    for ch in ("\ud800", "\ud801", "\udffe", "\udfff"):
        code = ord(ch)
        assert text_problem("x\n" + ch) == (
            f"line 2 is not valid UTF-8 (lone surrogate U+{code:04X})"
        )
    assert text_problem("\ud7ff\n\ue000") is None


# --- note: keys -----------------------------------------------------------------------------


PETER_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"


def test_a_vkey_key_id_may_be_upper_case_hex() -> None:
    upper = PETER_VKEY.replace("c74f20a3", "C74F20A3")
    assert Verifier.from_vkey(upper) == Verifier.from_vkey(PETER_VKEY)


def test_vkey_refusals_are_named() -> None:
    bad_hex = PETER_VKEY.replace("c74f20a3", "XXXXXXXX")
    with _raises(
        SignatureError,
        f"malformed verifier key {bad_hex!r}: key ID 'XXXXXXXX' is not 8 hexadecimal digits",
    ):
        Verifier.from_vkey(bad_hex)
    not_hex = PETER_VKEY.replace("c74f20a3", "c74f20ag")
    with pytest.raises(SignatureError, match="is not 8 hexadecimal digits"):
        Verifier.from_vkey(not_hex)
    bad_name = "\x01" + PETER_VKEY
    with _raises(
        SignatureError,
        f"malformed verifier key {bad_name!r}: the key name "
        f"{chr(1) + 'PeterNeumann'!r} contains a control character (U+0001)",
    ):
        Verifier.from_vkey(bad_name)
    with _raises(SignatureError, "malformed verifier key 'nokey': expected name+keyid+base64"):
        Verifier.from_vkey("nokey")


def test_signature_types_are_named_in_refusals() -> None:
    with _raises(
        SignatureError,
        f"verifier key {PETER_VKEY!r} has signature type 0x01 (Ed25519); "
        "CosignatureVerifier takes type 0x04 (Ed25519 cosignature/v1)",
    ):
        CosignatureVerifier.from_vkey(PETER_VKEY)
    odd = "Odd+00000000+" + encode_base64(bytes([0x09]) + bytes(32))
    with _raises(
        SignatureError,
        f"verifier key {odd!r} has signature type 0x09 (unassigned); "
        "Verifier takes type 0x01 (Ed25519)",
    ):
        Verifier.from_vkey(odd)


def test_a_vkey_with_another_key_id_names_the_real_key() -> None:
    wrong = PETER_VKEY.replace("c74f20a3", "00000000")
    with pytest.raises(SignatureError, match="declares key ID 00000000") as info:
        Verifier.from_vkey(wrong)
    assert info.value.key == "PeterNeumann+c74f20a3"


def test_key_length_refusals_are_named() -> None:
    with _raises(SignatureError, "short: an Ed25519 public key has 32 bytes, got 1"):
        Verifier("short", b"x")
    with _raises(SignatureError, "short: an Ed25519 private key has 32 bytes, got 2"):
        Signer.from_seed("short", b"xy")


def test_skey_refusals_are_named_without_echoing_the_key() -> None:
    with _raises(SignatureError, "malformed signer key: it does not start with PRIVATE+KEY+"):
        Signer.from_skey("private+key+a+00000000+AQ==")
    with _raises(SignatureError, "malformed signer key: expected name+keyid+base64"):
        Signer.from_skey("PRIVATE+KEY+nokey")
    short = "PRIVATE+KEY+a+00000000+" + encode_base64(bytes([1]) + bytes(31))
    with _raises(
        SignatureError,
        "malformed signer key for a: the Ed25519 private key has 31 bytes, expected 32",
    ):
        Signer.from_skey(short)
    good = LOG.skey()
    wrong = good.replace(LOG.key_id.hex(), "00000000")
    with _raises(
        SignatureError,
        f"signer key for example.org/log declares key ID 00000000, but its public key gives "
        f"{LOG.key_id.hex()}",
    ) as info:
        Signer.from_skey(wrong)
    assert info.value.key == LOG.key


# --- note: lines and notes ------------------------------------------------------------------


def test_signature_line_refusals_name_where() -> None:
    with _raises(
        SignatureError,
        "malformed note: signature line does not start with an em dash and a space: 'x'",
    ):
        Signature.parse_line("x")
    with _raises(SignatureError, "malformed note: line 3: the key name is empty"):
        Signature.parse_line("\u2014  AAAAAAAA", 3)
    four = encode_base64(b"abcd")
    with _raises(
        SignatureError,
        "malformed note: line 5: the signature by a has 4 bytes, not even a key ID and a signature",
    ):
        Signature.parse_line(f"\u2014 a {four}", 5)
    five = Signature.parse_line("\u2014 a " + encode_base64(b"abcde"))
    assert (five.key_id, five.signature) == (b"abcd", b"e")


def test_note_text_and_format_refusals() -> None:
    with _raises(SignatureError, "malformed note text: it does not end with a newline"):
        check_note_text("a")
    with _raises(SignatureError, "a signed note needs at least one signature"):
        format_note("a\n", [])


def test_sign_note_names_a_signer_given_twice() -> None:
    with _raises(SignatureError, f"signer {LOG.key} is given twice") as info:
        sign_note("a\n", [LOG, LOG])
    assert info.value.key == LOG.key


def test_parse_note_refusals() -> None:
    with _raises(
        SignatureError, "malformed note: no blank line separates the text from signatures"
    ):
        parse_note("a\n")
    with _raises(SignatureError, "malformed note: no signature lines after the blank line"):
        parse_note("a\n\n")
    line = Signature("a", b"abcd", b"e").line()
    with _raises(
        SignatureError, "malformed note: the last signature line does not end with a newline"
    ):
        parse_note("a\n\n" + line[:-1])


def test_a_note_whose_text_is_one_empty_line_parses() -> None:
    """The blank line may be the note's first character: the text is then just a newline."""
    line = Signature("a", b"abcd", b"e").line()
    text, sigs = parse_note("\n\n" + line)
    assert text == "\n"
    assert sigs == [Signature("a", b"abcd", b"e")]


# Two 32-byte keys whose key IDs collide under the name "Collide" (found by a birthday search
# over SHA-256(name || 0x0A || 0x01 || key)[:4]); Verifier only checks their length.
_PK1 = bytes.fromhex("a14cdb49f9dfc2adae3eca0a9ed3d0125decbf0d03e6ebd96406e8af3f953f4c")
_PK2 = bytes.fromhex("0549f1698162018fd94a004202a73339f626a2fce1b4176e1e6844478a5eca47")


def test_two_configured_keys_with_one_name_and_id_are_ambiguous() -> None:
    kid = key_id("Collide", 0x01, _PK1)
    assert kid == key_id("Collide", 0x01, _PK2) == bytes.fromhex("5f09e3d0")
    note = "a\n\n" + Signature("Collide", kid, bytes(64)).line()
    with _raises(
        SignatureError,
        "ambiguous key Collide+5f09e3d0: two different configured keys have this name and ID",
    ) as info:
        verify_note(note, [Verifier("Collide", _PK1), Verifier("Collide", _PK2)])
    assert info.value.key == "Collide+5f09e3d0"
    # The same key configured twice is not ambiguous: the signature is simply checked.
    with pytest.raises(SignatureError, match="does not verify"):
        verify_note(note, [Verifier("Collide", _PK1), Verifier("Collide", _PK1)])


def test_unknown_key_error_lists_signers_and_known_keys() -> None:
    other = Signer.from_seed("other", bytes([1]) * 32)
    note = sign_note("a\n", [LOG, other])
    with _raises(
        UnknownKeyError,
        f"note has no signature by a known key: signed by {LOG.key}, {other.key}; known keys: none",
    ):
        verify_note(note, [])
    third = Signer.from_seed("third", bytes([2]) * 32)
    fourth = Signer.from_seed("fourth", bytes([3]) * 32)
    with _raises(
        UnknownKeyError,
        f"note has no signature by a known key: signed by {LOG.key}, {other.key}; "
        f"known keys: {third.key}, {fourth.key}",
    ):
        verify_note(note, [third.verifier(), fourth.verifier()])


# --- checkpoints ----------------------------------------------------------------------------


def test_checkpoint_format_error_carries_line_and_reason() -> None:
    plain = CheckpointFormatError("why")
    assert (str(plain), plain.line, plain.reason) == ("checkpoint: why", None, "why")
    at = CheckpointFormatError("why", 2)
    assert (str(at), at.line, at.reason) == ("checkpoint line 2: why", 2, "why")


@pytest.mark.parametrize(
    ("fields", "text", "line"),
    [
        (("", 1, ROOT, ()), "the origin is empty", 1),
        (("a\x01", 1, ROOT, ()), "the origin holds a newline or control character", 1),
        (("a", -1, ROOT, ()), "tree size -1 out of range", 2),
        (("a", MAX_TREE_SIZE + 1, ROOT, ()), f"tree size {MAX_TREE_SIZE + 1} out of range", 2),
        (("a", 1, ROOT[:31], ()), "the root hash has 31 bytes, expected 32", 3),
        (("a", 1, ROOT, ("x", "")), "extension lines must be non-empty", 5),
        (("a", 1, ROOT, ("x\ny",)), "an extension line holds a newline or control character", 4),
        (("a", 1, ROOT, ("\x02",)), "an extension line holds a newline or control character", 4),
    ],
)
def test_checkpoint_fields_are_refused_with_line(
    fields: tuple[str, int, bytes, tuple[str, ...]], text: str, line: int
) -> None:
    with _raises(CheckpointFormatError, f"checkpoint line {line}: {text}") as info:
        Checkpoint(*fields)
    assert (info.value.line, info.value.reason) == (line, text)


def test_the_largest_tree_size_is_accepted() -> None:
    big = Checkpoint("a", MAX_TREE_SIZE, ROOT)
    assert Checkpoint.parse(big.body()) == big


def test_checkpoint_text_without_final_newline() -> None:
    with _raises(CheckpointFormatError, "checkpoint: the text does not end with a newline"):
        Checkpoint.parse("a\n1\n" + encode_base64(ROOT))


def test_open_checkpoint_for_another_origin_names_the_log_key() -> None:
    note = sign_checkpoint(Checkpoint("example.org/log", 1, ROOT), [LOG])
    with _raises(
        SignatureError, "checkpoint is for origin 'example.org/log', expected 'elsewhere'"
    ) as info:
        open_checkpoint(note, [LOG.verifier()], origin="elsewhere")
    assert info.value.key == LOG.key


# --- cosignatures ---------------------------------------------------------------------------


def test_cosignature_timestamps_at_both_ends() -> None:
    body = Checkpoint("example.org/log", 3, ROOT)
    assert cosignature_message(body, 0).startswith(b"cosignature/v1\ntime 0\n")
    assert cosignature_message(body, MAX_TIMESTAMP) == (
        f"cosignature/v1\ntime {MAX_TIMESTAMP}\n".encode() + body.body().encode()
    )
    assert cosignature_message(body, 5) == cosignature_message(body.body(), 5)
    verifier = WITNESS.verifier()
    for when in (0, MAX_TIMESTAMP):
        line = WITNESS.cosign(body, when)
        sig = Signature.parse_line(line[:-1])
        assert verifier.verify_cosignature(body, sig) == when
    with pytest.raises(SignatureError, match=r"outside 0\.\.2\^63-1"):
        cosignature_message(body, MAX_TIMESTAMP + 1)


def test_cosigner_takes_a_checkpoint_text_and_uses_its_clock() -> None:
    body = Checkpoint("example.org/log", 3, ROOT)
    verifier = WITNESS.verifier()
    sig = Signature.parse_line(WITNESS.cosign(body.body(), 42)[:-1])
    assert verifier.verify_cosignature(body.body(), sig) == 42
    before = int(time.time())
    now = Signature.parse_line(WITNESS.cosign(body)[:-1])
    stamped = verifier.verify_cosignature(body, now)
    assert before <= stamped <= int(time.time())


def test_a_short_cosignature_does_not_verify() -> None:
    assert not WITNESS.verifier().verify(b"anything", b"short")


def test_cosignature_refusals_carry_the_key() -> None:
    body = Checkpoint("example.org/log", 3, ROOT)
    verifier = WITNESS.verifier()
    stranger = Cosigner.from_seed("stranger", bytes([9]) * 32)
    foreign = Signature.parse_line(stranger.cosign(body, 1)[:-1])
    with pytest.raises(SignatureError, match="not by witness") as info:
        verifier.verify_cosignature(body, foreign)
    assert info.value.key == stranger.key
    mine = Signature.parse_line(WITNESS.cosign(body, 1)[:-1])
    with pytest.raises(SignatureError, match="does not verify over the checkpoint") as info:
        verifier.verify_cosignature(Checkpoint("example.org/log", 4, ROOT), mine)
    assert info.value.key == WITNESS.key


# --- merging signatures ---------------------------------------------------------------------


def _signed() -> tuple[Checkpoint, str]:
    body = Checkpoint("example.org/log", 3, ROOT)
    return body, sign_checkpoint(body, [LOG])


def test_merging_nothing_keeps_the_note() -> None:
    _, note = _signed()
    assert merge_signatures(note, "") == note
    assert merge_signatures(note, []) == note


def test_merge_takes_lines_with_or_without_newlines() -> None:
    body, note = _signed()
    line = WITNESS.cosign(body, 5)
    assert merge_signatures(note, [line[:-1]]) == merge_signatures(note, [line]) == note + line
    assert merge_signatures(note, line) == note + line


def test_merge_refusals_name_the_line() -> None:
    body, note = _signed()
    line = WITNESS.cosign(body, 5)
    with _raises(SignatureError, "malformed signature lines: the last one has no newline"):
        merge_signatures(note, line[:-1])
    joined = line + line[:-1]
    with _raises(
        SignatureError,
        f"malformed signature lines: line 1 is not a signature line: {joined!r}",
    ):
        merge_signatures(note, [joined])
    with pytest.raises(SignatureError, match=r"^malformed note: line 2: the key name is empty$"):
        merge_signatures(note, [line, "\u2014  AAAAAAAA"])


def test_a_later_line_by_one_key_replaces_and_moves_to_the_end() -> None:
    body, note = _signed()
    other = Cosigner.from_seed("example.org/other", bytes([8]) * 32)
    first, second = WITNESS.cosign(body, 1), WITNESS.cosign(body, 2)
    middle = other.cosign(body, 1)
    assert merge_signatures(note, first + middle + second) == note + middle + second


def test_merge_allows_exactly_the_maximum_number_of_signatures() -> None:
    body, note = _signed()
    lines = [
        Cosigner.from_seed(f"w{i}", i.to_bytes(32, "big")).cosign(body, 1)
        for i in range(1, MAX_SIGNATURES)
    ]
    merged = merge_signatures(note, lines)
    assert len(parse_note(merged)[1]) == MAX_SIGNATURES
    extra = Cosigner.from_seed("w-extra", bytes([0xFF]) * 32).cosign(body, 1)
    with _raises(SignatureError, f"merged note would carry more than {MAX_SIGNATURES} signatures"):
        merge_signatures(merged, [extra])
