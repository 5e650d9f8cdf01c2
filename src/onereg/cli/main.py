"""The `onereg` command: one function per subcommand, each a thin shell over the layers below."""

from __future__ import annotations

import errno
import json
import sqlite3
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.console import Console

from onereg.cli.lazy import LazyGroup, add_lazy
from onereg.cli.settings import DEFAULT_SET, Settings, find_shared_data
from onereg.core.errors import OneregError
from onereg.core.fs import private_dir
from onereg.core.registries import ALL_REGISTRIES, RegistryId

if TYPE_CHECKING:  # each command imports what it uses when it runs (see cli.lazy)
    from onereg.audit.findings import AuditReport
    from onereg.core.resources import Resource
    from onereg.federation.bootstrap import SourceSet
    from onereg.federation.importer import ImportOutcome
    from onereg.federation.layout import DataDir

# Wide enough for the audit tables when the output goes to a file or a CI log (rich assumes 80).
console = Console(width=None if sys.stdout.isatty() else 170)
err_console = Console(stderr=True, width=None if sys.stderr.isatty() else 170, soft_wrap=True)
REGISTRY_CHOICE = click.Choice([r.value for r in ALL_REGISTRIES])
DEFAULT_BASE_PORT = 8440  # federation.config's, which imports the crypto stack (a test compares)


@click.group(cls=LazyGroup, epilog="Example: onereg up && onereg show 193.0.0.1   (see README.md)")
@click.option(
    "--data-dir",
    type=click.Path(path_type=Path),
    default=Path("onereg-data"),
    show_default=True,
    envvar="ONEREG_DATA_DIR",
    help="Where the nodes live.",
)
@click.option(
    "--shared-data",
    type=click.Path(path_type=Path),
    default=None,
    help="Folder of real registry data (default: $ONEREG_SHARED_DATA or ../shared/data).",
)
@click.pass_context
def cli(ctx: click.Context, data_dir: Path, shared_data: Path | None) -> None:
    """onereg: IANA and the five RIRs as one verifiable registry system."""
    ctx.obj = Settings(data_dir, shared_data or find_shared_data())


def _build(settings: Settings, sources: SourceSet, jobs: int) -> list[ImportOutcome]:
    from onereg.cli.progress import bars
    from onereg.federation.bootstrap import build
    from onereg.federation.layout import DataDir

    data = DataDir(settings.data_dir)
    with bars() as bar:
        tasks: dict[str, int] = {}

        def report(registry: str, done: int, total: int) -> None:
            if bar is None:
                return
            if registry not in tasks:
                tasks[registry] = bar.add_task(registry, total=total)
            bar.update(tasks[registry], completed=done, total=total)  # type: ignore[arg-type]

        return build(data, sources, jobs, report)


NODE_VIEW = click.option(
    "--node",
    "node_config",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Read a node's view (its node.toml): its own database and its verified mirrors of "
    "the other registries' logs, with their age.",
)


def _federation(settings: Settings, node_config: Path | None) -> DataDir:
    """The data dir's nodes, or one node's own view of the federation (stale peers said)."""
    from onereg.federation.layout import DataDir

    if node_config is None:
        return DataDir(settings.data_dir)
    from onereg.federation.mirror import load_status, stale_notes
    from onereg.federation.node_config import load_config

    config = load_config(node_config)
    status = load_status(config.node_dir.mirrors)
    for note in stale_notes(status, time.time(), config.timers.stale_after):
        err_console.print(f"[yellow]note:[/yellow] {note}")
    return config.node_dir.view()


def _audit(settings: Settings, data: DataDir | None = None) -> tuple[AuditReport, float]:
    """The audit of the data dir (or a node's view): unchanged nodes' parts are reused
    (`audit.parts`); an unchanged federation's whole output is `audit.output`'s."""
    from onereg.federation.layout import DataDir

    started = time.perf_counter()
    report = _run_audit(settings, data or DataDir(settings.data_dir))
    return report, time.perf_counter() - started


