"""Publishing a registry's RPKI repository: the rsync tree on disk and RRDP (RFC 8182).

The CA hands over its complete file set on every publication; this module turns the difference
from the previous one into a new RRDP serial with a delta, so relying parties that saw the last
serial fetch only what changed and keep their session. A new session is started only when the
state is lost (no state file), which is exactly when RFC 8182 §3.3.1 asks for one.
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import os
import shutil
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import quoteattr

import orjson

from onereg.core.fs import private_dir
from onereg.rpki.ca import RegistryCa

RRDP_NS = "http://www.ripe.net/rpki/rrdp"
MAX_DELTAS = 50  # RFC 8182 §3.3.2: deltas beyond the snapshot's size are pointless

PUBLIC = 0o755  # the publication tree: rsyncd and the RRDP server read it as other users


@dataclass(frozen=True)
class Publication:
    """What one `publish` did: the RRDP serial it produced and the paths it changed."""

    session_id: str
    serial: int
    published: tuple[str, ...]
    withdrawn: tuple[str, ...]

    @property
    def changed(self) -> bool:
        return bool(self.published or self.withdrawn)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _write(path: Path, data: bytes) -> None:
    """Atomic replace, world-readable: rsyncd and the RRDP server run as other users."""
    private_dir(path.parent, PUBLIC)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def _write_if_changed(path: Path, data: bytes) -> None:
    """A publication with nothing new writes nothing: rsync and RRDP clients, and whoever
    watches the tree's mtimes (`onereg rtr serve --repo`), see no change."""
    try:
        if path.read_bytes() == data:
            return
    except FileNotFoundError:
        pass
    _write(path, data)


