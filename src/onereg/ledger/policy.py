"""Trust policies for checkpoints (c2sp.org/tlog-policy): which logs, which witnesses, what quorum.

A policy file is line based; items are separated by spaces and tabs only; empty lines and lines
whose first non-blank character is ``#`` are ignored::

    log <vkey> [<url>]
    witness <name> <vkey> [<url>]
    group <name> <k|any|all> <member>...
    quorum <name|none>

Log keys are Ed25519 note keys (type 0x01) and the key name must be the log's origin; witness
keys are Ed25519 cosignature keys (type 0x04). Witnesses and groups share one namespace, and a
line may only name what earlier lines defined; ``none`` is predefined and cannot be a member;
each name is a member of at most one group (so a witness counts in only one way); ``any`` means
k = 1 and ``all`` k = n, else 1 <= k <= n. Exactly one quorum line. Two keys wrapping the same
public key are duplicates and refused.

A checkpoint satisfies the policy when one of the logs signed it, under its own origin, and the
witnesses whose cosignatures verify satisfy the quorum.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Set
from dataclasses import dataclass

from onereg.core.errors import SignatureError, UnknownKeyError
from onereg.ledger.checkpoint import Checkpoint, CosignatureVerifier, parse_decimal
from onereg.ledger.note import Verifier, verify_note

NONE = "none"
_BLANKS = re.compile(r"[ \t]+")


class PolicyError(SignatureError):
    """A policy file is malformed; the message names the line."""

    def __init__(self, reason: str, line: int | None = None) -> None:
        super().__init__(f"policy line {line}: {reason}" if line is not None else reason)
        self.line = line
        self.reason = reason


class QuorumError(SignatureError):
    """A checkpoint's valid cosignatures do not satisfy the policy's quorum."""

    def __init__(self, message: str, signed: tuple[str, ...], quorum: str) -> None:
        super().__init__(message)
        self.signed = signed
        self.quorum = quorum


@dataclass(frozen=True)
class Log:
    verifier: Verifier
    url: str | None = None


@dataclass(frozen=True)
class Witness:
    name: str
    verifier: CosignatureVerifier
    url: str | None = None


@dataclass(frozen=True)
class Group:
    name: str
    threshold: int
    members: tuple[str, ...]


@dataclass(frozen=True)
class Policy:
    logs: tuple[Log, ...]
    witnesses: tuple[Witness, ...]
    groups: tuple[Group, ...]
    quorum: str  # a witness or group name, or "none"

    # --- parsing ---------------------------------------------------------------------------

    @classmethod
    def parse(cls, text: str) -> Policy:
        logs: list[Log] = []
        witnesses: dict[str, Witness] = {}
        groups: dict[str, Group] = {}
        members_used: dict[str, str] = {}  # member name -> group that lists it
        quorum: str | None = None
        lines = text.split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        for lineno, line in enumerate(lines, start=1):
            for ch in line:
                if (ord(ch) < 0x20 and ch != "\t") or ord(ch) == 0x7F:
                    raise PolicyError(f"control character U+{ord(ch):04X} is not allowed", lineno)
            stripped = line.strip(" \t")
            if not stripped or stripped.startswith("#"):
                continue
            keyword, *args = _BLANKS.split(stripped)
            if keyword == "log":
                logs.append(_parse_log(args, logs, lineno))
            elif keyword == "witness":
                witness = _parse_witness(args, witnesses, groups, lineno)
                witnesses[witness.name] = witness
            elif keyword == "group":
                group = _parse_group(args, witnesses, groups, members_used, lineno)
                groups[group.name] = group
            elif keyword == "quorum":
                if len(args) != 1:
                    raise PolicyError("expected: quorum <name|none>", lineno)
                if quorum is not None:
                    raise PolicyError(
                        "a policy has exactly one quorum line; this is another", lineno
                    )
                name = args[0]
                if name != NONE and name not in witnesses and name not in groups:
                    raise PolicyError(
                        f"quorum {name!r} is not a witness or group defined above", lineno
                    )
                quorum = name
            else:
                raise PolicyError(
                    f"unknown keyword {keyword!r} (expected log, witness, group or quorum)",
                    lineno,
                )
        if quorum is None:
            raise PolicyError("the policy has no quorum line (use 'quorum none' for no witnesses)")
        return cls(tuple(logs), tuple(witnesses.values()), tuple(groups.values()), quorum)

    # --- evaluation ------------------------------------------------------------------------

    def log_keys(self, origin: str) -> list[Verifier]:
        """The keys of the log whose origin is `origin` (a policy names log keys after their
        origins), and no other log's: a note of one log signed by another proves nothing."""
        return [log.verifier for log in self.logs if log.verifier.name == origin]

    def _witness(self, name: str) -> Witness | None:
        return next((w for w in self.witnesses if w.name == name), None)

    def _group(self, name: str) -> Group | None:
        return next((g for g in self.groups if g.name == name), None)

    def satisfied(self, name: str, signed: Set[str]) -> bool:
        """Whether witness or group ``name`` witnessed, given the witnesses that cosigned."""
        if name == NONE:
            return True
        group = self._group(name)
        if group is None:
            return name in signed
        met = sum(1 for member in group.members if self.satisfied(member, signed))
        return met >= group.threshold

    def describe(self, name: str, signed: Set[str]) -> str:
        """What ``name`` needs and how much of it the cosignatures give, for error messages."""
        group = self._group(name)
        if group is None:
            return f"{name} ({'cosigned' if name in signed else 'no valid cosignature'})"
        met = [m for m in group.members if self.satisfied(m, signed)]
        n = len(group.members)
        need = "all" if group.threshold == n else ("any" if group.threshold == 1 else "")
        parts = "; ".join(self.describe(m, signed) for m in group.members)
        return (
            f"{name} needs {need + ' ' if need else ''}{group.threshold} of {n} "
            f"[{parts}], {len(met)} met"
        )

    def check(self, note: str | bytes, *, logs: Iterable[Verifier] = ()) -> Checkpoint:
        """Verify a cosigned checkpoint note against this policy and return the checkpoint.

        ``logs`` adds log keys known from context (a policy may list none).
        """
        log_verifiers: list[Verifier] = [log.verifier for log in self.logs]
        log_verifiers.extend(logs)
        if not log_verifiers:
            raise PolicyError("the policy lists no log key and none was given")
        witness_verifiers = [w.verifier for w in self.witnesses]
        opened = verify_note(note, [*log_verifiers, *witness_verifiers])
        checkpoint = Checkpoint.parse(opened.text)
        verified = {(sig.name, sig.key_id) for sig in opened.verified}

        log_signers = [v for v in log_verifiers if (v.name, v.key_id) in verified]
        if not log_signers:
            keys = ", ".join(v.key for v in log_verifiers)
            raise UnknownKeyError(
                f"checkpoint {checkpoint.origin!r} size {checkpoint.size} is not signed by any "
                f"log key of the policy ({keys})"
            )
        if not any(v.name == checkpoint.origin for v in log_signers):
            signer = log_signers[0]
            raise SignatureError(
                f"checkpoint origin {checkpoint.origin!r} does not match the name of the log key "
                f"that signed it ({signer.key}); a policy log key is named after its origin",
                key=signer.key,
            )

        signed = {
            w.name for w in self.witnesses if (w.verifier.name, w.verifier.key_id) in verified
        }
        if not self.satisfied(self.quorum, signed):
            cosigned = ", ".join(sorted(signed)) or "no witness"
            raise QuorumError(
                f"checkpoint {checkpoint.origin!r} size {checkpoint.size}: witness quorum "
                f"{self.quorum!r} not met; valid cosignatures from {cosigned}; "
                f"{self.describe(self.quorum, signed)}",
                tuple(sorted(signed)),
                self.quorum,
            )
        return checkpoint


