"""Encoded RDAP answers kept per record, so that a repeated lookup costs no rebuild.

An answer for a record is a function of the node's state (its log head: every table is a
projection of the log), the authority map (parent block, legacy type, redirects), the stale
notices of the peers' mirrors, and the URL asked for, which the links echo as their `value`.
Building it takes several index probes (dates, holder, transfer time) and a few hundred
dicts; most of a lookup's CPU went there and to the hop to a worker thread. So the body is
encoded once per (record, state) with a placeholder where the request URL goes, and each
answer splices the URL in: the bytes are those a fresh build would give (orjson encodes a
string the same wherever it stands).

Entries carry the state they were built from (`Stamp`) and count only while it is current: a
new log entry (an import, a transfer, anything) makes every older entry a miss, and a bounded
LRU drops them as new ones come. The record a query finds is remembered the same way
(`StampedLru` of query to record or redirect), so a repeated query reads only the log head.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

import orjson

# Stands for the request URL while an answer is built; never a registry's data (the tests
# check the encoded body holds it exactly where the links' values are).
URL_MARK = "\ue000onereg-request-url\ue000"
_MARK_BYTES = orjson.dumps(URL_MARK)[1:-1]
DEFAULT_ENTRIES = 20_000  # answers are 2-3 kB: about 50 MB at most
V = TypeVar("V")


@dataclass(frozen=True, slots=True)
class Template:
    """An encoded answer cut where the request URL goes."""

    parts: tuple[bytes, ...]

    @classmethod
    def of(cls, body: bytes) -> Template:
        return cls(tuple(body.split(_MARK_BYTES)))

    def render(self, url: str) -> bytes:
        return orjson.dumps(url)[1:-1].join(self.parts)


class StampedLru(Generic[V]):
    """Values by key, each valid for the `stamp` (log head, authority, notices) it was made
    under; at most `entries` of them, least recently used dropped first. Shared by the event
    loop and the lookup workers, hence the lock."""

    def __init__(self, entries: int = DEFAULT_ENTRIES) -> None:
        self.entries = entries
        self._items: OrderedDict[Hashable, tuple[Hashable, V]] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def get(self, record: Hashable, stamp: Hashable) -> V | None:
        with self._lock:
            found = self._items.get(record)
            if found is None or found[0] != stamp:
                self.misses += 1
                return None
            self._items.move_to_end(record)
            self.hits += 1
            return found[1]

    def put(self, record: Hashable, stamp: Hashable, value: V) -> None:
        if self.entries <= 0:
            return
        with self._lock:
            self._items[record] = (stamp, value)
            self._items.move_to_end(record)
            while len(self._items) > self.entries:
                self._items.popitem(last=False)

    def __len__(self) -> int:
        return len(self._items)


class AnswerCache(StampedLru[Template]):
    """Encoded answers by record (the registry and the record's range)."""
