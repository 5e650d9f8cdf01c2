"""Work of the HTTP face that must not run on the node's event loop.

The event loop serves every client, the peers' witness and transfer requests and the node's
own publishing: one RDAP search or ROA listing that takes a second on the loop delays them
all by a second. So RDAP queries and ROA listings run here, in worker threads
(`guard.BoundedWork`: `query_workers` threads, `query_deadline` seconds, the work checking the
deadline in its loops), each thread with its own read-only connection to the node's database
(SQLite connections belong to one thread), every job inside one read transaction so that it
sees one state of the log.

Two pools: quick lookups (one record by an index) and expensive queries (searches, an
entity's resources, histories, ROA listings), so that clients who keep the expensive pool busy
never delay a lookup. Expensive queries are also rate-limited per client address
(`guard.RateLimiter`, `expensive_per_minute`).
"""

from __future__ import annotations

import asyncio
import math
import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import TypeVar

from onereg.core.registries import RegistryId
from onereg.federation.guard import (
    BoundedWork,
    Deadline,
    DeadlineExceeded,
    RateLimiter,
    process_pool,
)
from onereg.federation.node_config import Limits
from onereg.registry.node import RegistryNode

T = TypeVar("T")
Job = Callable[[RegistryNode, Deadline], T]


class Refused(Exception):
    """Work not done: too many expensive queries from this client (429) or past the deadline
    (503). Each face renders it in its own format, with Retry-After."""

    def __init__(self, status: int, reason: str, retry_after: int) -> None:
        super().__init__(reason)
        self.status, self.reason, self.retry_after = status, reason, retry_after


class Offload:
    """The HTTP face's worker pools, their read connections and the per-client rate limit.

    `rate_limited=False` is for embedding the routes elsewhere (tests, tools): the work still
    runs off the loop with deadlines."""

    def __init__(self, limits: Limits, rate_limited: bool = True) -> None:
        self.limits = limits
        self.quick = BoundedWork(limits.query_workers, limits.query_deadline)
        self.heavy = BoundedWork(limits.query_workers, limits.query_deadline)
        self.rate = RateLimiter(limits.expensive_per_minute) if rate_limited else None
        self.writer = SerialWriter(limits.query_workers)
        self._local = threading.local()

    def admit(self, client: str) -> None:
        """Count one expensive query for `client`, or refuse it with 429."""
        if self.rate is None:
            return
        wait = self.rate.allow(client)
        if wait > 0:
            per = self.limits.expensive_per_minute
            raise Refused(
                429,
                f"too many expensive queries from {client} (limit {per} a minute); "
                f"retry in {math.ceil(wait)} s",
                math.ceil(wait),
            )

    async def lookup(self, registry: RegistryId, path: Path, job: Job[T]) -> T:
        """A quick query (no rate limit), in the lookup pool."""
        return await self._run(self.quick, registry, path, job)

    async def expensive(self, client: str, registry: RegistryId, path: Path, job: Job[T]) -> T:
        """An expensive query: rate-limited per client, in its own pool."""
        self.admit(client)
        return await self._run(self.heavy, registry, path, job)

    async def task(self, job: Callable[[Deadline], T]) -> T:
        """Expensive work that needs no node connection (e.g. reading the CA's state)."""
        try:
            return await self.heavy.run(job)
        except DeadlineExceeded:
            raise self._late() from None

    async def _run(self, pool: BoundedWork, registry: RegistryId, path: Path, job: Job[T]) -> T:
        def run(deadline: Deadline) -> T:
            deadline.check()  # waited for a worker past the deadline: the client has gone
            node = self.reader(registry, path)
            # SQLite asks every 10,000 steps whether to go on: a long scan stops at the deadline
            node.conn.set_progress_handler(deadline.expired, 10_000)
            node.conn.execute("BEGIN")  # one snapshot of the log for the whole answer
            try:
                return job(node, deadline)
            except sqlite3.OperationalError as exc:
                if deadline.expired():
                    raise DeadlineExceeded("the query took too long and was stopped") from None
                raise exc
            finally:
                node.conn.execute("ROLLBACK")
                node.conn.set_progress_handler(None, 0)

        try:
            return await pool.run(run)
        except DeadlineExceeded:
            raise self._late() from None

    def _late(self) -> Refused:
        """One answer however the deadline was noticed (by the work itself or by the wait)."""
        limit = self.limits.query_deadline
        reason = f"the query took longer than {limit:g} s and was stopped; try again later"
        return Refused(503, reason, max(1, math.ceil(limit)))

    def reader(self, registry: RegistryId, path: Path) -> RegistryNode:
        """This worker thread's read-only connection to the node's database."""
        readers: dict[Path, RegistryNode] = self._local.__dict__.setdefault("readers", {})
        node = readers.get(path)
        if node is None:
            conn = sqlite3.connect(path, isolation_level=None)
            conn.execute("PRAGMA query_only = ON")
            node = readers[path] = RegistryNode(registry, conn, path)
        return node

    def close(self) -> None:
        self.quick.close()
        self.heavy.close()
        self.writer.close()


class SerialWriter:
    """A process of its own for writes that are slow, CPU-bound and must not be abandoned
    half-way (issuing a ROA checks the CA against the registry's whole authority, signs and
    publishes files, and records the request's nonce).

    A process, not a thread: Python threads share one interpreter lock, and seconds of pure
    Python work in a thread still slow every lookup the event loop serves. Jobs run one at a
    time to the end; at most `waiting` wait for their turn, past that a 503 with Retry-After.
    The process is started at the first write and again if it dies."""

    def __init__(self, waiting: int) -> None:
        self.waiting = waiting
        self._pending = 0
        self._pool: ProcessPoolExecutor | None = None

    async def run(self, job: Callable[..., T], *args: object) -> T:
        """`job(*args)` in the writer process (`job` and `args` must pickle)."""
        if self._pending > self.waiting:
            raise Refused(503, f"{self._pending} writes are waiting already; try again later", 2)
        if self._pool is None:  # spawned, and ends with the node however the node ends
            self._pool = process_pool(1, nice=0)
        self._pending += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self._pool, job, *args)
        except BrokenProcessPool:
            self._pool = None
            raise Refused(503, "the writer process stopped; try again", 2) from None
        finally:
            self._pending -= 1

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
