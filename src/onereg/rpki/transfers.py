"""Transfers in RPKI: moving a block's certification from one CA to another make-before-break.

The registry log decides who holds what (`registry.interrir`); this module only decides *when*
each CA's certificates follow, so that no route covered by a ROA turns invalid on the way:

1. source `sourceFinalized`: the block has left the source's inventory, but its CA keeps
   certifying it for the previous holder (`RegistryCa.retain`): the holder's certificate, its
   ROAs and the source TA stay as they were.
2. recipient `transfer.registered`: the recipient CA follows its node (`sync`): its TA is
   reissued with the block under the same key (the TAL does not change) and the new holder's CA
   certificate grows. For a while both trust anchors certify the block; relying parties validate
   each TA's tree on its own (rpki-client 8.2 and FORT 1.5.4 accept the overlap, see
   tests/test_rpki_transfer.py), so the previous holder's ROAs and the new holder's ROAs are
   valid side by side and the new holder can announce once its ROA is out.
3. release, once the recipient's certificates holding the block have been published and either
   the new holder's ROAs, published long enough for relying parties to have fetched them
   (`PROPAGATION`), cover every prefix of the block that the previous holder's ROAs authorised,
   or a grace period passed (`RELEASE_GRACE`): the source CA lets go (`RegistryCa.release`): the
   previous holder's certificate is reissued without the block (the old one revoked on the TA's
   CRL), its ROAs reaching into the block are trimmed to what it still holds or revoked, and the
   source TA is reissued, again under the same key, without the block.

After step 3 each TA certifies exactly its registry's authority (`authority_resources`).

`apply_transfer` runs whatever step is due for one transfer when the caller has both CAs at
hand (tests, a single-process federation); it is idempotent, so a node can call it for every
transfer after every change, and then publish. In a federation where each node has only its own
CA the same steps are the hooks `on_finalized` (source), `on_registered` (recipient) and
`release` (source, when it has seen the recipient's repository certify the block).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from enum import StrEnum

from onereg.core.resources import Resource
from onereg.registry.interrir import TransferState, transfer_state
from onereg.registry.transfers import SOURCE_CANCELLED, SOURCE_FINALIZED
from onereg.rpki.ca import RegistryCa, RoaRecord, RpkiError, trim_prefixes
from onereg.rpki.objects import ResourceSet, RoaPrefix

RELEASE_GRACE = timedelta(hours=24)
"""How long the source keeps certifying a block the recipient has published, when the new
holder has not (yet) issued ROAs for everything the previous holder's ROAs authorised: long
enough for relying parties (hourly refreshes) to have fetched the recipient's objects."""


PROPAGATION = timedelta(hours=1)
"""How long a new holder's ROA must have been published before the previous holder's ROAs for
the same prefixes may go: relying parties refresh about hourly, so by then they have it."""


class Phase(StrEnum):
    """Where one transfer stands in RPKI."""

    PENDING = "pending"  # not finalized at the source: nothing moves
    RETAINED = "retained"  # finalized: the source still certifies the block, the recipient not yet
    OVERLAP = "overlap"  # both registries certify the block
    SETTLED = "settled"  # only the recipient certifies it
    CANCELLED = "cancelled"  # the transfer did not happen: nothing moved


def _agreement(t: TransferState) -> tuple[str, str]:
    a = t.signed().agreement
    return a.source_holder, a.recipient_holder


# --- the hooks, one side each --------------------------------------------------------------------


def on_finalized(source_ca: RegistryCa, t: TransferState) -> bool:
    """Source side, after `interrir.finalize`: keep certifying the block for its previous holder
    until `release`. Returns whether this call started the retention (False when it was already
    retained or released: idempotent)."""
    if t.role != "source" or t.state != SOURCE_FINALIZED:
        raise RpkiError(f"transfer {t.id[:16]}... is not finalized at {source_ca.registry}")
    source_holder, _ = _agreement(t)
    return source_ca.retain(t.id, source_holder, t.block)


def on_registered(recipient_ca: RegistryCa, t: TransferState) -> None:
    """Recipient side, after `interrir.register`: the TA and the new holder's CA (if it has one)
    follow the node; the next `publish` records when the block was first published."""
    if t.role != "recipient" or t.state != SOURCE_FINALIZED:
        raise RpkiError(f"transfer {t.id[:16]}... is not registered at {recipient_ca.registry}")
    _, recipient_holder = _agreement(t)
    recipient_ca.sync()
    recipient_ca.note_received(t.id, recipient_holder, t.block)


