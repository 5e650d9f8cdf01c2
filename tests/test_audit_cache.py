"""What `onereg audit` reuses (audit.parts, audit.cache): a registry's part while its node, IANA's
and the lists are the same, and a node's verification while its head and files are those it was
verified with; and what it never reuses: a part after its node moved, after the ERX list changed
or from a damaged file, or a verification after anyone wrote to the node's database (even
keeping its head). tests/test_audit_incremental.py has the rest, on real data."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from onereg.audit import parts as parts_module
from onereg.audit.cache import erx_transfers, remember_verified, verified_before
from onereg.audit.checks import run_audit
from onereg.audit.findings import AuditReport
from onereg.audit.parts import audit_by_parts
from onereg.audit.view import load_view
from onereg.cli.main import cli
from onereg.federation.authority import ErxIndex
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
    """The audit by parts, counting how often a registry's part was really computed."""

    def __init__(self, data: DataDir, monkeypatch: pytest.MonkeyPatch) -> None:
        self.data, self.runs = data, 0
        real = parts_module.node_part

        def spy(*args):  # type: ignore[no-untyped-def]
            self.runs += 1
            return real(*args)

        monkeypatch.setattr(parts_module, "node_part", spy)

    def __call__(self, erx: Path | None = None) -> AuditReport:
        return audit_by_parts(
            self.data, ErxIndex([]), set(), (erx, None), lambda: run_audit(load_view(self.data))
        )


@pytest.fixture
def with_iana(data: DataDir, shared_data: Path) -> DataDir:
    import_iana(data, shared_data / "iana")
    return data


def test_a_part_is_reused_until_its_node_moves(
    with_iana: DataDir, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = with_iana
    audit = Counting(data, monkeypatch)
    first = audit()
    again = audit()
    assert audit.runs == 1
    assert again.to_dict() == first.to_dict() and again.summaries[0].records == 40
    import_delegated_file(data, _file(tmp_path, 3, records=41), None)
    moved = audit()
    assert audit.runs == 2 and moved.summaries[0].records == 41


def test_another_erx_list_or_a_damaged_file_means_a_new_part(
    with_iana: DataDir, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = with_iana
    audit = Counting(data, monkeypatch)
    erx = tmp_path / "erx.txt"
    erx.write_text("")
    audit(erx)
    erx.write_text("# another list\n")
    audit(erx)
    assert audit.runs == 2
    path = data.root / "cache" / f"{RID.value}.part.json"
    raw = bytearray(path.read_bytes())
    raw[-2] ^= 1  # one bit of the body: the HMAC no longer matches
    path.write_bytes(bytes(raw))
    audit(erx)
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


def test_after_a_change_only_the_moved_nodes_part_is_computed(
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
    audit = Counting(data, monkeypatch)
    audit()
    ripe.append("ripencc|NL|ipv4|41.2.0.0|256|20100101|allocated|R3")  # one more in AFRINIC's
    import_delegated_file(data, _delegated(tmp_path, "r2", "ripencc", ripe), None)
    computed: list[str] = []
    real = parts_module.node_part

    def spy(view: object, rview: object, *rest: object) -> object:
        computed.append(rview.registry.value)  # type: ignore[attr-defined]
        return real(view, rview, *rest)  # type: ignore[arg-type]

    monkeypatch.setattr(parts_module, "node_part", spy)
    reused = audit()
    assert computed == ["ripencc"]
    fresh = run_audit(load_view(data))
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
