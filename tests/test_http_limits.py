"""The HTTP face of a real node (`onereg serve --config`) under a stranger's abuse: huge headers
and bodies, half-open requests, piles of connections, deep JSON. Each test sends the abuse over
real sockets on loopback and checks both the answer and that the node stayed small and open to
everyone else."""

from __future__ import annotations

import contextlib
import json
import socket
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from localfed import LocalFederation
from onereg.core.registries import RegistryId
from onereg.federation.embedded import config_path
from onereg.federation.httpsig import NodeSigningKey, sign_request
from onereg.federation.node_config import Limits, load_config, save_config
from onereg.registry.identity import load_signer

LIMITS = Limits(
    header_timeout=3.0,
    idle_timeout=2.0,
    http_per_client=8,
    http_per_network=24,
    http_connections=64,
)
MIB = 1024 * 1024


def configure(fed: LocalFederation, registry: str, limits: Limits) -> None:
    path = config_path(fed.root, RegistryId(registry))
    save_config(replace(load_config(path), limits=limits))


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalFederation]:
    fed = LocalFederation(
        tmp_path_factory.mktemp("limits"), {"ripencc": [("ipv4", "193.0.0.0", 4096, "R1")]}
    )
    configure(fed, "ripencc", LIMITS)
    fed.start("ripencc")
    try:
        yield fed
    finally:
        fed.stop()


def address(fed: LocalFederation) -> tuple[str, int]:
    host, _, port = fed.urls["ripencc"].removeprefix("http://").rpartition(":")
    return host, int(port)


def rss_kib(fed: LocalFederation) -> int:
    status = Path(f"/proc/{fed.procs['ripencc'].pid}/status").read_text()
    line = next(x for x in status.splitlines() if x.startswith("VmRSS:"))
    return int(line.split()[1])


def connect(fed: LocalFederation, source: str = "127.0.0.1") -> socket.socket:
    s = socket.create_connection(address(fed), timeout=10, source_address=(source, 0))
    return s


def read_all(s: socket.socket, timeout: float = 10.0) -> bytes:
    """Everything the node sends until it closes the connection."""
    s.settimeout(timeout)
    out = b""
    try:
        while chunk := s.recv(65536):
            out += chunk
    except (ConnectionResetError, BrokenPipeError):
        pass
    return out


def checkpoint_ok(fed: LocalFederation, source: str = "127.0.0.1") -> bool:
    transport = httpx.HTTPTransport(local_address=source)
    with httpx.Client(transport=transport, timeout=5) as client:
        return client.get(f"{fed.urls['ripencc']}/log/checkpoint").status_code == 200


def peer_get(fed: LocalFederation, peer: str, path: str) -> httpx.Response:
    """A GET signed with a peer node's own key, as that node would send it."""
    signer = load_signer(fed.root / "nodes" / peer / "keys/node.key")
    headers = sign_request(NodeSigningKey(peer, signer.private_key), "GET", path, b"")
    return httpx.get(fed.urls["ripencc"] + path, headers=headers, timeout=10)


def send_stream(s: socket.socket, head: bytes, filler: bytes, total: int) -> int:
    """Send `head`, then `filler` repeatedly up to `total` bytes or until the node hangs up."""
    s.sendall(head)
    sent = 0
    try:
        while sent < total:
            s.sendall(filler)
            sent += len(filler)
    except (BrokenPipeError, ConnectionResetError, TimeoutError):
        pass
    return sent


# --- finding 2: sizes before reading ------------------------------------------------------------


def test_a_500_mb_header_gets_431_and_the_node_stays_small(node: LocalFederation) -> None:
    before = rss_kib(node)
    s = connect(node)
    head = b"GET /log/checkpoint HTTP/1.1\r\nHost: x\r\nX-Junk: "
    sent = send_stream(s, head, b"a" * MIB, 500 * MIB)
    answer = read_all(s)
    assert answer.startswith(b"HTTP/1.1 431 "), answer[:200]
    assert b"exceed 16384 bytes" in answer
    assert sent < 64 * MIB  # refused early, not after reading it all
    assert rss_kib(node) - before < 32 * 1024
    assert checkpoint_ok(node)


def test_a_header_sent_whole_in_one_read_is_counted_too(node: LocalFederation) -> None:
    s = connect(node)
    s.sendall(b"GET /log/checkpoint HTTP/1.1\r\nHost: x\r\nX-Junk: " + b"a" * 40_000 + b"\r\n\r\n")
    assert read_all(s).startswith(b"HTTP/1.1 431 ")


def test_a_1_gib_body_is_refused_from_its_content_length(node: LocalFederation) -> None:
    before = rss_kib(node)
    s = connect(node)
    head = b"POST /witness/add-checkpoint HTTP/1.1\r\nHost: x\r\nContent-Length: 1073741824\r\n\r\n"
    send_stream(s, head, b"a" * MIB, 1024 * MIB)
    answer = read_all(s)
    assert answer.startswith(b"HTTP/1.1 413 "), answer[:200]
    assert b"1073741824 bytes exceeds" in answer
    assert rss_kib(node) - before < 32 * 1024


