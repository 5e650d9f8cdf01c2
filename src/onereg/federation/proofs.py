"""Offline proofs that a registry node does, or does not, hold a number resource.

A proof file lets anyone check, with no network and no database, a statement such as
"under checkpoint ``onereg.example/afrinic`` at size 27, cosigned by two witnesses, the
resource 196.1.0.0/32 lies in the delegation 196.1.0.0/24 held by F3634D22 (assigned)", or
"... no delegation of that node intersects 8.8.8.0/24". The verifier needs the proof file and a
trust policy (``onereg.ledger.policy``: the log key, the witness keys and the quorum).

File format
-----------
The file is a c2sp.org/tlog-proof@v1 file (``onereg.ledger.proofile``)::

    c2sp.org/tlog-proof@v1
    extra <base64 of the claim, a canonical JSON object (below)>
    index <N>
    <base64 hash>                  RFC 9162 inclusion proof of log entry N + 1 ...
    ...                            ... in the tree of the checkpoint's size
    <blank line>
    <the cosigned checkpoint note, verbatim: body with the onereg-state line, then the log's
     signature and the witnesses' cosignatures>

The claim (the ``extra`` line) is JSON encoded canonically: keys sorted, no whitespace, UTF-8
(``onereg.ledger.entry.canonical_json``), then standard padded base64. Fields::

    format       "onereg-state-proof/1"
    kind         "holding" or "absence"
    resource     the resource asked about, in its canonical text form (``str(Resource)``):
                 "196.1.0.0/32", "41.0.0.0-41.31.255.255", "AS37000", "2c0f:f000::/32"
    leaf         (holding) the state leaf covering it: {"range", "holder", "status"}, range in
                 the same text form, holder "" for pool space or an unpublished holder
    before/after (absence) the nearest leaves below and above the range in the state tree,
                 in the same form, or null; they are the neighbours the state proof shows
    state_proof  the state-tree proof, as ``HoldingProof.to_json`` / ``AbsenceProof.to_json``
    entry        the log entry at index N (its canonical encoding, onereg-log-entry/1, as a
                 JSON string)
    checksum     hex SHA-256 of the canonical JSON of all the other fields

How ``index`` and the inclusion hashes are used. A state proof needs no log entry, so the
tlog-proof inclusion fields are put to the use that makes them meaningful:

* holding: the entry is the one that last changed the delegation (the ``seq`` column of the
  node's ``delegations`` projection; a batch entry for a bulk import). The verifier checks that
  it is included in the log at that index under the checkpoint's root, and that its last change
  of the delegation's key (afi, start) is a ``delegation.added`` or ``delegation.changed`` that
  gives exactly the leaf's range, holder and status. So the proof says both that the holding
  is current (state tree) and which log record established it, with its time and payload.
* absence: there is no record of a non-delegation, so the entry is the last one of the log
  (index = size - 1): the state root is the state after that entry.

The cost is size: an entry of a bulk import is a batch of up to 8 kB (`events.BATCH_BYTES`),
so a holding proof of an imported delegation is about 18 kB; an absence proof, or a holding
proof of a delegation written by a single change, is about 6 kB.

What is authenticated, and what is not. The checkpoint body is signed by the log and cosigned
by the witnesses; the state root is in its ``onereg-state`` line; the leaf, the neighbours and
every hash of the state proof are bound to that root, the entry and the inclusion hashes to the
log root. The ``resource`` field is the prover's question and nobody signs it: the verifier
checks that the proven leaf covers it (holding) or that the proven gap contains it (absence),
so whatever the field says, the result is a true statement under the checkpoint, but a relying
party that asked about something else must compare ``ProofResult.resource`` with its question
(or pass ``expected=`` to ``verify_proof_file``). The ``checksum`` only makes an accidental
change of the claim (a corrupted byte) fail loudly instead of silently asking another question;
it is not a signature. Together with canonical base64 and canonical JSON, it means no byte of
a valid file can change without the verification failing.

Example (a holding proof; the base64 lines are cut here)::

    c2sp.org/tlog-proof@v1
    extra eyJjaGVja3N1bSI6IjVmM2E...
    index 15
    47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=
    ...
    <blank line>
    onereg.example/afrinic
    27
    Yq3k0Cz2...=
    onereg-state 9373 3v1P8g...=

    — onereg.example/afrinic Az3Lr1...
    — witness-one 0Xf2nw...
    — witness-two Hc81Qa...

whose claim decodes to::

    {"checksum":"5f3a...","entry":"onereg-log-entry/1\\n16\\n2026-...Z\\nbatch\\n...",
     "format":"onereg-state-proof/1","kind":"holding",
     "leaf":{"holder":"F3634D22","range":"196.1.0.0/24","status":"assigned"},
     "resource":"196.1.0.0/32",
     "state_proof":{"format":"onereg-state-holding/1","left":"...","path":[...],"right":"..."}}
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import orjson

from onereg.core.errors import OneregError, ProofError, SignatureError
from onereg.core.registries import RIRS, RegistryId, holder_label
from onereg.core.resources import Afi, Resource, parse_number
from onereg.federation.layout import DataDir
from onereg.ledger import merkle
from onereg.ledger.checkpoint import (
    MAX_TREE_SIZE,
    Checkpoint,
    cosignature_timestamp,
    open_checkpoint,
    parse_decimal,
)
from onereg.ledger.entry import ENTRY_FORMAT, canonical_json, encode_entry
from onereg.ledger.note import Verifier, decode_base64, parse_note
from onereg.ledger.policy import Policy
from onereg.ledger.proofile import ProofFormatError, TlogProof, format_proof, parse_proof
from onereg.ledger.statetree import (
    AbsenceProof,
    HoldingProof,
    LeafIntersectsError,
    StateLeaf,
    StateTree,
    describe_leaf,
    verify_absence,
    verify_holding,
)
from onereg.registry import events as ev
from onereg.registry.checkpoints import STATE_EXTENSION, state_leaves
from onereg.registry.node import RegistryNode

CLAIM_FORMAT = "onereg-state-proof/1"
HOLDING = "holding"
ABSENCE = "absence"
EXTRA_LINE = 2  # the extra line always follows the header

_COMMON_FIELDS = {"checksum", "entry", "format", "kind", "resource", "state_proof"}
_FIELDS = {
    HOLDING: _COMMON_FIELDS | {"leaf"},
    ABSENCE: _COMMON_FIELDS | {"before", "after"},
}
_LEAF_FIELDS = {"range", "holder", "status"}
_DELEGATION_KINDS = {ev.DELEGATION_ADDED, ev.DELEGATION_CHANGED, ev.DELEGATION_REMOVED}


class ProofBuildError(OneregError, ValueError):
    """A proof cannot be built: wrong checkpoint, resource not held (or held), node mismatch."""


@dataclass(frozen=True, slots=True)
class Cosigned:
    """A witness of the policy whose cosignature on the checkpoint verified."""

    name: str
    timestamp: int


@dataclass(frozen=True, slots=True)
class ProofResult:
    """What a verified proof file establishes.

    ``leaf`` is the delegation covering ``resource`` (holding); ``before`` and ``after`` are
    the nearest delegations around the free ``resource`` (absence). ``entry_*`` describe the
    log entry whose inclusion was proven: for holding, the one that last changed the leaf.
    """

    kind: str
    resource: Resource
    leaf: StateLeaf | None
    before: StateLeaf | None
    after: StateLeaf | None
    origin: str
    size: int
    log_root: bytes
    state_root: bytes
    state_count: int
    entry_seq: int
    entry_kind: str
    entry_time: str
    cosigned: tuple[Cosigned, ...]

    @property
    def held(self) -> bool:
        """Whether a delegation of the node covers the resource (pool space too: see leaf)."""
        return self.kind == HOLDING

    @property
    def holder(self) -> str | None:
        """The holder handle of the covering leaf ("" for pool space); None for absence."""
        return self.leaf.holder if self.leaf is not None else None

    @property
    def witnesses(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.cosigned)

    def describe(self) -> str:
        where = f"checkpoint {self.origin} size {self.size}"
        by = ", ".join(self.witnesses) or "no witness"
        if self.leaf is not None:
            leaf = self.leaf
            return (
                f"{self.resource} is held by {holder_label(leaf.holder or None, leaf.status)} "
                f"({leaf.status}, delegation {_range_text(leaf)}, recorded by log entry "
                f"{self.entry_seq} at {self.entry_time}); {where}, cosigned by {by}"
            )
        around = ", ".join(
            f"{side} {_range_text(leaf)}"
            for side, leaf in (("after", self.before), ("before", self.after))
            if leaf is not None and leaf.afi == self.resource.afi.value
        )
        return (
            f"{self.resource} is not delegated by {self.origin}"
            f"{f' (free space {around})' if around else ''}; {where}, cosigned by {by}"
        )


# --------------------------------------------------------------------------------------------
# Building


def build_holding_proof(node: RegistryNode, checkpoint_note: str, resource: Resource) -> str:
    """A proof file that ``resource`` lies within one current delegation of ``node``.

    ``checkpoint_note`` must be the node's latest checkpoint (its size is the log's size), as
    signed with a key the node has published, with whatever cosignatures it has gathered. Raises
    ProofBuildError if it is not, or if no single delegation contains the resource.
    """
    checkpoint, tree = _current_state(node, checkpoint_note)
    overlapping = node.overlapping(resource)
    covering = [d for d in overlapping if d.resource.contains(resource)]
    if not covering:
        if overlapping:
            listed = "; ".join(d.describe() for d in overlapping[:3])
            more = f" and {len(overlapping) - 3} more" if len(overlapping) > 3 else ""
            raise ProofBuildError(
                f"{resource} is not within one delegation of {node.registry}: it overlaps "
                f"{len(overlapping)} ({listed}{more}); ask about a part held by one delegation"
            )
        raise ProofBuildError(
            f"no delegation of {node.registry} covers {resource}; build an absence proof instead"
        )
    delegation = covering[0]
    afi = delegation.resource.afi.value
    leaf = tree.get(afi, delegation.resource.start)
    if leaf is None or (leaf.end, leaf.holder, leaf.status) != (
        delegation.resource.end,
        delegation.holder or "",
        delegation.status,
    ):
        raise ProofBuildError(
            f"the state tree of {node.registry} does not hold {delegation.describe()} as the "
            f"delegations table does; rebuild the node"
        )
    claim: dict[str, Any] = {
        "format": CLAIM_FORMAT,
        "kind": HOLDING,
        "resource": str(resource),
        "leaf": _leaf_json(leaf),
        "state_proof": tree.prove_holding(afi, leaf.start).to_json(),
    }
    return _assemble(node, checkpoint, checkpoint_note, claim, delegation.seq)


def build_absence_proof(node: RegistryNode, checkpoint_note: str, resource: Resource) -> str:
    """A proof file that no current delegation of ``node`` shares a number with ``resource``.

    Pool space (available, reserved) is a delegation of the node too: a resource in it has a
    holding proof whose leaf says so. Raises ProofBuildError for a checkpoint that is not the
    latest, or if the resource is not free.
    """
    checkpoint, tree = _current_state(node, checkpoint_note)
    overlapping = node.overlapping(resource)
    if overlapping:
        raise ProofBuildError(
            f"{resource} is not free in {node.registry}: it overlaps "
            f"{overlapping[0].describe()}; build a holding proof instead"
        )
    afi = resource.afi.value
    try:
        proof = tree.prove_absence(afi, resource.start, resource.end)
    except LeafIntersectsError as exc:
        raise ProofBuildError(f"{node.registry}: {exc}") from exc
    before, after = _neighbours(afi, resource.end, proof)
    claim: dict[str, Any] = {
        "format": CLAIM_FORMAT,
        "kind": ABSENCE,
        "resource": str(resource),
        "before": None if before is None else _leaf_json(before),
        "after": None if after is None else _leaf_json(after),
        "state_proof": proof.to_json(),
    }
    return _assemble(node, checkpoint, checkpoint_note, claim, checkpoint.size)


def _current_state(node: RegistryNode, checkpoint_note: str) -> tuple[Checkpoint, StateTree]:
    """The parsed checkpoint and the node's state tree, after checking they belong together."""
    try:
        body, _ = parse_note(checkpoint_note)
        checkpoint = Checkpoint.parse(body)
    except SignatureError as exc:
        raise ProofBuildError(f"the checkpoint note is malformed: {exc}") from exc
    size, _ = node.head()
    if checkpoint.size != size:
        raise ProofBuildError(
            f"the checkpoint of size {checkpoint.size} is not the latest of {node.registry}: "
            f"its log has {size} entries; proofs are built from the current state only, so "
            f"sign (and have cosigned) a checkpoint of size {size} first"
        )
    # Any key the node has published: right after a rotation the latest checkpoint is still
    # signed by the old key. Which keys to trust is the verifier's policy.
    vkeys = [str(r[0]) for r in node.conn.execute("SELECT vkey FROM node_keys ORDER BY seq")]
    if not vkeys:
        raise ProofBuildError(f"{node.registry} has published no key; it has signed nothing")
    try:
        open_checkpoint(checkpoint_note, [Verifier.from_vkey(v) for v in vkeys])
    except SignatureError as exc:
        raise ProofBuildError(
            f"the checkpoint is not signed by a key that {node.registry} has published: {exc}"
        ) from exc
    log_root = node.tree().root(size)
    if log_root != checkpoint.root:
        raise ProofBuildError(
            f"the checkpoint's root {checkpoint.root.hex()[:16]}… is not the root "
            f"{log_root.hex()[:16]}… of the log of {node.registry} at size {size}"
        )
    try:
        count, state_root = _state_extension(checkpoint)
    except ProofError as exc:
        raise ProofBuildError(str(exc)) from exc
    tree = StateTree(state_leaves(node.conn))
    if (len(tree), tree.root()) != (count, state_root):
        raise ProofBuildError(
            f"the current state of {node.registry} ({len(tree)} leaves, root "
            f"{tree.root().hex()[:16]}…) is not the checkpoint's ({count} leaves, root "
            f"{state_root.hex()[:16]}…)"
        )
    return checkpoint, tree


