"""Import planning: the in-file overlap check (sorted and unsorted files), bulk index handling."""

from __future__ import annotations

from pathlib import Path

import pytest

from onereg.core.errors import OverlapError
from onereg.core.registries import RegistryId
from onereg.registry.imports import check_disjoint, plan_delegated_import
from onereg.registry.node import RegistryNode
from onereg.registry.sources.delegated import parse_delegated


def _file(tmp_path: Path, lines: list[str]) -> Path:
    path = tmp_path / "delegated-lacnic-extended-latest"
    body = [f"2.3|lacnic|20240208|{len(lines)}|19870101|20240208|-0300", *lines]
    path.write_text("\n".join(body) + "\n")
    return path


def test_an_overlap_in_an_unsorted_file_names_both_lines(tmp_path: Path) -> None:
    path = _file(
        tmp_path,
        [
            "lacnic|BR|ipv4|200.0.0.0|1024|20000101|allocated|1",
            "lacnic|BR|asn|27000|10|20000101|allocated|1",
            "lacnic|AR|ipv4|200.0.2.0|256|20000101|allocated|2",  # inside the first, after an asn
        ],
    )
    with pytest.raises(OverlapError) as caught:
        check_disjoint(parse_delegated(path))
    message = str(caught.value)
    assert f"{path}:2 lacnic|BR|ipv4|200.0.0.0|1024" in message
    assert f"{path}:4 lacnic|AR|ipv4|200.0.2.0|256" in message


def test_an_unsorted_file_without_overlap_is_accepted(tmp_path: Path) -> None:
    path = _file(
        tmp_path,
        [
            "lacnic|BR|ipv4|200.0.4.0|256|20000101|allocated|1",
            "lacnic|BR|ipv4|200.0.0.0|1024|20000101|allocated|1",
            "lacnic|BR|asn|27000|10|20000101|allocated|1",
            "lacnic|AR|ipv4|200.0.5.0|256|20000101|allocated|2",
        ],
    )
    check_disjoint(parse_delegated(path))


def test_touching_ranges_are_not_an_overlap(tmp_path: Path) -> None:
    path = _file(
        tmp_path,
        [
            "lacnic|BR|ipv4|200.0.0.0|1024|20000101|allocated|1",
            "lacnic|BR|ipv4|200.0.4.0|1024|20000101|allocated|1",
        ],
    )
    check_disjoint(parse_delegated(path))


def test_a_bulk_import_leaves_the_holder_index_in_place(tmp_path: Path, shared_data: Path) -> None:
    path = shared_data / "delegated" / "2018-10-13" / "delegated-lacnic-extended-latest"
    dfile = parse_delegated(path)
    with RegistryNode.open(RegistryId.LACNIC, tmp_path / "n.sqlite") as node:
        plan = plan_delegated_import(node, dfile, "x")
        assert plan is not None and len(plan.items) > 10_000
        node.append(plan.items, batch=True)
        indexes = {
            r[0] for r in node.conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")
        }
        assert "delegations_holder" in indexes
        query_plan = node.conn.execute(
            "EXPLAIN QUERY PLAN SELECT * FROM delegations WHERE holder = '20118'"
        ).fetchall()
        assert "delegations_holder" in str(query_plan)


def test_a_failed_bulk_write_keeps_the_index_and_the_state(
    tmp_path: Path, shared_data: Path
) -> None:
    path = shared_data / "delegated" / "2018-10-13" / "delegated-lacnic-extended-latest"
    dfile = parse_delegated(path)
    with RegistryNode.open(RegistryId.LACNIC, tmp_path / "n.sqlite") as node:
        plan = plan_delegated_import(node, dfile, "x")
        assert plan is not None
        before = (node.head(), node.state_digest())
        broken = [*plan.items, ("no.such.kind", {})]
        with pytest.raises(Exception, match="unknown log entry kind"):
            node.append(broken, batch=True)
        assert (node.head(), node.state_digest()) == before
        assert (
            node.conn.execute(
                "SELECT count(*) FROM sqlite_master WHERE name = 'delegations_holder'"
            ).fetchone()[0]
            == 1
        )
