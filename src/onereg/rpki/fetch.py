"""Fetching RPKI repositories for our relying party: rsync and RRDP (RFC 8182), then validation.

`fetch_and_validate` walks the tree top-down through `validate`'s `RepositoryHook`: the TA
certificate is fetched from the TAL's URIs, then each CA's publication point just before the
walk reads it, so only what is reachable gets fetched, each repository once per run.  Like
rpki-client, a CA with an ``rpkiNotify`` URI is fetched over RRDP first and over rsync when RRDP
fails (``prefer="rsync"`` turns the order round).

The cache directory holds separate mirrors, each laid out like `validate`'s ``repo_dir``
(``rsync://host/module/path`` is ``<mirror>/host/module/path``):

``ta/``             TA certificates, from the TAL's https or rsync URIs;
``rsync/``          rsync modules, ``rsync -rt --delete`` of ``rsync://host/module/``;
``rrdp/<h>/files/`` one mirror per RRDP notification URI (``<h>`` is a hash of the URI), with
                    ``rrdp/<h>/state.json`` holding the session and serial it is at.

Keeping each RRDP repository in its own mirror means a repository can only ever change the
objects of the CAs that name it in ``rpkiNotify``, and a new snapshot can replace the old files
wholesale (written aside, then swapped in) without tracking which URIs it used to hold.

rsync runs as a subprocess of the ``rsync`` binary because there is no maintained Python rsync
implementation (the few on PyPI are unmaintained toys that do not speak the rsyncd protocol that
RPKI publication servers use); rpki-client, FORT and OctoRPKI shell out to rsync too.

RRDP follows RFC 8182 section 3.4: the notification file is fetched every run; a snapshot is
applied on first contact, on a session change, when the serial went backwards or when the
notification does not list every delta from our serial to its own; otherwise the deltas are
applied in order.  Every snapshot and delta must match the hash the notification gives for it,
carry the notification's session and its own serial, and every ``publish`` that replaces and every
``withdraw`` must name the hash of the file it replaces; deltas are checked in full before any
of them touches the mirror, and a failed delta run falls back to the snapshot.  XML with a DTD
or entity declarations is refused outright.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import os
import re
import shutil
import ssl
import subprocess
import tempfile
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import ClassVar, Literal
from urllib.parse import urlsplit
from xml.parsers import expat

import httpx
import orjson

from onereg.core.fs import private_dir
from onereg.rpki.der import ResourceCert, Tal
from onereg.rpki.validate import Rejection, ValidationResult, validate

RRDP_NS = "http://www.ripe.net/rpki/rrdp"
RSYNC_TIMEOUT = 180
"""Seconds an rsync run may take (rsync's own --timeout covers stalls, this the whole run)."""
HTTP_TIMEOUT = 60.0
MAX_NOTIFICATION = 16 << 20
MAX_SNAPSHOT = 4 << 30
MAX_DELTA = 1 << 30
MAX_OBJECT = 8 << 20
"""rsync --max-size: no RPKI object is anywhere near this."""
RSYNC_SUFFIXES = ("cer", "crl", "mft", "roa", "asa", "gbr", "sig", "tak", "spl")

Prefer = Literal["rrdp", "rsync"]


class FetchError(Exception):
    """One fetch failed; the message says why."""


@dataclass(frozen=True, slots=True)
class FetchEvent:
    """What one fetch did: ``kind`` is rsync, https, rrdp-snapshot, rrdp-delta, rrdp-unchanged
    or failed."""

    uri: str
    kind: str
    detail: str = ""


# --- paths -----------------------------------------------------------------------------------


_SAFE_SEGMENT = re.compile(r"[A-Za-z0-9._:@%+=,~-]+")


def mirror_path(root: Path, uri: str) -> Path:
    """Where `uri` (rsync:// or https://) lives under a mirror root; refuses unsafe URIs."""
    for scheme in ("rsync://", "https://"):
        if uri.startswith(scheme):
            rest = uri[len(scheme) :]
            break
    else:
        raise FetchError(f"unsupported URI scheme in {uri!r}")
    segments = rest.split("/")
    if any(s in ("", ".", "..") or not _SAFE_SEGMENT.fullmatch(s) for s in segments):
        raise FetchError(f"unsafe URI {uri!r}")
    return root.joinpath(*segments)


def rsync_module(uri: str) -> str:
    """``rsync://host/module/`` of an rsync URI."""
    if not uri.startswith("rsync://"):
        raise FetchError(f"not an rsync URI: {uri!r}")
    parts = uri[len("rsync://") :].split("/")
    if len(parts) < 2 or not parts[0] or not parts[1]:
        raise FetchError(f"rsync URI without a module: {uri!r}")
    return f"rsync://{parts[0]}/{parts[1]}/"


def _same_origin(a: str, b: str) -> bool:
    try:
        x, y = urlsplit(a), urlsplit(b)
    except ValueError:  # "Invalid IPv6 URL": an unbalanced [ in the host
        return False
    return (x.scheme, x.netloc) == (y.scheme, y.netloc)


def _write_file(path: Path, data: bytes) -> None:
    private_dir(path.parent)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


# --- RRDP XML --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Item:
    """A child of an RRDP root element: snapshot/delta references or publish/withdraw."""

    tag: str
    attrs: dict[str, str]
    body: bytes | None


class _RrdpParser:
    """Streaming RFC 8182 parser (expat): checks the root, hands each child to `on_item`.

    Expat with a DOCTYPE handler that refuses: RRDP never has a DTD, so no entity expansion.
    """

    CHILDREN: ClassVar[dict[str, tuple[str, ...]]] = {
        "notification": ("snapshot", "delta"),
        "snapshot": ("publish",),
        "delta": ("publish", "withdraw"),
    }

    def __init__(self, kind: str, on_item: Callable[[_Item], None]) -> None:
        self.kind = kind
        self.on_item = on_item
        self.root: dict[str, str] | None = None
        self._depth = 0
        self._child: tuple[str, dict[str, str]] | None = None
        self._text: list[str] = []
        self._parser = expat.ParserCreate(namespace_separator="|")
        self._parser.StartElementHandler = self._start
        self._parser.EndElementHandler = self._end
        self._parser.CharacterDataHandler = self._chars
        self._parser.StartDoctypeDeclHandler = self._refuse
        self._parser.EntityDeclHandler = self._refuse

    @staticmethod
    def _refuse(*_: object) -> None:
        raise FetchError("XML with a DTD or entity declarations")

    def _name(self, name: str) -> str:
        ns, _, local = name.rpartition("|")
        if ns != RRDP_NS:
            raise FetchError(f"element {local!r} outside the RRDP namespace")
        return local

    def _start(self, name: str, attrs: dict[str, str]) -> None:
        local = self._name(name)
        self._depth += 1
        if self._depth == 1:
            if local != self.kind:
                raise FetchError(f"expected a {self.kind} document, got <{local}>")
            if attrs.get("version") != "1":
                raise FetchError(f"unsupported RRDP version {attrs.get('version')!r}")
            self.root = dict(attrs)
        elif self._depth == 2:
            if local not in self.CHILDREN[self.kind]:
                raise FetchError(f"unexpected <{local}> in a {self.kind}")
            self._child = (local, dict(attrs))
            self._text = []
        else:
            raise FetchError(f"unexpected nested <{local}>")

    def _chars(self, data: str) -> None:
        if self._depth == 2:
            self._text.append(data)
        elif data.strip():
            raise FetchError(f"unexpected text in a {self.kind}")

    def _end(self, name: str) -> None:
        if self._depth == 2 and self._child is not None:
            tag, attrs = self._child
            body: bytes | None = None
            if tag == "publish":
                text = "".join("".join(self._text).split())
                try:
                    body = base64.b64decode(text, validate=True)
                except (binascii.Error, ValueError):
                    raise FetchError(f"bad base64 for {attrs.get('uri')!r}") from None
            elif "".join(self._text).strip():
                raise FetchError(f"unexpected text in <{tag}>")
            self.on_item(_Item(tag, attrs, body))
            self._child = None
        self._depth -= 1

    def feed(self, data: bytes, final: bool = False) -> None:
        try:
            self._parser.Parse(data, final)
        except expat.ExpatError as exc:
            raise FetchError(f"malformed XML: {exc}") from None
        except (LookupError, ValueError) as exc:  # an encoding expat cannot read: unknown, UTF-7
            raise FetchError(f"unreadable XML: {exc}") from None
        if final and self.root is None:
            raise FetchError(f"empty {self.kind} document")

    def parse_file(self, path: Path) -> None:
        with path.open("rb") as handle:
            while chunk := handle.read(1 << 20):
                self.feed(chunk)
        self.feed(b"", final=True)


def _session_serial(root: dict[str, str] | None, what: str) -> tuple[str, int]:
    if root is None:
        raise FetchError(f"empty {what}")
    session = root.get("session_id", "")
    try:
        uuid.UUID(session)
    except ValueError:
        raise FetchError(f"{what}: session_id {session!r} is not a UUID") from None
    serial_text = root.get("serial", "")
    if not serial_text.isdigit() or int(serial_text) < 1:
        raise FetchError(f"{what}: bad serial {serial_text!r}")
    return session.lower(), int(serial_text)


def _hash_attr(attrs: dict[str, str], what: str) -> str:
    value = attrs.get("hash", "").lower()
    if not re.fullmatch(r"[0-9a-f]{64}", value):
        raise FetchError(f"{what}: bad hash attribute {attrs.get('hash')!r}")
    return value


@dataclass(frozen=True, slots=True)
class Notification:
    session_id: str
    serial: int
    snapshot_uri: str
    snapshot_hash: str
    deltas: dict[int, tuple[str, str]]  # serial -> (uri, hash)


def parse_notification(data: bytes, uri: str) -> Notification:
    """An RFC 8182 section 3.5.1 notification file, with its snapshot and delta references."""
    items: list[_Item] = []
    parser = _RrdpParser("notification", items.append)
    parser.feed(data, final=True)
    session, serial = _session_serial(parser.root, "notification")
    snapshot: tuple[str, str] | None = None
    deltas: dict[int, tuple[str, str]] = {}
    for item in items:
        ref = item.attrs.get("uri", "")
        if not ref.startswith("https://") or not _same_origin(ref, uri):
            raise FetchError(f"{item.tag} URI {ref!r} is not on the notification's https origin")
        digest = _hash_attr(item.attrs, item.tag)
        if item.tag == "snapshot":
            if snapshot is not None:
                raise FetchError("more than one snapshot")
            snapshot = (ref, digest)
        else:
            text = item.attrs.get("serial", "")
            if not text.isdigit() or not 1 <= int(text) <= serial:
                raise FetchError(f"bad delta serial {text!r}")
            if int(text) in deltas:
                raise FetchError(f"delta {text} listed twice")
            deltas[int(text)] = (ref, digest)
    if snapshot is None:
        raise FetchError("no snapshot")
    return Notification(session, serial, snapshot[0], snapshot[1], deltas)


# --- the fetcher -----------------------------------------------------------------------------


def _sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class Fetcher:
    """Brings repositories into `cache_dir` as the validation walk reaches them.

    It is the `RepositoryHook` that `fetch_and_validate` passes to `validate`; `events` says
    what was fetched how, `problems` holds each failed fetch as a `Rejection`, `counts` the
    totals (rsync_fetches, rrdp_snapshots, rrdp_deltas, rrdp_unchanged, fetch_failures).
    """

    def __init__(
        self,
        cache_dir: Path,
        prefer: Prefer = "rrdp",
        ca_bundle: Path | None = None,
        rsync: str = "rsync",
        http_timeout: float = HTTP_TIMEOUT,
    ) -> None:
        if prefer not in ("rrdp", "rsync"):
            raise ValueError(f"prefer must be 'rrdp' or 'rsync', not {prefer!r}")
        self.cache = cache_dir.resolve()
        self.prefer = prefer
        self.ca_bundle = ca_bundle
        self.rsync = rsync
        self.http_timeout = http_timeout
        self.ta_root = self.cache / "ta"
        self.rsync_root = self.cache / "rsync"
        self.rrdp_root = self.cache / "rrdp"
        for directory in (self.ta_root, self.rsync_root, self.rrdp_root):
            private_dir(directory)
        self.events: list[FetchEvent] = []
        self.problems: list[Rejection] = []
        self.counts: Counter[str] = Counter()
        self._modules: dict[str, bool] = {}
        self._notifies: dict[str, Path | None] = {}
        self._client: httpx.Client | None = None

    # --- plumbing ---

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def client(self) -> httpx.Client:
        if self._client is None:
            verify: ssl.SSLContext | bool = True
            if self.ca_bundle is not None:
                verify = ssl.create_default_context(cafile=str(self.ca_bundle))
            self._client = httpx.Client(
                verify=verify,
                timeout=self.http_timeout,
                follow_redirects=False,
                headers={"User-Agent": "onereg-rp"},
            )
        return self._client

    def _fail(self, uri: str, reason: str) -> None:
        self.problems.append(Rejection(uri, reason))
        self.events.append(FetchEvent(uri, "failed", reason))
        self.counts["fetch_failures"] += 1

    def _get(self, uri: str, limit: int, dest: Path | None = None) -> tuple[bytes, str]:
        """GET `uri` (https only) into memory, or into `dest` when given; (body, sha256 hex).

        With `dest` the body returned is empty: big files stream to disk while being hashed.
        """
        if not uri.startswith("https://"):
            raise FetchError(f"not an https URI: {uri!r}")
        digest = hashlib.sha256()
        chunks: list[bytes] = []
        size = 0
        try:
            with self.client.stream("GET", uri) as response:
                if response.status_code != 200:
                    raise FetchError(f"HTTP {response.status_code} for {uri}")
                handle = dest.open("wb") if dest is not None else None
                try:
                    for chunk in response.iter_bytes(1 << 20):
                        size += len(chunk)
                        if size > limit:
                            raise FetchError(f"{uri} is larger than {limit} bytes")
                        digest.update(chunk)
                        if handle is not None:
                            handle.write(chunk)
                        else:
                            chunks.append(chunk)
                finally:
                    if handle is not None:
                        handle.close()
        except httpx.HTTPError as exc:
            raise FetchError(f"{uri}: {type(exc).__name__}: {exc}") from None
        return b"".join(chunks), digest.hexdigest()

    # --- RepositoryHook ---

    def trust_anchor(self, tal: Tal) -> Path | None:
        """Fetch the TA certificate from the first TAL URI that works (https first when RRDP is
        preferred); drop the cached copies under the other URIs, so the walk reads this one."""
        order = sorted(tal.uris, key=lambda u: u.startswith("rsync://") == (self.prefer == "rrdp"))
        errors: list[str] = []
        for uri in order:
            try:
                target = mirror_path(self.ta_root, uri)
                if uri.startswith("https://"):
                    body, _ = self._get(uri, MAX_OBJECT)
                    _write_file(target, body)
                    self.events.append(FetchEvent(uri, "https"))
                else:
                    target.parent.mkdir(parents=True, exist_ok=True)
                    self._run_rsync([uri, str(target)])
                    self.events.append(FetchEvent(uri, "rsync"))
                    self.counts["rsync_fetches"] += 1
            except FetchError as exc:
                errors.append(str(exc))
                continue
            for other in tal.uris:
                if other != uri:
                    with contextlib.suppress(FetchError):
                        mirror_path(self.ta_root, other).unlink(missing_ok=True)
            return self.ta_root
        self._fail(tal.uris[0], "cannot fetch the TA certificate: " + "; ".join(errors))
        return self.ta_root

    def publication_point(self, cert: ResourceCert) -> Path | None:
        notify = cert.notify_uri
        repository = cert.ca_repository
        if notify is not None and not notify.startswith("https://"):
            notify = None
        order: list[str] = []
        if notify is not None and self.prefer == "rrdp":
            order.append("rrdp")
        if repository is not None:
            order.append("rsync")
        if notify is not None and self.prefer == "rsync":
            order.append("rrdp")
        for method in order:
            if method == "rrdp" and notify is not None:
                root = self.rrdp(notify)
                if root is not None:
                    return root
            elif method == "rsync" and repository is not None and self.rsync_repository(repository):
                return self.rsync_root
        # Every fetch failed: validate whatever copy an earlier run left behind.
        if notify is not None and self.prefer == "rrdp":
            files = self._rrdp_dir(notify) / "files"
            if (self._rrdp_dir(notify) / "state.json").exists():
                return files
        return self.rsync_root

    # --- rsync ---

    def _run_rsync(self, args: list[str]) -> None:
        command = [
            self.rsync,
            "-rt",
            "--no-motd",
            f"--max-size={MAX_OBJECT}",
            "--timeout=60",
            "--contimeout=15",
            *args,
        ]
        try:
            proc = subprocess.run(
                command, capture_output=True, text=True, timeout=RSYNC_TIMEOUT, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise FetchError(f"rsync {args[-2]}: {exc}") from None
        if proc.returncode != 0:
            tail = " ".join(proc.stderr.strip().splitlines()[-2:])
            raise FetchError(f"rsync {args[-2]} exited with {proc.returncode}: {tail}")

    def rsync_repository(self, repository: str) -> bool:
        """``rsync -rt --delete`` the module holding `repository`, once per run."""
        try:
            module = rsync_module(repository)
            target = mirror_path(self.rsync_root, module.rstrip("/"))
        except FetchError as exc:
            self._fail(repository, str(exc))
            return False
        if module in self._modules:
            return self._modules[module]
        private_dir(target)
        filters = ["--include=*/", *(f"--include=*.{s}" for s in RSYNC_SUFFIXES), "--exclude=*"]
        try:
            self._run_rsync(["--delete", *filters, module, str(target) + "/"])
        except FetchError as exc:
            self._fail(module, str(exc))
            self._modules[module] = False
            return False
        self.events.append(FetchEvent(module, "rsync"))
        self.counts["rsync_fetches"] += 1
        self._modules[module] = True
        return True

    # --- RRDP ---

    def _rrdp_dir(self, notify: str) -> Path:
        return self.rrdp_root / _sha256_hex(notify.encode())[:24]

    def rrdp(self, notify: str) -> Path | None:
        """Bring the RRDP repository of `notify` up to date, once per run; its mirror root, or
        None when it failed (the reason is in `problems`)."""
        if notify in self._notifies:
            return self._notifies[notify]
        try:
            root: Path | None = self._rrdp_update(notify)
        except FetchError as exc:
            self._fail(notify, f"RRDP: {exc}")
            root = None
        self._notifies[notify] = root
        return root

    def _load_state(self, directory: Path, notify: str) -> tuple[str, int] | None:
        try:
            state = orjson.loads((directory / "state.json").read_bytes())
            if state.get("notify") != notify or not (directory / "files").is_dir():
                return None
            return str(state["session_id"]), int(state["serial"])
        except (OSError, orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            return None

    def _save_state(self, directory: Path, notify: str, session: str, serial: int) -> None:
        state = {"notify": notify, "session_id": session, "serial": serial}
        _write_file(directory / "state.json", orjson.dumps(state))

    def _rrdp_update(self, notify: str) -> Path:
        directory = self._rrdp_dir(notify)
        private_dir(directory)
        body, _ = self._get(notify, MAX_NOTIFICATION)
        note = parse_notification(body, notify)
        known = self._load_state(directory, notify)
        files = directory / "files"
        if known is not None and known[0] == note.session_id:
            serial = known[1]
            if serial == note.serial:
                self.events.append(FetchEvent(notify, "rrdp-unchanged", f"serial {serial}"))
                self.counts["rrdp_unchanged"] += 1
                return files
            wanted = range(serial + 1, note.serial + 1)
            if serial < note.serial and all(n in note.deltas for n in wanted):
                try:
                    self._apply_deltas(note, list(wanted), files)
                except FetchError as exc:
                    self._fail(notify, f"RRDP deltas refused, using the snapshot: {exc}")
                else:
                    self._save_state(directory, notify, note.session_id, note.serial)
                    detail = f"serials {wanted.start}-{wanted.stop - 1}"
                    self.events.append(FetchEvent(notify, "rrdp-delta", detail))
                    self.counts["rrdp_deltas"] += len(wanted)
                    return files
        self._apply_snapshot(note, directory)
        self._save_state(directory, notify, note.session_id, note.serial)
        self.events.append(FetchEvent(notify, "rrdp-snapshot", f"serial {note.serial}"))
        self.counts["rrdp_snapshots"] += 1
        return files

    def _download_checked(self, uri: str, want: str, limit: int, dest: Path, what: str) -> None:
        _, got = self._get(uri, limit, dest)
        if got != want:
            raise FetchError(f"{what} {uri} does not match its notification hash")

    def _apply_snapshot(self, note: Notification, directory: Path) -> None:
        """Download, check and unpack the snapshot beside the old files, then swap it in."""
        staging = Path(tempfile.mkdtemp(prefix="files.", dir=directory))
        try:
            xml = staging / "snapshot.xml"
            self._download_checked(
                note.snapshot_uri, note.snapshot_hash, MAX_SNAPSHOT, xml, "snapshot"
            )
            tree = staging / "tree"
            tree.mkdir()
            seen: set[str] = set()

            def publish(item: _Item) -> None:
                uri = item.attrs.get("uri", "")
                if not uri.startswith("rsync://"):
                    raise FetchError(f"snapshot publishes a non-rsync URI {uri!r}")
                if uri in seen:
                    raise FetchError(f"snapshot publishes {uri} twice")
                seen.add(uri)
                assert item.body is not None
                path = mirror_path(tree, uri)
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(item.body)

            parser = _RrdpParser("snapshot", publish)
            parser.parse_file(xml)
            got = _session_serial(parser.root, "snapshot")
            if got != (note.session_id, note.serial):
                raise FetchError(
                    f"snapshot is session {got[0]} serial {got[1]}, the notification says "
                    f"{note.session_id} serial {note.serial}"
                )
            files = directory / "files"
            old = directory / f"old.{uuid.uuid4().hex}"
            if files.exists():
                files.rename(old)
            tree.rename(files)
            shutil.rmtree(old, ignore_errors=True)
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def _apply_deltas(self, note: Notification, serials: list[int], files: Path) -> None:
        """Check every delta against the mirror as it would be after the previous ones, then
        write the net change; nothing is written unless all of them check out."""
        changes: dict[Path, bytes | None] = {}

        def current(path: Path) -> bytes | None:
            if path in changes:
                return changes[path]
            try:
                return path.read_bytes()
            except FileNotFoundError:
                return None

        with tempfile.TemporaryDirectory(dir=files.parent) as tmp:
            for serial in serials:
                uri, digest = note.deltas[serial]
                xml = Path(tmp) / f"delta-{serial}.xml"
                self._download_checked(uri, digest, MAX_DELTA, xml, f"delta {serial}")
                items: list[_Item] = []
                parser = _RrdpParser("delta", items.append)
                parser.parse_file(xml)
                got = _session_serial(parser.root, f"delta {serial}")
                if got != (note.session_id, serial):
                    raise FetchError(f"delta {uri} is session {got[0]} serial {got[1]}")
                for item in items:
                    target = item.attrs.get("uri", "")
                    if not target.startswith("rsync://"):
                        raise FetchError(f"delta {serial} names a non-rsync URI {target!r}")
                    path = mirror_path(files, target)
                    old = current(path)
                    if item.tag == "withdraw" or "hash" in item.attrs:
                        replaced = _hash_attr(item.attrs, f"{item.tag} {target}")
                        if old is None:
                            raise FetchError(f"delta {serial}: {target} is not in the mirror")
                        if _sha256_hex(old) != replaced:
                            raise FetchError(f"delta {serial}: {target} has another hash")
                    elif old is not None:
                        raise FetchError(f"delta {serial}: {target} exists already")
                    changes[path] = item.body if item.tag == "publish" else None
        for path, data in changes.items():
            if data is None:
                path.unlink(missing_ok=True)
            else:
                _write_file(path, data)


# --- the top level ---------------------------------------------------------------------------


def fetch_and_validate(
    tals: Iterable[Path],
    cache_dir: Path,
    as_of: datetime | None = None,
    prefer: Prefer = "rrdp",
    ca_bundle: Path | None = None,
    workers: int | None = 1,
) -> ValidationResult:
    """Fetch every repository reachable from `tals` into `cache_dir` and validate as of `as_of`.

    Fetch failures appear among the result's rejections (with the reason) and in its counts
    (``fetch_failures``), next to ``rsync_fetches``, ``rrdp_snapshots``, ``rrdp_deltas`` and
    ``rrdp_unchanged``. `ca_bundle` is a PEM file of CAs trusted for https instead of the
    system's (a private CA in tests). ROAs and ASPAs are checked in `workers` processes (None:
    one per CPU), see `validate`; the default is one, because on the shared two-core machine the
    pool's pickling cost more than the second core gave.
    """
    private_dir(cache_dir)
    with Fetcher(cache_dir, prefer, ca_bundle) as fetcher:
        result = validate(tals, fetcher.rsync_root, as_of, hook=fetcher, workers=workers)
    counts = dict(result.counts)
    for key in ("rsync_fetches", "rrdp_snapshots", "rrdp_deltas", "rrdp_unchanged"):
        counts[key] = fetcher.counts[key]
    counts["fetch_failures"] = fetcher.counts["fetch_failures"]
    return replace(
        result,
        rejections=(*fetcher.problems, *result.rejections),
        counts=counts,
    )


__all__ = [
    "FetchError",
    "FetchEvent",
    "Fetcher",
    "Notification",
    "fetch_and_validate",
    "mirror_path",
    "parse_notification",
    "rsync_module",
]