def release(source_ca: RegistryCa, transfer_id: str) -> bool:
    """Source side, once the recipient certifies the block: stop certifying it (the previous
    holder's certificate shrinks, its ROAs are trimmed or revoked, the TA shrinks)."""
    return source_ca.release(transfer_id)


# --- deciding when the source may let go ---------------------------------------------------------


def authorised_pieces(roas: Iterable[RoaRecord], block: Resource) -> list[RoaPrefix]:
    """The prefixes inside `block` that some of `roas` authorise, each as the largest piece of a
    ROA prefix that lies in the block and is no longer than that ROA's maxLength."""
    inside = ResourceSet.of([block])
    pieces: set[RoaPrefix] = set()
    for roa in roas:
        touching = [p for p in roa.prefixes if p.resource.afi is block.afi]
        pieces.update(trim_prefixes(touching, inside))
    return sorted(pieces)


def roas_moved(
    source_ca: RegistryCa,
    recipient_ca: RegistryCa,
    t: TransferState,
    now: datetime,
    propagation: timedelta = PROPAGATION,
) -> bool:
    """Whether ROAs of the new holder, published at least `propagation` before `now`, authorise
    (with whatever origin) every prefix of the block that the previous holder's ROAs authorise,
    so that revoking the latter leaves no route of the block without a ROA it can be valid by."""
    source_holder, recipient_holder = _agreement(t)
    wanted = authorised_pieces(source_ca.roas(source_holder), t.block)
    have = [
        p
        for r in recipient_ca.roas(recipient_holder)
        if (at := recipient_ca.roa_published_at(recipient_holder, r.file)) is not None
        and at + propagation <= now
        for p in r.prefixes
    ]
    return all(
        any(h.resource.contains(w.resource) and h.max_length >= w.max_length for h in have)
        for w in wanted
    )


def phase(source_ca: RegistryCa, recipient_ca: RegistryCa, transfer_id: str) -> Phase:
    """The transfer's phase as the two CAs have recorded it (no change made)."""
    s = transfer_state(source_ca.node, transfer_id)
    if s is None or s.state not in (SOURCE_FINALIZED, SOURCE_CANCELLED):
        return Phase.PENDING
    if s.state == SOURCE_CANCELLED:
        return Phase.CANCELLED
    retention = next((r for r in source_ca.retentions() if r.transfer == transfer_id), None)
    if retention is not None and retention.released is not None:
        return Phase.SETTLED
    if recipient_ca.certified().contains(s.block):
        return Phase.OVERLAP
    return Phase.RETAINED


def apply_transfer(
    source_ca: RegistryCa,
    recipient_ca: RegistryCa,
    transfer_id: str,
    now: datetime,
    grace: timedelta = RELEASE_GRACE,
    propagation: timedelta = PROPAGATION,
) -> Phase:
    """Run whatever RPKI step is due for one transfer, reading both nodes' logs; idempotent.

    Call it after any transfer step and after the recipient holder changes its ROAs, then
    publish both CAs. The source lets go only after a publication of the recipient's
    certificates holding the block, so at every publication the block is certified by at least
    one registry and every ROA for it stays valid until the new holder's replaces it.
    """
    s = transfer_state(source_ca.node, transfer_id)
    if s is None or s.state not in (SOURCE_FINALIZED, SOURCE_CANCELLED):
        return Phase.PENDING
    if s.state == SOURCE_CANCELLED:
        return Phase.CANCELLED
    on_finalized(source_ca, s)
    source_ca.sync()  # anything else that changed at the source; the retained block stays
    r = transfer_state(recipient_ca.node, transfer_id)
    if r is None or r.state != SOURCE_FINALIZED:
        return phase(source_ca, recipient_ca, transfer_id)
    on_registered(recipient_ca, r)
    receipt = recipient_ca.receipt(transfer_id)
    if receipt is None or receipt.published is None:
        return phase(source_ca, recipient_ca, transfer_id)
    moved = roas_moved(source_ca, recipient_ca, s, now, propagation)
    if moved or now >= receipt.published + grace:
        release(source_ca, transfer_id)
    return phase(source_ca, recipient_ca, transfer_id)
