"""Typed settings for the command line, resolved once at the edge and passed down."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from onereg.core.errors import OneregError

DEFAULT_SET = "2018-10-13"


def find_shared_data() -> Path | None:
    """The read-only folder of real registry data: $ONEREG_SHARED_DATA, else ../shared/data."""
    env = os.environ.get("ONEREG_SHARED_DATA")
    if env:
        return Path(env)
    here = Path(__file__).resolve()
    for base in (Path.cwd(), *here.parents):
        candidate = base.parent / "shared" / "data"
        if (candidate / "delegated").is_dir():
            return candidate
    return None


@dataclass(frozen=True, slots=True)
class Settings:
    data_dir: Path
    shared_data: Path | None

    def require_shared(self) -> Path:
        if self.shared_data is None:
            raise OneregError(
                "cannot find the real registry data (../shared/data); set "
                "ONEREG_SHARED_DATA or pass --shared-data"
            )
        return self.shared_data

    @property
    def erx_file(self) -> Path | None:
        if self.shared_data is None:
            return None
        path = self.shared_data / "transfers" / "RIPE-NCC-nro-stats" / "erx-xfr.txt"
        return path if path.exists() else None

    @property
    def allowlist_file(self) -> Path | None:
        if self.shared_data is None:
            return None
        path = self.shared_data / "delegated" / "2019-09-samples" / "allowedlist.main"
        return path if path.exists() else None
