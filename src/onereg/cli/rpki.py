"""`onereg rpki ...`: each registry's CA (hosted ROAs for its holders, publication) and our
relying party (validate a repository, show one object)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from onereg.cli.settings import Settings
from onereg.core.errors import OneregError
from onereg.core.registries import RIRS, RegistryId
from onereg.federation.layout import DataDir, NodeDir
from onereg.registry.interrir import transfers_in
from onereg.registry.transfers import SOURCE_FINALIZED
from onereg.rpki.ca import RegistryCa, RepositoryUris
from onereg.rpki.fetch import Prefer, fetch_and_validate
from onereg.rpki.objects import RoaPrefix
from onereg.rpki.publish import Publisher, publish_cas
from onereg.rpki.show import show
from onereg.rpki.transfers import Phase, apply_transfer, phase
from onereg.rpki.validate import validate
from onereg.rpki.vrp import to_csv, to_json

console = Console()
RIR_CHOICE = click.Choice([r.value for r in RIRS])
DEFAULT_RSYNC = "rsync://127.0.0.1:8873/"
DEFAULT_RRDP = "https://127.0.0.1:8443/rrdp/"
# One publication server carries every registry's repository (one RRDP session), as RFC 8181
# publication servers host many CAs; a change at one registry republishes only its files.
ALL = [r.value for r in RIRS]


def rpki_root(data_dir: Path) -> Path:
    return data_dir / "rpki"


def _has_delegations(data: DataDir, rid: RegistryId) -> bool:
    """A registry with nothing delegated yet has no CA to publish (a node just initialised)."""
    if not data.exists(rid):
        return False
    with data.read(rid) as node:
        return node.conn.execute("SELECT 1 FROM delegations LIMIT 1").fetchone() is not None


@contextmanager
def open_ca(settings: Settings, registry: str, rsync: str, rrdp: str) -> Iterator[RegistryCa]:
    """The registry's CA, its state (keys mode 0600) under <data-dir>/rpki/ca/<registry>."""
    rid = RegistryId(registry)
    uris = RepositoryUris(rsync, rrdp.rstrip("/") + "/notification.xml")
    data = DataDir(settings.data_dir)
    with data.open_for_write(rid) as node:
        ca = RegistryCa.open(node, NodeDir(data.node_dir(rid), rid).rpki_ca, uris)
        try:
            yield ca
        finally:
            ca.close()


def _publish(
    settings: Settings, registries: list[str], rsync: str, rrdp: str, only_these: bool = False
) -> None:
    data = DataDir(settings.data_dir)
    publisher = Publisher(rpki_root(settings.data_dir) / "pub", rsync, rrdp)
    table = Table(title="RPKI publication", title_justify="left")
    for col in ("registry", "holder CAs", "ROAs", "manifest / CRL number"):
        table.add_column(col)
    with ExitStack() as stack:
        cas = [
            stack.enter_context(open_ca(settings, registry, rsync, rrdp))
            for registry in registries
            if _has_delegations(data, RegistryId(registry))
        ]
        for ca in cas:
            ca.sync()
        _follow_transfers(cas)
        publication = publish_cas(publisher, cas, only_these)
        for ca in cas:
            mft, crl = ca.numbers()
            table.add_row(
                ca.registry.value, str(len(ca.enrolled())), str(len(ca.roas())), f"{mft} / {crl}"
            )
    console.print(table)
    console.print(
        f"RRDP session {publication.session_id} serial {publication.serial}; rsync tree in "
        f"{publisher.rsync_dir}, TALs in {publisher.root / 'tals'}"
    )


def _follow_transfers(cas: list[RegistryCa]) -> None:
    """Move inter-registry transfers through RPKI make-before-break (`rpki.transfers`): each
    publication runs whatever step is due, until the source lets go of the block."""
    by_registry = {ca.registry.value: ca for ca in cas}
    now = datetime.now(UTC)
    for source in cas:
        for t in transfers_in(source.node, SOURCE_FINALIZED):
            recipient = by_registry.get(t.counterpart)
            if t.role != "source" or recipient is None:
                continue
            if phase(source, recipient, t.id) is not Phase.SETTLED:
                apply_transfer(source, recipient, t.id, now)