def _assemble(
    node: RegistryNode,
    checkpoint: Checkpoint,
    checkpoint_note: str,
    claim: dict[str, Any],
    seq: int,
) -> str:
    row = node.conn.execute(
        "SELECT seq, time, kind, payload, prev_hash FROM log WHERE seq = ?", (seq,)
    ).fetchone()
    if row is None:
        raise ProofBuildError(f"{node.registry} has no log entry {seq}")
    encoded = encode_entry(int(row[0]), str(row[1]), str(row[2]), bytes(row[3]), bytes(row[4]))
    claim["entry"] = encoded.decode("utf-8")
    claim["checksum"] = _checksum(claim)
    index = seq - 1
    hashes = node.tree().inclusion_proof(index, checkpoint.size)
    text = format_proof(index, hashes, checkpoint_note, canonical_json(claim))
    # One set of rules both ways: everything but the trust policy is checked before handing
    # the file out.
    proof = parse_proof(text)
    _check(proof, _decode_claim(_extra(proof)), checkpoint)
    return text


# --------------------------------------------------------------------------------------------
# Verifying


def verify_proof_file(
    text: str | bytes, policy: Policy, *, expected: Resource | None = None
) -> ProofResult:
    """Check a proof file offline against a trust policy; return what it proves.

    In order: the file's syntax (strict, errors name the line), the claim in its ``extra``
    line, with ``expected`` the resource it is about, the checkpoint against the policy (log
    signature and witness quorum), the state proof against the checkpoint's state root, that
    the leaf covers (or the gap contains) the resource, the log entry's inclusion under the
    checkpoint's root and, for holding, that the entry established the leaf.

    Every failure raises a OneregError saying what failed: ProofFormatError (a
    SignatureError) for the format, SignatureError / QuorumError / UnknownKeyError for the
    checkpoint, ProofError for the proofs.
    """
    proof = parse_proof(text)
    claim = _decode_claim(_extra(proof))
    if expected is not None and claim.resource != expected:
        raise ProofError(f"the proof is about {claim.resource}, not about {expected}")
    checkpoint = policy.check(proof.checkpoint_note)
    return _check(proof, claim, checkpoint, _cosigned(policy, proof.checkpoint_note))


