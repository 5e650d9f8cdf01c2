"""Checkpoints (c2sp.org/tlog-checkpoint) and Ed25519 cosignatures (c2sp.org/tlog-cosignature).

A checkpoint is the text of a signed note::

    <origin>
    <tree size, decimal, no leading zeros>
    <base64 of the 32-byte RFC 6962 root hash>
    [<extension line>...]

The log signs it as a note (type 0x01). A witness cosigns it with type 0x04: the signature line
value is ``key ID(4) || timestamp(u64 big-endian) || Ed25519 signature(64)`` and the signed
message is ``cosignature/v1\\ntime <timestamp>\\n`` followed by the whole checkpoint text. The
key ID of a cosigner is ``SHA-256(name || 0x0A || 0x04 || public key)[:4]``, so the same Ed25519
key has different IDs as a log key and as a witness key.

The log's key name SHOULD equal the origin (tlog-checkpoint); sum.golang.org, for one, signs the
origin ``go.sum database tree`` with the key ``sum.golang.org``, so ``open_checkpoint`` checks
the origin only when asked. A policy (``onereg.ledger.policy``) requires it.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import ClassVar

from onereg.core.errors import SignatureError
from onereg.ledger.note import (
    ED25519_SIGNATURE_SIZE,
    MAX_SIGNATURES,
    SIG_COSIGNATURE_V1,
    SIGNATURE_PREFIX,
    Signature,
    Signer,
    Verifier,
    decode_base64,
    encode_base64,
    format_note,
    parse_note,
    sign_note,
    text_problem,
    verify_note,
)

HASH_SIZE = 32
MAX_TREE_SIZE = 2**63 - 1  # int64, as the Go reference (golang.org/x/mod/sumdb/tlog)
MAX_TIMESTAMP = 2**63 - 1  # tlog-cosignature: the timestamp MUST NOT exceed 2^63 - 1
COSIGNATURE_HEADER = "cosignature/v1"
TIMESTAMP_SIZE = 8
COSIGNATURE_SIZE = TIMESTAMP_SIZE + ED25519_SIGNATURE_SIZE

_DECIMAL = re.compile(r"0|[1-9][0-9]*")


class CheckpointFormatError(SignatureError):
    """A checkpoint text does not follow c2sp.org/tlog-checkpoint; the message names the line."""

    def __init__(self, reason: str, line: int | None = None) -> None:
        where = f"checkpoint line {line}" if line is not None else "checkpoint"
        super().__init__(f"{where}: {reason}")
        self.line = line
        self.reason = reason


def parse_decimal(text: str, maximum: int) -> int | None:
    """ASCII decimal without leading zeros (``0`` itself allowed) up to ``maximum``, else None."""
    if _DECIMAL.fullmatch(text) is None:
        return None
    value = int(text)
    return value if value <= maximum else None


@dataclass(frozen=True)
class Checkpoint:
    """A log's tree head: origin, tree size, root hash and optional extension lines."""

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.origin:
            raise CheckpointFormatError("the origin is empty", 1)
        if "\n" in self.origin or text_problem(self.origin) is not None:
            raise CheckpointFormatError("the origin holds a newline or control character", 1)
        if isinstance(self.size, bool) or not 0 <= self.size <= MAX_TREE_SIZE:
            raise CheckpointFormatError(f"tree size {self.size!r} out of range", 2)
        if len(self.root) != HASH_SIZE:
            raise CheckpointFormatError(
                f"the root hash has {len(self.root)} bytes, expected {HASH_SIZE}", 3
            )
        for i, ext in enumerate(self.extensions, start=4):
            if not ext:
                raise CheckpointFormatError("extension lines must be non-empty", i)
            if "\n" in ext or text_problem(ext) is not None:
                raise CheckpointFormatError(
                    "an extension line holds a newline or control character", i
                )

    def body(self) -> str:
        """The note text: one line each for origin, size, root, then the extension lines."""
        lines = [self.origin, str(self.size), encode_base64(self.root), *self.extensions]
        return "\n".join(lines) + "\n"

    @classmethod
    def parse(cls, body: str) -> Checkpoint:
        """Parse a checkpoint text (the note text, without signatures), strictly."""
        problem = text_problem(body)
        if problem is not None:
            raise CheckpointFormatError(problem)
        if not body.endswith("\n"):
            raise CheckpointFormatError("the text does not end with a newline")
        lines = body[:-1].split("\n")
        if len(lines) < 3:
            raise CheckpointFormatError(
                f"{len(lines)} line(s); a checkpoint needs origin, tree size and root hash"
            )
        origin, size_text, root_text, *extensions = lines
        if not origin:
            raise CheckpointFormatError("the origin is empty", 1)
        size = parse_decimal(size_text, MAX_TREE_SIZE)
        if size is None:
            raise CheckpointFormatError(
                f"tree size {size_text!r} is not a decimal number without leading zeros "
                f"between 0 and {MAX_TREE_SIZE}",
                2,
            )
        try:
            root = decode_base64(root_text)
        except ValueError as exc:
            raise CheckpointFormatError(f"root hash {root_text!r} is {exc}", 3) from None
        if len(root) != HASH_SIZE:
            raise CheckpointFormatError(
                f"root hash {root_text!r} has {len(root)} bytes, expected {HASH_SIZE}", 3
            )
        for i, ext in enumerate(extensions, start=4):
            if not ext:
                raise CheckpointFormatError("empty extension line", i)
        return cls(origin, size, root, tuple(extensions))


