"""whois at a past moment: `--as-of DATE` (an ISO date or date-time, UTC), in the style of
RIPE's `--show-version` but asked by time rather than by version number.

The query is answered by the usual lookup code from the node replayed from its log up to the
last entry written by then (`registry.asof`, only the records touching the key), under a
`% Historical` comment naming that entry. Referrals are those of today's authority map: a
registry that held the resource then answers the same `--as-of` query for itself.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING

from onereg.core.errors import ResourceParseError
from onereg.core.resources import Afi, Resource
from onereg.registry import asof
from onereg.whois.query import Query, WhoisError, invalid_option

if TYPE_CHECKING:
    from onereg.whois.resolver import Context


def answer_then(ctx: Context, query: Query, lookup: Callable[[Context, Query], str]) -> str:
    """`lookup`'s answer from the node as it was at `query.as_of`."""
    text = query.as_of or ""
    try:
        moment = asof.entry_at(ctx.node, asof.parse_moment(text, '"--as-of"'))
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
        body = lookup(replace(ctx, node=then), replace(query, as_of=None))
    return f"% Historical: {moment.describe()}; not the current state.\n\n{body}"


_NOWHERE = Resource(Afi.ASN, 0, 0)  # AS0 (RFC 7607): no registry's record to replay for a handle


def _key(text: str) -> Resource | None:
    """The resource the key names (only its records are replayed), or None for a handle."""
    try:
        return Resource.parse(text) if len(text) <= 100 else None
    except (ResourceParseError, ValueError):
        return None