def _run_audit(settings: Settings, data: DataDir) -> AuditReport:
    from onereg.audit.cache import erx_transfers
    from onereg.audit.checks import run_audit
    from onereg.audit.parts import audit_by_parts
    from onereg.audit.view import load_view
    from onereg.cli.auditing import audit_lists

    # the lists every audit reads (cli.auditing), the ERX list parsed once per file (cached)
    erx = erx_transfers(data, settings.erx_file) if settings.erx_file else []
    lists = audit_lists(settings, erx)
    # unchanged nodes' parts reused; in full when records overlap (audit.parts)
    return audit_by_parts(
        data,
        lists.erx,
        lists.allowed,
        (settings.erx_file, settings.allowlist_file),
        lambda: run_audit(load_view(data), lists.erx, lists.allowed),
    )


@cli.command(
    epilog="Examples: onereg up; onereg --data-dir onereg-mixed up --set recent-mixed-dates"
)
@click.option(
    "--set",
    "dataset",
    default=DEFAULT_SET,
    show_default=True,
    help="Which folder of ../shared/data/delegated to load.",
)
@click.option("--download", is_flag=True, help="Fetch the newest published files first.")
@click.option("--mirror", default=None, help="Base URL of a mirror to download from.")
@click.option("--jobs", default=2, show_default=True, help="Registries imported in parallel.")
@click.pass_obj
def up(settings: Settings, dataset: str, download: bool, mirror: str | None, jobs: int) -> None:
    """Create or open all six nodes, import the real data, audit, and print a summary.

    Exits 1 when the audit finds a resource with two holders or a node's log fails
    verification (as `onereg audit` does)."""
    from onereg.cli.integrity import logs_intact
    from onereg.cli.render import imports_table, print_audit
    from onereg.federation.bootstrap import SourceSet
    from onereg.federation.layout import DataDir

    shared = settings.require_shared()
    sources = SourceSet(shared / "delegated" / dataset, shared / "iana", settings.erx_file)
    if download:
        sources = _download(settings, mirror)
    from onereg.cli.mixing import mixing_warning

    warning = mixing_warning(DataDir(settings.data_dir), sources.delegated_dir)
    if warning is not None:
        err_console.print(f"[yellow]note:[/yellow] {warning}", highlight=False)
    started = time.perf_counter()
    outcomes = _build(settings, sources, jobs)
    console.print(imports_table(outcomes))
    console.print(f"imported in {time.perf_counter() - started:.1f} s into {settings.data_dir}")
    report, seconds = _audit(settings)
    print_audit(console, report, limit=20)
    console.print(f"audit took {seconds:.2f} s; try `onereg show 193.0.0.1`")
    from onereg.federation.embedded import explorer_url

    console.print(
        "web explorer: `onereg serve` serves every node, then open "
        f"{explorer_url(RegistryId.RIPENCC)}",
        highlight=False,
    )
    intact = logs_intact(DataDir(settings.data_dir), err_console)
    if not report.ok or not intact:
        sys.exit(1)  # the federation is built, but a resource has two holders (or a bad log)


def _download(settings: Settings, mirror: str | None) -> SourceSet:
    from onereg.federation.bootstrap import SourceSet
    from onereg.federation.fetch import DEFAULT_SOURCES, download, sources_for_base

    chosen = sources_for_base(mirror) if mirror else DEFAULT_SOURCES
    target = settings.data_dir / "downloads"
    # One call, so the set is replaced as a whole or not at all (no mixed dates).
    download(chosen, target)
    return SourceSet(target, target, settings.erx_file)


