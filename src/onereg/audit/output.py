"""`onereg audit`'s whole output, kept for the next run on exactly the same nodes.

An audit of unchanged nodes should answer as fast as `onereg --help`. Reading the cached report
back into objects and drawing its tables with rich costs more than the rest of the command
together, yet the output is a pure function of what the audit read and how it prints. So the
text the last run wrote is kept, with the exit status it had, under:

* every node's log head (size and hash) and the identity of its files (those a node's
  verification is cached under, `audit.cache.node_identity`): a moved or rewritten node is a
  miss, and so the verdict shown is never that of another state;
* the digests of the ERX list and the allow-list, and the files of the code that computes and
  prints the audit;
* how the output is printed: JSON or tables, `--limit`, whether stdout is a terminal, its width,
  and the environment variables rich reads to choose colours and width.

It is written only after a run that found every log intact, so a hit also stands for the
verification of those exact files. This module reads the heads with the standard `sqlite3` and
imports neither the registry, nor the ledger, nor rich: a hit costs a few small reads.
"""

from __future__ import annotations

import os
import sqlite3
import sys
from contextlib import suppress
from pathlib import Path
from typing import IO

import orjson

from onereg.audit.signed import file_digest, read_signed, write_signed
from onereg.core.registries import ALL_REGISTRIES

OUTPUT_VERSION = 1
NODE_DB = "node.sqlite"  # federation.layout's name, not imported (it pulls in the registry)
LOG_KEY = Path("keys") / "log.key"  # federation.layout.NodeDir.log_key, likewise
SECONDS = "{seconds}"  # where the timing goes in the cached last line
# What rich's Console reads from the environment to choose width, colours and terminal features.
RICH_ENV = (
    "COLUMNS",
    "LINES",
    "TERM",
    "COLORTERM",
    "NO_COLOR",
    "FORCE_COLOR",
    "TTY_COMPATIBLE",
    "TTY_INTERACTIVE",
    "JUPYTER_COLUMNS",
    "JUPYTER_LINES",
    "PYCHARM_HOSTED",
)
_PACKAGE = Path(__file__).resolve().parents[1]
# The code between the nodes and the text: a changed check or table is a new output.
CODE = tuple(
    _PACKAGE / name
    for name in (
        "audit/checks.py",
        "audit/findings.py",
        "audit/view.py",
        "audit/parts.py",
        "audit/cache.py",
        "audit/output.py",
        "cli/render.py",
        "cli/main.py",
        "cli/integrity.py",
        "cli/auditing.py",
        "registry/verify.py",
        "registry/resume.py",
    )
)


def file_identity(path: Path, wal: bool = False) -> list[int]:
    """Inode, size, mtime and ctime (a write to a file moves its ctime, which no user can set
    back); for a WAL without its ctime (SQLite as root re-chowns it on every open), and an empty
    one by inode alone (readers touch it, its content is nil). [] when missing."""
    try:
        info = path.stat()
    except OSError:
        return []
    if info.st_size == 0:
        return [info.st_ino, 0]
    if wal:
        return [info.st_ino, info.st_size, info.st_mtime_ns]
    return [info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns]


def read_head(db: Path) -> list[object] | None:
    """[size, hash hex] of a node's log as `RegistryNode.head` reads it; None when the
    database cannot be read this way (the full audit then says why)."""
    try:
        conn = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error:
        return None
    try:
        row = conn.execute("SELECT seq, hash FROM log ORDER BY seq DESC LIMIT 1").fetchone()
    except sqlite3.Error:
        return None
    finally:
        conn.close()
    if row is None:
        return None  # an empty log: rare, and the full audit handles it
    return [int(row[0]), bytes(row[1]).hex()]


def nodes_state(root: Path) -> dict[str, object] | None:
    """Every node's head and file identity, None if one cannot be read."""
    state: dict[str, object] = {}
    for rid in ALL_REGISTRIES:
        folder = root / "nodes" / rid.value
        db = folder / NODE_DB
        if not db.exists():
            continue
        head = read_head(db)  # first: opening the node may create its WAL
        if head is None:
            return None
        wal = db.with_name(db.name + "-wal")
        files = [file_identity(db), file_identity(wal, wal=True), file_identity(folder / LOG_KEY)]
        state[rid.value] = [head, files]
    return state


def printing(as_json: bool, limit: int, stdout: IO[str]) -> dict[str, object]:
    """How this run prints: what rich's choices depend on."""
    tty = stdout.isatty()
    try:
        size = list(os.get_terminal_size(stdout.fileno())) if tty else []
    except (OSError, ValueError):
        size = []
    return {
        "json": as_json,
        "limit": limit,
        "tty": tty,
        "size": size,
        "encoding": getattr(stdout, "encoding", ""),
        "env": {name: os.environ[name] for name in RICH_ENV if name in os.environ},
    }


def output_header(
    root: Path, erx: Path | None, allow: Path | None, how: dict[str, object]
) -> dict[str, object] | None:
    """The key of the output: nodes, lists, code and printing; None if a node is unreadable."""
    state = nodes_state(root)
    if state is None:
        return None
    return {
        "version": OUTPUT_VERSION,
        "kind": "output",
        "nodes": state,
        "erx": file_digest(erx),
        "allow": file_digest(allow),
        "code": [file_identity(path) for path in (*CODE, *_rich())],
        "printing": how,
    }


def _rich() -> list[Path]:
    """rich's own files, when it is loaded (the command's module loads it): another version of
    rich may draw the same report differently."""
    module = sys.modules.get("rich")
    where = getattr(module, "__file__", None)
    return [Path(where)] if where else []


def _path(root: Path) -> Path:
    return root / "cache" / "output.audit.json"


def replay(
    header: dict[str, object] | None, root: Path, stdout: IO[str], seconds: float
) -> int | None:
    """Write the output cached under `header` and return its exit status; None on a miss."""
    if header is None:
        return None
    body = read_signed(_path(root), header)
    if body is None:
        return None
    try:
        doc = orjson.loads(body)
        text, tail, status = str(doc["text"]), str(doc["tail"]), int(doc["status"])
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return None
    stdout.write(text)
    if tail:
        stdout.write(tail.replace(SECONDS, f"{seconds:.2f}", 1))
    stdout.flush()
    return status


def remember(
    header: dict[str, object] | None, root: Path, text: str, tail: str, status: int
) -> None:
    """Keep this run's output (`tail`: the last line, with SECONDS where its timing goes)."""
    if header is None:
        return
    body = orjson.dumps({"text": text, "tail": tail, "status": status})
    with suppress(OSError):  # a read-only or full disk: the next audit prints afresh
        write_signed(_path(root), header, body)
