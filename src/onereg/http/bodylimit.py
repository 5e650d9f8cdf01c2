"""Request bodies: a size limit per route checked before and while reading, and JSON parsing
that answers 400 for anything malformed, however deep.

`BodyLimit` wraps the whole application (outside Starlette), so no handler ever sees more than
its route's limit: a declared Content-Length past it gets 413 before a byte of the body is read;
a chunked body is counted as it streams and refused the moment it passes the limit. Every such
answer closes the connection, so the rest of an oversized body is never read. A body that
stops arriving for `idle_timeout` gets 408.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from onereg.federation.node_config import Limits

KIB = 1024


class MalformedJson(ValueError):
    """A request body that is not the JSON a route takes; the message names the problem."""


def parse_json(raw: bytes) -> object:
    """The body as JSON, or MalformedJson (a 400) naming what is wrong with it.

    Python's parser recurses per nesting level: a body of 100,000 '[' would otherwise end in a
    RecursionError and a 500."""
    try:
        return json.loads(raw)
    except RecursionError:
        raise MalformedJson("request body is not JSON: nested too deeply") from None
    except ValueError as exc:
        raise MalformedJson(f"request body is not JSON: {exc}") from None


@dataclass(frozen=True, slots=True)
class RouteLimit:
    """Bodies of requests whose path starts with `prefix` may have at most `limit` bytes."""

    prefix: str
    limit: int


def route_limits(limits: Limits) -> list[RouteLimit]:
    """The node's routes that know better than `max_body` (first match wins).

    Operator uploads take a registry's whole file; what holders and peers send (agreements,
    offers, ROA requests, notices) fits in 64 KiB; a witness request is a checkpoint note plus
    a consistency proof of at most 64 hashes."""
    small = min(64 * KIB, limits.max_body)
    return [
        RouteLimit("/admin/import", limits.max_upload),
        RouteLimit("/admin/erx", limits.max_upload),
        RouteLimit("/witness/add-checkpoint", limits.witness_max_note + 8 * KIB),
        RouteLimit("/transfers", small),
        RouteLimit("/rpki/roas", small),
        RouteLimit("/admin/", small),
    ]


class BodyLimit:
    """ASGI middleware: 413 past the route's limit, 408 when the body stalls."""

    def __init__(self, app: ASGIApp, limits: Limits, routes: Sequence[RouteLimit]) -> None:
        self.app, self.default, self.routes = app, limits.max_body, tuple(routes)
        self.idle = limits.idle_timeout

    def limit_for(self, path: str) -> int:
        for route in self.routes:
            if path.startswith(route.prefix):
                return route.limit
        return self.default

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["path"])
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await _answer(send, 413, f"request body of {declared} bytes exceeds {limit}")
            return
        counted = _Counted(receive, send, limit, self.idle)
        try:
            await self.app(scope, counted.receive, counted.send)
        except Exception:
            if not counted.answered:
                raise
            # The app saw a disconnect where its body ended and gave up: we answered already.


class _Counted:
    """The app's `receive` and `send`: counts body bytes and gives up on a stalled body.

    Past the limit (or a stall) it answers the client itself and tells the app the client
    left, so the app stops whatever it was reading; what the app sends after that is dropped."""

    def __init__(self, receive: Receive, send: Send, limit: int, idle: float) -> None:
        self._receive, self._send, self.limit, self.idle = receive, send, limit, idle
        self.size, self.done, self.started, self.answered = 0, False, False, False

    async def receive(self) -> Message:
        if self.done or self.answered:  # the body is read: a disconnect, whenever it comes
            return await self._receive() if not self.answered else _DISCONNECT
        try:
            message = await asyncio.wait_for(self._receive(), self.idle)
        except TimeoutError:
            return await self._give_up(408, f"the request body stopped for {self.idle:g} s")
        if message["type"] == "http.request":
            self.size += len(message.get("body", b""))
            if self.size > self.limit:
                return await self._give_up(413, f"request body exceeds {self.limit} bytes")
            self.done = not message.get("more_body", False)
        return message

    async def send(self, message: Message) -> None:
        if self.answered:
            return
        self.started = self.started or message["type"] == "http.response.start"
        await self._send(message)

    async def _give_up(self, status: int, reason: str) -> Message:
        if not self.started:
            self.answered = True
            await _answer(self._send, status, reason)
        return _DISCONNECT


_DISCONNECT: Message = {"type": "http.disconnect"}


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            return int(value) if value.isdigit() else None
    return None


async def _answer(send: Send, status: int, reason: str) -> None:
    body = json.dumps({"reasons": [reason]}).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),  # the rest of the body is never read
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
