"""RDAP (RFC 9082/9083) for one node, with redirects to the registry authoritative elsewhere.

A client may ask any node about any resource, as it may ask any RIR: the node answers what it
holds, and sends the client on (301, as the RIRs do) when another registry is authoritative.
Which registry that is comes from `RdapAuthority`, built from the IANA node (which block IANA
gave to which RIR) corrected by what the RIRs hold in each other's blocks (cross-registry
holdings: ERX, legacy, inter-RIR transfers). The bootstrap files (RFC 9224) are cut from the same
map, so a client that bootstraps from a node and one that follows its redirects agree.

History: the `onereg_versions_0` extension (the RDAP counterpart of RIPE whois
`--list-versions` / `--show-version`), derived from the node's log alone:

* `GET /rdap/ip/<address>/versions`, `/rdap/ip/<prefix>/<length>/versions`,
  `/rdap/autnum/<asn>/versions` list every log entry that changed the record the query finds.
  A record is identified by its exact range, as RIPE identifies an inetnum and as whois
  `--list-versions` here does: a record carved up by a transfer is deleted, and what is left of
  it is a new record (registered by the same entry). Each entry of
  `onereg_versions_0_versions` gives `version` (1, 2, ... oldest first), `seq` (the log entry),
  `logKind` (the entry's kind: `batch`, `delegation.changed`, `transfer.registered`, ...),
  `eventAction` (`registration`, `last changed` or `deletion`), `eventDate` (the entry's log
  time), `handle` (unless the entry removed the record) and a `related` link to the version.
  A record that no longer exists is found by its exact prefix (an autnum range by its first
  AS number) only. Entries are found by a text search of the log's payloads and then decoded,
  so a history query reads the whole log once in SQLite but decodes only the entries that can
  concern the record.
* `GET .../versions/<n>` gives the record as version n left it: the usual ip network or autnum
  object whose `self` link is the version's URL, with `version-history` and `latest-version`
  links and an `onereg_versions_0_version` member (the version's list entry). The holder entity
  is the holder as it is now. A version that removed the record answers 404.
* Only these responses carry `onereg_versions_0` in `rdapConformance`. When the node has no
  history for the query and another registry is authoritative, the client is redirected (301)
  to that registry's `.../versions`.

Objects that came by transfer (their delegation's attrs carry `received_by` and `transfer`)
have a `transfer` event dated by the log entry that registered them. `/rdap/openapi.json` is an
OpenAPI 3.1 description of all of the above (see `rdap_openapi`).
"""

from __future__ import annotations

import ipaddress
import logging
import re
import sqlite3
import threading
import time
from bisect import bisect_right
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Hashable, Iterable, Mapping
from concurrent.futures import Executor
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Protocol, TypeVar

import orjson
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from onereg.core.registries import ALL_REGISTRIES, RIRS, RegistryId, Status
from onereg.core.resources import Afi, Resource, format_number, range_to_cidrs
from onereg.federation.authority import AuthorityBlock, AuthorityMap
from onereg.federation.guard import Deadline
from onereg.federation.layout import DataDir
from onereg.federation.node_config import Limits
from onereg.http import rdap_asof
from onereg.http import rdap_objects as obj
from onereg.http.offload import Offload, Refused
from onereg.http.rdap_cache import URL_MARK, AnswerCache, StampedLru, Template
from onereg.http.rdap_fast import FastLookups, Hit
from onereg.http.rdap_openapi import openapi_document
from onereg.registry import asof, dates
from onereg.registry import events as ev
from onereg.registry.asof import MomentError
from onereg.registry.node import Delegation, RegistryNode
from onereg.registry.projection import expand, payload_range
from onereg.registry.schema import key, unkey

log = logging.getLogger(__name__)

MAX_REQUEST_BYTES = 1024
ENTITY_RESOURCE_LIMIT = 100  # an entity lists at most this many (or max_results) resources
_HEADERS = {"Access-Control-Allow-Origin": "*"}  # RFC 7480 5.6: browsers may call RDAP directly
_HELD = frozenset((Status.ALLOCATED.value, Status.ASSIGNED.value))
_ORDER = {rid: i for i, rid in enumerate(ALL_REGISTRIES)}
_DIGITS = re.compile(r"^[0-9]{1,10}$")
_LENGTH = re.compile(r"^[0-9]{1,3}$")

# Who wins where claims overlap: a registry's held record in another RIR's block beats a
# recorded cross-registry holding (which may be pool space), which beats IANA's designation.
_RANK_IANA, _RANK_CROSS, _RANK_HELD = 0, 1, 2


@dataclass(frozen=True, slots=True)
class Span:
    """A run of numbers with one authoritative registry."""

    start: int
    end: int
    registry: RegistryId


