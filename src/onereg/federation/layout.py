"""Where nodes keep their files.

A node owns one directory (`NodeDir`): its database, its keys (mode 0600 in a 0700 folder), its
verified mirrors of the other registries' logs, its RPKI CA and its config. Nothing in a node's
code opens a path outside that directory except the federation file the operators exchanged.

`DataDir` is the embedded one-machine set-up of `onereg up`: the six node directories side by
side under `<data-dir>/nodes/<registry>/`. Commands that read "the federation" (audit, show,
prove, export nro) take a `DataDir`; pointed at a node's view (`NodeDir.view`), the same code reads
that node's own database and its mirrors of the others instead.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from onereg.core.errors import NodeNotFoundError, OneregError
from onereg.core.fs import private_dir
from onereg.core.registries import ALL_REGISTRIES, RIRS, RegistryId
from onereg.registry.node import WRITE_WAIT, RegistryNode

NODE_DB = "node.sqlite"
NODE_CONFIG = "node.toml"


@dataclass(frozen=True, slots=True)
class DataDir:
    """A set of node databases, one per registry: `<root>/nodes/<registry>/node.sqlite`, unless
    `paths` names another file for a registry (a node's own database beside its mirrors)."""

    root: Path
    paths: Mapping[RegistryId, Path] = field(default_factory=dict)

    def node_dir(self, registry: RegistryId) -> Path:
        """The folder of the registry's database, where its server's `serve.lock` is: the
        folder of the file `paths` names, if it names one (a node's view: the node's own
        directory, so that writes through the view are refused while the node is served)."""
        path = self.paths.get(registry)
        return path.parent if path is not None else self.root / "nodes" / registry.value

    def node_path(self, registry: RegistryId) -> Path:
        return self.paths.get(registry) or self.root / "nodes" / registry.value / NODE_DB

    def exists(self, registry: RegistryId) -> bool:
        return self.node_path(registry).exists()

    def open_for_write(self, registry: RegistryId, create: bool = False) -> RegistryNode:
        """Open a node to change it from this process: refused while its server runs (the
        server owns the database then; changes go through its API). Until the node is closed,
        a server cannot start on it either (`writer_lock`)."""
        node_dir = self.node_dir(registry)
        path = self.node_path(registry)
        if not create and not path.exists():
            raise NodeNotFoundError(f"no {registry} node in {self.root} (run `onereg up` first)")
        private_dir(node_dir)
        release = writer_lock(node_dir, registry)
        try:
            node = RegistryNode.open(registry, path, wait=WRITE_WAIT)  # waits out an import
        except BaseException:
            release()
            raise
        node.on_close.append(release)
        return node

    def open(self, registry: RegistryId, create: bool = True) -> RegistryNode:
        path = self.node_path(registry)
        if not create and not path.exists():
            raise NodeNotFoundError(f"no {registry} node in {self.root} (run `onereg up` first)")
        return RegistryNode.open(registry, path)

    def read(self, registry: RegistryId) -> RegistryNode:
        """Open an existing node read-only: for the commands that only read (audit, show,
        verify, export, prove), which then work on a read-only disk and can change nothing."""
        path = self.node_path(registry)
        if not path.exists():
            raise NodeNotFoundError(f"no {registry} node in {self.root} (run `onereg up` first)")
        return RegistryNode.open_readonly(registry, path)

    @contextmanager
    def nodes(
        self, registries: tuple[RegistryId, ...] = ALL_REGISTRIES, create: bool = False
    ) -> Iterator[dict[RegistryId, RegistryNode]]:
        opened: dict[RegistryId, RegistryNode] = {}
        try:
            for rid in registries:
                if create or self.exists(rid):
                    opened[rid] = self.open(rid) if create else self.read(rid)
            yield opened
        finally:
            for node in opened.values():
                node.close()


@dataclass(frozen=True, slots=True)
class NodeDir:
    """One node's own directory (see the module docstring for what lives where)."""

    root: Path
    registry: RegistryId

    @property
    def db_path(self) -> Path:
        return self.root / NODE_DB

    @property
    def config_path(self) -> Path:
        return self.root / NODE_CONFIG

    @property
    def keys(self) -> Path:
        return self.root / "keys"

    @property
    def log_key(self) -> Path:
        """The log's signing key (rotated through the log: `key.rotated`)."""
        return self.keys / "log.key"

    @property
    def node_key(self) -> Path:
        """The node's identity: cosigns the other logs as a witness and signs node-to-node
        requests and answers; its public half is in the federation file."""
        return self.keys / "node.key"

    @property
    def mirrors(self) -> Path:
        return self.root / "mirrors"

    @property
    def rpki_ca(self) -> Path:
        return self.root / "rpki" / "ca"

    @property
    def rpki_pub(self) -> Path:
        return self.root / "rpki" / "pub"

    @property
    def lock_path(self) -> Path:
        return self.root / "serve.lock"

    def view(self) -> DataDir:
        """This node's database and its verified mirrors of every other registry's log."""
        return DataDir(self.mirrors, {self.registry: self.db_path})


class NodeServedError(OneregError):
    """A command tried to write a node's database while the node's server runs."""


LOCK_FILE = "serve.lock"


def served_by(node_dir: Path) -> int | None:
    """The pid of the process serving this node directory, or None."""
    path = node_dir / LOCK_FILE
    if not path.exists():
        return None
    with path.open("r") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            text = handle.read().strip()
            return int(text) if text.isdigit() else -1
        fcntl.flock(handle, fcntl.LOCK_UN)
    return None


def refuse_if_served(node_dir: Path, registry: RegistryId) -> None:
    pid = served_by(node_dir)
    if pid is not None and pid != os.getpid():  # the serving process itself may write
        raise _served_error(node_dir, registry, pid)


def _served_error(node_dir: Path, registry: RegistryId, pid: int) -> NodeServedError:
    return NodeServedError(
        f"the {registry} node is being served (pid {pid}) from {node_dir}: it owns its "
        "database now; make the change through its API (the `onereg` commands do where "
        "they can), or stop it first"
    )


def writer_lock(node_dir: Path, registry: RegistryId) -> Callable[[], None]:
    """A shared lock on `serve.lock` for a CLI command writing the node: several such
    commands may hold it (SQLite serialises their transactions), a server's exclusive lock
    excludes them all. Checked and taken in one step, so a server cannot start between the
    check and the write. Returns the release function. The serving process itself writes
    under its own exclusive lock."""
    fd = os.open(node_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        text = os.read(fd, 32).decode(errors="replace").strip()
        os.close(fd)
        pid = int(text) if text.isdigit() else -1
        if pid == os.getpid():
            return lambda: None
        raise _served_error(node_dir, registry, pid) from None
    return lambda: os.close(fd)


SERVE_WAIT = 600.0  # how long `onereg serve` waits for CLI writes on its node to finish


def hold_serve_lock(node_dir: Path, wait: float = SERVE_WAIT) -> int:
    """Taken by `onereg serve` for the life of the process (the OS drops it on exit, even on
    SIGKILL); returns the open descriptor, which must stay open. A CLI command writing the
    node (a shared lock) is waited for; another server is an error at once."""
    fd = os.open(node_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
    deadline = time.monotonic() + wait
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if served_by(node_dir) is not None or time.monotonic() > deadline:
                os.close(fd)
                raise NodeServedError(
                    f"{node_dir} is already being served by another process, or a command "
                    f"writing it did not finish within {wait:.0f} s"
                ) from None
            time.sleep(0.2)  # a CLI command is writing the node: it finishes, then we serve
    os.ftruncate(fd, 0)
    os.write(fd, str(os.getpid()).encode())
    return fd


def delegated_file_name(registry: RegistryId) -> str:
    return f"delegated-{registry.value}-extended-latest"


def find_delegated(directory: Path, registry: RegistryId) -> Path | None:
    """The registry's file in a folder of delegated files, whatever its exact name."""
    candidates = sorted(
        p
        for p in directory.glob(f"delegated-{registry.value}-*")
        if not p.name.endswith((".md5", ".asc"))
    )
    return candidates[0] if candidates else None


__all__ = ["RIRS", "DataDir", "NodeDir", "delegated_file_name", "find_delegated"]
