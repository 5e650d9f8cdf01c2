"""The transfer story end to end (issue 7 item 4): registry steps -> RPKI -> our validator -> our
RTR server -> BIRD.

RIPE NCC transfers 193.0.1.0/24 to ARIN with the real inter-registry steps and `apply_transfer`
(the world and the step list of tests/test_rpki_transfer.py). After every step both registries
publish, our validator computes the VRPs and our RTR server's cache is updated with them. One
BIRD 2, connected to that server for the whole story, is asked (`roa_check`) about the routes
announced at that moment: R1's AS64500 before, both origins while A1 starts announcing, A1's
AS64501 after. Checked at every step:

* BIRD has the new serial and exactly our validator's VRPs;
* BIRD's verdict on every candidate route equals the RFC 6811 reference, and no announced route
  is ever anything but valid (in particular never ROA_INVALID);
* the ROA for the block changes hands in BIRD's roa table: AS64500's entry first, both during
  the overlap, AS64501's only at the end;
* every change reached BIRD as an increment: the serial grows by one exactly when the VRP set
  changed, and on the wire (recorded inside our server) BIRD sent one Reset Query when it
  connected and only Serial Queries after it, on one connection, never answered with Cache Reset.

Needs bird2 (`bird`, `birdc`); binds 127.0.0.1 only.
"""

from __future__ import annotations

import contextlib
import itertools
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest

from birdlab import Bird, ThreadServer, Vrp, need, wait_for
from onereg.core.resources import Resource
from onereg.rpki.validate import Vrp as ValidatedVrp
from onereg.rpki.validate import validate
from onereg.rtr import server as rtr_server
from onereg.rtr.pdu import Pdu, PduType, SerialQuery
from test_rpki_transfer import BLOCK, STEPS, Route, World, make_world, origin_state

SOURCE_AS, RECIPIENT_AS = 64500, 64501


@dataclass
class Wire:
    """What crossed our RTR server, per connection (the router's address and port): the
    router's queries and our answers."""

    queries: list[tuple[str, PduType, int | None]] = field(default_factory=list)
    sent: list[tuple[str, PduType]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, monkeypatch: pytest.MonkeyPatch) -> None:
        conn_cls = rtr_server._Conn
        answer, send = conn_cls.answer, conn_cls.send

        def recording_answer(conn: rtr_server._Conn, pdu: Pdu, raw: bytes) -> None:
            serial = pdu.serial if isinstance(pdu, SerialQuery) else None
            with self.lock:
                self.queries.append((conn.peer, PduType(raw[1]), serial))
            answer(conn, pdu, raw)

        def recording_send(conn: rtr_server._Conn, *parts: bytes | memoryview) -> None:
            if parts and len(parts[0]) > 1:
                with self.lock:
                    self.sent.append((conn.peer, PduType(parts[0][1])))
            send(conn, *parts)

        monkeypatch.setattr(conn_cls, "answer", recording_answer)
        monkeypatch.setattr(conn_cls, "send", recording_send)

    def snapshot(self) -> tuple[list[tuple[str, PduType, int | None]], list[tuple[str, PduType]]]:
        with self.lock:
            return list(self.queries), list(self.sent)


def our_vrps(w: World) -> list[ValidatedVrp]:
    result = validate(w.tals, w.mirror, datetime.now(UTC))
    assert not result.rejections, result.rejections
    return list(result.vrps)


def as_tuples(vrps: list[ValidatedVrp]) -> set[Vrp]:
    return {(v.asn, v.prefix, v.max_length) for v in vrps}


def covering_block(roas: set[Vrp]) -> set[Vrp]:
    block = Resource.parse(BLOCK)
    return {r for r in roas if Resource.parse(r[1]).contains(block)}


def push(server: ThreadServer, vrps: list[ValidatedVrp]) -> int | None:
    """`RtrCache.update` on the server's loop; the new serial, or None when nothing changed."""
    out: list[int | None] = []
    server.change(lambda: out.append(server.cache.update(vrps)))
    return out[0]


def wait_synced(bird: Bird, serial: int, expected: set[Vrp], label: str) -> None:
    def synced() -> bool:
        return bird.serial() == serial and bird.roas() == expected

    wait_for(synced, timeout=15, what=f"BIRD at serial {serial} after {label!r}")


@dataclass
class Row:
    label: str
    phase: str
    serial: int
    block_roas: set[Vrp]
    verdicts: dict[Route, str]
    announced: set[Route]


def render(rows: list[Row], routes: list[Route]) -> str:
    head = [
        "step",
        "phase",
        "BIRD serial",
        "BIRD ROAs covering the block",
        *[f"{p} AS{a}" for p, a in routes],
    ]
    lines = [" | ".join(head)]
    for row in rows:
        roas = ", ".join(f"{p}-{m} AS{a}" for a, p, m in sorted(row.block_roas, key=str))
        star = {r: "*" if r in row.announced else "" for r in routes}  # announced at this step
        cells = [f"{row.verdicts[r]}{star[r]}" for r in routes]
        lines.append(" | ".join([row.label, row.phase, str(row.serial), roas, *cells]))
    return "\n".join(lines)


