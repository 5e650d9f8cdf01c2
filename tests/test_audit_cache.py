"""What `onereg audit` reuses (audit.cache): its report while no node moved and the lists are the
same, and a node's verification while its head and files are those it was verified with; and
what it never reuses: a report after a node moved, after the ERX list changed or from a damaged
file, or a verification after anyone wrote to the node's database (even keeping its head)."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from onereg.audit import checks
from onereg.audit.cache import (
    AuthorityParts,
    cached_report,
    erx_transfers,
    remember_verified,
    verified_before,
)
from onereg.audit.checks import run_audit
from onereg.audit.findings import AuditReport
from onereg.audit.view import load_view
from onereg.cli.main import cli
from onereg.core.registries import RegistryId
from onereg.federation.importer import import_delegated_file, import_iana
from onereg.federation.layout import DataDir
from onereg.registry.sources.nro_lists import parse_erx_transfers
from test_tamper_reported import RID, _file, _flip_payload_byte


@pytest.fixture
def data(tmp_path: Path) -> DataDir:
    data = DataDir(tmp_path / "data")
    for version in (1, 2):
        import_delegated_file(data, _file(tmp_path, version), None)
    return data


class Counting:
    """The audit itself, counting how often it really ran."""

    def __init__(self, data: DataDir) -> None:
        self.data, self.runs = data, 0

    def __call__(self) -> AuditReport:
        self.runs += 1
        return run_audit(load_view(self.data))


def test_the_report_is_reused_until_a_node_moves(data: DataDir, tmp_path: Path) -> None:
    audit = Counting(data)
    first = cached_report(data, None, None, audit)
    again = cached_report(data, None, None, audit)
    assert audit.runs == 1
    assert again.to_dict() == first.to_dict() and again.summaries[0].records == 40
    import_delegated_file(data, _file(tmp_path, 3, records=41), None)
    moved = cached_report(data, None, None, audit)
    assert audit.runs == 2 and moved.summaries[0].records == 41


def test_another_erx_list_or_a_damaged_file_means_a_new_report(
    data: DataDir, tmp_path: Path
) -> None:
    audit = Counting(data)
    erx = tmp_path / "erx.txt"
    erx.write_text("")
    cached_report(data, erx, None, audit)
    erx.write_text("# another list\n")
    cached_report(data, erx, None, audit)
    assert audit.runs == 2
    path = data.root / "cache" / "report.audit.json"
    raw = bytearray(path.read_bytes())
    raw[-2] ^= 1  # one bit of the body: the HMAC no longer matches
    path.write_bytes(bytes(raw))
    cached_report(data, erx, None, audit)
    assert audit.runs == 3


def test_a_verification_holds_only_for_the_same_files(data: DataDir) -> None:
    header = verified_before(data, RID)
    assert header is not None  # never verified
    remember_verified(data, header)
    assert verified_before(data, RID) is None
    db = data.node_path(RID)
    info = db.stat()
    os.utime(db, ns=(info.st_atime_ns, info.st_mtime_ns))  # same times: the ctime moved
    assert verified_before(data, RID) is not None


def test_a_verification_holds_while_only_the_wals_ctime_moves(data: DataDir) -> None:
    """SQLite running as root re-chowns a WAL on every open: its ctime moves and nothing else.
    That alone must not cost a verification per audit; a write to the WAL still does."""
    db = data.node_path(RID)
    writer = sqlite3.connect(db)  # held open: its write stays in the WAL
    try:
        writer.execute("CREATE TABLE IF NOT EXISTS scratch (x)")
        writer.execute("INSERT INTO scratch VALUES (1)")
        writer.commit()
        wal = db.with_name(db.name + "-wal")
        assert wal.stat().st_size > 0
        header = verified_before(data, RID)
        assert header is not None
        remember_verified(data, header)
        os.chown(wal, wal.stat().st_uid, wal.stat().st_gid)  # as SQLite does on opening
        assert verified_before(data, RID) is None
        writer.execute("INSERT INTO scratch VALUES (2)")
        writer.commit()
        assert verified_before(data, RID) is not None
    finally:
        writer.close()


def _audit(data: DataDir) -> Result:
    return CliRunner().invoke(cli, ["--data-dir", str(data.root), "audit"])


def test_tampering_after_a_cached_verification_is_still_reported(data: DataDir) -> None:
    assert _audit(data).exit_code == 0
    assert verified_before(data, RID) is None  # the audit remembered the intact node
    _flip_payload_byte(data, 3)  # the head stays, the file changes
    done = _audit(data)
    assert done.exit_code == 1
    assert "log entry 3" in " ".join(done.output.split())


def _delegated(root: Path, name: str, registry: str, lines: list[str]) -> Path:
    path = root / name / f"delegated-{registry}-extended-latest"
    path.parent.mkdir(parents=True)
    head = f"2.3|{registry}|20200102|{len(lines)}|19700101|20200101|+0000"
    path.write_text("\n".join([head, *lines]) + "\n")
    return path


def test_after_a_change_only_the_moved_nodes_authority_part_is_computed(
    tmp_path: Path, shared_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = DataDir(tmp_path / "data")
    import_iana(data, shared_data / "iana")
    afrinic = [
        "afrinic|ZA|ipv4|41.0.0.0|1024|20100102|allocated|H1",
        "afrinic|ZA|ipv4|193.0.4.0|256|20100102|allocated|H2",
    ]  # in RIPE NCC's /8
    ripe = [
        "ripencc|DE|ipv4|41.1.0.0|256|20100101|allocated|R1",  # in AFRINIC's /8
        "ripencc|NL|ipv4|193.0.0.0|256|20100101|allocated|R2",
    ]
    import_delegated_file(data, _delegated(tmp_path, "a", "afrinic", afrinic), None)
    import_delegated_file(data, _delegated(tmp_path, "r", "ripencc", ripe), None)
    first = AuthorityParts(data, None)
    run_audit(load_view(data), None, None, first)
    first.save()
    ripe.append("ripencc|NL|ipv4|41.2.0.0|256|20100101|allocated|R3")  # one more in AFRINIC's
    import_delegated_file(data, _delegated(tmp_path, "r2", "ripencc", ripe), None)
    computed: list[str] = []
    real = checks.authority_of

    def spy(view: object, rid: RegistryId, *rest: object) -> object:
        computed.append(rid.value)
        return real(view, rid, *rest)  # type: ignore[arg-type]

    monkeypatch.setattr(checks, "authority_of", spy)
    parts = AuthorityParts(data, None)
    assert set(parts.loaded) == {RegistryId.AFRINIC}  # RIPE NCC moved: its part is stale
    reused = run_audit(load_view(data), None, None, parts)
    assert computed == ["ripencc"]
    fresh = run_audit(load_view(data), None, None)
    assert reused.to_dict() == fresh.to_dict()
    assert [c.range for c in reused.cross_holdings if c.registry == "ripencc"] == [
        "41.1.0.0/24",
        "41.2.0.0/24",
    ]


def test_the_erx_list_from_the_cache_is_the_parsed_one(data: DataDir, shared_data: Path) -> None:
    path = shared_data / "transfers" / "RIPE-NCC-nro-stats" / "erx-xfr.txt"
    parsed = parse_erx_transfers(path)
    assert erx_transfers(data, path) == parsed  # parsed, and remembered
    assert (data.root / "cache" / "erx.json").exists()
    assert erx_transfers(data, path) == parsed  # from the cache, the same objects
    assert len(parsed) > 3000
