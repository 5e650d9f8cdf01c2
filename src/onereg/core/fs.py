"""Private directories: every folder onereg creates is 0700, whatever the umask.

`Path.mkdir(mode=...)` is filtered by the umask and gives parents the default mode, so a data
directory made under umask 000 would be world-writable and anyone could plant files in it.
`private_dir` creates each missing component itself and sets its mode explicitly.
"""

from __future__ import annotations

import os
from contextlib import suppress
from pathlib import Path

PRIVATE = 0o700


def private_dir(path: Path, mode: int = PRIVATE) -> Path:
    """Create `path` and its missing parents with exactly `mode` (folders that exist keep
    theirs: they may be the operator's, such as /var/lib); returns `path`."""
    missing: list[Path] = []
    current = path
    while not current.exists():
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    for folder in reversed(missing):
        with suppress(FileExistsError):  # a concurrent process made it: still ours to fix
            folder.mkdir(mode=mode)
        os.chmod(folder, mode)
    return path