@dataclass(frozen=True, slots=True)
class _Claim:
    kind: str
    resource: Resource
    leaf: StateLeaf | None
    before: StateLeaf | None
    after: StateLeaf | None
    state_proof: HoldingProof | AbsenceProof
    entry: bytes


def _extra(proof: TlogProof) -> bytes:
    if proof.extra is None:
        raise ProofFormatError(
            "there is no 'extra' line; an onereg state proof carries its claim there",
            EXTRA_LINE,
        )
    return proof.extra


def _claim_error(reason: str) -> ProofFormatError:
    return ProofFormatError(f"extra: {reason}", EXTRA_LINE)


def _decode_claim(extra: bytes) -> _Claim:
    """Read the claim strictly: canonical JSON, exact fields, matching checksum."""
    try:
        data = orjson.loads(extra)
        canonical = canonical_json(data)
    except (orjson.JSONDecodeError, orjson.JSONEncodeError) as exc:
        raise _claim_error(f"not JSON ({exc})") from None
    if not isinstance(data, dict):
        raise _claim_error("the claim is not a JSON object")
    if canonical != extra:
        raise _claim_error("the claim is not canonical JSON (sorted keys, no whitespace)")
    if data.get("format") != CLAIM_FORMAT:
        raise _claim_error(f"format is {data.get('format')!r}, expected {CLAIM_FORMAT!r}")
    kind = data.get("kind")
    if kind not in _FIELDS:
        raise _claim_error(f"kind is {kind!r}, expected {HOLDING!r} or {ABSENCE!r}")
    if set(data) != _FIELDS[kind]:
        raise _claim_error(
            f"a claim of kind {kind!r} has the fields {sorted(_FIELDS[kind])}, this one "
            f"{sorted(data)}"
        )
    if data["checksum"] != _checksum(data):
        raise _claim_error("checksum does not match the other fields (the claim was altered)")
    resource = _resource(data["resource"], "resource")
    entry = data["entry"]
    if not isinstance(entry, str):
        raise _claim_error("entry must be a string (the encoded log entry)")
    try:
        if kind == HOLDING:
            return _Claim(
                kind,
                resource,
                _leaf(data["leaf"], "leaf"),
                None,
                None,
                HoldingProof.from_json(data["state_proof"]),
                entry.encode("utf-8"),
            )
        return _Claim(
            kind,
            resource,
            None,
            None if data["before"] is None else _leaf(data["before"], "before"),
            None if data["after"] is None else _leaf(data["after"], "after"),
            AbsenceProof.from_json(data["state_proof"]),
            entry.encode("utf-8"),
        )
    except ProofError as exc:
        raise _claim_error(f"state_proof: {exc}") from None
    except UnicodeEncodeError:
        raise _claim_error("entry is not valid UTF-8") from None


