"""`onereg rpki ...`: each registry's CA (hosted ROAs for its holders, publication) and our
relying party (validate a repository, show one object)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.console import Console

from onereg.cli.progress import steps
from onereg.cli.settings import Settings
from onereg.core.errors import OneregError
from onereg.core.registries import RIRS, RegistryId

if TYPE_CHECKING:  # the CA, the validator and their crypto load only for the command that runs
    from onereg.federation.layout import DataDir
    from onereg.rpki.ca import RegistryCa
    from onereg.rpki.validate import ValidationResult

console = Console()
RIR_CHOICE = click.Choice([r.value for r in RIRS])
DEFAULT_RSYNC = "rsync://127.0.0.1:8873/"
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


@dataclass(frozen=True)
class Repository:
    """Where a registry's repository is reachable: the URIs its certificates carry must be what
    is actually served, or relying parties log errors about us (TLS on a plain-HTTP port)."""

    rsync: str
    notify: str | None  # RRDP notification URI in the certificates; None: rsync only
    served: str  # base of the URIs inside the RRDP files (where a node serves /rrdp/)


def repository(
    settings: Settings, registry: str, rsync: str | None, rrdp: str | None
) -> Repository:
    """The options if given, else what the registry's node config says (`[rpki]`, its public
    URL), so that the CLI and `onereg serve` publish the same URIs."""
    from onereg.federation.layout import DataDir, NodeDir
    from onereg.federation.node_config import load_config

    rid = RegistryId(registry)
    data = DataDir(settings.data_dir)
    config_file = NodeDir(data.node_dir(rid), rid).config_path
    config = load_config(config_file) if config_file.exists() else None
    if rrdp is not None and not rrdp.startswith("https://"):
        raise OneregError(f"--rrdp-base {rrdp!r}: RRDP is served over https only (RFC 8182)")
    base = rsync or (config.rsync_base if config is not None else DEFAULT_RSYNC)
    if rrdp is not None:
        return Repository(base, rrdp.rstrip("/") + "/notification.xml", rrdp)
    if config is not None:
        return Repository(base, config.rrdp_notify, config.rrdp_served)
    return Repository(base, None, "")


@contextmanager
def open_ca(settings: Settings, registry: str, repo: Repository) -> Iterator[RegistryCa]:
    """The registry's CA, its state (keys mode 0600) under <data-dir>/rpki/ca/<registry>."""
    from onereg.federation.layout import DataDir, NodeDir
    from onereg.rpki.ca import RegistryCa, RepositoryUris

    rid = RegistryId(registry)
    uris = RepositoryUris(repo.rsync, repo.notify)
    data = DataDir(settings.data_dir)
    with data.open_for_write(rid) as node:
        ca = RegistryCa.open(node, NodeDir(data.node_dir(rid), rid).rpki_ca, uris)
        try:
            yield ca
        finally:
            ca.close()


def _publish(
    settings: Settings,
    registries: list[str],
    rsync: str | None,
    rrdp: str | None,
    only_these: bool = False,
) -> None:
    from rich.table import Table

    from onereg.federation.layout import DataDir
    from onereg.rpki.publish import Publisher, publish_cas

    data = DataDir(settings.data_dir)
    present = [r for r in registries if _has_delegations(data, RegistryId(r))]
    repos = {r: repository(settings, r, rsync, rrdp) for r in present}
    first = repos[present[0]] if present else repository(settings, registries[0], rsync, rrdp)
    publisher = Publisher(rpki_root(settings.data_dir) / "pub", first.rsync, first.served)
    table = Table(title="RPKI publication", title_justify="left")
    for col in ("registry", "holder CAs", "ROAs", "manifest / CRL number"):
        table.add_column(col)
    with ExitStack() as stack:
        advance = stack.enter_context(steps("rpki publish", len(registries) + 2))
        cas = [
            stack.enter_context(open_ca(settings, registry, repos[registry]))
            for registry in present
        ]
        for ca in cas:
            advance(f"syncing {ca.registry.value}")
            ca.sync()
        advance("transfers")
        _follow_transfers(cas)
        advance("publishing")
        publication = publish_cas(publisher, cas, only_these)
        for ca in cas:
            mft, crl = ca.numbers()
            table.add_row(
                ca.registry.value, str(len(ca.enrolled())), str(len(ca.roas())), f"{mft} / {crl}"
            )
    console.print(table)
    state = "published" if publication.changed else "nothing changed, still"
    console.print(
        f"{state} RRDP session {publication.session_id} serial {publication.serial}; rsync "
        f"tree in {publisher.rsync_dir}, TALs in {publisher.root / 'tals'}",
        soft_wrap=True,
    )


