"""Friendly failures: a full disk or a read-only data directory gives one line naming the file,
never a traceback; commands that only read work on a read-only data directory.

Before the fix an import onto a full disk ended in a raw `sqlite3.OperationalError`
traceback, and `node verify`, `audit`, `show` and `export` on a read-only data directory all
failed with "unable to open database file" although they only read.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import onereg
from onereg.core.registries import RegistryId
from onereg.federation.importer import import_delegated_file
from onereg.federation.layout import DataDir

SRC = str(Path(onereg.__file__).resolve().parents[1])


@contextmanager
def tmpfs(where: Path, size: str) -> Iterator[Path]:
    """A small file system of our own (we run as root), removed whatever happens."""
    where.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)], check=True)
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def _file(directory: Path, records: int, name: str) -> Path:
    lines = [
        f"afrinic|ZA|ipv4|{1 + n // 65536}.{(n // 256) % 256}.{n % 256}.0|256|20100101|"
        f"allocated|HOLDER-{n:06d}-WITH-A-LONG-NAME"
        for n in range(records)
    ]
    path = directory / name / "delegated-afrinic-extended-latest"
    path.parent.mkdir(parents=True)
    head = f"2.3|afrinic|20200101|{len(lines)}|19700101|20200101|+0000"
    path.write_text("\n".join([head, *lines]) + "\n")
    return path


def _onereg(data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "onereg.cli.main", "--data-dir", str(data), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": SRC, "COLUMNS": "400"},
    )


def _one_line_error(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    lines = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, done.stderr
    return lines[0]


def test_a_full_disk_is_one_line_naming_the_file_and_writes_nothing(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "disk", "1m") as disk:
        data = DataDir(disk / "data")
        import_delegated_file(data, _file(tmp_path, 20, "small"), None)
        with data.read(RegistryId.AFRINIC) as node:
            before = node.head()
        done = _onereg(data.root, "import", str(_file(tmp_path, 30_000, "big")))
        line = _one_line_error(done)
        assert str(data.node_path(RegistryId.AFRINIC)) in line and "disk is full" in line
        with data.read(RegistryId.AFRINIC) as node:
            assert node.head() == before  # all or nothing
            assert node.count("delegations") == 20
        out = disk / "export.txt"
        _fill(disk)
        exported = _onereg(
            data.root, "export", "delegated", "--registry", "afrinic", "-o", str(out)
        )
        line = _one_line_error(exported)
        assert str(out) in line and "disk is full" in line


def _fill(disk: Path) -> None:
    """Take every byte left on the file system."""
    with (disk / "filler").open("wb") as handle, suppress(OSError):
        while True:
            handle.write(b"\0" * 65536)
            handle.flush()


def test_reading_commands_work_on_a_read_only_data_directory(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "disk", "16m") as disk:
        data = DataDir(disk / "data")
        import_delegated_file(data, _file(tmp_path, 50, "small"), None)
        subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
        verify = _onereg(data.root, "node", "verify")
        assert verify.returncode == 0 and "50" not in verify.stderr, verify.stderr
        assert "chain and tree intact" in verify.stdout
        audit = _onereg(data.root, "audit")
        assert audit.returncode == 0, audit.stderr
        show = _onereg(data.root, "show", "1.0.3.1")
        assert show.returncode == 0 and "HOLDER-000003" in show.stdout, show.stderr
        export = _onereg(data.root, "export", "delegated", "--registry", "afrinic")
        assert export.returncode == 0 and export.stdout.count("|allocated|") == 50
        written = _onereg(data.root, "import", str(_file(tmp_path, 10, "other")))
        line = _one_line_error(written)  # a write is refused, naming what it could not write
        assert str(data.root) in line and "read-only" in line