def _checksum(claim: dict[str, Any]) -> str:
    rest = {k: v for k, v in claim.items() if k != "checksum"}
    return hashlib.sha256(canonical_json(rest)).hexdigest()


def _resource(value: Any, what: str) -> Resource:
    if not isinstance(value, str):
        raise _claim_error(f"{what} must be a string, not {type(value).__name__}")
    try:
        resource = Resource.parse(value)
    except (OneregError, ValueError) as exc:
        raise _claim_error(f"{what}: {exc}") from None
    if str(resource) != value:
        raise _claim_error(f"{what} {value!r} is not in canonical form ({str(resource)!r})")
    return resource


def _leaf(value: Any, what: str) -> StateLeaf:
    if not isinstance(value, dict) or set(value) != _LEAF_FIELDS:
        raise _claim_error(f"{what} must be an object with exactly {sorted(_LEAF_FIELDS)}")
    span = _resource(value["range"], f"{what} range")
    holder, status = value["holder"], value["status"]
    if not isinstance(holder, str) or not isinstance(status, str):
        raise _claim_error(f"{what}: holder and status must be strings")
    try:
        return StateLeaf(span.afi.value, span.start, span.end, holder, status)
    except ValueError as exc:
        raise _claim_error(f"{what}: {exc}") from None