@dataclass(frozen=True, eq=False)
class RdapAuthority:
    """Which registry is authoritative for each number, and where each registry's RDAP is.

    Immutable: a refresh builds a new one (see `LiveAuthority`), so a request never sees a map
    half rebuilt.
    """

    spans: Mapping[str, tuple[Span, ...]]
    iana: AuthorityMap
    base_urls: Mapping[RegistryId, str]
    publication: str
    # IANA blocks (afi, start, end) an RIR holds whole in one record (ARIN's 17.0.0.0/8): the
    # lookup of the block finds that record, not IANA's (see `resolve`)
    whole: frozenset[tuple[str, int, int]] = frozenset()
    _starts: dict[str, list[int]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        starts = {afi: [s.start for s in spans] for afi, spans in self.spans.items()}
        object.__setattr__(self, "_starts", starts)

    @classmethod
    def empty(cls, base_urls: Mapping[RegistryId, str] | None = None) -> RdapAuthority:
        return cls({a.value: () for a in Afi}, AuthorityMap([]), dict(base_urls or {}), "")

    @classmethod
    def build(
        cls,
        iana: RegistryNode | None,
        rirs: Iterable[RegistryNode],
        base_urls: Mapping[RegistryId, str],
    ) -> RdapAuthority:
        """From the IANA node and every RIR node available (any may be missing)."""
        amap = AuthorityMap.from_node(iana) if iana is not None else AuthorityMap([])
        claims: dict[str, list[tuple[int, int, int, RegistryId]]] = {a.value: [] for a in Afi}
        for afi, blocks in amap.blocks.items():
            for block in blocks:
                owner = block.registry or RegistryId.IANA
                claims[afi].append((block.start, block.end, _RANK_IANA, owner))
        times = [_last_time(iana)] if iana is not None else []
        rirs = list(rirs)
        whole: set[tuple[str, int, int]] = set()
        for node in rirs:
            whole.update(_held_whole(node, amap))
            times.append(_last_time(node))
            for afi, start, end in _cross_holdings(node):
                claims[afi].append((start, end, _RANK_CROSS, node.registry))
            for afi, start, end in _held_in_foreign_blocks(node, amap):
                claims[afi].append((start, end, _RANK_HELD, node.registry))
        spans = {afi: tuple(_sweep(c)) for afi, c in claims.items()}
        published = max((t for t in times if t), default="")
        return cls(spans, amap, dict(base_urls), published, frozenset(whole))

    def authoritative(self, afi: Afi, number: int) -> RegistryId | None:
        spans, starts = self.spans.get(afi.value, ()), self._starts.get(afi.value, [])
        index = bisect_right(starts, number) - 1
        if index >= 0 and spans[index].end >= number:
            return spans[index].registry
        return None

    def rdap_base(self, registry: RegistryId) -> str | None:
        """The registry's RDAP base (no trailing slash), if the federation knows where it is."""
        url = self.base_urls.get(registry)
        return None if url is None else url.rstrip("/") + "/rdap"

    def served_block(self, res: Resource) -> AuthorityBlock | None:
        """IANA's block exactly `res` when the IANA node is where it is served: the parent
        the RIRs' objects name. A block an RIR holds whole is that RIR's object instead."""
        block = self.iana_block(res)
        if block is None or (block.start, block.end) != (res.start, res.end):
            return None
        return None if (res.afi.value, res.start, res.end) in self.whole else block

    def iana_block(self, res: Resource) -> AuthorityBlock | None:
        """The IANA block wholly covering `res` (its parent object), if one does."""
        pieces = self.iana.pieces(res.afi.value, res.start, res.end)
        if len(pieces) != 1:
            return None
        block = pieces[0].block
        return block if block.start <= res.start and res.end <= block.end else None

    def services(self, afi: Afi) -> list[obj.Service]:
        """RFC 9224 services: each RIR's numbers, as prefixes (IP) or ranges (ASN).

        An ASN entry is always a range "N-M", a single number too ("7-7"): RFC 9224 (5.3)
        defines no other form, and clients that follow it (node-rdap) found nothing for a bare
        "7". The spans are already disjoint and merged where adjacent with one registry
        (`_sweep`), so every entry is as large as it can be."""
        entries: dict[RegistryId, list[str]] = defaultdict(list)
        for span in self.spans.get(afi.value, ()):
            if span.registry is RegistryId.IANA or span.registry not in self.base_urls:
                continue
            if afi is Afi.ASN:
                entries[span.registry].append(f"{span.start}-{span.end}")
            else:
                entries[span.registry] += [
                    f"{format_number(afi, net)}/{plen}"
                    for net, plen in range_to_cidrs(span.start, span.end, afi.bits)
                ]
        out: list[obj.Service] = []
        for rid in ALL_REGISTRIES:
            base = self.rdap_base(rid)
            if entries.get(rid) and base is not None:
                out.append((entries[rid], [base + "/"]))
        return out


def _last_time(node: RegistryNode) -> str:
    return _head(node)[1]


def _head(node: RegistryNode) -> tuple[int, str]:
    """The node's last log entry: (seq, time), (0, "") for an empty log. Every table is a
    projection of the log, so the seq names the node's state (the answer cache's key)."""
    row = node.conn.execute("SELECT seq, time FROM log ORDER BY seq DESC LIMIT 1").fetchone()
    return (0, "") if row is None else (int(row[0]), str(row[1]))


def _cross_holdings(node: RegistryNode) -> Iterable[tuple[str, int, int]]:
    for afi, start, end in node.conn.execute("SELECT afi, start, end FROM cross_holdings"):
        yield str(afi), unkey(start), unkey(end)


def _held_whole(node: RegistryNode, amap: AuthorityMap) -> Iterable[tuple[str, int, int]]:
    """IANA's IP blocks the node holds all of in one record (one index probe per block)."""
    for afi, blocks in amap.blocks.items():
        if afi == Afi.ASN.value:
            continue
        for block in blocks:
            if node.containing(Resource(Afi(afi), block.start, block.end)) is not None:
                yield afi, block.start, block.end


def _held_in_foreign_blocks(
    node: RegistryNode, amap: AuthorityMap
) -> Iterable[tuple[str, int, int]]:
    """Held records lying in blocks IANA gave to another RIR, even if no cross-registry holding
    was recorded for them yet (a record added after the last import).

    Asks the node per foreign block (an index range scan each: hundreds of blocks), never reads
    all of its records.
    """
    for afi, blocks in amap.blocks.items():
        for block in blocks:
            if block.registry is None or block.registry is node.registry:
                continue  # IANA's own space held by an RIR is overclaimed: the audit's business
            for d in node.overlapping(Resource(Afi(afi), block.start, block.end)):
                if d.status in _HELD:
                    lo, hi = max(d.resource.start, block.start), min(d.resource.end, block.end)
                    yield afi, lo, hi


Claim = tuple[int, int, int, RegistryId]  # (start, end, rank, registry)


def _sweep(claims: list[Claim]) -> list[Span]:
    """Disjoint spans from overlapping claims: the highest rank wins, then the registry first
    in the usual order (so that a conflict gives the same answer on every node)."""
    opening: dict[int, list[tuple[int, int, RegistryId]]] = defaultdict(list)
    closing: dict[int, list[tuple[int, int, RegistryId]]] = defaultdict(list)
    for start, end, rank, rid in claims:
        k = (rank, -_ORDER[rid], rid)
        opening[start].append(k)
        closing[end + 1].append(k)
    points = sorted(opening.keys() | closing.keys())
    active: Counter[tuple[int, int, RegistryId]] = Counter()
    spans: list[Span] = []
    for index, point in enumerate(points[:-1]):
        for k in closing.get(point, ()):
            active[k] -= 1
            if not active[k]:
                del active[k]
        for k in opening.get(point, ()):
            active[k] += 1
        if not active:
            continue
        rid = max(active)[2]
        last = points[index + 1] - 1
        if spans and spans[-1].registry is rid and spans[-1].end == point - 1:
            spans[-1] = Span(spans[-1].start, last, rid)
        else:
            spans.append(Span(point, last, rid))
    return spans


# --- keeping the authority current ---------------------------------------------------------


class LiveAuthority:
    """An `RdapAuthority` rebuilt when any node's log head moves.

    The caller supplies how to read the heads (cheap) and how to load the map (a few index scans
    per node, over a second for the largest registries); the heads are read at most every
    `min_interval` seconds, so a busy server does not query six databases per request. Only the
    very first load makes a request wait: later ones run in a background thread while requests
    keep getting the previous map, because a reload on the event loop after every transfer step
    stalled every client of the node for the length of the reload (issue 12's load test).
    Works the same whether the nodes are local files (as under `onereg up`) or mirrors of
    remote logs.
    """

    def __init__(
        self,
        load: Callable[[], RdapAuthority],
        heads: Callable[[], Hashable],
        min_interval: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        past: PastLoader | None = None,
    ) -> None:
        self._load, self._heads, self._interval, self._clock = load, heads, min_interval, clock
        self._past = past
        self._lock = threading.Lock()
        self._seen: Hashable = None
        self._current: RdapAuthority | None = None  # loaded at the first RDAP request
        self._checked = float("-inf")
        self._idle = threading.Event()  # set while no background refresh runs
        self._idle.set()
        self._reload_seconds = 0.0  # how long the last load took

    @property
    def current(self) -> RdapAuthority:
        return self()

    @property
    def loaded(self) -> bool:
        """Whether a map is there (asking for one before then waits for its first load)."""
        return self._current is not None

    def __call__(self) -> RdapAuthority:
        current = self._current
        if current is None:
            with self._lock:
                if self._current is None:
                    self._refresh()
                assert self._current is not None
                return self._current
        now = self._clock()
        if now - self._checked >= self._gap() and self._idle.is_set():
            self._checked = now
            self._idle.clear()
            threading.Thread(target=self._refresh_then_idle, daemon=True).start()
        return current

    def at(self, moment: datetime, res: Resource, then: RegistryNode, full: bool) -> RdapAuthority:
        """The authority as it was at `moment`, for `res` only (`authority_at`), `then` being
        the asking node replayed to that moment; today's map when the nodes' files are not
        known (a map loaded some other way)."""
        if self._past is None:
            return self()
        return self._past(moment, res, then, full)

    def _gap(self) -> float:
        """Seconds between checks: `min_interval`, or four times the last reload's length when
        that is longer, so that reloads take at most a fifth of a core however often the logs
        move (a transfer every 2 s moved them often enough to keep one reload always running,
        and its threads starved the node's queries)."""
        return max(self._interval, 4 * self._reload_seconds)

    def settled(self, timeout: float = 30.0) -> bool:
        """Wait until no background refresh runs (for callers that just wrote to a log)."""
        return self._idle.wait(timeout)

    def _refresh_then_idle(self) -> None:
        try:
            with self._lock:
                self._refresh()
        except Exception:  # keep serving the previous map; the next check tries again
            log.exception("reloading the RDAP authority map failed")
        finally:
            self._idle.set()

    def _refresh(self) -> None:
        heads = self._heads()
        if self._current is None or heads != self._seen:
            started = self._clock()
            self._current = self._load()
            self._seen = heads
            self._reload_seconds = self._clock() - started


def load_authority(data: DataDir, base_urls: Mapping[RegistryId, str]) -> RdapAuthority:
    """The authority of a federation whose nodes sit in one data directory."""
    with data.nodes() as nodes:
        return RdapAuthority.build(
            nodes.get(RegistryId.IANA), [nodes[r] for r in RIRS if r in nodes], base_urls
        )


# (moment, resource, the asking node as it was then, whether every RIR's claims are needed)
PastLoader = Callable[[datetime, Resource, RegistryNode, bool], RdapAuthority]


def authority_at(
    data: DataDir,
    base_urls: Mapping[RegistryId, str],
    moment: datetime,
    res: Resource,
    then: RegistryNode,
    full: bool = True,
) -> RdapAuthority:
    """The authority for `res` as it was at `moment`, from `data`'s nodes (a node's view: its
    own database and its verified mirrors) each replayed to its last entry by then, only as
    far as `res` reaches (`registry.asof`): so a past query is answered by, or sent to, the
    registry authoritative then (before an inter-registry transfer, the source), never to
    today's. Valid for the numbers of `res` only.

    `then` is the asking node already replayed (reused, not closed). Without `full`, only
    IANA's past blocks and `then` are read: enough when `then` has its own record of `res`
    (it answers; the map only names the parent block): about 10 ms of CPU on the 2018 nodes,
    where every RIR's past claims take a replay of the other logs (about 0.5 s of CPU;
    bench/bench_asof.py).
    """
    past: dict[RegistryId, RegistryNode] = {then.registry: then}
    opened: list[RegistryNode] = []

    def replay(rid: RegistryId) -> None:
        if rid in past or not data.exists(rid):
            return
        with data.read(rid) as node:
            try:
                cut = asof.entry_at(node, moment)
            except asof.BeforeLogError:
                return  # not begun by then: it claimed nothing
            opened.append(asof.replay(node, cut, within=res))
            past[rid] = opened[-1]

    try:
        replay(RegistryId.IANA)
        if full:
            owner = _block_owner(past.get(RegistryId.IANA), res)
            for rid in RIRS:
                if rid is not owner:  # the owner's records in its own block claim nothing
                    replay(rid)
        rirs = [past[r] for r in RIRS if r in past]
        return RdapAuthority.build(past.get(RegistryId.IANA), rirs, base_urls)
    finally:
        for node in opened:
            node.close()


def _block_owner(iana: RegistryNode | None, res: Resource) -> RegistryId | None:
    """The RIR IANA gave the one block strictly around `res` to: its node need not be read for
    who is authoritative in it (the IANA designation already names it; only other registries'
    holdings there can win), unless `res` is the block itself (`whole`, `served_block`)."""
    if iana is None:
        return None
    pieces = AuthorityMap.from_node(iana).pieces(res.afi.value, res.start, res.end)
    if len(pieces) != 1:
        return None
    block = pieces[0].block
    if not (block.start <= res.start and res.end <= block.end) or (
        (block.start, block.end) == (res.start, res.end)
    ):
        return None
    return block.registry


def log_heads(data: DataDir) -> tuple[int, ...]:
    """Each node's log size (0 when absent), read-only: this runs while nodes are written."""
    out = []
    for rid in ALL_REGISTRIES:
        path = data.node_path(rid)
        if not path.exists():
            out.append(0)
            continue
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            row = conn.execute("SELECT max(seq) FROM log").fetchone()
        except sqlite3.OperationalError:  # created but not yet given its schema
            row = None
        finally:
            conn.close()
        out.append(int(row[0]) if row and row[0] is not None else 0)
    return tuple(out)


def live_authority(
    data: DataDir,
    base_urls: Mapping[RegistryId, str],
    min_interval: float = 1.0,
    pool: Executor | None = None,
) -> LiveAuthority:
    """A live map of `data`'s nodes; loaded in `pool` (a process pool) when one is given.

    A load is about a second of pure Python (index scans of every node and a sweep over
    thousands of claims). In a thread of the serving process it held the GIL against every
    request for that long after each change of any log; in another process it costs the
    server only the unpickling of the result (0.15 MB, ~20 ms for LACNIC's map)."""
    urls = dict(base_urls)
    if pool is None:
        load: Callable[[], RdapAuthority] = lambda: load_authority(data, urls)  # noqa: E731
    else:
        load = lambda: pool.submit(load_authority, data, urls).result()  # noqa: E731

    def past(moment: datetime, res: Resource, then: RegistryNode, full: bool) -> RdapAuthority:
        return authority_at(data, urls, moment, res, then, full)

    return LiveAuthority(load, lambda: log_heads(data), min_interval, past=past)


# --- requests ------------------------------------------------------------------------------


class RdapError(Exception):
    """An RDAP error response (RFC 9083 section 6)."""

    def __init__(self, code: int, title: str, description: str) -> None:
        super().__init__(description)
        self.code, self.title, self.description = code, title, description


def _bad(description: str) -> RdapError:
    return RdapError(400, "Bad Request", description)


def _not_found(description: str) -> RdapError:
    return RdapError(404, "Not Found", description)


_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9][0-9]|[0-9])"
_IPV4 = re.compile(rf"{_OCTET}\.{_OCTET}\.{_OCTET}\.{_OCTET}", re.ASCII)


