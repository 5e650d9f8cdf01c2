"""Running nodes as HTTP servers on loopback, one process per node (as in production, where each
registry runs its own), and the commands that talk to them: publish, verify, verify-evidence."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path

import httpx
import uvicorn
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from rich.console import Console
from rich.table import Table

from onereg.audit.checks import run_audit
from onereg.audit.view import load_view
from onereg.cli import whoisd
from onereg.cli.auditing import AuditLists
from onereg.cli.node_client import operator_post
from onereg.cli.progress import steps
from onereg.cli.render import print_audit
from onereg.core.errors import OneregError, ProofError, SignatureError
from onereg.core.registries import RegistryId
from onereg.federation.config import NodeInfo, cosigner_of, read_config, read_federation
from onereg.federation.faults import FaultPlan
from onereg.federation.guard import process_pool
from onereg.federation.httpsig import NodeSigningKey, RequestVerifier
from onereg.federation.importer import ImportOutcome, import_delegated_file
from onereg.federation.layout import DataDir, hold_serve_lock
from onereg.federation.mirror import CurrentLogKeys, LogCheck, Mirror, PeerMirrors
from onereg.federation.node_config import NodeConfig, host_port
from onereg.federation.publish import NodePublisher
from onereg.federation.transfer_protocol import ProtocolConfig
from onereg.http.app import NodeService, build_app
from onereg.http.bodylimit import BodyLimit, route_limits
from onereg.http.connections import server_config
from onereg.http.operator_routes import ERX_FILE, operator_keyid
from onereg.http.rdap import live_authority
from onereg.http.rpki_routes import RpkiConfig
from onereg.http.signed import SignedRoutes
from onereg.ledger.evidence import (
    ROLLBACK_FORMAT,
    RollbackEvidence,
    SplitViewEvidence,
    evidence_format,
)
from onereg.ledger.policy import Policy, PolicyError
from onereg.registry.checkpoints import rotate_key_of
from onereg.registry.transfer_policy import PolicySet, default_policy_dir
from onereg.rpki.ca import RepositoryUris
from onereg.rpki.publish import Publisher
from onereg.web.explore import UiConfig
from onereg.web.routes import ui_routes


def run_node(config: NodeConfig, faults: FaultPlan | None = None) -> None:
    """Serve one node until the process is stopped.

    Opens nothing outside the node's directory except the federation file: the peers are known
    only by their descriptions there, and by what they publish and sign."""
    # Searches run in worker threads and hold the GIL while they compute; the event loop asks
    # for it back after this interval, so 1 ms (not CPython's 5 ms) keeps quick requests quick
    # while a search runs (measured in bench/bench_hardening.py).
    sys.setswitchinterval(0.001)
    federation = read_federation(config.federation_file)
    nd, rid = config.node_dir, config.registry
    hold_serve_lock(nd.root)  # released by the OS when this process ends, however it ends
    signer = config.log_signer()
    peers = federation.peers_of(rid)
    protocol = ProtocolConfig(
        rid,
        {p.registry: p.url for p in peers},
        PolicySet.load(default_policy_dir()),
        retry_seconds=config.timers.transfer_retry,
        timeout_seconds=config.timers.peer_timeout,
        faults=faults or FaultPlan(),
        mirrors=DataDir(nd.mirrors),
    )
    urls = {RegistryId(n.registry): n.url for n in federation.nodes}
    loader = process_pool(1)  # the RDAP authority map is rebuilt there (see `live_authority`)
    authority = live_authority(nd.view(), urls, pool=loader)
    limits = config.limits
    # whois (port 43) runs in a process of its own (see cli/whoisd.py) on a socket bound here
    whois_socket = whoisd.listen(config) if config.whois else None

    node_signer = config.node_signer()
    node_key = NodeSigningKey(rid.value, node_signer.private_key)
    peer_keys = {p.registry: p.node_public_key() for p in peers}
    window = config.timers.signature_window
    service = NodeService(
        rid,
        nd.db_path,
        cosigner_of(node_signer),
        {p.origin: [p.log_verifier()] for p in peers},
        SignedRoutes(node_key, RequestVerifier(peer_keys, window), limits.max_body),
        {p.registry: p.origin for p in peers},
        peer_keys,
        transfers=protocol,
        rdap=authority,
        public_url=config.public_url,
        public_whois=config.public_whois,
        limits=limits,
    )
    service.mirrors = PeerMirrors(
        nd.mirrors, peers, Policy.parse(federation.policy_text()), config.timers.peer_timeout
    )
    service.mirror_seconds = config.timers.mirror
    service.stale_after = config.timers.stale_after
    # a witness takes only the key each log signs with now: never a retired one
    service.witness_logs = CurrentLogKeys(DataDir(nd.mirrors), peers)
    keys = {"log": signer}  # replaced in place when the operator rotates the key

    def rotate() -> tuple[str, str]:
        old, new = rotate_key_of(service.current_node(), nd.log_key)
        keys["log"] = config.log_signer()
        return old, new

    service.publisher = NodePublisher(
        service.current_node, lambda: keys["log"], peers, federation.quorum, config.timers.publish
    )
    service.rotate_key = rotate
    operator_keys = {
        operator_keyid(k): Ed25519PublicKey.from_public_bytes(bytes.fromhex(k))
        for k in config.operator_keys
    }
    operator_verifier = RequestVerifier(operator_keys, window)
    service.operators = SignedRoutes(node_key, operator_verifier, limits.max_body)
    service.uploads = SignedRoutes(node_key, operator_verifier, limits.max_upload)
    service.incoming = nd.root / "incoming"

    def importer(path: Path) -> ImportOutcome:
        erx = nd.root / ERX_FILE
        erx_path = erx if erx.exists() else None
        return import_delegated_file(nd.view(), path, erx_path, only=rid)

    service.importer = importer
    ui = UiConfig(
        rid,
        urls,
        federation.quorum,
        federation.policy_text(),
        nd.rpki_ca / "ca.sqlite",
        config.vrps_file,
        config.route_table,
    )
    service.ui = lambda s: ui_routes(s, ui)  # the web explorer at /ui/
    service.rrdp = Publisher(config.rpki_pub, config.rsync_base, config.rrdp_served)
    uris = RepositoryUris(config.rsync_base, config.rrdp_notify)
    service.rpki = RpkiConfig(nd.rpki_ca, uris, service.rrdp)
    host, port = host_port(config.http, "http")
    # Sizes, timeouts and connection caps from [limits] (docs/deploy.md, "Limits"): checked
    # by the protocol and around the app, before any handler runs.
    app = BodyLimit(build_app(service), limits, route_limits(limits))
    metrics = service.metrics
    observe = metrics.observe if metrics is not None else (lambda face, seconds, status: None)
    whois = None if whois_socket is None else whoisd.start(config, whois_socket, observe)
    if whois_socket is not None:
        whois_socket.close()  # the whois process has its own copy
    try:
        uvicorn.Server(server_config(app, host, port, limits)).run()
    finally:
        loader.shutdown(wait=False, cancel_futures=True)
        if whois is not None:
            stop_processes([whois], grace=2.0)


def _stop_on_sigterm() -> None:
    """Turn SIGTERM into SystemExit so that the `finally` below stops every node process."""

    def handler(signum: int, frame: object) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, handler)


class Supervisor:
    """Runs one `onereg serve --config` process per node and restarts any that dies.

    One node down is one node down: the others keep serving, and the dead one is started again
    (after 1 s, doubling to at most 30 s while it keeps dying within a minute of its start)."""

    def __init__(self, configs: list[Path], console: Console) -> None:
        self.configs, self.console = configs, console
        self.procs: dict[Path, subprocess.Popen[bytes]] = {}
        self.started: dict[Path, float] = {}
        self.backoff: dict[Path, float] = dict.fromkeys(configs, 1.0)
        self.due: dict[Path, float] = {}

    def start(self, config: Path) -> None:
        argv = [sys.executable, "-m", "onereg.cli.main", "serve", "--config", str(config)]
        self.procs[config] = subprocess.Popen(argv)
        self.started[config] = time.monotonic()

    def check(self) -> None:
        now = time.monotonic()
        for config, proc in list(self.procs.items()):
            if proc.poll() is None or config in self.due:
                continue
            quick = now - self.started[config] < 60
            self.backoff[config] = min(30.0, self.backoff[config] * 2) if quick else 1.0
            self.due[config] = now + self.backoff[config]
            self.console.print(
                f"[yellow]node {config.parent.name} exited ({proc.returncode}); "
                f"restarting in {self.backoff[config]:.0f} s[/yellow]"
            )
        for config, when in list(self.due.items()):
            if now >= when:
                del self.due[config]
                self.start(config)

    def stop(self) -> None:
        stop_processes(self.procs.values())


def stop_processes(procs: Iterable[subprocess.Popen[bytes]], grace: float = 10.0) -> None:
    """SIGTERM to all first (they stop in parallel), then wait; SIGKILL what outlives `grace`."""
    procs = list(procs)
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
    for proc in procs:
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()


def serve_all(configs: list[NodeConfig], console: Console) -> None:
    """Every node in its own process, supervised (see `Supervisor`), until SIGTERM or ^C."""
    _stop_on_sigterm()
    supervisor = Supervisor([c.node_dir.config_path for c in configs], console)
    for c in configs:
        supervisor.start(c.node_dir.config_path)
        console.print(
            f"{c.registry.value:<8} {c.public_url}/log/checkpoint   rdap: {c.public_url}/rdap/"
            f"   whois: {c.public_whois}   explorer: {c.public_url}/ui/"
            f"   config: {c.node_dir.config_path}"
        )
    try:
        while True:
            supervisor.check()
            time.sleep(0.2)
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        supervisor.stop()


def publish_all(nodes: list[NodeInfo], key: NodeSigningKey, console: Console) -> None:
    """Ask every node to sign a checkpoint now and gather its cosignatures (each node does
    this by itself on a timer as well; this is the "now" button)."""
    table = Table(title="Checkpoints", title_justify="left")
    for col in ("log", "size", "cosigned by", "refused by"):
        table.add_column(col)
    with steps("publish", len(nodes)) as advance:
        for info in nodes:
            advance(info.registry)
            try:
                answer = operator_post(key, info.url, "/admin/publish")
            except OneregError as exc:
                table.add_row(info.registry, "-", "-", str(exc)[:80])
                continue
            refused = answer.get("refused_by") or {}
            table.add_row(
                info.registry,
                f"{answer['size']:,}",
                ", ".join(answer.get("cosigned_by") or []) or "-",
                ", ".join(f"{k} ({v[:40]})" for k, v in refused.items()) or "-",
            )
    console.print(table)


def verify_federation(
    config: Path, policy_file: Path, state_dir: Path, console: Console, lists: AuditLists
) -> bool:
    """Mirror every log, check it, replay it, audit the replayed state with the same NRO
    lists `onereg audit` reads; True when all is well."""
    nodes = read_config(config)
    policy = Policy.parse(policy_file.read_text())
    started = time.perf_counter()
    with steps("verify", 2) as advance:
        advance("mirroring and checking the logs")
        with httpx.Client(timeout=60) as client:
            checks = Mirror(state_dir, nodes, policy, client).verify_all()
        advance("auditing the replayed state")
        report = run_audit(load_view(DataDir(state_dir)), lists.erx, lists.allowed)
    console.print(_checks_table(checks))
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
    """Check an evidence file: both notes signed by the log, and in conflict (a split view)
    or the later one smaller (a rollback)."""
    try:
        policy = Policy.parse(policy_file.read_text())
    except (PolicyError, UnicodeDecodeError) as exc:  # name the file, not just its line
        raise OneregError(f"{policy_file}: not a policy file (policy.txt): {exc}") from None
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise OneregError(f"{path}: not UTF-8 at byte {exc.start}: not an evidence file") from None
    try:  # each note under its own origin's key only
        if evidence_format(text) == ROLLBACK_FORMAT:
            reason = RollbackEvidence.from_json(text).check(policy.log_keys)
            console.print(f"[red]rollback shown[/red]: {reason}")
            return True
        reason = SplitViewEvidence.from_json(text).check(policy.log_keys)
    except (ProofError, SignatureError) as exc:
        raise OneregError(f"{path}: {exc}") from None
    console.print(f"[red]conflict proven[/red]: {reason}")
    return True


def exit_with(ok: bool) -> None:
    sys.exit(0 if ok else 1)
