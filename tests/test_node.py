"""A registry node: the hash-chained log, its projections, imports as diffs, and refusals."""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from onereg.core.errors import LogIntegrityError, OverlapError, SourceFormatError
from onereg.core.registries import RegistryId
from onereg.federation.importer import import_delegated_file
from onereg.federation.layout import DataDir
from onereg.ledger.entry import ENTRY_FORMAT, GENESIS_HASH, LogEntry, make_entry
from onereg.registry import events as ev
from onereg.registry.imports import plan_delegated_import
from onereg.registry.node import NodeStorageError, RegistryNode
from onereg.registry.sources.delegated import DelegatedRecord, parse_delegated

Row = tuple[Any, ...]


def afrinic_2018(shared_data: Path) -> Path:
    return shared_data / "delegated" / "2018-10-13" / "delegated-afrinic-extended-latest"


def afrinic_2026(shared_data: Path) -> Path:
    return shared_data / "delegated" / "recent-mixed-dates" / "delegated-afrinic-extended-latest"


def lacnic_2018(shared_data: Path) -> Path:
    return shared_data / "delegated" / "2018-10-13" / "delegated-lacnic-extended-latest"


def truncated_ripe(shared_data: Path) -> Path:
    return shared_data / "delegated" / "truncated-2026" / "delegated-ripencc-extended-latest.txt"


def delegation(
    afi: str, start: str, value: int, holder: str | None = "h-one", status: str = "allocated"
) -> ev.Payload:
    return {
        "afi": afi,
        "start": start,
        "value": value,
        "cc": "NL",
        "date": "20200101",
        "status": status,
        "holder": holder,
        "opaque": holder,
        "ext": [],
    }


def delegation_rows(node: RegistryNode) -> list[Row]:
    """Every delegations row without its seq column, in key order."""
    return node.conn.execute(
        "SELECT afi, start, end, start_text, value, cc, date, status, holder, opaque, ext, attrs"
        " FROM delegations ORDER BY afi, start"
    ).fetchall()


def holder_rows(node: RegistryNode) -> list[Row]:
    return node.conn.execute("SELECT handle, name, cc FROM holders ORDER BY handle").fetchall()


def changes(entries: list[LogEntry]) -> list[tuple[str, Any]]:
    """The changes the entries record, as (kind, payload), with bulk `batch` entries unpacked."""
    out: list[tuple[str, Any]] = []
    for entry in entries:
        data = entry.data()
        if entry.kind == "batch":
            out.extend((data["kind"], item) for item in data["items"])
        else:
            out.append((entry.kind, data))
    return out


def snapshot(node: RegistryNode) -> tuple[tuple[int, bytes], str]:
    return node.head(), node.state_digest()


@pytest.fixture
def node(tmp_path: Path) -> Iterator[RegistryNode]:
    opened = RegistryNode.open(RegistryId.RIPENCC, tmp_path / "ripencc.sqlite")
    yield opened
    opened.close()


# --- the log ------------------------------------------------------------------------------


def test_entries_chain_and_verify(node: RegistryNode) -> None:
    node.add_delegation(delegation("ipv4", "193.0.0.0", 2048))
    node.add_delegation(delegation("ipv6", "2001:67c:2e8::", 48))
    node.add_delegation(delegation("asn", "3333", 1))
    entries = list(node.entries())
    assert [e.seq for e in entries] == [1, 2, 3, 4]
    assert entries[0].kind == ev.NODE_CREATED
    assert [e.kind for e in entries[1:]] == [ev.DELEGATION_ADDED] * 3
    prev = GENESIS_HASH
    for entry in entries:
        assert entry.prev_hash == prev
        assert entry.encoded().startswith(ENTRY_FORMAT)
        assert entry.hash == hashlib.sha256(entry.encoded()).digest()
        prev = entry.hash
    assert node.head() == (4, entries[-1].hash)
    assert node.verify_log() == 4
    assert node.count("delegations") == 3


def test_log_triggers_refuse_update_and_delete(node: RegistryNode) -> None:
    node.add_delegation(delegation("ipv4", "193.0.0.0", 2048))
    before = list(node.entries())
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        node.conn.execute("UPDATE log SET kind = 'forged' WHERE seq = 2")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        node.conn.execute("UPDATE log SET payload = X'00'")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        node.conn.execute("DELETE FROM log WHERE seq = 2")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        node.conn.execute("DELETE FROM log")
    assert list(node.entries()) == before
    assert node.verify_log() == 2


