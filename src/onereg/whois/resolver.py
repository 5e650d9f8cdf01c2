"""Answering one parsed query from a node: lookups, hierarchy flags, referrals and versions.

Protocol-free (text in, text out) and synchronous: the service runs it in a worker thread on a
read-only connection of that thread's own, under a `Deadline` it checks per object. Its cost is
linear in its output: every database access is an index probe or a range scan that stops after
`max_objects` records, so `-m 0.0.0.0/0` costs what 500 objects cost, not what the node holds.

Referrals. A node answers for what it holds; for a resource another registry is authoritative
for (per the map RDAP redirects by, `onereg.http.rdap.RdapAuthority`) it refers the client
on, printing both forms real servers print: IANA's `refer:` line (whois.iana.org) and ARIN's
`ReferralServer: whois://host:port`, which whois(1) follows by itself. The IANA node, like
whois.iana.org, prints the referral together with its own block object; an RIR node prints the
referral alone, and answers itself for space it holds inside another registry's block.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from onereg.core.errors import ResourceParseError
from onereg.core.registries import RegistryId
from onereg.core.resources import Afi, Resource, format_number
from onereg.federation.guard import NO_DEADLINE, Deadline
from onereg.registry import dates
from onereg.registry import events as ev
from onereg.registry.node import Delegation, RegistryNode
from onereg.whois import history as hist
from onereg.whois import past, rpsl
from onereg.whois.dialects import Dialect, dialect_of
from onereg.whois.query import (
    ALL_MORE,
    EXACT,
    ONE_LESS,
    ONE_MORE,
    Query,
    WhoisError,
    no_entries,
)

VERSION = "onereg-whois/1"


class Authority(Protocol):
    """Which registry is authoritative for a number: what `onereg.http.rdap.RdapAuthority`
    answers. A protocol, not that class, because the layering keeps the network front ends
    (http, whois) from importing each other; the same object serves both."""

    def authoritative(self, afi: Afi, number: int) -> RegistryId | None: ...


@runtime_checkable
class PastAuthority(Protocol):
    """Who was authoritative at a past moment, for one resource, read from every log as it was
    then (`onereg.http.rdap.LiveAuthority.at`); `then` is the asking node replayed to that
    moment, `full` whether every registry's claims are needed (the node had no record)."""

    def at(self, moment: datetime, res: Resource, then: RegistryNode, full: bool) -> Authority: ...


def log_time(node: RegistryNode, seq: int) -> str | None:
    row = node.conn.execute("SELECT time FROM log WHERE seq = ?", (seq,)).fetchone()
    return None if row is None else str(row[0])


def covering(node: RegistryNode, res: Resource) -> Delegation | None:
    """The record containing all of `res` (a node's records never overlap: at most one)."""
    return node.containing(res)


def truncated_notice(limit: int) -> str:
    """Said after the last object when a search found more than the server lists, in the
    wording of RIPE's `% Note:` notices (its "this output has been filtered")."""
    return (
        "% Note: this output has been truncated.\n"
        f"%       Only the first {limit} objects are shown (this server's limit).\n"
        "%       Narrow the query to see the rest, or use the registry's delegated file.\n"
    )


@dataclass(frozen=True, slots=True)
class Context:
    """Everything a query is answered from, fixed for the query's duration."""

    node: RegistryNode
    authority: Authority
    whois_hosts: Mapping[RegistryId, str]
    history: hist.HistoryIndex
    max_objects: int
    deadline: Deadline = NO_DEADLINE
    rdap_base: str | None = None  # this node's RDAP (".../rdap"), named by ARIN's `Ref:`
    past: PastAuthority | None = None  # the authority at a past moment (`--as-of`, whois.past)

    @property
    def source(self) -> str:
        return rpsl.source_name(self.node.registry)

    @property
    def dialect(self) -> Dialect:
        return dialect_of(self.node.registry)


