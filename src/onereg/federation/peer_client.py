"""The HTTP client one node uses to talk to another during transfers.

aiohttp rather than httpx here: on this path a node makes several requests per transfer, and
measured on loopback an aiohttp round trip costs about a quarter of an httpx.AsyncClient one
(0.46 ms against 1.9 ms, bench notes in docs/benchmarks.md), which is what lets two nodes carry
more than a hundred transfers a second.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson


class PeerError(Exception):
    """The peer could not be reached or did not answer in time."""


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    body: Any  # parsed JSON, or None when the body was not JSON
    text: str


class PeerClient:
    def __init__(self, session: aiohttp.ClientSession, timeout_seconds: float) -> None:
        self.session = session
        self.timeout = aiohttp.ClientTimeout(total=timeout_seconds)

    async def get(self, url: str) -> Reply:
        return await self._request("GET", url, None)

    async def post(self, url: str, body: object = None) -> Reply:
        return await self._request("POST", url, body)

    async def _request(self, method: str, url: str, body: object) -> Reply:
        data = None if body is None else orjson.dumps(body)
        headers = {"Content-Type": "application/json"} if data is not None else None
        try:
            async with self.session.request(
                method, url, data=data, headers=headers, timeout=self.timeout
            ) as response:
                text = await response.text()
                return Reply(response.status, _parse(text), text)
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise PeerError(f"{method} {url}: {exc!r}") from None


def _parse(text: str) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
