"""VRPs straight from our relying party, so that a registry's change reaches routers without a
file in between: the RTR server re-validates when the repository changes and hands the new set
to its cache, which sends connected routers only the delta."""

from __future__ import annotations

import itertools
import os
from collections.abc import Hashable
from dataclasses import dataclass, field
from pathlib import Path

from onereg.rpki.fetch import Prefer, fetch_and_validate
from onereg.rpki.validate import ValidationResult, validate
from onereg.rtr.state import VrpInput


def tree_stamp(root: Path) -> Hashable:
    """Changes whenever a file under `root` is added, removed or rewritten (a local mirror or
    the publication server's rsync tree; cheap next to a validation)."""
    entries = []
    for directory, _, files in os.walk(root, followlinks=True):
        for name in files:
            st = os.stat(os.path.join(directory, name))
            entries.append((directory, name, st.st_mtime_ns, st.st_size))
    return hash(tuple(sorted(entries)))


@dataclass
class ValidatedSource:
    """Our validator's VRPs for `tals`: over a local mirror (`repo`, re-validated when it
    changes) or fetched into `cache` (re-fetched every poll: RRDP makes that cheap)."""

    tals: list[Path]
    repo: Path | None = None
    cache: Path | None = None
    prefer: Prefer = "rrdp"
    ca_bundle: Path | None = None
    _polls: itertools.count[int] = field(default_factory=itertools.count)

    def stamp(self) -> Hashable:
        if self.repo is not None:
            return tree_stamp(self.repo)
        return next(self._polls)

    def load(self) -> VrpInput:
        return self.result().vrps

    def result(self) -> ValidationResult:
        """The whole validation, rejections included: what `onereg rtr serve` reports when it
        finds nothing to serve."""
        if self.repo is not None:
            return validate(self.tals, self.repo)
        assert self.cache is not None
        return fetch_and_validate(self.tals, self.cache, None, self.prefer, self.ca_bundle)

    def __str__(self) -> str:
        names = ", ".join(t.name for t in self.tals)
        where = f"mirror {self.repo}" if self.repo is not None else f"fetched into {self.cache}"
        return f"our validator over {names} ({where})"
