"""The transfers page's data: every transfer this node can see (its own log and its verified
mirrors of the other registries' logs), each with the NRO steps every registry logged for it,
the policy versions it was decided under and both holders' signatures, each checked against
the key the signer's registry log held for the holder when that log recorded the transfer (not
the key now: a holder that rotated its key since still shows a valid signature, and a key
registered after the transfer vouches for nothing); and the flows between registries per month.

An inter-registry transfer is logged by both registries (the source's steps and the
recipient's), so the two rows are joined by the agreement's nonce: the page shows one
transfer moving through both logs. Blocking work on read-only connections, run by the routes
in the node's worker pools; bounded by `MAX_PER_LOG` rows per log.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

import orjson

from onereg.core.errors import SignatureError
from onereg.core.registries import ALL_REGISTRIES, RegistryId
from onereg.core.resources import Afi, Resource
from onereg.ledger.agreement import Agreement, check_signature
from onereg.registry.node import RegistryNode
from onereg.registry.schema import unkey
from onereg.registry.transfers import FINAL_STATES, RETURN, holder_key
from onereg.web.explore import Nodes

# What the page says of each signature (`status`), checked with the key in force then.
VERIFIED = "verified"  # verifies with the key the signer's registry logged before the transfer
INVALID = "invalid"  # does not verify with it (or that log held no key for the holder then)
UNKNOWN_KEY = "unknown-key"  # the signer's registry log is not here, or not yet this far
MISSING = "missing"  # the holder's signature is not in the agreement
STATUSES = (VERIFIED, INVALID, UNKNOWN_KEY, MISSING)
MAX_PER_LOG = 500  # the newest transfers read from each log (the answer says when cut)
_COLUMNS = "id, role, state, afi, start, end, record, first_seq, seq"
# What each (role, state) of a row means as an NRO step (REFERENCE.md section 1.7).
_FIRST_STEP = {"source": "sourceInitialized", "recipient": "recipientAccepted"}
_LAST_STEP = {
    ("source", "sourceFinalized"): "sourceFinalized",
    ("source", "sourceCancelled"): "sourceCancelled",
    ("recipient", "sourceFinalized"): "recipientRegistered",
    ("recipient", "sourceCancelled"): "recipientAborted",
    ("recipient", "recipientCancelled"): "recipientCancelled",
}
_ORDER = {"completed": 0, "sourceInitialized": 0, "recipientAccepted": 1,
          "recipientCancelled": 2, "sourceFinalized": 3, "sourceCancelled": 3,
          "recipientRegistered": 4, "recipientAborted": 4}  # fmt: skip


def key_id(public_key: bytes) -> str:
    """A short name for a holder's Ed25519 key: the first 8 bytes of its SHA-256, in hex."""
    return hashlib.sha256(public_key).hexdigest()[:16]


def _times(node: RegistryNode, seqs: Iterable[int]) -> dict[int, str]:
    wanted = sorted(set(seqs))
    if not wanted:
        return {}
    marks = ",".join("?" * len(wanted))
    rows = node.conn.execute(f"SELECT seq, time FROM log WHERE seq IN ({marks})", wanted)
    return {int(s): str(t)[:19] + "Z" for s, t in rows}


def _rows(node: RegistryNode) -> tuple[list[tuple[Any, ...]], bool]:
    rows = node.conn.execute(
        f"SELECT {_COLUMNS} FROM transfers ORDER BY first_seq DESC LIMIT ?", (MAX_PER_LOG + 1,)
    ).fetchall()
    return rows[:MAX_PER_LOG], len(rows) > MAX_PER_LOG


def _steps(registry: str, row: tuple[Any, ...], times: dict[int, str]) -> list[dict[str, Any]]:
    """The NRO steps one registry's log records for the transfer (one or two entries)."""
    role, state, first_seq, seq = row[1], row[2], int(row[7]), int(row[8])
    if role == "intra":
        return [{"registry": registry, "step": "completed", "seq": seq, "time": times.get(seq)}]
    first = _FIRST_STEP[role] if first_seq != seq or state not in FINAL_STATES else state
    out = [{"registry": registry, "step": first, "seq": first_seq, "time": times.get(first_seq)}]
    if seq != first_seq:
        step = _LAST_STEP.get((role, state), state)
        out.append({"registry": registry, "step": step, "seq": seq, "time": times.get(seq)})
    return out