def parse_address(text: str) -> tuple[Afi, int]:
    """A plain IPv4 or IPv6 address: no zone, no leading zeros, nothing ipaddress would guess.

    Dotted quads as ipaddress takes them (decimal octets up to 255, no leading zeros) are read
    by one regular expression, the most common query at a third of ipaddress's cost; anything
    else goes to ipaddress, which also words the errors."""
    if _IPV4.fullmatch(text):
        a, b, c, d = text.split(".")
        return Afi.IPV4, int(a) << 24 | int(b) << 16 | int(c) << 8 | int(d)
    if len(text) > 45 or "%" in text:
        raise _bad(f"{text[:64]!r} is not an IP address")
    try:
        addr = ipaddress.ip_address(text)
    except ValueError:
        raise _bad(f"{text!r} is not an IP address") from None
    return (Afi.IPV4 if addr.version == 4 else Afi.IPV6), int(addr)


def parse_prefix(address: str, length: str) -> Resource:
    afi, net = parse_address(address)
    if not _LENGTH.match(length) or int(length) > afi.bits:
        raise _bad(f"prefix length {length[:16]!r} is impossible for {afi} (0..{afi.bits})")
    size = 1 << (afi.bits - int(length))
    if net % size:
        raise _bad(f"{address}/{length} has host bits set")
    return Resource(afi, net, net + size - 1)


