"""whois at a past moment: `--as-of DATE` (an ISO date or date-time, UTC), in the style of
RIPE's `--show-version` but asked by time rather than by version number.

The query is answered by the usual lookup code from the node replayed from its log up to the
last entry written by then (`registry.asof`, only the records touching the key), under a
`% Historical` comment naming that entry. Where the node had no record then, the referral names
the registry authoritative at that moment, read from every log as it was (`Context.past`,
`onereg.http.rdap.authority_at` behind the `PastAuthority` protocol, so that whois does not
import http): before an inter-registry transfer the recipient refers to the source, and the
referral carries the same `--as-of`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING

from onereg.core.errors import ResourceParseError
from onereg.core.registries import RegistryId
from onereg.core.resources import Afi, Resource
from onereg.registry import asof
from onereg.registry.node import RegistryNode
from onereg.whois.query import Query, WhoisError, invalid_option

if TYPE_CHECKING:
    from onereg.whois.resolver import Authority, Context


def answer_then(ctx: Context, query: Query, lookup: Callable[[Context, Query], str]) -> str:
    """`lookup`'s answer from the node as it was at `query.as_of`."""
    text = query.as_of or ""
    try:
        when = asof.parse_moment(text, '"--as-of"')
        moment = asof.entry_at(ctx.node, when)
    except asof.BeforeLogError as exc:
        raise WhoisError(101, "no entries found", f"{exc}.") from None
    except asof.MomentError as exc:
        raise invalid_option(f"{exc}.") from None
    res = _key(query.key)
    if res is None:  # a handle: the holders in full, and only that holder's records
        key = query.key
        then = asof.replay(ctx.node, moment, _NOWHERE, frozenset({key, key.upper(), key.lower()}))
    else:
        then = asof.replay(ctx.node, moment, within=res)
    with then:
        past = replace(ctx, node=then)
        if res is not None:
            past = replace(past, authority=authority_then(ctx, when, res, then))
        body = lookup(past, replace(query, as_of=None))
    body = _same_moment(body, text, query.key)
    return f"% Historical: {moment.describe()}; not the current state.\n\n{body}"


def authority_then(ctx: Context, when: datetime, res: Resource, then: RegistryNode) -> Authority:
    """Who was authoritative for `res` at `when`: every log is read only when the node had no
    record of its own then (it refers; IANA's node always may)."""
    if ctx.past is None:
        return ctx.authority  # a fixed map: no logs to read the past from
    full = then.registry is RegistryId.IANA or then.containing(res) is None
    return ctx.past.at(when, res, then, full)


def _same_moment(body: str, text: str, key: str) -> str:
    """A referral says to ask the other registry for the same moment (whois(1) following
    `ReferralServer:` sends the whole query again, `--as-of` included)."""
    ask = f'% Ask it for the same moment: "--as-of {text} {key}".\n'
    return re.sub(r"(?m)^(?=refer:)", lambda _: ask, body, count=1)


_NOWHERE = Resource(Afi.ASN, 0, 0)  # AS0 (RFC 7607): no registry's record to replay for a handle


def _key(text: str) -> Resource | None:
    """The resource the key names (only its records are replayed), or None for a handle."""
    try:
        return Resource.parse(text) if len(text) <= 100 else None
    except (ResourceParseError, ValueError):
        return None
