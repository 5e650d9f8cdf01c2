"""What one whois client may cost a node (issue 12): searches bounded in time and size, off the
event loop; connections capped per address, per /24 and in all; expensive queries rate-limited.

The node here is real-sized: 65,536 IPv4 records (the RIPE NCC's 2018 file has about as many),
so a search whose cost grows with the node rather than with its answer shows at once. Clients
connect from several loopback addresses (127.0.0.0/8 is all loopback) to stand for several
hosts and networks.
"""

from __future__ import annotations

import asyncio
import dataclasses
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from localfed import ONEREG, LocalFederation
from onereg.core.registries import RegistryId
from onereg.core.resources import Afi
from onereg.federation.embedded import config_path
from onereg.federation.guard import BoundedWork
from onereg.federation.node_config import Limits, load_config, save_config
from onereg.registry import events as ev
from onereg.registry.node import RegistryNode
from onereg.whois import start_whois

RIPE = RegistryId.RIPENCC


class NoAuthority:
    """Every number is the node's own: no referrals."""

    def authoritative(self, afi: Afi, number: int) -> RegistryId | None:
        return None


def record(a: int, b: int, c: int) -> ev.Item:
    return (
        ev.DELEGATION_ADDED,
        {
            "afi": "ipv4",
            "start": f"{a}.{b}.{c}.0",
            "value": 256,
            "cc": "NL",
            "date": "20100101",
            "status": "allocated",
            "holder": "H1",
            "opaque": "H1",
            "ext": [],
        },
    )


@pytest.fixture(scope="module")
def big_node(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("whois-limits") / "ripencc.sqlite"
    with RegistryNode.open(RIPE, path) as node:
        node.append([(ev.HOLDER_REGISTERED, {"handle": "H1", "name": "Holder", "cc": "NL"})])
        items = [record(a, b, c) for a in (2, 3) for b in range(256) for c in range(0, 256, 2)]
        node.append(items, batch=True)
    return path


class Server:
    """One node's whois service in an event loop of its own thread (as the node process runs
    it: the loop's thread alone uses the node's connection)."""

    def __init__(self, path: Path, limits: Limits) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.work = BoundedWork(limits.query_workers, limits.query_deadline)
        self.path, self.limits = path, limits
        self.server: asyncio.Server = self.run(self._start())
        self.port: int = self.server.sockets[0].getsockname()[1]
        ask(self.port, "2.0.0.1")  # the node indexes its log for versions when it starts

    def run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(30)

    async def _start(self) -> asyncio.Server:
        self.node = RegistryNode.open(RIPE, self.path)
        return await start_whois(
            lambda: self.node, NoAuthority, {}, "127.0.0.1", 0, self.limits, work=self.work
        )

    async def _stop(self) -> None:
        self.server.close()
        others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in others:
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)
        self.node.close()

    def close(self) -> None:
        self.work.close()
        self.run(self._stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


@pytest.fixture
def server(big_node: Path) -> Iterator[Server]:
    running = Server(big_node, Limits(query_deadline=5.0))
    yield running
    running.close()


def connect(port: int, source: str, timeout: float = 30) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout, source_address=(source, 0))


def read_all(sock: socket.socket) -> str:
    chunks = []
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks).decode()


def ask(port: int, line: str, source: str = "127.0.0.1") -> tuple[str, float]:
    """The answer to one query from `source`, and how long it took."""
    began = time.monotonic()
    with connect(port, source) as sock:
        sock.sendall(line.encode() + b"\r\n")
        text = read_all(sock)
    return text, time.monotonic() - began


def inetnums(text: str) -> int:
    return sum(1 for line in text.splitlines() if line.startswith("inetnum:"))


# --- searches -------------------------------------------------------------------------------


def test_all_more_specifics_of_everything_is_capped_and_quick(server: Server) -> None:
    """`-m 0.0.0.0/0` once took a node's CPU for minutes; now it lists the first 500 objects
    and says the output was truncated, within the deadline."""
    text, took = ask(server.port, "-m 0.0.0.0/0", "127.0.0.2")
    assert inetnums(text) == server.limits.whois_max_objects
    assert "% Note: this output has been truncated." in text
    assert "Only the first 500 objects are shown" in text
    assert took < server.limits.query_deadline
    text, _ = ask(server.port, "-M 2.0.0.0/16", "127.0.0.2")
    assert inetnums(text) == 128 and "truncated" not in text  # under the cap: all of them


def test_a_costly_query_does_not_delay_another_client(server: Server) -> None:
    """While other clients run the costliest searches, a simple lookup from another network is
    answered in well under a second (before: it waited for the search to end)."""
    costly = ["-m 0.0.0.0/0", "-M 0.0.0.0/0", "-L 2.0.0.0/7", "--list-versions 2.0.0.0/24"]
    with ThreadPoolExecutor(8) as pool:
        running = [
            pool.submit(ask, server.port, line, f"127.0.0.{2 + i}")
            for i, line in enumerate(costly * 2)
        ]
        time.sleep(0.05)
        simple, took = ask(server.port, "3.255.254.1", "127.0.1.1")
        answers = [future.result() for future in running]
    assert inetnums(simple) == 1 and "3.255.254.0 - 3.255.254.255" in simple
    assert took < 0.5, f"a simple lookup waited {took:.2f} s"
    assert all(t < server.limits.query_deadline + 1 for _, t in answers)
    assert all("%ERROR:100" not in text for text, _ in answers)


