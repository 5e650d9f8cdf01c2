"""Signed notes (onereg.ledger.note) against the reference implementation's vectors.

Sources of the vectors, copied here by hand:

* GO: golang.org/x/mod/sumdb/note, repository golang/mod, file sumdb/note/note_test.go at commit
  02c991387e35f9e4c0a9b7ce137717055f8d716d (TestNewVerifier, TestNewSigner, TestSign, TestOpen);
  the same key pair and note appear in the package documentation, sumdb/note/note.go at commit
  605edab4323bfdf06a0d8ac68b4b18e9e0df249b.
* TDEV: repository transparency-dev/formats, file log/note_test.go at commit
  5242c17862d31acd165afafa140ecc973a621469 (key pairs; a real sum.golang.org checkpoint and
  signatures on it by three more keys).
* C2SP: repository C2SP/C2SP, file signed-note.md at commit
  055287621bf3cd13ff4394418a3e8efc2d5e8ed7 (https://c2sp.org/signed-note), the example note.
"""

from __future__ import annotations

import base64
import hashlib

import pytest

from onereg.core.errors import OneregError, SignatureError, UnknownKeyError
from onereg.ledger.note import (
    MAX_SIGNATURES,
    Signature,
    Signer,
    Verifier,
    decode_base64,
    key_id,
    open_note,
    parse_note,
    sign_note,
    verify_note,
)

# --- GO vectors ---------------------------------------------------------------------------

PETER_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
PETER_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
ENOCH_VKEY = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
PETER_SIG = (
    "— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqd"
    "ngotpRZb6KE6RyyBwJnAM=\n"
)
ENOCH_SIG = (
    "— EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWL"
    "ox33WWd1RvMc+QQ=\n"
)

# --- TDEV vectors -------------------------------------------------------------------------

TDEV_PAIRS = [
    (
        "PRIVATE+KEY+Log+2271c621+AdEIq9FLRQni54Wg68T96VJO+iayOaulswav2DUMKgvQ",
        "Log+2271c621+AemuH5ooBpEPcr+W8onrjA1NfuzBVHdezakU81Ekarvs",
    ),
    (
        "PRIVATE+KEY+Known+451c786d+AQPRoE2+Z+Ed1HaHBA9F/FfracvcZ2rDU39kCecMEoci",
        "Known+451c786d+AXAQ0T7lbwuY4ABJ9/MYY9bWV3hmSyOGVt2x42NkmdUH",
    ),
    (
        "PRIVATE+KEY+KnownAgain+4893b26c+ARhZda/l25zjGZswYLDZsLNRzNpmv5wYTN9IoTr1OJ2+",
        "KnownAgain+4893b26c+AQ+LR7BFF/F/dkpIBjBpSvT0crkteizuUkavAoGeaYMj",
    ),
    (
        "PRIVATE+KEY+Unknown+fdbb2e08+Aav2knTC6orbhXX8pMWuNiWgO+Wwk2DB+h1eU2Q1W1nU",
        "Unknown+fdbb2e08+AWgRIYZ+8x1Vl+1Q+sR8zciNHiYI1SdlBjNw+RV0rots",
    ),
]
SUMDB_VKEY = "sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8"
SUMDB_NOTE = (
    "go.sum database tree\n"
    "6476701\n"
    "mb8QLQIs0Z0yP5Cstq6guj87oXWeC9gEM8oVikmm9Wk=\n"
    "\n"
    "— sum.golang.org Az3grsLX85Gz+s1SiTbgkuqxgItqFq7gsMUEyVnrsa9LM7Us9S+1xbFIGu95949rj4nPRYfv"
    "imWEPWL+o3GeoWwOoAw=\n"
)
TDEV_WITNESS_VKEYS = [
    "monkeys+db4d9f7e+AULaJMvTtDLHPUcUrjdDad9vDlh/PTfC2VV60JUtCfWT",
    "bananas+cf639f13+AaPjhFnPCQnid/Ql32KWhmh+uk72FVRfK+2DLmO3BI3M",
    "witness+f13a86db+AdYV1Ztajd9BvyjP2HgpwrqYL6TjOwIjGMOq8Bu42xbN",
]
TDEV_WITNESS_SIGS = [
    "— monkeys 202ffh9ve46Mqbhuyb4wnC2Pwdan5EsXQym/tF1ggXJqhjGosU4T5intH4iKMRgDLxrnXuIjRaU2Nbv"
    "AnaepM6Y+8ww=\n",
    "— bananas z2OfE+2bbsBZ7NLgfuslc0v7NFW2QyexJ7fhePpoL2N/P7N/COd5S+JNHbQEAlYzz2C5sg0E+x/MggS1"
    "mDR6t3/9rQw=\n",
    "— witness 8TqG25yWGFLdT7WPf/WoyeG3LwqtkXP+8S3yykOVm6EMh4hPgCke6eSVPU4BdtXNMPJBXKF+UpDbGgCd"
    "cpR8SVSoqAU=\n",
]
# TDEV reuses the witness signature under names nobody knows: to be ignored.
TDEV_RANDOM_SIGS = [
    "— random1 8TqG25yWGFLdT7WPf/WoyeG3LwqtkXP+8S3yykOVm6EMh4hPgCke6eSVPU4BdtXNMPJBXKF+UpDbGgCd"
    "cpR8SVSoqAU=\n",
    "— random2 8TqG25yWGFLdT7WPf/WoyeG3LwqtkXP+8S3yykOVm6EMh4hPgCke6eSVPU4BdtXNMPJBXKF+UpDbGgCd"
    "cpR8SVSoqAU=\n",
]

