"""Fetching a log's published files (c2sp.org/tlog-tiles) with a bound on what is kept.

Entry bundles come gzip-compressed when asked (tlog-tiles: "SHOULD be compressed at the HTTP
layer"), and a few kilobytes of gzip can expand to gigabytes. Every file of a log has a
largest valid size (a tile is 256 hashes, a bundle 256 entries of at most 65,535 bytes each),
so the body is decompressed here, piece by piece with `max_length`, and refused as soon as it
passes that size: a peer or a stranger on the path cannot make a verifier hold more.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterator

import httpx

from onereg.core.errors import ProofError
from onereg.ledger.tiles import TILE_WIDTH

HASH_SIZE = 32
MAX_TILE = TILE_WIDTH * HASH_SIZE
MAX_BUNDLE = TILE_WIDTH * (2 + 0xFFFF)  # 256 entries, each a uint16 length and its bytes
MAX_CHECKPOINT = 1_048_576  # a signed note: the text and at most 100 signature lines
ACCEPT = {"Accept-Encoding": "gzip, identity"}


def largest(path: str) -> int:
    """The largest valid body of a log file at `path` (relative to the log's prefix)."""
    if path == "checkpoint":
        return MAX_CHECKPOINT
    return MAX_BUNDLE if path.startswith("tile/entries/") else MAX_TILE


def get_bounded(client: httpx.Client, url: str, limit: int) -> bytes:
    """GET `url`; the body (gunzipped if it came so) or ProofError past `limit` bytes."""
    with client.stream("GET", url, headers=ACCEPT) as response:
        response.raise_for_status()
        coding = response.headers.get("content-encoding", "identity").strip().lower()
        if coding not in ("identity", "gzip", "x-gzip"):
            raise ProofError(f"{url}: unasked-for Content-Encoding {coding!r}")
        pieces = response.iter_raw()
        body = bytearray()
        for piece in _gunzip(pieces, limit, url) if coding != "identity" else pieces:
            body += piece
            if len(body) > limit:
                raise ProofError(f"{url}: more than {limit:,} bytes, larger than any valid file")
    return bytes(body)


def _gunzip(pieces: Iterator[bytes], limit: int, url: str) -> Iterator[bytes]:
    inflater = zlib.decompressobj(wbits=31)  # gzip framing
    try:
        for raw in pieces:
            data = raw
            while data:
                out = inflater.decompress(data, limit + 1)  # never more than the bound at once
                yield out
                data = inflater.unconsumed_tail
        yield inflater.flush()
    except zlib.error as exc:
        raise ProofError(f"{url}: broken gzip body ({exc})") from None


def fetcher(client: httpx.Client, base: str) -> Callable[[str], bytes]:
    """`path -> bytes` under `<base>/log/`, each file bounded by its largest valid size."""

    def get(path: str) -> bytes:
        return get_bounded(client, f"{base}/log/{path}", largest(path))

    return get
