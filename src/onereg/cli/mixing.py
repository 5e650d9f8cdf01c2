"""`onereg up` into a data dir that already holds nodes: say when the files differ from the
ones the nodes were built from, because the log is append-only and the mix stays for good."""

from __future__ import annotations

import gzip
from pathlib import Path

from onereg.core.registries import RIRS, RegistryId
from onereg.federation.layout import DataDir, find_delegated


def version_line(path: Path) -> str:
    """The delegated file's version (header) line, as the node records it."""
    with path.open("rb") as raw:
        gzipped = raw.read(2) == b"\x1f\x8b"
    with (gzip.open if gzipped else open)(path, "rt", encoding="utf-8", errors="replace") as f:
        for line in f:
            if line.strip() and not line.startswith("#"):
                return line.strip()
    return ""


def differing(data: DataDir, delegated_dir: Path) -> list[RegistryId]:
    """The registries whose node was built from another file than the one in `delegated_dir`."""
    changed = []
    for rid in RIRS:
        path = find_delegated(delegated_dir, rid)
        if path is None or not data.exists(rid):
            continue
        with data.read(rid) as node:
            recorded = node.source("delegated")
        if recorded is not None and recorded.get("header") != version_line(path):
            changed.append(rid)
    return changed


def mixing_warning(data: DataDir, delegated_dir: Path) -> str | None:
    """What to tell the user before importing other files into existing nodes, if so."""
    changed = differing(data, delegated_dir)
    if not changed:
        return None
    names = ", ".join(r.value for r in changed)
    return (
        f"{data.root} already holds nodes built from other files ({names}); importing "
        f"{delegated_dir.name} into them changes them for good (each log is append-only, "
        f"its history keeps both). To keep them apart, use another folder: `onereg --data-dir "
        f"onereg-{delegated_dir.name} up --set {delegated_dir.name}`. To start over: stop "
        f"`onereg serve`, then `rm -rf {data.root}` and run `onereg up` again."
    )