def test_triggers_survive_reopen(tmp_path: Path) -> None:
    path = tmp_path / "afrinic.sqlite"
    with RegistryNode.open(RegistryId.AFRINIC, path) as first:
        first.add_delegation(delegation("asn", "37000", 1))
        head = first.head()
    raw = sqlite3.connect(path)
    try:
        with pytest.raises(sqlite3.IntegrityError):
            raw.execute("DELETE FROM log WHERE seq = 2")
    finally:
        raw.close()
    with RegistryNode.open(RegistryId.AFRINIC, path) as again:
        assert again.head() == head  # reopening appends nothing
        assert again.verify_log() == 2
    with pytest.raises(LogIntegrityError, match="afrinic"):
        RegistryNode.open(RegistryId.ARIN, path)


def _tamper(node: RegistryNode, sql: str, params: tuple[Any, ...]) -> None:
    node.conn.execute("DROP TRIGGER log_no_update")
    node.conn.execute("DROP TRIGGER log_no_delete")
    node.conn.execute(sql, params)


def test_tampered_payload_breaks_verification(node: RegistryNode) -> None:
    node.add_delegation(delegation("ipv4", "193.0.0.0", 2048))
    node.add_delegation(delegation("ipv4", "193.0.8.0", 1024))
    digest = node.state_digest()
    node.verify_log()
    forged = node.conn.execute("SELECT payload FROM log WHERE seq = 2").fetchone()[0]
    forged = bytes(forged).replace(b'"h-one"', b'"mallory"')
    _tamper(node, "UPDATE log SET payload = ? WHERE seq = 2", (forged,))
    with pytest.raises(LogIntegrityError, match="log entry 2"):
        node.verify_log()
    # a rebuild refuses to replay a forged log and leaves the state as it was
    with pytest.raises(LogIntegrityError):
        node.rebuild()
    assert node.state_digest() == digest


def test_tampered_entry_with_recomputed_hash_breaks_the_next_link(node: RegistryNode) -> None:
    node.add_delegation(delegation("ipv4", "193.0.0.0", 2048))
    node.add_delegation(delegation("ipv4", "193.0.8.0", 1024))
    entry = list(node.entries())[1]
    forged = entry.payload.replace(b'"h-one"', b'"mallory"')
    remade = make_entry(entry.seq, entry.time, entry.kind, forged, entry.prev_hash)
    _tamper(node, "UPDATE log SET payload = ?, hash = ? WHERE seq = 2", (forged, remade.hash))
    with pytest.raises(LogIntegrityError, match="log entry 3: previous-hash link"):
        node.verify_log()


def test_deleted_entry_breaks_verification(node: RegistryNode) -> None:
    node.add_delegation(delegation("ipv4", "193.0.0.0", 2048))
    node.add_delegation(delegation("ipv4", "193.0.8.0", 1024))
    _tamper(node, "DELETE FROM log WHERE seq = 2", ())
    with pytest.raises(LogIntegrityError, match="expected sequence 2"):
        node.verify_log()


# --- overlaps -------------------------------------------------------------------------------


def test_add_delegation_refuses_overlap_naming_both(node: RegistryNode) -> None:
    node.add_delegation(delegation("ipv4", "193.0.0.0", 2048))
    node.add_delegation(delegation("ipv6", "2001:67c:2e8::", 48))
    head, digest = snapshot(node)
    with pytest.raises(OverlapError) as info:
        node.add_delegation(delegation("ipv4", "193.0.4.0", 256, holder="h-two"))
    message = str(info.value)
    assert "193.0.4.0/24" in message  # the new record
    assert "193.0.0.0|2048" in message  # the record it collides with
    assert "h-one" in message
    # a range that covers an existing record from below
    with pytest.raises(OverlapError, match=r"2001:67c:2e8::\|48"):
        node.add_delegation(delegation("ipv6", "2001:67c::", 32))
    assert snapshot(node) == (head, digest)
    # the neighbour just past the end is free
    node.add_delegation(delegation("ipv4", "193.0.8.0", 256))
    assert node.head()[0] == head[0] + 1


# --- synthetic files through the federation importer ---------------------------------------

