"""The federation page's evidence and audit: split-view (and rollback) evidence this node's
mirrors wrote against a peer's log, each checked here as `onereg verify-evidence` checks it,
and the audit findings of the node's view (its own log and its verified mirrors).

The audit reuses the audit package and its caches (`audit.parts`: each registry's part in the
view's `cache/` folder, recomputed only for a node whose log moved), and the panel keeps the
last answer, so a page asks for it freely: while no log moves the answer is the one computed
last. It runs in a worker process (`AuditPanel`),
one audit at a time, and every list in the answer stops at `MAX_ROWS` (the totals are
complete).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from concurrent.futures import Executor, Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import asdict
from pathlib import Path
from typing import Any

from onereg.audit.cache import erx_transfers
from onereg.audit.checks import run_audit
from onereg.audit.findings import AuditReport
from onereg.audit.parts import audit_by_parts
from onereg.audit.view import load_view
from onereg.core.errors import OneregError, ProofError, SignatureError
from onereg.core.registries import RegistryId
from onereg.federation.authority import ErxIndex
from onereg.federation.guard import process_pool
from onereg.federation.layout import DataDir
from onereg.http.rdap import log_heads
from onereg.ledger.evidence import (
    ROLLBACK_FORMAT,
    RollbackEvidence,
    SplitViewEvidence,
    evidence_format,
)
from onereg.ledger.policy import Policy

MAX_ROWS = 50  # rows of each finding list, and evidence files, in one answer
MAX_EVIDENCE_BYTES = 1 << 20  # an evidence file is two notes and a few hashes
# what an audit is computed from: every log's head, the ERX list and its modification time
_State = tuple[tuple[int, ...], Path | None, int]
EVIDENCE_NAME = re.compile(r"^[a-z]+-(?:rollback-)?[0-9]+-[0-9]+\.json$")


def evidence_dir(view: DataDir) -> Path:
    """Where the node's mirrors write evidence (`federation.mirror`)."""
    return view.root / "evidence"


def evidence_file(view: DataDir, name: str) -> Path | None:
    """The evidence file of that name, None for any other name (no path leaves the folder) or
    a file too large to be evidence."""
    if not EVIDENCE_NAME.match(name):
        return None
    path = evidence_dir(view) / name
    return path if path.is_file() and path.stat().st_size <= MAX_EVIDENCE_BYTES else None


def check_evidence(path: Path, policy: Policy) -> dict[str, Any]:
    """What `onereg verify-evidence FILE --policy policy.txt` would say of the file."""
    out: dict[str, Any] = {
        "file": path.name,
        "registry": path.name.split("-", 1)[0],
        "command": f"onereg verify-evidence {path.name} --policy policy.txt",
    }
    try:
        if path.stat().st_size > MAX_EVIDENCE_BYTES:
            raise ProofError(f"larger than {MAX_EVIDENCE_BYTES} bytes: not an evidence file")
        text = path.read_bytes().decode("utf-8")
        if evidence_format(text) == ROLLBACK_FORMAT:
            out["kind"] = "rollback"
            out["reason"] = RollbackEvidence.from_json(text).check(policy.log_keys)
        else:
            out["kind"] = "split view"
            out["reason"] = SplitViewEvidence.from_json(text).check(policy.log_keys)
        out["verified"] = True
    except (OSError, UnicodeDecodeError, ProofError, SignatureError, OneregError) as exc:
        out |= {"verified": False, "reason": f"{path.name}: {exc}"}
    return out


def evidence_summary(view: DataDir, policy: Policy) -> list[dict[str, Any]]:
    """Every evidence file (newest first, at most MAX_ROWS), each checked."""
    folder = evidence_dir(view)
    if not folder.is_dir():
        return []
    files = [p for p in folder.iterdir() if EVIDENCE_NAME.match(p.name) and p.is_file()]
    files.sort(key=lambda p: p.stat().st_mtime, reverse=True)
    return [check_evidence(p, policy) for p in files[:MAX_ROWS]]


def audit_of(root: Path, registry: RegistryId, db_path: Path, erx: Path | None) -> dict[str, Any]:
    """The page's summary of the audit of a node's view (`root`: its mirrors folder): run in a
    worker process, through the audit package's caches in `root / "cache"`."""
    view = DataDir(root, {registry: db_path})

    index = ErxIndex(erx_transfers(view, erx) if erx else [])
    report = audit_by_parts(  # unchanged nodes' parts reused; in full when records overlap
        view, index, set(), (erx, None), lambda: run_audit(load_view(view), index, None)
    )
    return audit_summary(report)


class AuditPanel:
    """The audit of the node's view for the page: computed in a worker process of its own
    (seconds of pure Python on the whole federation, which in a thread would hold the GIL
    against every request the node serves), at most one at a time, again only when a log
    moved; while it runs the page gets the last summary marked pending."""

    def __init__(
        self,
        view: DataDir,
        registry: RegistryId,
        db_path: Path,
        erx: Path | None,
        pool: Callable[[], Executor] = lambda: process_pool(1),
    ) -> None:
        self.view, self.registry, self.db_path, self.erx = view, registry, db_path, erx
        self._make_pool = pool
        self._pool: Executor | None = None
        self._lock = threading.Lock()
        self._running: tuple[_State, Future[dict[str, Any]]] | None = None
        self._done: tuple[_State, dict[str, Any]] | None = None

    def _state(self) -> _State:
        erx = self.erx if self.erx is not None and self.erx.is_file() else None
        return log_heads(self.view), erx, erx.stat().st_mtime_ns if erx else 0

    def summary(self, wait: float = 2.0) -> dict[str, Any]:
        """The audit of the logs as they are now, waiting up to `wait` seconds for it; else
        the last one (or none) with `pending` set."""
        state = self._state()
        with self._lock:
            if self._done is not None and self._done[0] == state:
                return {**self._done[1], "pending": False}
            if self._running is None or self._running[0] != state:
                if self._pool is None:
                    self._pool = self._make_pool()
                erx = state[1]
                job = self._pool.submit(audit_of, self.view.root, self.registry, self.db_path, erx)
                self._running = (state, job)
            running = self._running
        try:
            found = running[1].result(timeout=wait)
        except FutureTimeout:
            last = self._done[1] if self._done is not None else {}
            return {**last, "pending": True}
        with self._lock:
            self._done = (running[0], found)
            if self._running is running:
                self._running = None
        return {**found, "pending": False}


def _row(finding: object) -> dict[str, Any]:
    """A finding as JSON; sizes as text (an IPv6 count exceeds JSON's safe integers)."""
    row: dict[str, Any] = asdict(finding)  # type: ignore[call-overload]
    if "size" in row:
        row["size"] = str(row["size"])
    return row


def audit_summary(report: AuditReport) -> dict[str, Any]:
    """The findings the page shows: every count, the first MAX_ROWS rows of each list."""
    lists: dict[str, list[Any]] = {
        "conflicts": report.conflicts,
        "overclaimed": report.overclaimed,
        "unclaimed": report.unclaimed,
        "crossHoldings": report.cross_holdings,
        "specialPurpose": report.special_purpose,
    }
    return {
        "ok": report.ok,
        "counts": {name: len(rows) for name, rows in lists.items()},
        "limit": MAX_ROWS,
        **{name: [_row(r) for r in rows[:MAX_ROWS]] for name, rows in lists.items()},
        "notes": report.notes,
    }