@cli.command(
    "import",
    epilog="Example: onereg import ../shared/data/delegated/2018-10-13/"
    "delegated-ripencc-extended-latest ../shared/data/iana",
)
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option(
    "--node",
    "node_config",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Import into this node (its node.toml) rather than the data dir: only files of its "
    "own registry; IANA's authority comes from its verified mirror of IANA's log. Refused "
    "while the node is served.",
)
@click.pass_obj
def import_(settings: Settings, files: tuple[Path, ...], node_config: Path | None) -> None:
    """Import delegated files (plain or gzip) or a folder of IANA registry XML files."""
    from rich.progress import TaskID

    from onereg.cli.progress import bars
    from onereg.cli.render import imports_table
    from onereg.federation.importer import import_delegated_file, import_iana
    from onereg.federation.layout import DataDir
    from onereg.federation.node_config import load_config

    data, only = DataDir(settings.data_dir), None
    if node_config is not None:  # a node on its own host: its database beside its mirrors
        config = load_config(node_config)
        data, only = config.node_dir.view(), config.registry
    outcomes = []
    for path in files:
        if path.is_dir():
            if only not in (None, RegistryId.IANA):
                raise OneregError(f"{path}: IANA's registry files; this node is {only}'s")
            outcomes.append(import_iana(data, path))
            continue
        served = _served_registry(data, path) if node_config is None else None
        if served is not None:  # the node owns its database: hand it the file
            outcomes.append(_import_through(settings, served, path))
            continue
        with bars() as bar:
            task = bar.add_task(path.name[:18], total=None) if bar is not None else None

            def report(done: int, total: int, task: TaskID | None = task) -> None:
                if bar is not None and task is not None:
                    bar.update(task, completed=done, total=total)

            outcomes.append(import_delegated_file(data, path, settings.erx_file, report, only=only))
    console.print(imports_table(outcomes))


def _served_registry(data: DataDir, path: Path) -> RegistryId | None:
    """The registry a delegated file belongs to, if its node is being served right now."""
    from onereg.federation.layout import served_by
    from onereg.registry.sources.delegated import delegated_registry

    registry = delegated_registry(path)
    if registry is None or not served_by(data.node_dir(registry)):
        return None
    return registry


def _import_through(settings: Settings, registry: RegistryId, path: Path) -> ImportOutcome:
    """Upload the file (and the ERX list it is read with) to the serving node's API."""
    from onereg.cli.node_client import operator_key as load_operator_key
    from onereg.cli.node_client import operator_upload
    from onereg.federation.config import read_federation
    from onereg.federation.embedded import operator_key_path
    from onereg.federation.importer import ImportOutcome

    url = read_federation(settings.data_dir / "federation.json").node(registry).url
    key = load_operator_key(operator_key_path(settings.data_dir))
    err_console.print(f"{path.name}: the {registry} node is running; importing through its API")
    if settings.erx_file is not None:
        operator_upload(key, url, "/admin/erx", settings.erx_file.read_bytes(), "text/plain")
    answer = operator_upload(key, url, f"/admin/import?name={path.name}", path.read_bytes())
    answer["registry"] = RegistryId(answer["registry"])
    return ImportOutcome(**answer)


AS_OF = click.option(
    "--as-of",
    "as_of",
    default=None,
    metavar="DATE",
    help="The state at a past moment, replayed from each node's log up to it: an ISO date or "
    "date-time in UTC (2019-01-01, 2026-12-06T19:30:00Z).",
)
AS_OF_ENTRY = click.option(
    "--as-of-entry",
    "as_of_entry",
    default=None,
    metavar="REGISTRY:N",
    help="The state right after entry N of that registry's log (the others as they were when "
    "it was written): ripencc:1331.",
)


@cli.command(epilog="Example: onereg audit --json > audit.json")
@click.option("--json", "as_json", is_flag=True, help="Write the full report as JSON.")
@click.option("--limit", default=20, show_default=True, help="Rows per table.")
@NODE_VIEW
@AS_OF
@AS_OF_ENTRY
@click.pass_obj
def audit(
    settings: Settings,
    as_json: bool,
    limit: int,
    node_config: Path | None,
    as_of: str | None,
    as_of_entry: str | None,
) -> None:
    """Check uniqueness and authority across every node; exit 1 on any conflict or when a
    node's log fails verification (its records cannot be trusted then).

    With --as-of, the audit of the federation as it was then (the logs are still verified
    whole)."""
    from onereg.audit import output

    started = time.perf_counter()
    header = None
    if node_config is None and as_of is None and as_of_entry is None:
        how = output.printing(as_json, limit, sys.stdout)
        header = output.output_header(
            settings.data_dir, settings.erx_file, settings.allowlist_file, how
        )
        status = output.replay(header, settings.data_dir, sys.stdout, _since(started))
        if status is not None:  # the same nodes, lists, code and printing as a run before
            sys.exit(status)
    _audit_afresh(settings, as_json, limit, node_config, as_of, as_of_entry, header, started)


