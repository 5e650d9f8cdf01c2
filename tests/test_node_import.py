"""`onereg import --node`: an operator imports into their own node on its host, whose database
sits beside its verified mirrors of the other registries' logs (a node's view), not in a data
dir of six nodes. Only the node's own registry is written, never while the node is served."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import onereg
from onereg.core.registries import RegistryId
from onereg.federation.layout import DataDir, NodeDir, hold_serve_lock
from onereg.federation.node_config import NodeConfig, init_node
from onereg.registry.node import RegistryNode

SRC = str(Path(onereg.__file__).resolve().parents[1])


def _onereg(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "onereg.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,  # the default data dir would be here
        env={**os.environ, "PYTHONPATH": SRC},  # this onereg, whatever the cwd
    )


def _write(directory: Path, registry: str, lines: list[str]) -> Path:
    path = directory / f"delegated-{registry}-extended-latest"
    head = [f"2.3|{registry}|20181013|{len(lines)}|19700101|20181013|+0000"]
    path.write_text("\n".join(head + lines) + "\n")
    return path


def _node(tmp_path: Path, registry: RegistryId) -> NodeConfig:
    node_dir, federation = tmp_path / "node", tmp_path / "federation.json"
    return init_node(NodeConfig(registry, node_dir, federation, "127.0.0.1:1", "http://x"))


def test_a_view_refuses_writes_next_to_the_served_node(tmp_path: Path) -> None:
    nd = NodeDir(tmp_path / "node", RegistryId.ARIN)
    nd.root.mkdir()
    view = nd.view()
    assert view.node_dir(RegistryId.ARIN) == nd.root  # where its serve.lock is
    assert view.node_path(RegistryId.ARIN) == nd.db_path
    assert view.node_dir(RegistryId.RIPENCC) == nd.mirrors / "nodes" / "ripencc"
    assert DataDir(tmp_path).node_dir(RegistryId.ARIN) == tmp_path / "nodes" / "arin"


def test_import_into_one_node_of_its_own_registry_only(tmp_path: Path, shared_data: Path) -> None:
    config = _node(tmp_path, RegistryId.RIPENCC)
    toml = str(config.node_dir.config_path)
    ours = _write(tmp_path, "ripencc", ["ripencc|NL|ipv4|193.0.0.0|4096|19930901|allocated|R1"])
    theirs = _write(tmp_path, "arin", ["arin|US|ipv4|23.0.0.0|65536|20100101|allocated|A1"])

    done = _onereg(
        tmp_path, "--data-dir", str(tmp_path / "unused"), "import", "--node", toml, str(ours)
    )
    assert done.returncode == 0, done.stderr
    assert not (tmp_path / "unused").exists()  # the data dir is not where it went
    with RegistryNode.open(RegistryId.RIPENCC, config.node_dir.db_path) as node:
        assert [d.holder for d in node.delegations()] == ["R1"]
        size = node.conn.execute("SELECT count(*) FROM log").fetchone()[0]
    assert not config.node_dir.mirrors.exists()  # no mirror was created or written

    for other in (theirs, shared_data / "iana"):  # another registry's file: nothing written
        refused = _onereg(tmp_path, "import", "--node", toml, str(other))
        assert refused.returncode == 2 and "this node is ripencc's" in refused.stderr, refused
    assert not (config.node_dir.mirrors / "nodes").exists()
    assert not (tmp_path / "onereg-data").exists()  # nor the default data dir

    lock = hold_serve_lock(config.node_dir.root)  # as `onereg serve` does
    try:
        served = _onereg(tmp_path, "import", "--node", toml, str(ours))
        assert served.returncode == 2 and "being served" in served.stderr, served
    finally:
        os.close(lock)
    with RegistryNode.open(RegistryId.RIPENCC, config.node_dir.db_path) as node:
        assert node.conn.execute("SELECT count(*) FROM log").fetchone()[0] == size
