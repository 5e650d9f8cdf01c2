"""Cache files that can be trusted without trusting the disk: a JSON header line, its HMAC,
then the body, under a key only this user can read (`<cache>/audit.key`, 0600).

Apart from `audit.view` (which re-exports these) because `onereg audit` on unchanged nodes
answers from a cached output (`audit.output`) without importing the registry, ledger or rich:
this module needs only the standard library and orjson.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from pathlib import Path

import orjson

from onereg.core.fs import private_dir

CACHE_KEY = "audit.key"
_SORTED = orjson.OPT_SORT_KEYS


def _cache_key(folder: Path, create: bool) -> bytes | None:
    """The cache's HMAC key, readable by this user only; None if it is missing (and not to be
    made) or anyone else could have written it, in which case no cache file is trusted."""
    path = folder / CACHE_KEY
    try:
        info = folder.stat()
        if info.st_uid != os.geteuid() or info.st_mode & 0o022:
            return None  # others can plant files here (made before folders were private)
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError:
        if not create:
            return None
        key = os.urandom(32)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        except FileExistsError:  # a concurrent audit made it first: use theirs
            return _cache_key(folder, create=False)
        with os.fdopen(fd, "wb") as handle:
            handle.write(key)
        return key
    except OSError:
        return None
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if info.st_uid != os.geteuid() or info.st_mode & 0o077:
            return None
        key = handle.read(64)
    return key if len(key) == 32 else None


def _mac(key: bytes, header: bytes, body: bytes) -> str:
    return hmac.new(key, header + b"\n" + body, hashlib.sha256).hexdigest()


def read_signed(path: Path, header: dict[str, object]) -> bytes | None:
    """The body of a cache file whose header is exactly `header` and whose HMAC verifies under
    the cache key; None for anything else (stale, damaged, planted, unreadable, no key)."""
    key = _cache_key(path.parent, create=False)
    try:
        raw = path.read_bytes() if key is not None else b""
        first, _, body = raw.partition(b"\n")
        stored = orjson.loads(first) if first else None
    except (OSError, orjson.JSONDecodeError):
        return None
    if key is None or not isinstance(stored, dict):
        return None
    mac = stored.pop("mac", "")
    if stored != header or not isinstance(mac, str):
        return None
    if not hmac.compare_digest(mac, _mac(key, orjson.dumps(stored, option=_SORTED), body)):
        return None
    return body


def write_signed(path: Path, header: dict[str, object], body: bytes) -> None:
    """Write a cache file (header with its HMAC, then the body) atomically, 0600; nothing when
    the folder is one others could write (a cache they could forge is no cache)."""
    folder = private_dir(path.parent)
    key = _cache_key(folder, create=True)
    if key is None:
        return
    first = orjson.dumps(header, option=_SORTED)
    signed = orjson.dumps({**orjson.loads(first), "mac": _mac(key, first, body)}, option=_SORTED)
    partial_path = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    fd = os.open(partial_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(signed + b"\n" + body)
    partial_path.replace(path)


def file_digest(path: Path | None) -> str:
    """A list file's content as a cache key ("" when there is none, "unreadable" when it
    cannot be read: either way a key that changes when the file appears or is fixed)."""
    if path is None:
        return ""
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return "unreadable"
