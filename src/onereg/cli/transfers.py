"""Commands for holders and registries around transfers: keys, agreements, execution, export."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import click
import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from rich.console import Console
from rich.table import Table

from onereg.cli.node_client import operator_key, operator_post
from onereg.cli.settings import Settings
from onereg.core.errors import OneregError
from onereg.core.fs import private_dir
from onereg.core.registries import ALL_REGISTRIES, RegistryId
from onereg.core.resources import Resource
from onereg.federation.config import read_config, read_federation
from onereg.federation.embedded import operator_key_path
from onereg.federation.layout import DataDir, served_by
from onereg.ledger.agreement import Agreement, SignedAgreement, sign_agreement
from onereg.registry.transfer_policy import (
    EventKind,
    EvidenceError,
    Failure,
    PolicySet,
    Receipt,
    TransferKind,
    TransferRequest,
    check_evidence,
    default_policy_dir,
    evaluate,
)
from onereg.registry.transfers import (
    FINAL_STATES,
    TransferRefused,
    register_holder_key,
    transfer_within,
)

console = Console()
err_console = Console(stderr=True, soft_wrap=True)
REGISTRY = click.Choice([r.value for r in ALL_REGISTRIES])


def _private_key(path: Path) -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise OneregError(f"{path} is not an Ed25519 private key")
    return key


@click.group()
def holder() -> None:
    """Holder keys (a holder signs transfer agreements with them)."""


@holder.command("keygen", epilog="Example: onereg holder keygen onereg-data/holders/ncc.pem")
@click.argument("out", type=click.Path(path_type=Path))
def keygen(out: Path) -> None:
    """Write a new Ed25519 private key to OUT (PEM, mode 0600; its folder is made private if
    new) and print its public key. Keep it out of any repository: it signs transfers."""
    if out.exists():
        raise OneregError(f"{out} exists: a key is never overwritten (choose another name)")
    private_dir(out.parent)
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
    console.print(key.public_key().public_bytes_raw().hex())


@holder.command(
    "register-key",
    epilog="Example: onereg holder register-key --registry ripencc "
    "--handle 2971c08b-2b8e-49f9-a938-fe3a9f8348be --key onereg-data/holders/ncc.pem",
)
@click.option("--registry", type=REGISTRY, required=True, help="The holder's registry.")
@click.option("--handle", required=True, help="The holder's handle (opaque id) in that registry.")
@click.option(
    "--key",
    "key_file",
    type=click.Path(exists=True, path_type=Path),
    required=True,
    help="The holder's private key file; only its public half is recorded.",
)
@click.pass_obj
def register_key(settings: Settings, registry: str, handle: str, key_file: Path) -> None:
    """Record a holder's public key in its registry's log."""
    public = _private_key(key_file).public_key().public_bytes_raw()
    rid, data = RegistryId(registry), DataDir(settings.data_dir)
    if served_by(data.node_dir(rid)):  # the node owns its database: ask it
        url = read_federation(settings.data_dir / "federation.json").node(rid).url
        key = operator_key(operator_key_path(settings.data_dir))
        seq = operator_post(key, url, "/admin/holder-key", {"handle": handle, "key": public.hex()})
        console.print(f"{registry}: key of {handle} recorded (log entry {seq['seq']})")
        return
    with data.open_for_write(rid) as node:
        entry = register_holder_key(node, handle, public)
    console.print(f"{registry}: key of {handle} recorded (log entry {entry.seq})")


@click.group()
def agreement() -> None:
    """Transfer agreements: draft, see which evidence the policies ask for, sign."""


def _party(option: str, value: str) -> tuple[str, str]:
    """REGISTRY:HANDLE split and checked, the option named in the error."""
    registry, sep, handle = value.partition(":")
    names = [r.value for r in ALL_REGISTRIES if r is not RegistryId.IANA]
    if not sep or not handle or registry not in names:
        raise OneregError(
            f"{option} {value!r}: expected REGISTRY:HANDLE, REGISTRY one of {', '.join(names)}"
        )
    return registry, handle


def _check_holder(data: DataDir, option: str, registry: str, handle: str) -> None:
    """Refuse a handle its registry's node does not know (a typo would only fail at signing
    or at the node, after both holders signed)."""
    rid = RegistryId(registry)
    if not data.exists(rid):
        raise OneregError(
            f"{option}: no {registry} node in {data.root} to check {handle!r} against "
            "(run `onereg up`, or pass --data-dir)"
        )
    with data.read(rid) as node:
        known = node.holder(handle) is not None
    if not known:
        raise OneregError(
            f"{option}: {registry} has no holder {handle!r} (a handle is the opaque id "
            "of the registry's delegated file; `onereg show RESOURCE` names a block's holder)"
        )


@agreement.command(
    "new",
    epilog="Examples:\n\n"
    "\b\n"
    "  onereg agreement new 193.0.22.0/23 \\\n"
    "      --source ripencc:2971c08b-2b8e-49f9-a938-fe3a9f8348be \\\n"
    "      --recipient ripencc:a7f2b23d-88b8-4f7a-94db-0f14ab574596 -o a.json\n"
    "  onereg agreement new 193.0.19.0/24 --kind return \\\n"
    "      --source ripencc:2971c08b-2b8e-49f9-a938-fe3a9f8348be -o r.json",
)
@click.argument("resource")
@click.option("--source", required=True, help="REGISTRY:HANDLE of the source holder.")
@click.option(
    "--recipient",
    default=None,
    help="REGISTRY:HANDLE of the recipient holder (none for a return to the pool).",
)
@click.option(
    "--kind",
    type=click.Choice(["transfer", "merger", "return"]),
    default="transfer",
    show_default=True,
    help="A market transfer, a merger or acquisition, or a return to the registry's pool.",
)
@click.option("--days", default=30, show_default=True, help="Days until the agreement expires.")
@click.option(
    "-o", "--output", type=click.Path(path_type=Path), required=True, help="File to write."
)
@click.pass_obj
def new_agreement(
    settings: Settings,
    resource: str,
    source: str,
    recipient: str | None,
    kind: str,
    days: int,
    output: Path,
) -> None:
    """Draft an agreement (fresh nonce, expiry) for RESOURCE. Both holders sign a transfer or
    merger; a return has no recipient and only the source signs it. Both handles must be
    holders their registries' nodes know. A merger or acquisition is one agreement of kind
    `merger` per resource."""
    data = DataDir(settings.data_dir)
    src_reg, src = _party("--source", source)
    _check_holder(data, "--source", src_reg, src)
    if kind == "return":
        if recipient is not None:
            raise OneregError("--recipient: a return goes back to the pool, it has no recipient")
        dst_reg, dst = src_reg, ""
    elif recipient is None:
        raise OneregError("--recipient REGISTRY:HANDLE is required unless --kind return")
    else:
        dst_reg, dst = _party("--recipient", recipient)
        _check_holder(data, "--recipient", dst_reg, dst)
    expires = (datetime.now(UTC) + timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")
    draft = Agreement(resource, src_reg, src, dst_reg, dst, kind, os.urandom(16).hex(), expires)
    problems = draft.problems()
    if problems:
        raise OneregError("; ".join(problems))
    output.write_text(SignedAgreement(draft, b"", b"").to_json() + "\n")
    if kind == "return":
        console.print(
            f"wrote {output}; a return has no recipient and no transfer policy applies: only "
            f"the source holder signs it (onereg agreement sign {output} --key KEY --as "
            f"source), and the block goes back to {src_reg}'s pool (reserved)"
        )
        return
    console.print(
        f"wrote {output}; both holders sign it (onereg agreement sign {output} --key KEY "
        "--as source, then --as recipient)"
    )


@agreement.command(
    "sign",
    epilog="Example: onereg agreement sign a.json --key onereg-data/holders/ncc.pem --as source",
)
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--key",
    "key_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    required=True,
    help="The signing holder's private key (from `onereg holder keygen`).",
)
@click.option(
    "--as",
    "role",
    type=click.Choice(["source", "recipient"]),
    required=True,
    help="Which holder of the agreement signs.",
)
def sign(file: Path, key_file: Path, role: str) -> None:
    """Add the source's or the recipient's signature to an agreement file."""
    signed = _read_agreement(file)
    if role == "recipient" and signed.agreement.kind == "return":
        raise OneregError(f"{file}: a return has no recipient; only the source signs it")
    signature = sign_agreement(signed.agreement, _private_key(key_file))
    if role == "source":
        signed = SignedAgreement(signed.agreement, signature, signed.recipient_signature)
    else:
        signed = SignedAgreement(signed.agreement, signed.source_signature, signature)
    file.write_text(signed.to_json() + "\n")
    waiting = signed.agreement.kind != "return" and not (
        signed.source_signature and signed.recipient_signature
    )
    other = "recipient" if role == "source" else "source"
    console.print(
        f"signed as {role}"
        + (f"; the {other} has yet to sign" if waiting else f"; run `onereg transfer {file}`")
    )


def _read_agreement(file: Path) -> SignedAgreement:
    try:
        return SignedAgreement.from_json(file.read_text())
    except UnicodeDecodeError:
        raise OneregError(f"{file}: not text: not an agreement file") from None
    except OneregError as exc:
        raise OneregError(f"{file}: {exc}") from None


def _request(data: DataDir, a: Agreement, evidence: Mapping[str, object]) -> TransferRequest:
    """The agreement as the policies see it, with whether the recipient already holds space
    read from its node here (new and existing holders are asked different things)."""
    recipient = RegistryId(a.recipient_registry)
    is_holder = False
    if data.exists(recipient):
        with data.read(recipient) as node:
            is_holder = node.holds_any(a.recipient_holder)
    return TransferRequest(
        resource=Resource.parse(a.resource),
        source=RegistryId(a.source_registry),
        recipient=recipient,
        on=datetime.now(UTC).date(),
        received=Receipt(EventKind.LEGACY, date(1970, 1, 1)),  # needs rules do not read it
        kind=TransferKind(a.kind),
        evidence=evidence,
        recipient_is_holder=is_holder,
    )


def needs_failures(
    data: DataDir, a: Agreement, evidence: Mapping[str, object], policies: PolicySet
) -> list[Failure]:
    """Every needs rule of every policy the agreement meets that `evidence` does not satisfy,
    all at once (the nodes judge one side each, so they would ask one group at a time)."""
    if a.kind == "return":
        return []  # a return goes to the pool: no transfer policy applies
    decision = evaluate(_request(data, a, evidence), policies)
    return [f for f in decision.failures if f.rule == "needs"]


def example_value(name: str, resource: Resource) -> object:
    """A value of the JSON form a field takes: numbers of addresses are integers, dates ISO
    strings, everything else a statement the recipient makes (true)."""
    if name.endswith("_addresses"):
        return resource.size
    if name.endswith("_date"):
        return datetime.now(UTC).date().isoformat()
    return True


def evidence_template(failures: list[Failure], resource: Resource) -> dict[str, object]:
    """The first way to satisfy each rule, as the JSON object `--evidence` takes."""
    fields: dict[str, object] = {}
    for failure in failures:
        for name in failure.alternatives[0] if failure.alternatives else failure.missing:
            fields.setdefault(name, example_value(name, resource))
    return fields


def describe_needs(failure: Failure) -> str:
    ways = [" + ".join(way) for way in failure.alternatives] or [", ".join(failure.missing)]
    choice = ways[0] if len(ways) == 1 else "one of: " + " | ".join(ways)
    return f"{failure.registry.display_name} {failure.policy} ({failure.section}): {choice}"


@agreement.command(
    "evidence",
    epilog="Example: onereg agreement evidence b.json -o evidence.json",
)
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the JSON evidence template here (default: print it).",
)
@click.pass_obj
def evidence_cmd(settings: Settings, file: Path, output: Path | None) -> None:
    """List every evidence field the registries' policies ask of this agreement's recipient,
    and print them as the JSON object `onereg transfer --evidence` takes (the first way of
    each rule, with example values: edit them to the recipient's true statements).

    Every field has a JSON form: a statement is true, a number of addresses a whole number
    (`"current_holdings_addresses": 8192`), a date an ISO 8601 string YYYY-MM-DD
    (`"pre_approval_date": "2026-03-01"`, APNIC's pre-approval, valid 12 months)."""
    a = _read_agreement(file).agreement
    failures = needs_failures(
        DataDir(settings.data_dir), a, {}, PolicySet.load(default_policy_dir())
    )
    for failure in failures:
        err_console.print(describe_needs(failure), highlight=False, soft_wrap=True)
    if not failures:
        err_console.print("no evidence is asked of this agreement", highlight=False)
    text = json.dumps(evidence_template(failures, Resource.parse(a.resource)), indent=1)
    if output is None:
        click.echo(text)
        return
    output.write_text(text + "\n")
    err_console.print(f"wrote {output}", highlight=False)


def _read_evidence(path: Path | None, policies: PolicySet) -> dict[str, object]:
    """The evidence file's JSON object, its dates and numbers checked against the forms the
    policies read (`check_evidence`): a malformed one is named before anything is sent."""
    if path is None:
        return {}
    try:
        facts = json.loads(path.read_text())
    except (UnicodeDecodeError, ValueError) as exc:
        raise OneregError(
            f"{path}: not JSON ({exc}); evidence is a JSON object of field: value, "
            "as `onereg agreement evidence AGREEMENT` prints"
        ) from None
    if not isinstance(facts, dict):
        raise OneregError(f"{path}: evidence must be a JSON object, not {type(facts).__name__}")
    try:
        check_evidence(facts, policies)
    except EvidenceError as exc:
        raise OneregError(f"{path}: {exc}; nothing done") from None
    return facts


def already_decided(data: DataDir, a: Agreement) -> str | None:
    """What the source registry's log recorded for this agreement, if it decided it: asked
    again, a node would only repeat its answer."""
    rid = RegistryId(a.source_registry)
    if not data.exists(rid):
        return None
    with data.read(rid) as node:
        row = node.conn.execute(
            "SELECT t.state, t.seq, l.time FROM transfers t LEFT JOIN log l ON l.seq = t.seq "
            "WHERE t.id = ?",
            (a.nonce,),
        ).fetchone()
    if row is None or row[0] not in FINAL_STATES:
        return None
    return f"already decided at {row[2]}: {row[0]} ({rid} log entry {row[1]})"


@click.command(
    "transfer",
    epilog="Examples:\n\n"
    "\b\n"
    "  onereg transfer a.json                          # inside one registry\n"
    "  onereg transfer b.json --evidence evidence.json # between registries (onereg serve)",
)
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--evidence",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="JSON object of the evidence fields the registries' policies ask of the recipient "
    "(`onereg agreement evidence FILE` lists them): statements are true, numbers of addresses "
    "whole numbers, dates ISO 8601 strings, e.g. "
    '{"rsa_signed": true, "current_holdings_addresses": 8192} or '
    '{"pre_approval_date": "2026-03-01"} (APNIC: a pre-approval within 12 months). '
    "A malformed date or number is refused, naming the field, before anything is sent.",
)
@click.option("--wait", default=30.0, show_default=True, help="Seconds to wait for the outcome.")
@click.pass_obj
def transfer(settings: Settings, file: Path, evidence: Path | None, wait: float) -> None:
    """Execute a signed agreement: inside one registry directly (one log entry), between
    registries by submitting it to the source registry's node (`onereg serve` must run).
    Missing evidence is reported all at once, with its JSON form, before anything is sent."""
    signed = _read_agreement(file)
    policies = PolicySet.load(default_policy_dir())
    facts = _read_evidence(evidence, policies)
    a = signed.agreement
    data = DataDir(settings.data_dir)
    decided = already_decided(data, a)
    if decided is not None:
        raise OneregError(f"{file}: {decided}; nothing done (running it again is a replay)")
    lacking = needs_failures(data, a, facts, policies)
    if lacking:
        template = json.dumps(evidence_template(lacking, Resource.parse(a.resource)))
        said = [describe_needs(f) for f in lacking]
        if facts:  # what was given and why it is not enough (a stale date, a cap too small)
            said = [str(f) for f in lacking]
        raise OneregError(
            f"{file}: the recipient's evidence "
            + ("does not meet the policies; " if facts else "is missing; ")
            + "; ".join(said)
            + f". Put it in a JSON file, e.g. {template}, and pass --evidence FILE"
        )
    if a.source_registry == a.recipient_registry and not served_by(
        data.node_dir(RegistryId(a.source_registry))
    ):
        registry = RegistryId(a.source_registry)
        with data.open_for_write(registry) as node:
            entry = transfer_within(node, signed, policies, datetime.now(UTC), facts)
        what = (
            "returned to the pool" if a.kind == "return" else f"transferred to {a.recipient_holder}"
        )
        console.print(f"{registry}: {a.resource} {what} (log entry {entry.seq})")
        return
    _print_state(_submit_to_source(settings.data_dir, signed, facts, wait))


def _submit_to_source(
    data_dir: Path, signed: SignedAgreement, facts: dict[str, object], wait: float
) -> dict[str, object]:
    nodes = {n.registry: n.url for n in read_config(data_dir / "federation.json")}
    url = nodes[signed.agreement.source_registry]
    body = {**json.loads(signed.to_json()), "evidence": facts}
    deadline = time.monotonic() + wait
    with httpx.Client(timeout=wait) as client:
        try:
            reply = client.post(f"{url}/transfers", json=body)
        except httpx.HTTPError as exc:
            raise OneregError(
                f"cannot reach the {signed.agreement.source_registry} node at {url}: {exc!r}"
            ) from None
        answer = reply.json()
        if reply.status_code not in (200, 202):
            raise TransferRefused(answer.get("reasons") or [reply.text])
        while reply.status_code == 202 and time.monotonic() < deadline:
            time.sleep(0.2)
            reply = client.get(f"{url}/transfers/{signed.agreement.nonce}")
            answer = reply.json()
            if answer.get("state") not in ("sourceInitialized",):
                break
    return dict(answer)


def _print_state(answer: dict[str, object]) -> None:
    table = Table(title="Transfer", title_justify="left", show_header=False)
    for field in ("id", "resource", "state", "counterpart", "log_seq"):
        table.add_row(field, str(answer.get(field, "")))
    reasons = answer.get("reasons") or []
    for reason in reasons if isinstance(reasons, list) else []:
        table.add_row("reason", str(reason))
    console.print(table)
    if answer.get("state") != "sourceFinalized":
        raise OneregError(f"the transfer ended {answer.get('state')}, not sourceFinalized")
