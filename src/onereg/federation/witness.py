"""A node as witness of the other registries' logs (C2SP tlog-witness).

The witness keeps, per log origin, the last checkpoint it cosigned. It cosigns a new one only
with a consistency proof from exactly that size, and it records the new state with a
compare-and-swap in the same SQLite transaction before it answers: a log can therefore never get
two inconsistent checkpoints cosigned by the same witness, and what it showed this witness is
fixed.

The answers are those of c2sp.org/tlog-witness, in its order and matching Go's x/mod
note.Open and tlog.CheckTree: 400 malformed (or old size beyond the checkpoint), 404 unknown
origin, 403 no valid signature by the log's keys, 409 with `text/x.tlog.size` and the stored
size when the old size is not the stored one or a second root comes for the stored size, 422
when the proof does not verify (any proof from size 0 or between equal sizes included).
"""

from __future__ import annotations

import base64
import sqlite3
from dataclasses import dataclass

from onereg.core.errors import ProofError, SignatureError
from onereg.federation.node_config import Limits
from onereg.ledger.checkpoint import MAX_TREE_SIZE, Checkpoint, Cosigner, parse_decimal
from onereg.ledger.merkle import verify_consistency
from onereg.ledger.note import Verifier, format_note, parse_note, verify_note

WITNESS_SCHEMA = """
CREATE TABLE IF NOT EXISTS witnessed (
    origin TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    root BLOB NOT NULL,
    note TEXT NOT NULL
);
"""
MAX_PROOF_LINES = 63
SIZE_CONTENT_TYPE = "text/x.tlog.size"
HASH_SIZE = 32
HASH_B64 = 44  # len(base64 of 32 bytes)
DEFAULT_LIMITS = Limits()


@dataclass(frozen=True, slots=True)
class WitnessReply:
    """What the HTTP layer sends back: status, content type, body."""

    status: int
    content_type: str
    body: str


def _reply(status: int, text: str, content_type: str = "text/plain; charset=utf-8") -> WitnessReply:
    return WitnessReply(status, content_type, text if text.endswith("\n") else text + "\n")


def _proof_hash(lineno: int, line: str) -> bytes:
    """One consistency-proof line: the base64 of exactly one 32-byte hash (as Go's
    tlog.ParseHash reads it)."""
    try:  # 44 characters for 32 bytes: a longer line is not decoded at all
        value = base64.b64decode(line, validate=True) if len(line) == HASH_B64 else b""
    except ValueError:
        value = b""
    if len(value) != HASH_SIZE:
        raise ValueError(f"line {lineno}: {line[:60]!r} is not the base64 of a 32-byte hash")
    return value


class AddCheckpointRequest:
    """`old <size>`, up to 63 base64 consistency-proof lines, a blank line, the signed note."""

    def __init__(self, old_size: int, proof: list[bytes], note: str) -> None:
        self.old_size, self.proof, self.note = old_size, proof, note

    @classmethod
    def parse(cls, body: str) -> AddCheckpointRequest:
        head, sep, note = body.partition("\n\n")
        lines = head.split("\n")
        if not sep or not lines[0].startswith("old "):
            raise ValueError(
                "request must start with `old <size>` and separate the note by a blank line"
            )
        size_text = lines[0][4:]
        old_size = parse_decimal(size_text, MAX_TREE_SIZE)
        if old_size is None:
            raise ValueError(f"bad old size {size_text[:40]!r}")
        if len(lines) - 1 > MAX_PROOF_LINES:
            raise ValueError(f"{len(lines) - 1} proof lines, at most {MAX_PROOF_LINES}")
        return cls(old_size, [_proof_hash(i, line) for i, line in enumerate(lines[1:], 2)], note)

    def body(self) -> str:
        proof = "".join(base64.b64encode(h).decode() + "\n" for h in self.proof)
        return f"old {self.old_size}\n{proof}\n{self.note}"