def _leaf_json(leaf: StateLeaf) -> dict[str, str]:
    return {"range": _range_text(leaf), "holder": leaf.holder, "status": leaf.status}


def _range_text(leaf: StateLeaf) -> str:
    return str(Resource(Afi(leaf.afi), leaf.start, leaf.end))


def _neighbours(
    afi: str, last: int, proof: AbsenceProof
) -> tuple[StateLeaf | None, StateLeaf | None]:
    """The leaves just below and just above the key (afi, last), as the search path shows."""
    query = StateLeaf(afi, last, last, "", "").key()
    below = [s.leaf for s in proof.path if s.leaf.key() < query]
    above = [s.leaf for s in proof.path if s.leaf.key() > query]
    return (
        max(below, key=StateLeaf.key) if below else None,
        min(above, key=StateLeaf.key) if above else None,
    )


def _state_extension(checkpoint: Checkpoint) -> tuple[int, bytes]:
    """(leaf count, state root) from the single ``onereg-state`` line, read strictly."""
    lines = [e for e in checkpoint.extensions if e.split(" ", 1)[0] == STATE_EXTENSION]
    where = f"checkpoint {checkpoint.origin} size {checkpoint.size}"
    if len(lines) != 1:
        raise ProofError(f"{where} has {len(lines)} {STATE_EXTENSION} lines, expected one")
    parts = lines[0].split(" ")
    count = parse_decimal(parts[1], MAX_TREE_SIZE) if len(parts) == 3 else None
    if count is None:
        raise ProofError(f"{where}: malformed state line {lines[0]!r}")
    try:
        root = decode_base64(parts[2])
    except ValueError as exc:
        raise ProofError(f"{where}: the state root is {exc}") from None
    if len(root) != merkle.HASH_SIZE:
        raise ProofError(f"{where}: the state root has {len(root)} bytes, expected 32")
    return count, root