def sign_checkpoint(checkpoint: Checkpoint, signers: Iterable[Signer]) -> str:
    """The checkpoint as a signed note (log signers, and cosigners if any)."""
    return sign_note(checkpoint.body(), signers)


def open_checkpoint(
    note: str | bytes, verifiers: Iterable[Verifier], *, origin: str | None = None
) -> Checkpoint:
    """Verify a signed checkpoint against the log's keys and parse it.

    Unknown signatures (witnesses' among them) are ignored. With ``origin``, the checkpoint
    must carry that origin.
    """
    opened = verify_note(note, verifiers)
    checkpoint = Checkpoint.parse(opened.text)
    if origin is not None and checkpoint.origin != origin:
        raise SignatureError(
            f"checkpoint is for origin {checkpoint.origin!r}, expected {origin!r}",
            key=opened.verified[0].key,
        )
    return checkpoint


# --- cosignatures (tlog-cosignature, Ed25519 form) ----------------------------------------


def _check_timestamp(timestamp: int) -> None:
    if isinstance(timestamp, bool) or not 0 <= timestamp <= MAX_TIMESTAMP:
        raise SignatureError(f"cosignature timestamp {timestamp!r} is outside 0..2^63-1")


def cosignature_message(body: str | Checkpoint, timestamp: int) -> bytes:
    """``cosignature/v1\\ntime <timestamp>\\n`` + the checkpoint text: what a cosigner signs."""
    _check_timestamp(timestamp)
    text = body.body() if isinstance(body, Checkpoint) else body
    return f"{COSIGNATURE_HEADER}\ntime {timestamp}\n{text}".encode()


def cosignature_timestamp(signature: Signature | bytes) -> int:
    """The timestamp inside a cosignature (the bytes after the key ID, or a parsed line)."""
    raw = signature.signature if isinstance(signature, Signature) else signature
    if len(raw) != COSIGNATURE_SIZE:
        raise SignatureError(
            f"a cosignature has {COSIGNATURE_SIZE} bytes after the key ID (timestamp and "
            f"Ed25519 signature), got {len(raw)}"
        )
    timestamp = int.from_bytes(raw[:TIMESTAMP_SIZE], "big")
    _check_timestamp(timestamp)
    return timestamp