@click.group()
def rpki() -> None:
    """RPKI: each registry's CA and our relying party."""


RSYNC_OPTION = click.option(
    "--rsync-base", default=DEFAULT_RSYNC, show_default=True, help="rsync URI of the repository"
)
RRDP_OPTION = click.option(
    "--rrdp-base", default=DEFAULT_RRDP, show_default=True, help="https URI of the RRDP files"
)


@rpki.command("publish", epilog="Example: onereg rpki publish")
@RSYNC_OPTION
@RRDP_OPTION
@click.pass_obj
def publish_cmd(settings: Settings, rsync_base: str, rrdp_base: str) -> None:
    """Bring every registry's CA up to date with its node and publish (rsync tree + RRDP)."""
    _publish(settings, ALL, rsync_base, rrdp_base)


@rpki.group()
def roa() -> None:
    """ROAs a holder asks its registry to issue (hosted model)."""


@roa.command(
    "add",
    epilog="Example: onereg rpki roa add --registry ripencc "
    "--holder 2971c08b-2b8e-49f9-a938-fe3a9f8348be --asn 3333 193.0.0.0/20-24",
)
@click.option("--registry", type=RIR_CHOICE, required=True, help="The holder's registry.")
@click.option("--holder", required=True, help="The holder's handle in that registry.")
@click.option("--asn", type=int, required=True, help="The AS number allowed to originate.")
@click.argument("prefixes", nargs=-1, required=True)
@RSYNC_OPTION
@RRDP_OPTION
@click.pass_obj
def roa_add(
    settings: Settings,
    registry: str,
    holder: str,
    asn: int,
    prefixes: tuple[str, ...],
    rsync_base: str,
    rrdp_base: str,
) -> None:
    """Issue a ROA (PREFIX or PREFIX-MAXLEN) for a holder's space, then publish."""
    try:
        wanted = [RoaPrefix.parse(p) for p in prefixes]
    except ValueError as exc:
        raise OneregError(f"bad ROA prefix: {exc}") from None
    with open_ca(settings, registry, rsync_base, rrdp_base) as ca:
        if holder not in ca.enrolled():
            ca.enroll(holder)
        name = ca.add_roa(holder, asn, wanted)
    console.print(f"{registry}: ROA {name} for AS{asn} issued to {holder}")
    _publish(settings, [registry], rsync_base, rrdp_base, only_these=True)


@roa.command("list", epilog="Example: onereg rpki roa list --registry ripencc")
@click.option("--registry", type=RIR_CHOICE, required=True, help="Whose CA.")
@click.option("--holder", default=None, help="Only this holder's ROAs (default: all).")
@RSYNC_OPTION
@RRDP_OPTION
@click.pass_obj
def roa_list(
    settings: Settings, registry: str, holder: str | None, rsync_base: str, rrdp_base: str
) -> None:
    """List the ROAs a registry's CA has issued."""
    with open_ca(settings, registry, rsync_base, rrdp_base) as ca:
        records = ca.roas(holder)
    table = Table(title=f"ROAs at {registry}", title_justify="left")
    for col in ("holder", "file", "AS", "prefixes"):
        table.add_column(col)
    for r in records:
        table.add_row(r.holder, r.file, str(r.asn), " ".join(str(p) for p in r.prefixes))
    console.print(table)