def _cosigned(policy: Policy, note: str | bytes) -> tuple[Cosigned, ...]:
    """The policy's witnesses that cosigned; after ``policy.check`` every one of them verified."""
    _, signatures = parse_note(note)
    found: list[Cosigned] = []
    for witness in policy.witnesses:
        ident = (witness.verifier.name, witness.verifier.key_id)
        for sig in signatures:
            if (sig.name, sig.key_id) == ident:
                found.append(Cosigned(witness.name, cosignature_timestamp(sig)))
                break
    return tuple(sorted(found, key=lambda c: c.name))


@dataclass(frozen=True, slots=True)
class _Entry:
    seq: int
    time: str
    kind: str
    payload: Any


def _parse_entry(data: bytes) -> _Entry:
    """Split an encoded log entry (onereg-log-entry/1); it must re-encode to the same bytes."""
    if not data.startswith(ENTRY_FORMAT):
        raise ProofError(f"log entry: does not start with {ENTRY_FORMAT!r}")
    parts = data[len(ENTRY_FORMAT) :].split(b"\n", 4)
    if len(parts) != 5:
        raise ProofError("log entry: fewer than five lines after the format line")
    seq_text, time_raw, kind_raw, prev_hex, payload = parts
    try:
        seq = int(seq_text.decode("ascii"))
        time, kind = time_raw.decode(), kind_raw.decode()
        prev = bytes.fromhex(prev_hex.decode("ascii"))
        decoded = orjson.loads(payload)
    except (ValueError, orjson.JSONDecodeError) as exc:
        raise ProofError(f"log entry: malformed ({exc})") from None
    if encode_entry(seq, time, kind, payload, prev) != data or len(prev) != 32:
        raise ProofError("log entry: not in canonical encoding")
    return _Entry(seq, time, kind, decoded)