@pytest.mark.parametrize("path", ["/witness/add-checkpoint", "/transfers/x/accept", "/transfers"])
def test_a_chunked_body_is_refused_while_it_streams(node: LocalFederation, path: str) -> None:
    before = rss_kib(node)
    s = connect(node)
    head = f"POST {path} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n".encode()
    chunk = b"100000\r\n" + b"a" * MIB + b"\r\n"
    sent = send_stream(s, head, chunk, 1024 * MIB)
    answer = read_all(s)
    assert answer.startswith(b"HTTP/1.1 413 "), answer[:200]
    assert sent < 128 * MIB
    assert rss_kib(node) - before < 32 * 1024


def test_three_oversized_offers_at_once_cost_no_memory(node: LocalFederation) -> None:
    before = rss_kib(node)
    sockets = [connect(node) for _ in range(3)]
    head = b"POST /transfers/x/accept HTTP/1.1\r\nHost: x\r\nContent-Length: 200000000\r\n\r\n"
    for s in sockets:
        s.sendall(head + b"a" * MIB)
    for s in sockets:
        answer = read_all(s)
        assert answer.startswith(b"HTTP/1.1 413 "), answer[:200]
        assert b"exceeds 65536" in answer
    assert rss_kib(node) - before < 32 * 1024


def test_deeply_nested_json_is_a_400_naming_the_problem(node: LocalFederation) -> None:
    url = node.urls["ripencc"] + "/transfers"
    reply = httpx.post(url, content=b"[" * 20_000 + b"]" * 20_000, timeout=10)
    assert reply.status_code == 400, reply.text
    assert "nested too deeply" in reply.text
    broken = httpx.post(url, content=b'{"agreement": ', timeout=10)
    assert broken.status_code == 400 and "not JSON" in broken.text


def test_a_body_that_stops_arriving_gets_408(node: LocalFederation) -> None:
    s = connect(node)
    s.sendall(b"POST /transfers HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
    started = time.monotonic()
    answer = read_all(s, timeout=10)
    assert answer.startswith(b"HTTP/1.1 408 "), answer[:200]
    assert b"stopped" in answer
    assert 1.5 <= time.monotonic() - started < 5.0  # idle_timeout 2 s


# --- finding 3: connections -----------------------------------------------------------------


def test_a_half_open_request_is_closed_after_the_header_timeout(node: LocalFederation) -> None:
    s = connect(node)
    s.sendall(b"GET /log/checkpoint HTTP/1.1\r\nHost: x\r\n")  # and never the blank line
    started = time.monotonic()
    answer = read_all(s, timeout=10)
    took = time.monotonic() - started
    assert answer.startswith(b"HTTP/1.1 408 "), answer[:200]
    assert 2.5 <= took < 6.0  # header_timeout 3 s


def test_a_silent_connection_is_closed_after_the_header_timeout(node: LocalFederation) -> None:
    s = connect(node)
    started = time.monotonic()
    read_all(s, timeout=10)
    assert 2.5 <= time.monotonic() - started < 6.0


def test_an_idle_keep_alive_connection_is_closed(node: LocalFederation) -> None:
    s = connect(node)
    s.sendall(b"GET /log/checkpoint HTTP/1.1\r\nHost: x\r\n\r\n")
    started = time.monotonic()
    answer = read_all(s, timeout=10)
    assert answer.startswith(b"HTTP/1.1 200 ")
    assert 1.5 <= time.monotonic() - started < 4.5  # idle_timeout 2 s


def test_one_clients_half_open_connections_do_not_lock_out_another(
    node: LocalFederation,
) -> None:
    hogs = []
    for _ in range(40):  # far past the per-client cap of 8
        s = connect(node, "127.0.0.2")
        s.sendall(b"GET /log/checkpoint HTTP/1.1\r\n")
        hogs.append(s)
    try:  # while they are held (header_timeout 3 s): other clients and a peer get in
        assert checkpoint_ok(node, "127.0.0.3")
        assert checkpoint_ok(node, "127.0.0.1")
        asked = peer_get(node, "arin", "/transfers/no-such-transfer")
        assert asked.status_code == 404 and "signature" in asked.headers
        refused = 0
        for s in hogs:
            s.settimeout(0.05)
            with contextlib.suppress(TimeoutError):
                refused += s.recv(100).startswith(b"HTTP/1.1 503 ")
        assert refused == 40 - LIMITS.http_per_client  # only 127.0.0.2's extra ones
    finally:
        for s in hogs:
            s.close()


def test_connections_over_the_cap_get_503_with_retry_after(node: LocalFederation) -> None:
    hogs = [connect(node, "127.0.0.4") for _ in range(LIMITS.http_per_client)]
    try:
        time.sleep(0.1)
        extra = connect(node, "127.0.0.4")
        answer = read_all(extra, timeout=5)
        assert answer.startswith(b"HTTP/1.1 503 ")
        assert b"retry-after: " in answer and b"127.0.0.4" in answer
    finally:
        for s in hogs:
            s.close()
    time.sleep(0.2)
    assert checkpoint_ok(node, "127.0.0.4")  # released when they close


def test_a_normal_request_still_works(node: LocalFederation) -> None:
    reply = httpx.get(node.urls["ripencc"] + "/log/checkpoint", timeout=5)
    assert reply.status_code == 200
    body = json.dumps({"agreement": {}}).encode()
    submitted = httpx.post(node.urls["ripencc"] + "/transfers", content=body, timeout=10)
    assert submitted.status_code in (400, 422)
