"""`onereg rov`: what the registry system's RPKI means for real routes (RFC 6811)."""

from __future__ import annotations

import sys
import time
from contextlib import ExitStack
from pathlib import Path
from typing import IO, cast

import click
from rich.console import Console
from rich.table import Table

from onereg.cli import oneshot  # before numpy: one BLAS thread
from onereg.cli.progress import steps
from onereg.cli.settings import Settings
from onereg.rpki.colcache import ColumnCache
from onereg.rpki.rov import OutputFormat, RouteFormat, State, rov_command

console = Console(stderr=True)


@click.command(
    "rov",
    epilog="Example: onereg rov --vrps vrps.json "
    "../shared/data/bgp/pyasn-data/ipasn_20140513.dat.gz --output csv -o rov.csv",
)
@click.option(
    "--vrps",
    "vrp_paths",
    type=click.Path(exists=True, path_type=Path),
    multiple=True,
    required=True,
    help="VRPs: rpki-client JSON or CSV (e.g. from `onereg rpki validate --json`).",
)
@click.argument("routes", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option(
    "--format",
    "route_format",
    type=click.Choice(["auto", "prefix-origin", "bgpdump", "mrt"]),
    default="auto",
    show_default=True,
    help="Format of the route files (auto: guessed from their content).",
)
@click.option(
    "--output",
    type=click.Choice(["none", "csv", "json"]),
    default="none",
    show_default=True,
    help="Write each route's state in this format (the summary is always printed).",
)
@click.option(
    "-o",
    "out_path",
    type=click.Path(path_type=Path),
    default=None,
    help="File for --output (default: standard output).",
)
@click.option(
    "--only",
    type=click.Choice([s.value for s in State]),
    multiple=True,
    help="Write only routes in these states (the summary counts all).",
)
@click.option(
    "--max-records", type=int, default=None, help="Stop after this many routes (default: all)."
)
@click.option("--allow-truncated", is_flag=True, help="Accept a cut-off MRT file.")
@click.option(
    "--no-cache",
    is_flag=True,
    help="Parse every file again instead of loading what an earlier run read from the same "
    "bytes (<data-dir>/cache/rov/).",
)
@click.pass_obj
def rov(
    settings: Settings,
    vrp_paths: tuple[Path, ...],
    routes: tuple[Path, ...],
    route_format: str,
    output: str,
    out_path: Path | None,
    only: tuple[str, ...],
    max_records: int | None,
    allow_truncated: bool,
    no_cache: bool,
) -> None:
    """Validate the origins of routes (RouteViews/RIS tables, bgpdump -m text, MRT) against
    VRPs; a summary table, and per-route CSV or JSON with the VRPs that decided each."""
    started = time.perf_counter()
    oneshot.keep_freed_memory()
    with ExitStack() as stack:
        out: IO[str] | IO[bytes] | None = None
        if output != "none":
            binary = output == "json"
            if out_path is None:
                out = sys.stdout.buffer if binary else sys.stdout
            else:
                out = stack.enter_context(out_path.open("wb" if binary else "w"))
        advance = stack.enter_context(steps("rov", 4))
        done = rov_command(
            list(vrp_paths),
            list(routes),
            route_format=cast(RouteFormat, route_format),
            vrp_format="auto",
            output=cast(OutputFormat, output),
            out=out,
            only=[State(s) for s in only],
            max_records=max_records,
            allow_truncated=allow_truncated,
            step=advance,
            cache=None if no_cache else ColumnCache(settings.data_dir / "cache" / "rov"),
        )
    header, *rows = done.summary
    table = Table(title="Route origin validation (RFC 6811)", title_justify="left")
    for col in header:
        table.add_column(str(col), justify="right")
    for row in rows:
        table.add_row(*(f"{v:,}" if isinstance(v, int) else str(v) for v in row))
    console.print(table)
    console.print(
        f"{done.routes_read:,} routes, {done.vrps_read:,} VRPs, {done.written:,} rows written, "
        f"{time.perf_counter() - started:.1f} s"
    )