RIPE = [
    "2.3|ripencc|20260101|4|19830705|20260101|+0100",
    "ripencc|*|asn|*|1|summary",
    "ripencc|*|ipv4|*|2|summary",
    "ripencc|*|ipv6|*|1|summary",
    "ripencc|NL|asn|3333|1|19930901|allocated|h-one",
    "ripencc|NL|ipv4|193.0.0.0|2048|19930901|allocated|h-one",
    "ripencc||ipv4|193.0.8.0|1536||available",
    "ripencc|DE|ipv6|2001:67c:2e8::|48|20090101|assigned|h-two",
]


def write(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(f"{line}\n" for line in lines))
    return path


@pytest.fixture
def ripe_data(tmp_path: Path) -> DataDir:
    """A data directory whose ripencc node holds the small synthetic file."""
    data = DataDir(tmp_path / "fed")
    outcome = import_delegated_file(data, write(tmp_path / "delegated-ripencc-good", RIPE), None)
    assert (outcome.added, outcome.holders_added) == (4, 2)
    return data


def test_synthetic_import_projection(ripe_data: DataDir) -> None:
    with ripe_data.open(RegistryId.RIPENCC, create=False) as node:
        rows = delegation_rows(node)
        assert [(r[0], r[3], r[4], r[7], r[8], r[9]) for r in rows] == [
            ("asn", "3333", 1, "allocated", "h-one", "h-one"),
            ("ipv4", "193.0.0.0", 2048, "allocated", "h-one", "h-one"),
            ("ipv4", "193.0.8.0", 1536, "available", None, None),
            ("ipv6", "2001:67c:2e8::", 48, "assigned", "h-two", "h-two"),
        ]
        assert holder_rows(node) == [("h-one", "", "NL"), ("h-two", "", "DE")]
        assert [d.resource.size for d in node.holder_resources("h-one")] == [1, 2048]


def test_file_with_overlapping_records_is_refused(ripe_data: DataDir, tmp_path: Path) -> None:
    with ripe_data.open(RegistryId.RIPENCC, create=False) as node:
        before = snapshot(node)
    bad = [
        "2.3|ripencc|20260102|5|19830705|20260102|+0100",
        "ripencc|*|asn|*|1|summary",
        "ripencc|*|ipv4|*|3|summary",
        "ripencc|*|ipv6|*|1|summary",
        "ripencc|NL|ipv4|193.0.0.0|2048|19930901|allocated|h-one",
        "ripencc|NL|ipv4|193.0.7.0|256|20200101|assigned|h-three",
        "ripencc|NL|asn|3333|1|19930901|allocated|h-one",
        "ripencc||ipv4|193.0.8.0|1536||available",
        "ripencc|DE|ipv6|2001:67c:2e8::|48|20090101|assigned|h-two",
    ]
    path = write(tmp_path / "delegated-ripencc-overlap", bad)
    assert len(parse_delegated(path).records) == 5  # the file itself is well formed
    with pytest.raises(OverlapError) as info:
        import_delegated_file(ripe_data, path, None)
    message = str(info.value)
    assert f"{path}:5 ripencc|NL|ipv4|193.0.0.0|2048|19930901|allocated|h-one" in message
    assert f"{path}:6 ripencc|NL|ipv4|193.0.7.0|256|20200101|assigned|h-three" in message
    with ripe_data.open(RegistryId.RIPENCC, create=False) as node:
        assert snapshot(node) == before
        assert node.verify_log() == before[0][0]


def test_truncated_real_file_leaves_node_unchanged(ripe_data: DataDir, shared_data: Path) -> None:
    with ripe_data.open(RegistryId.RIPENCC, create=False) as node:
        before = snapshot(node)
    path = truncated_ripe(shared_data)
    with pytest.raises(SourceFormatError) as info:
        import_delegated_file(ripe_data, path, None)
    assert info.value.line == 41_599
    assert f"{path}:41599" in str(info.value)
    with ripe_data.open(RegistryId.RIPENCC, create=False) as node:
        assert snapshot(node) == before
        assert node.source("delegated")["file"] == "delegated-ripencc-good"  # type: ignore[index]


