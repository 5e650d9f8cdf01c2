"""Checkpoints, cosignatures, policies and proof files (ledger.checkpoint, .policy, .proofile).

Sources of the vectors, copied here by hand:

* C2SP-CKPT: repository C2SP/C2SP, tlog-checkpoint.md at commit
  2793893976c835db049c194d8f2c4f946dcb70ba (https://c2sp.org/tlog-checkpoint), the example.
* C2SP-COSIG: repository C2SP/C2SP, tlog-cosignature.md at commit
  01194db11950a0ae2b2b2401afa0a4063a822458 (https://c2sp.org/tlog-cosignature): the example
  checkpoint with a witness cosignature, and the example signed message (time 1679315147).
* C2SP-POLICY: tlog-policy.md at commit 13027eee7f3f824e464e803373c774ab37fcc43e, the example
  policy structure (keys elided in the spec; seeded keys here).
* C2SP-PROOF: tlog-proof.md at commit 0065ea5b716154a2dd48508e3f905012a16ce5e9, the header and
  the ``extra`` value of the example (its signatures are elided with "[...]", and its five
  hashes are fewer than an inclusion proof for index 73894 in a tree of 109482 leaves has, so it
  is illustrative only).
* TDEV-LOG: repository transparency-dev/formats, log/checkpoint_test.go at commit
  7a6ef700ee5660b2580c9da92063af300820fdee (malformed checkpoints) and log/note_test.go at
  commit 5242c17862d31acd165afafa140ecc973a621469 (a real sum.golang.org checkpoint).
* TDEV-COSIG: transparency-dev/formats, note/note_cosigv1_test.go at commit
  091ce41666c09683aa9350785e572be27f0c026d (a type 0x04 vkey, a cosignature and its timestamp).
* GO: golang/mod sumdb/note/note_test.go at commit 02c991387e35f9e4c0a9b7ce137717055f8d716d, the
  PeterNeumann private key, reused as a witness key.

No published vector pairs a known cosigner key with its cosignature, so the expected
cosignature bytes are built by hand from the tlog-cosignature text with the cryptography library
(test_cosignature_built_by_hand_from_the_spec).
"""

from __future__ import annotations

import base64
import hashlib

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from onereg.core.errors import SignatureError, UnknownKeyError
from onereg.ledger.checkpoint import (
    Checkpoint,
    CheckpointFormatError,
    CosignatureVerifier,
    Cosigner,
    cosignature_message,
    cosignature_timestamp,
    merge_signatures,
    open_checkpoint,
    sign_checkpoint,
)
from onereg.ledger.note import (
    Signature,
    Signer,
    Verifier,
    parse_note,
    sign_note,
    verify_note,
)
from onereg.ledger.policy import Policy, PolicyError, QuorumError
from onereg.ledger.proofile import (
    PROOF_HEADER,
    ProofFormatError,
    TlogProof,
    format_proof,
    inclusion_proof_length,
    parse_proof,
)

SOFA_BODY = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
SOFA_LOG_SIG = (
    "— example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhc"
    "yv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n"
)
SOFA_WITNESS_SIG = (
    "— witness.example.com/w1 jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dlrDJs"
    "X3b2oyin1nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA==\n"
)
SPEC_TIME = 1679315147
SPEC_SIGNED_MESSAGE = (
    "cosignature/v1\n"
    "time 1679315147\n"
    "example.com/behind-the-sofa\n"
    "20852163\n"
    "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
)
PETER_SEED = base64.b64decode("AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz")[1:]
SUMDB_VKEY = "sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8"
SUMDB_NOTE = (
    "go.sum database tree\n"
    "6476701\n"
    "mb8QLQIs0Z0yP5Cstq6guj87oXWeC9gEM8oVikmm9Wk=\n"
    "\n"
    "— sum.golang.org Az3grsLX85Gz+s1SiTbgkuqxgItqFq7gsMUEyVnrsa9LM7Us9S+1xbFIGu95949rj4nPRYfv"
    "imWEPWL+o3GeoWwOoAw=\n"
)
ROOT = hashlib.sha256(b"root").digest()
T0 = 1_700_000_000


def _seed(name: str) -> bytes:
    return hashlib.sha256(b"onereg test " + name.encode()).digest()


def _log(origin: str = "rir.example/log") -> Signer:
    return Signer.from_seed(origin, _seed(origin))


