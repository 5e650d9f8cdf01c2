"""The delegated-file reader, on the real files of all five RIRs and on small broken ones."""

from __future__ import annotations

import gzip
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest

from onereg.core.errors import SourceFormatError
from onereg.core.resources import Afi
from onereg.registry.sources.delegated import DelegatedFile, parse_delegated
from realdata import EXPECTED_2018


def real_2018(shared_data: Path, registry: str) -> Path:
    return shared_data / "delegated" / "2018-10-13" / f"delegated-{registry}-extended-latest"


@pytest.fixture(scope="module")
def parsed_2018(shared_data: Path) -> dict[str, DelegatedFile]:
    """Each real 2018 file parsed once for the whole module."""
    return {reg: parse_delegated(real_2018(shared_data, reg)) for reg in EXPECTED_2018}


def source_lines(path: Path) -> list[str]:
    return path.read_text().split("\n")


# --- the real 2018-10-13 files ---------------------------------------------------------------


@pytest.mark.realdata
@pytest.mark.parametrize("registry", list(EXPECTED_2018))
def test_real_file_counts_and_lines(
    parsed_2018: dict[str, DelegatedFile], shared_data: Path, registry: str
) -> None:
    dfile = parsed_2018[registry]
    path = real_2018(shared_data, registry)
    assert dfile.registry == registry
    assert len(dfile.records) == EXPECTED_2018[registry]
    assert dfile.header.records == EXPECTED_2018[registry]
    # summaries agree with what is there
    per_type = Counter(r.type for r in dfile.records)
    assert {afi.value: n for afi, n in dfile.summaries} == dict(per_type)
    # every record gives back its source line exactly, and sits on that line
    lines = source_lines(path)
    mismatched = [r.line for r in dfile.records if r.text() != lines[r.line - 1]]
    assert mismatched == []
    # the header too
    header_line = lines[len(dfile.preamble)]
    assert dfile.header.line() == header_line
    # every record line of the file was read (no line silently skipped)
    record_lines = {r.line for r in dfile.records}
    other = [
        i + 1
        for i, line in enumerate(lines)
        if line and not line.startswith("#") and (i + 1) not in record_lines
    ]
    assert len(other) == 1 + len(dfile.summaries)  # header + summary lines
    # ranges are what the start and value say
    for rec in dfile.records[:2000]:
        if rec.type == "ipv6":
            assert rec.end - rec.start + 1 == 1 << (128 - rec.value)
        else:
            assert rec.end - rec.start + 1 == rec.value


@pytest.mark.realdata
def test_apnic_preamble_and_empty_startdate(
    parsed_2018: dict[str, DelegatedFile], shared_data: Path
) -> None:
    dfile = parsed_2018["apnic"]
    lines = source_lines(real_2018(shared_data, "apnic"))
    assert len(dfile.preamble) == 27
    assert dfile.preamble == lines[:27]
    assert all(line.startswith("#") for line in dfile.preamble)
    assert any("CONDITIONS OF USE" in line for line in dfile.preamble)
    assert dfile.header.version == "2.3"
    assert dfile.header.startdate == ""
    assert dfile.header.enddate == "20181012"
    assert dfile.header.utc_offset == "+1000"
    assert dfile.header.line() == "2.3|apnic|20181014|113050||20181012|+1000"


@pytest.mark.realdata
def test_arin_epoch_millisecond_serial_and_zero_dates(
    parsed_2018: dict[str, DelegatedFile],
) -> None:
    dfile = parsed_2018["arin"]
    serial = dfile.header.serial
    assert serial == "1539406814230"
    # the serial is milliseconds since the epoch, on the day of the file
    day = datetime.fromtimestamp(int(serial) / 1000, UTC).strftime("%Y%m%d")
    assert day == "20181013" == dfile.header.enddate
    zero = [r for r in dfile.records if r.date == "00000000"]
    assert len(zero) == 129
    first = zero[0]
    assert (first.type, first.start_text, first.status) == ("asn", "3", "assigned")
    assert first.text() == "arin|US|asn|3|1|00000000|assigned|d98c567cda2db06e693f2b574eafe848"


@pytest.mark.realdata
def test_afrinic_zero_header_and_zz_pool(parsed_2018: dict[str, DelegatedFile]) -> None:
    dfile = parsed_2018["afrinic"]
    assert dfile.header.startdate == "00000000"
    assert dfile.header.utc_offset == "00000"
    assert dfile.header.line() == "2|afrinic|20181013|9373|00000000|20181013|00000"
    pool = [r for r in dfile.records if r.status in ("reserved", "available")]
    assert len(pool) == 3_392
    assert {r.cc for r in pool} == {"ZZ"}
    assert not any(r.held for r in pool)
    assert all(r.held for r in dfile.records if r.status in ("allocated", "assigned"))


