"""Running nodes as HTTP servers on loopback, one process per node (as in production, where each
registry runs its own), and the commands that talk to them: publish, verify, verify-evidence."""

from __future__ import annotations

import asyncio
import multiprocessing
import signal
import sys
import time
from pathlib import Path

import httpx
import uvicorn
from rich.console import Console
from rich.table import Table

from onereg.audit.checks import run_audit
from onereg.audit.verifier import LogCheck, Mirror
from onereg.audit.view import load_view
from onereg.cli.render import print_audit
from onereg.cli.rpki import DEFAULT_RRDP, DEFAULT_RSYNC
from onereg.core.errors import OneregError
from onereg.core.registries import RegistryId
from onereg.federation.config import NodeInfo, cosigner_of, read_config
from onereg.federation.faults import FaultPlan
from onereg.federation.layout import DataDir
from onereg.federation.publish import WitnessOutcome, publish
from onereg.federation.transfer_protocol import ProtocolConfig
from onereg.http.app import NodeService, build_app
from onereg.http.rdap import live_authority
from onereg.http.rpki_routes import RpkiConfig
from onereg.ledger.checkpoint import Checkpoint
from onereg.ledger.evidence import SplitViewEvidence, check_conflict
from onereg.ledger.note import parse_note, verify_note
from onereg.ledger.policy import Policy
from onereg.registry.identity import key_path, load_signer
from onereg.registry.transfer_policy import PolicySet, default_policy_dir
from onereg.rpki.ca import RepositoryUris
from onereg.rpki.publish import Publisher
from onereg.whois import start_whois


def run_node(
    data_root: Path, info: NodeInfo, peers: list[NodeInfo], faults: FaultPlan | None = None
) -> None:
    """Serve one node until the process is stopped."""
    rid = RegistryId(info.registry)
    signer = load_signer(key_path(data_root / "keys", rid))
    logs = {p.origin: [p.log_verifier()] for p in peers if p.registry != info.registry}
    protocol = ProtocolConfig(
        rid,
        {p.registry: p.url for p in peers if p.registry != info.registry},
        PolicySet.load(default_policy_dir()),
        faults=faults or FaultPlan(),
        signer=signer,
        verifiers={p.registry: p.log_verifier() for p in peers if p.registry != info.registry},
    )
    data = DataDir(data_root)
    authority = live_authority(data, {RegistryId(p.registry): p.url for p in peers})
    hosts = {RegistryId(p.registry): p.whois for p in peers if p.whois}

    async def whois(service: NodeService) -> asyncio.AbstractServer:
        """whois in the web server's event loop: both use the node's one connection there."""
        port = int(info.whois.rsplit(":", 1)[1])
        return await start_whois(service.current_node, authority, hosts, "127.0.0.1", port)

    service = NodeService(
        rid, data.node_path(rid), cosigner_of(signer), logs, protocol, authority, info.url
    )
    if info.whois:
        service.companions.append(whois)
    service.rrdp = Publisher(data_root / "rpki" / "pub", DEFAULT_RSYNC, DEFAULT_RRDP)
    uris = RepositoryUris(DEFAULT_RSYNC, DEFAULT_RRDP + "notification.xml")
    service.rpki = RpkiConfig(data_root / "rpki" / "ca" / rid.value, uris, service.rrdp)
    port = int(info.url.rsplit(":", 1)[1])
    # Bounded like the whois side: past 1,000 open connections new ones get a 503, and an idle
    # keep-alive connection is closed after 10 s, so idle clients cannot pile up.
    uvicorn.run(
        build_app(service),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        limit_concurrency=1000,
        timeout_keep_alive=10,
    )


def _stop_on_sigterm() -> None:
    """Turn SIGTERM into SystemExit so that the `finally` below stops every node process."""

    def handler(signum: int, frame: object) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, handler)


