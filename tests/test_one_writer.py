"""One writer per node: concurrent `onereg import` processes on one node never mix or lose data.

Before the fix two imports planned from the same state and appended one after the other: the
node ended with a mix of both files, or the second crashed on a duplicate key. Here many
processes import different files (and the same file twice) at once; afterwards the log is
replayed import by import, and after every import the state must be exactly that file.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import subprocess
import sys
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier
from pathlib import Path

import pytest

import onereg
from onereg.core.registries import RegistryId
from onereg.federation.layout import DataDir, NodeServedError, hold_serve_lock
from onereg.ledger.agreement import SignedAgreement
from onereg.ledger.entry import LogEntry
from onereg.registry import events as ev
from onereg.registry.node import NodeBusyError, RegistryNode, StalePlanError
from onereg.registry.transfer_policy import PolicySet, default_policy_dir
from onereg.registry.transfers import TransferRefused, transfer_within
from test_transfers import NOW, World

SRC = str(Path(onereg.__file__).resolve().parents[1])
Row = tuple[str, str, int, str, str | None]


def _file(directory: Path, index: int, blocks: int = 1000) -> tuple[Path, set[Row]]:
    """A delegated file of AFRINIC whose records differ from the other files' in place, size,
    status and holder, so that a mix of two files is never equal to either."""
    lines, rows = [], set()
    for n in range(blocks):
        value = 512 if (n + index) % 7 == 0 else 256
        start = f"41.{(n * 2) // 256}.{(n * 2) % 256}.0"
        status = "assigned" if (n * index) % 5 == 1 else "allocated"
        holder = f"F{index}-{n % 40}"
        lines.append(f"afrinic|ZA|ipv4|{start}|{value}|2010{index + 1:02d}01|{status}|{holder}")
        rows.add(("ipv4", start, value, status, holder))
    head = f"2.3|afrinic|202001{index + 1:02d}|{len(lines)}|19700101|20200101|+0000"
    path = directory / f"{index}" / "delegated-afrinic-extended-latest"
    path.parent.mkdir()
    path.write_text("\n".join([head, *lines]) + "\n")
    return path, rows


def _delegations(node: RegistryNode) -> set[Row]:
    rows = node.conn.execute("SELECT afi, start_text, value, status, holder FROM delegations")
    return {(a, s, v, st, h) for a, s, v, st, h in rows}


def _segments(entries: list[LogEntry]) -> list[list[LogEntry]]:
    """The log cut before every `source.imported`: one segment per import (the first is the
    node's creation)."""
    out: list[list[LogEntry]] = [[]]
    for entry in entries:
        if entry.kind == ev.SOURCE_IMPORTED:
            out.append([])
        out[-1].append(entry)
    return out


def test_concurrent_imports_are_serialised_and_all_or_nothing(tmp_path: Path) -> None:
    files = [_file(tmp_path, i) for i in range(6)]
    expected = {hashlib.sha256(p.read_bytes()).hexdigest(): rows for p, rows in files}
    data_dir = tmp_path / "data"
    env = {**os.environ, "PYTHONPATH": SRC}
    chosen = [p for p, _ in files] + [files[0][0], files[3][0]]  # two races on the same file
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "onereg.cli.main",
                "--data-dir",
                str(data_dir),
                "import",
                str(p),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for p in chosen
    ]
    results = [(p.wait(timeout=180), p.stderr.read() if p.stderr else "") for p in procs]
    for code, err in results:
        assert code == 0 and "Traceback" not in err, err

    with DataDir(data_dir).open(RegistryId.AFRINIC, create=False) as live:
        entries = list(live.entries())
        replay = RegistryNode.open(RegistryId.AFRINIC, tmp_path / "replay.sqlite", mirror=True)
        imports = 0
        for segment in _segments(entries):
            replay.ingest(segment)
            if segment[0].kind == ev.SOURCE_IMPORTED:
                imports += 1
                sha = segment[0].data()["sha256"]
                assert _delegations(replay) == expected[sha], f"import of {sha[:8]} mixed"
        replay.close()
        assert imports >= len(files)  # every different file went in, each whole
        last = entries[[e.kind for e in entries].index(ev.SOURCE_IMPORTED) :]
        final_sha = [e for e in last if e.kind == ev.SOURCE_IMPORTED][-1].data()["sha256"]
        assert _delegations(live) == expected[final_sha]
        digest = live.state_digest()
        live.rebuild()  # the live tables are exactly the replay of the log
        assert live.state_digest() == digest


