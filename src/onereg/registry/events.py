"""The kinds of log entry a registry node writes, and the payload each carries.

Payloads hold resources in the text form of the delegated files (start + value), so an entry
reads like the record it came from and replay needs nothing but the entry itself.
"""

from __future__ import annotations

from typing import Any

NODE_CREATED = "node.created"
SOURCE_IMPORTED = "source.imported"
HOLDER_REGISTERED = "holder.registered"
HOLDER_CHANGED = "holder.changed"
HOLDER_RETIRED = "holder.retired"
DELEGATION_ADDED = "delegation.added"
DELEGATION_CHANGED = "delegation.changed"
DELEGATION_REMOVED = "delegation.removed"
CROSS_HOLDING_RECORDED = "crossholding.recorded"
CROSS_HOLDING_CLEARED = "crossholding.cleared"
SPECIAL_RESERVED = "special.reserved"
SPECIAL_RELEASED = "special.released"
KEY_PUBLISHED = "key.published"
KEY_ROTATED = "key.rotated"
HOLDER_KEY = "holder.key"
# A transfer entry (any kind below) carries its own projection: the transfer's id (the agreement
# nonce), the node's role and the NRO state it reached, the block, the delegation changes it makes,
# and whether it sets or releases the block's lock. See registry/transfer_log.py.
TRANSFER_COMPLETED = "transfer.completed"  # intra-registry: the whole transfer in one entry
TRANSFER_INITIALIZED = "transfer.initialized"  # source: sourceInitialized, block locked
TRANSFER_ACCEPTED = "transfer.accepted"  # recipient: recipientAccepted, block reserved
TRANSFER_DECLINED = "transfer.declined"  # recipient: recipientCancelled, with reasons
TRANSFER_FINALIZED = "transfer.finalized"  # source: sourceFinalized, block removed
TRANSFER_CANCELLED = "transfer.cancelled"  # source: sourceCancelled, lock released
TRANSFER_REGISTERED = "transfer.registered"  # recipient: block delegated to the new holder
TRANSFER_ABORTED = "transfer.aborted"  # recipient: the source cancelled, reservation released
TRANSFER_KINDS = frozenset(
    {
        TRANSFER_COMPLETED,
        TRANSFER_INITIALIZED,
        TRANSFER_ACCEPTED,
        TRANSFER_DECLINED,
        TRANSFER_FINALIZED,
        TRANSFER_CANCELLED,
        TRANSFER_REGISTERED,
        TRANSFER_ABORTED,
    }
)
# Items a transfer entry expands to; never written as entries of their own.
NONCE_USED = "nonce.used"
TRANSFER_STATE = "transfer.state"
LOCK_SET = "lock.set"
LOCK_RELEASED = "lock.released"

# A bulk import packs runs of same-kind changes into `batch` entries of at most BATCH_BYTES of
# payload: a 190,000-record file becomes ~5,000 entries instead of 190,000, which keeps a full
# import within seconds. Single changes (a transfer, one new delegation) are one entry each.
# Entries are published in tile bundles with a 16-bit length per entry, hence the byte caps;
# the batch cap is far below that because a proof of holding carries the whole entry that made
# the delegation (8 kB keeps such proofs near 12 kB).
BATCH = "batch"
BATCH_BYTES = 8_000
MAX_PAYLOAD_BYTES = 65_000

Payload = dict[str, Any]
Item = tuple[str, Payload]
