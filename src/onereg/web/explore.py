"""What the explorer's pages show, computed from one node's view: its own database and its
verified mirrors of the other registries' logs (`NodeDir.view`), never another node's files.

Every function here is plain blocking work on read-only connections, run by the routes in the
node's worker pools (`http.offload`), so none of it runs on the event loop.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from onereg.core.errors import OneregError, ResourceParseError
from onereg.core.registries import ALL_REGISTRIES, RIRS, RegistryId
from onereg.core.resources import Afi, Resource, format_number
from onereg.federation.guard import Deadline
from onereg.federation.layout import DataDir
from onereg.http.rdap import RdapAuthority, covering, holder_of, log_time, record_versions
from onereg.ledger.checkpoint import Checkpoint
from onereg.ledger.note import parse_note
from onereg.registry.node import Delegation, RegistryNode
from onereg.registry.schema import key

HANDLE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")
MAX_HOLDER_RESOURCES = 100  # a holder's listing stops here (said in the answer)
MAX_QUERY = 100
# A registry's node (this one's database or its verified mirror), None when it has none; the
# caller keeps the connections (one per worker thread, reused across queries).
Nodes = Callable[[RegistryId], RegistryNode | None]


class QueryError(OneregError, ValueError):
    """A lookup the explorer cannot read: the message names the query and what is wrong."""


@dataclass(frozen=True, slots=True)
class UiConfig:
    """What the explorer knows of the federation beyond the node's data: every node's public
    URL (for links to the registry that is authoritative), the witness quorum, and the policy
    text verifiers of a proof need; and the RPKI files the lookup shows (the CA's state, and the
    optional VRP file and route table of the node's `[explorer]` config)."""

    registry: RegistryId
    urls: Mapping[RegistryId, str]
    quorum: int
    policy: str
    ca_db: Path | None = None
    vrps_file: Path | None = None
    route_table: Path | None = None


def parse_query(text: str) -> Resource | str:
    """An address, prefix, range or AS number as a `Resource`; anything else shaped like a
    handle as the handle; else a `QueryError` naming the query."""
    query = text.strip()
    if not query or len(query) > MAX_QUERY:
        raise QueryError(f"query {query[:MAX_QUERY]!r}: give an address, prefix, ASN or handle")
    try:
        return Resource.parse(query)
    except ResourceParseError as exc:
        looks_numeric = any(c in query for c in ".:/") and not query.isalnum()
        if looks_numeric or not HANDLE.match(query):
            raise QueryError(f"query {query!r}: {exc}") from None
        return query


def signer_of(kind: str) -> str:
    """Who stands behind a log entry of this kind: the holders (a transfer carries both
    holders' signed agreement), the registry's import of its published file, or an action of
    the registry itself (signed by its log key like every entry)."""
    if kind.startswith("transfer."):
        return "holder agreement"
    if kind == "batch":
        return "registry import"
    return "registry action"


def _record(node: RegistryNode, d: Delegation) -> dict[str, Any]:
    holder = holder_of(node, d.holder)
    attrs = d.attrs or {}
    return {
        "registry": d.registry.value,
        "registryName": d.registry.display_name,
        "range": str(d.resource),
        "cidrs": _cidrs(d.resource),
        "status": d.status,
        "date": d.date,
        "cc": d.cc,
        "holder": None
        if holder is None
        else {"handle": holder.handle, "name": holder.name, "cc": holder.cc},
        "handle": d.holder or d.opaque,
        "registered": log_time(node, d.seq),
        "seq": d.seq,
        "transfer": attrs.get("transfer"),
        "receivedBy": attrs.get("received_by"),
    }


def _cidrs(res: Resource) -> list[str]:
    if res.afi is Afi.ASN:
        return [f"AS{res.start}" if res.start == res.end else f"AS{res.start}-AS{res.end}"]
    return [f"{format_number(res.afi, n)}/{p}" for n, p in res.cidrs()]


def _cross(node: RegistryNode, res: Resource) -> list[dict[str, Any]]:
    """The node's cross-registry holdings overlapping `res`, with their origin."""
    if not node.has_table("cross_holdings"):
        return []
    rows = node.conn.execute(
        "SELECT range_text, authority, origin, seq FROM cross_holdings "
        "WHERE afi = ? AND start <= ? AND end >= ? ORDER BY start LIMIT 50",
        (res.afi.value, key(res.end), key(res.start)),
    ).fetchall()
    return [
        {"range": r, "authority": a, "origin": o, "seq": s, "registry": node.registry.value}
        for r, a, o, s in rows
    ]


def _history(node: RegistryNode, d: Delegation) -> list[dict[str, Any]]:
    versions = record_versions(
        node, d.resource.afi, d.resource.start, d.resource.end, (d.start_text,)
    )
    return [
        {
            "version": v.number,
            "seq": v.seq,
            "time": v.time,
            "kind": v.kind,
            "change": v.change,
            "signedBy": signer_of(v.kind),
            "status": None if v.delegation is None else v.delegation.status,
            "holder": None if v.delegation is None else v.delegation.holder,
        }
        for v in versions
    ]


def _iana(auth: RdapAuthority, res: Resource) -> dict[str, Any] | None:
    pieces = auth.iana.pieces(res.afi.value, res.start, res.start)
    if not pieces:
        return None
    block = pieces[0].block
    return {
        "range": str(Resource(res.afi, block.start, block.end)),
        "designation": block.holder,
        "status": block.status,
        "ianaStatus": block.iana_status,
        "date": block.date,
        "source": block.source,
    }


def lookup(
    nodes: Nodes,
    config: UiConfig,
    auth: RdapAuthority,
    text: str,
    deadline: Deadline,
    history: bool = False,
) -> dict[str, Any]:
    """The answer of the lookup page for `text` (see `parse_query`); with `history`, also the
    record's versions (a search of the whole log: the page asks for them separately)."""
    query = parse_query(text)
    if isinstance(query, str):
        return _holder_lookup(nodes, config, query, deadline)
    answer = _resource_lookup(nodes, config, auth, query, deadline, history)
    if answer["record"] is None and text.strip().isdigit():
        # digits alone read as an AS number first; some registries' handles are digits too
        try:
            return _holder_lookup(nodes, config, text.strip(), deadline)
        except QueryError:
            pass
    return answer


def _found_at(
    nodes: Nodes, rid: RegistryId, res: Resource
) -> tuple[RegistryNode, Delegation] | None:
    """The record of `rid` (the node itself, or its verified mirror) covering `res`."""
    node = nodes(rid)
    if node is None:
        return None
    try:
        if node.has_table("delegations"):
            d = covering(node, res)
            if d is not None:
                return node, d
    except sqlite3.OperationalError:  # a mirror not yet given its tables
        pass
    return None


def _resource_lookup(
    nodes: Nodes,
    config: UiConfig,
    auth: RdapAuthority,
    res: Resource,
    deadline: Deadline,
    history: bool,
) -> dict[str, Any]:
    owner = auth.authoritative(res.afi, res.start)
    me = config.registry
    order: list[RegistryId] = [me] if me is not RegistryId.IANA else []
    order += [owner] if owner is not None and owner not in order else []
    order += [r for r in RIRS if r not in order]
    answer: dict[str, Any] = {
        "query": str(res),
        "kind": "resource",
        "node": me.value,
        "authoritative": None if owner is None else owner.value,
        "authoritativeName": None if owner is None else owner.display_name,
        "authoritativeUi": _ui_url(config, owner, str(res)),
        "iana": _iana(auth, res),
        "record": None,
        "servedFrom": None,
        "cross": [],
        "history": [],
        "proof": None,
    }
    for rid in order:
        deadline.check()
        found = _found_at(nodes, rid, res)
        if found is None:
            continue
        node, d = found
        answer["record"] = _record(node, d)
        answer["cross"] = _cross(node, d.resource)
        answer["history"] = _history(node, d) if history else None
        answer["servedFrom"] = "own log" if rid is me else "verified mirror"
        if rid is me:  # a proof of the whole holding, as the record has it
            answer["proof"] = _proof_hint(d.resource)
        break
    return answer


def _proof_hint(res: Resource) -> dict[str, str]:
    name = f"{str(res).replace('/', '_')}.proof"
    return {
        "file": name,
        "url": f"api/proof?q={res}",
        "policy": "api/policy.txt",
        "command": f"onereg verify-proof {name} --policy policy.txt --resource {res}",
    }


def _ui_url(config: UiConfig, rid: RegistryId | None, query: str) -> str | None:
    if rid is None or rid is config.registry or rid not in config.urls:
        return None
    return f"{config.urls[rid].rstrip('/')}/ui/?q={query}"


def _holder_lookup(
    nodes: Nodes, config: UiConfig, handle: str, deadline: Deadline
) -> dict[str, Any]:
    """Every registry that knows the handle, with its resources there (capped)."""
    holdings = []
    for rid in RIRS:
        deadline.check()
        node = nodes(rid)
        if node is None or not node.has_table("holders"):
            continue
        info = node.holder(handle)
        rows = node.holder_resources(handle, MAX_HOLDER_RESOURCES + 1)
        if info is None and not rows:
            continue
        holdings.append(
            {
                "registry": rid.value,
                "registryName": rid.display_name,
                "servedFrom": "own log" if rid is config.registry else "verified mirror",
                "holder": info and {k: info[k] for k in ("handle", "name", "cc")},
                "resources": [_record(node, d) for d in rows[:MAX_HOLDER_RESOURCES]],
                "truncated": len(rows) > MAX_HOLDER_RESOURCES,
                "cross": [c for d in rows[:MAX_HOLDER_RESOURCES] for c in _cross(node, d.resource)],
            }
        )
    if not holdings:
        raise QueryError(f"query {handle!r}: no registry this node follows knows that handle")
    return {"query": handle, "kind": "holder", "node": config.registry.value, "holders": holdings}


# --- the federation ----------------------------------------------------------------------------


def checkpoint_summary(note: str | None) -> dict[str, Any] | None:
    """Size, root and signers of a signed checkpoint note (syntax only: the node verified it
    before storing it)."""
    if not note:
        return None
    text, signatures = parse_note(note)
    checkpoint = Checkpoint.parse(text)
    names = [s.name for s in signatures]
    return {
        "origin": checkpoint.origin,
        "size": checkpoint.size,
        "root": checkpoint.root.hex(),
        "signers": names,
        "cosigners": [n for n in names if n != checkpoint.origin],
    }


def log_size(data: DataDir, rid: RegistryId) -> int | None:
    """The log's size in the node's database or its mirror (None when it has none)."""
    path = data.node_path(rid)
    if not path.exists():
        return None
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        row = conn.execute("SELECT max(seq) FROM log").fetchone()
    except sqlite3.Error:
        return None
    finally:
        conn.close()
    return int(row[0]) if row and row[0] is not None else 0


def federation_summary(
    data: DataDir,
    config: UiConfig,
    notes: Mapping[RegistryId, str | None],
    mirrors: Mapping[str, Any],
    now: float,
    stale_after: float,
) -> dict[str, Any]:
    """One row per registry: log size, latest checkpoint and cosignatures against the quorum,
    and how fresh this node's mirror of it is."""
    rows = []
    for rid in ALL_REGISTRIES:
        cp = checkpoint_summary(notes.get(rid))
        status = mirrors.get(rid.value)
        mirror = None
        if rid is not config.registry and status is not None:
            verified = float(status.verified_at)
            mirror = {
                "size": status.size,
                "verifiedAgo": None if not verified else round(now - verified, 1),
                "stale": bool(status.problem) or not verified or now - verified > stale_after,
                # the evidence file by its name (listed on the page), not the node's paths
                "problem": status.problem.replace(f"{data.root / 'evidence'}/", ""),
            }
        rows.append(
            {
                "registry": rid.value,
                "name": rid.display_name,
                "self": rid is config.registry,
                "logSize": log_size(data, rid),
                "checkpoint": cp,
                "quorumMet": cp is not None and len(cp["cosigners"]) >= config.quorum,
                "mirror": mirror,
                "ui": None if rid not in config.urls else config.urls[rid].rstrip("/") + "/ui/",
            }
        )
    return {"node": config.registry.value, "quorum": config.quorum, "registries": rows}
