"""The per-client guards every face shares: caps by address and network, a rate limit, deadlines."""

from __future__ import annotations

import asyncio
import time

import pytest

from onereg.federation.guard import (
    BoundedWork,
    ConnectionGuard,
    Deadline,
    DeadlineExceeded,
    RateLimiter,
    network_of,
)


@pytest.mark.parametrize(
    ("address", "network"),
    [
        ("198.18.7.9", "198.18.7.0/24"),
        ("198.18.7.255", "198.18.7.0/24"),
        ("::ffff:198.18.7.9", "198.18.7.0/24"),
        ("2001:db8:1:2::5", "2001:db8:1::/48"),
        ("fe80::1%eth0", "fe80::/48"),
        ("unix-socket", "unix-socket"),
    ],
)
def test_clients_count_towards_their_slash_24_or_slash_48(address: str, network: str) -> None:
    assert network_of(address) == network


def test_a_client_that_reopens_is_not_parsed_again() -> None:
    """Every connection asks for its network twice; a client reopening connections is looked
    up, not parsed, after its first (the same answers as parsing, above)."""
    network_of.cache_clear()
    for _ in range(100):
        assert network_of("198.18.9.7") == "198.18.9.0/24"
    info = network_of.cache_info()
    assert (info.misses, info.hits) == (1, 99)


def test_caps_per_address_then_per_network_then_in_all() -> None:
    guard = ConnectionGuard(per_client=2, per_network=3, total=4)
    assert guard.admit("198.18.0.1") is None and guard.admit("198.18.0.1") is None
    assert "from 198.18.0.1 (limit 2)" in (guard.admit("198.18.0.1") or "")
    assert guard.admit("198.18.0.2") is None
    assert "from 198.18.0.0/24 (limit 3)" in (guard.admit("198.18.0.3") or "")
    assert guard.admit("198.18.1.1") is None
    assert "in all (limit 4)" in (guard.admit("198.18.2.1") or "")
    guard.release("198.18.0.1")
    assert guard.admit("198.18.0.3") is None  # a freed slot is usable again
    assert guard.active == 4


def test_a_client_gets_its_rate_and_is_told_when_to_come_back() -> None:
    now = [0.0]
    limiter = RateLimiter(per_minute=3, clock=lambda: now[0])
    assert [limiter.allow("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    wait = limiter.allow("a")
    assert wait == pytest.approx(20.0)
    assert limiter.allow("b") == 0.0  # another client is not affected
    now[0] += 20.0
    assert limiter.allow("a") == 0.0


def test_slow_work_is_stopped_and_does_not_block_the_loop() -> None:
    work = BoundedWork(workers=2, deadline=0.3)

    def slow(deadline: Deadline) -> int:
        steps = 0
        while True:
            deadline.check()
            time.sleep(0.01)
            steps += 1

    async def main() -> tuple[float, int]:
        started = time.monotonic()
        ticks = 0

        async def tick() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        ticker = asyncio.create_task(tick())
        with pytest.raises(DeadlineExceeded, match=r"longer than 0\.3 s"):
            await work.run(slow)
        ticker.cancel()
        assert await work.run(lambda d: 7) == 7
        return time.monotonic() - started, ticks

    elapsed, ticks = asyncio.run(main())
    work.close()
    assert elapsed < 1.0
    assert ticks >= 10  # the loop kept running while the job did
