"""Download of the registries' published statistics files, for machines that have internet.

`onereg up` works offline from files someone already fetched; this module is the optional way
to get the newest ones. A half-updated source directory would be worse than an old one (the
importer would mix dates, or read a file cut off by a dropped connection), so a download is all
or nothing: every file goes to a temporary name beside its target, the RIRs' published MD5s are
checked, and only when the whole set is good are the files renamed into place.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import re
import secrets
import shutil
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import httpx

from onereg import __version__
from onereg.core.errors import OneregError
from onereg.core.registries import RIRS, RegistryId
from onereg.registry.sources.iana import SPACE_FILES, SPECIAL_FILES

ProgressFn = Callable[[str, int, int | None], None]
"""Called as (source name, bytes received so far, Content-Length or None when not sent)."""

# Taken from the importer so a renamed IANA file cannot drift apart from what gets fetched.
IANA_FILES: tuple[str, ...] = SPACE_FILES + SPECIAL_FILES

# The RIRs do not share one FTP tree layout, so each published location is spelled out.
_RIR_URLS: dict[RegistryId, str] = {
    RegistryId.AFRINIC: "https://ftp.afrinic.net/stats/afrinic/delegated-afrinic-extended-latest",
    RegistryId.APNIC: "https://ftp.apnic.net/stats/apnic/delegated-apnic-extended-latest",
    RegistryId.ARIN: "https://ftp.arin.net/pub/stats/arin/delegated-arin-extended-latest",
    RegistryId.LACNIC: "https://ftp.lacnic.net/pub/stats/lacnic/delegated-lacnic-extended-latest",
    RegistryId.RIPENCC: "https://ftp.ripe.net/pub/stats/ripencc/delegated-ripencc-extended-latest",
}
_IANA_BASE = "https://www.iana.org/assignments"

_CHUNK = 1 << 16
_MD5_FILE_LIMIT = 1 << 16  # a checksum file is one line; more means we were served something else
_BSD_MD5 = re.compile(r"^MD5\s*\((?P<name>.*)\)\s*=\s*(?P<digest>[0-9a-fA-F]{32})$")
_GNU_MD5 = re.compile(r"^(?P<digest>[0-9a-fA-F]{32})(?:\s+\*?(?P<name>.+))?$")


class FetchError(OneregError):
    """A published file could not be fetched or verified; nothing in the destination changed."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"{url}: {reason}")
        self.url = url
        self.reason = reason


class HttpStatusError(FetchError):
    """The server answered, but not with the file (404 after a registry moved it, 5xx...)."""

    def __init__(self, url: str, status: int, phrase: str, final_url: str | None = None) -> None:
        moved = f" (after redirect to {final_url})" if final_url and final_url != url else ""
        super().__init__(url, f"HTTP {status} {phrase}".rstrip() + moved)
        self.status = status


class ChecksumMismatchError(FetchError):
    """The bytes received are not the bytes the registry published (truncation, stale mirror)."""

    def __init__(self, url: str, md5_url: str, expected: str, actual: str) -> None:
        super().__init__(
            url, f"MD5 mismatch: {md5_url} publishes {expected}, the downloaded file has {actual}"
        )
        self.md5_url = md5_url
        self.expected = expected
        self.actual = actual


@dataclass(frozen=True, slots=True)
class PublishedSource:
    """One published file and the name it gets locally (`download` puts it at `dest/name`).

    The names are the ones the offline importers look for (`delegated-<rir>-extended-latest`,
    IANA's `<registry>.xml`), and they never clash, so the caller may put the whole set in one
    folder or the delegated and IANA files in two. `name` may also be a relative path. `md5_url`
    is None where the publisher gives no checksum (IANA).
    """

    name: str
    url: str
    md5_url: str | None

    def __post_init__(self) -> None:
        # The name becomes a path under a directory the user chose: it must not climb out, and
        # must be spelled one way only, or two sources could write one file unnoticed.
        path = PurePosixPath(self.name)
        canonical = str(path) == self.name and self.name not in ("", ".")
        if not canonical or path.is_absolute() or ".." in path.parts:
            raise ValueError(f"source name must be a plain relative path: {self.name!r}")

    def local_path(self, dest: Path) -> Path:
        return dest.joinpath(*PurePosixPath(self.name).parts)


def _delegated_name(rir: RegistryId) -> str:
    return f"delegated-{rir.value}-extended-latest"


def _official_sources() -> tuple[PublishedSource, ...]:
    delegated = (
        PublishedSource(_delegated_name(r), _RIR_URLS[r], _RIR_URLS[r] + ".md5") for r in RIRS
    )
    iana = (
        PublishedSource(f, f"{_IANA_BASE}/{PurePosixPath(f).stem}/{f}", None) for f in IANA_FILES
    )
    return (*delegated, *iana)


