"""Evidence that a log signed two checkpoints that cannot both be true (a split view).

Two signed checkpoints of one origin conflict when they have the same size and different roots,
or when the larger tree's hashes, folded the way RFC 9162 section 2.1.4.2 folds a consistency
proof, give the larger root but not the smaller one: the hashes are bound to the larger root, so
the smaller tree they imply is the only one consistent with it. The evidence file carries both
signed notes and those hashes; anyone holding the log's public key can check it.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from onereg.core.errors import ProofError, SignatureError, UnknownKeyError
from onereg.ledger.checkpoint import HASH_SIZE, Checkpoint
from onereg.ledger.merkle import consistency_fold
from onereg.ledger.note import Verifier, parse_note, verify_note

EVIDENCE_FORMAT = "onereg-split-view-evidence/v1"
ROLLBACK_FORMAT = "onereg-rollback-evidence/v1"


def consistency_roots(old_size: int, new_size: int, path: Sequence[bytes]) -> tuple[bytes, bytes]:
    """(old root, new root) that a consistency path implies; path[0] is always given explicitly
    (the subtree hash RFC 9162 leaves out when old_size is a power of two)."""
    if not 0 < old_size < new_size:
        raise ProofError(f"no consistency path from {old_size} to {new_size}")
    return consistency_fold(old_size, new_size, path)


@dataclass(frozen=True, slots=True)
class SplitViewEvidence:
    first_note: str  # the smaller (or equal) size
    second_note: str
    path: tuple[bytes, ...]  # empty when the sizes are equal

    def to_json(self) -> str:
        return json.dumps(
            {
                "format": EVIDENCE_FORMAT,
                "first": self.first_note,
                "second": self.second_note,
                "path": [base64.b64encode(h).decode() for h in self.path],
            },
            indent=1,
        )

    @classmethod
    def from_json(cls, text: str) -> SplitViewEvidence:
        """Read an evidence file; ProofError naming the field for anything else."""
        data = _evidence_object(text, EVIDENCE_FORMAT)
        notes = [data.get(name) for name in ("first", "second")]
        if not all(isinstance(n, str) for n in notes):
            raise ProofError('evidence: "first" and "second" must be signed notes (text)')
        hashes = data.get("path")
        if not isinstance(hashes, list):
            raise ProofError('evidence: "path" must be a list of base64 hashes')
        path = tuple(_hash(i, h) for i, h in enumerate(hashes))
        return cls(str(notes[0]), str(notes[1]), path)

    def check(self, keys_of: Callable[[str], list[Verifier]]) -> str:
        """Why the two checkpoints conflict, each opened with its own log's keys only
        (`keys_of(origin)`); SignatureError or ProofError when this is no evidence."""
        first = open_log_note(self.first_note, keys_of, "first")
        second = open_log_note(self.second_note, keys_of, "second")
        return check_conflict(first, second, self.path)


@dataclass(frozen=True, slots=True)
class RollbackEvidence:
    """A log served `earlier` (the larger checkpoint) and then `later` (a smaller one), in
    this order as one verifier saw them. The log signed both: what a verifier keeps to show
    the rollback, even when the smaller tree is a prefix of the larger (no split view)."""

    earlier: str
    later: str
    seen_at: str  # when the verifier was served `later` (UTC, RFC 3339)

    def to_json(self) -> str:
        data = {"format": ROLLBACK_FORMAT, "earlier": self.earlier, "later": self.later}
        return json.dumps({**data, "seen_at": self.seen_at}, indent=1)

    @classmethod
    def from_json(cls, text: str) -> RollbackEvidence:
        data = _evidence_object(text, ROLLBACK_FORMAT)
        fields = [data.get(name) for name in ("earlier", "later", "seen_at")]
        if not all(isinstance(f, str) for f in fields):
            raise ProofError('evidence: "earlier", "later" and "seen_at" must be text')
        return cls(*(str(f) for f in fields))

    def check(self, keys_of: Callable[[str], list[Verifier]]) -> str:
        """What the two checkpoints show, each opened with its own log's keys only."""
        earlier = open_log_note(self.earlier, keys_of, "earlier")
        later = open_log_note(self.later, keys_of, "later")
        if earlier.origin != later.origin:
            raise ProofError(f"different logs ({earlier.origin!r}, {later.origin!r}): no rollback")
        if later.size >= earlier.size:
            raise ProofError(f"size {earlier.size}, then {later.size}: the log did not shrink")
        return (
            f"{earlier.origin} signed size {earlier.size} and then (served at {self.seen_at}) "
            f"size {later.size}: a rollback of {earlier.size - later.size} entries"
        )


def evidence_format(text: str) -> str:
    """The "format" of an evidence file (ProofError when it is not a JSON object)."""
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as exc:  # RecursionError: nesting too deep (fuzzing)
        raise ProofError(f"not an evidence file: not JSON ({exc})") from None
    if not isinstance(data, dict):
        raise ProofError("not an evidence file: not a JSON object")
    return str(data.get("format"))


def _evidence_object(text: str, expected: str) -> dict[str, object]:
    if evidence_format(text) != expected:
        raise ProofError(f'not a {expected} file (its "format" field)')
    data: dict[str, object] = json.loads(text)
    return data


def _hash(index: int, value: object) -> bytes:
    try:
        raw = base64.b64decode(str(value), validate=True)
    except ValueError:
        raw = b""
    if len(raw) != HASH_SIZE:
        raise ProofError(f"evidence: path[{index}] is not the base64 of a 32-byte hash")
    return raw


def open_log_note(
    note: str, keys_of: Callable[[str], list[Verifier]], label: str = "the"
) -> Checkpoint:
    """A checkpoint signed by a key of its own origin's log (as Go's note.Open with only that
    log's verifiers): a signature by another log's key, however valid, does not count."""
    try:
        origin = Checkpoint.parse(parse_note(note)[0]).origin
        keys = keys_of(origin)
        if not keys:
            raise UnknownKeyError(f"no log key is known for origin {origin!r}")
        return Checkpoint.parse(verify_note(note, keys).text)
    except SignatureError as exc:
        raise type(exc)(f"{label} checkpoint: {exc}") from None


def check_conflict(first: Checkpoint, second: Checkpoint, path: Sequence[bytes]) -> str:
    """A sentence saying why the two checkpoints conflict; ProofError if they do not."""
    if first.origin != second.origin:
        raise ProofError(f"different logs ({first.origin!r}, {second.origin!r}): no conflict")
    if first.size == second.size:
        if first.root == second.root:
            raise ProofError(f"same size {first.size} and same root: no conflict")
        return f"{first.origin} signed two different roots for size {first.size}"
    if first.size > second.size:
        first, second = second, first
    old_root, new_root = consistency_roots(first.size, second.size, path)
    if new_root != second.root:
        raise ProofError("the hashes do not lead to the larger checkpoint's root: no evidence")
    if old_root == first.root:
        raise ProofError(f"size {first.size} is consistent with size {second.size}: no conflict")
    return (
        f"{first.origin} signed size {first.size} with a root that the tree it signed at size "
        f"{second.size} does not contain"
    )