def _witness(name: str, when: int = T0) -> Cosigner:
    return Cosigner(name, Ed25519PrivateKey.from_private_bytes(_seed(name)), clock=lambda: when)


# --- checkpoint text ------------------------------------------------------------------------


def test_spec_checkpoint_parses_and_formats_back() -> None:
    checkpoint = Checkpoint.parse(SOFA_BODY)
    assert checkpoint.origin == "example.com/behind-the-sofa"
    assert checkpoint.size == 20852163
    assert checkpoint.root == base64.b64decode("CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=")
    assert checkpoint.extensions == ()
    assert checkpoint.body() == SOFA_BODY


def test_spec_cosigned_checkpoint_parses_and_names_its_unknown_signers() -> None:
    note = SOFA_BODY + "\n" + SOFA_LOG_SIG + SOFA_WITNESS_SIG
    text, sigs = parse_note(note)
    assert text == SOFA_BODY
    assert [s.key for s in sigs] == [
        "example.com/behind-the-sofa+033de0ae",
        "witness.example.com/w1+8d66cf3f",
    ]
    with pytest.raises(UnknownKeyError, match=r"behind-the-sofa\+033de0ae.*w1\+8d66cf3f"):
        open_checkpoint(note, [_log().verifier()])


def test_extensions_round_trip_and_are_signed() -> None:
    checkpoint = Checkpoint("rir.example/log", 7, ROOT, ("ext one", "ext two"))
    assert checkpoint.body().endswith("\next one\next two\n")
    assert Checkpoint.parse(checkpoint.body()) == checkpoint
    log = _log()
    note = sign_checkpoint(checkpoint, [log])
    assert open_checkpoint(note, [log.verifier()], origin="rir.example/log") == checkpoint
    with pytest.raises(SignatureError, match=r"rir.example/log\+[0-9a-f]{8} .*does not verify"):
        open_checkpoint(note.replace("ext two", "ext 2wo"), [log.verifier()])


def test_real_sumdb_checkpoint_origin_differs_from_key_name() -> None:
    log = Verifier.from_vkey(SUMDB_VKEY)
    checkpoint = open_checkpoint(SUMDB_NOTE, [log])
    assert (checkpoint.origin, checkpoint.size) == ("go.sum database tree", 6476701)
    with pytest.raises(SignatureError, match=r"origin 'go.sum database tree', expected"):
        open_checkpoint(SUMDB_NOTE, [log], origin="sum.golang.org")


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        # TDEV-LOG TestUnmarshalLogState invalid cases.
        ("Head\n9944\n", "2 line"),
        ("\n9944\ndGhlIHZpZXcgZnJvbSB0aGUgdHJlZSB0b3BzIGlzIGdyZWF0IQ==\n", "line 1: the origin is"),
        ("Log\n123\nYmFuYW5hcw==", "does not end with a newline"),
        ("Log\nbananas\ndGhlIHZpZXcgZnJvbSB0aGUgdHJlZSB0b3BzIGlzIGdyZWF0IQ==\n", "line 2"),
        ("Log\n-34\ndGhlIHZpZXcgZnJvbSB0aGUgdHJlZSB0b3BzIGlzIGdyZWF0IQ==\n", "line 2"),
        ("Log\n3438945738945739845734895735\nYmFuYW5hcw==\n", "line 2"),
        ("Log\n123\nThisIsn'tBase64\n", "line 3: root hash .* not valid base64"),
        # TDEV-LOG's valid cases have 7- and 37-byte hashes, and trailing empty lines.
        ("Log\n123\nYmFuYW5hcw==\n", "line 3: .* has 7 bytes, expected 32"),
        (SOFA_BODY + "\n\n\n", "line 4: empty extension line"),
        # Leading zeros and other ways of writing a number.
        ("o\n012\n" + SOFA_BODY.split("\n")[2] + "\n", "line 2: tree size '012'"),
        ("o\n00\n" + SOFA_BODY.split("\n")[2] + "\n", "line 2: tree size '00'"),
        ("o\n+12\n" + SOFA_BODY.split("\n")[2] + "\n", "line 2"),
        ("o\n 12\n" + SOFA_BODY.split("\n")[2] + "\n", "line 2"),
        ("o\n1_000\n" + SOFA_BODY.split("\n")[2] + "\n", "line 2"),
        ("o\n\u0661\u0662\n" + SOFA_BODY.split("\n")[2] + "\n", "line 2"),
        ("o\n9223372036854775808\n" + SOFA_BODY.split("\n")[2] + "\n", "line 2"),
        # Roots of 31 and 33 bytes, non-canonical base64, no root.
        ("o\n1\n" + base64.b64encode(bytes(31)).decode() + "\n", "31 bytes, expected 32"),
        ("o\n1\n" + base64.b64encode(bytes(33)).decode() + "\n", "33 bytes, expected 32"),
        ("o\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB=\n", "not canonical"),
        ("o\n1\n\n", "line 3"),
        ("o\n1\n" + base64.b64encode(ROOT).decode() + "\r\n", "control character U\\+000D"),
    ],
)
def test_malformed_checkpoints_are_refused(body: str, reason: str) -> None:
    with pytest.raises(CheckpointFormatError, match=reason):
        Checkpoint.parse(body)