def _since(started: float) -> float:
    return time.perf_counter() - started


def _audit_afresh(
    settings: Settings,
    as_json: bool,
    limit: int,
    node_config: Path | None,
    as_of: str | None,
    as_of_entry: str | None,
    header: dict[str, object] | None,
    started: float,
) -> None:
    """Audit, print, and keep the output for the next run on the same nodes (`audit.output`;
    only when every log was intact, so that a replayed output stands for a verified one)."""
    from onereg.audit import output
    from onereg.cli.integrity import logs_intact
    from onereg.cli.render import print_audit

    data = _federation(settings, node_config)
    report, _ = _audit(settings, _past(data, as_of, as_of_entry))
    tail = ""
    if as_json:
        text = json.dumps(report.to_dict(), indent=1) + "\n"
    else:
        with console.capture() as captured:
            print_audit(console, report, limit)
        text = captured.get()
    sys.stdout.write(text)
    if not as_json:
        seconds = f"{_since(started):.2f}"
        with console.capture() as captured:
            console.print(f"audit took {seconds} s")
        tail = captured.get()
        sys.stdout.write(tail)
        tail = tail.replace(seconds, output.SECONDS, 1)
    sys.stdout.flush()
    intact = logs_intact(data, err_console)
    status = 0 if report.ok else 1
    if intact:
        output.remember(header, settings.data_dir, text, tail, status)
    if not report.ok or not intact:
        sys.exit(1)


@cli.command(
    epilog="Examples: onereg show 193.0.0.1; onereg show AS3333; onereg show 2001:db8::/32"
)
@click.argument("resource")
@NODE_VIEW
@AS_OF
@AS_OF_ENTRY
@click.pass_obj
def show(
    settings: Settings,
    resource: str,
    node_config: Path | None,
    as_of: str | None,
    as_of_entry: str | None,
) -> None:
    """Show the holder of RESOURCE and the chain IANA -> registry -> holder.

    With --as-of, as they were at that moment (from the logs): onereg show 193.0.1.0/24
    --as-of 2026-12-01T12:00:00Z"""
    from onereg.cli.render import print_lookup
    from onereg.core.resources import Resource
    from onereg.federation.lookup import lookup

    data = _federation(settings, node_config)
    res = Resource.parse(resource)
    print_lookup(console, lookup(_past(data, as_of, as_of_entry, res), res))


def _past(
    data: DataDir, as_of: str | None, as_of_entry: str | None, within: Resource | None = None
) -> DataDir:
    """`data`, or its state at the moment `--as-of` or `--as-of-entry` names (said on stderr,
    node by node); `within`: only what a lookup of that resource reads is replayed."""
    if as_of is None and as_of_entry is None:
        return data
    from onereg.federation.asof import MomentError, PastDataDir, parse_moment

    if as_of is not None and as_of_entry is not None:
        raise MomentError("--as-of and --as-of-entry: give one or the other")
    if as_of_entry is not None:
        name, _, number = as_of_entry.partition(":")
        if name not in {r.value for r in ALL_REGISTRIES} or not number.isdigit():
            raise MomentError(
                f"--as-of-entry: {as_of_entry!r} is not REGISTRY:N (a registry of "
                f"{', '.join(r.value for r in ALL_REGISTRIES)} and an entry number)"
            )
        past = PastDataDir.at_entry(data, RegistryId(name), int(number), within)
    else:
        past = PastDataDir.of(data, parse_moment(str(as_of), "--as-of"), within)
    for moment in past.moments().values():
        err_console.print(f"[yellow]as of:[/yellow] {moment.describe()}", highlight=False)
    return past


STDOUT_OR_FILE = click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="File to write (default: standard output).",
)


@cli.group()
def export() -> None:
    """Write statistics files from the nodes' state."""


