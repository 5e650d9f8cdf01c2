"""What an audit can reuse besides each registry's part (`audit.parts`) and its whole output
(`audit.output`): each node's verification, and the parsed ERX list. Both are derived data,
cached in `<data-dir>/cache/` (`signed.read_signed`: JSON, HMAC under the user's cache key, so a
planted or damaged file is ignored):

* a node's verification, under its log head *and* the identity of its files (inode, size,
  mtime and ctime of the database, its WAL and its log key). Any write to the database, even
  one that keeps the head (a tampered row), changes its ctime, which no user can set back, so a
  changed file is always verified again;
* the ERX list as parsed, under its digest.
"""

from __future__ import annotations

import hashlib
import json
from contextlib import suppress
from pathlib import Path

from onereg.audit.signed import read_signed, write_signed
from onereg.core.registries import RegistryId
from onereg.core.resources import Afi, Resource
from onereg.federation.layout import DataDir, NodeDir
from onereg.registry.sources.nro_lists import ErxTransfer, parse_erx_transfers

CACHE_VERSION = 2  # bump whenever the cached shapes change


def _stat(path: Path) -> list[int]:
    try:
        info = path.stat()
    except OSError:
        return []
    if info.st_size == 0:  # an empty WAL: SQLite readers touch it (ctime), its content is nil
        return [info.st_ino, 0]
    return [info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns]


def node_head(data: DataDir, registry: RegistryId) -> list[object]:
    with data.read(registry) as node:
        size, head = node.head()
    return [size, head.hex()]


def node_identity(data: DataDir, registry: RegistryId) -> dict[str, object]:
    """The node's log head and the identity of every file its verification read."""
    db = data.node_path(registry)
    key = NodeDir(data.node_dir(registry), registry).log_key
    # The WAL without its ctime: SQLite running as root re-chowns a WAL on every open (ctime
    # moves, content does not), which made every audit verify that node again; a write to it
    # moves its mtime and size, and the database file keeps its ctime.
    head = node_head(data, registry)  # first: opening the node may create its WAL
    wal = _stat(db.with_name(db.name + "-wal"))[:3]
    return {"head": head, "files": [_stat(db), wal, _stat(key)]}


def _path(data: DataDir, name: str) -> Path:
    return data.root / "cache" / name


def verified_before(data: DataDir, registry: RegistryId) -> dict[str, object] | None:
    """None when this exact node (head and files) was verified intact before; else the header
    to remember it under once it has been."""
    header = {
        "version": CACHE_VERSION,
        "kind": "verified",
        "registry": registry.value,
        **node_identity(data, registry),
    }
    found = read_signed(_path(data, f"{registry.value}.verified.json"), header)
    return None if found == b"intact" else header


def remember_verified(data: DataDir, header: dict[str, object]) -> None:
    registry = str(header["registry"])
    with suppress(OSError):  # a read-only or full disk: the next audit verifies again
        write_signed(_path(data, f"{registry}.verified.json"), header, b"intact")


def erx_transfers(data: DataDir, path: Path) -> list[ErxTransfer]:
    """The ERX list as `parse_erx_transfers` reads it, from the cache while the file's bytes are
    the same (parsing its 3,000 lines through `ipaddress` costs more than an audit's reuse)."""
    raw = path.read_bytes()
    header = {
        "version": CACHE_VERSION,
        "kind": "erx",
        "file": path.name,
        "digest": hashlib.sha256(raw).hexdigest(),
    }
    cache = _path(data, "erx.json")
    body = read_signed(cache, header)
    if body is not None:
        try:
            return [
                ErxTransfer(Resource(Afi.IPV4, start, end), RegistryId(rir), section, source)
                for start, end, rir, section, source in json.loads(body)
            ]
        except (TypeError, ValueError):
            pass  # another shape: parse again
    transfers = parse_erx_transfers(path)
    rows = [
        [t.resource.start, t.resource.end, t.new_registry.value, t.section, t.source]
        for t in transfers
    ]
    with suppress(OSError):
        write_signed(cache, header, json.dumps(rows, separators=(",", ":")).encode())
    return transfers
