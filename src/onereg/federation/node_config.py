"""One node, one config: `<node-dir>/node.toml`, loaded once and passed down as a typed object.

The config names everything the node process may touch: its own directory (where the config
lives), the federation file the operators exchanged, and the addresses it listens on and is
reached at. `init_node` creates a node directory (mode 0700) with its two private keys (0600),
its database and this file; `describe` gives the public description that goes into the
federation file.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from onereg.core.errors import OneregError
from onereg.core.fs import private_dir
from onereg.core.registries import RegistryId
from onereg.federation.config import NodeInfo, cosigner_of
from onereg.federation.layout import NodeDir
from onereg.ledger.note import Signer
from onereg.registry.identity import load_or_create_key, load_signer, origin_of
from onereg.registry.node import RegistryNode

DEFAULT_RSYNC = "rsync://127.0.0.1:8873/"
DEFAULT_RRDP = ""
"""No RRDP base of its own: the node's public URL when it is https (RRDP is https only, RFC 8182
section 3.1), else no rpkiNotify in the certificates, so relying parties use rsync rather than
try TLS on a plain-HTTP port ("wrong version number")."""


class ConfigError(OneregError):
    """A node config that cannot be used; the message names file, field and value."""


@dataclass(frozen=True, slots=True)
class Timers:
    """How often a node does its background work (seconds)."""

    publish: float = 5.0  # sign a checkpoint and gather cosignatures when the log grew
    mirror: float = 5.0  # fetch and verify every peer's log
    transfer_retry: float = 0.5  # re-drive unsettled transfers
    peer_timeout: float = 5.0  # one request to a peer
    signature_window: float = 60.0  # accepted clock skew of signed requests; replay memory
    stale_after: float = 60.0  # a peer mirror older than this is reported stale


@dataclass(frozen=True, slots=True)
class Limits:
    """What one client may cost a node; `[limits]` in node.toml. Sizes in bytes, times in seconds.

    The defaults are sized for a busy public registry server on modest hardware: they hold
    ten times the expected public query rate (docs/benchmarks.md) while one abusive client can
    take at most its own share. Per-network caps count a client's /24 (IPv4) or /48 (IPv6), as
    busy public whois and RTR servers do, so one host with many addresses is still one client."""

    # HTTP (RDAP, the federation API, operators)
    max_header_bytes: int = 16_384  # request line plus headers; more gets 431 before reading on
    max_body: int = 1_048_576  # a request body, checked from Content-Length and while reading (413)
    max_upload: int = 536_870_912  # operator uploads (/admin/import) only
    header_timeout: float = 10.0  # a request's headers must arrive within this
    idle_timeout: float = 30.0  # an idle keep-alive HTTP connection is closed after this
    http_per_client: int = 64  # open HTTP connections from one address
    http_per_network: int = 256  # from one /24 or /48 (several clients behind one NAT)
    http_connections: int = 2048  # open HTTP connections in all
    # whois (port 43)
    whois_per_client: int = 8  # open connections from one address
    whois_per_network: int = 32  # from one /24 or /48
    whois_connections: int = 1024  # open whois connections in all
    whois_idle_timeout: float = 60.0  # a whois connection that sends nothing is closed
    whois_max_objects: int = 500  # objects in one answer; more ends with a truncation notice
    # RTR (RFC 8210); routers keep one session open and poll every refresh interval (3600 s)
    rtr_per_client: int = 4
    rtr_per_network: int = 16
    rtr_connections: int = 10_000  # open RTR sessions in all
    rtr_idle_timeout: float = 7_260.0  # refresh interval plus margin, as RFC 8210 section 6 asks
    # work that can take more than a few milliseconds (searches, ROA listing, proofs)
    query_deadline: float = 5.0  # a query still running after this is abandoned with an error
    query_workers: int = 4  # threads that run such work off the event loop
    expensive_per_minute: int = 120  # expensive queries one client may start per minute
    max_results: int = 1_000  # objects in one RDAP search answer (then truncated, with a notice)
    # the witness
    witness_max_note: int = 65_536  # a checkpoint note's size
    witness_max_logs: int = 64  # distinct log origins whose checkpoints are stored


@dataclass(frozen=True, slots=True)
class NodeConfig:
    registry: RegistryId
    directory: Path
    federation_file: Path
    http: str  # listen host:port
    public_url: str  # how others reach the HTTP face
    whois: str = ""  # listen host:port ("" = no whois)
    public_whois: str = ""  # host:port given in referrals
    rtr: str = ""  # listen host:port for `onereg rtr serve --config` ("" = none)
    rsync_base: str = DEFAULT_RSYNC
    rrdp_base: str = DEFAULT_RRDP
    operator_keys: tuple[str, ...] = ()  # hex Ed25519 public keys allowed to operate the node
    # where the node's RPKI publication goes (default: rpki/pub in its directory); the embedded
    # set-up points every node at one shared publication server's directory, as RFC 8181
    # publication servers host many CAs
    publication_dir: Path | None = None
    timers: Timers = field(default_factory=Timers)
    limits: Limits = field(default_factory=Limits)
    # [explorer]: a BGP table (RouteViews/pyasn prefix->origin, bgpdump text or MRT) whose
    # routes the web explorer's lookup validates, and a file of validated VRPs (JSON or CSV,
    # e.g. from `onereg rpki validate`) it shows besides the node's own ROAs; both optional
    route_table: Path | None = None
    vrps_file: Path | None = None

    @property
    def node_dir(self) -> NodeDir:
        return NodeDir(self.directory, self.registry)

    @property
    def rpki_pub(self) -> Path:
        return self.publication_dir or self.node_dir.rpki_pub

    @property
    def rrdp_served(self) -> str:
        """Where this node serves the RRDP files (`/rrdp/` on its HTTP face, or the https base
        in front of it): the base of the URIs inside notification.xml."""
        return self.rrdp_base or self.public_url.rstrip("/") + "/rrdp/"

    @property
    def rrdp_notify(self) -> str | None:
        """The RRDP notification URI the CA puts in its certificates, or None when RRDP is not
        reachable over https: a relying party then goes straight to rsync."""
        if self.rrdp_base:
            return self.rrdp_base.rstrip("/") + "/notification.xml"
        if self.public_url.startswith("https://"):
            return self.public_url.rstrip("/") + "/rrdp/notification.xml"
        return None

    @property
    def origin(self) -> str:
        return origin_of(self.registry)

    def log_signer(self) -> Signer:
        return load_signer(self.node_dir.log_key)

    def node_signer(self) -> Signer:
        return load_signer(self.node_dir.node_key)

    def describe(self) -> NodeInfo:
        return NodeInfo(
            self.registry.value,
            self.public_url,
            self.origin,
            self.log_signer().verifier().vkey(),
            cosigner_of(self.node_signer()).verifier().vkey(),
            self.public_whois,
        )


def host_port(text: str, where: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"{where}: expected host:port, got {text!r}")
    return host.strip("[]"), int(port)


# --- reading and writing ----------------------------------------------------------------------

_SECTIONS = {
    "listen": {"http": "http", "whois": "whois", "rtr": "rtr"},
    "public": {"url": "public_url", "whois": "public_whois"},
    "rpki": {"rsync_base": "rsync_base", "rrdp_base": "rrdp_base"},
}


def load_config(path: Path) -> NodeConfig:
    """Read and check `node.toml`; the node's directory is the folder the file is in."""
    try:
        raw = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path}: no node config (create one with `onereg node init`)") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, RecursionError) as exc:
        raise ConfigError(f"{path}: {exc}") from None
    return _from_toml(raw, path)


