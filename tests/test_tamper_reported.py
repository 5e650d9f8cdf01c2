"""Tampering is fully reported: `onereg node verify` names the node, checks every entry, the
tree, the node's own signed checkpoints and the projection, and lists every problem; `audit`
and `node rebuild` exit non-zero on a tampered log, every time.

Before the fix one changed payload byte gave one anonymous line and stopped; a chain rewritten
consistently with the tree table dropped was "chain intact"; `audit` exited 0; and a rebuild
replayed the rewritten log, said "DIFFERENT" once and "identical" (exit 0) the second time.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from onereg.cli.main import cli
from onereg.core.registries import RegistryId
from onereg.federation.importer import import_delegated_file
from onereg.federation.layout import DataDir, NodeDir
from onereg.federation.node_config import NodeConfig, init_node
from onereg.ledger.entry import GENESIS_HASH, make_entry
from onereg.registry.checkpoints import CHECKPOINT_SCHEMA, Checkpointer
from onereg.registry.identity import load_or_create_key, origin_of

RID = RegistryId.AFRINIC


def _file(directory: Path, version: int, records: int = 40) -> Path:
    lines = [
        f"afrinic|ZA|ipv4|41.{n}.0.0|{256 << (n % 3)}|20100101|allocated|H{(n + version) % 9}"
        for n in range(records)
    ]
    path = directory / f"v{version}" / "delegated-afrinic-extended-latest"
    path.parent.mkdir(parents=True)
    head = f"2.3|afrinic|2020010{version}|{len(lines)}|19700101|20200101|+0000"
    path.write_text("\n".join([head, *lines]) + "\n")
    return path


@pytest.fixture
def data(tmp_path: Path) -> DataDir:
    """An AFRINIC node with several imports and a checkpoint signed at its current size."""
    data = DataDir(tmp_path / "data")
    for version in range(1, 5):
        import_delegated_file(data, _file(tmp_path, version), None)
    key = load_or_create_key(NodeDir(data.node_dir(RID), RID).log_key, origin_of(RID))
    with data.open_for_write(RID) as node:
        node.conn.executescript(CHECKPOINT_SCHEMA)
        Checkpointer(node, key).sign()
    return data


def _run(data: DataDir, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--data-dir", str(data.root), *args])


def _sql(data: DataDir, *statements: str) -> None:
    """What an intruder with the file does: triggers dropped, rows rewritten."""
    conn = sqlite3.connect(data.node_path(RID), isolation_level=None)
    conn.execute("DROP TRIGGER IF EXISTS log_no_update")
    conn.execute("DROP TRIGGER IF EXISTS log_no_delete")
    for statement in statements:
        conn.execute(statement)
    conn.close()


def _one_digit_changed(payload: bytes) -> bytes:
    """One byte changed, the JSON still valid: the first digit turned into another."""
    at = next(i for i, b in enumerate(payload) if chr(b).isdigit())
    return payload[:at] + str((payload[at] - 47) % 10).encode() + payload[at + 1 :]


def _flip_payload_byte(data: DataDir, seq: int) -> None:
    conn = sqlite3.connect(data.node_path(RID))
    (payload,) = conn.execute("SELECT payload FROM log WHERE seq = ?", (seq,)).fetchone()
    conn.close()
    changed = _one_digit_changed(bytes(payload))
    _sql(data, f"UPDATE log SET payload = x'{changed.hex()}' WHERE seq = {seq}")


def _rewrite_chain_from(data: DataDir, seq: int) -> None:
    """Change one entry and re-hash every entry after it, so the chain is consistent again."""
    conn = sqlite3.connect(data.node_path(RID))
    rows = conn.execute("SELECT seq, time, kind, payload FROM log ORDER BY seq").fetchall()
    conn.close()
    prev, statements = GENESIS_HASH, []
    for s, time, kind, payload in rows:
        payload = _one_digit_changed(bytes(payload)) if s == seq else bytes(payload)
        e = make_entry(s, time, kind, payload, prev)
        statements.append(
            f"UPDATE log SET payload = x'{payload.hex()}', prev_hash = x'{e.prev_hash.hex()}', "
            f"hash = x'{e.hash.hex()}' WHERE seq = {s}"
        )
        prev = e.hash
    _sql(data, *statements, "DROP TABLE tree")


def test_an_intact_node_verifies(data: DataDir) -> None:
    done = _run(data, "node", "verify")
    assert done.exit_code == 0, done.output
    assert "matches its checkpoint" in done.output and "projection = replay" in done.output
    assert _run(data, "audit").exit_code == 0


def test_changed_payload_bytes_are_all_named_with_the_node(data: DataDir) -> None:
    _flip_payload_byte(data, 3)
    _flip_payload_byte(data, 7)
    done = _run(data, "node", "verify")
    assert done.exit_code == 1
    out = " ".join(done.output.split())
    assert "afrinic node (" in out
    assert "log entry 3: stored hash does not match content" in out
    assert "log entry 7: stored hash does not match content" in out  # not stopped at the first
    assert "do not hash to the root the node signed" in out
    audit = _run(data, "audit")
    assert audit.exit_code == 1 and "log entry 3" in " ".join(audit.output.split())
    for _ in range(2):  # refused every time, nothing replayed
        again = _run(data, "node", "rebuild", "--registry", "afrinic")
        assert again.exit_code == 1 and "not replayed" in again.output


def test_a_consistently_rewritten_chain_without_its_tree_is_caught(data: DataDir) -> None:
    _rewrite_chain_from(data, 5)
    done = _run(data, "node", "verify")
    assert done.exit_code == 1, done.output
    out = " ".join(done.output.split())
    assert "chain intact" not in out
    assert "Merkle tree table is missing" in out
    assert "do not hash to the root the node signed" in out
    for _ in range(2):
        again = _run(data, "node", "rebuild")
        assert again.exit_code == 1 and "not replayed" in again.output
    assert _run(data, "audit").exit_code == 1


def test_a_rolled_back_log_is_named_a_rollback(data: DataDir) -> None:
    with data.read(RID) as node:
        size = node.head()[0]
    _sql(data, f"DELETE FROM log WHERE seq > {size - 2}", "DELETE FROM tree")
    done = _run(data, "node", "verify")
    assert done.exit_code == 1
    assert f"rollback: the node signed a checkpoint at size {size}" in done.output


def test_a_tampered_projection_is_reported_and_repaired_by_rebuild(data: DataDir) -> None:
    conn = sqlite3.connect(data.node_path(RID), isolation_level=None)
    conn.execute("UPDATE delegations SET holder = 'EVIL' WHERE start_text = '41.1.0.0'")
    conn.close()
    done = _run(data, "node", "verify")
    assert done.exit_code == 1
    assert "table delegations differs from the replay of the log" in done.output
    repaired = _run(data, "node", "rebuild", "--registry", "afrinic")
    assert repaired.exit_code == 1 and "DIFFERENT (repaired: delegations)" in repaired.output
    assert _run(data, "node", "rebuild").exit_code == 0  # the log was intact: now it is too
    assert _run(data, "node", "verify").exit_code == 0


def test_a_node_on_its_own_host_is_checked_with_its_config(tmp_path: Path) -> None:
    config = init_node(
        NodeConfig(
            RID,
            tmp_path / "node",
            tmp_path / "federation.json",
            "127.0.0.1:1",
            "http://127.0.0.1:1",
        )
    )
    view = config.node_dir.view()
    import_delegated_file(view, _file(tmp_path, 1), None, only=RID)
    with view.open_for_write(RID) as node:
        node.conn.executescript(CHECKPOINT_SCHEMA)
        Checkpointer(node, config.log_signer()).sign()
    toml = str(config.node_dir.config_path)
    assert _run(DataDir(tmp_path / "unused"), "node", "verify", "--node", toml).exit_code == 0
    _flip_payload_byte(view, 3)
    done = _run(DataDir(tmp_path / "unused"), "node", "verify", "--node", toml)
    assert done.exit_code == 1 and f"afrinic node ({config.node_dir.db_path})" in done.output