@pytest.mark.realdata
def test_ripe_seven_fields_vs_lacnic_empty_opaque_id(
    parsed_2018: dict[str, DelegatedFile],
) -> None:
    ripe = parsed_2018["ripencc"]
    ripe_pool = [r for r in ripe.records if r.status in ("reserved", "available")]
    assert len(ripe_pool) == 16_942 + 50_525
    assert all(r.opaque_id is None and r.extensions == () for r in ripe_pool)
    assert all(r.text().count("|") == 6 for r in ripe_pool)
    assert all(r.opaque_id for r in ripe.records if r.held)

    lacnic = parsed_2018["lacnic"]
    by_status: dict[str, Counter[str | None]] = {}
    for r in lacnic.records:
        by_status.setdefault(r.status, Counter())[
            r.opaque_id if r.opaque_id in (None, "") else "id"
        ] += 1
    # reserved lines carry an empty 8th field, available ones stop at 7 fields
    assert by_status["reserved"] == Counter({"": 8_274})
    assert by_status["available"] == Counter({None: 17_714})
    first = lacnic.records[0]
    assert first.opaque_id == ""
    assert first.text() == "lacnic||ipv4|24.152.0.0|32768||reserved|"
    assert first.date == "" and first.cc == ""


@pytest.mark.realdata
def test_plain_apnic_2026_file(shared_data: Path) -> None:
    path = shared_data / "delegated" / "recent-mixed-dates" / "delegated-apnic-latest"
    dfile = parse_delegated(path)
    assert dfile.header.version == "2"
    assert dfile.header.records == 85_300
    assert len(dfile.records) == 85_300
    assert dfile.header.enddate == "20260617"
    assert len(dfile.preamble) == 27
    # a non-extended file: seven fields everywhere, no opaque-id
    assert all(r.opaque_id is None and r.extensions == () for r in dfile.records)
    lines = source_lines(path)
    assert all(r.text() == lines[r.line - 1] for r in dfile.records)
    assert Counter(r.type for r in dfile.records) == {afi.value: n for afi, n in dfile.summaries}


@pytest.mark.realdata
@pytest.mark.parametrize("registry", ["afrinic", "apnic"])
def test_gzip_input_parses_identically(
    parsed_2018: dict[str, DelegatedFile], shared_data: Path, tmp_path: Path, registry: str
) -> None:
    original = real_2018(shared_data, registry)
    packed = tmp_path / f"{original.name}.gz"
    packed.write_bytes(gzip.compress(original.read_bytes(), compresslevel=1))
    assert packed.read_bytes()[:2] == b"\x1f\x8b"
    dfile = parse_delegated(packed)
    plain = parsed_2018[registry]
    assert dfile.path == str(packed)
    assert dfile.header == plain.header
    assert dfile.preamble == plain.preamble
    assert dfile.summaries == plain.summaries
    assert dfile.records == plain.records


# --- real broken files -----------------------------------------------------------------------


@pytest.mark.realdata
def test_truncated_ripe_2026_is_refused(shared_data: Path) -> None:
    path = shared_data / "delegated" / "truncated-2026" / "delegated-ripencc-extended-latest.txt"
    with pytest.raises(SourceFormatError) as info:
        parse_delegated(path)
    err = info.value
    assert err.line == 41_599
    assert err.path == str(path)
    message = str(err)
    assert f"{path}:41599" in message
    assert "cut off" in message
    assert "260022" in message  # what the header announced


@pytest.mark.realdata
def test_arin_head_file_is_refused(shared_data: Path) -> None:
    path = shared_data / "delegated" / "truncated-2026" / "delegated-arin-extended-latest.head.txt"
    with pytest.raises(SourceFormatError) as info:
        parse_delegated(path)
    err = info.value
    assert (err.line, err.field, err.value) == (1, "records", "202939")
    message = str(err)
    assert f"{path}:1" in message
    assert "202939" in message
    assert "holds 4" in message


# --- synthetic files -------------------------------------------------------------------------

GOOD = [
    "2.3|ripencc|20260101|4|19830705|20260101|+0100",
    "ripencc|*|asn|*|1|summary",
    "ripencc|*|ipv4|*|2|summary",
    "ripencc|*|ipv6|*|1|summary",
    "ripencc|NL|asn|3333|1|19930901|allocated|h-one|e-stats",
    "ripencc|NL|ipv4|193.0.0.0|2048|19930901|allocated|h-one",
    "ripencc||ipv4|193.0.8.0|1536||available",
    "ripencc|NL|ipv6|2001:67c:2e8::|48|20090101|assigned|h-one",
]


