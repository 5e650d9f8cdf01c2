"""Offline inclusion proof files after c2sp.org/tlog-proof@v1 (stored as ``.tlog-proof``).

::

    c2sp.org/tlog-proof@v1
    extra <base64>            (optional, opaque and NOT authenticated)
    index <N>
    <base64 hash>             (the RFC 6962 inclusion proof, leaf's sibling first)
    ...
    <blank line>
    <the cosigned checkpoint note, verbatim>

Parsing is strict and names the offending line: canonical base64, decimal without leading
zeros, 32-byte hashes, a well-formed signed note whose text is a checkpoint, an index below the
tree size, and exactly as many hashes as an RFC 6962 inclusion proof for that index and size
has. No signature or hash is verified here: check the note with a policy
(``onereg.ledger.policy``) and the path with the Merkle code.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from onereg.core.errors import SignatureError
from onereg.ledger.checkpoint import HASH_SIZE, MAX_TREE_SIZE, Checkpoint, parse_decimal
from onereg.ledger.note import decode_base64, encode_base64, parse_note

PROOF_HEADER = "c2sp.org/tlog-proof@v1"
MAX_PROOF_HASHES = 63


class ProofFormatError(SignatureError):
    """A proof file does not follow the format; the message names the line."""

    def __init__(self, reason: str, line: int | None = None) -> None:
        super().__init__(f"proof line {line}: {reason}" if line is not None else reason)
        self.line = line
        self.reason = reason


def inclusion_proof_length(index: int, size: int) -> int:
    """How many hashes RFC 6962 PATH(index, D[size]) has (RFC 9162 section 2.1.3.1)."""
    if not 0 <= index < size:
        raise ValueError(f"index {index} is not in a tree of size {size}")
    length = 0
    while size > 1:
        split = 1 << ((size - 1).bit_length() - 1)  # the largest power of two below size
        if index < split:
            size = split
        else:
            index -= split
            size -= split
        length += 1
    return length


@dataclass(frozen=True)
class TlogProof:
    index: int
    hashes: tuple[bytes, ...]
    checkpoint_note: str  # the signed (and cosigned) checkpoint, verbatim
    extra: bytes | None = None

    @property
    def checkpoint(self) -> Checkpoint:
        text, _ = parse_note(self.checkpoint_note)
        return Checkpoint.parse(text)

    def format(self) -> str:
        return format_proof(self.index, self.hashes, self.checkpoint_note, self.extra)


def format_proof(
    index: int,
    hashes: Sequence[bytes],
    checkpoint_note: str,
    extra: bytes | None = None,
) -> str:
    """The proof file text; refuses anything ``parse_proof`` would refuse."""
    lines = [PROOF_HEADER]
    if extra is not None:
        if not extra:
            raise ProofFormatError("extra data is empty; pass None to leave the line out")
        lines.append(f"extra {encode_base64(extra)}")
    lines.append(f"index {index}")
    for i, h in enumerate(hashes):
        if len(h) != HASH_SIZE:
            raise ProofFormatError(f"inclusion hash {i} has {len(h)} bytes, expected {HASH_SIZE}")
        lines.append(encode_base64(h))
    text = "\n".join(lines) + "\n\n" + checkpoint_note
    parse_proof(text)  # one set of rules for both directions
    return text


def parse_proof(text: str | bytes) -> TlogProof:
    """Parse a proof file strictly; errors name the line (1-based) that is wrong."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ProofFormatError(f"not valid UTF-8 at byte {exc.start}") from None
    pos = 0
    lineno = 0

    def next_line(expected: str) -> str:
        nonlocal pos, lineno
        lineno += 1
        end = text.find("\n", pos)
        if end < 0:
            if pos == len(text):
                raise ProofFormatError(f"the file ends where {expected} was expected", lineno)
            raise ProofFormatError(f"{expected}: the line does not end with a newline", lineno)
        line = text[pos:end]
        pos = end + 1
        return line

    header = next_line(f"the header {PROOF_HEADER!r}")
    if header != PROOF_HEADER:
        raise ProofFormatError(f"expected the header {PROOF_HEADER!r}, found {header!r}", lineno)

    line = next_line("'extra <base64>' or 'index <N>'")
    extra: bytes | None = None
    if line.startswith("extra "):
        try:
            extra = decode_base64(line[len("extra ") :])
        except ValueError as exc:
            raise ProofFormatError(f"extra data is {exc}", lineno) from None
        line = next_line("'index <N>'")

    if not line.startswith("index "):
        raise ProofFormatError(f"expected 'index <N>', found {line!r}", lineno)
    index_line = lineno
    index_text = line[len("index ") :]
    index = parse_decimal(index_text, MAX_TREE_SIZE)
    if index is None:
        raise ProofFormatError(
            f"index {index_text!r} is not a decimal number without leading zeros", lineno
        )

    hashes: list[bytes] = []
    while True:
        line = next_line("an inclusion hash or the blank line before the checkpoint")
        if line == "":
            break
        if len(hashes) == MAX_PROOF_HASHES:
            raise ProofFormatError(
                f"more than {MAX_PROOF_HASHES} inclusion hashes (a tree has at most 64 levels)",
                lineno,
            )
        try:
            h = decode_base64(line)
        except ValueError as exc:
            raise ProofFormatError(f"inclusion hash {line!r} is {exc}", lineno) from None
        if len(h) != HASH_SIZE:
            raise ProofFormatError(
                f"inclusion hash {line!r} has {len(h)} bytes, expected {HASH_SIZE}", lineno
            )
        hashes.append(h)
    blank_line = lineno

    checkpoint_note = text[pos:]
    note_line = lineno + 1
    try:
        body, _ = parse_note(checkpoint_note)
        checkpoint = Checkpoint.parse(body)
    except SignatureError as exc:
        raise ProofFormatError(
            f"the checkpoint note starting here is malformed: {exc}", note_line
        ) from None

    if index >= checkpoint.size:
        raise ProofFormatError(
            f"index {index} is not below the checkpoint's tree size {checkpoint.size}",
            index_line,
        )
    expected = inclusion_proof_length(index, checkpoint.size)
    if len(hashes) != expected:
        wrong = index_line + expected + 1 if len(hashes) > expected else blank_line
        raise ProofFormatError(
            f"an inclusion proof for index {index} in a tree of size {checkpoint.size} has "
            f"{expected} hashes, the file has {len(hashes)}",
            wrong,
        )
    return TlogProof(index, tuple(hashes), checkpoint_note, extra)
