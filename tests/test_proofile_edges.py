"""Proof files (c2sp.org/tlog-proof@v1) at their edges: the exact refusal texts and the line
each names, the hash-count limit, the largest index and tree sizes 1, 2, 2^k and 2^k + 1
(issue 12, point 10)."""

from __future__ import annotations

import base64
import hashlib

import pytest

from onereg.ledger.checkpoint import MAX_TREE_SIZE, Checkpoint, sign_checkpoint
from onereg.ledger.note import Signer
from onereg.ledger.proofile import (
    MAX_PROOF_HASHES,
    PROOF_HEADER,
    ProofFormatError,
    TlogProof,
    format_proof,
    inclusion_proof_length,
    parse_proof,
)

ROOT = hashlib.sha256(b"root").digest()
LOG = Signer.from_seed("rir.example/log", hashlib.sha256(b"proofile edges").digest())
H = [hashlib.sha256(bytes([i])).digest() for i in range(70)]


def note(size: int) -> str:
    return sign_checkpoint(Checkpoint(LOG.name, size, ROOT), [LOG])


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def refused(text: str | bytes, reason: str, line: int | None) -> ProofFormatError:
    with pytest.raises(ProofFormatError) as caught:
        parse_proof(text)
    err = caught.value
    assert (err.reason, err.line) == (reason, line)
    assert str(err) == (f"proof line {line}: {reason}" if line is not None else reason)
    return err


def test_lengths_at_small_and_boundary_sizes() -> None:
    assert [inclusion_proof_length(0, n) for n in (1, 2, 3, 4, 5, 8, 9)] == [0, 1, 2, 2, 3, 3, 4]
    assert [inclusion_proof_length(n - 1, n) for n in (1, 2, 3, 4, 5, 8, 9)] == [
        0,
        1,
        1,
        2,
        1,
        3,
        1,
    ]
    assert inclusion_proof_length(0, MAX_TREE_SIZE) == 63
    assert inclusion_proof_length(MAX_TREE_SIZE - 1, MAX_TREE_SIZE) == 62
    for index, size in ((0, 0), (1, 1), (-1, 3), (5, 4)):
        with pytest.raises(ValueError) as caught:
            inclusion_proof_length(index, size)
        assert str(caught.value) == f"index {index} is not in a tree of size {size}"


@pytest.mark.parametrize(("index", "size"), [(0, 1), (1, 2), (0, 2), (3, 4), (4, 5), (8, 9)])
def test_round_trip_at_small_sizes(index: int, size: int) -> None:
    hashes = H[: inclusion_proof_length(index, size)]
    text = format_proof(index, hashes, note(size))
    assert text == "\n".join([PROOF_HEADER, f"index {index}", *map(b64, hashes), "", note(size)])
    proof = parse_proof(text)
    assert proof == TlogProof(index, tuple(hashes), note(size), None)
    assert proof.checkpoint == Checkpoint(LOG.name, size, ROOT)


def test_the_largest_tree_and_the_hash_limit() -> None:
    assert MAX_PROOF_HASHES == 63
    big = note(MAX_TREE_SIZE)
    text = format_proof(0, H[:63], big)
    assert len(parse_proof(text).hashes) == 63
    last = MAX_TREE_SIZE - 1
    assert parse_proof(format_proof(last, H[:62], big)).index == last
    # a 64th hash is refused on its own line, before the lengths are compared
    lines = text.split("\n")
    extra = "\n".join([*lines[:65], b64(H[63]), *lines[65:]])
    refused(
        extra,
        "more than 63 inclusion hashes (a tree has at most 64 levels)",
        66,
    )
    refused(
        text.replace("index 0\n", f"index {MAX_TREE_SIZE}\n"),
        f"index {MAX_TREE_SIZE} is not below the checkpoint's tree size {MAX_TREE_SIZE}",
        2,
    )
    refused(
        text.replace("index 0\n", f"index {MAX_TREE_SIZE + 1}\n"),
        f"index '{MAX_TREE_SIZE + 1}' is not a decimal number without leading zeros",
        2,
    )


