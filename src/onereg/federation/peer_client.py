"""The HTTP client one node uses to talk to another (transfers, witnessing, key look-ups).

Every request carries the node's RFC 9421 signature (`httpsig`), and every answer from a peer
must carry that peer's signature bound to the request; an answer that does not is treated like
no answer at all (`PeerError`), so a node never acts on what someone on the path or the port
wrote.

aiohttp rather than httpx here: on this path a node makes several requests per transfer, and
measured on loopback an aiohttp round trip costs about a quarter of an httpx.AsyncClient one
(0.46 ms against 1.9 ms, bench notes in docs/benchmarks.md), which is what lets two nodes carry
more than a hundred transfers a second.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import orjson
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from onereg.federation.httpsig import (
    NodeSigningKey,
    SignatureRejected,
    sign_request,
    verify_response,
)


class PeerError(Exception):
    """The peer could not be reached or did not answer in time."""


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    body: Any  # parsed JSON, or None when the body was not JSON
    text: str


class PeerClient:
    """`peer` names the registry a request goes to: its answer must be signed by that node."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        timeout_seconds: float,
        key: NodeSigningKey | None = None,
        peer_keys: Mapping[str, Ed25519PublicKey] | None = None,
        window_seconds: float = 60.0,
    ) -> None:
        self.session = session
        self.timeout = aiohttp.ClientTimeout(total=timeout_seconds)
        self.key, self.peer_keys = key, dict(peer_keys or {})
        self.window = window_seconds

    async def get(self, url: str, peer: str | None = None) -> Reply:
        return await self._send("GET", url, b"", None, peer)

    async def post(self, url: str, body: object = None, peer: str | None = None) -> Reply:
        data = b"" if body is None else orjson.dumps(body)
        return await self._send("POST", url, data, "application/json", peer)

    async def post_text(self, url: str, text: str, peer: str | None = None) -> Reply:
        """A plain-text body (the witness protocol's add-checkpoint)."""
        return await self._send("POST", url, text.encode(), "text/plain; charset=utf-8", peer)

    async def _send(
        self, method: str, url: str, data: bytes, media: str | None, peer: str | None
    ) -> Reply:
        headers = {"Content-Type": media} if media else {}
        target = _target(url)
        if self.key is not None:
            headers |= sign_request(self.key, method, target, data)
        try:
            async with self.session.request(
                method, url, data=data or None, headers=headers, timeout=self.timeout
            ) as response:
                raw = await response.read()
                if peer is not None:
                    self._check_answer(peer, response, raw, method, target, headers)
                text = raw.decode("utf-8", errors="replace")
                return Reply(response.status, _parse(text), text)
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise PeerError(f"{method} {url}: {exc!r}") from None

    def _check_answer(
        self,
        peer: str,
        response: aiohttp.ClientResponse,
        raw: bytes,
        method: str,
        target: str,
        sent: Mapping[str, str],
    ) -> None:
        try:
            verify_response(
                self.peer_keys,
                peer,
                response.status,
                {k.lower(): v for k, v in response.headers.items()},
                raw,
                method,
                target,
                sent,
                window_seconds=self.window,
            )
        except SignatureRejected as exc:
            raise PeerError(
                f"{method} {target}: answer ({response.status}) not signed by {peer}: {exc}"
            ) from None


def _target(url: str) -> str:
    parts = urlsplit(url)
    return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


def _parse(text: str) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
