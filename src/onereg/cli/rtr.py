"""`onereg rtr serve`: validated ROA payloads to routers over RPKI-to-Router (RFC 8210/6810)."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import click
from rich.console import Console

from onereg.core.errors import OneregError
from onereg.federation.node_config import Limits, host_port, load_config
from onereg.rtr.server import VrpSource, run_rtr
from onereg.rtr.sources import ValidatedSource

console = Console(stderr=True)


@click.group()
def rtr() -> None:
    """The RPKI-to-Router cache."""


@rtr.command("serve", epilog="Example: onereg rtr serve --vrps vrps.json --port 8282")
@click.option(
    "--vrps",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="rpki-client JSON or CSV (e.g. `onereg rpki validate --json`); reloaded on change.",
)
@click.option(
    "--tal",
    "tals",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    multiple=True,
    help="Instead of a file: our validator's VRPs for these TALs, re-validated on change.",
)
@click.option(
    "--repo",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="With --tal: a local mirror (or the publication server's rsync tree via a mirror).",
)
@click.option(
    "--cache",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="With --tal: fetch over RRDP/rsync into this cache at every poll.",
)
@click.option("--port", default=8282, show_default=True, help="TCP port on 127.0.0.1.")
@click.option(
    "--config",
    "config_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="A node's node.toml: listen where its [listen] rtr says (instead of --port).",
)
@click.option("--refresh", default=3600, show_default=True, help="End of Data refresh (s).")
@click.option("--retry", default=600, show_default=True, help="End of Data retry (s).")
@click.option("--expire", default=7200, show_default=True, help="End of Data expire (s).")
@click.option("--poll", default=5.0, show_default=True, help="Seconds between file checks.")
@click.option(
    "--max-connections",
    type=int,
    default=None,
    help="Open sessions in all (default: the config's rtr_connections, or its default).",
)
@click.option(
    "--notify-interval",
    default=60.0,
    show_default=True,
    help="Least seconds between Serial Notify PDUs (RFC 8210 asks for a rate limit).",
)
@click.option(
    "--nice",
    "niceness",
    default=5,
    show_default=True,
    help="CPU priority below the node's web and whois faces on a shared host (0: the same). "
    "Routers keep one session and poll hourly: an answer some milliseconds later changes "
    "nothing for them, where RDAP and the peers' requests wait for it.",
)
def serve(
    vrps: Path | None,
    tals: tuple[Path, ...],
    repo: Path | None,
    cache: Path | None,
    port: int,
    config_file: Path | None,
    refresh: int,
    retry: int,
    expire: int,
    poll: float,
    max_connections: int | None,
    notify_interval: float,
    niceness: int,
) -> None:
    """Serve VRPs on 127.0.0.1:PORT (or a node's configured RTR address), from a file or from
    our validator; routers get Serial
    Notify and only the delta when they change (Ctrl-C stops)."""
    source: Path | VrpSource
    if vrps is not None and not tals:
        source = vrps
    elif tals and vrps is None and (repo is None) != (cache is None):
        source = ValidatedSource(list(tals), repo, cache)
    else:
        raise OneregError("give --vrps FILE, or --tal with exactly one of --repo and --cache")
    host = "127.0.0.1"
    limits = Limits()  # the caps and timeouts of a node's [limits], per client and network too
    if config_file is not None:
        config = load_config(config_file)
        if not config.rtr:
            raise OneregError(f"{config_file}: [listen] rtr is empty: this node serves no RTR")
        host, port = host_port(config.rtr, f"{config_file}: [listen] rtr")
        limits = config.limits
    if max_connections is not None:
        limits = dataclasses.replace(limits, rtr_connections=max_connections)
    if niceness:
        os.nice(niceness)
    console.print(f"RTR cache on {host}:{port} serving {source} (checked every {poll:g} s)")
    run_rtr(
        source,
        host,
        port,
        refresh=refresh,
        retry=retry,
        expire=expire,
        poll_interval=poll,
        limits=limits,
        notify_interval=notify_interval,
    )