def answer(ctx: Context, query: Query) -> str:
    """The body of the answer (between the service's header and footer)."""
    if query.info is not None:
        return _info(ctx, query.info)
    foreign = _foreign_sources(ctx, query)
    if foreign is not None:
        return foreign
    if query.versions:
        return _versions(ctx, query)
    if query.as_of is not None:  # the node as it was then, replayed from its log (whois.past)
        return past.answer_then(ctx, query, _lookup)
    return _lookup(ctx, query)


# --- plain and hierarchical lookups ---------------------------------------------------------


_SHORT_PREFIX = re.compile(r"^(\d{1,3}(?:\.\d{1,3}){0,2})/(\d{1,2})$")


def _parse_resource(key: str) -> Resource | None:
    """The resource a search key names, in any form `Resource.parse` reads or LACNIC's short
    IPv4 prefix (`200.57.128/19`, as LACNIC's `inetnum:` prints it)."""
    if len(key) > 100:
        return None
    short = _SHORT_PREFIX.match(key)
    if short is not None:
        octets = short.group(1).split(".")
        key = ".".join(octets + ["0"] * (4 - len(octets))) + "/" + short.group(2)
    try:
        return Resource.parse(key)
    except (ResourceParseError, ValueError):
        return None


def _lookup(ctx: Context, query: Query) -> str:
    res = _parse_resource(query.key)
    parts: list[str] = []
    if query.hierarchy is not None and (res is None or res.afi is Afi.ASN):
        parts.append(
            "%WARNING:902: useless IP flag passed\n%\n"
            "% An IP flag (-l, -L, -m, -M, -x, -d or -b) used without an IP key.\n"
        )
    shown: set[str] = set()
    blocks: list[str] = []
    referral = None
    if res is None:
        blocks += _by_handle(ctx, query, shown)
    else:
        found, truncated = _find(ctx, query, res)
        referral = _referral(ctx, res, bool(found))
        for d in found:
            ctx.deadline.check()
            obj = _record_object(ctx, d, query.unfiltered)
            if query.wants(obj.object_type):
                blocks.append(_related_block(ctx, query, obj, d.holder, shown))
        if truncated:
            blocks.append(truncated_notice(ctx.max_objects))
    if query.wants(rpsl.ORGANISATION) and query.key not in shown:
        holder = _holder_object(ctx, query.key)
        if holder is not None:
            blocks.append(f"% Information related to '{holder.key}'\n\n{holder.text()}")
    if referral is not None:
        parts.append(referral)
    if not blocks and referral is None:
        raise no_entries(ctx.source)
    return "\n".join(parts + blocks)


def _by_handle(ctx: Context, query: Query, shown: set[str]) -> list[str]:
    """The record a registry-specific network handle names (ARIN's `NET-74-125-0-0-1`): the
    one starting at the handle's address, which ARIN's answers print as `NetHandle:`."""
    named = ctx.dialect.handle_address(query.key)
    d = None if named is None else ctx.node.containing(named)
    if named is None or d is None or d.resource.start != named.start:
        return []
    obj = _record_object(ctx, d, query.unfiltered)
    if not query.wants(obj.object_type):
        return []
    return [_related_block(ctx, query, obj, d.holder, shown)]


def _find(ctx: Context, query: Query, res: Resource) -> tuple[list[Delegation], bool]:
    """The node's records the flags ask for, and whether the list was cut at `max_objects`.

    A node's records never overlap, so at most one contains `res`: the exact match, the
    less specifics and the default lookup are one index probe."""
    flag = query.hierarchy if res.afi is not Afi.ASN else None
    if flag in (ONE_MORE, ALL_MORE):
        return _more_specifics(ctx, res, one_level=flag == ONE_MORE)
    around = ctx.node.containing(res)
    if around is None:
        return [], False
    if flag == EXACT and around.resource != res:
        return [], False
    if flag == ONE_LESS and around.resource == res:
        return [], False
    return [around], False  # -L, or the exact match, or else the one containing it