@export.command(
    "delegated", epilog="Example: onereg export delegated --registry ripencc -o ripencc.txt"
)
@click.option("--registry", type=REGISTRY_CHOICE, required=True, help="Whose records.")
@STDOUT_OR_FILE
@click.pass_obj
def export_delegated_cmd(settings: Settings, registry: str, output: Path | None) -> None:
    """A delegated-extended file of one registry."""
    from onereg.federation.layout import DataDir
    from onereg.registry.export import export_delegated

    with DataDir(settings.data_dir).read(RegistryId(registry)) as node:
        _write_lines(export_delegated(node), output)


@export.command(
    "transfers", epilog="Example: onereg export transfers --registry ripencc -o transfers.json"
)
@click.option("--registry", type=REGISTRY_CHOICE, required=True, help="Whose records.")
@STDOUT_OR_FILE
@click.pass_obj
def export_transfers_cmd(settings: Settings, registry: str, output: Path | None) -> None:
    """The registry's transfers as an NRO transfers_latest.json (checked against the schema)."""
    from onereg.federation.layout import DataDir
    from onereg.registry.export import export_transfers, transfer_log_problems

    with DataDir(settings.data_dir).read(RegistryId(registry)) as node:
        document = export_transfers(node)
    problems = transfer_log_problems(document)
    if problems:  # a defect of ours, not of the input: say so rather than publish it
        raise OneregError("transfer log fails the NRO schema: " + "; ".join(problems[:5]))
    _write_lines([json.dumps(document, indent=1)], output)


@export.command("nro", epilog="Example: onereg export nro -o combined.txt")
@STDOUT_OR_FILE
@click.pass_obj
def export_nro_cmd(settings: Settings, output: Path | None) -> None:
    """The combined NRO-style file over all registries."""
    from onereg.audit.nro import export_nro
    from onereg.audit.view import load_view
    from onereg.cli.progress import steps
    from onereg.federation.layout import DataDir

    with steps("export nro", 2) as advance:
        advance("reading the nodes")
        view = load_view(DataDir(settings.data_dir), details=True)
        advance("writing")
        _write_lines(export_nro(view), output)


def _write_lines(lines: Iterable[str], output: Path | None) -> None:
    text = "".join(f"{line}\n" for line in lines)
    if output is None:
        sys.stdout.write(text)
        return
    try:
        output.write_text(text)
    except OSError as exc:  # write() errors carry no file name: give it
        exc.filename = exc.filename or str(output)
        raise OneregError(describe_os_error(exc)) from None
    err_console.print(f"wrote {output}")


@cli.group(cls=LazyGroup)
def node() -> None:
    """Maintenance of individual nodes."""


@node.command(epilog="Example: onereg node rebuild --registry ripencc")
@click.option("--registry", type=REGISTRY_CHOICE, default=None, help="Default: every node.")
@click.pass_obj
def rebuild(settings: Settings, registry: str | None) -> None:
    """Drop the projections and replay the log; prints the state digest before and after.

    The log is verified first (chain, tree, the node's own signed checkpoints): a tampered
    log is not replayed (exit 1, nothing changed). A projection that differed from the replay
    is repaired and reported (exit 1)."""
    from onereg.cli.integrity import check, present, print_report
    from onereg.federation.layout import DataDir

    data = DataDir(settings.data_dir)
    failed = False
    for rid in present(data, registry):
        with data.open_for_write(rid) as n:
            report = check(data, n, replay=False)
            if not report.ok:
                print_report(console, rid, report)
                console.print(f"{rid.value:<8} log fails verification: not replayed")
                failed = True
                continue
            before = n.table_digests()
            started = time.perf_counter()
            entries = n.rebuild()
            after = n.table_digests()
            digest = n.state_digest()
        differ = [t for t in before if before[t] != after[t]]
        same = "identical" if not differ else "DIFFERENT (repaired: " + ", ".join(differ) + ")"
        console.print(
            f"{rid.value:<8} replayed {entries:,} entries in "
            f"{time.perf_counter() - started:.1f} s; state {same} ({digest[:16]})"
        )
        failed = failed or bool(differ)
    if failed:
        sys.exit(1)


