"""A node as it was at a past moment, derived from its log alone.

The log is the truth and the tables are its projection, so the state at any moment is the
projection of the log's first N entries: N is the last entry written at or before the moment
(log times are UTC, `YYYY-MM-DDTHH:MM:SS.ffffffZ`, so they compare as text).

The replay is made on a read-only connection of its own to the node's file: the projection
tables are created in that connection's TEMP schema, which SQLite searches before the file's own
tables, and `log` becomes a TEMP view of the file's log cut at entry N. Every query a node
answers (`RegistryNode.containing`, `holder`, `head`, log times ...) then reads the past with
no code of its own, and nothing can be written to the node: the file is opened read-only and the
replay lives in memory until the connection closes.

A replay for one resource (`within`) projects only the delegations that touch it (every other
table in full: holders, cross-registry holdings, transfers are few): what a lookup of that
resource reads, at a fraction of a full replay's cost on a large node (the RDAP and whois faces
use it per query).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime

import orjson

from onereg.core.errors import OneregError
from onereg.core.resources import Resource
from onereg.registry import events as ev
from onereg.registry import projection
from onereg.registry.node import RegistryNode
from onereg.registry.schema import PROJECTION_SCHEMA, SECONDARY_INDEXES

_RANGED = frozenset({ev.DELEGATION_ADDED, ev.DELEGATION_CHANGED, ev.DELEGATION_REMOVED})
_READ_CHUNK = 500
_ADDED_BATCH = b'"kind":"' + ev.DELEGATION_ADDED.encode() + b'"}'  # how such a batch ends
_FORMS = "use an ISO date or date-time in UTC: 2019-01-01 or 2019-01-01T12:00:00Z"


class MomentError(OneregError):
    """A date or log entry number given to ask for a past state cannot be used."""


class BeforeLogError(MomentError):
    """The moment asked for is earlier than the node's first log entry: nothing was known."""


@dataclass(frozen=True, slots=True)
class Moment:
    """Where in a node's log a past moment falls: the last entry written by then."""

    registry: str
    seq: int  # entries 1..seq make the state
    time: str  # when entry `seq` was written (log time, UTC)
    asked: str  # what was asked: the moment (log time form) or "entry N"

    def describe(self) -> str:
        return (
            f"the {self.registry} log as of {self.asked}: entries 1-{self.seq}, "
            f"the last written {self.time}"
        )


def parse_moment(text: str, where: str) -> datetime:
    """An ISO 8601 date (midnight UTC) or date-time (UTC unless it says otherwise).

    `where` names the option or parameter the text came from, for the error."""
    value = text.strip()
    if not value or len(value) > 40:
        raise MomentError(f"{where}: {text[:40]!r} is not a date ({_FORMS})")
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            day = date.fromisoformat(value)
            return datetime(day.year, day.month, day.day, tzinfo=UTC)
        moment = datetime.fromisoformat(value)
        if moment.tzinfo is not None:
            moment = moment.astimezone(UTC)  # years 1 and 9999 can overflow here
    except (ValueError, OverflowError) as exc:
        raise MomentError(f"{where}: {text!r} is not a date ({exc}; {_FORMS})") from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def log_time(moment: datetime) -> str:
    """The moment in the log's own time format, comparable as text with entry times."""
    m = moment.astimezone(UTC)
    return (  # by hand: strftime writes year 1 as "1", not "0001"
        f"{m.year:04d}-{m.month:02d}-{m.day:02d}T{m.hour:02d}:{m.minute:02d}:{m.second:02d}"
        f".{m.microsecond:06d}Z"
    )


def entry_at(node: RegistryNode, moment: datetime) -> Moment:
    """The last entry of the node's log written at or before `moment`.

    Raises BeforeLogError, naming when the log began, if the moment is earlier than that."""
    asked = log_time(moment)
    row = node.conn.execute(
        "SELECT seq, time FROM main.log WHERE time <= ? ORDER BY seq DESC LIMIT 1", (asked,)
    ).fetchone()
    if row is None:
        first = node.conn.execute("SELECT time FROM main.log WHERE seq = 1").fetchone()
        began = "has no entries" if first is None else f"began at {first[0]}"
        raise BeforeLogError(
            f"{asked} is before the {node.registry} log began: it {began}, "
            "so nothing is known of that moment"
        )
    return Moment(node.registry.value, int(row[0]), str(row[1]), asked)


def entry_number(node: RegistryNode, seq: int) -> Moment:
    """The moment right after entry `seq` of the node's log."""
    row = node.conn.execute("SELECT time FROM main.log WHERE seq = ?", (seq,)).fetchone()
    if seq < 1 or row is None:
        size = node.conn.execute("SELECT count(*) FROM main.log").fetchone()[0]
        raise MomentError(
            f"entry {seq}: the {node.registry} log has entries 1-{size}, no entry {seq}"
        )
    return Moment(node.registry.value, seq, str(row[0]), f"entry {seq}")


