"""The embedded one-machine federation of `onereg up` / `onereg serve`: six independent node
directories side by side under `<data-dir>/nodes/`, each with its own config, keys and database,
and the federation file assembled from their descriptions, exactly as six operators would do it
by hand (`onereg node init`, `onereg node describe`, `onereg federation assemble`)."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

from onereg.core.fs import private_dir
from onereg.core.registries import ALL_REGISTRIES, RegistryId
from onereg.federation.config import (
    DEFAULT_BASE_PORT,
    DEFAULT_QUORUM,
    RTR_PORT_OFFSET,
    WHOIS_PORT_OFFSET,
    NodeInfo,
    write_config,
)
from onereg.federation.layout import DataDir
from onereg.federation.node_config import NodeConfig, Timers, init_node, load_config
from onereg.registry.identity import load_or_create_key

HOST = "127.0.0.1"


def operator_key_path(data_root: Path) -> Path:
    """The embedded set-up's operator key: the CLI signs node API calls with it."""
    return data_root / "operator.key"


def explorer_url(rid: RegistryId, base_port: int = DEFAULT_BASE_PORT) -> str:
    """Where `onereg serve` puts the registry's web explorer (its node's HTTP port)."""
    return f"http://{HOST}:{base_port + ALL_REGISTRIES.index(rid)}/ui/"


def local_config(data_root: Path, rid: RegistryId, base_port: int, operator: str) -> NodeConfig:
    offset = ALL_REGISTRIES.index(rid)
    http, whois = base_port + offset, base_port + WHOIS_PORT_OFFSET + offset
    return NodeConfig(
        rid,
        DataDir(data_root).node_dir(rid).resolve(),
        (data_root / "federation.json").resolve(),
        f"{HOST}:{http}",
        f"http://{HOST}:{http}",
        whois=f"{HOST}:{whois}",
        public_whois=f"{HOST}:{whois}",
        rtr=f"{HOST}:{base_port + RTR_PORT_OFFSET + offset}",
        operator_keys=(operator,),
        publication_dir=(data_root / "rpki" / "pub").resolve(),
    )


def ensure_local_nodes(
    data_root: Path,
    base_port: int = DEFAULT_BASE_PORT,
    quorum: int = DEFAULT_QUORUM,
    timers: Timers | None = None,
) -> list[NodeConfig]:
    """Create (or re-address) the six node directories and write the federation file.

    Keys and databases are kept; the addresses follow `base_port`, and timers an operator set
    in a node's config are kept unless `timers` are given."""
    private_dir(data_root)
    operator = load_or_create_key(operator_key_path(data_root), "onereg-operator")
    operator_hex = operator.verifier().public_key.hex()
    configs = []
    for rid in ALL_REGISTRIES:
        config = local_config(data_root, rid, base_port, operator_hex)
        if timers is not None:
            config = replace(config, timers=timers)
        elif config.node_dir.config_path.exists():
            config = replace(config, timers=load_config(config.node_dir.config_path).timers)
        configs.append(init_node(config, overwrite=True))
    write_config(data_root, [c.describe() for c in configs], quorum)
    os.chmod(data_root / "federation.json", 0o644)
    return configs


def describe_nodes(
    data_root: Path,
    base_port: int = DEFAULT_BASE_PORT,
    quorum: int = DEFAULT_QUORUM,
    timers: Timers | None = None,
) -> list[NodeInfo]:
    """Every node's public description, creating what is missing on the way."""
    return [c.describe() for c in ensure_local_nodes(data_root, base_port, quorum, timers)]


def config_path(data_root: Path, rid: RegistryId) -> Path:
    return DataDir(data_root).node_dir(rid) / "node.toml"