def _from_toml(raw: dict[str, Any], path: Path) -> NodeConfig:
    where = str(path)
    try:
        registry = RegistryId(str(raw.get("registry")))
    except ValueError:
        raise ConfigError(f"{where}: registry: unknown registry {raw.get('registry')!r}") from None
    values: dict[str, Any] = {}
    for section, names in _SECTIONS.items():
        table = _table(raw, section, where)
        for key, attr in names.items():
            if key in table:
                values[attr] = _string(table[key], f"{where}: [{section}] {key}")
    federation = _table(raw, "federation", where).get("file")
    if not isinstance(federation, str) or not federation:
        raise ConfigError(f"{where}: [federation] file: a path is required")
    publication = _table(raw, "rpki", where).get("publication_dir")
    if publication is not None and not isinstance(publication, str):
        raise ConfigError(f"{where}: [rpki] publication_dir: expected a path")
    operators = _table(raw, "operators", where).get("keys", [])
    if not isinstance(operators, list) or not all(_is_key_hex(k) for k in operators):
        raise ConfigError(f"{where}: [operators] keys: a list of 64-hex-digit Ed25519 keys")
    config = NodeConfig(
        registry,
        path.parent.resolve(),
        (path.parent / federation).resolve(),
        values.pop("http", ""),
        values.pop("public_url", ""),
        operator_keys=tuple(operators),
        publication_dir=(path.parent / publication).resolve() if publication else None,
        timers=_timers(_table(raw, "timers", where), where),
        limits=_limits(_table(raw, "limits", where), where),
        **values,
    )
    explorer = _explorer(_table(raw, "explorer", where), path.parent, where)
    config = replace(
        config, route_table=explorer.get("route_table"), vrps_file=explorer.get("vrps_file")
    )
    _check(config, where)
    return config