def _delegation_changes(entry: _Entry) -> list[tuple[object, object]]:
    """The (kind, item) changes an entry stands for, as the projection expands it: a batch its
    items, a transfer entry its `changes` (a transferred block is delegated to its new holder,
    and the rest of a split one re-delegated, by the transfer's own entry), anything else
    itself."""
    payload = entry.payload
    if entry.kind == ev.BATCH:
        if not isinstance(payload, dict) or not isinstance(payload.get("items"), list):
            raise ProofError(f"log entry {entry.seq}: malformed batch")
        return [(payload.get("kind"), item) for item in payload["items"]]
    if entry.kind in ev.TRANSFER_KINDS:
        changes = payload.get("changes", []) if isinstance(payload, dict) else None
        if not isinstance(changes, list) or not all(
            isinstance(c, list) and len(c) == 2 for c in changes
        ):
            raise ProofError(f"log entry {entry.seq}: malformed transfer changes")
        return [(kind, item) for kind, item in changes]
    return [(entry.kind, payload)]


def _last_change(entry: _Entry, leaf: StateLeaf) -> StateLeaf | None:
    """The leaf that the entry's last change of (leaf.afi, leaf.start) produces, or None.

    Mirrors the projection (`_delegation_changes`): delegation.added and .changed write the
    leaf, delegation.removed deletes it; other changes leave it.
    """
    found: StateLeaf | None = None
    afi = Afi(leaf.afi)
    for kind, item in _delegation_changes(entry):
        if kind not in _DELEGATION_KINDS:
            continue
        if not isinstance(item, dict):
            raise ProofError(f"log entry {entry.seq}: malformed delegation item")
        try:
            if item["afi"] != leaf.afi or parse_number(afi, item["start"]) != leaf.start:
                continue
            if kind == ev.DELEGATION_REMOVED:
                found = None
                continue
            span = Resource.from_delegated(afi, item["start"], item["value"])
            found = StateLeaf(leaf.afi, span.start, span.end, item["holder"] or "", item["status"])
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            raise ProofError(f"log entry {entry.seq}: malformed delegation item ({exc})") from None
    return found