def test_file_of_another_registry_is_refused(node: RegistryNode, tmp_path: Path) -> None:
    arin = [line.replace("ripencc", "arin") for line in RIPE]
    dfile = parse_delegated(write(tmp_path / "delegated-arin-x", arin))
    before = snapshot(node)
    with pytest.raises(SourceFormatError, match="arin file; the node is ripencc"):
        plan_delegated_import(node, dfile, "0" * 64)
    assert snapshot(node) == before


# --- real files ------------------------------------------------------------------------------


@pytest.mark.realdata
@pytest.mark.parametrize(
    ("registry", "source"), [(RegistryId.AFRINIC, afrinic_2018), (RegistryId.LACNIC, lacnic_2018)]
)
def test_real_import_rebuild_gives_identical_state(
    tmp_path: Path, shared_data: Path, registry: RegistryId, source: Any
) -> None:
    data = DataDir(tmp_path)
    path = source(shared_data)
    outcome = import_delegated_file(data, path, None)
    records = len(parse_delegated(path).records)
    assert outcome.added == outcome.records == records
    with data.open(registry, create=False) as node:
        assert node.count("delegations") == records
        digest = node.state_digest()
        head = node.head()
        assert node.rebuild() == head[0]
        assert node.state_digest() == digest
        assert node.head() == head
        assert node.verify_log() == head[0]


@pytest.mark.realdata
@pytest.mark.parametrize(
    ("table", "change"),
    [
        ("delegations", "UPDATE delegations SET cc = 'XX' WHERE start_text = '196.0.0.0'"),
        ("delegations", "DELETE FROM delegations WHERE afi = 'asn' AND start_text = '1228'"),
        ("holders", "UPDATE holders SET cc = 'XX' WHERE handle = 'F36B9F4B'"),
        ("sources", "UPDATE sources SET meta = '{}' WHERE name = 'delegated'"),
    ],
)
def test_digest_sees_every_projection_table(
    tmp_path: Path, shared_data: Path, table: str, change: str
) -> None:
    data = DataDir(tmp_path)
    import_delegated_file(data, afrinic_2018(shared_data), None)
    with data.open(RegistryId.AFRINIC, create=False) as node:
        digest = node.state_digest()
        head = node.head()
        altered = node.conn.execute(change).rowcount
        assert altered == 1, table
        assert node.state_digest() != digest
        # the log still verifies and a rebuild restores the state it describes
        assert node.verify_log() == head[0]
        node.rebuild()
        assert node.state_digest() == digest


@pytest.mark.realdata
def test_same_file_twice_writes_nothing(tmp_path: Path, shared_data: Path) -> None:
    data = DataDir(tmp_path)
    first = import_delegated_file(data, afrinic_2018(shared_data), None)
    assert not first.unchanged and first.entries > 0
    with data.open(RegistryId.AFRINIC, create=False) as node:
        kinds = [kind for kind, _ in changes(list(node.entries()))]
        assert kinds.count(ev.DELEGATION_ADDED) == first.records == 9_373
        assert kinds.count(ev.HOLDER_REGISTERED) == first.holders_added
    with data.open(RegistryId.AFRINIC, create=False) as node:
        before = snapshot(node)
    second = import_delegated_file(data, afrinic_2018(shared_data), None)
    assert second.unchanged
    assert second.entries == 0
    with data.open(RegistryId.AFRINIC, create=False) as node:
        assert snapshot(node) == before


def _by_key(records: list[DelegatedRecord]) -> dict[tuple[str, str], DelegatedRecord]:
    return {(r.type, r.start_text): r for r in records}


