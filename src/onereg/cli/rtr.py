"""`onereg rtr serve`: validated ROA payloads to routers over RPKI-to-Router (RFC 8210/6810)."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Hashable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.console import Console

from onereg.core.errors import OneregError
from onereg.federation.node_config import Limits, host_port, load_config

if TYPE_CHECKING:  # the RTR server and the validator load numpy and the RPKI stack: only on use
    import asyncio

    from onereg.rtr.server import VrpSource
    from onereg.rtr.state import RtrCache, VrpKeys

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
    from onereg.rtr.server import FileSource, run_rtr
    from onereg.rtr.sources import ValidatedSource

    source: VrpSource
    if vrps is not None and not tals:
        source = FileSource(vrps)
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
    primed = first_load(source)
    described = describe(source)

    def ready(server: asyncio.Server, rtr_cache: RtrCache) -> None:
        console.print(
            f"RTR cache on {host}:{port}: {len(rtr_cache):,} VRPs, serial {rtr_cache.serial}, "
            f"session {rtr_cache.session_id}, from {described} (checked every {poll:g} s)",
            highlight=False,
            soft_wrap=True,
        )

    run_rtr(
        primed,
        host,
        port,
        refresh=refresh,
        retry=retry,
        expire=expire,
        poll_interval=poll,
        limits=limits,
        notify_interval=notify_interval,
        ready=ready,
    )


def describe(source: VrpSource) -> str:
    """Where the VRPs come from, in words (the start-up line names it)."""
    from onereg.rtr.server import FileSource

    if isinstance(source, FileSource):
        return f"file {source.path}"
    return str(source)


@dataclass
class Primed:
    """A source whose first load the command already made, to refuse an empty set before
    listening: the server's own first load then costs nothing (and validates nothing twice)."""

    source: VrpSource
    first: VrpKeys | None
    first_stamp: Hashable

    def stamp(self) -> Hashable:
        if self.first is not None:
            return self.first_stamp
        return self.source.stamp()

    def load(self) -> VrpKeys:
        from onereg.rtr.state import VrpKeys, to_keys

        first, self.first = self.first, None
        return first if first is not None else VrpKeys(*to_keys(self.source.load()))


def first_load(source: VrpSource) -> Primed:
    """Load the VRPs once, or refuse with one line saying why there are none and what to do:
    a router given an empty set would drop every route's RPKI state without a word."""
    from onereg.cli.rpki import validation_failure
    from onereg.rtr.sources import ValidatedSource
    from onereg.rtr.state import VrpKeys, to_keys

    stamp = source.stamp()
    if isinstance(source, ValidatedSource):
        result = source.result()
        failure = validation_failure(result, source.tals, source.repo)
        if failure is not None:
            raise OneregError(f"nothing to serve from {describe(source)}: {failure}")
        return Primed(source, VrpKeys(*to_keys(result.vrps)), stamp)
    keys = VrpKeys(*to_keys(source.load()))
    if not len(keys):
        raise OneregError(
            f"nothing to serve: {describe(source)} holds no VRPs; give the JSON or CSV that "
            "`onereg rpki validate --json` or rpki-client -j writes"
        )
    return Primed(source, keys, stamp)
