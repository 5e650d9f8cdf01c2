"""The node checks behind `onereg node verify`, `node rebuild` and `audit`: every node of a data
directory verified read-only, every problem printed with the node's name."""

from __future__ import annotations

import json
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path
from typing import TYPE_CHECKING

from onereg.core.errors import OneregError
from onereg.core.registries import ALL_REGISTRIES, RegistryId

if TYPE_CHECKING:  # verifying imports the ledger and crypto code: only when a node needs it
    from rich.console import Console

    from onereg.federation.layout import DataDir
    from onereg.ledger.note import Verifier
    from onereg.registry.node import RegistryNode
    from onereg.registry.resume import NodeReport, Verified


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
    from onereg.registry.resume import verify_since

    ok = True
    for rid in present(data, None):
        unverified = verified_before(data, rid)  # same head, same files: intact last time
        if unverified is None:
            continue
        since = _resume_point(data, rid)
        with data.read(rid) as node:
            result: tuple[NodeReport, Verified | None] | None = None
            if since is not None and node.head()[0] > since.size:  # grown since: the new part
                result = verify_since(node, since, lambda: own_log_key(data, rid))  # noqa: B023
            if result is None:  # never verified, or the same head with other files: in full
                from onereg.registry.verify import verify_node_state

                result = verify_node_state(node, own_log_key(data, rid), replay=False)
        report, state = result
        if not report.ok or state is None:
            print_report(console, rid, report)
            ok = False
        else:
            remember_verified(data, unverified)
            _remember_resume_point(data, rid, state)
    return ok


def _resume_file(data: DataDir, rid: RegistryId) -> Path:
    return data.root / "cache" / f"{rid.value}.resume.json"


def _resume_header(rid: RegistryId) -> dict[str, object]:
    return {"version": 1, "kind": "resume", "registry": rid.value}


def _resume_point(data: DataDir, rid: RegistryId) -> Verified | None:
    """What the last check of this node found intact (signed cache file), if any."""
    from onereg.audit.signed import read_signed
    from onereg.registry.resume import Verified

    body = read_signed(_resume_file(data, rid), _resume_header(rid))
    if body is None:
        return None
    try:
        doc = json.loads(body)
        return Verified(
            int(doc["size"]),
            bytes.fromhex(doc["head"]),
            tuple(bytes.fromhex(h) for h in doc["border"]),
            tuple(str(k) for k in doc["vkeys"]),
            tuple((int(n), str(d)) for n, d in doc["checkpoints"]),
        )
    except (KeyError, TypeError, ValueError):
        return None  # another shape: verified in full


def _remember_resume_point(data: DataDir, rid: RegistryId, state: Verified) -> None:
    from onereg.audit.signed import write_signed

    doc = {
        "size": state.size,
        "head": state.head.hex(),
        "border": [h.hex() for h in state.border],
        "vkeys": list(state.vkeys),
        "checkpoints": [list(c) for c in state.checkpoints],
    }
    with suppress(OSError):  # a read-only or full disk: verified in full next time
        write_signed(_resume_file(data, rid), _resume_header(rid), json.dumps(doc).encode())


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
