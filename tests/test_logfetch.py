"""A verifier fetches a log's files (gzip when it comes so) and keeps no more than the largest
valid file: a gzip bomb in place of an entry bundle is refused while it inflates."""

from __future__ import annotations

import gzip
import tracemalloc

import httpx
import pytest

from onereg.core.errors import ProofError
from onereg.federation.logfetch import MAX_BUNDLE, MAX_TILE, fetcher


def _client(body: bytes, encoding: str | None) -> httpx.Client:
    def handler(request: httpx.Request) -> httpx.Response:
        headers = {"Content-Encoding": encoding} if encoding else {}
        assert "gzip" in request.headers["accept-encoding"]
        return httpx.Response(200, stream=httpx.ByteStream(body), headers=headers)

    return httpx.Client(transport=httpx.MockTransport(handler))


def test_a_gzipped_bundle_is_inflated() -> None:
    bundle = b"\x00\x05hello" * 256
    get = fetcher(_client(gzip.compress(bundle), "gzip"), "http://log.example")
    assert get("tile/entries/000") == bundle


def test_a_gzip_bomb_is_refused_before_it_is_held() -> None:
    bomb = gzip.compress(bytes(MAX_BUNDLE * 4), compresslevel=9)  # ~65 KB that inflate to 67 MB
    assert len(bomb) < MAX_BUNDLE / 100
    get = fetcher(_client(bomb, "gzip"), "http://log.example")
    tracemalloc.start()
    try:
        with pytest.raises(ProofError, match="larger than any valid file"):
            get("tile/entries/000")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 3 * MAX_BUNDLE  # never the whole 67 MB


def test_a_tile_longer_than_256_hashes_is_refused() -> None:
    get = fetcher(_client(bytes(MAX_TILE + 1), None), "http://log.example")
    with pytest.raises(ProofError, match="tile/0/000"):
        get("tile/0/000")
    assert fetcher(_client(bytes(MAX_TILE), None), "http://log.example")("tile/0/000")


def test_an_encoding_not_asked_for_and_broken_gzip_are_refused() -> None:
    with pytest.raises(ProofError, match="Content-Encoding 'br'"):
        fetcher(_client(b"xx", "br"), "http://log.example")("tile/entries/000")
    with pytest.raises(ProofError, match="broken gzip"):
        fetcher(_client(b"not gzip at all", "gzip"), "http://log.example")("tile/entries/000")
