"""The federation file: what the six operators exchange, and nothing else they need to trust.

It lists every node's public description (`NodeInfo`: registry, URLs, log key, node key) and the
witness quorum. A node learns its peers from this file alone; a verifier needs only this file (or
the tlog-policy text derived from it) and network access to the nodes, never a node's database.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from onereg.core.errors import OneregError
from onereg.core.fs import private_dir
from onereg.core.registries import RegistryId
from onereg.ledger.checkpoint import CosignatureVerifier, Cosigner
from onereg.ledger.note import Signer, Verifier

DEFAULT_BASE_PORT = 8440
DEFAULT_QUORUM = 3
WHOIS_PORT_OFFSET = 100  # node n serves HTTP on base+n and whois on base+100+n
RTR_PORT_OFFSET = 200  # and RTR on base+200+n
FORMAT = "onereg-federation/1"


class FederationFileError(OneregError):
    """The federation file is missing, malformed, or does not describe what it should."""


@dataclass(frozen=True, slots=True)
class NodeInfo:
    """One node's public description (`onereg node describe`)."""

    registry: str
    url: str
    origin: str
    log_vkey: str
    witness_vkey: str  # the node key: cosigns as a witness, signs node-to-node messages
    whois: str = ""  # host:port of the node's whois (RFC 3912) service

    def log_verifier(self) -> Verifier:
        return Verifier.from_vkey(self.log_vkey)

    def witness_verifier(self) -> CosignatureVerifier:
        return CosignatureVerifier.from_vkey(self.witness_vkey)

    def node_public_key(self) -> Ed25519PublicKey:
        """The key that signs this node's requests and answers (RFC 9421)."""
        return Ed25519PublicKey.from_public_bytes(self.witness_verifier().public_key)


@dataclass(frozen=True, slots=True)
class Federation:
    nodes: tuple[NodeInfo, ...]
    quorum: int = DEFAULT_QUORUM

    def node(self, registry: RegistryId | str) -> NodeInfo:
        for n in self.nodes:
            if n.registry == str(registry):
                return n
        raise FederationFileError(f"the federation file has no node for {registry}")

    def peers_of(self, registry: RegistryId | str) -> list[NodeInfo]:
        return [n for n in self.nodes if n.registry != str(registry)]

    def policy_text(self) -> str:
        return policy_text(list(self.nodes), self.quorum)


def cosigner_of(signer: Signer) -> Cosigner:
    """A witness key from a signing key (same Ed25519 key, the cosignature type)."""
    return Cosigner(signer.name, signer.private_key)


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


def federation_json(federation: Federation) -> str:
    document = {
        "format": FORMAT,
        "quorum": federation.quorum,
        "nodes": [asdict(n) for n in federation.nodes],
    }
    return json.dumps(document, indent=1) + "\n"


def write_config(data_root: Path, nodes: list[NodeInfo], quorum: int = DEFAULT_QUORUM) -> Path:
    """`federation.json` and its `policy.txt` (for verifiers) in `data_root`; returns the first."""
    federation = Federation(tuple(nodes), quorum)
    path = data_root / "federation.json"
    private_dir(data_root)
    path.write_text(federation_json(federation))
    (data_root / "policy.txt").write_text(federation.policy_text())
    return path


def read_federation(path: Path) -> Federation:
    """The federation file; every error names the file and what is wrong with it."""
    try:
        document = json.loads(path.read_text())
    except FileNotFoundError:
        raise FederationFileError(f"{path}: no federation file") from None
    except (OSError, ValueError) as exc:
        raise FederationFileError(f"{path}: not a readable JSON file: {exc}") from None
    if isinstance(document, list):  # the first format: the node list alone
        document = {"format": FORMAT, "quorum": DEFAULT_QUORUM, "nodes": document}
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise FederationFileError(f"{path}: expected a JSON object with format {FORMAT!r}")
    try:
        nodes = tuple(NodeInfo(**item) for item in document["nodes"])
        quorum = int(document.get("quorum", DEFAULT_QUORUM))
        for n in nodes:
            RegistryId(n.registry)
            n.log_verifier(), n.witness_verifier()
    except (KeyError, TypeError, ValueError, OneregError) as exc:
        raise FederationFileError(f"{path}: bad node description: {exc}") from None
    if len({n.registry for n in nodes}) != len(nodes):
        raise FederationFileError(f"{path}: a registry is described twice")
    return Federation(nodes, quorum)


def read_config(path: Path) -> list[NodeInfo]:
    return list(read_federation(path).nodes)


def node_of(nodes: list[NodeInfo], registry: RegistryId) -> NodeInfo:
    return next(n for n in nodes if n.registry == registry.value)