class Publisher:
    """A publication server: rsync tree under `root/rsync`, RRDP files under `root/rrdp`.

    `rsync_base` maps a file's path to its rsync URI (the URI relying parties see in RRDP too),
    `rrdp_base` is the https location the `rrdp` directory is served from. Paths under `ta/` (trust
    anchor certificates, fetched through the TAL) are kept out of RRDP, as RFC 8630 TAs are.
    """

    def __init__(self, root: Path, rsync_base: str, rrdp_base: str) -> None:
        self.root = root
        self.rsync_dir = root / "rsync"
        self.rrdp_dir = root / "rrdp"
        self.rsync_base = rsync_base
        self.rrdp_base = rrdp_base.rstrip("/") + "/"
        self._state_path = root / "rrdp-state.json"

    @property
    def notification_uri(self) -> str:
        return self.rrdp_base + "notification.xml"

    def _load(self) -> dict[str, object]:
        if self._state_path.exists():
            loaded: dict[str, object] = orjson.loads(self._state_path.read_bytes())
            return loaded
        return {"session_id": str(uuid.uuid4()), "serial": 0, "files": {}, "deltas": []}

    def publish(
        self, files: Mapping[str, bytes], scope: tuple[str, ...] | None = None
    ) -> Publication:
        """Make the repository hold exactly `files` ({path under the rsync root: bytes}), or,
        with `scope` (path prefixes, e.g. one registry's), exactly `files` under those prefixes
        and everything else as it was. Several node processes publish here; a lock on the
        directory serialises them."""
        private_dir(self.root, PUBLIC)
        with open(self.root / ".lock", "a") as lock:  # "a": taking the lock writes nothing
            fcntl.flock(lock, fcntl.LOCK_EX)
            return self._publish(self._widen(files, scope) if scope is not None else files)

    def _widen(self, files: Mapping[str, bytes], scope: tuple[str, ...]) -> dict[str, bytes]:
        """`files` plus every published file outside `scope`, read back from the rsync tree."""
        old: dict[str, str] = dict(self._load()["files"])  # type: ignore[call-overload]
        kept = {p: (self.rsync_dir / p).read_bytes() for p in old if not p.startswith(scope)}
        return {**kept, **files}

    def _publish(self, files: Mapping[str, bytes]) -> Publication:
        for path in files:
            if path.startswith("/") or ".." in path.split("/"):
                raise ValueError(f"{path} is not a path inside the repository")
        state = self._load()
        session = str(state["session_id"])
        old: dict[str, str] = dict(state["files"])  # type: ignore[call-overload]
        new = {p: _sha(d) for p, d in files.items()}
        published = tuple(sorted(p for p in new if old.get(p) != new[p]))
        withdrawn = tuple(sorted(p for p in old if p not in new))
        self._write_rsync(files, withdrawn)
        serial = int(state["serial"])  # type: ignore[call-overload]
        deltas: list[int] = list(state["deltas"])  # type: ignore[call-overload]
        if serial == 0 or published or withdrawn:
            serial += 1
            rrdp_files = {p: d for p, d in files.items() if self._in_rrdp(p)}
            if serial > 1:
                delta = self._delta(session, serial, old, rrdp_files, published, withdrawn)
                _write(self._serial_dir(session, serial) / "delta.xml", delta)
                deltas = [*deltas, serial][-MAX_DELTAS:]
            _write(
                self._serial_dir(session, serial) / "snapshot.xml",
                self._snapshot(session, serial, rrdp_files),
            )
            self._prune(session, serial, deltas)
            _write(self.rrdp_dir / "notification.xml", self._notification(session, serial, deltas))
            state = {"session_id": session, "serial": serial, "files": new, "deltas": deltas}
            _write(self._state_path, orjson.dumps(state, option=orjson.OPT_SORT_KEYS))
        return Publication(session, serial, published, withdrawn)

    @staticmethod
    def _in_rrdp(path: str) -> bool:
        return not path.startswith("ta/")

    def _write_rsync(self, files: Mapping[str, bytes], withdrawn: tuple[str, ...]) -> None:
        private_dir(self.rsync_dir, PUBLIC)
        for path, data in files.items():
            _write_if_changed(self.rsync_dir / path, data)
        for path in withdrawn:
            (self.rsync_dir / path).unlink(missing_ok=True)

    def _serial_dir(self, session: str, serial: int) -> Path:
        return self.rrdp_dir / session / str(serial)

    def _uri(self, path: str) -> str:
        return quoteattr(self.rsync_base + path)

    def _snapshot(self, session: str, serial: int, files: Mapping[str, bytes]) -> bytes:
        lines = [
            f'<snapshot xmlns="{RRDP_NS}" version="1" session_id="{session}" serial="{serial}">'
        ]
        for path in sorted(files):
            body = base64.b64encode(files[path]).decode()
            lines.append(f"  <publish uri={self._uri(path)}>{body}</publish>")
        lines.append("</snapshot>")
        return ("\n".join(lines) + "\n").encode()

    def _delta(
        self,
        session: str,
        serial: int,
        old: Mapping[str, str],
        files: Mapping[str, bytes],
        published: tuple[str, ...],
        withdrawn: tuple[str, ...],
    ) -> bytes:
        lines = [f'<delta xmlns="{RRDP_NS}" version="1" session_id="{session}" serial="{serial}">']
        for path in published:
            if not self._in_rrdp(path):
                continue
            replaces = f' hash="{old[path]}"' if path in old else ""
            body = base64.b64encode(files[path]).decode()
            lines.append(f"  <publish uri={self._uri(path)}{replaces}>{body}</publish>")
        for path in withdrawn:
            if self._in_rrdp(path):
                lines.append(f'  <withdraw uri={self._uri(path)} hash="{old[path]}"/>')
        lines.append("</delta>")
        return ("\n".join(lines) + "\n").encode()

    def _notification(self, session: str, serial: int, deltas: list[int]) -> bytes:
        def ref(name: str, number: int) -> tuple[str, str]:
            data = (self._serial_dir(session, number) / name).read_bytes()
            return f"{self.rrdp_base}{session}/{number}/{name}", _sha(data)

        uri, digest = ref("snapshot.xml", serial)
        lines = [
            f'<notification xmlns="{RRDP_NS}" version="1" session_id="{session}" '
            f'serial="{serial}">',
            f'  <snapshot uri="{uri}" hash="{digest}"/>',
        ]
        for number in sorted(deltas, reverse=True):
            uri, digest = ref("delta.xml", number)
            lines.append(f'  <delta serial="{number}" uri="{uri}" hash="{digest}"/>')
        lines.append("</notification>")
        return ("\n".join(lines) + "\n").encode()

    def _prune(self, session: str, serial: int, deltas: list[int]) -> None:
        """Keep the current snapshot and the listed deltas; older serial directories go."""
        base = self.rrdp_dir / session
        for child in base.iterdir() if base.exists() else ():
            if not child.name.isdigit():
                continue
            number = int(child.name)
            if number == serial:
                continue
            if number in deltas:
                (child / "snapshot.xml").unlink(missing_ok=True)
            else:
                shutil.rmtree(child)

    # --- serving ---------------------------------------------------------------------------------

    def http_file(self, path: str) -> tuple[bytes, str] | None:
        """(body, media type) for an HTTP GET of `path` under the RRDP base, or None.

        Independent of any web framework so that the project's HTTP layer, or a test's tiny
        server, can route to it. Besides the RRDP files it serves `ta/...` certificates, which
        is what the TAL's https URI points to.
        """
        parts = [p for p in path.strip("/").split("/") if p]
        if not parts or any(p in (".", "..") or p.startswith(".") for p in parts):
            return None
        if parts[0] == "ta":
            target = self.rsync_dir.joinpath(*parts)
            media = "application/pkix-cert"
        else:
            target = self.rrdp_dir.joinpath(*parts)
            media = "application/xml"
        if not target.is_file():
            return None
        return target.read_bytes(), media

    def rrdp_files(self) -> dict[str, bytes]:
        """Every RRDP file currently served, {path relative to the RRDP base: bytes}."""
        return {
            str(p.relative_to(self.rrdp_dir)): p.read_bytes()
            for p in sorted(self.rrdp_dir.rglob("*.xml"))
            if p.is_file()
        }


def publish_cas(
    publisher: Publisher, cas: Sequence[RegistryCa], only_these: bool = False
) -> Publication:
    """Publish several registries' CAs through one publication server, and write each one's TAL
    to `root/tals/<registry>.tal` (the file name gives the TA its name in relying parties).

    With `only_these`, the other registries' published files stay as they are (a node
    publishing its own CA); otherwise the server holds exactly these CAs' files."""
    files: dict[str, bytes] = {}
    for ca in cas:
        files.update(ca.publish())
        _write_if_changed(publisher.root / "tals" / f"{ca.registry.value}.tal", ca.tal().encode())
    if not only_these:
        return publisher.publish(files)
    scope = tuple(p for ca in cas for p in registry_scope(ca))
    return publisher.publish(files, scope)


def registry_scope(ca: RegistryCa) -> tuple[str, str]:
    """The paths one registry's CA publishes under."""
    return (ca.uris.ta_path(ca.registry), f"repo/{ca.registry.value}/")