def _check(
    proof: TlogProof,
    claim: _Claim,
    checkpoint: Checkpoint,
    cosigned: tuple[Cosigned, ...] = (),
) -> ProofResult:
    """Everything after the policy: state proof, coverage, log entry and its inclusion."""
    count, state_root = _state_extension(checkpoint)
    root_text = f"{state_root.hex()[:16]}…"
    resource = claim.resource
    afi = resource.afi.value
    if claim.kind == HOLDING:
        leaf = claim.leaf
        assert leaf is not None and isinstance(claim.state_proof, HoldingProof)
        try:
            verify_holding(state_root, leaf, claim.state_proof)
        except ProofError as exc:
            raise ProofError(
                f"state proof does not verify against the checkpoint's state root {root_text}: "
                f"{exc}"
            ) from None
        if leaf.afi != afi or not leaf.start <= resource.start <= resource.end <= leaf.end:
            raise ProofError(
                f"the proven {describe_leaf(leaf)} does not cover the resource asked about, "
                f"{resource}"
            )
    else:
        assert isinstance(claim.state_proof, AbsenceProof)
        try:
            verify_absence(state_root, afi, resource.start, resource.end, claim.state_proof)
        except ProofError as exc:
            raise ProofError(
                f"state proof does not verify against the checkpoint's state root {root_text}: "
                f"{exc}"
            ) from None
        shown = _neighbours(afi, resource.end, claim.state_proof)
        if shown != (claim.before, claim.after):
            raise ProofError(
                "the neighbours named in the claim (before/after) are not the ones the state "
                "proof shows"
            )

    entry = _parse_entry(claim.entry)
    if entry.seq != proof.index + 1:
        raise ProofError(
            f"log entry: the entry is number {entry.seq}, the index line says {proof.index} "
            f"(entry {proof.index + 1})"
        )
    try:
        merkle.verify_inclusion(
            merkle.leaf_hash(claim.entry),
            proof.index,
            checkpoint.size,
            proof.hashes,
            checkpoint.root,
        )
    except ProofError as exc:
        raise ProofError(
            f"log inclusion proof of entry {entry.seq} against the checkpoint's root: {exc}"
        ) from None
    if claim.kind == HOLDING:
        assert claim.leaf is not None
        made = _last_change(entry, claim.leaf)
        if made != claim.leaf:
            raise ProofError(
                f"log entry {entry.seq} ({entry.kind}) does not establish the proven "
                f"{describe_leaf(claim.leaf)}"
                + (f"; its last change gives {describe_leaf(made)}" if made else "")
            )
    elif entry.seq != checkpoint.size:
        raise ProofError(
            f"an absence proof carries the last log entry ({checkpoint.size}), not entry "
            f"{entry.seq}"
        )
    return ProofResult(
        kind=claim.kind,
        resource=resource,
        leaf=claim.leaf,
        before=claim.before,
        after=claim.after,
        origin=checkpoint.origin,
        size=checkpoint.size,
        log_root=checkpoint.root,
        state_root=state_root,
        state_count=count,
        entry_seq=entry.seq,
        entry_kind=entry.kind,
        entry_time=entry.time,
        cosigned=cosigned,
    )


def latest_note(node: RegistryNode) -> str:
    if not node.has_table("checkpoints"):  # read-only: a node that never signed has none
        row = None
    else:
        row = node.conn.execute(
            "SELECT note FROM checkpoints ORDER BY size DESC LIMIT 1"
        ).fetchone()
    if row is None:
        raise ProofBuildError(f"{node.registry} has signed no checkpoint yet: run onereg publish")
    return str(row[0])


def build_proof(
    data: DataDir, resource: Resource, registry: RegistryId | None
) -> tuple[str, RegistryId]:
    """A holding proof from the node that holds `resource`, else an absence proof from
    `registry` or, by default, from the registry IANA gave the space to."""
    chosen = registry or _holding_registry(data, resource) or _authority(data, resource)
    with data.read(chosen) as node:
        note = latest_note(node)
        if node.overlapping(resource):
            return build_holding_proof(node, note, resource), chosen
        return build_absence_proof(node, note, resource), chosen


def _holding_registry(data: DataDir, resource: Resource) -> RegistryId | None:
    for rid in RIRS:
        if data.exists(rid):
            with data.read(rid) as node:
                if node.overlapping(resource):
                    return rid
    return None


def _authority(data: DataDir, resource: Resource) -> RegistryId:
    with data.read(RegistryId.IANA) as iana:
        blocks = iana.overlapping(resource)
    holders = {b.holder for b in blocks if b.holder in {r.value for r in RIRS}}
    if len(holders) != 1:
        raise ProofBuildError(
            f"no single registry is responsible for {resource}; name one with --registry"
        )
    return RegistryId(holders.pop())