def test_a_server_does_not_start_under_a_cli_write_nor_a_cli_write_under_a_server(
    tmp_path: Path,
) -> None:
    data = DataDir(tmp_path)
    node_dir = data.node_dir(RegistryId.LACNIC)
    writer = data.open_for_write(RegistryId.LACNIC, create=True)
    with pytest.raises(NodeServedError, match="did not finish within"):
        hold_serve_lock(node_dir, wait=0.3)  # a CLI command is writing: the server waits
    writer.close()
    fd = hold_serve_lock(node_dir, wait=0.3)
    try:
        with pytest.raises(NodeServedError, match="being served"):
            _other_process_opens_for_write(tmp_path)
    finally:
        os.close(fd)
    data.open_for_write(RegistryId.LACNIC).close()  # served no more: writable again


def _other_process_opens_for_write(root: Path) -> None:
    """The check is per process (the serving process itself may write): ask a child."""
    code = (
        "import sys; from pathlib import Path; from onereg.core.registries import RegistryId;"
        "from onereg.federation.layout import DataDir\n"
        f"try: DataDir(Path({str(root)!r})).open_for_write(RegistryId.LACNIC)\n"
        "except Exception as exc: print(type(exc).__name__, exc); sys.exit(3)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": SRC},
    )
    assert done.returncode == 3, done.stderr
    raise NodeServedError(done.stdout)


def test_a_second_writer_waits_then_fails_clearly_and_a_stale_plan_writes_nothing(
    tmp_path: Path,
) -> None:
    path = tmp_path / "node.sqlite"
    first = RegistryNode.open(RegistryId.APNIC, path)
    second = RegistryNode.open(RegistryId.APNIC, path, wait=0.2)
    holder = (ev.HOLDER_REGISTERED, {"handle": "A1", "name": "", "cc": "AU"})
    with first.writing():
        first.append([holder])
        with pytest.raises(NodeBusyError, match=r"apnic node .* being written by another"):
            second.append([(ev.HOLDER_REGISTERED, {"handle": "B1", "name": "", "cc": "AU"})])
    planned = second.head()
    assert planned[0] == 2 and second.holder("B1") is None  # it waited for the first, wrote nil
    first.append([(ev.HOLDER_REGISTERED, {"handle": "A2", "name": "", "cc": "AU"})])
    with pytest.raises(StalePlanError, match="moved from 2 to 3 entries"):
        second.append(
            [(ev.HOLDER_REGISTERED, {"handle": "B2", "name": "", "cc": "AU"})], planned=planned
        )
    assert second.head()[0] == 3 and second.holder("B2") is None
    first.close()
    second.close()


def _transfer_in_child(
    path: Path, signed: SignedAgreement, start: Barrier, results: Queue[str]
) -> None:
    node = RegistryNode.open(RegistryId.RIPENCC, path, wait=60)
    policies = PolicySet.load(default_policy_dir())
    start.wait()
    try:
        entry = transfer_within(node, signed, policies, NOW)
        results.put(f"done {entry.seq}")
    except TransferRefused as refused:
        results.put(f"refused {refused.reasons}")
    except Exception as exc:  # what the race used to end in: IntegrityError
        results.put(f"crashed {type(exc).__name__}: {exc}")
    finally:
        node.close()


def test_competing_transfers_have_one_winner_and_clear_refusals(tmp_path: Path) -> None:
    world = World(tmp_path, RegistryId.RIPENCC)
    signed = world.signed(world.agreement("193.0.1.0/24"))
    world.node.close()
    context = multiprocessing.get_context("fork")
    start, results = context.Barrier(6), context.Queue()
    path = tmp_path / "ripencc.sqlite"
    children = [
        context.Process(target=_transfer_in_child, args=(path, signed, start, results))
        for _ in range(6)
    ]
    for child in children:
        child.start()
    outcomes = sorted(results.get(timeout=120) for _ in children)
    for child in children:
        child.join(timeout=60)
    assert [o.split()[0] for o in outcomes] == ["done"] + ["refused"] * 5, outcomes
    assert all("replay" in o for o in outcomes[1:]), outcomes
    with RegistryNode.open(RegistryId.RIPENCC, path) as node:
        digest = node.state_digest()
        node.rebuild()
        assert node.state_digest() == digest
