"""Log entries and their canonical encoding.

The encoding is fixed byte for byte because hashes (and, later, Merkle leaves and signatures)
are computed over it: a header line that names the format, then one line each for sequence
number, time, kind and the previous entry's hash, then the payload as canonical JSON (sorted
keys, no whitespace, UTF-8). Kind and time never contain a newline, so the split is unambiguous.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any, NamedTuple

import orjson

from onereg.core.errors import LogIntegrityError

ENTRY_FORMAT = b"onereg-log-entry/1\n"
GENESIS_HASH = bytes(32)


def canonical_json(payload: Any) -> bytes:
    """Sorted-key, whitespace-free JSON; the only form in which payloads are hashed."""
    return orjson.dumps(payload, option=orjson.OPT_SORT_KEYS)


def utc_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class LogEntry(NamedTuple):
    """One entry as stored: the payload is kept as its canonical bytes, never re-encoded.

    A NamedTuple (immutable, cheap to build) because a full import creates 600,000 of them.
    """

    seq: int
    time: str
    kind: str
    payload: bytes
    prev_hash: bytes
    hash: bytes

    def encoded(self) -> bytes:
        return encode_entry(self.seq, self.time, self.kind, self.payload, self.prev_hash)

    def data(self) -> Any:
        return orjson.loads(self.payload)


def encode_entry(seq: int, time: str, kind: str, payload: bytes, prev_hash: bytes) -> bytes:
    head = f"{seq}\n{time}\n{kind}\n{prev_hash.hex()}\n".encode()
    return ENTRY_FORMAT + head + payload


def make_entry(seq: int, time: str, kind: str, payload: bytes, prev_hash: bytes) -> LogEntry:
    digest = hashlib.sha256(encode_entry(seq, time, kind, payload, prev_hash)).digest()
    return LogEntry(seq, time, kind, payload, prev_hash, digest)


def chain(
    first_seq: int, prev_hash: bytes, time: str, items: list[tuple[str, bytes]]
) -> list[LogEntry]:
    """Entries for (kind, payload) items appended after `prev_hash`, all stamped with one time.

    One time per batch is deliberate: an import is one change of the registry, done at one moment.
    """
    return [entry for entry, _ in chain_encoded(first_seq, prev_hash, time, items)]


def chain_encoded(
    first_seq: int, prev_hash: bytes, time: str, items: list[tuple[str, bytes]]
) -> list[tuple[LogEntry, bytes]]:
    """`chain`, with each entry's encoding: the writer needs it for the Merkle leaf as well,
    and encoding twice is a third of the cost of appending small entries."""
    out: list[tuple[LogEntry, bytes]] = []
    sha256 = hashlib.sha256
    for offset, (kind, payload) in enumerate(items):
        seq = first_seq + offset
        data = encode_entry(seq, time, kind, payload, prev_hash)
        entry = LogEntry(seq, time, kind, payload, prev_hash, sha256(data).digest())
        out.append((entry, data))
        prev_hash = entry.hash
    return out


def verify_chain(
    entries: list[LogEntry], prev_hash: bytes = GENESIS_HASH, first_seq: int = 1
) -> bytes:
    """Check sequence numbers, back links and hashes; returns the hash of the last entry."""
    expected_seq = first_seq
    for entry in entries:
        if entry.seq != expected_seq:
            raise LogIntegrityError(f"log entry {entry.seq}: expected sequence {expected_seq}")
        if entry.prev_hash != prev_hash:
            raise LogIntegrityError(f"log entry {entry.seq}: previous-hash link is broken")
        if (
            make_entry(entry.seq, entry.time, entry.kind, entry.payload, prev_hash).hash
            != entry.hash
        ):
            raise LogIntegrityError(f"log entry {entry.seq}: stored hash does not match content")
        prev_hash = entry.hash
        expected_seq += 1
    return prev_hash


def decode_entry(data: bytes) -> LogEntry:
    """The entry whose encoding is `data` (as published in tile bundles); its hash is recomputed."""
    if not data.startswith(ENTRY_FORMAT):
        raise LogIntegrityError("not a onereg log entry (wrong format line)")
    parts = data[len(ENTRY_FORMAT) :].split(b"\n", 4)
    if len(parts) != 5:
        raise LogIntegrityError("log entry: header lines missing")
    seq_text, time, kind, prev_hex, payload = parts
    try:
        seq, prev = int(seq_text), bytes.fromhex(prev_hex.decode())
    except ValueError:
        raise LogIntegrityError("log entry: bad sequence number or previous hash") from None
    if len(prev) != 32 or encode_entry(seq, time.decode(), kind.decode(), payload, prev) != data:
        raise LogIntegrityError(f"log entry {seq}: not in canonical form")
    return make_entry(seq, time.decode(), kind.decode(), payload, prev)
