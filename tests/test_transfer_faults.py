"""The fault test: three node processes, hundreds of random transfers (within and between
registries, overlapping, mergers), nodes SIGKILLed at random protocol steps and at random times
and restarted. Afterwards every transfer is settled, each finalized inter-registry transfer is
in both logs exactly once, no two registries hold the same numbers, and nothing is held by
nobody. Seeded: a failure names its seed, and the same seed replays the same choices."""

from __future__ import annotations

import os
import random
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from localfed import LocalFederation
from onereg.audit.checks import run_audit
from onereg.audit.view import load_view
from onereg.core.registries import RegistryId
from onereg.federation.faults import POINTS
from onereg.ledger.agreement import SignedAgreement
from onereg.registry import events as ev
from onereg.registry.transfers import HELD

REGISTRIES = ("ripencc", "arin", "apnic")
FIRST_OCTET = {"ripencc": 193, "arin": 23, "apnic": 103}
HOLDERS = 4
TRANSFERS = int(os.environ.get("ONEREG_FAULT_TRANSFERS", "200"))
CRASH_PROBABILITY = 0.02


def _holdings() -> dict[str, list[tuple[str, str, int, str]]]:
    """Each registry: four holders, each with a /16 (IPv4) and an ASN."""
    out: dict[str, list[tuple[str, str, int, str]]] = {}
    for n, registry in enumerate(REGISTRIES):
        rows = []
        for h in range(HOLDERS):
            holder = f"{registry.upper()}-{h}"
            rows.append(("ipv4", f"{FIRST_OCTET[registry]}.{h}.0.0", 65536, holder))
            rows.append(("asn", str(64500 + n * 10 + h), 1, holder))
        out[registry] = rows
    return out


@dataclass
class Run:
    fed: LocalFederation
    rng: random.Random
    seed: int
    restarts: Counter[str] = field(default_factory=Counter)
    outcomes: Counter[str] = field(default_factory=Counter)
    # who the harness believes holds each /24 (registry, holder); wrong guesses are refused
    owner: dict[str, tuple[str, str]] = field(default_factory=dict)
    moved: set[str] = field(default_factory=set)  # received by transfer: holding periods apply
    reasons: Counter[str] = field(default_factory=Counter)
    kills: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def plan(self, registry: str) -> dict[str, object]:
        self.restarts[registry] += 1
        return {
            "probability": CRASH_PROBABILITY,
            "seed": self.seed * 1000 + REGISTRIES.index(registry) * 100 + self.restarts[registry],
            "points": sorted(POINTS),
        }

    def ensure_up(self) -> None:
        """Every node running; one that crashes at a fault point while it starts (recovering
        a transfer) is started again, with the next plan."""
        with self.lock:
            for registry in REGISTRIES:
                for _ in range(50):
                    if self.fed.alive(registry):
                        break
                    self.fed.start(registry, self.plan(registry))
                else:
                    raise AssertionError(f"seed {self.seed}: {registry} kept crashing at start")

    def kill(self, registry: str) -> None:
        with self.lock:
            self.fed.kill(registry)
        self.kills.append(registry)

    def concurrently(self, signed: list[SignedAgreement], victim: str | None, delay: float) -> None:
        """Submit several agreements at once, and kill a node while they are in flight."""

        def go(one: SignedAgreement) -> None:
            with httpx.Client() as client:
                self.submit(client, one)

        threads = [threading.Thread(target=go, args=(one,)) for one in signed]
        for t in threads:
            t.start()
        if victim is not None:
            time.sleep(delay)
            self.kill(victim)
        for t in threads:
            t.join()

    def pick(self) -> tuple[str, tuple[str, str], tuple[str, str], str]:
        fresh = sorted(set(self.owner) - self.moved)
        # mostly blocks never moved; some moved ones, which holding periods mostly refuse
        block = self.rng.choice(fresh if fresh and self.rng.random() < 0.85 else sorted(self.owner))
        source = self.owner[block]
        roll = self.rng.random()
        if roll < 0.3:  # within the registry, sometimes as a merger
            other = self.rng.choice([h for h in range(HOLDERS) if f"-{h}" != source[1][-2:]])
            recipient = (source[0], f"{source[0].upper()}-{other}")
            kind = "merger" if self.rng.random() < 0.3 else "transfer"
        else:
            registry = self.rng.choice([r for r in REGISTRIES if r != source[0]])
            recipient = (registry, f"{registry.upper()}-{self.rng.randrange(HOLDERS)}")
            kind = "transfer"
        if self.rng.random() < 0.15:  # an overlapping /23 competing with whatever is in flight
            a, b, c, _ = block.split(".")
            block = f"{a}.{b}.{int(c) & ~1}.0/23"
        else:
            block = f"{block}/24"
        return block, source, recipient, kind

    def record(self, signed: SignedAgreement, answer: dict[str, object]) -> None:
        state = str(answer.get("state", "refused"))
        self.outcomes[state] += 1
        reasons = answer.get("reasons")
        if isinstance(reasons, list) and reasons:
            first = str(reasons[0])
            self.reasons["locked by a competing transfer" if "locked" in first else first[:50]] += 1
        a = signed.agreement
        if state == "sourceFinalized" and a.resource.endswith("/24"):
            block = a.resource.split("/")[0]
            self.owner[block] = (a.recipient_registry, a.recipient_holder)
            self.moved.add(block)

    def submit(self, client: httpx.Client, signed: SignedAgreement) -> None:
        """Retried until the source node answers (a crash in between is the point)."""
        for _ in range(20):
            self.ensure_up()
            try:
                reply = self.fed.submit(client, signed)
            except httpx.HTTPError:
                self.outcomes["retried after a crash"] += 1
                continue
            if reply.status_code in (200, 202, 422):
                self.record(signed, reply.json())
                return
            self.outcomes[f"http {reply.status_code}"] += 1
            time.sleep(0.2)
        raise AssertionError(f"seed {self.seed}: the source node never answered")


