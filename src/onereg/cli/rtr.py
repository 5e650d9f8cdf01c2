"""`onereg rtr serve`: validated ROA payloads to routers over RPKI-to-Router (RFC 8210/6810)."""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console

from onereg.rtr.server import run_rtr

console = Console(stderr=True)


@click.group()
def rtr() -> None:
    """The RPKI-to-Router cache."""


@rtr.command("serve")
@click.option(
    "--vrps",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    required=True,
    help="rpki-client JSON or CSV (e.g. `onereg rpki validate --json`); reloaded on change.",
)
@click.option("--port", default=8282, show_default=True)
@click.option("--refresh", default=3600, show_default=True, help="End of Data refresh (s).")
@click.option("--retry", default=600, show_default=True, help="End of Data retry (s).")
@click.option("--expire", default=7200, show_default=True, help="End of Data expire (s).")
@click.option("--poll", default=5.0, show_default=True, help="Seconds between file checks.")
@click.option("--max-connections", default=10000, show_default=True)
def serve(
    vrps: Path,
    port: int,
    refresh: int,
    retry: int,
    expire: int,
    poll: float,
    max_connections: int,
) -> None:
    """Serve the VRPs on 127.0.0.1:PORT; routers get Serial Notify and deltas when the file
    changes (Ctrl-C stops)."""
    console.print(f"RTR cache on 127.0.0.1:{port} serving {vrps} (checked every {poll:g} s)")
    run_rtr(
        vrps,
        "127.0.0.1",
        port,
        refresh=refresh,
        retry=retry,
        expire=expire,
        poll_interval=poll,
        max_connections=max_connections,
    )
