"""Downloading the published files, against a real HTTP server on 127.0.0.1.

The server serves a mirror-layout folder of symlinks to the real files in ../shared/data (read in
place, never copied) plus `.md5` files written here in the shapes the RIRs really publish.
"""

from __future__ import annotations

import functools
import hashlib
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import cast

import httpx
import pytest

from onereg.core.errors import OneregError
from onereg.core.registries import RIRS, RegistryId
from onereg.federation.fetch import (
    DEFAULT_SOURCES,
    IANA_FILES,
    ChecksumMismatchError,
    FetchError,
    HttpStatusError,
    PublishedSource,
    download,
    parse_md5,
    sources_for_base,
)
from onereg.federation.layout import find_delegated
from onereg.registry.sources.delegated import parse_delegated
from onereg.registry.sources.iana import SPACE_FILES, SPECIAL_FILES, load_iana_sources

DELEGATED_DATE = "2018-10-13"


# --- the test server ----------------------------------------------------------------------------


class _Server(ThreadingHTTPServer):
    daemon_threads = False  # so that server_close() joins every handler thread
    # URL path -> "drop" (close without answering), "truncate" (close mid-body), or
    # "redirect:<path>" (302 to another path).
    behaviour: dict[str, str]


class _Handler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        what = cast(_Server, self.server).behaviour.get(self.path, "")
        if what == "drop":
            self.close_connection = True
            return
        if what == "truncate":
            self.send_response(200)
            self.send_header("Content-Length", "100000")
            self.end_headers()
            self.wfile.write(b"2|afrinic|" * 100)
            self.wfile.flush()
            self.close_connection = True
            return
        if what.startswith("redirect:"):
            self.send_response(302)
            self.send_header("Location", what.removeprefix("redirect:"))
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        super().do_GET()


@dataclass
class Mirror:
    root: Path
    base_url: str
    server: _Server
    originals: dict[str, Path]  # local name (as in PublishedSource.name) -> real file

    def sources(self) -> tuple[PublishedSource, ...]:
        return sources_for_base(self.base_url)


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes(), usedforsecurity=False).hexdigest()


# The shapes really published: BSD for four RIRs, GNU naming the dated file for ARIN.
_MD5_SHAPES = {
    "afrinic": "MD5 (delegated-afrinic-extended-latest) = {}\n",
    "apnic": "MD5 (delegated-apnic-extended-latest) = {}\n",
    "arin": "{}  delegated-arin-extended-20181013\n",
    "lacnic": "MD5 (delegated-lacnic-extended-latest) = {}",  # no final newline
    "ripencc": "{} *delegated-ripencc-extended-latest\r\n",
}


@pytest.fixture
def mirror(tmp_path: Path, shared_data: Path) -> Iterator[Mirror]:
    root = tmp_path / "mirror"
    originals: dict[str, Path] = {}
    for rir in RIRS:
        name = f"delegated-{rir}-extended-latest"
        real = shared_data / "delegated" / DELEGATED_DATE / name
        (root / rir).mkdir(parents=True)
        (root / rir / name).symlink_to(real)
        (root / rir / f"{name}.md5").write_text(_MD5_SHAPES[rir].format(_md5(real)))
        originals[name] = real
    (root / "iana").mkdir()
    for file in IANA_FILES:
        real = shared_data / "iana" / file
        (root / "iana" / file).symlink_to(real)
        originals[file] = real

    server = _Server(("127.0.0.1", 0), functools.partial(_Handler, directory=str(root)))
    server.behaviour = {}
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="fetch-test-http"
    )
    thread.start()
    try:
        host, port = server.server_address[:2]
        yield Mirror(root, f"http://{host!s}:{port}/", server, originals)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def _snapshot(folder: Path) -> dict[str, bytes | None]:
    """Every entry under folder (files with their bytes, folders as None), hidden ones included."""
    return {
        str(p.relative_to(folder)): (p.read_bytes() if p.is_file() else None)
        for p in sorted(folder.rglob("*"))
    }


@pytest.fixture
def dest(tmp_path: Path) -> Path:
    """A download folder that already holds older files, which a failed download must keep."""
    folder = tmp_path / "sources"
    folder.mkdir()
    (folder / "delegated-afrinic-extended-latest").write_bytes(b"old afrinic\n")
    (folder / "ipv4-address-space.xml").write_bytes(b"<old/>\n")
    (folder / "notes.txt").write_text("not ours\n")
    return folder


# --- sources -------------------------------------------------------------------------------------