def test_checkpoint_values_are_checked() -> None:
    with pytest.raises(CheckpointFormatError, match="31 bytes"):
        Checkpoint("o", 1, bytes(31))
    with pytest.raises(CheckpointFormatError, match="origin is empty"):
        Checkpoint("", 1, ROOT)
    with pytest.raises(CheckpointFormatError, match="out of range"):
        Checkpoint("o", -1, ROOT)
    with pytest.raises(CheckpointFormatError, match="line 4"):
        Checkpoint("o", 1, ROOT, ("",))
    with pytest.raises(CheckpointFormatError, match="newline"):
        Checkpoint("o\nx", 1, ROOT)
    assert Checkpoint("o", 0, ROOT).body() == "o\n0\n" + base64.b64encode(ROOT).decode() + "\n"


# --- cosignatures ---------------------------------------------------------------------------


def test_spec_cosignature_carries_the_spec_timestamp() -> None:
    sig = Signature.parse_line(SOFA_WITNESS_SIG[:-1])
    assert sig.key_id.hex() == "8d66cf3f"
    assert cosignature_timestamp(sig) == SPEC_TIME


def test_tdev_cosignature_timestamps() -> None:
    sig = base64.b64decode(
        "ZGhGuQAAAABm/qTPeyKXD+R2rzyQsxPiP8mXum7qq/iF0u4vanlqJyocWODBt97w9uL+8qT7S5gxEHWWOworDcFi"
        "EBYJXORmnFBOBA=="
    )
    assert cosignature_timestamp(sig[4:]) == 1727964367
    plain = base64.b64decode(
        "eQjRQm6eSKzFoiYalgwCPXu2y3ijtg68is9M46JKxuZB+dRfTmeQeDBoXnvxZx2ugnkyV+MUMLXpWs1hPb/W/4xk"
        "NQY="
    )  # a type 0x01 signature: no timestamp
    with pytest.raises(SignatureError, match=r"72 bytes .* got 64"):
        cosignature_timestamp(plain[4:])


def test_tdev_witness_vkeys() -> None:
    remora = "remora.n621.de+da77ade7+BOvN63jn/bLvkieywe8R6UYAtVtNbZpXh34x7onlmtw2"
    verifier = CosignatureVerifier.from_vkey(remora)
    assert verifier.sig_type == 0x04
    assert verifier.vkey() == remora
    assert hashlib.sha256(b"remora.n621.de\n\x04" + verifier.public_key).digest()[:4].hex() == (
        "da77ade7"
    )
    # TDEV converts a type 0x01 key into a cosigner key; here a witness key must say 0x04.
    with pytest.raises(SignatureError, match=r"type 0x01 .* takes type 0x04"):
        CosignatureVerifier.from_vkey("TEST+7997405c+AQcC+FTVKf0jlTdHDY3rbevmnKxxPjigCXlVtGe6RIr6")
    assert Verifier.from_vkey("TEST+7997405c+AQcC+FTVKf0jlTdHDY3rbevmnKxxPjigCXlVtGe6RIr6")
    with pytest.raises(SignatureError, match="type 0x03"):
        CosignatureVerifier.from_vkey("rekor.sigstore.dev+12345678+AwEB")


