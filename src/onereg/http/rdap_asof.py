"""RDAP lookups at a past moment: `?asOf=<ISO date or date-time, UTC>` on ip and autnum queries.

An extension of ours (no RDAP standard asks for the past): the answer is built by the usual
lookup code from the node replayed from its log up to the last entry written by then
(`registry.asof`), so it is what the node would have answered at that moment. It says so in a
notice naming the log entry. Where the node had no record then, the redirect goes to the
registry authoritative at that moment, read from every log as it was (`rdap.authority_at`:
before an inter-registry transfer, the recipient sends the client to the source), and carries
the same `asOf`, so that registry answers for the same moment.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from urllib.parse import urlencode

import orjson
from starlette.responses import Response

from onereg.core.resources import Resource
from onereg.registry import asof
from onereg.registry.node import RegistryNode

AS_OF = "asOf"
NOTICE_TITLE = "Historical answer"

PARAMETER = {
    "name": AS_OF,
    "in": "query",
    "required": False,
    "schema": {"type": "string", "maxLength": 40},
    "example": "2026-01-01T00:00:00Z",
    "description": (
        "onereg extension: the answer as it was at this moment (an ISO 8601 date or date-time, "
        "UTC unless an offset is given), replayed from the registry's log up to the last entry "
        "written by then. The answer carries a notice titled 'Historical answer' naming that "
        "entry; a moment before the log began is 404, a malformed one 400. Where this "
        "registry had no record then, the redirect goes to the registry authoritative at that "
        "moment, with the same asOf."
    ),
}


def status_of(exc: asof.MomentError) -> tuple[int, str]:
    """The RDAP error for a moment that cannot be used: before the log, nothing is known."""
    if isinstance(exc, asof.BeforeLogError):
        return 404, "Not Found"
    return 400, "Bad Request"


def past_answer(
    node: RegistryNode,
    res: Resource,
    text: str,
    build: Callable[[RegistryNode, datetime], Response],
) -> Response:
    """`build`'s answer from the node as it was at the moment `text` names (MomentError if it
    names none, or one before the log began); `build` also gets the moment, to ask who was
    authoritative then."""
    when = asof.parse_moment(text, f"query parameter {AS_OF}")
    moment = asof.entry_at(node, when)
    with asof.replay(node, moment, within=res) as past:
        return historical(build(past, when), moment, text)


def historical(response: Response, moment: asof.Moment, text: str) -> Response:
    """The answer marked as historical: a notice on an RDAP object, `asOf` kept on a redirect."""
    location = response.headers.get("location")
    if location is not None:
        joiner = "&" if "?" in location else "?"
        response.headers["location"] = f"{location}{joiner}{urlencode({AS_OF: text})}"
        return response
    body = orjson.loads(bytes(response.body))
    notice = {
        "title": NOTICE_TITLE,
        "description": [
            f"This is {moment.describe()}, not the current state.",
            "Derived from the registry's log by replaying its entries up to that one.",
        ],
    }
    body["notices"] = [*body.get("notices", []), notice]
    return Response(
        orjson.dumps(body),
        response.status_code,
        headers={k: v for k, v in response.headers.items() if k != "content-length"},
        media_type=response.media_type,
    )
