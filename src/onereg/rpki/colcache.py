"""A binary cache of what the ROV readers made of a file: its column arrays, found by content.

Parsing 10^6 VRPs or a 500,000-route table costs about a second even at the bytes level, and
`onereg rov` is typically run again and again on the same VRP export and table. So each
successful read may be kept as its raw column arrays, and the next read of the same bytes loads
them instead (a few tens of milliseconds).

What makes a hit: the entry's name is the SHA-256 of the file's bytes together with the reader
that made it (its kind, its options and a digest of the readers' own source), and the entry
repeats that key inside. The file is hashed on every read, not trusted by size, mtime or
inode (`cp -p` and `rsync -t` keep those across a change; SHA-256 of 28 MB takes ~0.02 s), so a
changed file can never meet an old entry. The stat seen when the entry was written is kept in it
for the reader of the cache folder, not for the decision.

The format is plain bytes, never pickle: a magic line, a JSON header naming each array's
dtype, shape and offset and the SHA-256 of the payload, then the arrays. Loading checks the
magic, the key, the payload digest, the dtypes and that a family's columns have one length; any
failure is a miss (the reader runs and the entry is rewritten). Errors are never cached: a bad
file is read, and refused with its file:line, every time. Entries are written to a temporary
name and renamed, and the folder keeps the newest `keep` entries.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from onereg.core.fs import private_dir
from onereg.rpki.rov_index import PrefixColumns

__all__ = ["ColumnCache", "file_digest"]

MAGIC = b"onereg-columns 1\n"
_SUFFIX = ".cols"
_FIELDS = ("hi", "lo", "length", "extra", "asn")
_DTYPES = {"hi": "<u8", "lo": "<u8", "length": "|u1", "extra": "|u1", "asn": "<i8"}

Families = tuple[PrefixColumns, PrefixColumns]


def file_digest(path: Path) -> str:
    """SHA-256 of the file's bytes as stored (a compressed file is hashed compressed)."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


@dataclass(frozen=True)
class ColumnCache:
    """The cache folder (created 0700 on first write) and how many entries it keeps."""

    folder: Path
    keep: int = 8

    def key(self, reader: str, path: Path) -> str:
        """The entry name for `path` as read by `reader` (kind, options and code stamp)."""
        return hashlib.sha256(f"{reader}\n{file_digest(path)}".encode()).hexdigest()

    def load(self, key: str) -> Families | None:
        """The columns stored under `key`, or None (absent, damaged or of another key). A hit
        is touched, so that pruning drops the entries least recently used."""
        entry = self.folder / f"{key}{_SUFFIX}"
        try:
            data = entry.read_bytes()
        except OSError:
            return None
        try:
            found = _decode(data, key)
        except (ValueError, KeyError, TypeError, IndexError):
            return None
        with suppress(OSError):
            os.utime(entry)
        return found

    def store(self, key: str, families: Families, source: Path) -> None:
        """Write the entry atomically; a cache that cannot be written is no error (the next
        run parses again), so OSError is swallowed."""
        with suppress(OSError):
            private_dir(self.folder)
            stat = source.stat()
            blob = _encode(
                key,
                families,
                {
                    "path": str(source),
                    "size": stat.st_size,
                    "mtime_ns": stat.st_mtime_ns,
                    "inode": stat.st_ino,
                },
            )
            handle, temp = tempfile.mkstemp(dir=self.folder, prefix=".tmp-")
            try:
                with os.fdopen(handle, "wb") as out:
                    out.write(blob)
                os.replace(temp, self.folder / f"{key}{_SUFFIX}")
            except BaseException:
                with suppress(OSError):
                    os.unlink(temp)
                raise
            self._prune()

    def _prune(self) -> None:
        entries = sorted(
            self.folder.glob(f"*{_SUFFIX}"), key=lambda p: p.stat().st_mtime_ns, reverse=True
        )
        for old in entries[self.keep :]:
            with suppress(OSError):
                old.unlink()


def _encode(key: str, families: Families, source: dict[str, object]) -> bytes:
    arrays: list[dict[str, object]] = []
    chunks: list[bytes] = []
    offset = 0
    for columns in families:
        for name in _FIELDS:
            array = np.ascontiguousarray(getattr(columns, name), dtype=_DTYPES[name])
            raw = array.tobytes()
            arrays.append(
                {"family": columns.family, "name": name, "count": len(array), "offset": offset}
            )
            chunks.append(raw)
            offset += len(raw)
    payload = b"".join(chunks)
    header = json.dumps(
        {
            "key": key,
            "source": source,
            "arrays": arrays,
            "payload_sha256": hashlib.sha256(payload).hexdigest(),
        }
    ).encode()
    return MAGIC + len(header).to_bytes(8, "big") + header + payload


def _decode(data: bytes, key: str) -> Families:
    if not data.startswith(MAGIC):
        raise ValueError("not a column cache entry")
    at = len(MAGIC)
    size = int.from_bytes(data[at : at + 8], "big")
    header = json.loads(data[at + 8 : at + 8 + size])
    if header["key"] != key:
        raise ValueError("entry of another key")
    payload = memoryview(data)[at + 8 + size :]
    if hashlib.sha256(payload).hexdigest() != header["payload_sha256"]:
        raise ValueError("payload damaged")
    found: dict[tuple[int, str], np.ndarray] = {}
    for item in header["arrays"]:
        dtype = np.dtype(_DTYPES[item["name"]])
        count, offset = int(item["count"]), int(item["offset"])
        if offset < 0 or count < 0 or offset + count * dtype.itemsize > len(payload):
            raise ValueError("array outside the payload")
        array = np.frombuffer(payload, dtype=dtype, count=count, offset=offset)
        found[(int(item["family"]), item["name"])] = array.astype(dtype.newbyteorder("="))
    out = []
    for family in (4, 6):
        columns = [found[(family, name)] for name in _FIELDS]
        if len({len(c) for c in columns}) != 1:
            raise ValueError("columns of one family differ in length")
        out.append(PrefixColumns(family, *columns))
    return out[0], out[1]