@node.command("rotate-key", epilog="Example: onereg node rotate-key --registry ripencc")
@click.option("--registry", type=REGISTRY_CHOICE, required=True, help="Whose log key.")
@click.pass_obj
def rotate_key(settings: Settings, registry: str) -> None:
    """Replace the node's log key; the rotation is recorded in its log and signed by the old
    key, and the witnesses learn the new key from the log. A running node does it itself."""
    from onereg.cli.node_client import operator_key as load_operator_key
    from onereg.cli.node_client import operator_post
    from onereg.federation.config import read_federation
    from onereg.federation.embedded import operator_key_path
    from onereg.federation.layout import DataDir, NodeDir, served_by
    from onereg.registry.checkpoints import rotate_key_of

    rid = RegistryId(registry)
    data = DataDir(settings.data_dir)
    if served_by(data.node_dir(rid)):
        url = read_federation(settings.data_dir / "federation.json").node(rid).url
        key = load_operator_key(operator_key_path(settings.data_dir))
        answer = operator_post(key, url, "/admin/rotate-key")
        console.print(
            f"{rid.value}: key {answer['retired']} retired, {answer['in_use']} in use; "
            f"checkpoint {answer['size']:,} cosigned by {', '.join(answer['cosigned_by'])}"
        )
        return
    with data.open_for_write(rid) as n:
        old, new = rotate_key_of(n, NodeDir(data.node_dir(rid), rid).log_key)
    console.print(f"{rid.value}: key {old} retired, {new} in use (rotation in the log)")


@node.command(epilog="Example: onereg node verify --registry ripencc")
@click.option("--registry", type=REGISTRY_CHOICE, default=None, help="Default: every node.")
@click.option(
    "--node",
    "node_config",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Check this node (its node.toml) on its own host instead of the data dir's.",
)
@click.pass_obj
def verify(settings: Settings, registry: str | None, node_config: Path | None) -> None:
    """Check every node read-only: each entry's hash and link, the Merkle tree, the log
    against every checkpoint the node signed (a shorter log is a rollback), the projection
    against a replay. Lists every problem; exit 1 if there is any."""
    from onereg.cli.integrity import present, verify_nodes
    from onereg.cli.progress import steps
    from onereg.federation.layout import DataDir
    from onereg.federation.node_config import load_config

    data = DataDir(settings.data_dir)
    if node_config is not None:
        config = load_config(node_config)
        data, registry = config.node_dir.view(), config.registry.value
    nodes = present(data, registry)
    with steps("verify", len(nodes)) as advance:
        intact = verify_nodes(data, nodes, console, advance=advance)
    if not intact:
        sys.exit(1)


@cli.command(
    epilog="Examples: onereg serve &   (the six nodes of the data dir, HTTP on 8440-8445); "
    "onereg serve --config /var/lib/onereg/node.toml"
)
@click.option(
    "--config",
    "config_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Serve exactly the one node this node.toml describes (production).",
)
@click.option(
    "--base-port",
    default=DEFAULT_BASE_PORT,
    show_default=True,
    help="Embedded set-up: node n serves HTTP on base+n, whois on base+100+n, RTR on base+200+n.",
)
@click.option(
    "--only",
    type=REGISTRY_CHOICE,
    default=None,
    help="Embedded set-up: serve just this node of the data dir (configured by an earlier "
    "`onereg serve`), in this process.",
)
@click.option(
    "--fault-plan",
    type=click.Path(exists=True, path_type=Path),
    default=None,
    hidden=True,
    help="Testing only: JSON {probability, seed, points} of protocol points to crash at.",
)
@click.pass_obj
def serve(
    settings: Settings,
    config_file: Path | None,
    base_port: int,
    only: str | None,
    fault_plan: Path | None,
) -> None:
    """Serve nodes: one with --config; else the six of the data dir, each in its own
    supervised process with its own directory (`<data-dir>/nodes/<registry>/`)."""
    from onereg.cli.serve import run_node, serve_all
    from onereg.federation.embedded import config_path, ensure_local_nodes
    from onereg.federation.faults import FaultPlan
    from onereg.federation.node_config import load_config

    faults = FaultPlan.from_json(fault_plan.read_text()) if fault_plan else None
    if only is not None:  # its config was written by an earlier `onereg serve`
        config_file = config_path(settings.data_dir, RegistryId(only))
    if config_file is not None:
        run_node(load_config(config_file), faults)
        return
    configs = ensure_local_nodes(settings.data_dir, base_port)
    console.print(f"federation file and policy: {settings.data_dir}/federation.json, policy.txt")
    serve_all(configs, console)


