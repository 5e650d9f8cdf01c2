"""What one client may cost a node: connection caps, a rate limit, and bounded work off the loop.

A node serves RDAP, whois, RTR and its federation API from one asyncio event loop. Three kinds
of abuse can starve everyone else, and each face guards against them with the same three pieces:

- `ConnectionGuard` caps open connections per client address, per client network (/24 for IPv4,
  /48 for IPv6, as busy public whois and RTR servers count, so one host with many addresses is
  still one client) and in all;
- `RateLimiter` lets one client start only so many expensive queries a minute (a token bucket);
- `BoundedWork` runs anything that may take more than a few milliseconds in a worker thread with
  a deadline, so a slow query delays only its own client. A thread cannot be killed, so the work
  itself takes a `Deadline` and checks it in its loops: past the deadline it stops with
  `DeadlineExceeded` rather than burning a worker for minutes.

The pieces hold only counters; the faces decide what a refusal looks like on their protocol
(503/429 for HTTP, %ERROR:201 for whois, an Error Report PDU for RTR).
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import multiprocessing
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TypeVar

from onereg.core.errors import OneregError

T = TypeVar("T")


@functools.lru_cache(maxsize=4096)
def network_of(address: str) -> str:
    """The client network an address counts towards: its /24 (IPv4) or /48 (IPv6).

    Anything that does not parse (a Unix socket peer, a test double) is its own network.
    Remembered for the last few thousand addresses: every connection asks twice (admit and
    release), and a client reopening connections asks thousands of times a second, where
    parsing took 10-40 us each on the core that serves RDAP."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    prefix = 24 if ip.version == 4 else 48
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False))


@dataclass(slots=True)
class ConnectionGuard:
    """Counts open connections; `admit` says why a new one is refused, or None and counts it."""

    per_client: int
    per_network: int
    total: int
    _clients: dict[str, int] = field(default_factory=dict)
    _networks: dict[str, int] = field(default_factory=dict)
    active: int = 0

    def admit(self, address: str) -> str | None:
        network = network_of(address)
        if self.active >= self.total:
            return f"too many connections in all (limit {self.total})"
        if self._clients.get(address, 0) >= self.per_client:
            return f"too many connections from {address} (limit {self.per_client})"
        if self._networks.get(network, 0) >= self.per_network:
            return f"too many connections from {network} (limit {self.per_network})"
        self.active += 1
        self._clients[address] = self._clients.get(address, 0) + 1
        self._networks[network] = self._networks.get(network, 0) + 1
        return None

    def release(self, address: str) -> None:
        self.active -= 1
        _decrement(self._clients, address)
        _decrement(self._networks, network_of(address))


def _decrement(counts: dict[str, int], key: str) -> None:
    left = counts.get(key, 1) - 1
    if left > 0:
        counts[key] = left
    else:
        counts.pop(key, None)


@dataclass(slots=True)
class RateLimiter:
    """A token bucket per client: `per_minute` expensive queries, refilled continuously.

    `allow` returns 0.0 when the query may start, else the seconds until it may (for
    Retry-After). Idle clients' buckets are dropped so the table stays small."""

    per_minute: int
    clock: Callable[[], float] = time.monotonic
    _buckets: dict[str, tuple[float, float]] = field(default_factory=dict)

    def allow(self, client: str) -> float:
        now = self.clock()
        rate = self.per_minute / 60.0
        tokens, since = self._buckets.get(client, (float(self.per_minute), now))
        tokens = min(float(self.per_minute), tokens + (now - since) * rate)
        if tokens < 1.0:
            self._buckets[client] = (tokens, now)
            return (1.0 - tokens) / rate
        self._buckets[client] = (tokens - 1.0, now)
        if len(self._buckets) > 10_000:
            self._forget_full(now, rate)
        return 0.0

    def _forget_full(self, now: float, rate: float) -> None:
        full = [
            c for c, (t, s) in self._buckets.items() if t + (now - s) * rate >= self.per_minute
        ]
        for client in full:
            del self._buckets[client]


class DeadlineExceeded(OneregError):
    """Work that ran past its deadline; the face answers with a clear 'took too long' error."""


@dataclass(frozen=True, slots=True)
class Deadline:
    """A point in time (monotonic clock) that long-running work checks in its loops.

    `stop`, when set, ends the work at once: a node shutting down must not wait for the
    deadline of every query still running (the process exits only when its workers do)."""

    at: float
    stop: threading.Event | None = field(default=None, compare=False)

    @classmethod
    def after(cls, seconds: float, stop: threading.Event | None = None) -> Deadline:
        return cls(time.monotonic() + seconds, stop)

    def expired(self) -> bool:
        return time.monotonic() >= self.at or (self.stop is not None and self.stop.is_set())

    def check(self) -> None:
        if self.expired():
            raise DeadlineExceeded("the query took too long and was stopped")


NO_DEADLINE = Deadline(float("inf"))


class BoundedWork:
    """A small thread pool for work that must not run on the event loop, each job with a deadline.

    The deadline counts from submission, so time spent waiting for a free worker counts too:
    when every worker is busy, new jobs fail fast instead of queueing without bound."""

    def __init__(self, workers: int, deadline: float) -> None:
        self.deadline = deadline
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="onereg-work")
        self._stop = threading.Event()

    async def run(self, job: Callable[[Deadline], T]) -> T:
        deadline = Deadline.after(self.deadline, self._stop)
        future = asyncio.get_running_loop().run_in_executor(self._pool, job, deadline)
        try:
            return await asyncio.wait_for(future, self.deadline)
        except (TimeoutError, DeadlineExceeded):  # whichever saw the deadline first: one message
            raise DeadlineExceeded(
                f"the query took longer than {self.deadline:g} s and was stopped"
            ) from None

    def close(self) -> None:
        """Stop: queued jobs are dropped and running ones see their deadline expire now."""
        self._stop.set()
        self._pool.shutdown(wait=False, cancel_futures=True)


def process_pool(workers: int, nice: int = 10) -> ProcessPoolExecutor:
    """Worker processes for background pure-Python work too long to share the server's GIL
    with requests, run at a lower CPU priority (`nice` added) so that on a busy host the
    server's requests come first and the background work takes the idle time.

    Spawned, not forked: forking a process that already runs threads is unsafe. Each worker
    ends itself when the server process is gone: a worker that outlived a SIGKILLed server
    stayed forever, blocked writing its result into a pipe whose reading end it holds itself
    (multiprocessing gives a spawned worker both ends of its queues)."""
    context = multiprocessing.get_context("spawn")
    return ProcessPoolExecutor(
        workers, mp_context=context, initializer=_background_worker, initargs=(os.getpid(), nice)
    )


def _background_worker(parent: int, nice: int) -> None:
    os.nice(nice)
    exit_with_parent(parent)


def exit_with_parent(parent: int | None = None, every: float = 0.5) -> None:
    """End this process (at once, without cleanup) once `parent` (by default the process that
    started this one) is gone, however it went: a helper process of a node must not outlive
    it, holding ports or blocked on pipes nobody reads."""
    parent = os.getppid() if parent is None else parent

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(every)
        os._exit(0)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()