def test_default_sources_are_the_published_locations() -> None:
    by_name = {s.name: s for s in DEFAULT_SOURCES}
    assert len(by_name) == len(DEFAULT_SOURCES) == 12
    arin = by_name["delegated-arin-extended-latest"]
    assert arin.url == "https://ftp.arin.net/pub/stats/arin/delegated-arin-extended-latest"
    assert arin.md5_url == arin.url + ".md5"
    ripe = by_name["delegated-ripencc-extended-latest"]
    assert ripe.url == "https://ftp.ripe.net/pub/stats/ripencc/delegated-ripencc-extended-latest"
    v4 = by_name["ipv4-address-space.xml"]
    assert v4.url == "https://www.iana.org/assignments/ipv4-address-space/ipv4-address-space.xml"
    assert v4.md5_url is None
    assert set(IANA_FILES) == set(SPACE_FILES + SPECIAL_FILES)
    assert all(s.url.startswith("https://") for s in DEFAULT_SOURCES)
    assert sum(s.md5_url is not None for s in DEFAULT_SOURCES) == 5


def test_sources_for_base_keeps_names_and_uses_the_mirror_layout() -> None:
    mirrored = sources_for_base("http://mirror.example/stats")  # no trailing slash
    assert [s.name for s in mirrored] == [s.name for s in DEFAULT_SOURCES]
    urls = {s.name: (s.url, s.md5_url) for s in mirrored}
    assert urls["delegated-lacnic-extended-latest"] == (
        "http://mirror.example/stats/lacnic/delegated-lacnic-extended-latest",
        "http://mirror.example/stats/lacnic/delegated-lacnic-extended-latest.md5",
    )
    assert urls["as-numbers.xml"] == ("http://mirror.example/stats/iana/as-numbers.xml", None)


@pytest.mark.parametrize("name", ["", "/etc/passwd", "../x", "iana/../../x", "a//b", "./a"])
def test_source_names_cannot_leave_the_destination(name: str) -> None:
    with pytest.raises(ValueError, match="relative path"):
        PublishedSource(name, "http://127.0.0.1/x", None)


# --- .md5 shapes ---------------------------------------------------------------------------------

HEX = "0ef1edc28a8a2bbf9b7f02e5be7da195"


@pytest.mark.parametrize(
    "text",
    [
        f"MD5 (delegated-ripencc-extended-latest) = {HEX}\n",
        f"MD5 (delegated-ripencc-extended-latest) = {HEX}",
        f"MD5(delegated-ripencc-extended-latest)= {HEX.upper()}\r\n",
        f"{HEX}  delegated-arin-extended-20260923\n",
        f"{HEX} *delegated-arin-extended-latest\n",
        f"{HEX}\n",
        f"\ufeff{HEX}  x\n\n",
    ],
)
def test_parse_md5_accepts_the_published_shapes(text: str) -> None:
    assert parse_md5(text, "delegated-arin-extended-latest") == HEX


def test_parse_md5_picks_by_name_among_several() -> None:
    other = "f" * 32
    text = f"MD5 (a) = {other}\nMD5 (delegated-x-latest) = {HEX}\n"
    assert parse_md5(text, "delegated-x-latest") == HEX
    with pytest.raises(ValueError, match="2 different MD5 digests"):
        parse_md5(text, "nope")


@pytest.mark.parametrize("text", ["", "<html>Not here</html>", "MD5 (x) = 1234"])
def test_parse_md5_refuses_text_without_a_digest(text: str) -> None:
    with pytest.raises(ValueError, match="no MD5 digest"):
        parse_md5(text)


# --- downloads -----------------------------------------------------------------------------------


@pytest.mark.realdata
def test_download_gives_byte_identical_files(mirror: Mirror, dest: Path) -> None:
    seen: dict[str, tuple[int, int | None]] = {}

    def progress(name: str, done: int, total: int | None) -> None:
        seen[name] = (done, total)

    paths = download(mirror.sources(), dest, progress=progress)

    assert paths == [dest / name for name in mirror.originals]
    for name, real in mirror.originals.items():
        assert (dest / name).read_bytes() == real.read_bytes(), name
        assert not (dest / name).is_symlink()
        size = real.stat().st_size
        assert seen[name] == (size, size)
    assert (dest / "notes.txt").read_text() == "not ours\n"
    assert not [p for p in dest.rglob(".*")], "temporary files left behind"
    # The names are the ones the offline readers look for (here all in one folder).
    assert len(load_iana_sources(dest).blocks) > 256
    for rir in RIRS:
        assert find_delegated(dest, rir) == dest / f"delegated-{rir}-extended-latest"
    afrinic = parse_delegated(dest / "delegated-afrinic-extended-latest")
    assert len(afrinic.records) == 9373