def parse_asn(text: str) -> int:
    if not _DIGITS.match(text) or int(text) > Afi.ASN.max_value:
        raise _bad(f"{text[:32]!r} is not an AS number (0..4294967295, digits only)")
    return int(text)


def ip_of(text: str) -> Resource:
    """The one-address range an IP lookup's path names."""
    afi, number = parse_address(text)
    return Resource(afi, number, number)


def autnum_of(text: str) -> Resource:
    """The one-number range an autnum lookup's path names."""
    number = parse_asn(text)
    return Resource(Afi.ASN, number, number)


def query_path(res: Resource) -> str:
    """The canonical path of a query for `res` (used in redirects)."""
    if res.afi is Afi.ASN:
        return f"autnum/{res.start}"
    if res.start == res.end:
        return f"ip/{format_number(res.afi, res.start)}"
    return obj.network_path(res)


@dataclass(frozen=True, slots=True)
class Redirect:
    location: str


def covering(node: RegistryNode, res: Resource) -> Delegation | None:
    """The node's record containing all of `res`; a node's records never overlap, so at most
    one does."""
    for d in node.overlapping(res):
        if d.resource.contains(res):
            return d
    return None


def log_time(node: RegistryNode, seq: int) -> str | None:
    row = node.conn.execute("SELECT time FROM log WHERE seq = ?", (seq,)).fetchone()
    return None if row is None else str(row[0])


def holder_of(node: RegistryNode, handle: str | None, dated: bool = False) -> obj.Holder | None:
    """The holder as an entity; `dated` when its own `last changed` event is shown (a
    top-level entity: a nested one shows none, so its date is not worked out)."""
    info = None if handle is None else node.holder(handle)
    if info is None:
        return None
    changed = dates.holder_dates(node, info["handle"], info["seq"]).last_changed if dated else None
    return obj.Holder(info["handle"], info["name"], info["cc"], changed)


def stored_handle(node: RegistryNode, asked: str) -> str | None:
    """The holder handle as the node stores it, for a handle asked in any case (as RIPE, ARIN
    and APNIC match handles; whoisit upper-cases them). Two stored handles that differ only in
    case are ambiguous: the error names them so that the client can ask with the exact one."""
    found = node.holder_handles(asked)
    if len(found) > 1:
        names = ", ".join(repr(h) for h in found)
        raise _not_found(f"{asked!r} matches several handles differing in case: {names}")
    return found[0] if found else None


def transfer_time(node: RegistryNode, d: Delegation) -> str | None:
    """When a delegation that came by transfer was registered: the log time of the transfer's
    last entry at this node (its registration), else of the entry that wrote the record."""
    attrs = d.attrs or {}
    if not attrs.get("received_by"):
        return None
    row = None
    if attrs.get("transfer"):
        row = node.conn.execute(
            "SELECT seq FROM transfers WHERE id = ?", (str(attrs["transfer"]),)
        ).fetchone()
    return log_time(node, int(row[0]) if row is not None else d.seq)


def record_of(
    node: RegistryNode,
    auth: RdapAuthority,
    d: Delegation,
    updated: str | None,
    changed: str | None = None,
) -> obj.Record:
    """What an object needs besides its delegation.

    The parent is IANA's block around the record (the RIR databases have no covering record of
    their own in a delegated file), named only when the IANA node serves it (`resolve`), with
    an "up" link there. The record is legacy when that block is LEGACY in IANA's registry (as
    130.59.0.0/16 at RIPE NCC, inside ARIN-administered 130/8), which RIPE NCC types LEGACY."""
    parent = parent_href = None
    legacy = False
    block = auth.iana_block(d.resource)
    if block is not None:
        legacy = block.iana_status == "LEGACY"
        iana = auth.rdap_base(RegistryId.IANA)
        around = Resource(d.resource.afi, block.start, block.end)
        if (
            node.registry is not RegistryId.IANA
            and iana is not None
            and d.resource.afi is not Afi.ASN
            and auth.served_block(around) is not None  # not the record itself, held whole
        ):
            parent = around
            parent_href = f"{iana}/{obj.network_path(parent)}"
    return obj.Record(
        d,
        changed or dates.record_dates(node, d.seq, d.date, d.attrs).last_changed,
        holder_of(node, d.holder),
        parent,
        updated,
        transfer_time(node, d),
        legacy,
        parent_href,
    )


class Located(Protocol):
    """Where a record lies (a `Delegation`, or only its range: `RecordRange`)."""

    @property
    def resource(self) -> Resource: ...


L = TypeVar("L", bound=Located)


@dataclass(frozen=True, slots=True)
class RecordRange:
    """Only the range of the record a query finds: what the answer cache is keyed by."""

    resource: Resource


def record_range(node: RegistryNode, res: Resource) -> RecordRange | None:
    """The range of `covering(node, res)`, by the same index probe without decoding the row
    (the lookup on the event loop, `rdap_routes.on_loop`, needs no more to find a cached
    answer): the record starting last at or before `res` is the only one that can hold it."""
    row = node.conn.execute(
        "SELECT start, end FROM delegations WHERE afi = ? AND start <= ? "
        "ORDER BY start DESC LIMIT 1",
        (res.afi.value, key(res.start)),
    ).fetchone()
    if row is None or row[1] < key(res.end):
        return None
    return RecordRange(Resource(res.afi, unkey(row[0]), unkey(row[1])))


def resolve(node: RegistryNode, auth: RdapAuthority, res: Resource) -> Delegation | Redirect:
    """The node's own record, or a redirect to the authoritative registry (`locate`)."""
    return locate(node, auth, res, covering)


def locate(
    node: RegistryNode,
    auth: RdapAuthority,
    res: Resource,
    find: Callable[[RegistryNode, Resource], L | None],
) -> L | Redirect:
    """The node's own record (as `find` gives it), or a redirect to the authoritative registry.

    An RIR answers for what it holds even where IANA's map names another registry (it is the
    one that recorded the holding). The IANA node holds every block, so it answers only for what
    no RIR is authoritative for, and sends the rest on, as rdap.iana.org does; but a query for
    exactly one of IANA's blocks is answered by the IANA node (and sent there by the others),
    since that block is the parent the RIRs' objects name (`parentHandle` and their "up" link).
    """
    parent = _parent_block(node, auth, res, find)
    if parent is not None:
        return parent
    owner = auth.authoritative(res.afi, res.start)
    base = None
    if owner is not None and owner is not node.registry:
        base = auth.rdap_base(owner)
    target = None if base is None else Redirect(f"{base}/{query_path(res)}")
    if node.registry is RegistryId.IANA and target is not None:
        return target
    local = find(node, res)
    if local is not None:
        return local
    if target is not None:
        return target
    raise _not_found(f"{res} is not registered at {node.registry.display_name}")