# --- C2SP vector --------------------------------------------------------------------------

C2SP_NOTE = (
    "Ognuno sta solo sul cuor della terra\n"
    "trafitto da un raggio di sole:\n"
    "\n"
    "ed è subito sera.\n"
    "\n"
    "— quasimodo.example/salvatore NnugSzTjtVAewIS+Z/iJhUPeFDkO/5QQ2i5ddnGITLlC+EhfLW9oJKONrMou"
    "FSQU0xMcXxj99ihAQwaqP3ZekRwNtIc=\n"
)


def _seeded(name: str) -> Signer:
    return Signer.from_seed(name, hashlib.sha256(b"onereg test " + name.encode()).digest())


@pytest.fixture
def peter() -> Verifier:
    return Verifier.from_vkey(PETER_VKEY)


@pytest.fixture
def enoch() -> Verifier:
    return Verifier.from_vkey(ENOCH_VKEY)


# --- keys ---------------------------------------------------------------------------------


def test_go_key_pair_round_trips() -> None:
    signer = Signer.from_skey(PETER_SKEY)
    assert signer.name == "PeterNeumann"
    assert signer.key_id.hex() == "c74f20a3"
    assert signer.skey() == PETER_SKEY
    assert signer.verifier().vkey() == PETER_VKEY
    verifier = Verifier.from_vkey(PETER_VKEY)
    assert verifier == signer.verifier()
    assert verifier.key == "PeterNeumann+c74f20a3"
    assert verifier.sig_type == 0x01


def test_key_id_is_sha256_of_name_newline_type_key() -> None:
    verifier = Verifier.from_vkey(PETER_VKEY)
    by_hand = hashlib.sha256(b"PeterNeumann\n\x01" + verifier.public_key).digest()[:4]
    assert by_hand == bytes.fromhex("c74f20a3") == key_id("PeterNeumann", 1, verifier.public_key)
    # The same key under type 0x04 (a cosigner) has another ID.
    assert key_id("PeterNeumann", 4, verifier.public_key) != by_hand


def test_generated_keys_round_trip() -> None:
    signer = Signer.generate("example.com/fresh")
    again = Signer.from_skey(signer.skey())
    assert again.public_key == signer.public_key
    assert Verifier.from_vkey(signer.verifier().vkey()) == signer.verifier()
    assert "PRIVATE" not in repr(signer) and "private_key" not in repr(signer)


@pytest.mark.parametrize(("skey", "vkey"), TDEV_PAIRS)
def test_tdev_key_pairs(skey: str, vkey: str) -> None:
    signer = Signer.from_skey(skey)
    assert signer.verifier().vkey() == vkey
    assert signer.skey() == skey
    assert Verifier.from_vkey(vkey) == signer.verifier()


def test_vkey_with_plus_in_base64() -> None:
    # SUMDB_VKEY's base64 holds two '+': only the first two split the fields.
    verifier = Verifier.from_vkey(SUMDB_VKEY)
    assert verifier.name == "sum.golang.org"
    assert verifier.vkey() == SUMDB_VKEY


