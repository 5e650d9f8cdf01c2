"""The `onereg` console script end to end, in subprocesses, on the real data.

A federation of the full 2018-10-13 set is built once per session with `onereg up` (about a
minute); the tests then query, audit, export and rebuild it. A second federation is built from the
newer files of mixed dates, where APNIC and LACNIC list the same IPv4 space.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from onereg.core.registries import ALL_REGISTRIES, RegistryId
from onereg.federation.layout import DataDir
from realdata import EXPECTED_2018

pytestmark = pytest.mark.realdata

# the holder of 193.0.0.0/20 and AS3333 in the 2018 RIPE NCC file (the RIPE NCC itself)
RIPE_NCC_HANDLE = "2971c08b-2b8e-49f9-a938-fe3a9f8348be"


def onereg_script() -> str:
    beside = Path(sys.executable).parent / "onereg"
    found = str(beside) if beside.exists() else shutil.which("onereg")
    assert found, "the onereg console script is not installed"
    return found


@dataclass(frozen=True)
class Cli:
    """Runs the installed script against one data directory."""

    data_dir: Path
    shared_data: Path

    def run(
        self, *args: str, wide: bool = True, timeout: float = 600
    ) -> subprocess.CompletedProcess[str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in ("COLUMNS", "LINES", "ONEREG_DATA_DIR", "ONEREG_SHARED_DATA")
        }
        if wide:
            env["COLUMNS"] = "250"  # a wide terminal, so tables are not cut to 80 columns
        command = [
            onereg_script(),
            "--data-dir",
            str(self.data_dir),
            "--shared-data",
            str(self.shared_data),
            *args,
        ]
        return subprocess.run(
            command, capture_output=True, text=True, env=env, timeout=timeout, check=False
        )

    def json(self, *args: str) -> tuple[int, Any]:
        done = self.run(*args)
        assert "Traceback" not in done.stderr, done.stderr
        return done.returncode, json.loads(done.stdout)

    @property
    def data(self) -> DataDir:
        return DataDir(self.data_dir)

    def heads(self) -> dict[RegistryId, tuple[tuple[int, bytes], str]]:
        out = {}
        for rid in ALL_REGISTRIES:
            with self.data.open(rid, create=False) as node:
                out[rid] = (node.head(), node.state_digest())
        return out


@dataclass(frozen=True)
class Built:
    cli: Cli
    up: subprocess.CompletedProcess[str]


@pytest.fixture(scope="session")
def fed2018(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> Built:
    cli = Cli(tmp_path_factory.mktemp("fed2018"), shared_data)
    return Built(cli, cli.run("up"))


@pytest.fixture(scope="session")
def audit2018(fed2018: Built) -> tuple[int, Any]:
    return fed2018.cli.json("audit", "--json")


# --- the 2018 federation ----------------------------------------------------------------------


def test_up_succeeds(fed2018: Built) -> None:
    up = fed2018.up
    assert "Traceback" not in up.stderr, up.stderr
    assert up.returncode == 0, up.stderr
    for rid in ALL_REGISTRIES:
        assert fed2018.cli.data.exists(rid), rid
    for registry, count in EXPECTED_2018.items():
        assert registry in up.stdout
        assert f"{count:,}" in up.stdout


def test_audit_json(audit2018: tuple[int, Any]) -> None:
    status, report = audit2018
    assert status == 0
    assert report["ok"] is True
    assert report["conflicts"] == []
    records = {s["registry"]: s["records"] for s in report["summaries"]}
    assert records == EXPECTED_2018
    for summary in report["summaries"]:
        assert summary["as_of"] in ("20181012", "20181013")
    notes = " ".join(report["notes"])
    assert "IANA" in notes and "newer" in notes


def test_show_ipv4_address(fed2018: Built) -> None:
    done = fed2018.cli.run("show", "193.0.0.1")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "RIPE NCC" in out
    assert "193.0.0.0/8" in out  # the IANA block
    assert "193.0.0.0/20" in out  # the RIPE NCC record
    assert RIPE_NCC_HANDLE in out  # its holder


def test_show_asn(fed2018: Built) -> None:
    done = fed2018.cli.run("show", "AS3333")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "AS3333" in out
    assert "RIPE NCC" in out
    assert "AS3154-AS3353" in out  # the IANA block
    assert RIPE_NCC_HANDLE in out


def test_show_documentation_prefix(fed2018: Built) -> None:
    done = fed2018.cli.run("show", "2001:db8::/32")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "2001:db8::/32" in out
    assert "Documentation" in out
    assert "3849" in out  # RFC 3849
    assert "special" in out.lower()


def test_rebuild_is_identical(fed2018: Built) -> None:
    before = fed2018.cli.heads()[RegistryId.AFRINIC]
    done = fed2018.cli.run("node", "rebuild", "--registry", "afrinic")
    assert done.returncode == 0, done.stderr
    assert "identical" in done.stdout
    assert "DIFFERENT" not in done.stdout
    assert fed2018.cli.heads()[RegistryId.AFRINIC] == before


def test_export_nro(fed2018: Built) -> None:
    done = fed2018.cli.run("export", "nro")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("2|nro|")
    header = lines[0].split("|")
    summaries = lines[1:4]
    records = lines[4:]
    announced = {}
    for line in summaries:
        registry, star, afi, star2, count, tag = line.split("|")
        assert (registry, star, star2, tag) == ("nro", "*", "*", "summary")
        announced[afi] = int(count)
    assert set(announced) == {"asn", "ipv4", "ipv6"}
    per_type = Counter(line.split("|")[2] for line in records)
    assert dict(per_type) == announced
    assert int(header[3]) == len(records)
    assert {line.split("|")[0] for line in records} == {"iana", *EXPECTED_2018}
    assert not any(line.endswith("|summary") for line in records)


def test_import_truncated_file_changes_nothing(fed2018: Built, shared_data: Path) -> None:
    path = shared_data / "delegated" / "truncated-2026" / "delegated-ripencc-extended-latest.txt"
    before = fed2018.cli.heads()
    # the default width of a non-terminal, as when stderr goes to a log file
    done = fed2018.cli.run("import", str(path), wide=False)
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    assert fed2018.cli.heads() == before
    # the error names the file and the line, in one piece an operator can copy or grep
    assert f"{path}:41599" in done.stderr, done.stderr
    assert "cut off" in done.stderr


def test_second_up_is_unchanged(fed2018: Built) -> None:
    before = fed2018.cli.heads()
    done = fed2018.cli.run("up")
    assert done.returncode == 0, done.stderr
    table = done.stdout.split("imported in")[0]  # the import table comes first
    rows = [
        line
        for line in table.splitlines()
        if any(f" {rid.value} " in line for rid in ALL_REGISTRIES)
    ]
    assert len(rows) == len(ALL_REGISTRIES), table
    assert all("unchanged" in row for row in rows), table
    assert fed2018.cli.heads() == before


# --- a federation of newer files with overlapping records -------------------------------------


def _registry_of(label: str) -> str:
    """The registry an audit record label starts with (`apnic|SG|...` or `apnic 1.0.0.0/24 ...`)."""
    return re.split(r"[|\s]", label, maxsplit=1)[0]


def test_mixed_dates_conflicts(tmp_path: Path, shared_data: Path) -> None:
    cli = Cli(tmp_path / "mixed", shared_data)
    up = cli.run("up", "--set", "recent-mixed-dates")
    assert "Traceback" not in up.stderr, up.stderr
    assert up.returncode == 1  # built, but APNIC and LACNIC list the same space
    for rid in (RegistryId.IANA, RegistryId.AFRINIC, RegistryId.APNIC, RegistryId.LACNIC):
        assert cli.data.exists(rid), rid

    status, report = cli.json("audit", "--json")
    assert status == 1
    assert report["ok"] is False
    conflicts = report["conflicts"]
    assert len(conflicts) == 60
    involved: dict[str, set[str]] = {}
    for c in conflicts:
        pair = sorted((c["first"], c["second"]), key=_registry_of)
        assert [_registry_of(label) for label in pair] == ["apnic", "lacnic"], c
        assert c["same_registry"] is False
        for label in pair:
            involved.setdefault(_registry_of(label), set()).add(label)
    # a record's label names it, so distinct labels are distinct records
    assert {reg: len(labels) for reg, labels in involved.items()} == {"apnic": 60, "lacnic": 31}

    around = [c for c in conflicts if c["overlap"] == "152.235.128.0/17"]
    assert len(around) == 1
    c = around[0]
    apnic, lacnic = sorted((c["first"], c["second"]), key=_registry_of)
    assert "152.235.128.0" in apnic and "152.235.0.0" not in apnic
    assert "152.235.0.0" in lacnic
    assert c["size"] == 32_768
    records = {s["registry"]: s["records"] for s in report["summaries"]}
    assert records == {"afrinic": 19_600, "apnic": 85_300, "lacnic": 88_899}
