"""Building a whole federation from a folder of published files, several registries at a time.

Each RIR's node is its own SQLite file, so imports into different nodes run in separate processes
(two cores here); the IANA node goes first because the others' cross-registry holdings are
computed against it.
"""

from __future__ import annotations

import multiprocessing
import queue as queue_mod
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from onereg.core.registries import RIRS
from onereg.federation.importer import ImportOutcome, import_delegated_file, import_iana
from onereg.federation.layout import DataDir, find_delegated

ProgressEvent = Callable[[str, int, int], None]  # (registry, done, total)


@dataclass(frozen=True, slots=True)
class SourceSet:
    """Where the inputs of one federation build are."""

    delegated_dir: Path
    iana_dir: Path
    erx_file: Path | None


def _worker(args: tuple[Path, Path, Path | None, Any]) -> ImportOutcome:
    root, path, erx, queue = args
    registry = path.name.split("-")[1]

    def report(done: int, total: int) -> None:
        if queue is not None:
            queue.put((registry, done, total))

    return import_delegated_file(DataDir(root), path, erx, report)


def build(
    data: DataDir, sources: SourceSet, jobs: int = 2, progress: ProgressEvent | None = None
) -> list[ImportOutcome]:
    """Import IANA's registries, then every RIR file found, `jobs` at a time."""
    outcomes = [import_iana(data, sources.iana_dir)]
    files = [p for rid in RIRS if (p := find_delegated(sources.delegated_dir, rid))]
    # Largest first: with two workers the biggest file must not be the last one started.
    files.sort(key=lambda p: p.stat().st_size, reverse=True)
    with multiprocessing.Manager() as manager:
        queue = manager.Queue() if progress else None
        with ProcessPoolExecutor(max_workers=max(1, jobs)) as pool:
            futures = [pool.submit(_worker, (data.root, f, sources.erx_file, queue)) for f in files]
            while any(not f.done() for f in futures):
                _drain(queue, progress, timeout=0.1)
            _drain(queue, progress, timeout=0)
            outcomes += [f.result() for f in futures]
    return outcomes


def _drain(queue: Any, progress: ProgressEvent | None, timeout: float) -> None:
    if queue is None or progress is None:
        time.sleep(timeout)
        return
    try:
        while True:
            registry, done, total = queue.get(timeout=timeout)
            progress(registry, done, total)
            timeout = 0.001
    except queue_mod.Empty:
        return
