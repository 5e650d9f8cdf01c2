"""The audit's checks on a small federation built for the purpose: IANA's real registries (read in
place) and synthetic RIR files, each record placed to trigger one finding."""

from __future__ import annotations

from pathlib import Path

import pytest

from onereg.audit.checks import run_audit
from onereg.audit.findings import AuditReport
from onereg.audit.nro import export_nro
from onereg.audit.view import load_view
from onereg.federation.authority import ErxIndex
from onereg.federation.importer import import_delegated_file, import_iana
from onereg.federation.layout import DataDir
from onereg.registry.sources.nro_lists import parse_erx_transfers

# 62.12.96.0/19 is on the NRO ERX list as moved from the RIPE NCC to AFRINIC.
FILES = {
    "ripencc": [
        "ripencc|NL|ipv4|193.0.0.0|4096|19930901|allocated|R1",  # own /8: nothing to report
        "ripencc|DE|ipv4|41.1.0.0|256|20100101|allocated|R2",  # AFRINIC's 41/8: inter-rir
        "ripencc|NL|ipv4|10.0.0.0|256|20100101|allocated|R3",  # RFC 1918: IANA reserved
        "ripencc|NL|ipv4|62.12.96.0|256|20100101|allocated|R4",  # overlaps AFRINIC's record
    ],
    "afrinic": [
        "afrinic|ZA|ipv4|41.0.0.0|65536|20050101|allocated|A1",
        "afrinic|KE|ipv4|62.12.96.0|8192|20050101|allocated|A2",  # ERX: RIPE -> AFRINIC
        "afrinic|ZA|ipv4|192.175.48.0|256|20050101|assigned|A3",  # AS112 special-purpose space
    ],
}


def _write(directory: Path, registry: str, lines: list[str], date: str = "20181013") -> Path:
    path = directory / f"delegated-{registry}-extended-latest"
    header = f"2.3|{registry}|{date}|{len(lines)}|19700101|{date}|+0000"
    path.write_text("\n".join([header, f"{registry}|*|ipv4|*|{len(lines)}|summary", *lines]) + "\n")
    return path


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> AuditReport:
    root = tmp_path_factory.mktemp("fed")
    data = DataDir(root / "data")
    erx_file = shared_data / "transfers" / "RIPE-NCC-nro-stats" / "erx-xfr.txt"
    import_iana(data, shared_data / "iana")
    for registry, lines in FILES.items():
        import_delegated_file(data, _write(root, registry, lines), erx_file)
    return run_audit(load_view(data), ErxIndex(parse_erx_transfers(erx_file)))


def test_the_overlap_between_registries_is_named_by_both_records(report: AuditReport) -> None:
    assert not report.ok
    assert len(report.conflicts) == 1
    conflict = report.conflicts[0]
    assert conflict.overlap == "62.12.96.0/24" and conflict.size == 256
    assert {conflict.first.split()[0], conflict.second.split()[0]} == {"afrinic", "ripencc"}
    assert "(A2)" in conflict.first + conflict.second and "(R4)" in conflict.first + conflict.second
    assert not conflict.same_registry


def test_cross_registry_holdings_carry_their_origin(report: AuditReport) -> None:
    by_range = {c.range: c for c in report.cross_holdings}
    inter = by_range["41.1.0.0/24"]
    assert (inter.registry, inter.authority, inter.origin) == ("ripencc", "afrinic", "inter-rir")
    erx = by_range["62.12.96.0/19"]
    assert (erx.registry, erx.authority, erx.origin) == ("afrinic", "ripencc", "erx")
    assert "erx-xfr.txt:" in erx.evidence
    assert all(c.recorded for c in report.cross_holdings)  # the import wrote them to the log


def test_space_iana_kept_is_overclaimed_not_a_cross_holding(report: AuditReport) -> None:
    assert [(o.registry, o.range) for o in report.overclaimed] == [("ripencc", "10.0.0.0/24")]
    assert "10.0.0.0/24" not in {c.range for c in report.cross_holdings}