@roa.command(
    "remove",
    epilog="Example: onereg rpki roa remove --registry ripencc --holder HANDLE FILE.roa "
    "(FILE as `roa list` names it)",
)
@click.option("--registry", type=RIR_CHOICE, required=True, help="Whose CA.")
@click.option("--holder", required=True, help="The holder whose ROA it is.")
@click.argument("file")
@RSYNC_OPTION
@RRDP_OPTION
@click.pass_obj
def roa_remove(
    settings: Settings, registry: str, holder: str, file: str, rsync_base: str, rrdp_base: str
) -> None:
    """Revoke a holder's ROA and publish."""
    with open_ca(settings, registry, rsync_base, rrdp_base) as ca:
        if not ca.remove_roa(holder, file):
            raise OneregError(f"{holder} has no ROA {file} at {registry}")
    console.print(f"{registry}: ROA {file} of {holder} revoked")
    _publish(settings, [registry], rsync_base, rrdp_base, only_these=True)


@rpki.command("show", epilog="Example: onereg rpki show FILE.roa")
@click.argument("file", type=click.Path(exists=True, path_type=Path))
def show_cmd(file: Path) -> None:
    """Decode one RPKI object and print it (like `rpki-client -f`)."""
    for line in show(file):
        click.echo(line)


@rpki.command(
    "validate",
    epilog="Example: onereg rpki validate --tal onereg-data/rpki/pub/tals/ripencc.tal "
    "--json vrps.json",
)
@click.option(
    "--tal",
    "tals",
    type=click.Path(exists=True, path_type=Path),
    multiple=True,
    required=True,
    help="Trust anchor locator (repeat for several).",
)
@click.option(
    "--repo",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="Validate a mirror directory (rsync://host/module/path is DIR/host/module/path) "
    "instead of fetching.",
)
@click.option(
    "--cache",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("rpki-cache"),
    show_default=True,
    help="Where fetched repositories are kept between runs (RRDP deltas need it).",
)
@click.option(
    "--prefer",
    type=click.Choice(["rrdp", "rsync"]),
    default="rrdp",
    show_default=True,
    help="Protocol tried first when fetching.",
)
@click.option(
    "--ca-bundle",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="CA certificates for RRDP over https (e.g. a lab's private CA).",
)
@click.option("--as-of", default=None, help="Validate as of this RFC 3339 time (default: now).")
@click.option(
    "--json",
    "json_out",
    type=click.Path(path_type=Path),
    default=None,
    help="Write the VRPs as rpki-client JSON.",
)
@click.option(
    "--csv", "csv_out", type=click.Path(path_type=Path), default=None, help="Write the VRPs as CSV."
)
@click.option(
    "--show-rejections", default=20, show_default=True, help="Rejected objects to list."
)
def validate_cmd(
    tals: tuple[Path, ...],
    repo: Path | None,
    cache: Path,
    prefer: str,
    ca_bundle: Path | None,
    as_of: str | None,
    json_out: Path | None,
    csv_out: Path | None,
    show_rejections: int,
) -> None:
    """Fetch (RRDP, else rsync) and validate the repositories of the TALs; write VRPs as
    rpki-client's JSON and CSV. Every rejected object is listed with its reason."""
    when = datetime.fromisoformat(as_of.replace("Z", "+00:00")) if as_of else None
    if when is not None and when.tzinfo is None:
        raise OneregError(f"--as-of {as_of!r} needs a time zone (e.g. Z)")
    if repo is not None:
        result = validate(list(tals), repo, when)
    else:
        mode: Prefer = "rsync" if prefer == "rsync" else "rrdp"
        result = fetch_and_validate(list(tals), cache, when, mode, ca_bundle)
    if json_out:
        json_out.write_bytes(to_json(result))
    if csv_out:
        csv_out.write_text(to_csv(result.vrps))
    title = f"Validation as of {result.as_of:%Y-%m-%dT%H:%M:%SZ}"
    table = Table(title=title, title_justify="left")
    table.add_column("measure")
    table.add_column("count", justify="right")
    table.add_row("VRPs", f"{len(result.vrps):,}")
    for name, count in sorted(result.counts.items()):
        table.add_row(name, f"{count:,}")
    table.add_row("rejections", f"{len(result.rejections):,}")
    console.print(table)
    for rejection in result.rejections[:show_rejections]:
        console.print(f"[red]rejected[/red] {rejection.uri}: {rejection.reason}")