@pytest.mark.realdata
def test_newer_file_writes_only_the_diff(tmp_path: Path, shared_data: Path) -> None:
    old_path, new_path = afrinic_2018(shared_data), afrinic_2026(shared_data)
    old, new = (
        _by_key(parse_delegated(old_path).records),
        _by_key(parse_delegated(new_path).records),
    )
    # the expected diff, computed here from the two files alone
    removed = sum(1 for k, r in old.items() if k not in new or new[k].value != r.value)
    added = sum(1 for k, r in new.items() if k not in old or old[k].value != r.value)
    changed = sum(
        1
        for k, r in new.items()
        if k in old and old[k].value == r.value and old[k].text() != r.text()
    )
    unchanged = [k for k, r in new.items() if k in old and old[k].text() == r.text()]
    assert removed and added and changed and unchanged

    data = DataDir(tmp_path / "updated")
    import_delegated_file(data, old_path, None)
    with data.open(RegistryId.AFRINIC, create=False) as node:
        size_before = node.head()[0]
        old_seq = dict(
            ((a, t), s)
            for a, t, s in node.conn.execute("SELECT afi, start_text, seq FROM delegations")
        )
    outcome = import_delegated_file(data, new_path, None)
    assert (outcome.added, outcome.changed, outcome.removed) == (added, changed, removed)

    with data.open(RegistryId.AFRINIC, create=False) as node:
        written = list(node.entries(after=size_before))
        assert len(written) == outcome.entries
        kinds = [kind for kind, _ in changes(written)]
        assert kinds.count(ev.DELEGATION_ADDED) == added
        assert kinds.count(ev.DELEGATION_CHANGED) == changed
        assert kinds.count(ev.DELEGATION_REMOVED) == removed
        assert kinds.count(ev.SOURCE_IMPORTED) == 1
        assert len(written) < len(new)  # far less than rewriting the file
        # untouched records keep the log entry that first wrote them
        new_seq = dict(
            ((a, t), s)
            for a, t, s in node.conn.execute("SELECT afi, start_text, seq FROM delegations")
        )
        assert all(new_seq[k] == old_seq[k] <= size_before for k in unchanged)
        assert node.verify_log() == size_before + len(written)
        updated_rows, updated_holders = delegation_rows(node), holder_rows(node)
        digest = node.state_digest()
        node.rebuild()
        assert node.state_digest() == digest

    fresh = DataDir(tmp_path / "fresh")
    import_delegated_file(fresh, new_path, None)
    with fresh.open(RegistryId.AFRINIC, create=False) as node:
        assert len(updated_rows) == len(new) == node.count("delegations")
        assert updated_rows == delegation_rows(node)
        assert updated_holders == holder_rows(node)


def test_holder_country_does_not_depend_on_line_order(tmp_path: Path) -> None:
    """A holder with as many NL as EU records gets the same cc whichever line comes first."""
    records = [
        "ripencc|NL|ipv4|193.0.0.0|2048|19930901|allocated|h-one",
        "ripencc|EU|ipv4|193.0.8.0|1024|19930901|allocated|h-one",
        "ripencc|DE|asn|3333|1|19930901|allocated|h-two",
    ]
    head = [
        "2|ripencc|20260101|3|19830705|20260101|+0100",
        "ripencc|*|ipv4|*|2|summary",
        "ripencc|*|asn|*|1|summary",
    ]
    found = []
    for name, lines in (("a", records), ("b", records[::-1])):
        data = DataDir(tmp_path / name)
        import_delegated_file(
            data, write(tmp_path / f"delegated-ripencc-{name}", head + lines), None
        )
        with data.open(RegistryId.RIPENCC, create=False) as node:
            found.append(holder_rows(node))
    assert found[0] == found[1] == [("h-one", "", "EU"), ("h-two", "", "DE")]


def test_a_new_node_file_appears_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A reader must never find a node's file before it says whose it is: a transfer check
    that opened a mirror being made wrote a genesis entry into it, and the mirror then
    refused its peer's own first entries for good (the fault test caught it)."""
    path = tmp_path / "mirrors" / "nodes" / "ripencc" / "node.sqlite"
    visible_while_made: list[bool] = []
    make = RegistryNode._create

    def make_and_look(node: RegistryNode, mirror: bool) -> None:
        visible_while_made.append(path.exists())
        make(node, mirror)

    monkeypatch.setattr(RegistryNode, "_create", make_and_look)
    with RegistryNode.open(RegistryId("ripencc"), path, mirror=True) as mirror:
        assert mirror.head()[0] == 0  # a mirror starts empty
    assert visible_while_made == [False]
    assert sorted(p.name for p in path.parent.iterdir()) == ["node.sqlite"]  # no leftovers
    with DataDir(tmp_path / "mirrors").read(RegistryId("ripencc")) as again:
        assert again.head()[0] == 0


def test_a_node_file_without_identity_is_named_not_filled(tmp_path: Path) -> None:
    path = tmp_path / "node.sqlite"
    sqlite3.connect(path).close()  # an empty file, as a crash mid-creation once left one
    with pytest.raises(NodeStorageError, match="without the node's identity"):
        RegistryNode.open(RegistryId("arin"), path)
