"""The IPv6 and AS number views: IANA's blocks (IPv6 within 2000::/3, every AS number block)
with the registry each is designated to, and what the registries' records hold in each.

Read from the node's view (its database and verified mirrors) once per state of the logs
(`SpaceCache`, keyed like the map by every log's head), straight from SQLite: tens of
thousands of rows, no objects per row beyond a tuple.
"""

from __future__ import annotations

import bisect
import threading
import time
from collections.abc import Hashable
from typing import Any

from onereg.core.registries import RIRS, RegistryId
from onereg.core.resources import Afi, Resource
from onereg.federation.guard import Deadline
from onereg.federation.layout import DataDir
from onereg.http.rdap import RdapAuthority, log_heads
from onereg.web.tiles import LEGENDS, REGISTRY_CODES, delegation_columns

GLOBAL_UNICAST = Resource.parse("2000::/3")
HEADS_EVERY = 1.0  # seconds between reads of the log heads
Row = tuple[int, int, str, str]  # start, end, holder, registry


def _records(data: DataDir, rid: RegistryId, afi: Afi, deadline: Deadline) -> list[Row]:
    """(start, end, holder, registry) of the registry's records of one family."""
    rows = delegation_columns(data, rid, "coalesce(holder, opaque, '')", afi, deadline)
    return [(int.from_bytes(s, "big"), int.from_bytes(e, "big"), h, rid.value) for s, e, h in rows]


def _block_rows(afi: Afi, auth: RdapAuthority, records: list[Row]) -> list[dict[str, Any]]:
    """One row per IANA block of the family: its designation and the records inside it."""
    records.sort()
    starts = [r[0] for r in records]
    out = []
    for block in auth.iana.blocks.get(afi.value, []):
        res = Resource(afi, block.start, block.end)
        if afi is Afi.IPV6 and not GLOBAL_UNICAST.contains(res):
            continue
        inside = records[
            bisect.bisect_left(starts, block.start) : bisect.bisect_right(starts, block.end)
        ]
        held = sum(min(end, block.end) - start + 1 for start, end, _, _ in inside)
        first = inside[0] if inside else None
        out.append(
            {
                "range": str(res),
                # numbers for the AS band (an IPv6 address does not fit JSON's numbers)
                "start": block.start if afi is Afi.ASN else str(block.start),
                "end": block.end if afi is Afi.ASN else str(block.end),
                "registry": None if block.registry is None else block.registry.value,
                "colour": LEGENDS["registry"][
                    0 if block.registry is None else REGISTRY_CODES[block.registry.value]
                ][1],
                "designation": block.holder or "IANA pool",
                "ianaStatus": block.iana_status or block.status,
                "date": block.date,
                "records": len(inside),
                "holders": len({h for _, _, h, _ in inside if h}),
                "heldShare": round(held / res.size, 6),
                "first": None if first is None else str(Resource(afi, first[0], first[1])),
                "firstHolder": None if first is None else first[2],
            }
        )
    return out


def number_space(data: DataDir, auth: RdapAuthority, deadline: Deadline) -> dict[str, Any]:
    """The IPv6 and AS number tables of the explorer's `space` page."""
    answer: dict[str, Any] = {}
    for afi, name in ((Afi.IPV6, "ipv6"), (Afi.ASN, "asn")):
        records: list[Row] = []
        for rid in RIRS:
            deadline.check()
            records += _records(data, rid, afi, deadline)
        answer[name] = _block_rows(afi, auth, records)
    return answer


class SpaceCache:
    """`number_space` for the current state of the logs (heads read at most once a second)."""

    def __init__(self, data: DataDir) -> None:
        self.data = data
        self._lock = threading.Lock()
        self._checked = float("-inf")
        self._heads: tuple[int, ...] = ()
        self._held: tuple[Hashable, dict[str, Any]] | None = None

    def answer(self, auth: RdapAuthority, deadline: Deadline) -> dict[str, Any]:
        with self._lock:
            now = time.monotonic()
            if now - self._checked >= HEADS_EVERY:
                self._heads, self._checked = log_heads(self.data), now
            key = (auth, self._heads)
            if self._held is None or self._held[0] != key:
                self._held = (key, number_space(self.data, auth, deadline))
            return self._held[1]
