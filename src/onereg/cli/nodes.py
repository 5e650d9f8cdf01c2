"""`onereg node init|describe` and `onereg federation assemble`: how six operators set up
their nodes and exchange what the others need to know (and nothing else)."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from pathlib import Path

import click
from rich.console import Console

from onereg.core.errors import OneregError
from onereg.core.registries import ALL_REGISTRIES, RegistryId
from onereg.federation.config import (
    DEFAULT_QUORUM,
    Federation,
    FederationFileError,
    NodeInfo,
    federation_json,
)
from onereg.federation.node_config import NodeConfig, init_node, load_config

console = Console(stderr=True)


@click.command(
    "init",
    epilog="Example: onereg node init --registry ripencc --dir /var/lib/onereg "
    "--http 0.0.0.0:8445 --url https://rdap.example.net --federation /etc/onereg/federation.json",
)
@click.option(
    "--registry",
    type=click.Choice([r.value for r in ALL_REGISTRIES]),
    required=True,
    help="The registry this node is.",
)
@click.option(
    "--dir",
    "directory",
    type=click.Path(path_type=Path),
    required=True,
    help="The node's own directory (made 0700).",
)
@click.option("--http", default="127.0.0.1:8440", show_default=True, help="Listen host:port.")
@click.option("--whois", default="", help="whois listen host:port (default: none).")
@click.option("--rtr", default="", help="RTR listen host:port (default: none).")
@click.option("--url", "public_url", default=None, help="Public base URL (default: from --http).")
@click.option("--public-whois", default=None, help="whois host:port in referrals.")
@click.option(
    "--federation",
    "federation_file",
    type=click.Path(path_type=Path),
    required=True,
    help="The federation file the operators assemble (`onereg federation assemble`).",
)
@click.option("--operator-key", "operator_keys", multiple=True, help="Hex Ed25519 public key.")
def node_init(
    registry: str,
    directory: Path,
    http: str,
    whois: str,
    rtr: str,
    public_url: str | None,
    public_whois: str | None,
    federation_file: Path,
    operator_keys: tuple[str, ...],
) -> None:
    """Create a node's own directory (mode 0700): database, its log and node keys (0600), and
    node.toml. The federation file need not exist yet (`onereg federation assemble`)."""
    config = NodeConfig(
        RegistryId(registry),
        directory.resolve(),
        federation_file.resolve(),
        http,
        public_url or f"http://{http}",
        whois=whois,
        public_whois=whois if public_whois is None else public_whois,
        rtr=rtr,
        operator_keys=operator_keys,
    )
    init_node(config)
    reloaded = load_config(config.node_dir.config_path)  # what serve will read, checked
    console.print(f"node {registry} created in {reloaded.directory}")
    console.print(f"config: {reloaded.node_dir.config_path}; next: `onereg node describe`")


@click.command(
    "describe", epilog="Example: onereg node describe --config node.toml > ripencc.json"
)
@click.option(
    "--config",
    "config_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    required=True,
    help="The node's node.toml.",
)
def node_describe(config_file: Path) -> None:
    """Print the node's public description (JSON): what the other operators need."""
    sys.stdout.write(json.dumps(asdict(load_config(config_file).describe()), indent=1) + "\n")


@click.group()
def federation() -> None:
    """The federation file the operators exchange."""


@federation.command(
    "assemble",
    epilog="Example: onereg federation assemble iana.json afrinic.json apnic.json arin.json "
    "lacnic.json ripencc.json --quorum 3 -o federation.json",
)
@click.argument(
    "descriptions", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path)
)
@click.option("--quorum", default=DEFAULT_QUORUM, show_default=True, help="Witnesses needed.")
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path),
    required=True,
    help="federation.json to write (policy.txt goes beside it).",
)
def assemble(descriptions: tuple[Path, ...], quorum: int, output: Path) -> None:
    """Assemble the federation file (and policy.txt beside it) from node descriptions."""
    nodes = [_description(path) for path in descriptions]
    if len({n.registry for n in nodes}) != len(nodes):
        raise OneregError("two descriptions are of the same registry")
    if not 0 < quorum < len(nodes):
        raise OneregError(
            f"--quorum {quorum}: needs 1 .. {len(nodes) - 1} (a log's own key "
            "does not count as a witness)"
        )
    fed = Federation(tuple(nodes), quorum)
    output.write_text(federation_json(fed))
    output.with_name("policy.txt").write_text(fed.policy_text())
    console.print(f"wrote {output} ({len(nodes)} nodes, quorum {quorum}) and policy.txt")


def _description(path: Path) -> NodeInfo:
    try:
        info = NodeInfo(**json.loads(path.read_text()))
        RegistryId(info.registry)
        info.log_verifier(), info.witness_verifier()
    except (TypeError, ValueError, OneregError) as exc:
        raise FederationFileError(f"{path}: not a node description: {exc}") from None
    return info
