"""`onereg audit` after a change and on unchanged nodes (issue 13): each registry's part is
reused while its node (and IANA's) has not moved, and the recombined report is the full audit's;
the whole output is replayed only for exactly the same nodes, lists, code and printing, never
from a file the cache key did not sign; a node that grew is verified from its last verified
state, and what was written to it since is still found.

The federation is small and real: every 40th record line of three registries' 2018 files, and
IANA's registries."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from onereg.audit import parts as parts_module
from onereg.audit.checks import run_audit
from onereg.audit.parts import audit_by_parts
from onereg.audit.view import load_view
from onereg.cli import integrity
from onereg.cli.main import cli
from onereg.core.registries import RegistryId
from onereg.federation.authority import ErxIndex
from onereg.federation.importer import import_delegated_file, import_iana
from onereg.federation.layout import DataDir
from onereg.ledger.entry import make_entry
from onereg.registry.resume import verify_since
from onereg.registry.verify import verify_node_state

REGISTRIES = ("afrinic", "lacnic", "ripencc")
STEP = 40  # every 40th record: a few hundred real lines per registry


def _records(shared: Path, registry: str) -> list[str]:
    path = shared / "delegated" / "2018-10-13" / f"delegated-{registry}-extended-latest"
    lines = path.read_text().splitlines()
    records = [ln for ln in lines[1:] if not ln.endswith("|summary") and not ln.startswith("#")]
    return records[::STEP]


def _write(folder: Path, registry: str, records: list[str]) -> Path:
    path = folder / f"delegated-{registry}-extended-latest"
    path.parent.mkdir(parents=True, exist_ok=True)
    head = f"2.3|{registry}|20181013|{len(records)}|19700101|20181013|+0000"
    path.write_text("\n".join([head, *records]) + "\n")
    return path


@pytest.fixture(scope="module")
def real(shared_data: Path) -> dict[str, list[str]]:
    return {r: _records(shared_data, r) for r in REGISTRIES}


@pytest.fixture(scope="module")
def built(
    tmp_path_factory: pytest.TempPathFactory, shared_data: Path, real: dict[str, list[str]]
) -> Path:
    """The small federation, built once; each test gets a copy."""
    folder = tmp_path_factory.mktemp("federation")
    data = DataDir(folder / "data")
    import_iana(data, shared_data / "iana")
    for registry, records in real.items():
        import_delegated_file(data, _write(folder / "v1", registry, records), None)
    return data.root


@pytest.fixture
def data(built: Path, tmp_path: Path) -> DataDir:
    shutil.copytree(built, tmp_path / "data")
    return DataDir(tmp_path / "data")


def _full(data: DataDir) -> dict[str, object]:
    return run_audit(load_view(data), ErxIndex([]), set()).to_dict()


def _by_parts(data: DataDir) -> dict[str, object]:
    report = audit_by_parts(
        data, ErxIndex([]), set(), (None, None), lambda: pytest.fail("audited in full")
    )
    return report.to_dict()


class Spy:
    """Which registries' parts were computed rather than read from the cache."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.computed: list[str] = []
        real = parts_module.node_part

        def spy(view, rview, *rest):  # type: ignore[no-untyped-def]
            self.computed.append(rview.registry.value)
            return real(view, rview, *rest)

        monkeypatch.setattr(parts_module, "node_part", spy)


def _changed(records: list[str]) -> list[str]:
    """The real records with one country changed, one record dropped and one split in two."""
    out = list(records)
    fields = out[0].split("|")
    fields[1] = "ZZ" if fields[1] != "ZZ" else "YY"
    out[0] = "|".join(fields)
    del out[1]
    i = next(n for n, r in enumerate(out) if r.split("|")[2] == "ipv4" and int(r.split("|")[4]) > 1)
    f = out[i].split("|")
    half = int(f[4]) // 2
    second = f[3].split(".")
    start = sum(int(x) << (24 - 8 * k) for k, x in enumerate(second)) + half
    f2 = list(f)
    f2[3] = ".".join(str(start >> s & 255) for s in (24, 16, 8, 0))
    f2[4] = str(int(f[4]) - half)
    f[4] = str(half)
    out[i : i + 1] = ["|".join(f), "|".join(f2)]
    return out


