"""The federation's public description: where each node listens, its log key and witness key,
and the verifier policy derived from them (tlog-policy text).

Written to `<data-dir>/federation.json` and `<data-dir>/policy.txt` by `onereg serve`; a verifier
needs only these two files (and network access to the nodes), never a node's database.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from onereg.core.registries import ALL_REGISTRIES, RegistryId
from onereg.ledger.checkpoint import CosignatureVerifier, Cosigner
from onereg.ledger.note import Signer, Verifier
from onereg.registry.identity import load_or_create_signer, origin_of

DEFAULT_BASE_PORT = 8440
DEFAULT_QUORUM = 3
WHOIS_PORT_OFFSET = 100  # node n serves HTTP on base+n and whois on base+100+n


@dataclass(frozen=True, slots=True)
class NodeInfo:
    registry: str
    url: str
    origin: str
    log_vkey: str
    witness_vkey: str
    whois: str = ""  # host:port of the node's whois (RFC 3912) service

    def log_verifier(self) -> Verifier:
        return Verifier.from_vkey(self.log_vkey)

    def witness_verifier(self) -> CosignatureVerifier:
        return CosignatureVerifier.from_vkey(self.witness_vkey)


def cosigner_of(signer: Signer) -> Cosigner:
    """The node's witness key: the same Ed25519 key, used with the cosignature type."""
    return Cosigner(signer.name, signer.private_key)


def describe_nodes(data_root: Path, base_port: int = DEFAULT_BASE_PORT) -> list[NodeInfo]:
    """Every node's public description, creating missing keys (mode 0600) on the way."""
    nodes = []
    for offset, rid in enumerate(ALL_REGISTRIES):
        signer = load_or_create_signer(data_root / "keys", rid, origin_of(rid))
        nodes.append(
            NodeInfo(
                rid.value,
                f"http://127.0.0.1:{base_port + offset}",
                signer.name,
                signer.verifier().vkey(),
                cosigner_of(signer).verifier().vkey(),
                f"127.0.0.1:{base_port + WHOIS_PORT_OFFSET + offset}",
            )
        )
    return nodes


def policy_text(nodes: list[NodeInfo], quorum: int = DEFAULT_QUORUM) -> str:
    """Every log, every node as a witness, and a k-of-n quorum over the witnesses."""
    lines = [
        "# onereg federation policy: a checkpoint needs cosignatures from "
        f"{quorum} of the other registries"
    ]
    lines += [f"log {n.log_vkey}" for n in nodes]
    lines += [f"witness {n.registry} {n.witness_vkey}" for n in nodes]
    lines.append(f"group registries {quorum} {' '.join(n.registry for n in nodes)}")
    lines.append("quorum registries")
    return "\n".join(lines) + "\n"


def write_config(data_root: Path, nodes: list[NodeInfo], quorum: int = DEFAULT_QUORUM) -> None:
    (data_root / "federation.json").write_text(
        json.dumps([asdict(n) for n in nodes], indent=1) + "\n"
    )
    (data_root / "policy.txt").write_text(policy_text(nodes, quorum))


def read_config(path: Path) -> list[NodeInfo]:
    return [NodeInfo(**item) for item in json.loads(path.read_text())]


def node_of(nodes: list[NodeInfo], registry: RegistryId) -> NodeInfo:
    return next(n for n in nodes if n.registry == registry.value)
