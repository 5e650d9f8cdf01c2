"""`onereg up --download --mirror URL`: the download code path, against a real HTTP server on
127.0.0.1 serving the mirror layout (small synthetic delegated files, IANA's real XML files read in
place through symlinks)."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from onereg.core.registries import RIRS
from onereg.federation.fetch import IANA_FILES

ONEREG = Path(sys.executable).parent / "onereg"

# One allocated block per RIR, each inside a /8 that IANA gave that RIR.
BLOCKS = {
    "afrinic": "41.0.0.0",
    "apnic": "1.0.0.0",
    "arin": "23.0.0.0",
    "lacnic": "177.0.0.0",
    "ripencc": "193.0.0.0",
}


def _delegated(rir: str) -> str:
    return (
        f"2.3|{rir}|20261127|1|19700101|20261127|+0000\n"
        f"{rir}|*|ipv4|*|1|summary\n"
        f"{rir}|NL|ipv4|{BLOCKS[rir]}|1024|20200101|allocated|H-{rir}\n"
    )


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def mirror(tmp_path: Path, shared_data: Path) -> Iterator[str]:
    root = tmp_path / "mirror"
    for rir in RIRS:
        folder = root / rir.value
        folder.mkdir(parents=True)
        body = _delegated(rir.value).encode()
        name = f"delegated-{rir.value}-extended-latest"
        (folder / name).write_bytes(body)
        (folder / f"{name}.md5").write_text(f"MD5 ({name}) = {hashlib.md5(body).hexdigest()}\n")
    (root / "iana").mkdir()
    for name in IANA_FILES:
        (root / "iana" / name).symlink_to(shared_data / "iana" / name)
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_Quiet, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(ONEREG), *args], capture_output=True, text=True, timeout=300)


def test_up_downloads_from_the_mirror_and_builds_the_federation(
    mirror: str, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    done = _run("--data-dir", str(data), "up", "--download", "--mirror", mirror)
    assert done.returncode == 0, done.stderr
    downloaded = data / "downloads" / "delegated-ripencc-extended-latest"
    assert downloaded.read_text() == _delegated("ripencc")
    report = json.loads(_run("--data-dir", str(data), "audit", "--json").stdout)
    assert {s["registry"]: s["records"] for s in report["summaries"]} == {r.value: 1 for r in RIRS}
    shown = _run("--data-dir", str(data), "show", "193.0.0.1").stdout
    assert "H-ripencc" in shown and "193.0.0.0/8" in shown


def test_a_bad_checksum_on_the_mirror_imports_nothing(mirror: str, tmp_path: Path) -> None:
    root = Path(tmp_path / "mirror")
    (root / "arin" / "delegated-arin-extended-latest.md5").write_text(
        "MD5 (delegated-arin-extended-latest) = " + "0" * 32 + "\n"
    )
    data = tmp_path / "data"
    done = _run("--data-dir", str(data), "up", "--download", "--mirror", mirror)
    assert done.returncode != 0
    assert "arin/delegated-arin-extended-latest" in done.stderr
    assert not (data / "nodes").exists() or not any((data / "nodes").glob("*.sqlite"))