def test_vkey_manglings_are_refused() -> None:
    """GO TestNewVerifier: every proper substring and every one-byte change is refused."""
    raw = PETER_VKEY.encode()
    for i in range(len(raw) + 1):
        for j in range(i + 1, len(raw) + 1):
            if i == 0 and j == len(raw):
                continue
            with pytest.raises(SignatureError):
                Verifier.from_vkey(raw[i:j].decode())
    for i in range(len(raw)):
        mangled = bytearray(raw)
        mangled[i] += 1
        with pytest.raises(SignatureError):
            Verifier.from_vkey(mangled.decode())
    # Wrong key length with adjusted key hash; unknown algorithm with adjusted key hash.
    with pytest.raises(SignatureError, match="the key data is not canonical base64"):
        Verifier.from_vkey(
            "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY=="
        )
    material = b"\x01" + bytes(33)
    kid = hashlib.sha256(b"PeterNeumann\n" + material).digest()[:4].hex()
    long_key = f"PeterNeumann+{kid}+{base64.b64encode(material).decode()}"
    with pytest.raises(SignatureError, match="public key has 33 bytes, expected 32"):
        Verifier.from_vkey(long_key)
    with pytest.raises(SignatureError, match="type 0x65"):
        Verifier.from_vkey("PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW")


def test_skey_manglings_are_refused_without_echoing_the_key() -> None:
    """GO TestNewSigner: every proper substring and every one-byte change is refused."""
    raw = PETER_SKEY.encode()
    secret = PETER_SKEY.rsplit("+", 1)[1]
    for i in range(len(raw) + 1):
        for j in range(i + 1, len(raw) + 1):
            if i == 0 and j == len(raw):
                continue
            with pytest.raises(SignatureError) as info:
                Signer.from_skey(raw[i:j].decode())
            assert secret[8:] not in str(info.value)
    for i in range(len(raw)):
        mangled = bytearray(raw)
        mangled[i] += 1
        with pytest.raises(SignatureError):
            Signer.from_skey(mangled.decode())


def test_vkey_errors_say_what_is_wrong() -> None:
    with pytest.raises(SignatureError, match=r"declares key ID 00000000, but .* give c74f20a3"):
        Verifier.from_vkey("PeterNeumann+00000000+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW")
    with pytest.raises(SignatureError, match="not 8 hexadecimal digits"):
        Verifier.from_vkey("rekor.sigstore.dev+NOT_A_NUMBER+AQ==")
    with pytest.raises(SignatureError, match=r"expected name\+keyid\+base64"):
        Verifier.from_vkey("bananas.sigstore.dev+12344556")
    with pytest.raises(SignatureError, match="not valid base64"):
        Verifier.from_vkey("rekor.sigstore.dev+12345678+THIS_IS_NOT_BASE64!")
    with pytest.raises(SignatureError, match="type 0x04"):
        # A witness key (TDEV note_cosigv1_test.go) is not a note verifier key.
        Verifier.from_vkey("remora.n621.de+da77ade7+BOvN63jn/bLvkieywe8R6UYAtVtNbZpXh34x7onlmtw2")
    assert issubclass(SignatureError, OneregError)


def test_key_names_are_checked() -> None:
    key = _seeded("x")
    for bad in ["", "a b", "a+b", "tab\there", "nbsp\u00a0x", "em\u2003space"]:
        with pytest.raises(SignatureError, match="key name"):
            Signer(bad, key.private_key)
        with pytest.raises(SignatureError, match="key name"):
            Verifier(bad, key.public_key)


def test_non_canonical_base64_is_refused() -> None:
    assert decode_base64("AQ==") == b"\x01"
    for bad in ["AR==", "AQ", "AQ=", "A Q==", "", "QUJD\n"]:
        with pytest.raises(ValueError):
            decode_base64(bad)


# --- signing ------------------------------------------------------------------------------


def test_sign_reproduces_the_go_signature() -> None:
    """GO TestSign: Ed25519 is deterministic, so the signature line is exactly Go's."""
    signed = sign_note(TEXT, [Signer.from_skey(PETER_SKEY)])
    assert signed == TEXT + "\n" + PETER_SIG


def test_sign_refuses_bad_input() -> None:
    signer = Signer.from_skey(PETER_SKEY)
    with pytest.raises(SignatureError, match="does not end with a newline"):
        sign_note("abc", [signer])
    with pytest.raises(SignatureError, match=r"control character U\+0007"):
        sign_note("a\x07b\n", [signer])
    with pytest.raises(SignatureError, match="at least one signature"):
        sign_note(TEXT, [])
    with pytest.raises(SignatureError, match="given twice"):
        sign_note(TEXT, [signer, Signer.from_skey(PETER_SKEY)])


def test_round_trip_with_many_signers() -> None:
    signers = [_seeded(f"example.com/key{i}") for i in range(16)]
    signed = sign_note("hello\n\nworld\n", signers)
    text, names = open_note(signed, [s.verifier() for s in signers])
    assert text == "hello\n\nworld\n"
    assert names == [s.name for s in signers]
    # Any one of them is enough; the others are then unknown and ignored.
    opened = verify_note(signed, [signers[7].verifier()])
    assert [s.name for s in opened.verified] == ["example.com/key7"]
    assert len(opened.unverified) == 15