def _parent_block(
    node: RegistryNode,
    auth: RdapAuthority,
    res: Resource,
    find: Callable[[RegistryNode, Resource], L | None],
) -> L | Redirect | None:
    """IANA's block when `res` is exactly one the IANA node serves (the parent the RIRs'
    objects name): the block itself at the IANA node, a redirect there from a node that has
    no record of it; None for every other query."""
    if res.afi is Afi.ASN or res.start == res.end or auth.served_block(res) is None:
        return None
    local = find(node, res)
    if node.registry is RegistryId.IANA:
        return local if local is not None and local.resource == res else None
    iana = auth.rdap_base(RegistryId.IANA)
    return Redirect(f"{iana}/{query_path(res)}") if iana and local is None else None


# --- history (onereg_versions_0) ---------------------------------------------------------------

_DELEGATION_KINDS = (ev.DELEGATION_ADDED, ev.DELEGATION_CHANGED, ev.DELEGATION_REMOVED)


def _payload_delegation(registry: RegistryId, seq: int, p: ev.Payload) -> Delegation:
    afi = Afi(p["afi"])
    start, end = payload_range(p)
    return Delegation(
        registry,
        Resource(afi, start, end),
        str(p["start"]),
        int(p["value"]),
        str(p["cc"]),
        str(p["date"]),
        str(p["status"]),
        p.get("holder"),
        p.get("opaque"),
        orjson.dumps(p.get("ext") or []).decode(),
        p.get("attrs") or None,
        seq,
    )


def record_versions(
    node: RegistryNode, afi: Afi, start: int, end: int | None, texts: Iterable[str] = ()
) -> list[obj.Version]:
    """Every log entry that changed the record of range start..end, oldest first.

    A record is identified by its exact range, as RIPE identifies an inetnum by its primary key
    (and as whois `--list-versions` does here): one that changes size is a new record, the old
    one deleted. With `end` None, the range is the last one the log gave a record beginning at
    `start` (an autnum asked by its first number).

    Entries are found by the text of the record's first number in their canonical payload
    (`"start":"<text>"`), then read through the projection's own expansion of batch and
    transfer entries, so only the few entries that can concern the record are decoded. `texts`
    adds spellings other than the canonical one (the record's own `start_text`).
    """
    needles = {f'"start":"{t}"'.encode() for t in (format_number(afi, start), *texts)}
    where = " OR ".join("instr(payload, ?) > 0" for _ in needles)
    rows = node.conn.execute(
        f"SELECT seq, time, kind, payload FROM log WHERE {where} ORDER BY seq", tuple(needles)
    ).fetchall()
    entries: list[tuple[int, str, str, list[tuple[str, ev.Payload]]]] = []
    for seq, when, kind, payload in rows:
        items = [
            (item_kind, item)
            for _, item_kind, item in expand([(int(seq), str(kind), orjson.loads(payload))])
            if item_kind in _DELEGATION_KINDS
            and item.get("afi") == afi.value
            and payload_range(item)[0] == start
        ]
        if items:
            entries.append((int(seq), str(when), str(kind), items))
    if end is None:
        if not entries:
            return []
        end = payload_range(entries[-1][3][-1][1])[1]
    versions: list[obj.Version] = []
    state: Delegation | None = None
    for seq, when, kind, items in entries:
        before = state
        for item_kind, item in items:
            if payload_range(item)[1] != end:
                continue
            removed = item_kind == ev.DELEGATION_REMOVED
            state = None if removed else _payload_delegation(node.registry, seq, item)
        if before is None and state is None:
            continue
        if before is not None and state is not None and replace(state, seq=before.seq) == before:
            continue  # untouched, or written again unchanged: not a new version
        change = "added" if before is None else "removed" if state is None else "changed"
        versions.append(obj.Version(len(versions) + 1, seq, when, kind, change, state))
    return versions


AuthoritySource = RdapAuthority | Callable[[], RdapAuthority]
Handler = Callable[[Request], Awaitable[Response]]
Build = Callable[[Request, RegistryNode, obj.Context, Deadline], Response]
T = TypeVar("T")