def _signature(
    nodes: Nodes,
    agreement: Agreement,
    party: tuple[str, str, str],
    signature: str,
    decided: dict[str, int],
) -> dict[str, Any]:
    """Who signed, with which key, and whether it verifies: checked with the key the signer's
    registry log held for the holder when that registry logged the transfer (`decided`: the
    registry's first entry for it), not the key now, so a rotation after the transfer leaves
    it valid and a key registered after the transfer cannot make it so."""
    who, registry, handle = party
    out: dict[str, Any] = {"role": who, "holder": handle, "registry": registry}
    try:
        rid = RegistryId(registry)
    except ValueError:
        return _judged(out, INVALID, f"unknown registry {registry!r}")
    if not signature:
        return _judged(out, MISSING, f"the {who} holder {handle!r} has not signed")
    out["signature"] = signature
    node = nodes(rid)
    log = f"{rid.display_name}'s log"
    if node is None:
        return _judged(out, UNKNOWN_KEY, f"no verified copy of {log} here")
    at = decided.get(registry)
    if at is None:
        return _judged(
            out, UNKNOWN_KEY, f"{log} as this node has it holds no entry "
            "for this transfer yet (not logged there yet, or the mirror here is behind)",
        )  # fmt: skip
    out["decidedEntry"] = f"{registry}:{at}"
    found = holder_key(node, handle, before=at)
    if found is None:
        return _judged(
            out, INVALID, f"{log} held no key for {handle} before the "
            f"transfer's entry {at}" + _later(node, agreement, signature, handle, at),
        )  # fmt: skip
    key, seq = found
    out |= {
        "keyId": key_id(key),
        "publicKey": base64.b64encode(key).decode(),
        "keyEntry": f"{registry}:{seq}",
        "keyUsed": f"key of {handle} registered at {rid.display_name} log entry {seq}",
    }
    problem = _problem(agreement, signature, key, f"{who} holder {handle!r}")
    if problem is None:
        return _judged(out, VERIFIED, None)
    later = _later(node, agreement, signature, handle, at)
    return _judged(out, INVALID, f"{problem} (checked with the {out['keyUsed']}, in force at "
                   f"the transfer's entry {at}){later}")  # fmt: skip


def _later(node: RegistryNode, agreement: Agreement, signature: str, handle: str, at: int) -> str:
    """Said of a signature that fails with the key in force at the transfer but verifies
    with the holder's key registered since: made after the fact, so it stays invalid."""
    now = holder_key(node, handle)
    if now is None or now[1] < at:
        return ""
    if _problem(agreement, signature, now[0], handle) is not None:
        return ""
    return (f"; it verifies only with the key registered after the transfer, at entry "
            f"{now[1]}, which cannot vouch for it")  # fmt: skip


def _judged(out: dict[str, Any], status: str, problem: str | None) -> dict[str, Any]:
    """The signature's verdict: `status` one of STATUSES, `verified` for the plain yes."""
    out |= {"status": status, "verified": status == VERIFIED}
    if problem is not None:
        out["problem"] = problem
    return out


@lru_cache(maxsize=4096)
def _problem(agreement: Agreement, signature: str, key: bytes, who: str) -> str | None:
    """Why the signature does not verify (None when it does). Kept: a logged transfer's
    agreement, signature and key never change, and the page's data is built again each time
    a log moves, so each signature is checked once, not on every change of every log."""
    try:
        check_signature(agreement, base64.b64decode(signature), key, who)
    except (SignatureError, ValueError) as exc:
        return str(exc)
    return None


def _size(block: Resource) -> int:
    return block.end - block.start + 1


