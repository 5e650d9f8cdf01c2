"""Projection of log entries onto the node's tables.

The same code runs when an entry is written and when the log is replayed, which is what makes
`rebuild` give back an identical state. Runs of entries of one kind are written with one
`executemany`, because a full import writes hundreds of thousands of them.
"""

from __future__ import annotations

import socket
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from itertools import groupby
from operator import itemgetter
from typing import Any

import orjson

from onereg.core.errors import LogIntegrityError
from onereg.core.resources import Afi, parse_number
from onereg.registry import events as ev
from onereg.registry.schema import SECONDARY_INDEXES, key

Row = tuple[Any, ...]
Applied = tuple[int, str, ev.Payload]  # (seq, kind, payload)

_AFIS = {a.value: a for a in Afi}


def payload_range(p: ev.Payload) -> tuple[int, int]:
    """(start, end) of a delegation payload (start text + count or prefix length)."""
    start = _number(p["afi"], p["start"])
    return start, _end_of(p["afi"], start, p["value"])


def expand(entries: Iterable[Applied]) -> Iterator[Applied]:
    """Public name of the batch expansion, for other consumers of the log (the state tree)."""
    return _expand(entries)


def _number(afi: str, text: str) -> int:
    """Keyed by the plain family string: enum look-ups cost too much at 10^5 rows per import."""
    if afi == "asn":
        return int(text)
    family = socket.AF_INET6 if afi == "ipv6" else socket.AF_INET
    try:
        return int.from_bytes(socket.inet_pton(family, text), "big")
    except OSError:
        return parse_number(_AFIS[afi], text)  # raises the explanatory error


def _end_of(afi: str, start: int, value: int) -> int:
    return start + (1 << (128 - value)) - 1 if afi == "ipv6" else start + value - 1


def _delegation_row(seq: int, p: ev.Payload) -> Row:
    afi = p["afi"]
    start = _number(afi, p["start"])
    attrs = (
        orjson.dumps(p["attrs"], option=orjson.OPT_SORT_KEYS).decode() if p.get("attrs") else None
    )
    return (
        p["afi"],
        key(start),
        key(_end_of(afi, start, p["value"])),
        p["start"],
        p["value"],
        p["cc"],
        p["date"],
        p["status"],
        p["holder"],
        p["opaque"],
        orjson.dumps(p["ext"]).decode() if p["ext"] else "[]",
        attrs,
        seq,
    )


def _range_key(p: ev.Payload) -> Row:
    return (p["afi"], key(_number(p["afi"], p["start"])))


def _range_row(p: ev.Payload) -> Row:
    afi = p["afi"]
    return (afi, key(_number(afi, p["start"])), key(_number(afi, p["end"])))


_UPSERT_DELEGATION = (
    "INSERT OR REPLACE INTO delegations (afi, start, end, start_text, value, cc, date, status,"
    " holder, opaque, ext, attrs, seq) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)"
)

Handler = tuple[str, Callable[[int, ev.Payload], Row]]