def rdap_routes(
    get_node: Callable[[], RegistryNode],
    authority: AuthoritySource,
    base_url: str,
    *,
    terms_url: str | None = None,
    inaccuracy_url: str | None = None,
    port43: str | None = None,
    stale: Callable[[], list[str]] | None = None,
    offload: Offload | None = None,
    answers: AnswerCache | None = None,
    fast: FastLookups | None = None,
) -> list[Route]:
    """Routes under /rdap/ for the node `get_node` returns.

    `authority` is a fixed `RdapAuthority` or a callable giving the current one (a
    `LiveAuthority`), asked on every request. `base_url` is this node's public URL, without
    /rdap; `port43` the host of its whois service, named in every object when there is one.
    Every query runs off the event loop in `offload`'s workers (lookups and expensive queries
    in separate pools, the latter rate-limited per client), on the worker's own connection to
    the database `get_node()` opened; without `offload`, default limits and no rate limit.
    The exception is a plain lookup of one address, prefix or AS number: a few index probes,
    answered on the loop, from `answers` (encoded answers per record, `rdap_cache`) when the
    node's state has not moved since the answer was built. With `fast`, the same lookups are
    given to `rdap_fast.RdapFastPath`, which answers them before the router.
    """
    current = authority if callable(authority) else (lambda: authority)
    root = base_url.rstrip("/")
    work = offload or Offload(Limits(), rate_limited=False)
    max_results = work.limits.max_results
    bootstraps: dict[Afi, tuple[RdapAuthority, list[obj.Service]]] = {}
    cache = answers if answers is not None else AnswerCache()
    located: StampedLru[RecordRange | Redirect] = StampedLru(cache.entries)

    sites: dict[RegistryId, obj.Site] = {}

    def context(request: Request, node: RegistryNode) -> obj.Context:
        return context_for(str(request.url), node)

    def context_for(url: str, node: RegistryNode) -> obj.Context:
        site = sites.get(node.registry)
        if site is None:
            site = sites[node.registry] = obj.Site(
                root,
                terms_url or f"{root}{TERMS_PATH}",
                inaccuracy_url or f"{root}{INACCURACY_PATH}",
                node.registry,
                port43,
            )
        url = url[:MAX_REQUEST_BYTES]  # echoed in links: not a huge query twice over
        notes = tuple(stale()) if stale else ()
        return obj.Context(site, url, obj.CONFORMANCE + obj.RIR_SEARCH_CONFORMANCE, notes)

    def endpoint(
        build: Build, expensive: bool = False, query: Callable[[Request], Resource] | None = None
    ) -> Handler:
        """The route's handler: `build` runs in a worker with its own connection (expensive
        ones rate-limited per client); refusals are RDAP error objects (RFC 9083 section 6).
        A lookup with a `query` (the resource its path names) and no query string is answered
        on the event loop (`on_loop`): one record, a few index probes, often cached."""

        async def handle(request: Request) -> Response:
            node = get_node()
            ctx = context(request, node)
            if query is not None and not request.scope.get("query_string"):
                quick = on_loop(node, ctx, lambda: checked_query(request, query))
                if isinstance(quick, Hit):
                    return hit_json(quick)
                if quick is not None:
                    return quick

            def job(reader: RegistryNode, deadline: Deadline) -> Response:
                try:
                    return build(request, reader, ctx, deadline)
                except RdapError as exc:
                    return rdap_error(ctx, exc)

            try:
                _check_size(request)
                if expensive or rdap_asof.AS_OF in request.query_params:
                    client = request.client.host if request.client else "unknown"
                    return await work.expensive(client, node.registry, node.path, job)
                return await work.lookup(node.registry, node.path, job)
            except RdapError as exc:
                return rdap_error(ctx, exc)
            except Refused as exc:
                title = "Too Many Requests" if exc.status == 429 else "Service Unavailable"
                answer = rdap_error(ctx, RdapError(exc.status, title, exc.reason))
                answer.headers["Retry-After"] = str(exc.retry_after)
                return answer

        return handle

    def past_authority(moment: datetime, res: Resource, then: RegistryNode) -> RdapAuthority:
        """Who was authoritative for `res` at `moment`: read from every log only when the node
        had no record of its own then (it redirects, or IANA's node always may)."""
        if not isinstance(authority, LiveAuthority):
            return current()  # a fixed map: no logs to read the past from
        full = then.registry is RegistryId.IANA or covering(then, res) is None
        return authority.at(moment, res, then, full)

    def answer(
        node: RegistryNode,
        ctx: obj.Context,
        res: Resource,
        request: Request | None = None,
        auth: RdapAuthority | None = None,
        live: bool | None = None,
    ) -> Response:
        """The answer for `res`: for the node's current state (cached) when `live` (by
        default: when there is a `request`), else for the past state `node` is."""
        past = None if request is None else request.query_params.get(rdap_asof.AS_OF)
        if past is not None:  # the node and the authority as they were then (rdap_asof)
            try:
                return rdap_asof.past_answer(
                    node,
                    res,
                    past,
                    lambda then, moment: answer(
                        then, ctx, res, auth=past_authority(moment, res, then)
                    ),
                )
            except MomentError as exc:
                raise RdapError(*rdap_asof.status_of(exc), str(exc)) from None
        auth = auth or current()
        found = resolve(node, auth, res)
        if isinstance(found, Redirect):
            return RedirectResponse(found.location, status_code=301, headers=_HEADERS)
        head, last = _head(node)
        if not (request is not None if live is None else live):  # a past state (asOf): not
            # the node's current answer, not cached
            rec = record_of(node, auth, found, last or None)
            return rdap_json(obj.top_level(ctx, obj.resource_object(ctx, rec)))
        record = (node.registry, found.resource)
        template = cache.get(record, (head, auth, ctx.stale))
        if template is None:
            marked = replace(ctx, request_url=URL_MARK)
            rec = record_of(node, auth, found, last or None)
            body = orjson.dumps(obj.top_level(marked, obj.resource_object(marked, rec)))
            template = Template.of(body)
            cache.put(record, (head, auth, ctx.stale), template)
        return cached_json(template, ctx.request_url)

    def on_loop(
        node: RegistryNode, ctx: obj.Context, query: Callable[[], Resource]
    ) -> Response | Hit | None:
        """The lookup's answer, given on the event loop (None only before the authority map's
        first load: then a worker does it). Resolving costs two or three index probes on the
        loop's own read connection (a B-tree descent each, bounded whatever the query); then
        a redirect is answered, and a record's answer is taken from the cache when it was
        built for the node's current state, else built here (a few more index probes and
        ~100 µs of Python, one snapshot of the log). A worker thread would hold the same
        interpreter lock for the same work, so it spared the loop nothing, while the hop to it
        cost more CPU than the build (measured: ~1 ms against ~0.1 ms per miss).

        What a query found is remembered for the state it was found in (`located`), so a
        repeated query costs one read of the log head; the head is read after the record is
        found, so a write in between makes a miss, never an answer of a state mixed from
        two. A cached answer is a `Hit` (its body), for the caller to send."""
        if isinstance(authority, LiveAuthority) and not authority.loaded:
            return None  # the first load of the map takes seconds: in a worker, not here
        try:
            res = query()
            reader = work.reader(node.registry, node.path)
            auth = current()
            asked = (node.registry, res)
            head = _head(reader)[0]
            found = located.get(asked, (head, auth))
            if found is None:
                found = locate(reader, auth, res, record_range)
                before, head = head, _head(reader)[0]
                if head == before:  # found in that state: remembered for it
                    located.put(asked, (head, auth), found)
            if isinstance(found, Redirect):
                return RedirectResponse(found.location, status_code=301, headers=_HEADERS)
            template = cache.get((node.registry, found.resource), (head, auth, ctx.stale))
            if template is None:  # built here, in one snapshot of the log
                reader.conn.execute("BEGIN")
                try:
                    return answer(reader, ctx, res, live=True)
                finally:
                    reader.conn.execute("ROLLBACK")
        except RdapError as exc:
            return rdap_error(ctx, exc)
        return Hit(template.render(ctx.request_url))

    def fast_lookup(kind: str, value: str, url: str) -> Hit | Response | None:
        """`on_loop` for `rdap_fast`: the path's last segment and the request URL, no
        Request (the path is plain and short: nothing for `_check_size` to refuse)."""
        node = get_node()
        parse = ip_of if kind == "ip" else autnum_of
        return on_loop(node, context_for(url, node), lambda: parse(value))

    if fast is not None:
        fast.lookup = fast_lookup

    def ip_query(request: Request) -> Resource:
        return ip_of(request.path_params["address"])

    def prefix_query(request: Request) -> Resource:
        params = request.path_params
        return parse_prefix(params["prefix"], params["length"])

    def autnum_query(request: Request) -> Resource:
        return autnum_of(request.path_params["asn"])

    def ip(request: Request, node: RegistryNode, ctx: obj.Context, deadline: Deadline) -> Response:
        return answer(node, ctx, ip_query(request), request)

    def prefix(
        request: Request, node: RegistryNode, ctx: obj.Context, deadline: Deadline
    ) -> Response:
        return answer(node, ctx, prefix_query(request), request)

    def autnum(
        request: Request, node: RegistryNode, ctx: obj.Context, deadline: Deadline
    ) -> Response:
        return answer(node, ctx, autnum_query(request), request)

    def entity(
        request: Request, node: RegistryNode, ctx: obj.Context, deadline: Deadline
    ) -> Response:
        asked = request.path_params["handle"]
        if len(asked) > 255:
            raise _bad("entity handle too long")
        handle = stored_handle(node, asked)
        holder = None if handle is None else holder_of(node, handle, dated=True)
        if handle is None or holder is None:
            raise _not_found(f"{node.registry.display_name} has no entity {asked!r}")
        auth, updated = current(), _last_time(node) or None
        limit = min(ENTITY_RESOURCE_LIMIT, max_results)
        records = (
            _checked(deadline, record_of(node, auth, d, updated))
            for d in node.holder_resources(handle, limit=limit + 1)
        )
        return rdap_json(obj.entity_lookup(ctx, holder, records, limit))

    def help_(
        request: Request, node: RegistryNode, ctx: obj.Context, deadline: Deadline
    ) -> Response:
        return rdap_json(obj.help_object(ctx))

    def bootstrap(afi: Afi, description: str) -> Handler:
        def build(
            request: Request, node: RegistryNode, ctx: obj.Context, deadline: Deadline
        ) -> Response:
            auth = current()
            said = description + "".join(f" Stale: {n}." for n in ctx.stale)
            cached = bootstraps.get(afi)
            if cached is None or cached[0] is not auth:  # once per map, not per request
                cached = bootstraps[afi] = (auth, auth.services(afi))
            body = obj.bootstrap_file(said, auth.publication, cached[1])
            return Response(orjson.dumps(body), media_type="application/json", headers=_HEADERS)

        return endpoint(build)

    def ip_search(
        request: Request, node: RegistryNode, ctx: obj.Context, deadline: Deadline
    ) -> Response:
        params = request.path_params
        if "length" in params:
            res = parse_prefix(params["prefix"], params["length"])
        else:
            afi, number = parse_address(params["prefix"])
            res = Resource(afi, number, number)
        found = rir_search(node, _relation(params["relation"]), res, max_results + 1)
        auth, updated = current(), _last_time(node) or None
        objects = [
            _checked(deadline, obj.network_object(ctx, record_of(node, auth, d, updated)))
            for d in found[:max_results]
        ]
        truncated = max_results if len(found) > max_results else None
        return rdap_json(obj.search_results(ctx, "ipSearchResults", objects, truncated))

    def autnum_search(
        request: Request, node: RegistryNode, ctx: obj.Context, deadline: Deadline
    ) -> Response:
        relation = _relation(request.path_params["relation"])
        if relation not in ("rdap-up", "rdap-top"):
            raise _bad("autnum searches are rdap-up and rdap-top only")
        number = parse_asn(request.path_params["asn"])
        found = rir_search(node, relation, Resource(Afi.ASN, number, number), max_results + 1)
        auth, updated = current(), _last_time(node) or None
        objects = [
            obj.autnum_object(ctx, record_of(node, auth, d, updated)) for d in found[:max_results]
        ]
        truncated = max_results if len(found) > max_results else None
        return rdap_json(obj.search_results(ctx, "autnumSearchResults", objects, truncated))

    def history(
        node: RegistryNode, res: Resource
    ) -> tuple[list[obj.Version], str, str | None] | Redirect:
        """The versions of the record `res` finds, the list's URL and the record's, or where
        to ask instead (in the order `resolve` uses: the IANA node defers to the RIRs)."""
        rdap = f"{root}/rdap"
        auth = current()
        owner = auth.authoritative(res.afi, res.start)
        base = None if owner in (None, node.registry) else auth.rdap_base(owner)
        target = None if base is None else Redirect(f"{base}/{query_path(res)}/versions")
        if node.registry is RegistryId.IANA and target is not None:
            return target
        local = covering(node, res)
        if local is not None:
            whole = local.resource
            versions = record_versions(node, whole.afi, whole.start, whole.end, (local.start_text,))
            latest = f"{rdap}/{obj.object_path(whole)}"
            return versions, f"{latest}/versions", latest
        if res.afi is Afi.ASN or res.start != res.end:  # a record gone: by its exact key only
            end = None if res.afi is Afi.ASN else res.end
            versions = record_versions(node, res.afi, res.start, end)
            if versions:
                gone = next(v.delegation for v in versions if v.delegation is not None)
                return versions, f"{rdap}/{obj.object_path(gone.resource)}/versions", None
        if target is not None:
            return target
        raise _not_found(f"{node.registry.display_name} has no history for {res}")

    def versioned(ctx: obj.Context) -> obj.Context:
        return replace(ctx, conformance=(*ctx.conformance, obj.VERSIONS_EXTENSION))

    def query_of(request: Request) -> Resource:
        params = request.path_params
        if "asn" in params:
            number = parse_asn(params["asn"])
            return Resource(Afi.ASN, number, number)
        if "length" in params:
            return parse_prefix(params["prefix"], params["length"])
        afi, number = parse_address(params["address"])
        return Resource(afi, number, number)

    def versions(
        request: Request, node: RegistryNode, ctx: obj.Context, deadline: Deadline
    ) -> Response:
        found = history(node, query_of(request))
        if isinstance(found, Redirect):
            return RedirectResponse(found.location, status_code=301, headers=_HEADERS)
        listed, href, latest = found
        return rdap_json(obj.versions_list(versioned(ctx), listed, href, latest))

    def version(
        request: Request, node: RegistryNode, ctx: obj.Context, deadline: Deadline
    ) -> Response:
        res = query_of(request)
        text = request.path_params["n"]
        if not _DIGITS.match(text) or int(text) == 0:
            raise _bad(f"{text[:16]!r} is not a version number (1, 2, ...)")
        found = history(node, res)
        if isinstance(found, Redirect):
            return RedirectResponse(f"{found.location}/{text}", status_code=301, headers=_HEADERS)
        listed, href, latest = found
        number = int(text)
        if number > len(listed):
            raise _not_found(f"{res} has {len(listed)} version(s) at {node.registry.display_name}")
        chosen = listed[number - 1]
        if chosen.delegation is None:
            raise _not_found(
                f"version {number} of {res} is its deletion (log entry {chosen.seq}, {chosen.time})"
            )
        # dated by registry.dates, as whois --show-version dates the same version
        rec = record_of(node, current(), chosen.delegation, _last_time(node) or None)
        return rdap_json(obj.version_object(versioned(ctx), chosen, rec, href, latest))

    def page(render: Callable[[obj.Site], str]) -> Handler:
        """One of the HTML pages the notices link to (their links say text/html)."""

        async def handle(request: Request) -> Response:
            site = context(request, get_node()).site
            return Response(render(site), media_type=obj.HTML_TYPE, headers=_HEADERS)

        return handle

    async def openapi(request: Request) -> Response:
        node = get_node()
        document = openapi_document(root, node.registry.display_name, parameter_examples(node))
        return Response(orjson.dumps(document), media_type="application/json", headers=_HEADERS)

    def unsupported(
        request: Request, node: RegistryNode, ctx: obj.Context, deadline: Deadline
    ) -> Response:
        first = request.path_params["rest"].split("/", 1)[0]
        if first in ("domain", "nameserver", "domains", "nameservers", "entities"):
            raise RdapError(501, "Not Implemented", f"{first} queries are not served here")
        raise _bad(f"no RDAP query /rdap/{request.path_params['rest'][:64]}")

    return [
        Route("/rdap/openapi.json", openapi),
        Route(TERMS_PATH, page(obj.terms_page)),
        Route(INACCURACY_PATH, page(obj.inaccuracy_page)),
        Route("/rdap/ip/{address}", endpoint(ip, query=ip_query)),
        Route("/rdap/ip/{address}/versions", endpoint(versions, expensive=True)),
        Route("/rdap/ip/{address}/versions/{n}", endpoint(version, expensive=True)),
        Route("/rdap/ip/{prefix}/{length}", endpoint(prefix, query=prefix_query)),
        Route("/rdap/ip/{prefix}/{length}/versions", endpoint(versions, expensive=True)),
        Route("/rdap/ip/{prefix}/{length}/versions/{n}", endpoint(version, expensive=True)),
        Route("/rdap/autnum/{asn}", endpoint(autnum, query=autnum_query)),
        Route("/rdap/autnum/{asn}/versions", endpoint(versions, expensive=True)),
        Route("/rdap/autnum/{asn}/versions/{n}", endpoint(version, expensive=True)),
        Route("/rdap/entity/{handle}", endpoint(entity, expensive=True)),
        Route("/rdap/help", endpoint(help_)),
        Route(
            "/rdap/bootstrap/ipv4.json",
            bootstrap(Afi.IPV4, "RDAP bootstrap file for IPv4 address allocations"),
        ),
        Route(
            "/rdap/bootstrap/ipv6.json",
            bootstrap(Afi.IPV6, "RDAP bootstrap file for IPv6 address allocations"),
        ),
        Route(
            "/rdap/bootstrap/asn.json",
            bootstrap(Afi.ASN, "RDAP bootstrap file for Autonomous System Number allocations"),
        ),
        Route("/rdap/ips/rirSearch1/{relation}/{prefix}", endpoint(ip_search, expensive=True)),
        Route(
            "/rdap/ips/rirSearch1/{relation}/{prefix}/{length}", endpoint(ip_search, expensive=True)
        ),
        Route("/rdap/autnums/rirSearch1/{relation}/{asn}", endpoint(autnum_search, expensive=True)),
        Route("/rdap/{rest:path}", endpoint(unsupported)),
        Route("/rdap/{rest:path}", preflight, methods=["OPTIONS"]),
    ]