class Witness:
    """One witness: its cosigning key, the logs it follows, and its state in SQLite.

    What it stores is only what it verified: the checkpoint text with the log's own verified
    signatures (unknown signature lines are dropped, so a stranger cannot make the witness
    keep their bytes), at most `limits.witness_max_note` bytes of note per log and at most
    `limits.witness_max_logs` logs."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        cosigner: Cosigner,
        logs: dict[str, list[Verifier]],
        limits: Limits = DEFAULT_LIMITS,
    ) -> None:
        self.conn, self.cosigner, self.logs, self.limits = conn, cosigner, logs, limits
        conn.executescript(WITNESS_SCHEMA)

    def state(self, origin: str) -> tuple[int, bytes]:
        row = self.conn.execute(
            "SELECT size, root FROM witnessed WHERE origin = ?", (origin,)
        ).fetchone()
        return (0, b"") if row is None else (int(row[0]), bytes(row[1]))

    def stored_note(self, origin: str) -> str | None:
        """The note kept for `origin` (the checkpoint and the log's verified signatures)."""
        row = self.conn.execute("SELECT note FROM witnessed WHERE origin = ?", (origin,)).fetchone()
        return None if row is None else str(row[0])

    def add_checkpoint(self, body: str) -> WitnessReply:
        note_bytes = len(body.partition("\n\n")[2].encode("utf-8", errors="replace"))
        if note_bytes > self.limits.witness_max_note:
            return _reply(
                413,
                f"checkpoint note of {note_bytes} bytes; this witness takes at most "
                f"{self.limits.witness_max_note} (limits.witness_max_note)",
            )
        try:
            request = AddCheckpointRequest.parse(body)
        except ValueError as exc:
            return _reply(400, f"malformed add-checkpoint request: {exc}")
        opened = self._open(request.note)
        if isinstance(opened, WitnessReply):
            return opened
        return self._advance(request, *opened)

    def _open(self, note: str) -> WitnessReply | tuple[Checkpoint, str]:
        """The checkpoint and the note to keep (its text and the log's verified signatures
        only), or the answer: 400 malformed, 404 unknown origin, 403 no valid log signature."""
        try:
            text, _ = parse_note(note)
        except SignatureError as exc:
            return _reply(400, f"malformed checkpoint note: {exc}")
        origin = text.split("\n", 1)[0]
        verifiers = self.logs.get(origin)
        if verifiers is None:
            return _reply(404, f"unknown log origin {origin!r}")
        try:
            opened = verify_note(note, verifiers)
        except SignatureError as exc:
            return _reply(403, f"checkpoint signature: {exc}")
        try:
            checkpoint = Checkpoint.parse(opened.text)
        except SignatureError as exc:
            return _reply(400, f"malformed checkpoint: {exc}")
        return checkpoint, format_note(opened.text, opened.verified)

    def _advance(self, request: AddCheckpointRequest, new: Checkpoint, note: str) -> WitnessReply:
        if request.old_size > new.size:
            return _reply(400, f"old size {request.old_size} is beyond the checkpoint's {new.size}")
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            reply = self._compare_and_swap(request, new, note)
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT" if reply.status == 200 else "ROLLBACK")
        return reply

    def _compare_and_swap(
        self, request: AddCheckpointRequest, new: Checkpoint, note: str
    ) -> WitnessReply:
        """The checks of c2sp.org/tlog-witness in its order, then the new state, atomically."""
        row = self.conn.execute(
            "SELECT size, root FROM witnessed WHERE origin = ?", (new.origin,)
        ).fetchone()
        if row is None and self._full():
            return _reply(
                403,
                f"this witness already follows {self.limits.witness_max_logs} logs "
                f"(limits.witness_max_logs); {new.origin!r} is not one of them",
            )
        size, root = (0, b"") if row is None else (int(row[0]), bytes(row[1]))
        if request.old_size != size:
            return _size_conflict(size)
        problem = _proof_problem(size, root, new, request.proof)
        if problem is not None:
            return _reply(422, problem)
        if size == new.size and root != new.root:
            return _size_conflict(size)  # a second root for a size it cosigned: 409
        self.conn.execute(
            "INSERT INTO witnessed (origin, size, root, note) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (origin) DO UPDATE SET size = excluded.size, root = excluded.root, "
            "note = excluded.note",
            (new.origin, new.size, new.root, note),
        )
        return _reply(200, self.cosigner.cosign(new))

    def _full(self) -> bool:
        count = self.conn.execute("SELECT count(*) FROM witnessed").fetchone()[0]
        return int(count) >= self.limits.witness_max_logs


def _size_conflict(size: int) -> WitnessReply:
    """409 as the specification words it: the size cosigned last, `text/x.tlog.size`."""
    return WitnessReply(409, SIZE_CONTENT_TYPE, f"{size}\n")


def _proof_problem(size: int, root: bytes, new: Checkpoint, proof: list[bytes]) -> str | None:
    """Why the consistency proof from the cosigned (size, root) to `new` fails, or None.

    From size 0 and between equal sizes the proof must be empty (RFC 6962 section 2.1.2, and
    Go's tlog.CheckTree); a different root at an equal size is a conflict, not a bad proof."""
    if size == 0 or size == new.size:
        if proof:
            return f"the consistency proof from size {size} to {new.size} must be empty"
        return None
    try:
        verify_consistency(size, new.size, root, new.root, proof)
    except ProofError as exc:
        return f"consistency proof from {size} to {new.size}: {exc}"
    return None