_HANDLERS: dict[str, Handler] = {
    ev.NODE_CREATED: (
        "INSERT OR REPLACE INTO sources (name, sha256, meta, seq) VALUES ('node', '', ?, ?)",
        lambda s, p: (orjson.dumps(p).decode(), s),
    ),
    ev.SOURCE_IMPORTED: (
        "INSERT OR REPLACE INTO sources (name, sha256, meta, seq) VALUES (?, ?, ?, ?)",
        lambda s, p: (
            p["slot"],
            p["sha256"],
            orjson.dumps(p, option=orjson.OPT_SORT_KEYS).decode(),
            s,
        ),
    ),
    ev.HOLDER_REGISTERED: (
        "INSERT INTO holders (handle, name, cc, seq) VALUES (?, ?, ?, ?)",
        lambda s, p: (p["handle"], p["name"], p["cc"], s),
    ),
    ev.HOLDER_CHANGED: (
        "UPDATE holders SET name = ?, cc = ?, seq = ? WHERE handle = ?",
        lambda s, p: (p["name"], p["cc"], s, p["handle"]),
    ),
    ev.HOLDER_RETIRED: ("DELETE FROM holders WHERE handle = ?", lambda s, p: (p["handle"],)),
    ev.DELEGATION_ADDED: (_UPSERT_DELEGATION.replace("OR REPLACE ", ""), _delegation_row),
    ev.DELEGATION_CHANGED: (_UPSERT_DELEGATION, _delegation_row),
    ev.DELEGATION_REMOVED: (
        "DELETE FROM delegations WHERE afi = ? AND start = ?",
        lambda s, p: _range_key(p),
    ),
    ev.CROSS_HOLDING_RECORDED: (
        "INSERT OR REPLACE INTO cross_holdings (afi, start, end, range_text, authority, origin,"
        " evidence, seq) VALUES (?,?,?,?,?,?,?,?)",
        lambda s, p: (
            *_range_row(p),
            f"{p['start']}-{p['end']}",
            p["authority"],
            p["origin"],
            p["evidence"],
            s,
        ),
    ),
    ev.CROSS_HOLDING_CLEARED: (
        "DELETE FROM cross_holdings WHERE afi = ? AND start = ?",
        lambda s, p: _range_key(p),
    ),
    ev.SPECIAL_RESERVED: (
        "INSERT INTO special_purpose (afi, start, end, range_text, name, attrs, seq) "
        "VALUES (?,?,?,?,?,?,?)",
        lambda s, p: (
            *_range_row(p),
            f"{p['start']}-{p['end']}",
            p["name"],
            orjson.dumps(p["attrs"], option=orjson.OPT_SORT_KEYS).decode(),
            s,
        ),
    ),
    ev.HOLDER_KEY: (
        "INSERT OR REPLACE INTO holder_keys (handle, key, seq) VALUES (?, ?, ?)",
        lambda s, p: (p["handle"], p["key"], s),
    ),
    ev.NONCE_USED: (
        "INSERT INTO used_nonces (nonce, seq) VALUES (?, ?)",
        lambda s, p: (p["nonce"], s),
    ),
    ev.TRANSFER_STATE: (
        "INSERT INTO transfers (id, role, state, afi, start, end, counterpart, record, first_seq,"
        " seq) VALUES (?,?,?,?,?,?,?,?,?,?) ON CONFLICT (id) DO UPDATE SET state = excluded.state,"
        " record = excluded.record, seq = excluded.seq",
        lambda s, p: (
            p["id"],
            p["role"],
            p["state"],
            *_range_row(p["range"]),
            p["counterpart"],
            orjson.dumps(p["record"], option=orjson.OPT_SORT_KEYS).decode(),
            s,
            s,
        ),
    ),
    ev.LOCK_SET: (
        "INSERT INTO locks (afi, start, end, transfer) VALUES (?,?,?,?)",
        lambda s, p: (*_range_row(p["range"]), p["id"]),
    ),
    ev.LOCK_RELEASED: ("DELETE FROM locks WHERE transfer = ?", lambda s, p: (p["id"],)),
    ev.KEY_PUBLISHED: (
        "INSERT INTO node_keys (seq, vkey) VALUES (?, ?)",
        lambda s, p: (s, p["vkey"]),
    ),
    ev.KEY_ROTATED: (
        "INSERT INTO node_keys (seq, vkey) VALUES (?, ?)",
        lambda s, p: (s, p["vkey"]),
    ),
    ev.SPECIAL_RELEASED: (
        "DELETE FROM special_purpose WHERE afi = ? AND start = ? AND end = ?",
        lambda s, p: _range_row(p),
    ),
}


BULK_THRESHOLD = 10_000


@contextmanager
def indexes_deferred(conn: sqlite3.Connection, changes: int) -> Iterator[None]:
    """Within the caller's transaction, drop secondary indexes for a large write, rebuild after."""
    if changes < BULK_THRESHOLD:
        yield
        return
    for name in SECONDARY_INDEXES:
        conn.execute(f"DROP INDEX IF EXISTS {name}")
    yield
    for sql in SECONDARY_INDEXES.values():
        conn.execute(sql)


def _expand(entries: Iterable[Applied]) -> Iterator[Applied]:
    """Batch entries stand for their items, in order, each under the batch entry's seq; a
    transfer entry stands for its delegation changes, the use of its agreement's nonce (at the
    transfer's first entry on this node), its lock and its row in `transfers`."""
    for seq, kind, payload in entries:
        if kind == ev.BATCH:
            inner = payload["kind"]
            for item in payload["items"]:
                yield seq, inner, item
        elif kind in ev.TRANSFER_KINDS:
            yield from _expand_transfer(seq, payload)
        else:
            yield seq, kind, payload


def _expand_transfer(seq: int, payload: ev.Payload) -> Iterator[Applied]:
    for change_kind, change in payload.get("changes", ()):
        yield seq, change_kind, change
    if payload.get("first"):
        yield seq, ev.NONCE_USED, {"nonce": payload["id"]}
    lock = payload.get("lock")
    if lock == "set":
        yield seq, ev.LOCK_SET, payload
    elif lock == "release":
        yield seq, ev.LOCK_RELEASED, payload
    yield seq, ev.TRANSFER_STATE, payload


def apply(conn: sqlite3.Connection, entries: Iterable[Applied]) -> None:
    """Write the effect of entries, in log order, inside the caller's transaction."""
    for kind, run in groupby(_expand(entries), key=itemgetter(1)):
        handler = _HANDLERS.get(kind)
        if handler is None:
            raise LogIntegrityError(f"unknown log entry kind {kind!r}")
        sql, to_row = handler
        conn.executemany(sql, [to_row(seq, payload) for seq, _, payload in run])