TERMS_PATH, INACCURACY_PATH = obj.TERMS_PATH, obj.INACCURACY_PATH
_CORS_METHODS = "GET, HEAD, OPTIONS"
_CORS_HEADERS = "Accept, Accept-Language, If-None-Match, If-Modified-Since"
_HEADER_LIST = re.compile(r"^[A-Za-z0-9-]+(\s*,\s*[A-Za-z0-9-]+)*$")


async def preflight(request: Request) -> Response:
    """A CORS preflight (OPTIONS) on any RDAP path: RFC 7480 5.6 wants RDAP usable from web
    pages of any origin, and a browser asks first whenever a script adds a header of its own.
    The headers asked for are allowed when they are a plain list of names (nothing is secret
    here: every answer is public and no cookie or credential is read)."""
    asked = request.headers.get("access-control-request-headers", "").strip()
    allowed = asked if asked and len(asked) <= 512 and _HEADER_LIST.match(asked) else _CORS_HEADERS
    headers = {
        **_HEADERS,
        "Access-Control-Allow-Methods": _CORS_METHODS,
        "Access-Control-Allow-Headers": allowed,
        "Access-Control-Max-Age": "86400",
        "Allow": _CORS_METHODS,
    }
    return Response(status_code=204, headers=headers)


def port43_host(public_whois: str) -> str | None:
    """The host of a node's public whois address ("host:port"), for `port43`: RFC 9083 4.7
    names the whois server by host name or address only (the port is 43 by definition)."""
    text = public_whois.strip()
    if text.count(":") == 1 or text.startswith("["):  # host:port or [v6]:port; else bare v6
        host, _, port = text.rpartition(":")
        text = host if port.isdigit() and host else text
    return text.strip("[]") or None