def test_cosignature_built_by_hand_from_the_spec() -> None:
    """The signed message, key ID and line value, each built from tlog-cosignature's text."""
    name = "witness.example.com/w1"
    private = Ed25519PrivateKey.from_private_bytes(PETER_SEED)
    public = private.public_key().public_bytes_raw()
    # The spec's example message, verbatim.
    message = SPEC_SIGNED_MESSAGE.encode()
    assert cosignature_message(SOFA_BODY, SPEC_TIME) == message
    # "SHA-256(<name> || "\n" || 0x04 || 32-byte Ed25519 cosigner public key)[:4]"
    kid = hashlib.sha256(name.encode() + b"\n" + b"\x04" + public).digest()[:4]
    # timestamped_signature: u64 big-endian timestamp, then the 64-byte Ed25519 signature.
    value = kid + SPEC_TIME.to_bytes(8, "big") + private.sign(message)
    expected = "— " + name + " " + base64.b64encode(value).decode() + "\n"

    cosigner = Cosigner(name, private)
    assert cosigner.key_id == kid
    assert cosigner.cosign(Checkpoint.parse(SOFA_BODY), SPEC_TIME) == expected
    material = base64.b64encode(b"\x04" + public).decode()
    assert cosigner.verifier().vkey() == f"{name}+{kid.hex()}+{material}"
    verifier = CosignatureVerifier.from_vkey(cosigner.verifier().vkey())
    sig = Signature.parse_line(expected[:-1])
    assert verifier.verify_cosignature(SOFA_BODY, sig) == SPEC_TIME
    # As a note signature, among the log's.
    note = SOFA_BODY + "\n" + SOFA_LOG_SIG + expected
    opened = verify_note(note, [verifier])
    assert [s.key for s in opened.verified] == [f"{name}+{kid.hex()}"]


def test_cosign_round_trip_and_tampering() -> None:
    witness = _witness("witness.example/w1", when=T0 + 5)
    checkpoint = Checkpoint("rir.example/log", 10, ROOT)
    line = witness.cosign(checkpoint)
    sig = Signature.parse_line(line[:-1])
    verifier = witness.verifier()
    assert cosignature_timestamp(sig) == T0 + 5
    assert verifier.verify_cosignature(checkpoint, sig) == T0 + 5
    # Another timestamp in the value: the signature no longer matches.
    moved = Signature(sig.name, sig.key_id, (T0 + 6).to_bytes(8, "big") + sig.signature[8:])
    with pytest.raises(SignatureError, match=r"w1\+[0-9a-f]{8} \(time 1700000006\) does not"):
        verifier.verify_cosignature(checkpoint, moved)
    # Another checkpoint.
    with pytest.raises(SignatureError, match="does not verify over the checkpoint"):
        verifier.verify_cosignature(Checkpoint("rir.example/log", 11, ROOT), sig)
    # Another key.
    with pytest.raises(SignatureError, match="not by witness"):
        _witness("witness.example/w2").verifier().verify_cosignature(checkpoint, sig)
    # A timestamp beyond 2^63-1 never verifies.
    huge = Signature(sig.name, sig.key_id, (2**63).to_bytes(8, "big") + sig.signature[8:])
    assert not verifier.verify(checkpoint.body().encode(), huge.signature)


def test_cosigner_refuses_what_is_not_a_checkpoint_and_bad_times() -> None:
    witness = _witness("witness.example/w1")
    with pytest.raises(CheckpointFormatError):
        sign_note("hello\n", [witness])
    with pytest.raises(SignatureError, match=r"outside 0..2\^63-1"):
        witness.cosign(Checkpoint("o", 1, ROOT), -1)
    with pytest.raises(SignatureError, match=r"outside 0..2\^63-1"):
        witness.cosign(Checkpoint("o", 1, ROOT), 2**63)


def test_cosigner_private_key_text() -> None:
    witness = _witness("witness.example/w1")
    skey = witness.skey()
    assert skey.startswith(f"PRIVATE+KEY+witness.example/w1+{witness.key_id.hex()}+B")  # 0x04
    assert Cosigner.from_skey(skey).verifier() == witness.verifier()
    with pytest.raises(SignatureError, match=r"type 0x04 .* Signer takes type 0x01"):
        Signer.from_skey(skey)


def test_one_key_as_log_and_as_witness_has_two_ids() -> None:
    key = Ed25519PrivateKey.from_private_bytes(PETER_SEED)
    as_log, as_witness = Signer("example.com/k", key), Cosigner("example.com/k", key)
    assert as_log.key_id != as_witness.key_id
    note = sign_checkpoint(Checkpoint("example.com/k", 1, ROOT), [as_log])
    with pytest.raises(UnknownKeyError):
        verify_note(note, [as_witness.verifier()])


