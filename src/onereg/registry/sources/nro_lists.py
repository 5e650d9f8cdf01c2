"""Readers of the small lists the NRO statistics merge applies on top of the registries' files.

The ERX list says which early-registration IPv4 blocks moved from the registry
IANA's /8 table names to another RIR: without it every such block looks like
an RIR holding space inside another RIR's /8. The allowed-overlap list names
the few ranges the NRO accepts in two files at once (documentation and AS112
space that IANA and an RIR both publish).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from onereg.core.errors import ResourceParseError, SourceFormatError
from onereg.core.registries import RegistryId
from onereg.core.resources import Afi, Resource

_ERX_FIELDS = ("start", "prefixlen", "count", "end", "new-rir")


@dataclass(frozen=True, slots=True)
class ErxTransfer:
    """One early-registration block and the RIR that now administers it."""

    resource: Resource
    new_registry: RegistryId
    section: str
    source: str


@dataclass(frozen=True, slots=True)
class AllowedOverlap:
    """A range the NRO merge accepts in `registry`'s file although another file has it too."""

    resource: Resource
    registry: RegistryId
    holder: str
    source: str


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    try:
        text = path.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as exc:
        raise SourceFormatError(str(path), None, f"cannot read: {exc}") from None
    for number, line in enumerate(text.splitlines(), start=1):
        yield number, line.strip()


def _registry(path: Path, number: int, fld: str, text: str) -> RegistryId:
    try:
        return RegistryId(text.lower())
    except ValueError:
        raise SourceFormatError(str(path), number, "unknown registry", fld, text) from None


# --- ERX transfers ------------------------------------------------------------------------


def _ipv4(path: Path, number: int, fld: str, text: str) -> int:
    try:
        return int(ipaddress.IPv4Address(text))
    except ValueError:
        raise SourceFormatError(str(path), number, "not an IPv4 address", fld, text) from None


def _integer(path: Path, number: int, fld: str, text: str) -> int:
    if not text.isdigit():
        raise SourceFormatError(str(path), number, "not a number", fld, text)
    return int(text)


def _erx_range(path: Path, number: int, fields: list[str]) -> Resource:
    """Start, prefix length, count and end restate one prefix; they must agree."""
    start = _ipv4(path, number, "start", fields[0])
    prefixlen = _integer(path, number, "prefixlen", fields[1])
    count = _integer(path, number, "count", fields[2])
    end = _ipv4(path, number, "end", fields[3])
    if not 0 <= prefixlen <= 32 or start % (1 << (32 - prefixlen)):
        raise SourceFormatError(str(path), number, "not a prefix start", "prefixlen", fields[1])
    if count != 1 << (32 - prefixlen):
        raise SourceFormatError(
            str(path), number, "count disagrees with prefixlen", "count", fields[2]
        )
    if end != start + count - 1:
        raise SourceFormatError(
            str(path), number, "end disagrees with start+count", "end", fields[3]
        )
    return Resource(Afi.IPV4, start, end)


def _erx_line(path: Path, number: int, line: str, section: str) -> ErxTransfer:
    fields = line.split()
    if len(fields) != len(_ERX_FIELDS):
        raise SourceFormatError(
            str(path), number, f"expected {len(_ERX_FIELDS)} fields", "line", line
        )
    return ErxTransfer(
        resource=_erx_range(path, number, fields),
        new_registry=_registry(path, number, "new-rir", fields[4]),
        section=section,
        source=f"{path.name}:{number}",
    )


def parse_erx_transfers(path: Path) -> list[ErxTransfer]:
    """erx-xfr.txt: `start prefixlen count end new-rir` lines under `# section` headings.

    Blank lines are skipped; a data line before any heading gets section "".
    """
    transfers = []
    section = ""
    for number, line in _lines(path):
        if line.startswith("#"):
            section = line.lstrip("#").strip()
        elif line:
            transfers.append(_erx_line(path, number, line, section))
    return transfers


# --- allowed overlaps ---------------------------------------------------------------------


def _allowed_resource(path: Path, number: int, fields: list[str]) -> Resource:
    type_text, start, value = fields[2], fields[3], fields[4]
    try:
        afi = Afi(type_text)
    except ValueError:
        raise SourceFormatError(str(path), number, "unknown type", "type", type_text) from None
    count = _integer(path, number, "value", value)
    try:
        return Resource.from_delegated(afi, start, count)
    except ResourceParseError as exc:
        raise SourceFormatError(str(path), number, exc.reason, "start", start) from None


def _allowed_line(path: Path, number: int, line: str) -> AllowedOverlap:
    fields = line.split("|")
    if len(fields) < 8:
        raise SourceFormatError(str(path), number, "expected at least 8 '|' fields", "line", line)
    return AllowedOverlap(
        resource=_allowed_resource(path, number, fields),
        registry=_registry(path, number, "registry", fields[0]),
        holder=fields[7],
        source=f"{path.name}:{number}",
    )


def parse_allowed_overlaps(path: Path) -> list[AllowedOverlap]:
    """allowedlist: delegated-extended rows (registry|cc|type|start|value|date|status|opaque-id
    [|extension]); the opaque-id is the holder ("ietf"). Rows are kept in file order, repeats
    included, because the NRO list repeats ranges with different dates."""
    return [
        _allowed_line(path, number, line)
        for number, line in _lines(path)
        if line and not line.startswith("#")
    ]