def _more_specifics(ctx: Context, res: Resource, one_level: bool) -> tuple[list[Delegation], bool]:
    """Records inside `res` in address order, read lazily and cut after `max_objects`: the
    cost is that of the output. `one_level` skips anything inside a record already listed
    (nothing, while records do not nest)."""
    found: list[Delegation] = []
    listed_to = -1
    for d in ctx.node.starting_within(res):
        ctx.deadline.check()
        if d.resource.end > res.end or d.resource == res:
            continue
        if one_level and d.resource.start <= listed_to:
            continue
        if len(found) == ctx.max_objects:
            return found, True
        found.append(d)
        listed_to = d.resource.end
    return found, False


def _referral(ctx: Context, res: Resource, answered: bool) -> str | None:
    """The referral for `res`, when another registry is authoritative for it and either the
    node has nothing of its own there or the node is IANA's (which always refers)."""
    owner = ctx.authority.authoritative(res.afi, res.start)
    if owner is None or owner is ctx.node.registry:
        return None
    if answered and ctx.node.registry is not RegistryId.IANA:
        return None  # held here although in another registry's block: this node answers
    what = format_number(res.afi, res.start) if res.afi.is_ip and res.size == 1 else str(res)
    return referral_text(owner, ctx.whois_hosts.get(owner), what, ctx.node.registry)


def referral_text(owner: RegistryId, host: str | None, what: str, here: RegistryId) -> str:
    lines = [
        f"% {what} is not managed by {here.display_name}: "
        f"{owner.display_name} is the authoritative registry.",
    ]
    if host is None:
        lines.append(f"% No whois service is known for {owner.display_name}.")
        return "\n".join(lines) + "\n"
    lines += [f"% Query {owner.display_name}'s whois service at {host} instead.", ""]
    lines.append(f"refer:          {host}")
    lines.append(f"ReferralServer: whois://{host}")
    return "\n".join(lines) + "\n"


def _related_block(
    ctx: Context, query: Query, obj: rpsl.RpslObject, holder: str | None, shown: set[str]
) -> str:
    text = f"% Information related to '{obj.key}'\n\n{obj.text()}"
    inline = ctx.dialect.holder_inline
    if holder and not query.no_recursion and not inline and holder not in shown:
        org = _holder_object(ctx, holder)
        if org is not None:
            shown.add(holder)
            text += "\n" + org.text()
    return text


# --- objects from the projection ------------------------------------------------------------


def _created(ctx: Context, key: hist.ObjectKey | str) -> str | None:
    """The log time of the entry that (re)created the object: a holder's `created:`, and a
    record's when its registration date is unknown."""
    versions = (
        ctx.history.holder_versions(key)
        if isinstance(key, str)
        else ctx.history.object_versions(key)
    )
    run = hist.current_run(versions)
    return log_time(ctx.node, run[0].seq) if run else None


def _record_object(ctx: Context, d: Delegation, unfiltered: bool) -> rpsl.RpslObject:
    holder = ctx.node.holder(d.holder) if d.holder else None
    when = dates.record_dates(ctx.node, d.seq, d.date, d.attrs)
    facts = rpsl.RecordFacts(
        registry=ctx.node.registry,
        resource=d.resource,
        cc=d.cc,
        status=d.status,
        holder=d.holder,
        holder_name=holder["name"] if holder else None,
        attrs=d.attrs,
        created=when.registered or _created(ctx, hist.resource_key(d.resource)),
        last_modified=when.last_changed,
        refer_whois=_refer_whois(ctx, d.holder),
        provenance=_provenance(d.status, d.opaque, d.date, d.seq),
        rdap_url=_rdap_url(ctx, d.resource),
    )
    return ctx.dialect.record(facts, filtered=not unfiltered)


def _rdap_url(ctx: Context, res: Resource) -> str | None:
    """Where the node's RDAP answers for the object: its first number, which finds exactly
    it (a node's records never overlap)."""
    if ctx.rdap_base is None:
        return None
    if res.afi is Afi.ASN:
        return f"{ctx.rdap_base}/autnum/{res.start}"
    return f"{ctx.rdap_base}/ip/{format_number(res.afi, res.start)}"