def test_merge_signatures() -> None:
    log = _log()
    w1, w2 = _witness("w1.example"), _witness("w2.example")
    checkpoint = Checkpoint("rir.example/log", 3, ROOT)
    note = sign_checkpoint(checkpoint, [log])
    response = w1.cosign(checkpoint) + w2.cosign(checkpoint)
    merged = merge_signatures(note, response)
    opened = verify_note(merged, [log.verifier(), w1.verifier(), w2.verifier()])
    assert [s.name for s in opened.verified] == ["rir.example/log", "w1.example", "w2.example"]
    # Merging the same lines again changes nothing; a newer cosignature replaces the older.
    assert merge_signatures(merged, response) == merged
    newer = _witness("w1.example", when=T0 + 60).cosign(checkpoint)
    again = merge_signatures(merged, [newer])
    assert again.count("w1.example") == 1 and again.endswith(newer)
    # Bad input.
    with pytest.raises(SignatureError, match="line 1 is not a signature line"):
        merge_signatures(note, "hello\n")
    with pytest.raises(SignatureError, match="no newline"):
        merge_signatures(note, response[:-1])
    with pytest.raises(CheckpointFormatError):
        merge_signatures(sign_note("not a checkpoint\n", [log]), response)


# --- policy ---------------------------------------------------------------------------------


def _spec_policy() -> tuple[Policy, Signer, dict[str, Cosigner]]:
    """C2SP-POLICY's example: 2 of X1..X3 and any of Y1..Y3."""
    log = _log()
    ws = {n: _witness(f"{n.lower()}.witness.example") for n in ["X1", "X2", "X3", "Y1", "Y2", "Y3"]}
    text = (
        "# the example of c2sp.org/tlog-policy\n"
        f"log {log.verifier().vkey()}\n"
        "\n"
        + "".join(f"witness {n} {ws[n].verifier().vkey()}\n" for n in ["X1", "X2", "X3"])
        + "group X-witnesses 2 X1 X2 X3\n\n"
        + "".join(f"  witness\t{n}  {ws[n].verifier().vkey()}  \n" for n in ["Y1", "Y2", "Y3"])
        + "group Y-witnesses any Y1 Y2 Y3\n"
        "\n"
        "group X-and-Y all X-witnesses Y-witnesses\n"
        "quorum X-and-Y\n"
    )
    return Policy.parse(text), log, ws


def _cosigned(log: Signer, witnesses: list[Cosigner], size: int = 5) -> str:
    checkpoint = Checkpoint(log.name, size, ROOT)
    return sign_checkpoint(checkpoint, [log, *witnesses])


def test_policy_parses_the_spec_example() -> None:
    policy, log, _ = _spec_policy()
    assert [w.name for w in policy.witnesses] == ["X1", "X2", "X3", "Y1", "Y2", "Y3"]
    assert [(g.name, g.threshold) for g in policy.groups] == [
        ("X-witnesses", 2),
        ("Y-witnesses", 1),
        ("X-and-Y", 2),
    ]
    assert policy.quorum == "X-and-Y"
    assert policy.logs[0].verifier == log.verifier()


def test_policy_quorum_met() -> None:
    policy, log, ws = _spec_policy()
    checkpoint = policy.check(_cosigned(log, [ws["X1"], ws["X3"], ws["Y2"]]))
    assert (checkpoint.origin, checkpoint.size) == ("rir.example/log", 5)
    # Extra and unknown cosignatures do no harm.
    stranger = _witness("stranger.example")
    assert policy.check(_cosigned(log, [*ws.values(), stranger])).size == 5


def test_policy_quorum_not_met_says_who_signed_and_what_is_needed() -> None:
    policy, log, ws = _spec_policy()
    with pytest.raises(QuorumError) as info:
        policy.check(_cosigned(log, [ws["X1"], ws["Y1"]]))
    message = str(info.value)
    assert "quorum 'X-and-Y' not met" in message
    assert "valid cosignatures from X1, Y1" in message
    assert "X-witnesses needs 2 of 3 [X1 (cosigned); X2 (no valid cosignature)" in message
    assert "Y-witnesses needs any 1 of 3" in message
    assert "X-and-Y needs all 2 of 2" in message
    assert info.value.signed == ("X1", "Y1")
    with pytest.raises(QuorumError, match=r"from X1, X2, X3;.*Y-witnesses .* 0 met"):
        policy.check(_cosigned(log, [ws["X1"], ws["X2"], ws["X3"]]))
    with pytest.raises(QuorumError, match="from no witness"):
        policy.check(_cosigned(log, []))


