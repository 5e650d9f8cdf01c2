"""Importing published sources into a federation's nodes.

A registry's file and the cross-registry holdings it implies are planned and written to that
registry's node in one write transaction: either the node takes the whole file, or nothing
changes, and a concurrent import waits rather than interleaving.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from onereg.core.errors import OneregError
from onereg.core.gc import collector_paused
from onereg.core.registries import RegistryId
from onereg.federation.authority import (
    AuthorityMap,
    ErxIndex,
    plan_cross_holdings,
    wanted_cross_holdings,
)
from onereg.federation.layout import DataDir
from onereg.registry.iana_import import plan_iana_import
from onereg.registry.imports import file_sha256, plan_delegated_import
from onereg.registry.sources.delegated import parse_delegated
from onereg.registry.sources.iana import IPV6_SPACE, SPACE_FILES, SPECIAL_FILES, load_iana_sources
from onereg.registry.sources.nro_lists import parse_erx_transfers

Progress = Callable[[int, int], None]


@dataclass(frozen=True, slots=True)
class ImportOutcome:
    """What one import did, for the operator's summary table."""

    registry: RegistryId
    source: str
    records: int
    entries: int
    added: int
    changed: int
    removed: int
    holders_added: int
    cross_holdings: int
    unchanged: bool


def iana_digest(directory: Path) -> str:
    digest = hashlib.sha256()
    for name in sorted({*SPACE_FILES, *SPECIAL_FILES, IPV6_SPACE}):
        digest.update(name.encode() + b"\0" + (directory / name).read_bytes())
    return digest.hexdigest()


def import_iana(data: DataDir, directory: Path) -> ImportOutcome:
    sources = load_iana_sources(directory)
    digest = iana_digest(directory)
    with data.open_for_write(RegistryId.IANA, create=True) as node, node.writing() as head:
        plan = plan_iana_import(node, sources, digest)
        entries = node.append(plan.items, batch=True, planned=head) if plan else []
    stats = plan.stats if plan else {}
    return ImportOutcome(
        RegistryId.IANA,
        str(directory),
        len(sources.blocks),
        len(entries),
        stats.get("added", 0),
        stats.get("changed", 0),
        stats.get("removed", 0),
        stats.get("holders_added", 0),
        0,
        plan is None,
    )


def load_authority(data: DataDir) -> AuthorityMap:
    if not data.exists(RegistryId.IANA):
        return AuthorityMap([])
    with data.read(RegistryId.IANA) as iana:
        return AuthorityMap.from_node(iana)


class WrongRegistryError(OneregError):
    """A file of one registry was to be imported into another registry's node."""


def import_delegated_file(
    data: DataDir,
    path: Path,
    erx_path: Path | None,
    progress: Progress | None = None,
    only: RegistryId | None = None,
) -> ImportOutcome:
    """Parse, check and import one delegated file into the node of the registry it names.

    `only`: the one registry this import may write (importing into a node's view, whose other
    registries are verified mirrors of the peers' logs that only the mirroring may change); a
    file of another registry is refused before anything is written."""
    with collector_paused():
        return _import_delegated(data, path, erx_path, progress, only)


def _import_delegated(
    data: DataDir,
    path: Path,
    erx_path: Path | None,
    progress: Progress | None,
    only: RegistryId | None,
) -> ImportOutcome:
    dfile = parse_delegated(path, progress)
    registry = RegistryId(dfile.registry)
    if only is not None and registry is not only:
        raise WrongRegistryError(f"{path} is {registry.value}'s file; this node is {only.value}'s")
    authority = load_authority(data)
    erx = ErxIndex(parse_erx_transfers(erx_path) if erx_path else [])
    sha256 = file_sha256(path)
    # Planned and appended in one write transaction: a concurrent import of the same node waits
    # and then plans from what this one wrote, so neither applies a plan to a state it was not
    # made from (which mixed two files, or crashed on a duplicate key).
    with data.open_for_write(registry, create=True) as node, node.writing() as head:
        plan = plan_delegated_import(node, dfile, sha256)
        # Cross-registry holdings are planned even for an unchanged file: IANA's side may have
        # moved since (a block re-designated), and the recorded holdings must follow it.
        ranges = ((r.type, r.start, r.end) for r in dfile.records)
        cross = plan_cross_holdings(node, wanted_cross_holdings(registry, ranges, authority, erx))
        entries = node.append((plan.items if plan else []) + cross, batch=True, planned=head)
    s = plan.stats if plan else Counter[str]()
    return ImportOutcome(
        registry,
        str(path),
        len(dfile.records),
        len(entries),
        s["added"],
        s["changed"],
        s["removed"],
        s["holders_added"],
        len(cross),
        not entries,
    )
