"""Issue 12, point 6, in small: a few seconds of the load test of `bench/bench_hardening.py`
(LACNIC's complete 2018-10-13 file, 10x the expected public query rate on RDAP, whois and RTR,
a peer's witness requests and transfers to ARIN) with every attack of the issue running at once,
and what a hardened node must keep doing: answer legitimate requests on every face, serve
its peers' witness requests and transfers, refuse each attack the way the issue asks, and stay
under the memory bound. Latency is a figure, not a test assertion: the benchmark measures the
RDAP p99 against the issue's 50 ms beside the same load without attacks (docs/benchmarks.md),
because on a shared 2-core test machine the attackers and load generators compete with the node
for the same cores. When a check fails, the message carries the whole table."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

import bench_hardening as bench

SECONDS = 4.0
pytestmark = pytest.mark.realdata


class Run:
    def __init__(self, setup: bench.Setup, phase: bench.Phase) -> None:
        self.phase = phase
        self.report = "\n".join(bench.section("lacnic", SECONDS, setup, [phase]))


@pytest.fixture(scope="module")
def attacked(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    # The attackers at the load's own priority: here the question is whether each attack is
    # refused, and on a busy machine a low-priority attacker may not get going in 4 s (the
    # benchmark lowers them so that its latency figures are the node's, not the rig's).
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(bench, "ATTACKER_NICE", 0)
        setup, phases = bench.run(
            "lacnic",
            SECONDS,
            tmp_path_factory.mktemp("load"),
            attacks_only=True,
            legit_timeout=5.0,
            transfer_timeout=10.0,
        )
    yield Run(setup, phases[0])


def test_the_load_and_the_attacks_ran(attacked: Run) -> None:
    phase = attacked.phase
    assert not phase.failures, attacked.report
    assert len(phase.of("rdap")) == int(bench.rates()["rdap"] * SECONDS), attacked.report
    assert len(phase.of("whois")) == int(bench.rates()["whois"] * SECONDS), attacked.report
    assert set(phase.attacks) == set(bench.ATTACKS), attacked.report  # each gave its tally


@pytest.mark.parametrize("face", ["rtr:reset", "rtr:serial"])
def test_every_router_is_answered_under_attack(attacked: Run, face: str) -> None:
    phase = attacked.phase
    assert phase.of(face) and phase.errors(face) == 0, attacked.report


@pytest.mark.parametrize("face", ["rdap", "whois"])
def test_rdap_and_whois_keep_answering_under_attack(attacked: Run, face: str) -> None:
    """Most legitimate queries are answered within the client's 5 s, where before the fixes
    none was (a frozen node). Not all: on a shared 2-core machine the attackers and the load
    generators compete with the node for the same cores; the benchmark measures the latency."""
    phase = attacked.phase
    sent = len(phase.of(face))
    assert sent and phase.errors(face) <= sent // 2, attacked.report


@pytest.mark.parametrize(
    ("attack", "seen"),
    [
        ("body", "status 413"),  # refused from Content-Length / while streaming, not read
        ("whois-m", "answered"),  # capped and answered, not a frozen node
        ("half-open", "closed by the node"),  # per-client cap and header timeout
        ("rtr-idle", "closed by the node"),  # per-client session cap
        ("whois-idle", "closed by the node"),
    ],
)
def test_each_attack_is_refused_as_the_issue_asks(attacked: Run, attack: str, seen: str) -> None:
    counts = attacked.phase.attacks[attack]["counts"]
    assert any(seen in outcome for outcome in counts), attacked.report


def test_peers_keep_getting_cosignatures_under_attack(attacked: Run) -> None:
    """A frozen node cosigned none (before the fixes); the benchmark counts how many succeed
    over a longer run, where a few time out when the shared cores are saturated."""
    phase = attacked.phase
    sent = len(phase.of("witness"))
    assert sent and phase.errors("witness") < sent, attacked.report


def test_transfers_keep_completing_under_attack(attacked: Run) -> None:
    phase = attacked.phase
    sent = len(phase.of("transfer"))
    assert sent and phase.errors("transfer") < sent, attacked.report


def test_every_node_stays_under_the_memory_bound(attacked: Run) -> None:
    assert attacked.phase.rss_mb, attacked.report
    assert max(attacked.phase.rss_mb.values()) <= bench.RSS_BOUND_MB, attacked.report