def test_policy_k_of_n_thresholds() -> None:
    log = _log()
    ws = [_witness(f"w{i}.example") for i in range(5)]
    lines = [f"log {log.verifier().vkey()}"] + [
        f"witness W{i} {w.verifier().vkey()} https://w{i}.example/" for i, w in enumerate(ws)
    ]
    for k, signers, ok in [
        ("3", ws[:3], True),
        ("3", ws[:2], False),
        ("3", [ws[0], ws[2], ws[4]], True),
        ("any", ws[4:], True),
        ("any", [], False),
        ("all", ws, True),
        ("all", ws[:4], False),
        ("5", ws, True),
    ]:
        policy = Policy.parse("\n".join([*lines, f"group G {k} W0 W1 W2 W3 W4", "quorum G"]))
        note = _cosigned(log, signers)
        if ok:
            assert policy.check(note).origin == log.name
        else:
            with pytest.raises(QuorumError, match="G needs"):
                policy.check(note)


def test_policy_single_witness_and_none() -> None:
    log, w = _log(), _witness("w.example")
    single = Policy.parse(
        f"log {log.verifier().vkey()}\nwitness W {w.verifier().vkey()}\nquorum W\n"
    )
    assert single.check(_cosigned(log, [w])).size == 5
    with pytest.raises(QuorumError, match=r"W \(no valid cosignature\)"):
        single.check(_cosigned(log, []))
    none = Policy.parse(f"log {log.verifier().vkey()}\nquorum none")
    assert none.check(_cosigned(log, [])).size == 5


def test_policy_log_rules() -> None:
    log, w = _log(), _witness("w.example")
    policy = Policy.parse(
        f"log {log.verifier().vkey()}\nwitness W {w.verifier().vkey()}\nquorum W\n"
    )
    other = _log("other.example/log")
    # Signed by a witness only.
    only_witness = sign_checkpoint(Checkpoint(log.name, 5, ROOT), [w])
    with pytest.raises(UnknownKeyError, match="not signed by any log key"):
        policy.check(only_witness)
    # Signed by nobody the policy knows.
    with pytest.raises(UnknownKeyError, match="no signature by a known key"):
        policy.check(_cosigned(other, []))
    # The log's key signs a checkpoint for another origin.
    wrong_origin = sign_checkpoint(Checkpoint("elsewhere", 5, ROOT), [log, w])
    with pytest.raises(SignatureError, match="origin 'elsewhere' does not match"):
        policy.check(wrong_origin)
    # A known witness whose cosignature does not verify refuses the note, even if quorum is met.
    note = _cosigned(log, [w])
    text, sigs = parse_note(note)
    broken = Signature(sigs[1].name, sigs[1].key_id, sigs[1].signature[:8] + bytes(64))
    with pytest.raises(SignatureError, match=r"w.example\+[0-9a-f]{8} .*does not verify"):
        policy.check(text + "\n" + sigs[0].line() + broken.line())


def test_policy_without_logs_takes_them_from_context() -> None:
    log, w = _log(), _witness("w.example")
    policy = Policy.parse(f"witness W {w.verifier().vkey()}\nquorum W\n")
    with pytest.raises(PolicyError, match="no log key"):
        policy.check(_cosigned(log, [w]))
    assert policy.check(_cosigned(log, [w]), logs=[log.verifier()]).size == 5