def test_after_a_change_only_the_moved_node_is_judged_and_the_result_is_the_full_audit(
    data: DataDir, tmp_path: Path, real: dict[str, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    spy = Spy(monkeypatch)
    assert _by_parts(data) == _full(data)
    assert sorted(spy.computed) == sorted(REGISTRIES)  # nothing cached yet
    assert _by_parts(data) == _full(data)
    assert len(spy.computed) == 3  # all reused
    changed = _changed(real["ripencc"])
    import_delegated_file(data, _write(tmp_path / "v2", "ripencc", changed), None)
    incremental = _by_parts(data)
    assert spy.computed[3:] == ["ripencc"]
    assert incremental == _full(data)
    ripe = next(s for s in incremental["summaries"] if s["registry"] == "ripencc")
    assert ripe["records"] == len(changed)  # the change is seen, not the old part


def test_another_allow_list_judges_every_registry_again(
    data: DataDir, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    allow = tmp_path / "allowedlist"
    allow.write_text("")

    def audit() -> dict[str, object]:
        return audit_by_parts(
            data, ErxIndex([]), set(), (None, allow), lambda: pytest.fail("in full")
        ).to_dict()

    audit()
    spy = Spy(monkeypatch)
    audit()
    assert spy.computed == []
    allow.write_text("# another list\n")
    assert audit() == _full(data)
    assert sorted(spy.computed) == sorted(REGISTRIES)


def test_overlapping_records_are_audited_in_full_and_named(
    data: DataDir, tmp_path: Path, real: dict[str, list[str]]
) -> None:
    _by_parts(data)
    ripe = real["ripencc"]
    ipv4 = next(r for r in ripe if r.split("|")[2] == "ipv4")
    clash = ipv4.replace("ripencc|", "afrinic|", 1)  # AFRINIC lists a RIPE NCC block too
    import_delegated_file(data, _write(tmp_path / "v3", "afrinic", [*real["afrinic"], clash]), None)
    full = []
    report = audit_by_parts(
        data,
        ErxIndex([]),
        set(),
        (None, None),
        lambda: full.append(1) or run_audit(load_view(data)),
    )
    assert full == [1]
    assert report.conflicts and report.to_dict() == _full(data)


def _audit(data: DataDir, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--data-dir", str(data.root), "audit", *args])


def _records_of(output: str, registry: str) -> int:
    row = next(line for line in output.splitlines() if f" {registry} " in line and "│" in line)
    return int(row.split("│")[3].strip().replace(",", ""))


def test_the_output_is_replayed_only_while_nothing_moved(
    data: DataDir, tmp_path: Path, real: dict[str, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    first = _audit(data)
    assert first.exit_code == 0, first.output
    spy = Spy(monkeypatch)
    calls: list[int] = []
    real_run = parts_module.audit_by_parts
    monkeypatch.setattr(
        parts_module, "audit_by_parts", lambda *a, **k: calls.append(1) or real_run(*a, **k)
    )
    again = _audit(data)
    assert again.exit_code == 0 and calls == []  # replayed: no audit ran
    strip = lambda text: [ln for ln in text.splitlines() if not ln.startswith("audit took")]  # noqa: E731
    assert strip(again.output) == strip(first.output)
    assert _records_of(again.output, "ripencc") == len(real["ripencc"])
    changed = _changed(real["ripencc"])
    import_delegated_file(data, _write(tmp_path / "v2", "ripencc", changed), None)
    moved = _audit(data)
    assert calls == [1] and spy.computed == ["ripencc"]
    assert _records_of(moved.output, "ripencc") == len(changed)  # not the stale output
    as_json = _audit(data, "--json")  # other printing: not the text of the run before
    assert json.loads(as_json.output)["summaries"][2]["records"] == len(changed)


def test_a_tampered_or_planted_output_is_not_trusted(data: DataDir) -> None:
    honest = _audit(data)
    path = data.root / "cache" / "output.audit.json"
    header, _, body = path.read_bytes().partition(b"\n")
    forged = body.replace(b"no resource has two holders", b"no resource has ten holders")
    assert forged != body
    path.write_bytes(header + b"\n" + forged)  # the HMAC no longer matches
    replayed = _audit(data)
    assert "ten holders" not in replayed.output and "no resource has two holders" in replayed.output
    doc = json.loads(header)
    doc["mac"] = "0" * 64  # a planted file: its maker does not have the key
    path.write_bytes(json.dumps(doc).encode() + b"\n" + forged)
    assert "ten holders" not in _audit(data).output
    assert honest.exit_code == 0


def test_a_conflict_exits_1_when_replayed_too(
    data: DataDir, tmp_path: Path, real: dict[str, list[str]]
) -> None:
    ipv4 = next(r for r in real["ripencc"] if r.split("|")[2] == "ipv4")
    clash = ipv4.replace("ripencc|", "afrinic|", 1)
    import_delegated_file(data, _write(tmp_path / "v3", "afrinic", [*real["afrinic"], clash]), None)
    first, again = _audit(data), _audit(data)
    assert first.exit_code == again.exit_code == 1
    assert "uniqueness conflicts" in again.output


# --- verifying a node that grew ----------------------------------------------------------------


def _grow(data: DataDir, tmp_path: Path, real: dict[str, list[str]], name: str) -> None:
    import_delegated_file(data, _write(tmp_path / name, "ripencc", _changed(real["ripencc"])), None)


def test_a_grown_node_is_verified_from_its_last_state_to_the_full_checks_result(
    data: DataDir, tmp_path: Path, real: dict[str, list[str]]
) -> None:
    rid = RegistryId.RIPENCC
    with data.read(rid) as node:
        report, since = verify_node_state(node, None, replay=False)
    assert report.ok and since is not None
    _grow(data, tmp_path, real, "v2")
    with data.read(rid) as node:
        resumed = verify_since(node, since)
        full = verify_node_state(node, None, replay=False)
    assert resumed is not None and resumed[0].ok
    assert resumed[1] == full[1] and resumed[1].size > since.size


def _sql(data: DataDir, *statements: str) -> None:
    conn = sqlite3.connect(data.node_path(RegistryId.RIPENCC))
    conn.execute("DROP TRIGGER IF EXISTS log_no_update")
    for statement in statements:
        conn.execute(statement)
    conn.commit()
    conn.close()


def _payload(data: DataDir, seq: int) -> bytes:
    conn = sqlite3.connect(data.node_path(RegistryId.RIPENCC))
    (payload,) = conn.execute("SELECT payload FROM log WHERE seq = ?", (seq,)).fetchone()
    conn.close()
    return bytes(payload)


def test_a_bad_new_entry_or_a_rewritten_old_link_is_found_when_resuming(
    data: DataDir, tmp_path: Path, real: dict[str, list[str]]
) -> None:
    assert _audit(data).exit_code == 0  # verified, resume point kept
    assert integrity._resume_point(data, RegistryId.RIPENCC) is not None
    _grow(data, tmp_path, real, "v2")
    with data.read(RegistryId.RIPENCC) as node:
        size, _ = node.head()
    payload = _payload(data, size)
    _sql(data, f"UPDATE log SET payload = x'{(payload + b' ').hex()}' WHERE seq = {size}")
    bad_new = _audit(data)
    assert bad_new.exit_code == 1 and f"log entry {size}" in " ".join(bad_new.output.split())
    _sql(data, f"UPDATE log SET payload = x'{payload.hex()}' WHERE seq = {size}")
    assert _audit(data).exit_code == 0
    _grow(data, tmp_path, real, "v3")  # grows again, and an old link is rewritten
    conn = sqlite3.connect(data.node_path(RegistryId.RIPENCC))
    seq, time, kind, payload = conn.execute(
        "SELECT seq, time, kind, payload FROM log WHERE seq = 2"
    ).fetchone()
    conn.close()
    other = make_entry(seq, time, kind, bytes(payload), b"\x01" * 32)
    _sql(
        data,
        f"UPDATE log SET prev_hash = x'{other.prev_hash.hex()}', "
        f"hash = x'{other.hash.hex()}' WHERE seq = 2",
    )
    rewritten = _audit(data)
    assert rewritten.exit_code == 1 and "log entry 2" in " ".join(rewritten.output.split())