def _follow_transfers(cas: list[RegistryCa]) -> None:
    """Move inter-registry transfers through RPKI make-before-break (`rpki.transfers`): each
    publication runs whatever step is due, until the source lets go of the block."""
    from onereg.registry.interrir import transfers_in
    from onereg.registry.transfers import SOURCE_FINALIZED
    from onereg.rpki.transfers import Phase, apply_transfer, phase

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
    "--rsync-base",
    default=None,
    help="rsync URI of the repository (default: the node config's [rpki] rsync_base, else "
    f"{DEFAULT_RSYNC})",
)
RRDP_OPTION = click.option(
    "--rrdp-base",
    default=None,
    help="https URI the RRDP files are served at, put in the certificates (default: the node's "
    "public URL + /rrdp/ when it is https; otherwise none, and relying parties use rsync)",
)


@rpki.command("publish", epilog="Example: onereg rpki publish")
@RSYNC_OPTION
@RRDP_OPTION
@click.pass_obj
def publish_cmd(settings: Settings, rsync_base: str | None, rrdp_base: str | None) -> None:
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
    rsync_base: str | None,
    rrdp_base: str | None,
) -> None:
    """Issue a ROA (PREFIX or PREFIX-MAXLEN) for a holder's space, then publish."""
    from onereg.rpki.objects import RoaPrefix

    try:
        wanted = [RoaPrefix.parse(p) for p in prefixes]
    except ValueError as exc:
        raise OneregError(f"bad ROA prefix: {exc}") from None
    with open_ca(settings, registry, repository(settings, registry, rsync_base, rrdp_base)) as ca:
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
    settings: Settings,
    registry: str,
    holder: str | None,
    rsync_base: str | None,
    rrdp_base: str | None,
) -> None:
    """List the ROAs a registry's CA has issued."""
    from rich.table import Table

    with open_ca(settings, registry, repository(settings, registry, rsync_base, rrdp_base)) as ca:
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
    settings: Settings,
    registry: str,
    holder: str,
    file: str,
    rsync_base: str | None,
    rrdp_base: str | None,
) -> None:
    """Revoke a holder's ROA and publish."""
    with open_ca(settings, registry, repository(settings, registry, rsync_base, rrdp_base)) as ca:
        if not ca.remove_roa(holder, file):
            raise OneregError(f"{holder} has no ROA {file} at {registry}")
    console.print(f"{registry}: ROA {file} of {holder} revoked")
    _publish(settings, [registry], rsync_base, rrdp_base, only_these=True)


