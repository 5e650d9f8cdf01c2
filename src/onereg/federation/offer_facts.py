"""What a recipient registry checks of an offer against the source's own, verified log.

An offer carries facts only the source registry knows (who holds the block, its status, when it
was registered, which registry IANA gave it to). The recipient takes none of them on the offer's
word: the source logs them in its `transfer.initialized` entry before it offers, and the
recipient compares the offer with that entry as its verified mirror of the source's log has it,
and with the delegation there. A source node that signed a false offer would have to put the
lie in its own witnessed log first, where anyone can see it.
"""

from __future__ import annotations

from onereg.core.registries import RegistryId
from onereg.federation.layout import DataDir
from onereg.registry.interrir import Offer, TransferState, transfer_state
from onereg.registry.transfers import HELD, SOURCE_FINALIZED, parse_block

FACTS = ("original", "registered", "source_cc", "status", "authority")


def offer_facts_problems(mirrors: DataDir, offer: Offer) -> list[str] | None:
    """Every fact that differs from the source's log ([] when all agree); None when the mirror
    does not have the source's initialization yet, so nothing can be decided now."""
    a = offer.signed.agreement
    rid = RegistryId(a.source_registry)
    reasons, block = parse_block(offer.signed)
    if block is None:
        return reasons
    if not mirrors.exists(rid):
        return None
    with mirrors.read(rid) as mirror:
        logged = transfer_state(mirror, a.nonce)
        if logged is None:
            return None
        found = mirror.overlapping(block)
    problems = []
    if logged.role != "source" or logged.signed().to_json() != offer.signed.to_json():
        problems.append(f"{rid}'s log records another agreement under this transfer id")
    claimed = {
        "original": dict(offer.original),
        "registered": offer.registered,
        "source_cc": offer.source_cc,
        "status": offer.status,
        "authority": offer.authority,
    }
    for name in FACTS:
        if claimed[name] != logged.record.get(name):
            problems.append(
                f"the offer's {name} is {claimed[name]!r}, but {rid}'s log says "
                f"{logged.record.get(name)!r}"
            )
    held = found[0] if len(found) == 1 and found[0].resource.contains(block) else None
    if held is None or held.holder != a.source_holder or held.status not in HELD:
        problems.append(f"{rid}'s log does not show {a.source_holder} holding {block}")
    return problems


def registration_problems(mirrors: DataDir, t: TransferState) -> list[str] | None:
    """Before a recipient registers a block: the source's log must show this transfer
    finalized, with the facts the recipient recorded from the offer ([] when so). None: the
    mirror does not show it finalized yet."""
    rid = RegistryId(t.counterpart)
    if not mirrors.exists(rid):
        return None
    with mirrors.read(rid) as mirror:
        logged = transfer_state(mirror, t.id)
    if logged is None or logged.state != SOURCE_FINALIZED:
        return None
    problems = []
    if logged.role != "source" or logged.signed().to_json() != t.signed().to_json():
        problems.append(f"{rid}'s log records another agreement under this transfer id")
    for name in FACTS:
        if t.record.get(name) != logged.record.get(name):
            problems.append(
                f"the offer's {name} was {t.record.get(name)!r}, but {rid}'s log says "
                f"{logged.record.get(name)!r}"
            )
    return problems