@cli.command("publish", epilog="Example: onereg publish   (while `onereg serve` runs)")
@click.option(
    "--operator-key",
    type=click.Path(exists=True, path_type=Path),
    default=None,
    help="Operator key file (default: <data-dir>/operator.key, the embedded set-up's).",
)
@click.pass_obj
def publish_cmd(settings: Settings, operator_key: Path | None) -> None:
    """Each node signs a checkpoint now and gets it cosigned by the others (nodes also do this
    by themselves when their log grows)."""
    from onereg.cli.node_client import operator_key as load_operator_key
    from onereg.cli.serve import publish_all
    from onereg.federation.config import read_config
    from onereg.federation.embedded import operator_key_path

    key = load_operator_key(operator_key or operator_key_path(settings.data_dir))
    publish_all(read_config(settings.data_dir / "federation.json"), key, console)


@cli.command(
    "verify", epilog="Example: onereg verify --state-dir onereg-verify   (while nodes serve)"
)
@click.option(
    "--federation",
    "config",
    type=click.Path(exists=True, path_type=Path),
    default=None,
    help="federation.json (default: in the data dir)",
)
@click.option(
    "--policy",
    "policy_file",
    type=click.Path(exists=True, path_type=Path),
    default=None,
    help="policy.txt (default: in the data dir)",
)
@click.option(
    "--state-dir",
    type=click.Path(path_type=Path),
    default=Path("onereg-verify"),
    show_default=True,
    help="Where the verifier keeps its own mirror.",
)
@click.pass_obj
def verify_cmd(
    settings: Settings, config: Path | None, policy_file: Path | None, state_dir: Path
) -> None:
    """Rebuild the federation from the published logs alone and audit it."""
    from onereg.cli.auditing import audit_lists
    from onereg.cli.serve import exit_with, verify_federation

    exit_with(
        verify_federation(
            config or settings.data_dir / "federation.json",
            policy_file or settings.data_dir / "policy.txt",
            state_dir,
            console,
            audit_lists(settings),
        )
    )


@cli.command(
    "verify-evidence",
    epilog="Example: onereg verify-evidence onereg-verify/evidence/arin-10-12.json "
    "--policy onereg-data/policy.txt",
)
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--policy",
    "policy_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    required=True,
    help="The federation's policy.txt (logs, keys, witnesses, quorum).",
)
def verify_evidence_cmd(file: Path, policy_file: Path) -> None:
    """Check an evidence file `onereg verify` wrote (into <state-dir>/evidence/) when a log
    showed two trees for one size or shrank: both checkpoints signed by the log, and in
    conflict. Offline: needs the policy file only."""
    from onereg.cli.serve import exit_with, verify_evidence

    exit_with(verify_evidence(file, policy_file, console))


@cli.command(epilog="Example: onereg prove 193.0.0.1 -o 193.0.0.1.proof")
@click.argument("resource")
@click.option(
    "--registry",
    type=REGISTRY_CHOICE,
    default=None,
    help="Node to prove against (default: the one that holds it, else IANA's choice).",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Proof file to write (default: <data-dir>/proofs/RESOURCE.REGISTRY.proof).",
)
@NODE_VIEW
@click.pass_obj
def prove(
    settings: Settings,
    resource: str,
    registry: str | None,
    output: Path | None,
    node_config: Path | None,
) -> None:
    """Write an offline proof that RESOURCE is held (or free) under the latest cosigned
    checkpoint (run `onereg publish` first). With --node, from that node's own database
    (or, for another registry, its verified mirror of that registry's log)."""
    from onereg.core.resources import Resource
    from onereg.federation.proofs import build_proof

    res = Resource.parse(resource)
    data = _federation(settings, node_config)
    text, rid = build_proof(data, res, RegistryId(registry) if registry else None)
    name = f"{str(res).replace('/', '_')}.{rid.value}.proof"
    target = output or private_dir(settings.data_dir / "proofs") / name  # not the cwd
    target.write_text(text)
    console.print(f"wrote {target}")