def _transfer(first: dict[str, Any], nodes: Nodes) -> dict[str, Any]:
    """One transfer from the rows its registries logged (joined by nonce)."""
    record = first["record"]
    a = record["agreement"]
    agreement = Agreement(
        a["resource"],
        a["source_registry"],
        a["source_holder"],
        a["recipient_registry"],
        a["recipient_holder"],
        a["kind"],
        a["nonce"],
        a["expires"],
    )
    signed = record.get("signatures", {})
    parties = [("source", a["source_registry"], a["source_holder"])]
    if a["kind"] != RETURN:
        parties.append(("recipient", a["recipient_registry"], a["recipient_holder"]))
    sigs = [
        _signature(nodes, agreement, party, signed.get(party[0], ""), first["decided"])
        for party in parties
    ]
    steps = sorted(first["steps"], key=lambda s: (_ORDER.get(s["step"], 5), s["time"] or ""))
    state = steps[-1]["step"] if steps else "unknown"
    # in flight until every log that takes part has recorded its final step (a finalized
    # transfer whose recipient's log is not yet mirrored here is not registered yet)
    finished = all(s in FINAL_STATES for s in first["states"])
    if a["source_registry"] != a["recipient_registry"] and state == "sourceFinalized":
        finished = False
    block: Resource = first["block"]
    return {
        "id": a["nonce"],
        "resource": str(block),
        "afi": block.afi.value,
        "size": str(_size(block)),
        "kind": a["kind"],
        "from": a["source_registry"],
        "to": a["recipient_registry"],
        "sourceHolder": a["source_holder"],
        "recipientHolder": a["recipient_holder"],
        "state": state,
        "inFlight": not finished,
        "policy": first["policy"],
        "steps": steps,
        "signatures": sigs,
        "time": steps[-1]["time"] if steps else None,
        "started": steps[0]["time"] if steps else None,
    }  # fmt: skip


def transfers_overview(nodes: Nodes, here: RegistryId) -> dict[str, Any]:
    """Every transfer in this node's log and its mirrors, newest first, and the flows between
    registries per month (finished transfers only)."""
    joined: dict[str, dict[str, Any]] = {}
    cut: list[str] = []
    for rid in ALL_REGISTRIES:
        node = nodes(rid)
        if node is None:
            continue
        rows, more = _rows(node)
        if more:
            cut.append(rid.value)
        times = _times(node, [int(r[7]) for r in rows] + [int(r[8]) for r in rows])
        for row in rows:
            record = orjson.loads(row[6])
            entry = joined.setdefault(
                row[0],
                {"record": record, "steps": [], "states": [], "policy": {}, "logs": [],
                 "decided": {}},
            )  # fmt: skip
            # the registry's first entry for the transfer: where it checked its holder's key
            entry["decided"][rid.value] = int(row[7])
            entry["block"] = Resource(Afi(row[3]), unkey(row[4]), unkey(row[5]))
            entry["steps"] += _steps(rid.value, row, times)
            entry["states"].append(row[2])
            entry["logs"].append(rid.value)
            # each registry records the versions of its own policy it decided under
            entry["policy"] |= record.get("policy") or {}
    transfers = [_transfer(e, nodes) for e in joined.values()]
    transfers.sort(key=lambda t: t["time"] or "", reverse=True)
    return {
        "node": here.value,
        "names": {rid.value: rid.display_name for rid in ALL_REGISTRIES},
        "transfers": transfers,
        "flows": flows(transfers),
        "truncated": cut,
        "limit": MAX_PER_LOG,
    }


def flows(transfers: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per month and (source, recipient) registry: blocks, IPv4 and IPv6 addresses and AS
    numbers moved by finished transfers (cancelled ones moved nothing)."""
    out: dict[tuple[str, str, str], dict[str, Any]] = {}
    for t in transfers:
        if t["state"] not in ("sourceFinalized", "recipientRegistered", "completed"):
            continue
        if t["kind"] == RETURN or not t["time"]:
            continue
        month = t["time"][:7]
        row = out.setdefault(
            (month, t["from"], t["to"]),
            {"month": month, "from": t["from"], "to": t["to"], "blocks": 0,
             "ipv4": 0, "ipv6": 0, "asn": 0},
        )  # fmt: skip
        row["blocks"] += 1
        row[t["afi"]] += int(t["size"])
    rows = sorted(out.values(), key=lambda r: (r["month"], r["from"], r["to"]))
    for row in rows:
        row["ipv6"] = str(row["ipv6"])  # beyond JSON's safe integers
    return rows