def test_expensive_searches_leave_a_worker_for_simple_lookups(big_node: Path) -> None:
    """Eight searches of 2,000 objects each (most of a second apiece) from eight clients, on
    four workers: they may take three, so lookups never queue behind them."""
    running = Server(big_node, Limits(whois_max_objects=2_000, query_deadline=30.0))
    try:
        with ThreadPoolExecutor(8) as pool:
            costly = [
                pool.submit(ask, running.port, "-M 0.0.0.0/0", f"127.0.0.{2 + i}") for i in range(8)
            ]
            time.sleep(0.1)
            lookups = [ask(running.port, "2.0.0.1", "127.0.1.1") for _ in range(5)]
            answers = [future.result() for future in costly]
    finally:
        running.close()
    assert all(inetnums(text) == 1 for text, _ in lookups)
    worst = max(took for _, took in lookups)
    assert worst < 0.5, f"a lookup waited {worst:.2f} s behind the searches"
    assert all(inetnums(text) == 2_000 for text, _ in answers)
    assert min(took for _, took in answers) > worst  # they were running meanwhile


def test_a_query_past_its_deadline_is_stopped_with_an_error(big_node: Path) -> None:
    """With no object cap to speak of, listing all 65,536 records takes longer than a tiny
    deadline: the search is stopped and the client told why; the node answers the next one."""
    limits = Limits(query_deadline=0.2, whois_max_objects=1_000_000)
    running = Server(big_node, limits)
    try:
        text, took = ask(running.port, "-M 0.0.0.0/0", "127.0.0.2")
        simple, _ = ask(running.port, "2.0.0.1", "127.0.0.3")
    finally:
        running.close()
    assert "%ERROR:112: unsupported query" in text
    assert "took longer than 0.2 seconds and was stopped" in text
    assert inetnums(text) == 0
    assert took < 2.0
    assert inetnums(simple) == 1


def test_stopping_the_work_ends_a_running_search_at_once(big_node: Path) -> None:
    """A node shutting down (SIGTERM) stops its searches rather than waiting for them: the
    deadline is long here, and the search still ends within a moment of `close`."""
    limits = Limits(query_deadline=60.0, whois_max_objects=1_000_000)
    running = Server(big_node, limits)
    try:
        with connect(running.port, "127.0.0.2") as sock:
            sock.sendall(b"-M 0.0.0.0/0\r\n")
            time.sleep(0.3)  # the search is under way
            began = time.monotonic()
            running.work.close()
            text = read_all(sock)
            stopped = time.monotonic() - began
    finally:
        running.close()
    assert "%ERROR:112" in text
    assert stopped < 2.0, f"the search ran on for {stopped:.1f} s after close"


def test_expensive_queries_are_rate_limited_per_client(big_node: Path) -> None:
    running = Server(big_node, Limits(expensive_per_minute=2))
    try:
        answers = [ask(running.port, "-r -M 2.0.0.0/20", "127.0.0.2")[0] for _ in range(3)]
        plain, _ = ask(running.port, "2.0.0.1", "127.0.0.2")
        other, _ = ask(running.port, "-r -M 2.0.0.0/20", "127.0.0.3")
    finally:
        running.close()
    assert [inetnums(a) for a in answers[:2]] == [8, 8]
    assert "%ERROR:201: access denied for 127.0.0.2" in answers[2]
    assert "limit of 2 expensive" in answers[2]
    assert inetnums(answers[2]) == 0
    assert inetnums(plain) == 1  # a plain lookup is not counted
    assert inetnums(other) == 8  # another client has its own allowance


# --- connections ----------------------------------------------------------------------------


def test_idle_connections_from_one_network_do_not_lock_out_another(server: Server) -> None:
    """100 idle connections from five addresses of one /24 once locked everyone out; now they
    get at most their address's and their network's share, and another network is served."""
    limits = server.limits
    held: list[socket.socket] = []
    try:
        for i in range(100):  # ten from one address first, then 90 from four more
            held.append(connect(server.port, "127.0.0.2" if i < 10 else f"127.0.0.{3 + i % 4}"))
        time.sleep(0.3)  # let the server take them all
        same_network, _ = ask(server.port, "2.0.0.1", "127.0.0.9")
        elsewhere, took = ask(server.port, "2.0.0.1", "127.0.1.1")
        refused = [text for text in map(_refusal, held) if text]
    finally:
        for sock in held:
            sock.close()
    assert inetnums(elsewhere) == 1 and took < 1.0
    assert "%ERROR:306: connections exceeded" in same_network
    assert f"Too many connections from 127.0.0.0/24 (limit {limits.whois_per_network})" in (
        same_network
    )
    assert len(refused) == 100 - limits.whois_per_network
    per_address = f"Too many connections from 127.0.0.2 (limit {limits.whois_per_client})"
    assert sum(per_address in t for t in refused) == 10 - limits.whois_per_client