def test_max_signatures() -> None:
    signers = [_seeded(f"k{i}") for i in range(MAX_SIGNATURES)]
    signed = sign_note(TEXT, signers)
    assert len(open_note(signed, [signers[-1].verifier()])[1]) == 1
    with pytest.raises(SignatureError, match="at most 100"):
        open_note(TEXT + "\n" + PETER_SIG * 101, [Verifier.from_vkey(PETER_VKEY)])
    with pytest.raises(SignatureError, match="at most 100"):
        sign_note(TEXT, [*signers, _seeded("one-too-many")])


# --- opening: GO TestOpen -----------------------------------------------------------------


def test_open_one_known_one_unknown(peter: Verifier) -> None:
    opened = verify_note(TEXT + "\n" + PETER_SIG + ENOCH_SIG, [peter])
    assert opened.text == TEXT
    assert [s.key for s in opened.verified] == ["PeterNeumann+c74f20a3"]
    assert [s.key for s in opened.unverified] == ["EnochRoot+af0cfe78"]
    assert opened.verified[0].line() == PETER_SIG


def test_open_both_known(peter: Verifier, enoch: Verifier) -> None:
    text, names = open_note(TEXT + "\n" + PETER_SIG + ENOCH_SIG, [peter, enoch])
    assert text == TEXT
    assert names == ["PeterNeumann", "EnochRoot"]


def test_open_with_no_known_key_names_the_signers() -> None:
    with pytest.raises(UnknownKeyError) as info:
        open_note(TEXT + "\n" + PETER_SIG + ENOCH_SIG, [])
    assert "PeterNeumann+c74f20a3" in str(info.value)
    assert "EnochRoot+af0cfe78" in str(info.value)


def test_open_with_a_duplicated_verifier(peter: Verifier, enoch: Verifier) -> None:
    # GO refuses a list holding one key twice; an identical key given twice is harmless here.
    assert open_note(TEXT + "\n" + ENOCH_SIG, [enoch, peter, enoch])[1] == ["EnochRoot"]


def test_open_invalid_signature_names_the_key(peter: Verifier) -> None:
    sig = PETER_SIG.encode()  # GO slices peterSig by bytes: peterSig[:60]+"ABCD"+peterSig[60:]
    bad = (TEXT + "\n").encode() + sig[:60] + b"ABCD" + sig[60:]
    with pytest.raises(SignatureError, match=r"PeterNeumann\+c74f20a3.*does not verify") as info:
        open_note(bad, [peter])
    assert info.value.key == "PeterNeumann+c74f20a3"


def test_open_duplicated_verified_and_unverified(peter: Verifier) -> None:
    enoch_bytes = ENOCH_SIG.encode()
    enoch_abcd = (enoch_bytes[:60] + b"ABCD" + enoch_bytes[60:]).decode()
    note = TEXT + "\n" + PETER_SIG + PETER_SIG + ENOCH_SIG + ENOCH_SIG + enoch_abcd
    opened = verify_note(note, [peter])
    assert [s.line() for s in opened.verified] == [PETER_SIG]
    assert [s.line() for s in opened.unverified] == [ENOCH_SIG, enoch_abcd]


@pytest.mark.parametrize(
    ("note", "reason"),
    [
        (TEXT.encode(), "no blank line"),
        ((TEXT + "\n").encode(), "no signature lines"),
        ((TEXT + "\n" + PETER_SIG[:-1]).encode(), "does not end with a newline"),
        (("\x01" + TEXT + "\n" + PETER_SIG).encode(), "control character U\\+0001"),
        (b"\xff" + (TEXT + "\n" + PETER_SIG).encode(), "not valid UTF-8 at byte 0"),
        ((TEXT + "\n" + "— Bad Name " + PETER_SIG[15:-1]).encode(), "does not end with a newline"),
        (
            (TEXT + "\n" + "— Bad Name " + PETER_SIG[15:]).encode(),
            "line 4: the signature by Bad is not valid base64",
        ),
        (
            (TEXT + "\n" + PETER_SIG + "Unexpected line.\n").encode(),
            "line 5 does not start with an em dash",
        ),
        (
            (TEXT + "\n" + "— PeterNeumann AAAA\n").encode(),
            "line 4: the signature by PeterNeumann has 3 bytes",
        ),
        ((TEXT + "\n" + "—PeterNeumann x08g\n").encode(), "line 4 does not start with an em dash"),
    ],
)
def test_open_malformed_notes(peter: Verifier, note: bytes, reason: str) -> None:
    """GO TestOpen badMsgs, plus a few more; errors say what is wrong."""
    with pytest.raises(SignatureError, match=reason):
        open_note(note, [peter])