def replay(
    node: RegistryNode,
    moment: Moment,
    within: Resource | None = None,
    holders: frozenset[str] = frozenset(),
) -> RegistryNode:
    """The node as it was after entry `moment.seq`, on a new read-only connection (close it).

    With `within`, only the delegations touching that resource, or held by one of `holders`,
    are projected (every other table in full)."""
    past = RegistryNode.open_readonly(node.registry, node.path)
    try:
        # In memory, with room for a whole node (~100 MB): a replay spilling to temp files
        # through SQLite's default small cache takes several times longer.
        past.conn.execute("PRAGMA temp_store = MEMORY")
        past.conn.execute("PRAGMA temp.cache_size = -262144")
        past.conn.executescript(_temp_schema() + _log_view(moment.seq))
        past.conn.execute("BEGIN")
        needles = None if within is None else _needles(within, holders)
        entries = _entries(past, moment.seq, needles)
        projection.apply(past.conn, _filtered(entries, within, holders))
        for name, sql in SECONDARY_INDEXES.items():
            past.conn.execute(sql.replace(f"IF NOT EXISTS {name}", f"temp.asof_{name}"))
        past.conn.execute("COMMIT")
    except BaseException:
        past.close()
        raise
    return past


def _temp_schema() -> str:
    """The projection tables and views, made in the connection's TEMP schema (where they shadow
    the file's own current tables); the secondary indexes come after the rows."""
    body = PROJECTION_SCHEMA
    for sql in SECONDARY_INDEXES.values():
        body = body.replace(sql + ";", "")
    return body.replace("CREATE TABLE IF NOT EXISTS", "CREATE TEMP TABLE").replace(
        "CREATE VIEW IF NOT EXISTS", "CREATE TEMP VIEW"
    )


def _log_view(seq: int) -> str:
    return f"CREATE TEMP VIEW log AS SELECT * FROM main.log WHERE seq <= {int(seq)};"


def _needles(within: Resource, holders: frozenset[str]) -> tuple[bytes, ...]:
    """What a batch of new delegations must contain to matter to a replay for `within`: its
    family, or one of `holders` (payloads are canonical JSON, the form they are hashed in)."""
    return (
        b'"afi":' + orjson.dumps(within.afi.value),
        *(b'"holder":' + orjson.dumps(h) for h in sorted(holders)),
    )


def _entries(
    past: RegistryNode, upto: int, needles: tuple[bytes, ...] | None
) -> Iterator[projection.Applied]:
    """The log's entries 1..upto, decoded, read in chunks (a full node's log is ~100 MB).

    With `needles`, batches of new delegations containing none of them are not even decoded:
    on a large node they are most of the log, and a lookup's replay reads few of them."""
    skip = ""
    args: tuple[bytes, ...] = ()
    if needles:
        found = " OR ".join("instr(payload, ?) > 0" for _ in needles)
        skip = f" AND NOT (kind = 'batch' AND instr(payload, ?) > 0 AND NOT ({found}))"
        args = (_ADDED_BATCH, *needles)
    after = 0
    while after < upto:
        rows = past.conn.execute(
            f"SELECT seq, kind, payload FROM main.log WHERE seq > ? AND seq <= ?{skip} "
            "ORDER BY seq LIMIT ?",
            (after, upto, *args, _READ_CHUNK),
        ).fetchall()
        if not rows:
            return
        for seq, kind, payload in rows:
            yield int(seq), str(kind), orjson.loads(payload)
        after = int(rows[-1][0])


def _filtered(
    entries: Iterator[projection.Applied], within: Resource | None, holders: frozenset[str]
) -> Iterator[projection.Applied]:
    """Entries as projected items, without the delegation items that neither touch `within`
    nor are held by one of `holders`. Once a record is kept, every later item at its place
    (afi, start) is kept too (a removal names no holder, a change may name another), so what
    is kept is replayed exactly."""
    expanded = projection.expand(entries)
    if within is None:
        yield from expanded
        return
    family = within.afi.value
    kept: set[tuple[str, int]] = set()
    for seq, kind, payload in expanded:
        if kind in _RANGED:
            afi = payload["afi"]
            if afi != family and not holders:
                continue  # can touch nothing asked for
            start, end = projection.payload_range(payload)
            place = (afi, start)
            if place not in kept:
                touches = afi == family and start <= within.end and end >= within.start
                if not touches and payload.get("holder") not in holders:
                    continue
                kept.add(place)
        yield seq, kind, payload
