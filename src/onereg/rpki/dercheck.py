"""Is this DER?  A schema-free check of the encoding rules of X.690 sections 10 and 11.

Why: RPKI objects must be DER (RFC 6488 section 2.1 for signed objects, RFC 5280 section 4.1
and RFC 6487 for certificates and CRLs), so that every value has exactly one encoding and a
hash or signature over it means one thing.  asn1crypto reads BER: it takes long-form lengths,
non-minimal INTEGERs, constructed strings and unsorted SETs without a word, and rpki-client and
OctoRPKI refuse such objects.  A relying party that accepts what they refuse is laxer than them.

This module walks the tag-length-value tree.  Most rules need no schema; the one that does (a
DEFAULT value must be left out, X.690 11.5) is checked for the few DEFAULTs the RPKI structures
have, without a schema: every BOOLEAN in certificates, CRLs, CMS and the RPKI eContents is
DEFAULT FALSE (Extension.critical, BasicConstraints.cA), so an encoded FALSE is an encoded
DEFAULT; and every RPKI eContent (ROA, manifest, ASPA, RSC) starts with ``version [0] INTEGER
DEFAULT 0``, which `econtent_problem` checks.  (Re-encoding with asn1crypto and comparing finds
the same, at three times the cost of decoding.)  Contents of OCTET STRINGs and BIT STRINGs are
not entered: the caller checks those it knows to hold DER (eContent, extension values).
"""

from __future__ import annotations

import itertools
import re

MAX_NESTING = 64
"""Deeper than any RPKI object (a certificate inside CMS is about 12 levels)."""

# Universal string types (and BIT/OCTET STRING) that DER requires in primitive form (X.690 10.2).
_STRING_TAGS = frozenset({3, 4, 12, 18, 19, 20, 21, 22, 25, 26, 27, 28, 29, 30})
_UTC = re.compile(rb"[0-9]{12}Z")
_GENERALIZED = re.compile(rb"[0-9]{14}(\.[0-9]*[1-9])?Z")


class NotDer(ValueError):
    """The bytes break a DER rule; the message names the rule, the offset and the clause."""


def der_problem(data: bytes) -> str | None:
    """Why `data` is not one DER value, or None when it is."""
    if not data:
        return "no value"
    try:
        _, _, pos = _tag(data, 0, len(data))
        length, pos = _length(data, pos, len(data))
        if pos + length != len(data):
            return f"{len(data) - pos - length} bytes after the value"
        _walk(data, 0, len(data), 0)
    except NotDer as exc:
        return str(exc)
    return None


_VERSION_ZERO = bytes.fromhex("a003020100")


def econtent_problem(data: bytes) -> str | None:
    """`der_problem` for an RPKI eContent, whose DEFAULT version 0 must not be encoded."""
    problem = der_problem(data)
    if problem is not None:
        return problem
    _, start = _length(data, 1, len(data))
    if data[start : start + len(_VERSION_ZERO)] == _VERSION_ZERO:
        return f"version 0 at offset {start} is the DEFAULT and must be left out (X.690 11.5)"
    return None


def _walk(data: bytes, pos: int, end: int, depth: int) -> None:
    """Check every TLV in data[pos:end]."""
    if depth > MAX_NESTING:
        raise NotDer(f"nesting deeper than {MAX_NESTING} at offset {pos}")
    while pos < end:
        start = pos
        first, number, pos = _tag(data, pos, end)
        length, pos = _length(data, pos, end)
        content_end = pos + length
        if first & 0x20:
            if first & 0xC0 == 0 and number in _STRING_TAGS:
                raise NotDer(f"constructed string (tag {number}) at offset {start} (X.690 10.2)")
            _walk(data, pos, content_end, depth + 1)
            if first == 0x31:
                _check_set_order(data, pos, content_end)
        elif first & 0xC0 == 0:
            _primitive(number, data[pos:content_end], start)
        pos = content_end