def test_open_wrong_key_same_name_is_unknown() -> None:
    # A key with Peter's name but another public key has another key ID: it is ignored.
    impostor = Signer.from_seed("PeterNeumann", bytes(32))
    with pytest.raises(UnknownKeyError):
        open_note(sign_note(TEXT, [impostor]), [Verifier.from_vkey(PETER_VKEY)])


# --- tampering ----------------------------------------------------------------------------


def test_tampering_any_character_of_the_text_fails(peter: Verifier) -> None:
    note = TEXT + "\n" + PETER_SIG
    for i in range(len(TEXT)):
        tampered = note[:i] + chr(ord(note[i]) + 1) + note[i + 1 :]
        with pytest.raises(SignatureError):
            open_note(tampered, [peter])


def test_tampering_any_character_of_the_signature_fails(peter: Verifier) -> None:
    note = TEXT + "\n" + PETER_SIG
    start = note.index("x08go")
    for i in range(start, len(note) - 1):
        tampered = note[:i] + chr(ord(note[i]) + 1) + note[i + 1 :]
        with pytest.raises(SignatureError) as info:
            open_note(tampered, [peter])
        message = str(info.value)
        assert "PeterNeumann" in message or "malformed" in message


def test_tampering_any_bit_of_the_signature_bytes_fails(peter: Verifier) -> None:
    sig = Signature.parse_line(PETER_SIG[:-1])
    for i in range(len(sig.signature) * 8):
        flipped = bytearray(sig.signature)
        flipped[i // 8] ^= 1 << (i % 8)
        line = Signature(sig.name, sig.key_id, bytes(flipped)).line()
        with pytest.raises(SignatureError, match=r"PeterNeumann\+c74f20a3 .*does not verify"):
            open_note(TEXT + "\n" + line, [peter])


# --- TDEV and C2SP notes ------------------------------------------------------------------


def test_real_sumdb_checkpoint_with_extra_signatures() -> None:
    log = Verifier.from_vkey(SUMDB_VKEY)
    others = [Verifier.from_vkey(v) for v in TDEV_WITNESS_VKEYS]
    note = SUMDB_NOTE + "".join(TDEV_WITNESS_SIGS) + "".join(TDEV_RANDOM_SIGS)
    opened = verify_note(note, [log, *others])
    assert (
        opened.text
        == "go.sum database tree\n6476701\nmb8QLQIs0Z0yP5Cstq6guj87oXWeC9gEM8oVikmm9Wk=\n"
    )
    assert [s.name for s in opened.verified] == ["sum.golang.org", "monkeys", "bananas", "witness"]
    assert [s.name for s in opened.unverified] == ["random1", "random2"]
    assert open_note(SUMDB_NOTE, [log])[1] == ["sum.golang.org"]


def test_tdev_signers_sign_and_the_others_are_ignored() -> None:
    signers = [Signer.from_skey(skey) for skey, _ in TDEV_PAIRS]
    verifiers = [Verifier.from_vkey(vkey) for _, vkey in TDEV_PAIRS[:3]]  # "Unknown" unknown
    body = "TestParseCheckpoint\n42\nYWJjZGVm\n"
    opened = verify_note(sign_note(body, signers), verifiers)
    assert [s.name for s in opened.verified] == ["Log", "Known", "KnownAgain"]
    assert [s.name for s in opened.unverified] == ["Unknown"]


def test_c2sp_example_note_parses_and_its_key_is_unknown() -> None:
    text, sigs = parse_note(C2SP_NOTE)
    # The text may hold blank lines: the last blank line separates the signatures.
    assert text == C2SP_NOTE[: C2SP_NOTE.index("\n\n—") + 1]
    assert text.endswith("ed è subito sera.\n")
    assert [s.name for s in sigs] == ["quasimodo.example/salvatore"]
    assert sigs[0].key_id.hex() == "367ba04b"
    assert len(sigs[0].signature) == 64
    assert sigs[0].line() == C2SP_NOTE[C2SP_NOTE.index("—") :]
    with pytest.raises(UnknownKeyError, match=r"quasimodo.example/salvatore\+367ba04b"):
        open_note(C2SP_NOTE, [Verifier.from_vkey(PETER_VKEY)])


def test_signature_line_value_is_key_id_then_signature() -> None:
    line = sign_note(TEXT, [Signer.from_skey(PETER_SKEY)]).split("\n")[-2]
    raw = base64.b64decode(line.split(" ")[2])
    assert raw[:4] == bytes.fromhex("c74f20a3")
    assert len(raw) == 4 + 64
