"""Progress bars go to stderr only when it is a terminal (or ONEREG_PROGRESS=1 forces them), so
pipes and logs stay clean; shown on `onereg rov` over a slice of the real 2014 table."""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
from pathlib import Path

import pytest

from onereg.cli import progress

LIVE = "\x1b[?25l"  # rich hides the cursor while it draws a live bar


@pytest.fixture(scope="module")
def rov_inputs(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> list[str]:
    root = tmp_path_factory.mktemp("progress")
    table = shared_data / "bgp" / "pyasn-data" / "ipasn_20140513.dat.gz"
    routes = root / "routes.txt"
    routes.write_bytes(b"".join(gzip.decompress(table.read_bytes()).splitlines(True)[:2000]))
    vrps = shared_data / "rpki" / "vrp-exports" / "ripe-rrdp-snapshot-2019-roas-decoded.csv"
    return ["rov", "--vrps", str(vrps), str(routes)]


def _run(args: list[str], setting: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != progress.ENV}
    if setting is not None:
        env[progress.ENV] = setting
    script = Path(sys.executable).with_name("onereg")
    return subprocess.run(
        [str(script), *args], capture_output=True, text=True, env=env, timeout=300
    )


def test_rov_shows_progress_when_forced(rov_inputs: list[str]) -> None:
    done = _run(rov_inputs, "1")
    assert done.returncode == 0, done.stderr
    assert LIVE in done.stderr and "100.0%" in done.stderr  # the bar ran to its end
    assert LIVE not in done.stdout and "%" not in done.stdout


@pytest.mark.parametrize("setting", [None, "0"])
def test_rov_is_quiet_when_stderr_is_no_terminal(rov_inputs: list[str], setting: str) -> None:
    done = _run(rov_inputs, setting)
    assert done.returncode == 0, done.stderr
    assert "1,995 routes" in done.stderr  # the summary is there, the bar is not
    assert LIVE not in done.stderr and "%" not in done.stderr


@pytest.mark.parametrize(
    ("setting", "tty", "expected"),
    [("", True, True), ("", False, False), ("1", False, True), ("0", True, False)],
)
def test_wanted_follows_the_terminal_unless_forced(
    monkeypatch: pytest.MonkeyPatch, setting: str, tty: bool, expected: bool
) -> None:
    monkeypatch.setenv(progress.ENV, setting)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: tty)
    assert progress.wanted() is expected


def test_steps_report_nothing_when_not_wanted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(progress.ENV, "0")
    with progress.bars() as bars:
        assert bars is None
    with progress.steps("x", 2) as advance:
        advance("a")  # a no-op, and no error
