"""TOML an operator writes or is handed: a node's `node.toml` and the registries' transfer
policies (`policies/<registry>.toml`). Both are read from files, so each input goes through one;
a transfer policy's file name must be its registry's, so the first byte chooses the name."""

from __future__ import annotations

from pathlib import Path

from fuzz.harness import Target, scratch_file, select
from onereg.core.errors import SourceFormatError
from onereg.core.registries import RegistryId
from onereg.federation.node_config import ConfigError, load_config
from onereg.registry.transfer_policy import load_policy_file

_NODE = b"""# onereg node config
registry = "ripencc"

[listen]
http = "127.0.0.1:8080"
whois = "127.0.0.1:8543"
rtr = "[::1]:8323"

[public]
url = "https://rdap.example.net"
whois = "whois.example.net:43"

[rpki]
rsync_base = "rsync://rpki.example.net/repo/"
rrdp_base = "https://rpki.example.net/rrdp/"
publication_dir = "pub"

[federation]
file = "../federation.json"

[operators]
keys = ["0011223344556677889900112233445566778899001122334455667788990011"]

[timers]
publish = 5.0
peer_timeout = 2.5

[limits]
max_body = 65536
query_deadline = 1.5
"""


def _node(data: bytes) -> object:
    return load_config(scratch_file(data, "node.toml"))


NODE_CONFIG = Target("node_config", _node, (ConfigError,), lambda: [_NODE])

_POLICY_DIR = Path(__file__).resolve().parents[1] / "policies"
_RIRS = [r for r in RegistryId if r is not RegistryId.IANA]


def _policy_seeds() -> list[bytes]:
    return [
        bytes([i]) + path.read_bytes()
        for i, rir in enumerate(_RIRS)
        if (path := _POLICY_DIR / f"{rir.value}.toml").is_file()
    ]


def _policy(data: bytes) -> object:
    choice, body = select(data, len(_RIRS))
    return load_policy_file(scratch_file(body, f"{_RIRS[choice].value}.toml"))


TRANSFER_POLICY = Target("transfer_policy", _policy, (SourceFormatError,), _policy_seeds, 32768)

TARGETS = [NODE_CONFIG, TRANSFER_POLICY]