def test_refusals_are_exact() -> None:
    good = format_proof(4, H[:1], note(5))
    assert good.split("\n")[:4] == [PROOF_HEADER, "index 4", b64(H[0]), ""]
    refused("", f"the file ends where the header {PROOF_HEADER!r} was expected", 1)
    refused(
        PROOF_HEADER,
        f"the header {PROOF_HEADER!r}: the line does not end with a newline",
        1,
    )
    refused(
        PROOF_HEADER + "\n",
        "the file ends where 'extra <base64>' or 'index <N>' was expected",
        2,
    )
    refused(
        PROOF_HEADER + "\nindex 4",
        "'extra <base64>' or 'index <N>': the line does not end with a newline",
        2,
    )
    refused(
        PROOF_HEADER + "\nextra AAAA\n",
        "the file ends where 'index <N>' was expected",
        3,
    )
    refused(
        PROOF_HEADER + "\nindex 4\n",
        "the file ends where an inclusion hash or the blank line before the checkpoint was "
        "expected",
        3,
    )
    refused(
        "\n" + good.split("\n", 1)[1],
        f"expected the header {PROOF_HEADER!r}, found ''",
        1,
    )
    refused(
        "x\n" + good.split("\n", 1)[1],
        f"expected the header {PROOF_HEADER!r}, found 'x'",
        1,
    )
    refused(
        good.replace("index 4", "extra AAAA\nindex4"),
        "expected 'index <N>', found 'index4'",
        3,
    )
    refused(
        good.replace("index 4", "index 4 "),
        "index '4 ' is not a decimal number without leading zeros",
        2,
    )
    err = refused(
        good.replace(b64(H[0]), b64(H[0][:31])),
        f"inclusion hash {b64(H[0][:31])!r} has 31 bytes, expected 32",
        3,
    )
    assert err.line == 3
    refused(
        good.replace("index 4", "index 3"),
        "an inclusion proof for index 3 in a tree of size 5 has 3 hashes, the file has 1",
        4,
    )
    two = good.replace(b64(H[0]), b64(H[0]) + "\n" + b64(H[1]))
    refused(
        two,
        "an inclusion proof for index 4 in a tree of size 5 has 1 hashes, the file has 2",
        4,
    )
    refused(
        b"\x80" + good.encode(),
        "not valid UTF-8 at byte 0",
        None,
    )
    refused(
        good.encode() + b"\xc3",
        f"not valid UTF-8 at byte {len(good.encode())}",
        None,
    )
    # with an extra line every later line number moves by one
    with_extra = format_proof(4, H[:1], note(5), b"\x01")
    assert with_extra.split("\n")[1] == "extra AQ=="
    assert parse_proof(with_extra).extra == b"\x01"
    refused(
        with_extra.replace("index 4", "index 3"),
        "an inclusion proof for index 3 in a tree of size 5 has 3 hashes, the file has 1",
        5,
    )
    with pytest.raises(ProofFormatError) as caught:
        parse_proof(with_extra.replace("\n5\n", "\nfive\n"))
    assert caught.value.line == 6
    assert caught.value.reason == (
        "the checkpoint note starting here is malformed: checkpoint line 2: tree size 'five' "
        f"is not a decimal number without leading zeros between 0 and {MAX_TREE_SIZE}"
    )


def test_format_refusals_are_exact() -> None:
    with pytest.raises(ProofFormatError) as caught:
        format_proof(4, H[:1], note(5), b"")
    assert str(caught.value) == "extra data is empty; pass None to leave the line out"
    assert caught.value.line is None
    with pytest.raises(ProofFormatError) as caught:
        format_proof(4, [bytes(33)], note(5))
    assert str(caught.value) == "inclusion hash 0 has 33 bytes, expected 32"
    with pytest.raises(ProofFormatError) as caught:
        format_proof(3, [*H[:2], bytes(31)], note(5))
    assert str(caught.value) == "inclusion hash 2 has 31 bytes, expected 32"
    proof = parse_proof(format_proof(4, H[:1], note(5), b"x"))
    assert proof.format() == format_proof(4, H[:1], note(5), b"x")
