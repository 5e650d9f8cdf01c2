"""What a serving node builds once at start is exempt from the cyclic garbage collector."""

from __future__ import annotations

import asyncio
import gc
from types import SimpleNamespace
from typing import Any, cast

from onereg.http import app


def test_long_lived_objects_are_frozen_once_the_first_checkpoint_is_out() -> None:
    """Full collections walked the state tree and the authority map again and again (80-350 ms
    each, the RDAP p99 of the load test); frozen, a collection walks only what is new. The
    freeze waits for the first publication, which builds the state tree."""
    publisher = SimpleNamespace(last_at=0.0)
    service = cast(Any, SimpleNamespace(publisher=publisher))
    long_lived = [[n] for n in range(1000)]  # stands for the state tree

    async def run() -> int:
        freezing = asyncio.create_task(app._freeze_long_lived(service, None))
        await asyncio.sleep(0.7)
        frozen_before = gc.get_freeze_count()
        publisher.last_at = 1.0  # the first checkpoint is published
        await asyncio.wait_for(freezing, 5)
        return frozen_before

    gc.unfreeze()
    try:
        frozen_before = asyncio.run(run())
        assert frozen_before == 0  # not before the state tree exists
        assert gc.get_freeze_count() >= len(long_lived)
    finally:
        gc.unfreeze()
