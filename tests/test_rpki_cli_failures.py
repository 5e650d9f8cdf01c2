"""RPKI commands that say when they fail (issue 13, point 5): a refused trust anchor or an empty
VRP set is an error with one line saying what, where and what to do; `rtr serve` says what it
serves or refuses to start with nothing; a publication with nothing new writes nothing."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from localfed import ONEREG, LocalFederation
from rpkijudges import free_port

HOST = "127.0.0.1:8873"  # the host of the default rsync base, as the mirror names it


def _run(data: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [ONEREG, "--data-dir", str(data), *args], capture_output=True, text=True, timeout=timeout
    )


@dataclass(frozen=True)
class Published:
    root: Path
    tal: Path
    mirror: Path  # a correct mirror of the published tree (DIR/host/path)


def _published(where: Path, roa: bool) -> Published:
    fed = LocalFederation(where / "data", {"ripencc": [("ipv4", "193.0.0.0", 65536, "R1")]})
    if roa:
        done = _run(
            fed.root, "rpki", "roa", "add", "--registry", "ripencc", "--holder", "R1",
            "--asn", "3333", "193.0.0.0/24",
        )  # fmt: skip
    else:
        done = _run(fed.root, "rpki", "publish")
    assert done.returncode == 0, done.stderr
    mirror = where / "mirror"
    mirror.mkdir()
    (mirror / HOST).symlink_to(fed.root / "rpki/pub/rsync")
    return Published(fed.root, fed.root / "rpki/pub/tals/ripencc.tal", mirror)


@pytest.fixture(scope="module")
def with_roa(tmp_path_factory: pytest.TempPathFactory) -> Published:
    return _published(tmp_path_factory.mktemp("with-roa"), roa=True)


@pytest.fixture(scope="module")
def without_roa(tmp_path_factory: pytest.TempPathFactory) -> Published:
    return _published(tmp_path_factory.mktemp("without-roa"), roa=False)


def _one_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    return lines[0]


def test_validate_given_the_published_tree_as_repo_fails_naming_the_mirror_to_make(
    with_roa: Published, tmp_path: Path
) -> None:
    out = tmp_path / "vrps.json"
    tree = with_roa.root / "rpki/pub/rsync"  # the natural guess: the tree, not a mirror
    done = _run(
        with_roa.root, "rpki", "validate", "--tal", str(with_roa.tal), "--repo", str(tree),
        "--json", str(out),
    )  # fmt: skip
    assert done.returncode != 0
    line = _one_line(done.stderr)
    assert "trust anchors refused" in line and "ta/ripencc.cer" in line  # what, where
    assert f"ln -s {tree.resolve()} MIRROR/{HOST}" in line  # what to do
    assert not out.exists()  # no empty VRP file that would look like an answer
    good = _run(
        with_roa.root, "rpki", "validate", "--tal", str(with_roa.tal), "--repo",
        str(with_roa.mirror), "--json", str(out),
    )  # fmt: skip
    assert good.returncode == 0, good.stderr
    assert '"193.0.0.0/24"' in out.read_text()


def test_validate_of_a_repository_without_roas_is_an_error(
    without_roa: Published, tmp_path: Path
) -> None:
    out = tmp_path / "vrps.csv"
    done = _run(
        without_roa.root, "rpki", "validate", "--tal", str(without_roa.tal), "--repo",
        str(without_roa.mirror), "--csv", str(out),
    )  # fmt: skip
    assert done.returncode != 0
    line = _one_line(done.stderr)
    assert "0 VRPs" in line and "onereg rpki roa add" in line
    assert not out.exists()


def test_rtr_serve_with_no_repository_reachable_refuses_to_start(
    with_roa: Published, tmp_path: Path
) -> None:
    port = free_port()
    done = subprocess.run(
        [ONEREG, "rtr", "serve", "--tal", str(with_roa.tal), "--cache", str(tmp_path / "c"),
         "--port", str(port), "--nice", "0"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode != 0  # it returned: nothing was served
    line = _one_line(done.stderr)
    assert "nothing to serve" in line and "cannot fetch the TA certificate" in line
    assert "ripencc.tal" in line and "reachable" in line


@pytest.fixture
def rtr_server(with_roa: Published) -> Iterator[tuple[subprocess.Popen[str], int]]:
    port = free_port()
    server = subprocess.Popen(
        [ONEREG, "rtr", "serve", "--tal", str(with_roa.tal), "--repo", str(with_roa.mirror),
         "--port", str(port), "--nice", "0"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        yield server, port
    finally:
        server.terminate()
        server.wait(10)


def test_rtr_serve_says_what_it_serves(
    rtr_server: tuple[subprocess.Popen[str], int], with_roa: Published
) -> None:
    server, port = rtr_server
    assert server.stderr is not None
    line = server.stderr.readline()  # printed once it listens
    assert f"RTR cache on 127.0.0.1:{port}: 1 VRPs, serial " in line, line
    assert "ripencc.tal" in line and str(with_roa.mirror) in line
    assert "ValidatedSource(" not in line  # words, not a Python repr


def test_rtr_serve_refuses_an_empty_vrp_file(tmp_path: Path) -> None:
    empty = tmp_path / "vrps.json"
    empty.write_text('{"metadata": {}, "roas": []}')
    done = subprocess.run(
        [ONEREG, "rtr", "serve", "--vrps", str(empty), "--port", str(free_port()), "--nice", "0"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode != 0
    line = _one_line(done.stderr)
    assert str(empty) in line and "no VRPs" in line


def _tree_state(root: Path) -> dict[str, tuple[int, int]]:
    """(mtime, size) of every file under the publication directory and the CA state."""
    return {
        str(p.relative_to(root)): (p.stat().st_mtime_ns, p.stat().st_size)
        for p in sorted(root.rglob("*"))
        if p.is_file() and "-journal" not in p.name and not p.name.endswith(("-wal", "-shm"))
    }


def test_publish_with_nothing_new_writes_nothing(with_roa: Published) -> None:
    pub = with_roa.root / "rpki/pub"
    first = _run(with_roa.root, "rpki", "publish")  # whatever the ROA's publication left
    assert first.returncode == 0, first.stderr
    before = _tree_state(pub)
    ca = with_roa.root / "nodes/ripencc/rpki/ca/ca.sqlite"
    ca_before = ca.read_bytes()
    os.utime(pub / "rrdp-state.json", ns=(1, 1))  # any rewrite would show
    before["rrdp-state.json"] = (1, before["rrdp-state.json"][1])
    again = _run(with_roa.root, "rpki", "publish")
    assert again.returncode == 0, again.stderr
    assert _tree_state(pub) == before
    assert ca.read_bytes() == ca_before  # no manifest, CRL or TA re-issued
    assert "nothing changed" in again.stdout


def test_the_rpki_and_rtr_commands_load_the_validator_only_when_run() -> None:
    """`onereg --help` and every other command do not pay for the RPKI stack (issue 13)."""
    import sys

    probe = (
        "import sys, onereg.cli.rpki, onereg.cli.rtr; "
        "heavy = ('onereg.rpki.validate', 'onereg.rpki.ca', 'onereg.rpki.fetch', "
        "'onereg.rtr.server', 'numpy', 'cryptography.x509'); "
        "print(' '.join(m for m in heavy if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == []


def test_validate_in_worker_processes_gives_what_one_process_gives(
    with_roa: Published, tmp_path: Path
) -> None:
    outputs = {}
    for workers in ("1", "3"):
        out = tmp_path / f"vrps-{workers}.json"
        done = _run(
            with_roa.root, "rpki", "validate", "--tal", str(with_roa.tal), "--repo",
            str(with_roa.mirror), "--workers", workers, "--json", str(out),
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        document = json.loads(out.read_text())
        document["metadata"].pop("buildtime")
        outputs[workers] = document
    assert outputs["1"] == outputs["3"]
    assert [r["prefix"] for r in outputs["3"]["roas"]] == ["193.0.0.0/24"]