def serve_all(data_root: Path, nodes: list[NodeInfo], console: Console) -> None:
    _stop_on_sigterm()
    processes = [
        multiprocessing.Process(
            target=run_node, args=(data_root, n, nodes), name=f"onereg-{n.registry}"
        )
        for n in nodes
    ]
    for proc in processes:
        proc.start()
    for n in nodes:
        console.print(
            f"{n.registry:<8} {n.url}/log/checkpoint   witness: {n.url}/witness/   "
            f"rdap: {n.url}/rdap/   whois: {n.whois}"
        )
    try:
        while all(p.is_alive() for p in processes):
            time.sleep(0.5)
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        for proc in processes:
            proc.terminate()
        for proc in processes:
            proc.join(5)
    dead = [p.name for p in processes if p.exitcode not in (0, None, -15)]
    if dead:
        raise OneregError(f"node process(es) stopped: {', '.join(dead)}")


def publish_all(data_root: Path, nodes: list[NodeInfo], console: Console) -> None:
    """Every node signs its checkpoint and asks the other nodes to cosign it."""
    data = DataDir(data_root)
    table = Table(title="Checkpoints", title_justify="left")
    for col in ("log", "size", "cosigned by", "refused by"):
        table.add_column(col)
    with httpx.Client(timeout=30) as client:
        for info in nodes:
            rid = RegistryId(info.registry)
            if not data.exists(rid):
                continue
            signer = load_signer(key_path(data_root / "keys", rid))
            with data.open(rid, create=False) as node:
                note, outcomes = publish(node, signer, [n for n in nodes if n is not info], client)
            size = Checkpoint.parse(parse_note(note)[0]).size
            table.add_row(
                info.registry, f"{size:,}", _names(outcomes, ok=True), _names(outcomes, ok=False)
            )
    console.print(table)


def _names(outcomes: list[WitnessOutcome], ok: bool) -> str:
    return (
        ", ".join(
            o.witness if ok else f"{o.witness} ({o.status} {o.detail[:40]})"
            for o in outcomes
            if (o.status == 200) == ok
        )
        or "-"
    )


def verify_federation(config: Path, policy_file: Path, state_dir: Path, console: Console) -> bool:
    """Mirror every log, check it, replay it, audit the replayed state; True when all is well."""
    nodes = read_config(config)
    policy = Policy.parse(policy_file.read_text())
    started = time.perf_counter()
    with httpx.Client(timeout=60) as client:
        checks = Mirror(state_dir, nodes, policy, client).verify_all()
    console.print(_checks_table(checks))
    report = run_audit(load_view(DataDir(state_dir)))
    print_audit(console, report, limit=10)
    console.print(
        f"verified in {time.perf_counter() - started:.1f} s from the published logs "
        f"alone (mirror in {state_dir})"
    )
    return all(not c.problem for c in checks) and report.ok


def _checks_table(checks: list[LogCheck]) -> Table:
    table = Table(title="Logs", title_justify="left")
    for col in ("log", "size", "new entries", "state leaves", "cosigned by", "problem"):
        table.add_column(col)
    for c in checks:
        table.add_row(
            c.registry,
            f"{c.size:,}",
            f"{c.fetched:,}",
            f"{c.state_leaves:,}",
            ", ".join(c.witnesses) or "-",
            c.problem or "ok",
        )
    return table


def verify_evidence(path: Path, policy_file: Path, console: Console) -> bool:
    """Check a split-view evidence file: both notes signed by the log, and in conflict."""
    policy = Policy.parse(policy_file.read_text())
    evidence = SplitViewEvidence.from_json(path.read_text())
    keys = [log.verifier for log in policy.logs]
    first = Checkpoint.parse(verify_note(evidence.first_note, keys).text)
    second = Checkpoint.parse(verify_note(evidence.second_note, keys).text)
    reason = check_conflict(first, second, evidence.path)
    console.print(f"[red]conflict proven[/red]: {reason}")
    return True


def exit_with(ok: bool) -> None:
    sys.exit(0 if ok else 1)
