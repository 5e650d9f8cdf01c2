"""What an audit of unchanged nodes can reuse: its whole report, and each node's verification.

`onereg audit` on nodes that have not moved since the last run should answer at once, yet the
report takes a second to compute (half a million records) and verifying the logs another. Both
are derived data, cached in `<data-dir>/cache/` beside the per-node views (`signed.read_signed`:
JSON, HMAC under the user's cache key, so a planted or damaged file is ignored):

* the report, under every node's log head (size and hash), the digests of the ERX list and the
  allow-list it was judged with, and the audit code's own files (a changed check is a new
  report); any node that moved means a new report, built from the per-node views, of which
  only the moved node's is read again from SQLite;
* a node's verification, under its log head *and* the identity of its files (inode, size,
  mtime and ctime of the database, its WAL and its log key). Any write to the database, even
  one that keeps the head (a tampered row), changes its ctime, which no user can set back, so a
  changed file is always verified again.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from contextlib import suppress
from dataclasses import asdict, fields
from operator import attrgetter
from pathlib import Path
from typing import Any

from onereg.audit import findings
from onereg.audit.findings import AuditReport, RegistrySummary
from onereg.audit.signed import read_signed, write_signed
from onereg.core.registries import ALL_REGISTRIES, RegistryId
from onereg.core.resources import Afi, Resource
from onereg.federation.layout import DataDir, NodeDir
from onereg.registry.sources.nro_lists import ErxTransfer, parse_erx_transfers

CACHE_VERSION = 2  # bump whenever the cached shapes change
_CODE = [
    Path(findings.__file__).with_name(name) for name in ("checks.py", "findings.py", "view.py")
]


def _stat(path: Path) -> list[int]:
    try:
        info = path.stat()
    except OSError:
        return []
    if info.st_size == 0:  # an empty WAL: SQLite readers touch it (ctime), its content is nil
        return [info.st_ino, 0]
    return [info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns]


def _digest(path: Path | None) -> str:
    if path is None:
        return ""
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return "unreadable"


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


def report_header(data: DataDir, erx: Path | None, allow: Path | None) -> dict[str, object]:
    return {
        "version": CACHE_VERSION,
        "kind": "report",
        "nodes": {r.value: node_head(data, r) for r in ALL_REGISTRIES if data.exists(r)},
        "erx": _digest(erx),
        "allow": _digest(allow),
        "code": [_stat(path) for path in _CODE],
    }


def cached_report(
    data: DataDir, erx: Path | None, allow: Path | None, compute: Callable[[], AuditReport]
) -> AuditReport:
    """The report of the last audit of exactly these nodes and lists, else `compute()`'s (and
    remembered for the next run)."""
    header = report_header(data, erx, allow)
    path = _path(data, "report.audit.json")
    body = read_signed(path, header)
    if body is not None:
        try:
            return report_from_json(body)
        except (KeyError, TypeError, ValueError):
            pass  # a report of another shape: compute it again
    report = compute()
    with suppress(OSError):  # a read-only or full disk: computed again next time
        write_signed(path, header, report_to_json(report))
    return report


_LISTS = {
    "conflicts": findings.Conflict,
    "cross_holdings": findings.CrossHolding,
    "overclaimed": findings.Overclaim,
    "unclaimed": findings.Unclaimed,
    "special_purpose": findings.SpecialPurposeHolding,
}


def report_to_json(report: AuditReport) -> bytes:
    """Summaries as objects, the long lists as rows of values in field order (half the bytes
    and a quarter of the parsing of objects with keys). Stdlib json: IPv6 totals exceed
    orjson's 64-bit integers."""
    doc: dict[str, Any] = {
        "summaries": [asdict(s) for s in report.summaries],
        "notes": report.notes,
    }
    for name, kind in _LISTS.items():
        values = attrgetter(*(f.name for f in fields(kind)))  # astuple deep-copies: slow
        doc[name] = list(map(values, getattr(report, name)))
    return json.dumps(doc, separators=(",", ":")).encode()


def _rows(kind: type[Any], rows: list[list[Any]]) -> list[Any]:
    width = len(fields(kind))
    if not isinstance(rows, list) or any(
        not isinstance(row, list) or len(row) != width for row in rows
    ):
        raise ValueError(f"a cached {kind.__name__} of another shape")
    return [kind(*row) for row in rows]


def report_from_json(body: bytes) -> AuditReport:
    """The inverse of `report_to_json`; ValueError or TypeError for another shape."""
    doc = json.loads(body)
    names = {f.name for f in fields(RegistrySummary)}
    if any(set(s) != names for s in doc["summaries"]):
        raise ValueError("a cached summary of another shape")
    rows = {name: _rows(kind, doc[name]) for name, kind in _LISTS.items()}
    return AuditReport(
        [RegistrySummary(**s) for s in doc["summaries"]],
        rows["conflicts"],
        rows["cross_holdings"],
        rows["overclaimed"],
        rows["unclaimed"],
        rows["special_purpose"],
        [str(note) for note in doc["notes"]],
    )


class AuthorityParts(dict[RegistryId, tuple[list[Any], list[Any]]]):
    """Each registry's authority findings (overclaimed, cross-registry holdings) from earlier
    audits, under the registry's log head, IANA's and the ERX list's digest: after a change only
    the moved node's part is computed again (`checks.check_authority` fills in what is missing)."""

    def __init__(self, data: DataDir, erx: Path | None) -> None:
        super().__init__()
        self.data = data
        iana = node_head(data, RegistryId.IANA) if data.exists(RegistryId.IANA) else []
        self.headers: dict[RegistryId, dict[str, object]] = {}
        for rid in ALL_REGISTRIES:
            if rid is RegistryId.IANA or not data.exists(rid):
                continue
            self.headers[rid] = {
                "version": CACHE_VERSION,
                "kind": "authority",
                "registry": rid.value,
                "head": node_head(data, rid),
                "iana": iana,
                "erx": _digest(erx),
                "code": [_stat(path) for path in _CODE],
            }
        self.loaded: set[RegistryId] = set()
        for rid, header in self.headers.items():
            body = read_signed(_path(data, f"{rid.value}.authority.json"), header)
            if body is None:
                continue
            try:
                doc = json.loads(body)
                self[rid] = (
                    _rows(findings.Overclaim, doc["overclaimed"]),
                    _rows(findings.CrossHolding, doc["cross_holdings"]),
                )
            except (KeyError, TypeError, ValueError):
                continue  # another shape: computed again
            self.loaded.add(rid)

    def save(self) -> None:
        """Remember the parts computed in this run."""
        for rid, (overclaimed, cross) in self.items():
            header = self.headers.get(rid)
            if rid in self.loaded or header is None:
                continue
            doc = {
                "overclaimed": list(map(_values(findings.Overclaim), overclaimed)),
                "cross_holdings": list(map(_values(findings.CrossHolding), cross)),
            }
            with suppress(OSError):
                write_signed(
                    _path(self.data, f"{rid.value}.authority.json"),
                    header,
                    json.dumps(doc, separators=(",", ":")).encode(),
                )


def _values(kind: type[Any]) -> Callable[[Any], Any]:
    return attrgetter(*(f.name for f in fields(kind)))


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