def _explorer(table: dict[str, Any], base: Path, where: str) -> dict[str, Path]:
    """The explorer's optional files, relative to the node's directory; each must exist (the
    node reads it at start, and a typo should stop it here, not hide the routes later)."""
    names = {"route_table": "route_table", "vrps": "vrps_file"}
    out: dict[str, Path] = {}
    for key, value in table.items():
        if key not in names:
            known = sorted(names)
            raise ConfigError(f"{where}: [explorer] {key}: unknown setting (known: {known})")
        if not isinstance(value, str) or not value:
            raise ConfigError(f"{where}: [explorer] {key}: expected a path, got {value!r}")
        found = (base / value).resolve()
        if not found.is_file():
            raise ConfigError(f"{where}: [explorer] {key}: no such file {str(found)!r}")
        out[names[key]] = found
    return out


def _table(raw: dict[str, Any], name: str, where: str) -> dict[str, Any]:
    table = raw.get(name, {})
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: [{name}] must be a table")
    return table


def _string(value: object, where: str) -> str:
    if not isinstance(value, str):
        raise ConfigError(f"{where}: expected a string, got {value!r}")
    return value


def _is_key_hex(value: object) -> bool:
    hexdigits = "0123456789abcdef"
    return isinstance(value, str) and len(value) == 64 and all(c in hexdigits for c in value)


def _timers(table: dict[str, Any], where: str) -> Timers:
    known = {f.name for f in fields(Timers)}
    for key, value in table.items():
        if key not in known:
            raise ConfigError(f"{where}: [timers] {key}: unknown timer (known: {sorted(known)})")
        if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
            raise ConfigError(f"{where}: [timers] {key}: expected seconds > 0, got {value!r}")
    return Timers(**{k: float(v) for k, v in table.items()})


def _limits(table: dict[str, Any], where: str) -> Limits:
    types = {f.name: f.type for f in fields(Limits)}
    for key, value in table.items():
        if key not in types:
            raise ConfigError(f"{where}: [limits] {key}: unknown limit (known: {sorted(types)})")
        if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
            raise ConfigError(f"{where}: [limits] {key}: expected a number > 0, got {value!r}")
        if types[key] == "int" and not isinstance(value, int):
            raise ConfigError(f"{where}: [limits] {key}: expected a whole number, got {value!r}")
    values: dict[str, Any] = {k: float(v) if types[k] == "float" else v for k, v in table.items()}
    return Limits(**values)