def _refusal(sock: socket.socket) -> str:
    """The refusal a held connection got, or "" if it was admitted (and is still idle)."""
    sock.settimeout(0.05)
    try:
        data = sock.recv(4096)
    except TimeoutError:
        return ""
    except ConnectionResetError:
        return "reset"
    return data.decode()


def test_the_total_cap_refuses_the_rest(big_node: Path) -> None:
    running = Server(big_node, Limits(whois_connections=3))
    try:
        held = [connect(running.port, f"127.0.{i}.1") for i in range(3)]
        time.sleep(0.2)
        refused, _ = ask(running.port, "2.0.0.1", "127.0.9.1")
        for sock in held:
            sock.close()
        time.sleep(0.2)
        served, _ = ask(running.port, "2.0.0.1", "127.0.9.1")
    finally:
        running.close()
    assert "Too many connections in all (limit 3)" in refused
    assert inetnums(served) == 1


# --- the node process -----------------------------------------------------------------------


def test_sigterm_stops_a_node_in_the_middle_of_a_search(tmp_path: Path) -> None:
    """`-m 0.0.0.0/0` once held a node's event loop so long that SIGTERM did nothing. Here
    the node lists every one of its 32,768 records (no object cap, a 2-minute deadline: some
    seconds of work), and SIGTERM still ends the process within a moment."""
    fed = LocalFederation(tmp_path, {"ripencc": [("ipv4", "193.0.0.0", 256, "H1")]})
    with fed.data.open(RIPE) as node:
        node.append(
            [record(a, b, c) for a in (2,) for b in range(128) for c in range(256)],
            batch=True,
        )
    config = load_config(config_path(tmp_path, RIPE))
    limits = Limits(query_deadline=120.0, whois_max_objects=1_000_000)
    save_config(dataclasses.replace(config, limits=limits))
    log = (tmp_path / "ripencc.log").open("ab")
    proc = subprocess.Popen(
        [ONEREG, "serve", "--config", str(config_path(tmp_path, RIPE))],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    fed.procs["ripencc"] = proc
    try:
        fed.wait_ready("ripencc", published=False)
        port = fed.whois["ripencc"].rpartition(":")[2]
        assert inetnums(ask(int(port), "2.0.0.1")[0]) == 1  # up, its log indexed
        with connect(int(port), "127.0.0.2") as sock:
            sock.sendall(b"-m 0.0.0.0/0\r\n")
            time.sleep(0.3)  # well into the search
            sock.setblocking(False)
            with pytest.raises(BlockingIOError):
                sock.recv(1)  # no answer yet: the search is still running
            began = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(30)
            took = time.monotonic() - began
    finally:
        fed.stop()
        log.close()
    assert code in (0, -signal.SIGTERM)  # uvicorn ends by raising the signal it caught again
    assert took < 5.0, f"the node took {took:.1f} s to stop"
    assert refused(int(port)), "the node's whois process outlived it"


def refused(port: int, within: float = 5.0) -> bool:
    """Whether connections to the port are refused (no process serves it) within `within` s."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
        except ConnectionRefusedError:
            return True
        time.sleep(0.1)
    return False


def children(pid: int) -> dict[int, str]:
    """The processes whose parent is `pid`, with their command lines (from /proc)."""
    out = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            argv = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, IndexError, ValueError):
            continue
        if ppid == pid:
            out[int(entry.name)] = argv
    return out


def test_whois_runs_in_its_own_process_that_ends_with_the_node(tmp_path: Path) -> None:
    """whois answers from a process of its own, so its searches never hold the GIL of the
    process serving RDAP and the peers; the port is open as soon as the node is up, and a
    node killed outright (SIGKILL: no clean-up) takes its whois process with it."""
    fed = LocalFederation(tmp_path, {"ripencc": [("ipv4", "193.0.0.0", 256, "H1")]})
    fed.start("ripencc")
    try:
        node = fed.procs["ripencc"]
        port = int(fed.whois["ripencc"].rpartition(":")[2])
        assert "inetnum:        193.0.0.0 - 193.0.0.255" in ask(port, "193.0.0.1")[0]
        assert whois_answers_counted(fed.urls["ripencc"]) >= 1  # reported to the node's metrics
        whois = [p for p, argv in children(node.pid).items() if "onereg.cli.whoisd" in argv]
        assert len(whois) == 1, children(node.pid)
        node.kill()
        node.wait(10)
        assert refused(port), "whois still answers after its node was killed"
        assert not Path(f"/proc/{whois[0]}").exists() or _zombie(whois[0])
    finally:
        fed.stop()


def whois_answers_counted(url: str, within: float = 5.0) -> float:
    """The node's count of whois answers with status 2xx in /metrics, once it is non-zero."""
    deadline, count = time.monotonic() + within, 0.0
    while time.monotonic() < deadline and not count:
        for line in httpx.get(f"{url}/metrics", timeout=5).text.splitlines():
            if line.startswith('onereg_requests_total{face="whois",status="2xx"}'):
                count = float(line.rsplit(" ", 1)[1])
        time.sleep(0.1)
    return count


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True
