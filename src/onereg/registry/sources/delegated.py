"""Reader of RIR statistics exchange files ("delegated", "delegated-extended"; versions 2, 2.3).

Hand-written because no maintained library parses this format with the strictness a registry
import needs: every field is checked, every error names file:line, field and value, and a file
that was cut off (the usual failure of a nightly mirror) is caught by comparing the header's and
summaries' counts with what the file really holds, so nothing of a partial file is imported.
"""

from __future__ import annotations

import gzip
import re
import socket
import zlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from onereg.core.errors import SourceFormatError
from onereg.core.registries import RegistryId, Status
from onereg.core.resources import Afi

_VERSIONS = ("2", "2.3")
_CC_RE = re.compile(r"^(?:[A-Z]{2})?$")
_DATE_RE = re.compile(r"^(?:\d{8})?$")
_OFFSET_RE = re.compile(r"^(?:[+-]\d{4}|0{5}|0{4}|Z)?$")
_AFIS = {a.value: a for a in Afi}
_STATUSES = {s.value: s for s in Status}
_REGISTRIES = {r.value for r in RegistryId}
_MAX = {afi: afi.max_value for afi in Afi}
_HELD = frozenset((Status.ALLOCATED.value, Status.ASSIGNED.value))

ProgressFn = Callable[[int, int], None]


@dataclass(frozen=True, slots=True)
class DelegatedHeader:
    """The version line; kept verbatim so an export reproduces it."""

    version: str
    registry: str
    serial: str
    records: int
    startdate: str
    enddate: str
    utc_offset: str

    def line(self) -> str:
        return "|".join(
            (
                self.version,
                self.registry,
                self.serial,
                str(self.records),
                self.startdate,
                self.enddate,
                self.utc_offset,
            )
        )


class DelegatedRecord(NamedTuple):
    """One record line (a NamedTuple: half a million of them are built per import).

    `opaque_id` is None when the line has only the seven basic fields and "" when the field is
    present but empty: real files do both, and an export must give back what it was given.
    """

    registry: str
    cc: str
    type: str
    start_text: str
    value: int
    date: str
    status: str
    opaque_id: str | None
    extensions: tuple[str, ...]
    start: int
    end: int
    line: int

    @property
    def afi(self) -> Afi:
        return Afi(self.type)

    @property
    def held(self) -> bool:
        """Allocated or assigned; plain strings, not enums, because this runs per record."""
        return self.status in _HELD

    def text(self) -> str:
        parts = [
            self.registry,
            self.cc,
            self.type,
            self.start_text,
            str(self.value),
            self.date,
            self.status,
        ]
        if self.opaque_id is not None:
            parts.append(self.opaque_id)
            parts.extend(self.extensions)
        return "|".join(parts)


@dataclass(slots=True)
class DelegatedFile:
    """A whole parsed file; only ever built from a file that passed every check."""

    path: str
    header: DelegatedHeader
    preamble: list[str] = field(default_factory=list)
    summaries: list[tuple[Afi, int]] = field(default_factory=list)
    records: list[DelegatedRecord] = field(default_factory=list)

    @property
    def registry(self) -> str:
        return self.header.registry


def read_text(path: Path) -> str:
    """File contents, gunzipped when the file starts with the gzip magic."""
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as exc:
            raise SourceFormatError(str(path), None, f"broken gzip stream: {exc}") from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SourceFormatError(str(path), None, f"not UTF-8 text: {exc}") from None


def delegated_registry(path: Path) -> RegistryId | None:
    """The registry a delegated file's version line names (None if it names none we know);
    cheap: reads only up to that line, so a command can route the file before parsing it."""
    try:
        with path.open("rb") as raw:
            gzipped = raw.read(2) == b"\x1f\x8b"
        opener = gzip.open if gzipped else open
        with opener(path, "rt", encoding="utf-8", errors="replace") as handle:
            for line in handle:
                if line.strip() and not line.startswith("#"):
                    fields = line.split("|")
                    return RegistryId(fields[1]) if len(fields) > 1 else None
    except (OSError, EOFError, ValueError, zlib.error):
        return None
    return None


def parse_delegated(path: Path, progress: ProgressFn | None = None) -> DelegatedFile:
    """Parse and check a whole file; raises SourceFormatError at the first problem."""
    text = read_text(path)
    return _Parser(str(path), text, progress).run()


