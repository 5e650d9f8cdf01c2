"""The common RDAP lookups (`GET /rdap/ip/{address}`, `GET /rdap/autnum/{asn}`, no query
string) answered before Starlette's router.

Most of a node's requests are these, and once their answer is cached (`rdap_cache`) the
per-request cost was mostly framework: routing through every route's regex, building a
`Request` and its URL, a `Response` and its header list. Here the route is matched on the
path string, the request URL is spliced from the scope, and a cached answer goes out as two
ASGI messages with headers prebuilt once. Anything else (HEAD, a query string, other paths, a
host header Starlette would read differently) goes through the app unchanged, and so does
every answer that is not a cached record (errors, redirects, first builds): those are
Starlette `Response`s sent as the routes send them. The tests compare both paths byte for
byte, headers included.

It sits inside the metrics middleware (`http.metrics`), so these requests are counted and
timed like every other.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from onereg.http import rdap_objects as obj

IP_PREFIX, AUTNUM_PREFIX = "/rdap/ip/", "/rdap/autnum/"
# Hosts whose text Starlette's URL keeps as sent (`parse_host_header`): names and IPv4
# addresses with an optional port; anything else (IPv6, odd bytes) takes the normal path.
_PLAIN_HOST = re.compile(r"[A-Za-z0-9.-]+(:[0-9]{1,5})?")
_PLAIN_VALUE = re.compile(r"[A-Za-z0-9.:]+")
_DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True, slots=True)
class Hit:
    """A cached answer's body, to be sent with the prebuilt headers."""

    body: bytes


# (kind "ip" or "autnum", the path's last segment, the request URL) -> a hit, a Response
# (sent as is), or None (the app answers: e.g. before the authority map's first load)
Lookup = Callable[[str, str, str], Hit | Response | None]


class FastLookups:
    """Where `rdap_routes` leaves its lookup for the middleware (None: no RDAP on this app)."""

    def __init__(self) -> None:
        self.lookup: Lookup | None = None


def request_url(scope: Scope) -> str | None:
    """The URL Starlette's `request.url` gives for a plain request (no query string, a path
    of plain characters), or None when the scope is unusual enough to leave it to Starlette."""
    scheme = scope.get("scheme", "http")
    host = None
    for name, value in scope["headers"]:
        if name == b"host":
            host = value.decode("latin-1")
            break
    if host is None:
        server = scope.get("server")
        if server is None or scheme not in _DEFAULT_PORTS or ":" in server[0]:
            return None
        name, port = server
        host = name if port == _DEFAULT_PORTS[scheme] else f"{name}:{port}"
    elif not _PLAIN_HOST.fullmatch(host) or (":" in host and int(host.rsplit(":", 1)[1]) > 65535):
        return None
    return f"{scheme}://{host}{scope['path']}"


class RdapFastPath:
    """ASGI middleware: cached RDAP lookups without the router (see the module's text)."""

    def __init__(self, app: ASGIApp, lookups: FastLookups) -> None:
        self.app, self.lookups = app, lookups
        self._type = obj.MEDIA_TYPE.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        found = self._answer(scope) if scope["type"] == "http" else None
        if found is None:
            await self.app(scope, receive, send)
        elif isinstance(found, Hit):
            headers = [
                (b"access-control-allow-origin", b"*"),
                (b"content-length", str(len(found.body)).encode()),
                (b"content-type", self._type),
            ]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": found.body})
        else:
            await found(scope, receive, send)

    def _answer(self, scope: Scope) -> Hit | Response | None:
        lookup = self.lookups.lookup
        if lookup is None or scope["method"] != "GET" or scope.get("query_string"):
            return None
        if scope.get("root_path"):
            return None
        path: str = scope["path"]
        if path.startswith(IP_PREFIX):
            kind, value = "ip", path[len(IP_PREFIX) :]
        elif path.startswith(AUTNUM_PREFIX):
            kind, value = "autnum", path[len(AUTNUM_PREFIX) :]
        else:
            return None
        if not _PLAIN_VALUE.fullmatch(value) or len(value) > 64:
            return None
        url = request_url(scope)
        return None if url is None else lookup(kind, value, url)
