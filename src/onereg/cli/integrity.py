"""The node checks behind `onereg node verify`, `node rebuild` and `audit`: every node of a data
directory verified read-only, every problem printed with the node's name."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from onereg.core.errors import OneregError
from onereg.core.registries import ALL_REGISTRIES, RegistryId

if TYPE_CHECKING:  # verifying imports the ledger and crypto code: only when a node needs it
    from rich.console import Console

    from onereg.federation.layout import DataDir
    from onereg.ledger.note import Verifier
    from onereg.registry.node import RegistryNode
    from onereg.registry.verify import NodeReport


def present(data: DataDir, registry: str | None) -> list[RegistryId]:
    """The named registry, or every node the data directory has."""
    if registry is not None:
        return [RegistryId(registry)]
    return [r for r in ALL_REGISTRIES if data.exists(r)]


def own_log_key(data: DataDir, registry: RegistryId) -> Verifier | None:
    """The node's log key from its key file, if this host has it (it signs the checkpoints
    the log is compared with); without it only the keys its log names are trusted."""
    from onereg.federation.layout import NodeDir
    from onereg.registry.identity import load_signer

    try:
        return load_signer(NodeDir(data.node_dir(registry), registry).log_key).verifier()
    except (OneregError, OSError):
        return None


def check(data: DataDir, node: RegistryNode, replay: bool) -> NodeReport:
    from onereg.registry.verify import verify_node

    return verify_node(node, own_log_key(data, node.registry), replay=replay)


def verify_nodes(
    data: DataDir,
    registries: list[RegistryId],
    console: Console,
    replay: bool = True,
    advance: Callable[[str], None] | None = None,
) -> bool:
    """Verify each node read-only and print its result; True when every one is intact.
    `advance` hears of each node as its check starts (progress)."""
    ok = True
    for rid in registries:
        if advance is not None:
            advance(rid.value)
        with data.read(rid) as node:
            report = check(data, node, replay)
        print_report(console, rid, report)
        ok = ok and report.ok
    return ok


def logs_intact(data: DataDir, console: Console) -> bool:
    """The audit's check that it read untampered nodes: chain, tree and signed checkpoints of
    every node (no replay: that is `node verify`'s); prints only the problems. A node whose
    head and files are those it was verified intact with is not read again (`audit.cache`)."""
    from onereg.audit.cache import remember_verified, verified_before

    ok = True
    for rid in present(data, None):
        unverified = verified_before(data, rid)  # same head, same files: intact last time
        if unverified is None:
            continue
        with data.read(rid) as node:
            report = check(data, node, replay=False)
        if not report.ok:
            print_report(console, rid, report)
            ok = False
        else:
            remember_verified(data, unverified)
    return ok


def print_report(console: Console, rid: RegistryId, report: NodeReport) -> None:
    if report.ok:
        signed = (
            f"matches its checkpoint at {report.checkpoint:,}"
            if report.checkpoint is not None
            else "no signed checkpoint to compare with"
        )
        replayed = ", projection = replay" if report.replayed else ""
        console.print(
            f"{rid.value:<8} {report.entries:,} entries, chain and tree intact, {signed}{replayed}"
        )
        return
    for problem in report.problems:
        console.print(f"[red]TAMPERED[/red] {problem}", highlight=False, soft_wrap=True)