@pytest.fixture
def fed(tmp_path: Path) -> Iterator[LocalFederation]:
    f = LocalFederation(tmp_path, _holdings())
    yield f
    f.stop()


def _held_space(fed: LocalFederation) -> dict[str, list[tuple[int, int, str]]]:
    out: dict[str, list[tuple[int, int, str]]] = {"ipv4": [], "asn": []}
    for registry in REGISTRIES:
        with fed.data.open(RegistryId(registry), create=False) as node:
            for d in node.delegations():
                if d.status in HELD:
                    out[d.resource.afi.value].append((d.resource.start, d.resource.end, registry))
    return out


def _total(space: dict[str, list[tuple[int, int, str]]]) -> dict[str, int]:
    return {afi: sum(e - s + 1 for s, e, _ in rows) for afi, rows in space.items()}


def _wait_settled(fed: LocalFederation, seed: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        open_ = 0
        for registry in REGISTRIES:
            with fed.data.open(RegistryId(registry), create=False) as node:
                open_ += node.conn.execute(
                    "SELECT count(*) FROM transfers WHERE state IN "
                    "('sourceInitialized', 'recipientAccepted')"
                ).fetchone()[0]
        if open_ == 0:
            return
        time.sleep(0.5)
    raise AssertionError(
        f"seed {seed}: {open_} transfers still open after {timeout} s\n{_unsettled(fed)}"
    )


def _unsettled(fed: LocalFederation) -> str:
    """What a failed settle leaves to read: each open transfer, each node's view of its
    peers' mirrors, and the end of each node's log."""
    from onereg.federation.mirror import load_status

    lines = []
    for registry in REGISTRIES:
        with fed.data.open(RegistryId(registry), create=False) as node:
            rows = node.conn.execute(
                "SELECT id, role, state, counterpart FROM transfers WHERE state IN "
                "('sourceInitialized', 'recipientAccepted') LIMIT 8"
            ).fetchall()
            lines += [f"{registry}: {tuple(r)}" for r in rows]
        for peer, status in load_status(fed.root / "nodes" / registry / "mirrors").items():
            lines.append(f"{registry} mirror of {peer}: {status}")
        log = (fed.root / f"{registry}.log").read_text(errors="replace").splitlines()[-6:]
        lines += [f"{registry} log: {line}" for line in log]
    return "\n".join(lines)


def _ids(fed: LocalFederation, registry: str, kind: str) -> Counter[str]:
    with fed.data.open(RegistryId(registry), create=False) as node:
        return Counter(e.data()["id"] for e in node.entries_of_kind(kind))


@pytest.mark.parametrize("seed", [int(os.environ.get("ONEREG_FAULT_SEED", "7"))])
def test_transfers_survive_crashes(fed: LocalFederation, seed: int) -> None:
    run = Run(fed, random.Random(seed), seed)
    for registry, rows in _holdings().items():
        for afi, start, _, holder in rows:
            if afi == "ipv4":
                a, b, _, _ = start.split(".")
                for c in range(32):  # the first 32 /24s of every /16 are in play
                    run.owner[f"{a}.{b}.{c}.0"] = (registry, holder)
    before = _held_space(fed)
    run.ensure_up()
    signed_all: list[SignedAgreement] = []
    with httpx.Client() as client:
        while len(signed_all) < TRANSFERS:
            block, source, recipient, kind = run.pick()
            signed = fed.agreement(block, source, recipient, kind)
            signed_all.append(signed)
            roll = run.rng.random()
            if roll < 0.1:  # a competing agreement for an overlapping block, at the same time
                net = block.split("/")[0]
                a, b, c, _ = net.split(".")
                rival = f"{a}.{b}.{int(c) & ~1}.0/23" if block.endswith("/24") else f"{net}/24"
                other = run.rng.choice([r for r in REGISTRIES if r != source[0]])
                competing = fed.agreement(rival, source, (other, f"{other.upper()}-0"))
                signed_all.append(competing)
                run.concurrently([signed, competing], None, 0)
            elif roll < 0.2:  # a node killed while the transfer is in flight
                victim = run.rng.choice(REGISTRIES)
                run.concurrently([signed], victim, run.rng.uniform(0, 0.08))
            else:
                run.submit(client, signed)
        for registry in REGISTRIES:  # no more faults: let everything settle
            fed.kill(registry)
            fed.start(registry)
        _wait_settled(fed, seed)
    fed.stop()

    report = run_audit(load_view(fed.data))
    assert report.conflicts == [], f"seed {seed}: {report.conflicts[:3]}"
    after = _held_space(fed)
    assert _total(after) == _total(before), f"seed {seed}: space held by nobody or twice"
    finalized = {r: _ids(fed, r, ev.TRANSFER_FINALIZED) for r in REGISTRIES}
    registered = {r: _ids(fed, r, ev.TRANSFER_REGISTERED) for r in REGISTRIES}
    completed = {r: _ids(fed, r, ev.TRANSFER_COMPLETED) for r in REGISTRIES}
    by_id = {s.agreement.nonce: s.agreement for s in signed_all}
    inter_done = 0
    for registry in REGISTRIES:
        for tid, count in finalized[registry].items():
            a = by_id[tid]
            assert count == 1, f"seed {seed}: {tid} finalized {count} times"
            assert registered[a.recipient_registry][tid] == 1, (
                f"seed {seed}: {tid} not registered once"
            )
            inter_done += 1
        for tid in registered[registry]:
            assert finalized[by_id[tid].source_registry][tid] == 1
        assert all(c == 1 for c in completed[registry].values())
    assert inter_done >= 20, f"seed {seed}: only {inter_done} inter-registry transfers finalized"
    assert sum(run.restarts.values()) - len(REGISTRIES) >= 5, "too few crashes to mean anything"
    print(f"seed {seed}: {dict(run.outcomes)}; restarts {dict(run.restarts)}; kills {run.kills}")
    print(f"first refusal reasons: {run.reasons.most_common(8)}")