# --- line parsers ------------------------------------------------------------------------------


def _check_new_name(
    name: str, witnesses: dict[str, Witness], groups: dict[str, Group], lineno: int
) -> None:
    if name == NONE:
        raise PolicyError("'none' is predefined and cannot be defined", lineno)
    if name in witnesses or name in groups:
        raise PolicyError(
            f"name {name!r} is already defined (witnesses and groups share names)", lineno
        )


def _parse_log(args: list[str], logs: list[Log], lineno: int) -> Log:
    if len(args) not in (1, 2):
        raise PolicyError("expected: log <vkey> [<url>]", lineno)
    try:
        verifier = Verifier.from_vkey(args[0])
    except SignatureError as exc:
        raise PolicyError(f"log key: {exc}", lineno) from None
    for other in logs:
        if other.verifier.public_key == verifier.public_key:
            raise PolicyError(f"duplicate log: same public key as {other.verifier.key}", lineno)
    return Log(verifier, args[1] if len(args) == 2 else None)


def _parse_witness(
    args: list[str], witnesses: dict[str, Witness], groups: dict[str, Group], lineno: int
) -> Witness:
    if len(args) not in (2, 3):
        raise PolicyError("expected: witness <name> <vkey> [<url>]", lineno)
    name = args[0]
    _check_new_name(name, witnesses, groups, lineno)
    try:
        verifier = CosignatureVerifier.from_vkey(args[1])
    except SignatureError as exc:
        raise PolicyError(f"witness {name} key: {exc}", lineno) from None
    for other in witnesses.values():
        if other.verifier.public_key == verifier.public_key:
            raise PolicyError(
                f"duplicate witness: {name} has the same public key as {other.name}", lineno
            )
    return Witness(name, verifier, args[2] if len(args) == 3 else None)


def _parse_group(
    args: list[str],
    witnesses: dict[str, Witness],
    groups: dict[str, Group],
    members_used: dict[str, str],
    lineno: int,
) -> Group:
    if len(args) < 3:
        raise PolicyError("expected: group <name> <k|any|all> <member>...", lineno)
    name, k_text, *members = args
    _check_new_name(name, witnesses, groups, lineno)
    for member in members:
        if member == NONE:
            raise PolicyError(f"group {name}: 'none' cannot be a group member", lineno)
        if member not in witnesses and member not in groups:
            raise PolicyError(
                f"group {name}: member {member!r} is not a witness or group defined above",
                lineno,
            )
        if member in members_used:
            where = members_used[member]
            raise PolicyError(
                f"group {name}: {member!r} is already a member of group {where!r}; "
                f"a name may be listed as a member only once",
                lineno,
            )
        members_used[member] = name
    n = len(members)
    if k_text == "any":
        threshold = 1
    elif k_text == "all":
        threshold = n
    else:
        k = parse_decimal(k_text, n)
        if k is None or k < 1:
            raise PolicyError(
                f"group {name}: threshold {k_text!r} must be any, all or a decimal k with "
                f"1 <= k <= {n} (the number of members)",
                lineno,
            )
        threshold = k
    return Group(name, threshold, tuple(members))
