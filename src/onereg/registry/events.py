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
TRANSFER_COMPLETED = "transfer.completed"
NONCE_USED = "nonce.used"  # only inside transfer.completed

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