def test_transfer_story_reaches_bird_incrementally(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    need("bird", "birdc")
    w = make_world(tmp_path, tmp_path / "pub", "rsync://127.0.0.1:1/")
    routes = sorted({*w.announced, (BLOCK, RECIPIENT_AS)})
    wire = Wire()
    wire.record(monkeypatch)
    rows: list[Row] = []
    bird_dir = tmp_path / "bird"
    bird_dir.mkdir()

    with contextlib.ExitStack() as stack:
        server: ThreadServer | None = None
        bird: Bird | None = None
        prev: set[Vrp] | None = None
        for label, action, want in STEPS:
            action(w)
            got = w.step()
            w.publish()
            assert got == want, f"{label}: phase {got}, expected {want}"
            vrps = our_vrps(w)
            expected = as_tuples(vrps)
            assert expected == w.expected_vrps(), label
            if server is None:  # "before": the server starts with the first set, BIRD connects
                server = ThreadServer(vrps)
                stack.callback(server.stop)
                bird = stack.enter_context(Bird(bird_dir, server.port))
                serial = server.cache.serial
            else:
                changed = push(server, vrps)
                serial = server.cache.serial
                if expected == prev:
                    assert changed is None, f"{label}: no change, yet serial {changed}"
                else:
                    assert changed == rows[-1].serial + 1, f"{label}: serial {changed}"
            assert bird is not None and serial is not None
            wait_synced(bird, serial, expected, label)
            status = bird.status()
            assert status.get("Status") == "Established", status
            assert status.get("Session ID") == str(server.cache.session_id), status
            verdicts = {r: bird.roa_check(*r) for r in routes}
            reference = {r: origin_state(r, expected) for r in routes}
            row = Row(
                label, str(got), serial, covering_block(bird.roas()), verdicts, set(w.announced)
            )
            rows.append(row)
            table = render(rows, routes)
            assert verdicts == reference, f"{label}: BIRD differs from RFC 6811\n{table}"
            for route in w.announced:
                assert verdicts[route] != "invalid", f"{label}: {route} ROA_INVALID\n{table}"
                assert verdicts[route] == "valid", f"{label}: {route} {verdicts[route]}\n{table}"
            prev = expected

        assert server is not None
        queries, sent = wire.snapshot()
    print("\n" + render(rows, routes))
    print("wire (router -> us):", [(k.name, serial) for _, k, serial in queries])
    print("wire (us -> router):", [k.name for _, k in sent])

    table = render(rows, routes)
    # the ROA for the block changed hands in BIRD's table
    source_roa, recipient_roa = (SOURCE_AS, BLOCK, 24), (RECIPIENT_AS, BLOCK, 24)
    assert source_roa in rows[0].block_roas and recipient_roa not in rows[0].block_roas, table
    assert {a for a, _, _ in rows[0].block_roas} == {SOURCE_AS}, table
    assert {a for a, _, _ in rows[-1].block_roas} == {RECIPIENT_AS}, table
    assert rows[-1].block_roas == {recipient_roa}, table
    assert any({source_roa, recipient_roa} <= r.block_roas for r in rows), table  # the overlap
    # the previous origin, if it kept announcing, would now be invalid
    assert rows[-1].verdicts[(BLOCK, SOURCE_AS)] == "invalid", table
    # serials: +1 exactly at each change, never a reset
    serials = [r.serial for r in rows]
    assert all(b - a in (0, 1) for a, b in itertools.pairwise(serials)), serials
    assert serials[-1] > serials[0], serials
    # on the wire: one connection, one Reset Query (the first), then only Serial Queries
    conns = {c for c, _, _ in queries} | {c for c, _ in sent}
    assert len(conns) == 1, f"BIRD reconnected: {queries}"
    kinds = [k for _, k, _ in queries]
    assert kinds[0] == PduType.RESET_QUERY and kinds.count(PduType.RESET_QUERY) == 1, kinds
    assert set(kinds[1:]) == {PduType.SERIAL_QUERY}, kinds
    increments = sum(1 for a, b in itertools.pairwise(serials) if b != a)
    queried = {s for _, k, s in queries if k == PduType.SERIAL_QUERY}
    assert set(range(serials[0], serials[-1])) <= queried, (serials, queries)
    assert kinds.count(PduType.SERIAL_QUERY) >= increments
    answers = [k for _, k in sent]
    assert PduType.CACHE_RESET not in answers and PduType.ERROR_REPORT not in answers, answers
    assert answers.count(PduType.CACHE_RESPONSE) == len(queries), answers
    assert answers.count(PduType.SERIAL_NOTIFY) == increments, answers