@cli.command(
    "verify-proof",
    epilog="Example: onereg verify-proof 193.0.0.1.proof --policy onereg-data/policy.txt",
)
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--policy",
    "policy_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    required=True,
    help="The federation's policy.txt (logs, keys, witnesses, quorum).",
)
@click.option("--resource", default=None, help="Fail unless the proof is about this resource.")
def verify_proof_cmd(file: Path, policy_file: Path, resource: str | None) -> None:
    """Check a proof file offline: no network, no database."""
    from onereg.core.resources import Resource
    from onereg.federation.proofs import verify_proof_file
    from onereg.ledger.policy import Policy

    result = verify_proof_file(
        file.read_bytes(),
        Policy.parse(policy_file.read_text()),
        expected=Resource.parse(resource) if resource else None,
    )
    console.print(f"[green]valid[/green]: {result.describe()}")


# Subcommands defined in modules of their own, imported only when they run (cli.lazy). Each
# text is the command's first sentence; tests/test_cli_startup.py checks it against the command.
LAZY_COMMANDS = {
    "holder": (
        "onereg.cli.transfers:holder",
        "Holder keys (a holder signs transfer agreements with them).",
    ),
    "federation": ("onereg.cli.nodes:federation", "The federation file the operators exchange."),
    "agreement": (
        "onereg.cli.transfers:agreement",
        "Transfer agreements: draft, see which evidence the policies ask for, sign.",
    ),
    "transfer": (
        "onereg.cli.transfers:transfer",
        "Execute a signed agreement: inside one registry directly (one log entry), between "
        "registries by submitting it to the source registry's node (`onereg serve` must run).",
    ),
    "rpki": ("onereg.cli.rpki:rpki", "RPKI: each registry's CA and our relying party."),
    "rov": (
        "onereg.cli.rov:rov",
        "Validate the origins of routes (RouteViews/RIS tables, bgpdump -m text, MRT) against "
        "VRPs; a summary table, and per-route CSV or JSON with the VRPs that decided each.",
    ),
    "rtr": ("onereg.cli.rtr:rtr", "The RPKI-to-Router cache."),
}
LAZY_NODE_COMMANDS = {
    "init": (
        "onereg.cli.nodes:node_init",
        "Create a node's own directory (mode 0700): database, its log and node keys (0600), "
        "and node.toml.",
    ),
    "describe": (
        "onereg.cli.nodes:node_describe",
        "Print the node's public description (JSON): what the other operators need.",
    ),
}
add_lazy(cli, LAZY_COMMANDS)
add_lazy(node, LAZY_NODE_COMMANDS)


def main() -> None:
    try:
        cli(standalone_mode=True)
    except OneregError as exc:
        err_console.print(f"[red]error:[/red] {exc}", highlight=False)
        sys.exit(2)
    except OSError as exc:  # a full or read-only disk, permissions: one line naming the file
        err_console.print(f"[red]error:[/red] {describe_os_error(exc)}", highlight=False)
        sys.exit(2)
    except sqlite3.Error as exc:  # one not met where a node file is known: still no traceback
        err_console.print(f"[red]error:[/red] database: {exc}", highlight=False)
        sys.exit(2)


def describe_os_error(exc: OSError) -> str:
    where = exc.filename if exc.filename is not None else "a file"
    hints = {
        errno.ENOSPC: "the disk is full; free space and run the command again",
        errno.EDQUOT: "the disk quota is used up",
        errno.EFBIG: "the file grew past the allowed size",
        errno.EROFS: "the file system is read-only; this command needs to write",
        errno.EACCES: "permission denied",
    }
    return f"{where}: {hints.get(exc.errno or 0, exc.strerror or str(exc))}"


if __name__ == "__main__":
    main()
