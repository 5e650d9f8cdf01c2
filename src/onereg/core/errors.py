"""Errors shared by every layer.

Every error names what was wrong and where, so an operator can fix the input
without reading the code: a source file error carries file, line, field and value.
"""

from __future__ import annotations


class OneregError(Exception):
    """Base of every error onereg raises on purpose (the CLI prints these without a traceback)."""


class ResourceParseError(OneregError, ValueError):
    """A number resource (address, prefix, range, AS number) could not be read."""

    def __init__(self, text: str, reason: str) -> None:
        super().__init__(f"cannot read resource {text!r}: {reason}")
        self.text = text
        self.reason = reason


class SourceFormatError(OneregError):
    """A source file (delegated file, IANA registry, transfer list) is malformed."""

    def __init__(
        self,
        path: str,
        line: int | None,
        reason: str,
        field: str | None = None,
        value: str | None = None,
    ) -> None:
        where = f"{path}:{line}" if line is not None else path
        what = f" (field {field}={value!r})" if field is not None else ""
        super().__init__(f"{where}: {reason}{what}")
        self.path = path
        self.line = line
        self.field = field
        self.value = value
        self.reason = reason


class OverlapError(OneregError):
    """A write would make two records of one registry cover the same resource."""

    def __init__(self, first: str, second: str) -> None:
        super().__init__(f"overlap refused: {first} overlaps {second}")
        self.first = first
        self.second = second


class LogIntegrityError(OneregError):
    """A node's log does not verify (broken hash chain, gap, unknown entry kind)."""


class NodeNotFoundError(OneregError):
    """A command named a registry node that the data directory does not have."""


class ProofError(OneregError):
    """A Merkle inclusion or consistency proof does not verify against the roots it claims."""


class SignatureError(OneregError):
    """A signed note, checkpoint, cosignature, policy or proof file was refused.

    Either the text is malformed (the message names the line and what is wrong) or a signature
    by a configured key does not verify (the message names the key as ``name+keyid``, also kept
    in ``key``).
    """

    def __init__(self, message: str, key: str | None = None) -> None:
        super().__init__(message)
        self.key = key


class UnknownKeyError(SignatureError):
    """No signature on a note is by a key the verifier knows (the message lists who did sign)."""
