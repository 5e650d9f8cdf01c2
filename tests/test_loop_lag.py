"""The node's event-loop lag metric: what a request waits before the app's own timer starts."""

from __future__ import annotations

import asyncio
import time
from types import SimpleNamespace
from typing import Any, cast

from onereg.http.metrics import NodeMetrics


def _lag_counts(metrics: NodeMetrics) -> dict[str, float]:
    counts: dict[str, float] = {}
    for family in metrics.registry.collect():
        for sample in family.samples:
            if sample.name.startswith("onereg_event_loop_lag_seconds_"):
                counts[sample.name + sample.labels.get("le", "")] = sample.value
    return counts


def test_a_blocked_event_loop_shows_as_lag() -> None:
    metrics = NodeMetrics(cast(Any, SimpleNamespace(node=None)))  # no node: no state gauges

    async def scenario() -> None:
        watch = asyncio.create_task(metrics.watch_loop(every=0.01))
        await asyncio.sleep(0.2)  # a free loop: every sample well within 25 ms
        calm = _lag_counts(metrics)
        assert calm["onereg_event_loop_lag_seconds_count"] >= 5
        time.sleep(0.15)  # a blocking call on the loop, as a stall would be
        await asyncio.sleep(0.05)
        watch.cancel()
        after = _lag_counts(metrics)
        over_100ms = after["onereg_event_loop_lag_seconds_count"] - after[
            "onereg_event_loop_lag_seconds_bucket0.1"
        ]
        assert over_100ms >= 1  # the timer due during the stall ran ~140 ms late

    asyncio.run(scenario())