def parameter_examples(node: RegistryNode) -> dict[str, str | int]:
    """Path parameter values that find the node's first records (OpenAPI examples, so that a
    client or a fuzzer sees real objects, not only 404s and redirects)."""
    examples: dict[str, str | int] = {}
    for afi in (Afi.IPV4, Afi.IPV6, Afi.ASN):
        row = node.conn.execute(
            "SELECT start, end, holder FROM delegations WHERE afi = ? "
            "ORDER BY holder IS NULL, start LIMIT 1",
            (afi.value,),
        ).fetchone()
        if row is None:
            continue
        start, end = unkey(row[0]), unkey(row[1])
        if afi is Afi.ASN:
            examples.setdefault("asn", start)
        elif "address" not in examples:
            net, plen = range_to_cidrs(start, end, afi.bits)[0]
            examples["address"] = format_number(afi, min(start + 1, end))
            examples["prefix"], examples["length"] = format_number(afi, net), plen
        if row[2] is not None:
            examples.setdefault("handle", str(row[2]))
    return examples


def cached_json(template: Template, url: str) -> Response:
    """A cached answer for the request URL `url` (what `rdap_json` gives for the same body)."""
    return hit_json(Hit(template.render(url)))


def hit_json(hit: Hit) -> Response:
    """A cached answer as a Response (what `rdap_fast` sends without one)."""
    return Response(hit.body, 200, headers=_HEADERS, media_type=obj.MEDIA_TYPE)


def rdap_json(body: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status, headers=_HEADERS, media_type=obj.MEDIA_TYPE)


def rdap_error(ctx: obj.Context, exc: RdapError) -> Response:
    return rdap_json(obj.error_object(ctx, exc.code, exc.title, exc.description), exc.code)


def _checked(deadline: Deadline, item: T) -> T:
    """`item`, once the deadline is checked: for the loops that build answers."""
    deadline.check()
    return item


def checked_query(request: Request, query: Callable[[Request], Resource]) -> Resource:
    """The resource a lookup's path names, once the request's size is checked."""
    _check_size(request)
    return query(request)


def _check_size(request: Request) -> None:
    size = len(request.scope.get("raw_path") or b"") + len(request.scope.get("query_string", b""))
    if size > MAX_REQUEST_BYTES:
        raise RdapError(414, "URI Too Long", f"queries are limited to {MAX_REQUEST_BYTES} bytes")


_RELATIONS = {"rdap-up", "rdap-down", "rdap-top", "rdap-bottom"}


def _relation(text: str) -> str:
    """RFC 9910 relations; the bare forms (up, down, ...) are taken too."""
    name = text if text.startswith("rdap-") else f"rdap-{text}"
    if name not in _RELATIONS:
        raise _bad(f"unknown rirSearch1 relation {text[:32]!r}")
    return name


def rir_search(node: RegistryNode, relation: str, res: Resource, limit: int) -> list[Delegation]:
    """RFC 9910 over one node, whose records never overlap: every record is both the top and
    the bottom of its own tree, so up/top/bottom find the record covering the query and down
    finds the records inside it.

    rdap-up wants an object strictly less specific than the query, so an exact match has no
    "up" here (its parent is IANA's block, another registry's object). rdap-down gives at most
    `limit` records, read by an index range scan that stops there (cost linear in the answer).
    """
    if relation == "rdap-down":
        inside = [d for d in node.within(res, limit + 1) if d.resource != res][:limit]
        if not inside:
            raise _not_found(f"{node.registry.display_name} has nothing more specific in {res}")
        return inside
    found = covering(node, res)
    if found is None or (relation == "rdap-up" and found.resource == res):
        raise _not_found(f"{node.registry.display_name} has no {relation[5:]} object for {res}")
    return [found]
