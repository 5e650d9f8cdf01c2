"""The append-only log: entries, their canonical bytes and the hash chain."""