DEFAULT_SOURCES: tuple[PublishedSource, ...] = _official_sources()


def sources_for_base(base_url: str) -> tuple[PublishedSource, ...]:
    """The same set of files, taken from a mirror (or a test server) instead of the registries.

    One base URL has to serve files that the registries publish on six different hosts, so a
    mirror uses this fixed layout (paths relative to `base_url`):

        afrinic/delegated-afrinic-extended-latest       and  ...-latest.md5
        apnic/delegated-apnic-extended-latest           and  ...-latest.md5
        arin/delegated-arin-extended-latest             and  ...-latest.md5
        lacnic/delegated-lacnic-extended-latest         and  ...-latest.md5
        ripencc/delegated-ripencc-extended-latest       and  ...-latest.md5
        iana/<name>.xml    for the seven IANA registries (no .md5: IANA publishes none)

    The `<rir>/` part is the layout the RIRs' own `pub/stats/` trees use for the copies they keep
    of each other's files, so an existing mirror of one of those trees serves the delegated half
    as it is. Local names are the same as with `DEFAULT_SOURCES`.
    """
    base = base_url.rstrip("/") + "/"
    delegated = (
        PublishedSource(
            _delegated_name(r),
            f"{base}{r.value}/{_delegated_name(r)}",
            f"{base}{r.value}/{_delegated_name(r)}.md5",
        )
        for r in RIRS
    )
    iana = (PublishedSource(f, f"{base}iana/{f}", None) for f in IANA_FILES)
    return (*delegated, *iana)


def parse_md5(text: str, filename: str | None = None) -> str:
    """The digest in a published `.md5` file, lower-case.

    The RIRs do not agree on the shape: AFRINIC, APNIC, LACNIC and the RIPE NCC publish BSD
    `MD5 (name) = hex`, ARIN GNU `hex  name`, and ARIN's line names the dated file, not the
    `-latest` one, so the name is only used to choose when a file lists several digests.
    Raises ValueError when no single digest can be chosen.
    """
    found: list[tuple[str, str | None]] = []
    for raw in text.splitlines():
        line = raw.strip().lstrip("\ufeff")
        match = _BSD_MD5.match(line) or _GNU_MD5.match(line)
        if match:
            found.append((match["digest"].lower(), match["name"]))
    digests = {d for d, _ in found}
    if len(digests) == 1:
        return digests.pop()
    if not digests:
        raise ValueError(f"no MD5 digest found in {text[:200]!r}")
    named = {d for d, n in found if filename is not None and n and n.lstrip("*") == filename}
    if len(named) == 1:
        return named.pop()
    raise ValueError(f"{len(digests)} different MD5 digests and none names {filename!r}")


@contextlib.contextmanager
def _request_errors(url: str) -> Iterator[None]:
    """Turn httpx's exceptions into a FetchError that names the URL (and keeps the cause)."""
    try:
        yield
    except httpx.InvalidURL as exc:
        raise FetchError(url, f"invalid URL: {exc}") from exc
    except httpx.TooManyRedirects as exc:
        raise FetchError(url, f"too many redirects: {exc}") from exc
    except httpx.DecodingError as exc:
        raise FetchError(url, f"cannot decode the response body: {exc}") from exc
    except httpx.HTTPError as exc:
        detail = str(exc) or "no details"
        raise FetchError(url, f"connection error ({type(exc).__name__}): {detail}") from exc


def _stream(
    client: httpx.Client,
    url: str,
    sink: Callable[[bytes], object],
    timeout: float,
    on_chunk: Callable[[int, int | None], None] | None = None,
    limit: int | None = None,
) -> None:
    with (
        _request_errors(url),
        client.stream("GET", url, follow_redirects=True, timeout=timeout) as response,
    ):
        if response.status_code != httpx.codes.OK:
            raise HttpStatusError(
                url, response.status_code, response.reason_phrase, str(response.url)
            )
        total = _content_length(response)
        if limit is not None and total is not None and total > limit:
            raise FetchError(url, f"{total} bytes, expected at most {limit}")
        if on_chunk:
            on_chunk(0, total)
        for chunk in response.iter_bytes(_CHUNK):
            sink(chunk)
            # Wire bytes, so that they compare with Content-Length even if the body is gzipped.
            received = response.num_bytes_downloaded
            if limit is not None and received > limit:
                raise FetchError(url, f"more than {limit} bytes")
            if on_chunk:
                on_chunk(received, total)


def _content_length(response: httpx.Response) -> int | None:
    try:
        return int(response.headers["Content-Length"])
    except (KeyError, ValueError):
        return None


def _sibling(target: Path, tag: str) -> Path:
    # Same folder as the target, so the final rename stays on one file system and is atomic;
    # a leading dot keeps half-written files out of the importers' way.
    return target.with_name(f".{target.name}.{secrets.token_hex(6)}.{tag}")