class _Parser:
    def __init__(self, path: str, text: str, progress: ProgressFn | None) -> None:
        self.path = path
        self.lines = text.split("\n")
        self.complete = text.endswith("\n")
        self.progress = progress
        self.file: DelegatedFile | None = None
        self.summary_lines: dict[Afi, int] = {}

    def fail(
        self, lineno: int | None, reason: str, fld: str | None = None, value: str | None = None
    ) -> SourceFormatError:
        return SourceFormatError(self.path, lineno, reason, fld, value)

    def run(self) -> DelegatedFile:
        total = len(self.lines)
        if self.complete or (total and self.lines[-1] == ""):
            self.lines.pop()  # the empty string after the final newline
        body = self._preamble_and_header()
        if self.file is not None:
            self._body(body)
        if self.progress is not None:
            self.progress(total, total)
        return self._finish()

    def _preamble_and_header(self) -> int:
        """Index of the first line after the version line."""
        preamble: list[str] = []
        for index, raw in enumerate(self.lines):
            line = raw.rstrip("\r")
            if line.startswith("#") or not line.strip():
                preamble.append(line)
                continue
            self.file = DelegatedFile(self.path, self._header(index + 1, line), preamble)
            return index + 1
        return len(self.lines)

    def _body(self, first: int) -> None:
        assert self.file is not None
        registry, records, lines = self.file.registry, self.file.records, self.lines
        for index in range(first, len(lines)):
            if self.progress is not None and index % 50000 == 0:
                self.progress(index, len(lines))
            fields = lines[index].rstrip("\r").split("|")
            record = _fast_record(registry, index + 1, fields)
            if record is not None:
                records.append(record)
            elif len(fields) == 6 and fields[5] == "summary":
                self._summary(index + 1, fields)
            elif not fields[0].strip() or fields[0].startswith("#"):
                continue
            else:
                records.append(self._record(index + 1, fields))

    def _header(self, lineno: int, line: str) -> DelegatedHeader:
        fields = line.split("|")
        if len(fields) != 7:
            raise self.fail(
                lineno, f"version line needs 7 fields, found {len(fields)}", "line", line
            )
        version, registry, serial, records, start, end, offset = fields
        if version not in _VERSIONS:
            raise self.fail(
                lineno, "unknown format version (expected 2 or 2.3)", "version", version
            )
        if registry not in _REGISTRIES:
            raise self.fail(lineno, "unknown registry", "registry", registry)
        if not records.isdigit():
            raise self.fail(lineno, "record count is not a number", "records", records)
        for name, value in (("startdate", start), ("enddate", end)):
            if not _DATE_RE.match(value):
                raise self.fail(lineno, "date must be yyyymmdd or empty", name, value)
        if not _OFFSET_RE.match(offset):
            raise self.fail(lineno, "UTC offset must be +HHMM or -HHMM", "UTCoffset", offset)
        return DelegatedHeader(version, registry, serial, int(records), start, end, offset)

    def _summary(self, lineno: int, fields: list[str]) -> None:
        assert self.file is not None
        registry, _, kind, _, count, _ = fields
        if registry != self.file.registry:
            raise self.fail(lineno, "summary of another registry", "registry", registry)
        if kind not in _AFIS:
            raise self.fail(lineno, "unknown resource type", "type", kind)
        if not count.isdigit():
            raise self.fail(lineno, "summary count is not a number", "count", count)
        self.file.summaries.append((_AFIS[kind], int(count)))
        self.summary_lines.setdefault(_AFIS[kind], lineno)

    def _record(self, lineno: int, fields: list[str]) -> DelegatedRecord:
        assert self.file is not None
        if len(fields) < 7:
            raise self.fail(
                lineno,
                f"record needs at least 7 fields, found {len(fields)}" + self._cut_hint(lineno),
                "line",
                "|".join(fields),
            )
        registry, cc, kind, start_text, value_text, date, status_text = fields[:7]
        if registry != self.file.registry:
            raise self.fail(
                lineno,
                f"record of another registry in a {self.file.registry} file",
                "registry",
                registry,
            )
        afi = _AFIS.get(kind)
        if afi is None:
            raise self.fail(lineno, "unknown resource type" + self._cut_hint(lineno), "type", kind)
        if not _CC_RE.match(cc):
            raise self.fail(lineno, "country code must be two capital letters or empty", "cc", cc)
        if not _DATE_RE.match(date):
            raise self.fail(
                lineno, "date must be yyyymmdd or empty" + self._cut_hint(lineno), "date", date
            )
        status = _STATUSES.get(status_text)
        if status is None:
            raise self.fail(
                lineno, "unknown status" + self._cut_hint(lineno), "status", status_text
            )
        start, end, value = self._range(lineno, afi, start_text, value_text)
        return _record_of(fields, value, start, end, lineno)

    def _range(
        self, lineno: int, afi: Afi, start_text: str, value_text: str
    ) -> tuple[int, int, int]:
        start = self._number(lineno, afi, start_text)
        if not value_text.isdigit():
            raise self.fail(
                lineno, "value is not a number" + self._cut_hint(lineno), "value", value_text
            )
        value = int(value_text)
        if afi is Afi.IPV6:
            if value > 128:
                raise self.fail(lineno, "IPv6 prefix length above 128", "value", value_text)
            size = 1 << (128 - value)
            if start % size:
                raise self.fail(lineno, f"start is not aligned on a /{value}", "start", start_text)
        else:
            if value == 0:
                raise self.fail(lineno, "count must be at least 1", "value", value_text)
            size = value
        end = start + size - 1
        if end > afi.max_value:
            raise self.fail(
                lineno, f"range runs past the end of the {afi} space", "value", value_text
            )
        return start, end, value

    def _number(self, lineno: int, afi: Afi, text: str) -> int:
        try:
            if afi is Afi.ASN:
                if not text.isdigit():
                    raise ValueError
                number = int(text)
                if number > Afi.ASN.max_value:
                    raise ValueError
                return number
            family = socket.AF_INET if afi is Afi.IPV4 else socket.AF_INET6
            return int.from_bytes(socket.inet_pton(family, text), "big")
        except (OSError, ValueError):
            raise self.fail(
                lineno, f"not a valid {afi} start" + self._cut_hint(lineno), "start", text
            ) from None

    def _cut_hint(self, lineno: int) -> str:
        if lineno == len(self.lines) and not self.complete:
            return " (the file ends in the middle of this line: truncated?)"
        return ""

    def _finish(self) -> DelegatedFile:
        if self.file is None:
            raise self.fail(None, "no version line: empty file or only comments")
        if not self.complete and self.lines:
            found = len(self.file.records)
            raise self.fail(
                len(self.lines),
                "file does not end with a newline, so its last "
                f"record is cut off (truncated file: {found} records read, the "
                f"header announces {self.file.header.records})",
            )
        self._check_counts(self.file)
        return self.file

    def _check_counts(self, dfile: DelegatedFile) -> None:
        found = len(dfile.records)
        if found != dfile.header.records:
            raise self.fail(
                1,
                f"header announces {dfile.header.records} records, file holds {found}"
                + (": truncated?" if found < dfile.header.records else ""),
                "records",
                str(dfile.header.records),
            )
        per_type = Counter(r.type for r in dfile.records)
        for afi, count in dfile.summaries:
            if per_type[afi.value] != count:
                raise self.fail(
                    self.summary_lines.get(afi),
                    f"summary announces {count} {afi} records, file holds {per_type[afi]}",
                    "summary",
                    afi.value,
                )


