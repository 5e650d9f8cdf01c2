"""`GET /metrics`: the node's health in the Prometheus text format, as operators of IRRd, Krill
and Routinator scrape theirs.

State gauges (log size, checkpoint age and cosignatures, each peer mirror's age, transfers by
state) are read at scrape time from the node and its mirror status by a custom collector, so
they cannot drift from the truth; request counts and latencies per face (rdap, log, witness,
transfers, admin, rrdp, rpki, whois) are observed as requests finish. Each node has its own
`CollectorRegistry` (no process-global state), using the maintained `prometheus_client`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from onereg.federation.publish import cosignature_count

if TYPE_CHECKING:
    from onereg.http.app import NodeService

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
FACES = ("rdap", "log", "witness", "transfers", "holders", "admin", "rrdp", "rpki", "metrics")
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)
LAG_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)
LAG_SAMPLE_SECONDS = 0.05


def face_of(path: str) -> str:
    first = path.lstrip("/").split("/", 1)[0]
    return first if first in FACES else "other"


class NodeMetrics:
    """The node's registry of metrics; `observe` is what the faces call."""

    def __init__(self, service: NodeService) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "onereg_requests",
            "Requests answered, by face and status class",
            ["face", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "onereg_request_seconds",
            "Time to answer a request, by face",
            ["face"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.loop_lag = Histogram(
            "onereg_event_loop_lag_seconds",
            "How late the event loop ran a timer due now (sampled every 50 ms): what a request "
            "arriving then waited before the node read it",
            buckets=LAG_BUCKETS,
            registry=self.registry,
        )
        self.registry.register(_StateCollector(service))

    def observe(self, face: str, seconds: float, status: int) -> None:
        self.requests.labels(face, f"{status // 100}xx").inc()
        self.latency.labels(face).observe(seconds)

    async def watch_loop(self, every: float = LAG_SAMPLE_SECONDS) -> None:
        """Observe the event loop's lag until cancelled.

        The request histogram starts in the app; accepting, reading and parsing a request
        happen before, on the same loop, so a loop kept busy (by refusals, signatures, a
        blocking call) delays clients where that histogram cannot see it. This shows it:
        twenty timers a second, each a few microseconds."""
        loop = asyncio.get_running_loop()
        while True:
            due = loop.time() + every
            await asyncio.sleep(every)
            self.loop_lag.observe(max(0.0, loop.time() - due))

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _StateCollector(Collector):
    def __init__(self, service: NodeService) -> None:
        self.service = service

    def collect(self) -> Iterator[Metric]:
        service, now = self.service, time.time()
        if service.node is None:
            return
        yield _gauge("onereg_log_size", "Entries in the node's log", service.node.head()[0])
        note = service.checkpoint_note()
        yield _gauge(
            "onereg_checkpoint_size", "Size of the latest checkpoint", service.published_size()
        )
        yield _gauge(
            "onereg_checkpoint_cosignatures",
            "Witness cosignatures on the latest checkpoint",
            cosignature_count(note) if note else 0,
        )
        if service.publisher is not None and service.publisher.last_at:
            yield _gauge(
                "onereg_checkpoint_age_seconds",
                "Seconds since the node last signed and published a checkpoint",
                now - service.publisher.last_at,
            )
        yield from self._mirrors(now)
        yield self._transfers()

    def _mirrors(self, now: float) -> Iterator[Metric]:
        if self.service.mirrors is None:
            return
        age = GaugeMetricFamily(
            "onereg_peer_mirror_age_seconds",
            "Seconds since each peer's log was last verified (+Inf: never)",
            labels=["peer"],
        )
        size = GaugeMetricFamily(
            "onereg_peer_mirror_size", "Verified size of each peer's log", labels=["peer"]
        )
        for peer, status in sorted(self.service.mirrors.status.items()):
            seconds = now - status.verified_at if status.verified_at else float("inf")
            age.add_metric([peer], seconds)
            size.add_metric([peer], status.size)
        yield age
        yield size

    def _transfers(self) -> Metric:
        family = GaugeMetricFamily(
            "onereg_transfers", "Transfers this node took part in, by NRO state", labels=["state"]
        )
        assert self.service.node is not None
        rows = self.service.node.conn.execute(
            "SELECT state, count(*) FROM transfers GROUP BY state ORDER BY state"
        )
        for state, count in rows:
            family.add_metric([str(state)], int(count))
        return family


def _gauge(name: str, help_text: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, help_text, value=value)


class MetricsMiddleware:
    """Times every HTTP request and counts it under its face (pure ASGI: no body buffering)."""

    def __init__(self, app: ASGIApp, metrics: Callable[[], NodeMetrics | None]) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started, status = time.perf_counter(), [500]

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            metrics = self.metrics()
            if metrics is not None:
                face = face_of(scope.get("path", ""))
                metrics.observe(face, time.perf_counter() - started, status[0])


def metrics_route(service: NodeService) -> Callable[[Request], object]:
    async def metrics(request: Request) -> Response:
        assert service.metrics is not None
        return Response(service.metrics.render(), media_type=CONTENT_TYPE)

    return metrics