def _refer_whois(ctx: Context, holder: str | None) -> str | None:
    """On the IANA node a block's holder is an RIR: name its whois, as whois.iana.org does."""
    if ctx.node.registry is not RegistryId.IANA or holder is None:
        return None
    try:
        return ctx.whois_hosts.get(RegistryId(holder))
    except ValueError:
        return None


def _provenance(status: str, opaque: str | None, date: str, seq: int) -> list[str]:
    lines = [f"delegated status {status}, registration date {date or 'unknown'}"]
    if opaque:
        lines.append(f"delegated opaque-id {opaque}")
    lines.append(f"log entry {seq}")
    return lines


def _holder_object(ctx: Context, handle: str) -> rpsl.RpslObject | None:
    if not handle or len(handle) > 255:
        return None
    found = ctx.node.holder_handles(handle)  # in any case, as RDAP matches them
    info = ctx.node.holder(found[0]) if len(found) == 1 else None
    if info is None:
        return None
    handle = info["handle"]
    when = dates.holder_dates(ctx.node, handle, info["seq"])
    return ctx.dialect.holder(
        rpsl.HolderFacts(
            ctx.node.registry,
            info["handle"],
            info["name"],
            info["cc"],
            when.registered or _created(ctx, handle),
            when.last_changed,
            None if ctx.rdap_base is None else f"{ctx.rdap_base}/entity/{info['handle']}",
        )
    )


# --- versions -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Subject:
    """The object whose versions are asked for."""

    object_type: str
    key: str
    versions: list[hist.Version]
    render: Callable[[int], rpsl.RpslObject | None]


def _subject(ctx: Context, query: Query) -> _Subject | None:
    res = _parse_resource(query.key)
    if res is not None:
        okey = hist.resource_key(res)
        versions = ctx.history.object_versions(okey)
        if not versions:
            current = covering(ctx.node, res)  # an address in the object asked about
            if current is not None:
                okey = hist.resource_key(current.resource)
                versions = ctx.history.object_versions(okey)
        if versions:
            target = hist.key_resource(okey)

            def render_object(
                index: int, found: list[hist.Version] = versions
            ) -> rpsl.RpslObject | None:
                return _object_version(ctx, okey, found, index, query.unfiltered)

            return _Subject(
                rpsl.object_type_of(target), rpsl.primary_key(target), versions, render_object
            )
    handle = query.key
    held = ctx.history.holder_versions(handle)
    if held:

        def render_holder(index: int) -> rpsl.RpslObject | None:
            return _holder_version(ctx, handle, held, index)

        return _Subject(rpsl.ORGANISATION, handle, held, render_holder)
    return None


def _versions(ctx: Context, query: Query) -> str:
    subject = _subject(ctx, query)
    if subject is None or not query.wants(subject.object_type):
        raise no_entries(ctx.source)
    if query.list_versions:
        return _version_list(ctx, subject)
    number = query.show_version or 0
    count = len(subject.versions)
    if not 1 <= number <= count:
        raise WhoisError(
            117,
            f"version cannot exceed {count} for this object",
            "Versions are numbers greater or equal to 1",
            "but cannot exceed the object's current version number.",
        )
    version = subject.versions[number - 1]
    obj = subject.render(number - 1)
    when = rpsl.version_time(log_time(ctx.node, version.seq) or "")
    current = " (current version)" if number == count and not version.deleted else ""
    operation = "DELETE" if version.deleted else "UPDATE"
    head = (
        f'% Version {number}{current} of object "{subject.key}"\n'
        f"% This version was a {operation} operation on {when}\n"
        f'% You can use "--list-versions" to get a list of versions for an object.\n'
    )
    if version.deleted:
        head += "% The object below is as this operation deleted it.\n"
    return head + ("\n" + obj.text() if obj is not None else "")


