"""A node's signing key: one Ed25519 key per node, in a file only its owner can read.

The private key never enters the log or any output; the log records the public key (as a
signed-note verifier key) when the node first signs, and every rotation, so a verifier that
replays the log knows which key must have signed each checkpoint.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from onereg.core.errors import OneregError
from onereg.core.fs import private_dir
from onereg.core.registries import RegistryId
from onereg.ledger.note import Signer

ORIGIN_PREFIX = "onereg.example"


class KeyFileError(OneregError):
    """A node key file is missing, unreadable, or readable by others."""


def origin_of(registry: RegistryId, prefix: str = ORIGIN_PREFIX) -> str:
    """The log's origin line, which is also its key name (C2SP convention)."""
    return f"{prefix}/{registry.value}"


def key_path(keys_dir: Path, registry: RegistryId) -> Path:
    return keys_dir / f"{registry.value}.key"


def _write_private(path: Path, text: str) -> None:
    """Create the file with mode 0600 from the start: never world-readable, even briefly."""
    private_dir(path.parent)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text + "\n")


def load_signer(path: Path) -> Signer:
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise KeyFileError(f"no node key at {path}") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise KeyFileError(
            f"{path} is readable by others (mode {stat.S_IMODE(mode):o}); "
            "run: chmod 600 " + str(path)
        )
    return Signer.from_skey(path.read_text().strip())


def load_or_create_signer(keys_dir: Path, registry: RegistryId, origin: str) -> Signer:
    return load_or_create_key(key_path(keys_dir, registry), origin)


def load_or_create_key(path: Path, origin: str) -> Signer:
    if path.exists():
        return load_signer(path)
    signer = Signer.generate(origin)
    _write_private(path, signer.skey())
    return signer


def rotate_signer(path: Path, origin: str) -> tuple[Signer, Signer]:
    """(old, new): the new key is written beside the old one; `commit_rotation` swaps them."""
    old = load_signer(path)
    new = Signer.generate(origin)
    pending = path.with_suffix(".key.new")
    pending.unlink(missing_ok=True)
    _write_private(pending, new.skey())
    return old, new


def commit_rotation(current: Path) -> None:
    """Make the pending key the node's key, keeping the retired one (mode 0600) beside it."""
    pending = current.with_suffix(".key.new")
    retired = current.with_suffix(".key.retired")
    os.replace(current, retired)
    os.replace(pending, current)