def _fast_record(registry: str, lineno: int, fields: list[str]) -> DelegatedRecord | None:
    """The common case, checked with cheap tests; None sends the line to the slow diagnosis.

    Kept separate from `_Parser._record` (which explains what is wrong) because this loop runs
    half a million times per full import.
    """
    if len(fields) < 7:
        return None
    reg, cc, kind, start_text, value_text, date, status_text = fields[:7]
    afi = _AFIS.get(kind)
    status = _STATUSES.get(status_text)
    if (
        reg != registry
        or afi is None
        or status is None
        or not value_text.isdigit()
        or (cc and (len(cc) != 2 or not cc.isalpha() or not cc.isupper()))
        or (date and (len(date) != 8 or not date.isdigit()))
    ):
        return None
    value = int(value_text)
    try:
        if afi is Afi.ASN:
            if not start_text.isdigit():
                return None
            start = int(start_text)
            size = value
        elif afi is Afi.IPV4:
            start = int.from_bytes(socket.inet_pton(socket.AF_INET, start_text), "big")
            size = value
        else:
            if value > 128:
                return None
            start = int.from_bytes(socket.inet_pton(socket.AF_INET6, start_text), "big")
            size = 1 << (128 - value)
            if start % size:
                return None
    except (OSError, ValueError):  # ValueError: inet_pton on text with a NUL character
        return None
    end = start + size - 1
    if size == 0 or end > _MAX[afi]:
        return None
    return _record_of(fields, value, start, end, lineno)


def _record_of(fields: list[str], value: int, start: int, end: int, lineno: int) -> DelegatedRecord:
    """The record of checked fields; the opaque-id and extensions are whatever follows field 7."""
    opaque = fields[7] if len(fields) > 7 else None
    registry, cc, kind, start_text, _, date, status = fields[:7]
    return DelegatedRecord(
        registry,
        cc,
        kind,
        start_text,
        value,
        date,
        status,
        opaque,
        tuple(fields[8:]),
        start,
        end,
        lineno,
    )