def test_policy_parse_errors_name_the_line() -> None:
    log, w1, w2 = _log(), _witness("w1.example"), _witness("w2.example")
    lv, v1, v2 = log.verifier().vkey(), w1.verifier().vkey(), w2.verifier().vkey()
    head = f"log {lv}\nwitness A {v1}\nwitness B {v2}\n"  # lines 1-3
    cases = [
        (head + "witnes C x\nquorum A\n", "line 4: unknown keyword 'witnes'"),
        (head, "no quorum line"),
        (head + "quorum A\nquorum B\n", "line 5: a policy has exactly one quorum line"),
        (head + "quorum C\n", "line 4: quorum 'C' is not a witness or group"),
        (head + "quorum C D\n", "line 4: expected: quorum"),
        (head + "group G any A C\nquorum G\n", "line 4: group G: member 'C' is not"),
        (head + "quorum G\ngroup G any A B\n", "line 4: quorum 'G'"),
        (head + "group G any A none\nquorum G\n", "line 4: group G: 'none' cannot be"),
        (head + "group G any A\ngroup H any A B\nquorum H\n", "line 5: .*'A' is already a member"),
        (head + "group G any A A\nquorum G\n", "line 4: .*'A' is already a member"),
        (head + "group G 0 A B\nquorum G\n", "line 4: group G: threshold '0'"),
        (head + "group G 3 A B\nquorum G\n", "line 4: group G: threshold '3'"),
        (head + "group G 02 A B\nquorum G\n", "line 4: group G: threshold '02'"),
        (head + "group G any\nquorum G\n", "line 4: expected: group"),
        (head + "group A any B\nquorum A\n", "line 4: name 'A' is already defined"),
        (head + f"witness A {v2}x\nquorum A\n", "line 4: name 'A' is already defined"),
        (head + f"witness none {v2}\nquorum none\n", "line 4: 'none' is predefined"),
        (f"log {lv}\nwitness A {v1}\nwitness B {v1}\nquorum A\n", "line 3: duplicate witness"),
        (f"log {lv}\nlog {lv}\nquorum none\n", "line 2: duplicate log"),
        (f"log {v1}\nquorum none\n", "line 1: log key: .*type 0x04"),
        (f"witness A {lv}\nquorum A\n", "line 1: witness A key: .*type 0x01"),
        (f"log {lv} https://x y\nquorum none\n", "line 1: expected: log <vkey>"),
        (f"log {lv}\nquorum none\x0c\n", "line 2: control character U\\+000C"),
        (f"log {lv[:-2]}\nquorum none\n", "line 1: log key: "),
    ]
    for text, reason in cases:
        with pytest.raises(PolicyError, match=reason):
            Policy.parse(text)


def test_policy_comments_and_blanks() -> None:
    log = _log()
    policy = Policy.parse(
        f"  # comment\n\t\n# log {'x'}\n\tlog \t{log.verifier().vkey()}  https://log.example/ \n"
        "quorum none"  # no final newline
    )
    assert policy.logs[0].url == "https://log.example/"
    assert policy.quorum == "none"


# --- proof files ----------------------------------------------------------------------------


def _rfc9162_steps(m: int, n: int) -> int:
    """How many path hashes the RFC 9162 section 2.1.3.2 verification loop consumes."""
    fn, sn, steps = m, n - 1, 0
    while sn > 0:
        if fn & 1 or fn == sn:
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        fn, sn, steps = fn >> 1, sn >> 1, steps + 1
    return steps


def test_inclusion_proof_length() -> None:
    assert inclusion_proof_length(0, 1) == 0
    assert inclusion_proof_length(1, 2) == 1
    assert inclusion_proof_length(4, 5) == 1  # the last leaf of 5 needs only the root of 0..3
    assert [inclusion_proof_length(i, 7) for i in range(7)] == [3, 3, 3, 3, 3, 3, 2]
    assert all(inclusion_proof_length(i, 8) == 3 for i in range(8))
    assert inclusion_proof_length(73894, 109482) == 17  # 1 + 1 + 15 (a perfect 2^15 subtree)
    for n in range(1, 70):
        for m in range(n):
            assert inclusion_proof_length(m, n) == _rfc9162_steps(m, n), (m, n)
    with pytest.raises(ValueError):
        inclusion_proof_length(5, 5)


def _proof_parts(index: int = 5, size: int = 7) -> tuple[list[bytes], str]:
    log = _log()
    note = sign_checkpoint(Checkpoint(log.name, size, ROOT), [log, _witness("w.example")])
    hashes = [
        hashlib.sha256(bytes([i])).digest() for i in range(inclusion_proof_length(index, size))
    ]
    return hashes, note


