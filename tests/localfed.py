"""A small federation of real node processes on loopback, for integration tests, the fault test
and the transfer benchmark: nodes built from a few delegations each, holders with keys, and one
`onereg serve --config` process per node that can be SIGKILLed and restarted."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from onereg.cli.serve import stop_processes
from onereg.core.registries import RegistryId
from onereg.federation.embedded import config_path, describe_nodes
from onereg.federation.importer import import_iana
from onereg.federation.layout import DataDir
from onereg.federation.node_config import Timers
from onereg.ledger.agreement import Agreement, SignedAgreement, sign_agreement
from onereg.registry import events as ev
from onereg.registry.transfers import register_holder_key

ONEREG = str(Path(sys.executable).parent / "onereg")
# Every evidence field any policy file asks for: the tests are about the protocol, not needs.
FIELDS = [
    *("rsa_signed", "usage_plan", "past_usage_rate", "compliance_record", "needs_justification"),
    *("pre_approval_date", "needs_24_month_projection", "utilisation_80_percent"),
    *("current_holdings_addresses", "initial_block_qualification", "isp"),
    *("prior_blocks_efficient_use", "usage_plan_50_percent_5_years"),
]
EVIDENCE: dict[str, object] = {
    **dict.fromkeys(FIELDS, True),  # statements; the two below have forms of their own
    "pre_approval_date": (datetime.now(UTC) - timedelta(days=1)).date().isoformat(),
    "current_holdings_addresses": 1 << 32,
}
# The nodes publish and mirror often in tests, so that a recipient sees the source's log quickly.
FAST_TIMERS = Timers(publish=0.2, mirror=0.2, stale_after=30.0)


def free_base_port(count: int = 6) -> int:
    """A base port with `count` free ports for HTTP, the same for whois (base + 100 + n) and
    for RTR (base + 200 + n)."""
    for base in range(21000 + os.getpid() % 500 * 60, 59800, 61):
        sockets = []
        try:
            for port in [p + n for p in (base, base + 100, base + 200) for n in range(count)]:
                s = socket.socket()
                s.bind(("127.0.0.1", port))
                sockets.append(s)
            return base
        except OSError:
            continue
        finally:
            for s in sockets:
                s.close()
    raise RuntimeError("no free ports")


def delegation(afi: str, start: str, value: int, holder: str, cc: str) -> ev.Payload:
    return {
        "afi": afi,
        "start": start,
        "value": value,
        "cc": cc,
        "date": "20100101",
        "status": "allocated",
        "holder": holder,
        "opaque": holder,
        "ext": [],
    }


class LocalFederation:
    """Nodes under `root`; `holdings` maps registry -> [(afi, start, value, holder)]."""

    def __init__(
        self,
        root: Path,
        holdings: dict[str, list[tuple[str, str, int, str]]],
        iana: Path | None = None,
        timers: Timers | None = None,
    ) -> None:
        """`iana`: a directory of IANA registry files to give the federation its IANA node;
        `timers`: the nodes' background timers (default: `FAST_TIMERS`)."""
        self.root = root
        self.data = DataDir(root)
        self.base = free_base_port()
        # every node's directory, keys and config once, up front, and the federation file
        # Tests start only some of the six nodes: one cosignature is the quorum here.
        self.timers = timers or FAST_TIMERS
        self.nodes = describe_nodes(root, self.base, quorum=1, timers=self.timers)
        self.urls = {n.registry: n.url for n in self.nodes}
        self.whois = {n.registry: n.whois for n in self.nodes}
        self.keys: dict[tuple[str, str], Ed25519PrivateKey] = {}
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.fault_plans: dict[str, Path] = {}
        for registry, rows in holdings.items():
            self._build(registry, rows)
        if iana is not None:
            import_iana(self.data, iana)

    def _build(self, registry: str, rows: list[tuple[str, str, int, str]]) -> None:
        cc = {"ripencc": "NL", "arin": "US", "apnic": "AU", "lacnic": "BR", "afrinic": "ZA"}
        with self.data.open(RegistryId(registry)) as node:
            holders = sorted({h for *_, h in rows} | {f"{registry.upper()}-NEW"})
            node.append(
                [
                    (ev.HOLDER_REGISTERED, {"handle": h, "name": "", "cc": cc[registry]})
                    for h in holders
                ]
            )
            node.append(
                [(ev.DELEGATION_ADDED, delegation(a, s, v, h, cc[registry])) for a, s, v, h in rows]
            )
            for handle in holders:
                key = Ed25519PrivateKey.generate()
                self.keys[(registry, handle)] = key
                register_holder_key(node, handle, key.public_key().public_bytes_raw())

    # --- processes ----------------------------------------------------------------------------

    def start(self, registry: str, fault_plan: dict[str, Any] | None = None) -> None:
        self._spawn(registry, fault_plan)
        # A node with a fault plan may crash on purpose as soon as it recovers a transfer:
        # up is enough there, and a death by its own SIGKILL is no error (`alive` tells).
        # Otherwise also its first checkpoint (which logs its key), so that tests comparing
        # log heads see only what they caused.
        self.wait_ready(registry, published=fault_plan is None, may_crash=fault_plan is not None)

    def start_all(self, *registries: str) -> None:
        """Start these nodes side by side (a node takes seconds to start), then wait for each
        to publish."""
        for registry in registries:
            self._spawn(registry, None)
        for registry in registries:
            self.wait_ready(registry)

    def _spawn(self, registry: str, fault_plan: dict[str, Any] | None) -> None:
        config = config_path(self.root, RegistryId(registry))
        args = [ONEREG, "serve", "--config", str(config)]
        if fault_plan is not None:
            path = self.root / f"faults-{registry}.json"
            path.write_text(json.dumps(fault_plan))
            args += ["--fault-plan", str(path)]
        log = open(self.root / f"{registry}.log", "ab")  # noqa: SIM115 - the child owns it
        self.procs[registry] = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)

    def wait_ready(
        self, registry: str, timeout: float = 90, published: bool = True, may_crash: bool = False
    ) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            proc = self.procs[registry]
            if proc.poll() is not None:
                if may_crash and proc.returncode == -signal.SIGKILL:
                    return
                log = (self.root / f"{registry}.log").read_text(errors="replace")[-1500:]
                raise RuntimeError(f"{registry} node exited with {proc.returncode}:\n{log}")
            try:
                reply = httpx.get(f"{self.urls[registry]}/log/checkpoint", timeout=1)
                if reply.is_success or not published:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{registry} node did not come up")

    def wait_mirrored(self, nodes: tuple[str, ...], peers: tuple[str, ...]) -> None:
        """Until each node has verified each (other) peer's log at least once."""
        from onereg.federation.mirror import load_status

        deadline = time.monotonic() + 60
        for node in nodes:
            for peer in peers:
                while peer != node:
                    status = load_status(self.root / "nodes" / node / "mirrors").get(peer)
                    if status is not None and status.verified_at:
                        break
                    assert time.monotonic() < deadline, f"{node} never verified {peer}'s log"
                    time.sleep(0.1)

    def alive(self, registry: str) -> bool:
        proc = self.procs.get(registry)
        return proc is not None and proc.poll() is None

    def kill(self, registry: str) -> None:
        proc = self.procs[registry]
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
        proc.wait()

    def stop(self) -> None:
        stop_processes(self.procs.values())

    # --- holders ------------------------------------------------------------------------------

    def agreement(
        self,
        resource: str,
        source: tuple[str, str],
        recipient: tuple[str, str],
        kind: str = "transfer",
        expires_in: timedelta = timedelta(days=30),
    ) -> SignedAgreement:
        expires = (datetime.now(UTC) + expires_in).strftime("%Y-%m-%dT%H:%M:%SZ")
        a = Agreement(
            resource,
            source[0],
            source[1],
            recipient[0],
            recipient[1],
            kind,
            os.urandom(16).hex(),
            expires,
        )
        return SignedAgreement(
            a, sign_agreement(a, self.keys[source]), sign_agreement(a, self.keys[recipient])
        )

    def submit(
        self,
        client: httpx.Client,
        signed: SignedAgreement,
        evidence: dict[str, object] | None = None,
    ) -> httpx.Response:
        body = json.loads(signed.to_json())
        body["evidence"] = EVIDENCE if evidence is None else evidence
        return client.post(
            f"{self.urls[signed.agreement.source_registry]}/transfers", json=body, timeout=30
        )
