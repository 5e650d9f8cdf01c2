"""The two dates a record shows on every face: when it was registered and when it last changed.

Both faces (RDAP events, whois `created:`/`last-modified:` and their dialects' equivalents)
take them from here, so they cannot disagree. The log time of the entry that wrote a record is
when this node learned of it, which for an imported record is the import, not a change of the
record: a registry that imports its delegated file did not change every record that day. So:

* registration: the record's own date (the delegated file's date field);
* last changed: the log time of the entry that last wrote the record when that entry changed
  it (a `delegation.changed`, alone or in a batch, or a transfer step); when the entry only
  added it (an import bringing the record into the node), the record has not changed since
  it was registered, as far as the log knows, and the registration date is the answer. A record
  that came by transfer (`received_by` in its attributes) changed when it was added; a record
  with no registration date falls back to the log time.

Holders (organisations, RDAP entities) follow the same rule (`holder_dates`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from onereg.registry import events as ev
from onereg.registry.node import RegistryNode


@dataclass(frozen=True, slots=True)
class RecordDates:
    """A record's registration and last change, RFC 3339 UTC (None: unknown)."""

    registered: str | None
    last_changed: str | None


def registration_date(date: str | None) -> str | None:
    """A delegated-file date (YYYYMMDD) as RFC 3339 UTC, or None when the file left it unknown."""
    if not date or len(date) != 8 or not date.isdigit() or date == "00000000":
        return None
    return f"{date[:4]}-{date[4:6]}-{date[6:]}T00:00:00Z"


_ADDING = frozenset({ev.DELEGATION_ADDED, ev.HOLDER_REGISTERED})


def entry_added(kind: str, batch_kind: str | None) -> bool:
    """Whether an entry of this kind (a batch: of these items) only adds records or holders."""
    return kind in _ADDING or (kind == ev.BATCH and batch_kind in _ADDING)


def holder_dates(node: RegistryNode, handle: str, seq: int) -> RecordDates:
    """A holder's dates, by the records' rule: a delegated file dates no holder, so it counts as
    registered when its earliest current record was, and as changed by a `holder.changed`
    entry (`seq` is the entry that last wrote it). One probe of the holder index."""
    row = node.conn.execute(
        "SELECT MIN(date) FROM delegations WHERE holder = ? AND date GLOB ?",
        (handle, "[12][0-9][0-9][0-9][01][0-9][0-3][0-9]"),
    ).fetchone()
    registered = registration_date(str(row[0])) if row and row[0] else None
    return RecordDates(registered, last_changed(node, seq, registered))


def record_dates(
    node: RegistryNode, seq: int, date: str | None, attrs: Mapping[str, Any] | None
) -> RecordDates:
    """The dates of a record (or a version of one) whose last writing entry is `seq`, with the
    delegated-file `date` and the `attrs` that entry left."""
    registered = registration_date(date)
    moved = bool((attrs or {}).get("received_by"))
    return RecordDates(registered, last_changed(node, seq, None if moved else registered))


def last_changed(node: RegistryNode, seq: int, registered: str | None) -> str | None:
    """When the record written by entry `seq` last changed (see the module's rule); without
    `registered`, the entry's log time. One index probe."""
    row = node.conn.execute(
        "SELECT time, kind, CASE WHEN kind = ? THEN substr(payload, -?) END FROM log WHERE seq = ?",
        (ev.BATCH, _TAIL, seq),
    ).fetchone()
    if row is None:
        return registered
    time, kind = str(row[0]), str(row[1])
    if registered and entry_added(kind, _batch_kind(row[2])):
        return registered
    return time


_TAIL = 64  # bytes at the end of a batch payload that hold its item kind


def _batch_kind(tail: str | bytes | None) -> str | None:
    """A batch's item kind from the end of its payload: canonical JSON sorts "items" before
    "kind", so a batch ends with `"kind":"<kind>"}` (`registry.node.pack`), and reading the
    tail spares decoding up to 8 kB of items per record shown."""
    if tail is None:
        return None
    text = tail.decode("utf-8", "replace") if isinstance(tail, bytes) else tail
    marker = text.rfind('"kind":"')
    if marker < 0 or not text.endswith('"}'):
        return None
    return text[marker + len('"kind":"') : -2]