def write(tmp_path: Path, lines: list[str], name: str = "delegated-ripencc-test") -> Path:
    path = tmp_path / name
    path.write_text("".join(f"{line}\n" for line in lines))
    return path


def with_line(index: int, text: str) -> list[str]:
    lines = list(GOOD)
    lines[index] = text
    return lines


def test_synthetic_good_file(tmp_path: Path) -> None:
    dfile = parse_delegated(write(tmp_path, GOOD))
    assert [r.text() for r in dfile.records] == GOOD[4:]
    asn, v4, pool, v6 = dfile.records
    assert asn.extensions == ("e-stats",) and asn.opaque_id == "h-one"
    assert (v4.start, v4.end) == (0xC1000000, 0xC1000000 + 2047)
    assert (pool.end - pool.start + 1, pool.opaque_id) == (1536, None)  # not CIDR-aligned
    assert v6.afi is Afi.IPV6 and v6.end - v6.start + 1 == 1 << 80
    assert [r.line for r in dfile.records] == [5, 6, 7, 8]


def _refused(path: Path) -> SourceFormatError:
    with pytest.raises(SourceFormatError) as info:
        parse_delegated(path)
    return info.value


@pytest.mark.parametrize(
    ("index", "text", "line", "fld", "value", "words"),
    [
        (
            5,
            "ripencc|NL|ipv4|193.0.0.0|2048|19930901|alocated|h-one",
            6,
            "status",
            "alocated",
            "unknown status",
        ),
        (
            5,
            "ripencc|NL|ipv4|193.0.0.256|2048|19930901|allocated|h-one",
            6,
            "start",
            "193.0.0.256",
            "not a valid ipv4 start",
        ),
        (
            7,
            "ripencc|NL|ipv6|2001:67c:2e8::|31|20090101|assigned|h-one",
            8,
            "start",
            "2001:67c:2e8::",
            "not aligned on a /31",
        ),
        (
            6,
            "arin||ipv4|193.0.8.0|1536||available",
            7,
            "registry",
            "arin",
            "record of another registry",
        ),
        (
            0,
            "2.4|ripencc|20260101|4|19830705|20260101|+0100",
            1,
            "version",
            "2.4",
            "unknown format version",
        ),
    ],
)
def test_synthetic_errors_name_line_field_and_value(
    tmp_path: Path, index: int, text: str, line: int, fld: str, value: str, words: str
) -> None:
    path = write(tmp_path, with_line(index, text))
    err = _refused(path)
    assert (err.path, err.line, err.field, err.value) == (str(path), line, fld, value)
    message = str(err)
    assert message.startswith(f"{path}:{line}: ")
    assert words in message
    assert f"field {fld}={value!r}" in message


def test_summary_count_mismatch(tmp_path: Path) -> None:
    path = write(tmp_path, with_line(2, "ripencc|*|ipv4|*|3|summary"))
    err = _refused(path)
    assert (err.field, err.value) == ("summary", "ipv4")
    assert err.line == 3  # the summary line that is wrong
    message = str(err)
    assert message.startswith(f"{path}:3: ")
    assert "summary announces 3 ipv4 records, file holds 2" in message


def test_header_count_mismatch_when_lines_are_missing(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD[:-1])  # ends with a newline but lost its last record
    err = _refused(path)
    assert (err.line, err.field, err.value) == (1, "records", "4")
    assert "file holds 3" in str(err)


def test_file_cut_mid_line(tmp_path: Path) -> None:
    path = tmp_path / "delegated-ripencc-cut"
    path.write_text("\n".join(GOOD)[:-10])  # no final newline, last record cut short
    err = _refused(path)
    assert err.line == len(GOOD)
    assert f"{path}:{len(GOOD)}" in str(err)
    assert "cut off" in str(err) or "truncated" in str(err)


def test_broken_gzip(tmp_path: Path) -> None:
    whole = gzip.compress("".join(f"{line}\n" for line in GOOD).encode())
    path = tmp_path / "delegated-ripencc-test.gz"
    path.write_bytes(whole[: len(whole) // 2])
    err = _refused(path)
    assert err.path == str(path)
    assert str(err).startswith(str(path))
    assert "gzip" in str(err)


def test_gzip_synthetic_roundtrip(tmp_path: Path) -> None:
    plain = parse_delegated(write(tmp_path, GOOD))
    path = tmp_path / "delegated-ripencc-test.gz"
    path.write_bytes(gzip.compress("".join(f"{line}\n" for line in GOOD).encode()))
    packed = parse_delegated(path)
    assert packed.records == plain.records
    assert packed.header == plain.header
