"""Commands for holders and registries around transfers: keys, agreements, execution, export."""

from __future__ import annotations

import json
import os
import time
from datetime import UTC, datetime, timedelta
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
from onereg.core.registries import ALL_REGISTRIES, RegistryId
from onereg.federation.config import read_config, read_federation
from onereg.federation.embedded import operator_key_path
from onereg.federation.layout import DataDir, served_by
from onereg.ledger.agreement import Agreement, SignedAgreement, sign_agreement
from onereg.registry.transfer_policy import PolicySet, default_policy_dir
from onereg.registry.transfers import TransferRefused, register_holder_key, transfer_within

console = Console()
REGISTRY = click.Choice([r.value for r in ALL_REGISTRIES])


def _private_key(path: Path) -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise OneregError(f"{path} is not an Ed25519 private key")
    return key


@click.group()
def holder() -> None:
    """Holder keys (a holder signs transfer agreements with them)."""


@holder.command("keygen")
@click.argument("out", type=click.Path(path_type=Path))
def keygen(out: Path) -> None:
    """Write a new Ed25519 private key (PEM, mode 0600) and print its public key."""
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
    console.print(key.public_key().public_bytes_raw().hex())


@holder.command("register-key")
@click.option("--registry", type=REGISTRY, required=True)
@click.option("--handle", required=True)
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
    """Transfer agreements: draft, sign."""


@agreement.command("new")
@click.argument("resource")
@click.option("--source", required=True, help="REGISTRY:HANDLE of the source holder")
@click.option(
    "--recipient",
    default=None,
    help="REGISTRY:HANDLE of the recipient holder (none for a return to the pool)",
)
@click.option("--kind", type=click.Choice(["transfer", "merger", "return"]), default="transfer")
@click.option("--days", default=30, show_default=True, help="Validity.")
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True)
def new_agreement(
    resource: str, source: str, recipient: str | None, kind: str, days: int, output: Path
) -> None:
    """Draft an agreement (fresh nonce, expiry) for both holders to sign (a return: the source
    alone). A merger or acquisition is one agreement of kind `merger` per resource."""
    src_reg, _, src = source.partition(":")
    if kind == "return":
        dst_reg, dst = src_reg, ""
    elif recipient is None:
        raise OneregError("--recipient REGISTRY:HANDLE is required unless --kind return")
    else:
        dst_reg, _, dst = recipient.partition(":")
    expires = (datetime.now(UTC) + timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")
    draft = Agreement(resource, src_reg, src, dst_reg, dst, kind, os.urandom(16).hex(), expires)
    problems = draft.problems()
    if problems:
        raise OneregError("; ".join(problems))
    output.write_text(SignedAgreement(draft, b"", b"").to_json() + "\n")
    console.print(f"wrote {output}; both holders sign it with `onereg agreement sign`")


@agreement.command("sign")
@click.argument("file", type=click.Path(exists=True, path_type=Path))
@click.option("--key", "key_file", type=click.Path(exists=True, path_type=Path), required=True)
@click.option("--as", "role", type=click.Choice(["source", "recipient"]), required=True)
def sign(file: Path, key_file: Path, role: str) -> None:
    """Add the source's or the recipient's signature to an agreement file."""
    signed = SignedAgreement.from_json(file.read_text())
    signature = sign_agreement(signed.agreement, _private_key(key_file))
    if role == "source":
        signed = SignedAgreement(signed.agreement, signature, signed.recipient_signature)
    else:
        signed = SignedAgreement(signed.agreement, signed.source_signature, signature)
    file.write_text(signed.to_json() + "\n")
    console.print(f"signed as {role}")


@click.command("transfer")
@click.argument("file", type=click.Path(exists=True, path_type=Path))
@click.option(
    "--evidence",
    type=click.Path(exists=True, path_type=Path),
    default=None,
    help="JSON object of the evidence fields the recipient's registry requires.",
)
@click.option("--wait", default=30.0, show_default=True, help="Seconds to wait for the outcome.")
@click.pass_obj
def transfer(settings: Settings, file: Path, evidence: Path | None, wait: float) -> None:
    """Execute a signed agreement: inside one registry directly (one log entry), between
    registries by submitting it to the source registry's node (`onereg serve` must run)."""
    signed = SignedAgreement.from_json(file.read_text())
    facts = json.loads(evidence.read_text()) if evidence else {}
    a = signed.agreement
    data = DataDir(settings.data_dir)
    if a.source_registry == a.recipient_registry and not served_by(
        data.node_dir(RegistryId(a.source_registry))
    ):
        registry = RegistryId(a.source_registry)
        with data.open_for_write(registry) as node:
            entry = transfer_within(
                node, signed, PolicySet.load(default_policy_dir()), datetime.now(UTC), facts
            )
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