@dataclass(frozen=True)
class CosignatureVerifier(Verifier):
    """A witness's public key: verifies type 0x04 timestamped Ed25519 cosignatures."""

    sig_type: ClassVar[int] = SIG_COSIGNATURE_V1

    def verify(self, message: bytes, signature: bytes) -> bool:
        """Whether ``signature`` (timestamp || Ed25519 signature) cosigns the note text."""
        if len(signature) != COSIGNATURE_SIZE:
            return False
        timestamp = int.from_bytes(signature[:TIMESTAMP_SIZE], "big")
        if timestamp > MAX_TIMESTAMP:
            return False
        signed = f"{COSIGNATURE_HEADER}\ntime {timestamp}\n".encode() + message
        return self._verify_ed25519(signed, signature[TIMESTAMP_SIZE:])

    def verify_cosignature(self, checkpoint: Checkpoint | str, signature: Signature) -> int:
        """Check one cosignature line on a checkpoint; return its timestamp."""
        if (signature.name, signature.key_id) != (self.name, self.key_id):
            raise SignatureError(
                f"cosignature is by {signature.key}, not by witness {self.key}",
                key=signature.key,
            )
        timestamp = cosignature_timestamp(signature)
        body = checkpoint.body() if isinstance(checkpoint, Checkpoint) else checkpoint
        if not self.verify(body.encode(), signature.signature):
            raise SignatureError(
                f"cosignature by witness {self.key} (time {timestamp}) does not verify over the "
                f"checkpoint",
                key=self.key,
            )
        return timestamp


def _unix_now() -> int:
    return int(time.time())


@dataclass(frozen=True, eq=False)
class Cosigner(Signer):
    """A witness's private key: cosigns checkpoints with the current (or a given) time."""

    clock: Callable[[], int] = field(default=_unix_now, repr=False)
    sig_type: ClassVar[int] = SIG_COSIGNATURE_V1

    def verifier(self) -> CosignatureVerifier:
        return CosignatureVerifier(self.name, self.public_key)

    def sign(self, message: bytes) -> bytes:
        """Cosign a checkpoint text at ``clock()``: timestamp(8) || Ed25519 signature(64)."""
        return self.sign_at(message, self.clock())

    def sign_at(self, message: bytes, timestamp: int) -> bytes:
        # A cosignature is a statement about a checkpoint: refuse to cosign anything else.
        Checkpoint.parse(message.decode("utf-8"))
        signed = cosignature_message(message.decode("utf-8"), timestamp)
        return timestamp.to_bytes(TIMESTAMP_SIZE, "big") + self.private_key.sign(signed)

    def cosign(self, checkpoint: Checkpoint | str, timestamp: int | None = None) -> str:
        """The cosignature line (with its newline) for a checkpoint, as a witness returns it."""
        body = checkpoint.body() if isinstance(checkpoint, Checkpoint) else checkpoint
        when = self.clock() if timestamp is None else timestamp
        return Signature(self.name, self.key_id, self.sign_at(body.encode(), when)).line()


def merge_signatures(signed_note: str, extra: str | Iterable[str]) -> str:
    """Add signature lines (a witness's response body, or lines) to a signed checkpoint note.

    Lines already present are dropped; a new line by a key already present replaces the old
    one (as Go's note.Sign does). Nothing is verified here: open the result with a policy.
    """
    text, existing = parse_note(signed_note)
    Checkpoint.parse(text)
    if isinstance(extra, str):
        if extra and not extra.endswith("\n"):
            raise SignatureError("malformed signature lines: the last one has no newline")
        raw_lines = extra[:-1].split("\n") if extra else []
    else:
        raw_lines = [line[:-1] if line.endswith("\n") else line for line in extra]
    added: dict[tuple[str, bytes], Signature] = {}
    for i, line in enumerate(raw_lines, start=1):
        if "\n" in line or not line.startswith(SIGNATURE_PREFIX):
            raise SignatureError(
                f"malformed signature lines: line {i} is not a signature line: {line!r}"
            )
        sig = Signature.parse_line(line, i)
        if sig not in existing:
            added.pop((sig.name, sig.key_id), None)  # the later line by one key wins
            added[(sig.name, sig.key_id)] = sig
    kept = [sig for sig in existing if (sig.name, sig.key_id) not in added]
    merged = kept + list(added.values())
    if len(merged) > MAX_SIGNATURES:
        raise SignatureError(f"merged note would carry more than {MAX_SIGNATURES} signatures")
    return format_note(text, merged)
