"""Export of a node's state as a delegated-extended file, checked against the real 2018 files.

Each real file is imported once per session; the export must give back the file's lines, and
importing the export into a fresh node must give back the same state.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from onereg.core.registries import RegistryId
from onereg.federation.importer import import_delegated_file
from onereg.federation.layout import DataDir
from onereg.registry.export import export_delegated
from onereg.registry.node import RegistryNode
from onereg.registry.sources.delegated import DelegatedFile, parse_delegated

Row = tuple[Any, ...]

REGISTRIES = [
    pytest.param(RegistryId.AFRINIC, id="afrinic"),
    pytest.param(RegistryId.APNIC, id="apnic", marks=pytest.mark.realdata),
    pytest.param(RegistryId.ARIN, id="arin", marks=pytest.mark.realdata),
    pytest.param(RegistryId.LACNIC, id="lacnic", marks=pytest.mark.realdata),
    pytest.param(RegistryId.RIPENCC, id="ripencc", marks=pytest.mark.realdata),
]


def real_2018(shared_data: Path, registry: RegistryId) -> Path:
    return shared_data / "delegated" / "2018-10-13" / f"delegated-{registry.value}-extended-latest"


class Imported:
    """Each real file imported into its own fresh data directory, on first use only."""

    def __init__(self, root: Path, shared_data: Path) -> None:
        self.root = root
        self.shared_data = shared_data
        self.done: dict[RegistryId, DataDir] = {}
        self.parsed: dict[RegistryId, DelegatedFile] = {}

    def data(self, registry: RegistryId) -> DataDir:
        if registry not in self.done:
            data = DataDir(self.root / registry.value)
            outcome = import_delegated_file(data, real_2018(self.shared_data, registry), None)
            assert not outcome.unchanged
            self.done[registry] = data
        return self.done[registry]

    def file(self, registry: RegistryId) -> DelegatedFile:
        if registry not in self.parsed:
            self.parsed[registry] = parse_delegated(real_2018(self.shared_data, registry))
        return self.parsed[registry]


@pytest.fixture(scope="session")
def imported(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> Imported:
    return Imported(tmp_path_factory.mktemp("export-nodes"), shared_data)


def exported_lines(data: DataDir, registry: RegistryId) -> list[str]:
    with data.open(registry, create=False) as node:
        return list(export_delegated(node))


def file_lines(path: Path) -> list[str]:
    text = path.read_text()
    assert text.endswith("\n")
    return text[:-1].split("\n")


def table_rows(node: RegistryNode, table: str) -> list[Row]:
    """Every row of a projection table without its seq column, in a fixed order."""
    columns = [r[1] for r in node.conn.execute(f"PRAGMA table_info({table})") if r[1] != "seq"]
    listed = ", ".join(columns)
    return node.conn.execute(f"SELECT {listed} FROM {table} ORDER BY {listed}").fetchall()


@pytest.mark.parametrize("registry", REGISTRIES)
def test_export_gives_back_the_file(
    imported: Imported, shared_data: Path, registry: RegistryId
) -> None:
    original_path = real_2018(shared_data, registry)
    original = file_lines(original_path)
    dfile = imported.file(registry)
    exported = exported_lines(imported.data(registry), registry)

    head = len(dfile.preamble) + 1 + len(dfile.summaries)  # comments, version line, summaries
    assert exported[:head] == original[:head]
    assert len(exported) == len(original)
    assert sorted(exported) == sorted(original)

    # records come out grouped in the file's summary order and sorted by start within a type
    order = [afi.value for afi, _ in dfile.summaries]
    in_order = sorted(dfile.records, key=lambda r: (order.index(r.type), r.start))
    assert exported[head:] == [r.text() for r in in_order]

    # so a file that was already in that order comes back byte for byte
    was_sorted = [r.line for r in in_order] == [r.line for r in dfile.records]
    text = "".join(f"{line}\n" for line in exported)
    if registry in (RegistryId.LACNIC, RegistryId.ARIN):
        assert was_sorted
    if was_sorted:
        assert text.encode() == original_path.read_bytes()
    else:
        assert text.encode() != original_path.read_bytes()


@pytest.mark.parametrize("registry", REGISTRIES)
def test_export_reimports_to_the_same_state(
    imported: Imported, tmp_path: Path, registry: RegistryId
) -> None:
    first = imported.data(registry)
    exported = exported_lines(first, registry)
    path = tmp_path / f"delegated-{registry.value}-extended-export"
    path.write_text("".join(f"{line}\n" for line in exported))

    second = DataDir(tmp_path / "second")
    outcome = import_delegated_file(second, path, None)
    assert outcome.records == len(imported.file(registry).records)

    with first.open(registry, create=False) as a, second.open(registry, create=False) as b:
        assert b.verify_log() > 0
        for table in ("delegations", "holders", "cross_holdings", "special_purpose"):
            rows_a, rows_b = table_rows(a, table), table_rows(b, table)
            if table in ("delegations", "holders"):
                assert rows_a, table
            assert len(rows_a) == len(rows_b), table
            differ = [(x, y) for x, y in zip(rows_a, rows_b, strict=True) if x != y]
            assert differ[:5] == [], table
        meta_a, meta_b = a.source("delegated"), b.source("delegated")
        assert meta_a is not None and meta_b is not None
        assert meta_b["file"] == path.name != meta_a["file"]
        for field in ("header", "preamble", "summaries", "records"):
            assert meta_a[field] == meta_b[field], field
        # and the export of the re-imported node is the same file again
        assert list(export_delegated(b)) == exported
