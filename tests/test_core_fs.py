"""`core.fs.private_dir`: every folder onereg makes is private, whatever the umask."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from onereg.core import fs
from onereg.core.fs import PRIVATE, private_dir


@pytest.fixture
def open_umask() -> Iterator[None]:
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_every_missing_folder_is_0700_under_umask_000(tmp_path: Path, open_umask: None) -> None:
    leaf = tmp_path / "a" / "b" / "c"
    assert private_dir(leaf) == leaf
    assert [mode(p) for p in (leaf, leaf.parent, leaf.parent.parent)] == [0o700] * 3
    assert PRIVATE == 0o700


def test_folders_that_exist_keep_their_mode(tmp_path: Path, open_umask: None) -> None:
    parent = tmp_path / "var-lib"
    parent.mkdir(mode=0o755)
    os.chmod(parent, 0o755)
    private_dir(parent / "onereg")
    assert mode(parent) == 0o755 and mode(parent / "onereg") == 0o700
    private_dir(parent)  # exists: left alone
    assert mode(parent) == 0o755


def test_another_mode_is_applied_exactly(tmp_path: Path, open_umask: None) -> None:
    leaf = private_dir(tmp_path / "x" / "y", mode=0o750)
    assert mode(leaf) == 0o750 and mode(leaf.parent) == 0o750


def test_a_folder_made_meanwhile_by_another_process_is_still_made_private(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, open_umask: None
) -> None:
    target = tmp_path / "raced"
    real_mkdir = Path.mkdir

    def racing_mkdir(self: Path, mode: int = 0o777, *args: object, **kwargs: object) -> None:
        real_mkdir(self, 0o777)  # the other process wins, with its own mode
        raise FileExistsError(str(self))

    monkeypatch.setattr(fs.Path, "mkdir", racing_mkdir)
    assert private_dir(target) == target
    assert mode(target) == 0o700


def test_the_filesystem_root_ends_the_walk(monkeypatch: pytest.MonkeyPatch) -> None:
    """A path whose every component is missing (here: pretended) stops at the root rather
    than looping; the root is then 'made' like any other component."""
    made: list[Path] = []
    monkeypatch.setattr(fs.Path, "exists", lambda self: False)
    monkeypatch.setattr(fs.Path, "mkdir", lambda self, mode=0o777: made.append(self))
    monkeypatch.setattr(fs.os, "chmod", lambda path, mode: None)
    private_dir(Path("/a/b"))
    assert made == [Path("/"), Path("/a"), Path("/a/b")]
