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
from collections.abc import Sequence
from dataclasses import dataclass

from onereg.core.errors import ProofError
from onereg.ledger.checkpoint import Checkpoint
from onereg.ledger.merkle import consistency_fold

EVIDENCE_FORMAT = "onereg-split-view-evidence/v1"


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
    def from_json(cls, text: str | bytes) -> SplitViewEvidence:
        """Read an evidence file (bytes as UTF-8); anything malformed is a ProofError."""
        try:
            data = json.loads(text)
            if not isinstance(data, dict) or data.get("format") != EVIDENCE_FORMAT:
                raise ProofError(f"not a {EVIDENCE_FORMAT} file")
            path = tuple(base64.b64decode(h, validate=True) for h in data["path"])
            return cls(str(data["first"]), str(data["second"]), path)
        except (ValueError, KeyError, TypeError, RecursionError) as exc:
            raise ProofError(f"malformed {EVIDENCE_FORMAT} file: {exc!r}") from None


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