def _tag(data: bytes, pos: int, end: int) -> tuple[int, int, int]:
    """(first octet, tag number, position after the tag)."""
    first = data[pos]
    pos += 1
    number = first & 0x1F
    if number != 0x1F:
        return first, number, pos
    number = 0
    if pos >= end or data[pos] == 0x80:
        raise NotDer(f"non-minimal high tag number at offset {pos - 1} (X.690 8.1.2.4.2)")
    while True:
        if pos >= end:
            raise NotDer("tag runs past the end")
        byte = data[pos]
        pos += 1
        number = (number << 7) | (byte & 0x7F)
        if not byte & 0x80:
            break
    if number < 0x1F:
        raise NotDer(f"high-form tag for low number {number} (X.690 8.1.2.4)")
    return first, number, pos


def _length(data: bytes, pos: int, end: int) -> tuple[int, int]:
    """(content length, position of the content); only minimal definite forms pass."""
    if pos >= end:
        raise NotDer("length runs past the end")
    head = data[pos]
    pos += 1
    if head < 0x80:
        length = head
    elif head == 0x80:
        raise NotDer(f"indefinite length at offset {pos - 1} (X.690 10.1)")
    else:
        count = head & 0x7F
        raw = data[pos : pos + count]
        if count > 4 or len(raw) != count:
            raise NotDer(f"length of {count} octets at offset {pos - 1}")
        length = int.from_bytes(raw, "big")
        if raw[0] == 0 or length < 0x80:
            raise NotDer(f"non-minimal length at offset {pos - 1} (X.690 10.1)")
        pos += count
    if pos + length > end:
        raise NotDer(f"content at offset {pos} runs past its container")
    return length, pos


def _primitive(number: int, body: bytes, at: int) -> None:
    """The content rules of the universal primitive types RPKI objects use."""
    if number == 1 and (len(body) != 1 or body[0] not in (0x00, 0xFF)):
        raise NotDer(f"BOOLEAN at offset {at} is not 00 or FF (X.690 11.1)")
    if number == 1 and body[0] == 0x00:
        raise NotDer(f"BOOLEAN FALSE at offset {at}: a DEFAULT value encoded (X.690 11.5)")
    if number in (2, 10):
        if not body:
            raise NotDer(f"empty INTEGER at offset {at} (X.690 8.3.1)")
        if len(body) > 1 and (
            (body[0] == 0 and body[1] < 0x80) or (body[0] == 0xFF and body[1] >= 0x80)
        ):
            raise NotDer(f"non-minimal INTEGER at offset {at} (X.690 8.3.2)")
    elif number == 3:
        _bit_string(body, at)
    elif number == 5 and body:
        raise NotDer(f"NULL with content at offset {at} (X.690 8.8.2)")
    elif number == 6 and (not body or body[-1] & 0x80 or _padded_arc(body)):
        raise NotDer(f"badly encoded OBJECT IDENTIFIER at offset {at} (X.690 8.19.2)")
    elif number == 23 and not _UTC.fullmatch(body):
        raise NotDer(f"UTCTime at offset {at} is not YYMMDDHHMMSSZ (X.690 11.8)")
    elif number == 24 and not _GENERALIZED.fullmatch(body):
        raise NotDer(f"GeneralizedTime at offset {at} is not in DER form (X.690 11.7)")


def _bit_string(body: bytes, at: int) -> None:
    if not body or body[0] > 7 or (len(body) == 1 and body[0]):
        raise NotDer(f"bad unused-bit count in BIT STRING at offset {at} (X.690 8.6.2)")
    if body[0] and body[-1] & ((1 << body[0]) - 1):
        raise NotDer(f"BIT STRING at offset {at} has non-zero unused bits (X.690 11.2.1)")


def _padded_arc(body: bytes) -> bool:
    """An OID sub-identifier starting with 0x80 (a leading zero group)."""
    fresh = True
    for byte in body:
        if fresh and byte == 0x80:
            return True
        fresh = not byte & 0x80
    return False


def _check_set_order(data: bytes, pos: int, end: int) -> None:
    """DER SET and SET OF: elements in ascending order of their encodings (X.690 11.6)."""
    items: list[bytes] = []
    at = pos
    while pos < end:
        start = pos
        _, _, pos = _tag(data, pos, end)
        length, pos = _length(data, pos, end)
        pos += length
        items.append(data[start:pos])
    for a, b in itertools.pairwise(items):
        width = max(len(a), len(b))
        if a.ljust(width, b"\0") > b.ljust(width, b"\0"):
            raise NotDer(f"SET elements at offset {at} out of order (X.690 11.6)")