@rpki.command("show", epilog="Example: onereg rpki show FILE.roa")
@click.argument("file", type=click.Path(exists=True, path_type=Path))
def show_cmd(file: Path) -> None:
    """Decode one RPKI object and print it (like `rpki-client -f`)."""
    from onereg.rpki.show import show

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
@click.option(
    "--workers",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Processes checking ROA and ASPA signatures (0: one per core; 1: none besides the walk).",
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
    workers: int,
) -> None:
    """Fetch (RRDP, else rsync) and validate the repositories of the TALs; write VRPs as
    rpki-client's JSON and CSV. Every rejected object is listed with its reason."""
    from rich.table import Table

    from onereg.rpki.validate import validate
    from onereg.rpki.vrp import to_csv, to_json

    when = datetime.fromisoformat(as_of.replace("Z", "+00:00")) if as_of else None
    if when is not None and when.tzinfo is None:
        raise OneregError(f"--as-of {as_of!r} needs a time zone (e.g. Z)")
    pool = workers or None  # None: one per core
    with steps("validate", 2) as advance:
        advance("validating" if repo is not None else "fetching and validating")
        if repo is not None:
            result = validate(list(tals), repo, when, workers=pool)
        else:  # the fetcher's HTTP stack costs 0.1-0.2 s of imports: only when fetching
            from onereg.rpki.fetch import Prefer, fetch_and_validate

            mode: Prefer = "rsync" if prefer == "rsync" else "rrdp"
            result = fetch_and_validate(list(tals), cache, when, mode, ca_bundle, workers=pool)
        failure = validation_failure(result, list(tals), repo)
        if failure is not None:  # nothing written: an empty VRP file would look like a real answer
            raise OneregError(failure)
        advance("writing VRPs")
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


_TA_REFUSALS = ("trust anchor refused:", "bad TAL:")


def validation_failure(result: ValidationResult, tals: list[Path], repo: Path | None) -> str | None:
    """One line saying why a validation gave nothing usable, or None when it did.

    A refused trust anchor or an empty VRP set is what a wrong `--repo` or an unreachable
    repository produces; relying parties that exit 0 then (rpki-client does) leave the operator
    to notice an empty file, so we refuse with what was wrong, where, and what to do."""
    refused = [r for r in result.rejections if r.reason.startswith(_TA_REFUSALS)]
    if refused:
        first = refused[0]
        where = f"{len(refused)} of {len(tals)} trust anchors refused"
        # a fetch failure says more than the empty cache it left behind
        fetched = [r for r in result.rejections if r.uri == first.uri and r not in refused]
        reason = (fetched or refused)[0].reason
        return f"{where}: {first.uri}: {reason}. {_mirror_hint(first.uri, repo)}"
    if result.vrps:
        return None
    anchors = f"{len(tals)} trust anchor{'s' if len(tals) != 1 else ''}"
    if result.rejections:
        count = len(result.rejections)
        return (
            f"validation gave 0 VRPs from {anchors}: {count} object{'s' if count != 1 else ''} "
            f"rejected, first {result.rejections[0]}"
        )
    return (
        f"validation gave 0 VRPs from {anchors}: the repository holds no ROA; a registry's "
        "holders get one with `onereg rpki roa add`"
    )


def _mirror_hint(uri: str, repo: Path | None) -> str:
    """What to do about a trust anchor certificate not found: the right mirror path."""
    if repo is None:
        return (
            "The repository in the TAL must be reachable: an rsync daemon serving the "
            "publication tree (<data-dir>/rpki/pub/rsync), or the nodes' RRDP (`onereg serve`); "
            "or validate a local mirror with --repo"
        )
    scheme, sep, rest = uri.partition("://")
    if not sep:
        return "Check the TAL file."
    host, _, path = rest.partition("/")
    expected = repo / host / path
    if (repo / path).is_file() and not expected.exists():
        tree = repo.resolve()
        return (
            f"--repo is a mirror laid out as {scheme}://HOST/PATH -> DIR/HOST/PATH, but {repo} is "
            f"the published tree itself; make a mirror of it: mkdir -p MIRROR && ln -s {tree} "
            f"MIRROR/{host}, then give --repo MIRROR"
        )
    return (
        f"--repo is a mirror laid out as {scheme}://HOST/PATH -> DIR/HOST/PATH: expected "
        f"{expected}; for a local publication (<data-dir>/rpki/pub/rsync) make one with "
        f"mkdir -p MIRROR && ln -s <data-dir>/rpki/pub/rsync MIRROR/{host}"
    )
