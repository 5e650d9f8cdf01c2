"""A federation's data directory: one SQLite node per registry, side by side.

In production each registry runs its own node on its own machine; `onereg up` puts all six in one
directory so a single command can build and audit the whole system.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from onereg.core.errors import NodeNotFoundError
from onereg.core.registries import ALL_REGISTRIES, RIRS, RegistryId
from onereg.registry.node import RegistryNode


@dataclass(frozen=True, slots=True)
class DataDir:
    """Where the nodes of one federation live."""

    root: Path

    def node_path(self, registry: RegistryId) -> Path:
        return self.root / "nodes" / f"{registry.value}.sqlite"

    def exists(self, registry: RegistryId) -> bool:
        return self.node_path(registry).exists()

    def open(self, registry: RegistryId, create: bool = True) -> RegistryNode:
        path = self.node_path(registry)
        if not create and not path.exists():
            raise NodeNotFoundError(f"no {registry} node in {self.root} (run `onereg up` first)")
        return RegistryNode.open(registry, path)

    @contextmanager
    def nodes(
        self, registries: tuple[RegistryId, ...] = ALL_REGISTRIES, create: bool = False
    ) -> Iterator[dict[RegistryId, RegistryNode]]:
        opened: dict[RegistryId, RegistryNode] = {}
        try:
            for rid in registries:
                if create or self.exists(rid):
                    opened[rid] = self.open(rid, create)
            yield opened
        finally:
            for node in opened.values():
                node.close()


def delegated_file_name(registry: RegistryId) -> str:
    return f"delegated-{registry.value}-extended-latest"


def find_delegated(directory: Path, registry: RegistryId) -> Path | None:
    """The registry's file in a folder of delegated files, whatever its exact name."""
    candidates = sorted(
        p
        for p in directory.glob(f"delegated-{registry.value}-*")
        if not p.name.endswith((".md5", ".asc"))
    )
    return candidates[0] if candidates else None


__all__ = ["RIRS", "DataDir", "delegated_file_name", "find_delegated"]
