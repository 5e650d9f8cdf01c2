"""Versions of whois objects, read from the node's log.

An object's version is a log entry whose net effect on it was to create, change or delete it:
a `batch` entry stands for its items and a transfer entry for its `changes`, exactly as the
projection reads them (`projection.expand`). An entry that removes a block and adds it back
unchanged in range (a transfer of a whole block) is one version, an update, as it is one event.

A delegation object is identified by its exact range, as RIPE identifies an inetnum by its
primary key: a record that changes size is a new object, and the old one is deleted.

Finding an object's entries needs a pass over the log, far too slow per query on a full node,
so the index (object -> signed entry numbers) is kept in memory and caught up with the log on
demand. The catch-up reads through a read-only connection of its own in a worker thread, so a
first build over a large log never stalls the event loop, whose thread alone uses the node's
connection.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from onereg.core.resources import Afi, Resource
from onereg.registry import events as ev
from onereg.registry import projection
from onereg.registry.node import RegistryNode

ObjectKey = tuple[str, int, int]  # (afi, start, end) of a delegation
_DELEGATION_KINDS = frozenset({ev.DELEGATION_ADDED, ev.DELEGATION_CHANGED, ev.DELEGATION_REMOVED})
_HOLDER_KINDS = frozenset({ev.HOLDER_REGISTERED, ev.HOLDER_CHANGED, ev.HOLDER_RETIRED})
_READ_CHUNK = 2_000


def resource_key(res: Resource) -> ObjectKey:
    return (res.afi.value, res.start, res.end)


def key_resource(key: ObjectKey) -> Resource:
    return Resource(Afi(key[0]), key[1], key[2])


@dataclass(frozen=True, slots=True)
class Version:
    """One log entry's effect on an object: it existed after it (`deleted` False) or not."""

    seq: int
    deleted: bool


def _item_key(payload: ev.Payload) -> ObjectKey:
    start, end = projection.payload_range(payload)
    return (str(payload["afi"]), start, end)


def _effects(
    seq: int, kind: str, payload: ev.Payload
) -> tuple[dict[ObjectKey, bool], dict[str, bool]]:
    """Net effect of one entry: which objects exist after it (True) or were deleted (False)."""
    objects: dict[ObjectKey, bool] = {}
    holders: dict[str, bool] = {}
    for _, item_kind, item in projection.expand([(seq, kind, payload)]):
        if item_kind in _DELEGATION_KINDS:
            objects[_item_key(item)] = item_kind != ev.DELEGATION_REMOVED
        elif item_kind in _HOLDER_KINDS:
            holders[str(item["handle"])] = item_kind != ev.HOLDER_RETIRED
    return objects, holders


class HistoryIndex:
    """Every object's versions (signed entry numbers: negative for a deletion), caught up with
    the log on demand."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.size = 0
        self._objects: dict[ObjectKey, list[int]] = {}
        self._holders: dict[str, list[int]] = {}
        self._lock = asyncio.Lock()

    async def catch_up(self, head: int) -> None:
        """Index the log up to `head` (the node's log size as the caller saw it)."""
        async with self._lock:
            if head < self.size:  # the file was rebuilt or replaced: start again
                self.size, self._objects, self._holders = 0, {}, {}
            if head > self.size:
                await asyncio.to_thread(self._read, head)

    def _read(self, head: int) -> None:
        conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True)
        try:
            after = self.size
            while after < head:
                rows = conn.execute(
                    "SELECT seq, kind, payload FROM log WHERE seq > ? AND seq <= ? "
                    "ORDER BY seq LIMIT ?",
                    (after, head, _READ_CHUNK),
                ).fetchall()
                if not rows:
                    break
                for seq, kind, payload in rows:
                    self._index(int(seq), str(kind), orjson.loads(payload))
                after = int(rows[-1][0])
                self.size = after
        finally:
            conn.close()

    def _index(self, seq: int, kind: str, payload: ev.Payload) -> None:
        if kind == ev.BATCH:
            if payload.get("kind") not in _DELEGATION_KINDS | _HOLDER_KINDS:
                return
        elif kind not in _DELEGATION_KINDS | _HOLDER_KINDS and kind not in ev.TRANSFER_KINDS:
            return
        objects, holders = _effects(seq, kind, payload)
        for key, present in objects.items():
            self._objects.setdefault(key, []).append(seq if present else -seq)
        for handle, present in holders.items():
            self._holders.setdefault(handle, []).append(seq if present else -seq)

    def object_versions(self, key: ObjectKey) -> list[Version]:
        return [Version(abs(s), s < 0) for s in self._objects.get(key, ())]

    def holder_versions(self, handle: str) -> list[Version]:
        return [Version(abs(s), s < 0) for s in self._holders.get(handle, ())]


def current_run(versions: list[Version]) -> list[Version]:
    """The versions since the object was last created (what `created:` dates)."""
    for index in range(len(versions) - 1, -1, -1):
        if versions[index].deleted:
            return versions[index + 1 :]
    return versions


def _entry(node: RegistryNode, seq: int) -> tuple[str, str, ev.Payload] | None:
    row = node.conn.execute("SELECT time, kind, payload FROM log WHERE seq = ?", (seq,)).fetchone()
    if row is None:
        return None
    return str(row[0]), str(row[1]), orjson.loads(row[2])


def _items(seq: int, kind: str, payload: ev.Payload) -> Iterable[tuple[str, ev.Payload]]:
    for _, item_kind, item in projection.expand([(seq, kind, payload)]):
        yield item_kind, item


def object_state(node: RegistryNode, seq: int, key: ObjectKey) -> ev.Payload | None:
    """The delegation payload that entry `seq` left for the object (None if it removed it)."""
    entry = _entry(node, seq)
    if entry is None:
        return None
    found: ev.Payload | None = None
    for kind, item in _items(seq, entry[1], entry[2]):
        if kind in _DELEGATION_KINDS and _item_key(item) == key:
            found = None if kind == ev.DELEGATION_REMOVED else item
    return found


def holder_state(node: RegistryNode, seq: int, handle: str) -> dict[str, Any] | None:
    """The holder (handle, name, cc) as entry `seq` left it (None if it retired it)."""
    entry = _entry(node, seq)
    if entry is None:
        return None
    found: dict[str, Any] | None = None
    for kind, item in _items(seq, entry[1], entry[2]):
        if kind in _HOLDER_KINDS and item.get("handle") == handle:
            found = None if kind == ev.HOLDER_RETIRED else dict(item)
    return found


def state_before(
    node: RegistryNode, versions: list[Version], index: int, key: ObjectKey | str
) -> ev.Payload | dict[str, Any] | None:
    """The object as the last non-deleting version up to `index` left it: what a deletion
    deleted, or the version itself."""
    for version in reversed(versions[: index + 1]):
        if version.deleted:
            continue
        if isinstance(key, str):
            return holder_state(node, version.seq, key)
        return object_state(node, version.seq, key)
    return None