def _make_dirs(path: Path, created: list[Path]) -> None:
    """mkdir -p that remembers what it made, so a failed download can leave no empty folders."""
    missing: list[Path] = []
    while not path.exists():
        missing.append(path)
        path = path.parent
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=0o700)
        except FileExistsError:  # made meanwhile by someone else: theirs, not ours to remove
            continue
        os.chmod(folder, 0o700)  # mkdir's mode is filtered by the umask
        created.append(folder)


@dataclass(slots=True)
class _Staged:
    source: PublishedSource
    temp: Path
    target: Path


def _fetch_one(
    client: httpx.Client,
    source: PublishedSource,
    target: Path,
    staged: list[_Staged],
    created: list[Path],
    progress: ProgressFn | None,
    timeout: float,
) -> None:
    try:
        _make_dirs(target.parent, created)
    except OSError as exc:
        raise FetchError(source.url, f"cannot create {target.parent}: {exc}") from exc
    temp = _sibling(target, "part")
    digest = hashlib.md5(usedforsecurity=False)
    try:
        out = temp.open("xb")
    except OSError as exc:
        raise FetchError(source.url, f"cannot write {temp}: {exc}") from exc
    staged.append(_Staged(source, temp, target))

    def write(chunk: bytes) -> None:
        digest.update(chunk)
        out.write(chunk)

    def report(done: int, total: int | None) -> None:
        if progress:
            progress(source.name, done, total)

    with out:
        try:
            _stream(client, source.url, write, timeout, report)
        except OSError as exc:
            raise FetchError(source.url, f"cannot write {temp}: {exc}") from exc
    if source.md5_url is None:
        return
    # Fetched after the file, not before: the registries regenerate both daily, and this keeps
    # the window in which the two can come from different days as short as the small request.
    buffer = io.BytesIO()
    _stream(client, source.md5_url, buffer.write, timeout, limit=_MD5_FILE_LIMIT)
    text = buffer.getvalue().decode("utf-8", errors="replace")
    try:
        expected = parse_md5(text, PurePosixPath(httpx.URL(source.url).path).name)
    except ValueError as exc:
        raise FetchError(source.md5_url, str(exc)) from exc
    actual = digest.hexdigest()
    if actual != expected:
        raise ChecksumMismatchError(source.url, source.md5_url, expected, actual)


def _keep_copy(target: Path) -> Path | None:
    """A second name for the target's current content, so a failed commit can put it back."""
    if not target.exists() and not target.is_symlink():
        return None
    backup = _sibling(target, "old")
    try:
        os.link(target, backup, follow_symlinks=False)
    except OSError:
        if target.is_dir():
            raise
        shutil.copy2(target, backup, follow_symlinks=False)
    return backup


def _commit(staged: list[_Staged]) -> None:
    """Rename every staged file into place, undoing the earlier renames if a later one fails."""
    done: list[tuple[_Staged, Path | None]] = []
    try:
        for item in staged:
            try:
                backup = _keep_copy(item.target)
                os.replace(item.temp, item.target)
            except OSError as exc:
                raise FetchError(
                    item.source.url, f"cannot put file at {item.target}: {exc}"
                ) from exc
            done.append((item, backup))
    except FetchError:
        for item, backup in reversed(done):
            if backup is None:
                item.target.unlink(missing_ok=True)
            else:
                os.replace(backup, item.target)
        raise
    finally:
        for _, backup in done:
            if backup is not None:
                backup.unlink(missing_ok=True)


def download(
    sources: Sequence[PublishedSource],
    dest: Path,
    *,
    client: httpx.Client | None = None,
    progress: ProgressFn | None = None,
    timeout: float = 60.0,
) -> list[Path]:
    """Fetch `sources` into `dest` (each at `dest/<name>`) and return the paths, in order.

    All or nothing: if any file fails (HTTP status, connection, MD5 mismatch, disk), the error
    names its URL and no file under `dest` has changed. A `client` lets the caller choose
    proxies, certificates or a transport; `timeout` (seconds, for connect and for each read)
    applies either way. Redirects are followed because the registries move files behind them.
    """
    names = [s.name for s in sources]
    if len(set(names)) != len(names):
        raise ValueError(f"two sources share a local name: {names}")
    owned = client is None
    http = client or httpx.Client(headers={"User-Agent": f"onereg/{__version__}"})
    staged: list[_Staged] = []
    created: list[Path] = []
    committed = False
    try:
        for source in sources:
            _fetch_one(http, source, source.local_path(dest), staged, created, progress, timeout)
        _commit(staged)
        committed = True
    finally:
        for item in staged:
            item.temp.unlink(missing_ok=True)
        if not committed:
            for folder in reversed(created):
                with contextlib.suppress(OSError):
                    folder.rmdir()
        if owned:
            http.close()
    return [item.target for item in staged]