def _check(config: NodeConfig, where: str) -> None:
    host_port(config.http, f"{where}: [listen] http")
    for value, name in ((config.whois, "whois"), (config.rtr, "rtr")):
        if value:
            host_port(value, f"{where}: [listen] {name}")
    if not config.public_url.startswith(("http://", "https://")):
        raise ConfigError(
            f"{where}: [public] url: expected an http(s) URL, got {config.public_url!r}"
        )
    if config.rrdp_base and not config.rrdp_base.startswith("https://"):
        raise ConfigError(
            f"{where}: [rpki] rrdp_base: RRDP is served over https only (RFC 8182), got "
            f"{config.rrdp_base!r}; leave it empty to use the public URL when that is https, "
            "or rsync alone"
        )
    if not config.rsync_base.startswith("rsync://") or not config.rsync_base.endswith("/"):
        raise ConfigError(
            f"{where}: [rpki] rsync_base: expected rsync://host[:port]/, got {config.rsync_base!r}"
        )


def config_toml(config: NodeConfig) -> str:
    """The config as TOML, paths relative to the node's directory where they are inside it."""
    federation = os.path.relpath(config.federation_file, config.directory)
    timers = "".join(f"{f.name} = {getattr(config.timers, f.name)}\n" for f in fields(Timers))
    limits = "".join(f"{f.name} = {getattr(config.limits, f.name)}\n" for f in fields(Limits))
    keys = ", ".join(f'"{k}"' for k in config.operator_keys)
    return (
        f"# onereg node config (`onereg serve --config {NODE_FILE_HINT}`)\n"
        f'registry = "{config.registry.value}"\n\n'
        f'[listen]\nhttp = "{config.http}"\nwhois = "{config.whois}"\nrtr = "{config.rtr}"\n\n'
        f'[public]\nurl = "{config.public_url}"\nwhois = "{config.public_whois}"\n\n'
        f'[rpki]\nrsync_base = "{config.rsync_base}"\nrrdp_base = "{config.rrdp_base}"\n'
        + (
            f'publication_dir = "{os.path.relpath(config.publication_dir, config.directory)}"\n'
            if config.publication_dir
            else ""
        )
        + "\n"
        f'[federation]\nfile = "{federation}"\n\n'
        f"[operators]\nkeys = [{keys}]\n\n"
        f"[timers]\n{timers}\n"
        f"[limits]\n{limits}" + _explorer_toml(config)
    )


def _explorer_toml(config: NodeConfig) -> str:
    rows = [
        f'{key} = "{path}"\n'
        for key, path in (("route_table", config.route_table), ("vrps", config.vrps_file))
        if path is not None
    ]
    return "\n[explorer]\n" + "".join(rows) if rows else ""


NODE_FILE_HINT = "node.toml"


def _write_private_text(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.chmod(path, 0o600)


def save_config(config: NodeConfig) -> None:
    _write_private_text(config.node_dir.config_path, config_toml(config))


def init_node(config: NodeConfig, *, overwrite: bool = False) -> NodeConfig:
    """Create the node's directory (0700), keys (0600), database and config file.

    Keys and database already there are kept (re-running init only rewrites the config, and
    only with `overwrite`), so a node never silently gets a new identity."""
    nd = config.node_dir
    if nd.config_path.exists() and not overwrite:
        raise ConfigError(f"{nd.config_path} exists: this directory is already a node")
    private_dir(nd.root)
    load_or_create_key(nd.log_key, config.origin)
    load_or_create_key(nd.node_key, config.origin)
    with RegistryNode.open(config.registry, nd.db_path):
        pass
    os.chmod(nd.db_path, 0o600)
    save_config(config)
    return config
