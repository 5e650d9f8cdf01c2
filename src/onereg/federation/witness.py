"""A node as witness of the other registries' logs (C2SP tlog-witness).

The witness keeps, per log origin, the last checkpoint it cosigned. It cosigns a new one only
with a consistency proof from exactly that size, and it records the new state with a
compare-and-swap in the same SQLite transaction before it answers: a log can therefore never get
two inconsistent checkpoints cosigned by the same witness, and what it showed this witness is
fixed.
"""

from __future__ import annotations

import base64
import sqlite3
from dataclasses import dataclass

from onereg.core.errors import OneregError, ProofError, SignatureError
from onereg.ledger.checkpoint import Checkpoint, Cosigner, open_checkpoint
from onereg.ledger.merkle import verify_consistency
from onereg.ledger.note import Verifier

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


@dataclass(frozen=True, slots=True)
class WitnessReply:
    """What the HTTP layer sends back: status, content type, body."""

    status: int
    content_type: str
    body: str


def _reply(status: int, text: str, content_type: str = "text/plain; charset=utf-8") -> WitnessReply:
    return WitnessReply(status, content_type, text if text.endswith("\n") else text + "\n")


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
        if not size_text.isdigit() or (size_text != "0" and size_text.startswith("0")):
            raise ValueError(f"bad old size {size_text!r}")
        if len(lines) - 1 > MAX_PROOF_LINES:
            raise ValueError(f"{len(lines) - 1} proof lines, at most {MAX_PROOF_LINES}")
        proof = [base64.b64decode(line, validate=True) for line in lines[1:]]
        return cls(int(size_text), proof, note)

    def body(self) -> str:
        proof = "".join(base64.b64encode(h).decode() + "\n" for h in self.proof)
        return f"old {self.old_size}\n{proof}\n{self.note}"


class Witness:
    """One witness: its cosigning key, the logs it follows, and its state in SQLite."""

    def __init__(
        self, conn: sqlite3.Connection, cosigner: Cosigner, logs: dict[str, list[Verifier]]
    ) -> None:
        self.conn, self.cosigner, self.logs = conn, cosigner, logs
        conn.executescript(WITNESS_SCHEMA)

    def state(self, origin: str) -> tuple[int, bytes]:
        row = self.conn.execute(
            "SELECT size, root FROM witnessed WHERE origin = ?", (origin,)
        ).fetchone()
        return (0, b"") if row is None else (int(row[0]), bytes(row[1]))

    def add_checkpoint(self, body: str) -> WitnessReply:
        try:
            request = AddCheckpointRequest.parse(body)
        except ValueError as exc:
            return _reply(400, f"malformed add-checkpoint request: {exc}")
        origin = request.note.split("\n", 1)[0]
        verifiers = self.logs.get(origin)
        if verifiers is None:
            return _reply(404, f"unknown log origin {origin!r}")
        try:
            checkpoint = open_checkpoint(request.note, verifiers, origin=origin)
        except (SignatureError, OneregError) as exc:
            return _reply(403, f"checkpoint signature: {exc}")
        return self._advance(request, checkpoint)

    def _advance(self, request: AddCheckpointRequest, new: Checkpoint) -> WitnessReply:
        if request.old_size > new.size:
            return _reply(400, f"old size {request.old_size} is beyond the checkpoint's {new.size}")
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            reply = self._compare_and_swap(request, new)
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT" if reply.status == 200 else "ROLLBACK")
        return reply

    def _compare_and_swap(self, request: AddCheckpointRequest, new: Checkpoint) -> WitnessReply:
        size, root = self.state(new.origin)
        if request.old_size != size:
            return _reply(409, str(size), SIZE_CONTENT_TYPE)
        if size == new.size and root != new.root:
            return _reply(422, f"root at size {size} differs from the one already cosigned")
        if size and size < new.size:
            try:
                verify_consistency(size, new.size, root, new.root, request.proof)
            except ProofError as exc:
                return _reply(422, f"consistency proof from {size} to {new.size}: {exc}")
        self.conn.execute(
            "INSERT INTO witnessed (origin, size, root, note) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (origin) DO UPDATE SET size = excluded.size, root = excluded.root, "
            "note = excluded.note",
            (new.origin, new.size, new.root, request.note),
        )
        return _reply(200, self.cosigner.cosign(new))
