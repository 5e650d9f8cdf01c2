"""Bytes-level fast paths for the two big ROV inputs: prefix->origin tables and VRP CSV.

The line-by-line readers in `routes` cost about 8 us a line (a str per line, `inet_pton`, an int
per field), so a 512,621-route table took ~4 s and 10^6 VRPs longer. Nearly every line of such
files has one of a few shapes ("1.0.4.0/22<TAB>56203", "AS13335,1.1.1.0/24,24,ripe"), so this
module checks the shape of every line at once and converts all numbers in one call:

* each byte is mapped to a class (`d` digit, the separators as themselves, `x` a letter of a
  free-text column, `?` anything else) and runs of digits, blanks and letters are collapsed, so
  a line's *signature* ("d.d.d.d/d d") is compared with the expected one with plain bytes
  operations in C;
* the digits are then parsed by numpy's C text reader, and ranges (octets, lengths, AS numbers,
  host bits, leading zeros) are checked on the arrays.

Whenever anything is unusual (another shape, a comment inside the data, a value out of range,
non-ASCII, CR line ends) the fast path answers None and the caller runs the exact line reader,
which then gives the same result or the same located error. So the fast path never decides what
is valid: it only recognises input the slow path would read to the same columns.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from onereg.rpki.rov_index import MAX_ASN

I64 = npt.NDArray[np.int64]

# Class codes: the three that collapse (digit, blank, letter) have the top bit set, so one
# comparison finds them; shapes are written readably ("d.d.d.d/d d") and coded with `coded`.
_D, _SP, _X, _BAD = 0xE4, 0xA0, 0xF8, ord("?")
_CODE = bytes.maketrans(b"d x", bytes([_D, _SP, _X]))
_READABLE = bytes.maketrans(bytes([_D, _SP, _X]), b"d x")


def coded(shape: bytes) -> bytes:
    return shape.translate(_CODE)


def readable(signature: bytes) -> bytes:
    return signature.translate(_READABLE)


def _class_table() -> npt.NDArray[np.uint8]:
    table = np.full(256, _BAD, dtype=np.uint8)
    table[ord("0") : ord("9") + 1] = _D
    for char in b".,/\n":
        table[char] = char
    table[ord(" ")] = table[ord("\t")] = _SP
    for char in b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-_":
        table[char] = _X
    table[ord("A")], table[ord("S")] = ord("A"), ord("S")
    return table


_CLASSES = _class_table()
_CLASS_BYTES = _CLASSES.tobytes()
_DIGITS_ONLY = bytes(c if ord("0") <= c <= ord("9") else ord(" ") for c in range(256))


class Lines:
    """A block of text lines (each ending in a newline) seen as bytes, classes and signatures."""

    def __init__(self, body: bytes) -> None:
        self.body = body
        self.raw = np.frombuffer(body, dtype=np.uint8)
        # the classes are not kept: their memory serves the next big array of a one-shot run
        cls = np.frombuffer(body.translate(_CLASS_BYTES), dtype=np.uint8)
        keep = np.empty(len(cls), dtype=np.bool_)
        keep[:1] = True
        np.equal(cls[1:], cls[:-1], out=keep[1:])
        keep[1:] &= cls[1:] >= 0x80  # a repeat of a collapsing class ...
        np.logical_not(keep[1:], out=keep[1:])  # ... is dropped
        self.signature = cls[keep].tobytes()
        self._ends: npt.NDArray[np.intp] | None = None

    @functools.cached_property
    def count(self) -> int:
        """How many lines: each newline is a signature byte of its own, and the signature is
        about two thirds of the text to count."""
        return self.signature.count(b"\n")

    def mismatched(self, expected: bytes) -> list[int] | None:
        """Indices of the lines whose (coded) signature is not `expected` (without its newline);
        None when the text does not end with a newline (the caller then reads exactly).

        Lines of another length are found with array operations; the runs of lines between
        them are compared with the expected line repeated (memcmp), and a run that differs is
        halved until its odd lines are found, so no Python loop visits every line."""
        line = expected + b"\n"
        signature = self.signature
        whole, rest = divmod(len(signature), len(line))
        if not rest and signature == line * whole:
            self.count = whole  # every line is `line`, so there are `whole` of them
            return []
        if not signature.endswith(b"\n"):
            return None
        ends = np.flatnonzero(np.frombuffer(signature, dtype=np.uint8) == ord("\n"))
        starts = np.empty_like(ends)
        starts[:1] = 0
        starts[1:] = ends[:-1] + 1
        other_length = np.flatnonzero(ends - starts + 1 != len(line)).tolist()
        out: list[int] = []
        first = 0
        for index in [*other_length, len(ends)]:
            _odd_lines(signature, line, starts, ends, first, index, out)
            if index < len(ends):
                out.append(index)
            first = index + 1
        return out

    def line(self, index: int) -> bytes:
        """The text of one line (for the few the caller reads one by one)."""
        ends = self.line_ends()
        return self.body[int(ends[index - 1]) + 1 if index else 0 : int(ends[index])]

    def line_ends(self) -> npt.NDArray[np.intp]:
        if self._ends is None:
            self._ends = np.flatnonzero(self.raw == ord("\n"))
        return self._ends

    def numbers(self, fields: int, skip: Sequence[int] = ()) -> I64 | None:
        """Every line's digit runs as an (n, fields) array, leaving out the `skip` lines; None
        when a number has a leading zero or more than 10 digits (the exact reader decides)."""
        text = self.body.translate(_DIGITS_ONLY)
        if skip:  # few lines (IPv6 rows): the text between them, in one copy
            text = _without_lines(text, self.line_ends(), skip)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            try:
                values = np.fromstring(text, dtype=np.int64, sep=" ")  # text mode: not deprecated
            except (ValueError, DeprecationWarning):
                return None
        rows = self.count - len(skip)
        if values.shape[0] != rows * fields:
            return None
        table = values.reshape(rows, fields)
        return table if _written_plainly(table, text) else None


def _without_lines(text: bytes, ends: npt.NDArray[np.intp], skip: Sequence[int]) -> bytes:
    """`text` less the lines `skip` (ascending; `ends` are the newlines' offsets), joined from
    views so that the text is copied once, not once more per line left out."""
    whole = memoryview(text)
    kept, first = [], 0
    for index in skip:
        kept.append(whole[first : int(ends[index - 1]) + 1 if index else 0])
        first = int(ends[index]) + 1
    kept.append(whole[first:])
    return b"".join(kept)


def _written_plainly(table: I64, text: bytes) -> bool:
    """Whether the digit runs of `text` (digits and blanks only), parsed one each into
    `table`, had no leading zero and at most 10 digits. Counted rather than searched for,
    because locating every run in 10^6 lines cost more than parsing them: each run has at
    least as many digits as its value needs, so the totals are equal only if no run has a
    leading zero; then a run of 11 digits or more is a value of 10^10 or more. (Counted
    with passes over the values, whose bool arrays are a byte per value, not over the text:
    a fresh array of the text's size costs its page faults in a one-shot command.)"""
    values = table.ravel()
    top = int(values.max()) if values.size else 0
    if top >= 10**10 or (values.size and int(values.min()) < 0):
        return False
    if top <= 0xFFFFFFFF:  # a pass over 4-byte values costs half one over 8-byte ones
        values = values.astype(np.uint32)
    needed = values.size  # one digit each, and one more per power of ten reached
    power = 10
    while power <= top:  # a pass per power (one bool array), not an index per value
        needed += int(np.count_nonzero(values >= power))
        power *= 10
    return needed == len(text) - text.count(b" ")


def _odd_lines(
    signature: bytes,
    line: bytes,
    starts: npt.NDArray[np.intp],
    ends: npt.NDArray[np.intp],
    first: int,
    stop: int,
    out: list[int],
) -> None:
    """Append to `out` the lines first..stop-1 (all of the expected length) that are not
    `line`: the whole run is compared at once, and halved only where it differs."""
    if first >= stop:
        return
    if signature[int(starts[first]) : int(ends[stop - 1]) + 1] == line * (stop - first):
        return
    if stop - first == 1:
        out.append(first)
        return
    middle = (first + stop) // 2
    _odd_lines(signature, line, starts, ends, first, middle, out)
    _odd_lines(signature, line, starts, ends, middle, stop, out)


_OCTET_WEIGHTS = np.array([1 << 24, 1 << 16, 1 << 8, 1], dtype=np.int64)


def ipv4_columns(octets: I64, lengths: I64) -> npt.NDArray[np.uint64] | None:
    """Addresses from four octet columns; None when an octet, a length or host bits are wrong."""
    if octets.size and (int(octets.max()) > 255 or int(lengths.max()) > 32):
        return None
    value = octets @ _OCTET_WEIGHTS  # one pass over the four columns (shifts took four)
    host = (np.int64(1) << (32 - lengths)) - 1
    if bool(np.any(value & host)):
        return None
    return value.astype(np.uint64)


def asns_ok(asns: I64) -> bool:
    return not asns.size or int(asns.max()) <= MAX_ASN


def split_header(data: bytes, comments: bytes) -> tuple[int, bytes] | None:
    """Skip the leading comment and blank lines; (lines skipped, the rest ending in a newline).
    None for input the fast path leaves alone (CR line ends, non-ASCII)."""
    if b"\r" in data or not data.isascii():
        return None
    skipped, offset = 0, 0
    while offset < len(data):
        end = data.find(b"\n", offset)
        end = len(data) if end < 0 else end
        line = data[offset:end]
        if line.strip() and line[:1] not in comments:
            break
        skipped, offset = skipped + 1, end + 1
    body = data[offset:]
    if body and not body.endswith(b"\n"):
        body += b"\n"
    return skipped, body


PREFIX_ORIGIN_SHAPE = b"d.d.d.d/d d"
_COLUMN_SHAPES = {"asn": (b"ASd", b"d"), "prefix": (b"d.d.d.d/d",), "maxlen": (b"d",)}


def prefix_origin(data: bytes) -> tuple[npt.NDArray[np.uint64], I64, I64] | None:
    """(addresses, lengths, origins) of an IPv4 `prefix/len<TAB>asn` table whose every data line
    has that shape (leading `;`/`#` comments allowed), else None."""
    split = split_header(data, b";#")
    if split is None:
        return None
    lines = Lines(split[1])
    if lines.mismatched(coded(PREFIX_ORIGIN_SHAPE)) != []:
        return None
    numbers = lines.numbers(6)
    if numbers is None or not asns_ok(numbers[:, 5]):
        return None
    values = ipv4_columns(numbers[:, :4], numbers[:, 4])
    if values is None:
        return None
    return values, numbers[:, 4], numbers[:, 5]


def csv_shape(first: bytes, columns: dict[str, int]) -> tuple[bytes, dict[str, int]] | None:
    """The signature every IPv4 row must have, taken from the first row, and where each number
    of a row sits among its digit runs; None if that row is not a plain IPv4 VRP row."""
    cells = readable(first).split(b",")
    if len(cells) <= max(columns.values()):
        return None
    for key, index in columns.items():
        if cells[index] not in _COLUMN_SHAPES[key]:
            return None
    if any(c not in (b"x", b"d", b"ASd") for i, c in enumerate(cells) if i not in columns.values()):
        return None
    at: dict[str, int] = {}
    runs = 0
    for index, cell in enumerate(cells):
        for key, column in columns.items():
            if column == index:
                at[key] = runs
        runs += cell.count(b"d")
    at["runs"] = runs
    return first, at  # `first` as coded: what every other row is compared with