def _version_list(ctx: Context, subject: _Subject) -> str:
    pad = max(len("rev#"), len(str(len(subject.versions))))
    lines = [
        f'% Version history for {subject.object_type.upper()} object "{subject.key}"',
        '% You can use "--show-version rev#" to get an exact version of the object.',
        "",
    ]
    last = subject.versions[-1]
    if last.deleted:
        when = rpsl.version_time(log_time(ctx.node, last.seq) or "")
        lines += [f"% This object was deleted on {when}", ""]
    lines += [f"{'rev#':<{pad}}  {'Date':<16}  Op.", ""]
    for number, version in enumerate(subject.versions[: ctx.max_objects], start=1):
        ctx.deadline.check()
        when = rpsl.version_time(log_time(ctx.node, version.seq) or "")
        op = "DEL" if version.deleted else "ADD/UPD"
        lines.append(f"{number:<{pad}}  {when:<16}  {op}")
    more = len(subject.versions) > ctx.max_objects
    return "\n".join(lines) + "\n" + ("\n" + truncated_notice(ctx.max_objects) if more else "")


def _object_version(
    ctx: Context,
    key: hist.ObjectKey,
    versions: list[hist.Version],
    index: int,
    unfiltered: bool,
) -> rpsl.RpslObject | None:
    state = hist.state_before(ctx.node, versions, index, key)
    if state is None:
        return None
    run_start = _run_start(versions, index)
    shown = versions[index]
    holder = state.get("holder")
    when = dates.record_dates(ctx.node, shown.seq, str(state.get("date", "")), state.get("attrs"))
    created = when.registered or (log_time(ctx.node, run_start.seq) if run_start else None)
    facts = rpsl.RecordFacts(
        registry=ctx.node.registry,
        resource=hist.key_resource(key),
        cc=str(state.get("cc", "")),
        status=str(state.get("status", "")),
        holder=holder,
        holder_name=None,
        attrs=state.get("attrs"),
        created=created,
        last_modified=log_time(ctx.node, shown.seq) if shown.deleted else when.last_changed,
        refer_whois=_refer_whois(ctx, holder),
        provenance=_provenance(
            str(state.get("status", "")),
            state.get("opaque"),
            str(state.get("date", "")),
            shown.seq,
        ),
    )
    return ctx.dialect.record(facts, filtered=not unfiltered)


def _run_start(versions: list[hist.Version], index: int) -> hist.Version | None:
    """The version that (re)created the object shown at `index` (a deletion shows the run it
    ended)."""
    start = None
    for position, version in enumerate(versions[: index + 1]):
        if not version.deleted:
            start = start or version
        elif position != index:
            start = None
    return start


def _holder_version(
    ctx: Context, handle: str, versions: list[hist.Version], index: int
) -> rpsl.RpslObject | None:
    state: dict[str, Any] | ev.Payload | None = hist.state_before(ctx.node, versions, index, handle)
    if state is None:
        return None
    run_start = _run_start(versions, index)
    created = log_time(ctx.node, run_start.seq) if run_start else None
    return ctx.dialect.holder(
        rpsl.HolderFacts(
            ctx.node.registry,
            handle,
            str(state.get("name", "")),
            str(state.get("cc", "")),
            created,
            log_time(ctx.node, versions[index].seq),
        )
    )


# --- sources and -q -------------------------------------------------------------------------


def _foreign_sources(ctx: Context, query: Query) -> str | None:
    """`-s` naming only other registries: their data is theirs to serve, so refer there."""
    if not query.sources or query.all_sources or ctx.node.registry in query.sources:
        return None
    for rid in query.sources:
        host = ctx.whois_hosts.get(rid)
        if host is not None:
            return referral_text(rid, host, f"source {rpsl.source_name(rid)}", ctx.node.registry)
    raise no_entries(",".join(rpsl.source_name(r) for r in query.sources))


def _info(ctx: Context, topic: str) -> str:
    if topic == "version":
        return f"% {VERSION}\n"
    if topic == "types":
        return "".join(f"{name}\n" for name in rpsl.OBJECT_TYPES)
    size = ctx.node.head()[0]
    lines = [f"{ctx.source}:3:N:0-{size}"]
    for rid, host in sorted(ctx.whois_hosts.items()):
        if rid is not ctx.node.registry:
            lines.append(f"% {rpsl.source_name(rid)}: served at {host}")
    return "\n".join(lines) + "\n"