def test_proof_round_trip() -> None:
    hashes, note = _proof_parts()
    text = format_proof(5, hashes, note)
    lines = text.split("\n")
    assert lines[0] == PROOF_HEADER and lines[1] == "index 5" and lines[5] == ""
    proof = parse_proof(text)
    assert proof == TlogProof(5, tuple(hashes), note, None)
    assert proof.checkpoint.size == 7
    assert proof.format() == text
    # With extra data: the C2SP-PROOF example's value.
    extra_b64 = "YWdlLXYxLjIuMS1kYXJ3aW4tYXJtNjQudGFyLmd6kYXJ3aW4tYXJ"
    extra = base64.b64decode(extra_b64)
    assert extra.startswith(b"age-v1.2.1-darwin-arm64.tar.gz")
    with_extra = format_proof(5, hashes, note, extra)
    assert with_extra.split("\n")[1] == "extra " + extra_b64
    assert parse_proof(with_extra.encode()).extra == extra


def test_proof_for_a_single_leaf_has_no_hashes() -> None:
    _, note = _proof_parts(0, 1)
    text = format_proof(0, [], note)
    assert text.startswith(PROOF_HEADER + "\nindex 0\n\n")
    assert parse_proof(text).hashes == ()


def test_proof_checkpoint_passes_a_policy() -> None:
    log, w = _log(), _witness("w.example")
    policy = Policy.parse(
        f"log {log.verifier().vkey()}\nwitness W {w.verifier().vkey()}\nquorum W\n"
    )
    hashes, note = _proof_parts()
    proof = parse_proof(format_proof(5, hashes, note))
    assert policy.check(proof.checkpoint_note) == proof.checkpoint


def test_proof_parse_errors_name_the_line() -> None:
    hashes, note = _proof_parts()
    good = format_proof(5, hashes, note)
    lines = good.split("\n")
    h = lines[2]
    short = base64.b64encode(bytes(31)).decode()
    cases: list[tuple[str | bytes, str]] = [
        ("c2sp.org/tlog-proof@v2\n" + good.split("\n", 1)[1], "line 1: expected the header"),
        ("", "line 1: the file ends"),
        (PROOF_HEADER, "line 1: .*does not end with a newline"),
        (good.replace("index 5", "index 05"), "line 2: index '05'"),
        (good.replace("index 5", "index -5"), "line 2: index '-5'"),
        (good.replace("index 5", "idx 5"), "line 2: expected 'index <N>'"),
        (good.replace("index 5", "extra !!!\nindex 5"), "line 2: extra data is not valid"),
        (good.replace("index 5", "extra AR==\nindex 5"), "line 2: extra data is not canonical"),
        (good.replace(h, short), "line 3: inclusion hash .* 31 bytes"),
        (good.replace(h, "A" * 42 + "B="), "line 3: inclusion hash .* not canonical"),
        (good.replace(h, h + "\r"), "line 3: inclusion hash"),
        (good.replace("index 5", "index 7"), "line 2: index 7 is not below .* size 7"),
        (good.replace(f"{h}\n", f"{h}\n{h}\n", 1), "line 6: .* has 3 hashes, the file has 4"),
        (good.replace(f"{h}\n", "", 1), "line 5: .* has 3 hashes, the file has 2"),
        (good.replace("index 5", "index 6"), "line 5: .* has 2 hashes, the file has 3"),
        (good.replace("\n\nrir.example", "\nrir.example"), "line 6: inclusion hash 'rir"),
        (good[:-1], "line 7: the checkpoint note starting here is malformed.*newline"),
        (good.replace("\n7\n", "\n07\n"), "line 7: the checkpoint note .* tree size '07'"),
        (good + "garbage\n", "line 7: the checkpoint note .* line 7 does not start"),
        (b"\xff" + good.encode(), "not valid UTF-8 at byte 0"),
    ]
    for text, reason in cases:
        with pytest.raises(ProofFormatError, match=reason):
            parse_proof(text)


def test_format_proof_refuses_what_parse_refuses() -> None:
    hashes, note = _proof_parts()
    with pytest.raises(ProofFormatError, match="has 3 hashes, the file has 2"):
        format_proof(5, hashes[:2], note)
    with pytest.raises(ProofFormatError, match="31 bytes"):
        format_proof(5, [*hashes[:2], bytes(31)], note)
    with pytest.raises(ProofFormatError, match="extra data is empty"):
        format_proof(5, hashes, note, b"")
    with pytest.raises(ProofFormatError, match="checkpoint note"):
        format_proof(5, hashes, "not a note\n")