def test_special_purpose_holdings_are_reported(report: AuditReport) -> None:
    hits = [(s.registry, s.afi) for s in report.special_purpose]
    assert ("afrinic", "ipv4") in hits
    assert any("192.175.48.0/24" in s.special for s in report.special_purpose)


def test_unclaimed_space_is_what_iana_gave_and_nobody_lists(report: AuditReport) -> None:
    afrinic_41 = [
        u for u in report.unclaimed if u.registry == "afrinic" and u.range.startswith("41.")
    ]
    covered = 65536 + 256  # AFRINIC's own /16 plus RIPE's /24 inside 41/8
    assert sum(u.size for u in afrinic_41) == 2**24 - covered
    assert all("41.0.0.0/8" in u.iana_block for u in afrinic_41)


def test_summaries_count_records_and_addresses(report: AuditReport) -> None:
    summary = {s.registry: s for s in report.summaries}
    assert summary["ripencc"].records == 4
    assert summary["afrinic"].totals["ipv4"]["allocated"] == 65536 + 8192
    assert summary["afrinic"].conflicts == 1 and summary["ripencc"].conflicts == 1


def test_the_audit_sees_a_change_made_after_its_cached_view(
    tmp_path: Path, shared_data: Path
) -> None:
    data = DataDir(tmp_path / "data")
    first = _write(tmp_path, "afrinic", FILES["afrinic"][:1])
    import_delegated_file(data, first, None)
    assert load_view(data).rirs[next(iter(load_view(data).rirs))].records == 1
    second = _write(tmp_path, "afrinic", FILES["afrinic"][:2])
    import_delegated_file(data, second, None)
    view = load_view(data)
    assert sum(v.records for v in view.rirs.values()) == 2


def test_cross_holdings_follow_iana_even_when_the_file_is_unchanged(
    tmp_path: Path, shared_data: Path
) -> None:
    data = DataDir(tmp_path / "data")
    path = _write(tmp_path, "ripencc", FILES["ripencc"][:2])
    first = import_delegated_file(data, path, None)  # no IANA node yet: no authority known
    assert first.cross_holdings == 0
    import_iana(data, shared_data / "iana")
    again = import_delegated_file(data, path, None)
    assert again.added == 0 and again.cross_holdings == 1 and not again.unchanged
    report = run_audit(load_view(data))
    assert [(c.range, c.recorded) for c in report.cross_holdings] == [("41.1.0.0/24", True)]
    assert import_delegated_file(data, path, None).unchanged


def test_nro_export_normalises_and_fills_unclaimed(tmp_path: Path, shared_data: Path) -> None:
    data = DataDir(tmp_path / "data")
    import_iana(data, shared_data / "iana")
    import_delegated_file(data, _write(tmp_path, "afrinic", FILES["afrinic"][:1]), None)
    lines = list(export_nro(load_view(data, details=True), today="20261128"))
    assert lines[0].startswith("2|nro|20261128|") and lines[0].endswith("|19821213|20261128|+0000")
    assert "afrinic|ZA|ipv4|41.0.0.0|65536|20050101|assigned|A1|e-stats" in lines  # allocated->
    assert "afrinic|ZZ|ipv4|41.1.0.0|65280|20261128|available|afrinic|e-stats" not in lines
    unclaimed = [x for x in lines if x.startswith("afrinic|ZZ|ipv4|41.1.0.0|")]
    assert unclaimed == ["afrinic|ZZ|ipv4|41.1.0.0|16711680|20261128|available|afrinic|e-stats"]
    assert "iana|ZZ|ipv4|10.0.0.0|16777216|19950601|reserved|ietf|iana" in lines
    summaries = {x.split("|")[2]: int(x.split("|")[4]) for x in lines[1:4]}
    for afi, count in summaries.items():
        assert count == sum(1 for x in lines[4:] if x.split("|")[2] == afi)