@pytest.mark.realdata
def test_delegated_and_iana_files_can_go_to_two_folders(mirror: Mirror, tmp_path: Path) -> None:
    delegated = [s for s in mirror.sources() if s.md5_url is not None]
    iana = [s for s in mirror.sources() if s.md5_url is None]
    download(delegated, tmp_path / "delegated")
    download(iana, tmp_path / "iana")
    assert find_delegated(tmp_path / "delegated", RegistryId.ARIN) is not None
    assert load_iana_sources(tmp_path / "iana").updated


@pytest.mark.realdata
def test_download_creates_the_destination_and_leaves_a_given_client_open(
    mirror: Mirror, tmp_path: Path
) -> None:
    iana_only = [s for s in mirror.sources() if s.md5_url is None]
    with httpx.Client() as client:
        paths = download(iana_only, tmp_path / "new" / "dir", client=client)
        assert not client.is_closed
    assert [p.name for p in paths] == list(IANA_FILES)


@pytest.mark.realdata
def test_redirects_are_followed(mirror: Mirror, tmp_path: Path) -> None:
    mirror.server.behaviour["/moved/as-numbers.xml"] = "redirect:/iana/as-numbers.xml"
    source = PublishedSource("as-numbers.xml", mirror.base_url + "moved/as-numbers.xml", None)
    (path,) = download([source], tmp_path / "out")
    assert path.read_bytes() == mirror.originals["as-numbers.xml"].read_bytes()


@pytest.mark.realdata
def test_md5_mismatch_names_url_and_both_digests_and_changes_nothing(
    mirror: Mirror, dest: Path
) -> None:
    real = mirror.originals["delegated-lacnic-extended-latest"]
    wrong = "0123456789abcdef0123456789abcdef"
    md5_file = mirror.root / "lacnic" / "delegated-lacnic-extended-latest.md5"
    md5_file.write_text(f"MD5 (delegated-lacnic-extended-latest) = {wrong}\n")
    before = _snapshot(dest)

    with pytest.raises(ChecksumMismatchError) as info:
        download(mirror.sources(), dest)

    message = str(info.value)
    url = mirror.base_url + "lacnic/delegated-lacnic-extended-latest"
    assert url in message
    assert url + ".md5" in message
    assert wrong in message and _md5(real) in message
    assert info.value.expected == wrong and info.value.actual == _md5(real)
    assert isinstance(info.value, OneregError)
    assert _snapshot(dest) == before


@pytest.mark.realdata
@pytest.mark.parametrize(
    "missing",
    ["iana/iana-as-numbers-special-registry.xml", "arin/delegated-arin-extended-latest.md5"],
)
def test_http_404_names_url_and_status_and_changes_nothing(
    mirror: Mirror, dest: Path, missing: str
) -> None:
    (mirror.root / missing).unlink()
    before = _snapshot(dest)

    with pytest.raises(HttpStatusError) as info:
        download(mirror.sources(), dest)

    assert info.value.status == 404
    assert info.value.url == mirror.base_url + missing
    assert f"{mirror.base_url}{missing}: HTTP 404" in str(info.value)
    assert _snapshot(dest) == before


@pytest.mark.realdata
@pytest.mark.parametrize("how", ["drop", "truncate"])
def test_server_closing_the_connection_fails_cleanly(mirror: Mirror, dest: Path, how: str) -> None:
    mirror.server.behaviour["/ripencc/delegated-ripencc-extended-latest"] = how
    before = _snapshot(dest)

    with pytest.raises(FetchError) as info:
        download(mirror.sources(), dest)

    assert info.value.url == mirror.base_url + "ripencc/delegated-ripencc-extended-latest"
    assert "connection error (RemoteProtocolError)" in str(info.value)
    assert isinstance(info.value.__cause__, httpx.RemoteProtocolError)
    assert _snapshot(dest) == before


def test_connection_refused_fails_cleanly(tmp_path: Path) -> None:
    with socket.socket() as sock:  # a port that was just free and that nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/iana/as-numbers.xml"
    with pytest.raises(FetchError, match="connection error \\(ConnectError\\)") as info:
        nested = PublishedSource("iana/as-numbers.xml", url, None)  # names may be relative paths
        download([nested], tmp_path / "out", timeout=5)
    assert info.value.url == url
    assert not (tmp_path / "out").exists(), "folders made for the download were not removed"


@pytest.mark.realdata
def test_a_failed_rename_puts_back_the_files_already_replaced(mirror: Mirror, dest: Path) -> None:
    last = mirror.sources()[-1]
    (dest / last.name).mkdir()  # a folder where the last file should go: os.replace refuses
    before = _snapshot(dest)

    with pytest.raises(FetchError, match="cannot put file") as info:
        download(mirror.sources(), dest)

    assert info.value.url == last.url
    assert _snapshot(dest) == before
