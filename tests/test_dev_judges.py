"""`./dev test` on a fresh machine (issue 13, point 3): the judge programs are listed once
(.ci/judges.sh, sourced by .ci/run and dev), installed the way CI installs them when the shell
can, and otherwise named in one closing line with the command that installs them."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
JUDGES = ROOT / ".ci" / "judges.sh"


def _fake_bin(where: Path, present: tuple[str, ...]) -> Path:
    """A PATH with the shell tools the functions use and only `present` of the judges."""
    bin_dir = where / "bin"
    bin_dir.mkdir()
    for tool in ("id", "paste", "sed", "cat"):
        found = shutil.which(tool)
        assert found is not None, tool
        (bin_dir / tool).symlink_to(found)
    for name in present:
        (bin_dir / name).write_text("#!/bin/sh\nexit 0\n")
        (bin_dir / name).chmod(0o755)
    return bin_dir


def _source(script: str, path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["/bin/bash", "-c", f"source {JUDGES}; {script}"],
        capture_output=True,
        text=True,
        timeout=30,
        env={"PATH": str(path), **env},
    )


def test_ci_and_dev_share_one_list_of_judges() -> None:
    for script in (ROOT / ".ci" / "run", ROOT / "dev"):
        text = script.read_text()
        assert "source .ci/judges.sh" in text, script
        for package in ("fort-validator", "rtr-tools", "bird2", "octorpki"):
            assert package not in text, f"{script} lists {package} itself"


def test_missing_judges_are_named_with_the_command_that_installs_them(tmp_path: Path) -> None:
    path = _fake_bin(tmp_path, ("rsync", "whois"))
    done = _source(
        "can_install_judges && echo CAN; missing_judge_packages; report_missing_judges",
        path,
        ONEREG_NO_INSTALL="1",
    )
    assert done.returncode == 0, done.stderr
    packages = done.stdout.split()
    assert "CAN" not in packages  # told not to install: it only reports
    assert {"rpki-client", "fort-validator", "bird2", "prometheus"} <= set(packages)
    assert "rsync" not in packages and "whois" not in packages
    [line] = done.stderr.splitlines()
    assert line.startswith("judge tests skipped: ") and "rpki-client, fort" in line
    assert "sudo apt-get install -y " in line and "fort-validator" in line
    assert " rsync" not in line.split("install -y", 1)[1]


def test_nothing_is_reported_when_every_judge_is_there(tmp_path: Path) -> None:
    every = ("whois", "rpki-client", "fort", "octorpki", "rsync", "rtrclient", "bird", "stayrtr")
    others = ("ip", "setpriv", "promtool", "node", "npm", "chromium", "chromedriver")
    path = _fake_bin(tmp_path, (*every, *others))
    done = _source("missing_judge_packages; report_missing_judges", path)
    assert done.returncode == 0 and done.stdout == "" and done.stderr == ""


def test_install_judges_runs_apt_get_as_ci_does(tmp_path: Path) -> None:
    path = _fake_bin(tmp_path, ("whois", "rsync", "ip", "setpriv"))
    calls = tmp_path / "apt-calls"
    apt = path / "apt-get"
    apt.write_text(f'#!/bin/sh\necho "$*" >> {calls}\n')
    apt.chmod(0o755)
    done = _source("install_judges", path)
    assert done.returncode == 0, done.stderr
    update, plain, bare = calls.read_text().splitlines()
    assert update == "update -qq"
    assert plain.startswith("install -y -qq ") and "rpki-client fort-validator" in plain
    assert "prometheus" not in plain and "rsync" not in plain.split()
    assert bare == "install -y -qq --no-install-recommends prometheus"


def _fake_checkout(where: Path, pytest_status: int) -> Path:
    """`dev` and `.ci/judges.sh` beside a set-up .venv whose ruff, mypy and pytest are stubs."""
    checkout = where / "checkout"
    (checkout / ".ci").mkdir(parents=True)
    shutil.copy(ROOT / "dev", checkout / "dev")
    shutil.copy(JUDGES, checkout / ".ci" / "judges.sh")
    (checkout / "pyproject.toml").write_text("")
    venv = checkout / ".venv" / "bin"
    venv.mkdir(parents=True)
    for tool, status in (("onereg", 0), ("ruff", 0), ("mypy", 0), ("pytest", pytest_status)):
        (venv / tool).write_text(f"#!/bin/sh\necho {tool} ran\nexit {status}\n")
        (venv / tool).chmod(0o755)
    installed = checkout / ".venv" / ".installed"
    installed.write_text("")
    os.utime(checkout / "pyproject.toml", (1, 1))  # older than .installed: no set-up
    return checkout


def test_dev_test_ends_with_the_report_and_keeps_pytest_status(tmp_path: Path) -> None:
    path = _fake_bin(tmp_path, ("rsync", "whois"))
    (path / "dirname").symlink_to(shutil.which("dirname") or "/usr/bin/dirname")
    for status in (0, 1):
        checkout = _fake_checkout(tmp_path / str(status), status)
        done = subprocess.run(
            ["/bin/bash", str(checkout / "dev"), "test", "-q"],
            capture_output=True,
            text=True,
            timeout=60,
            env={"PATH": str(path), "ONEREG_NO_INSTALL": "1"},
        )
        assert done.returncode == status, done.stderr  # a skipped judge is no failure
        assert "pytest ran" in done.stdout
        last = done.stderr.strip().splitlines()[-1]
        assert last.startswith("judge tests skipped: ") and "rpki-client" in last
