"""The layering rule: a lower layer never imports a higher one (checked on the source, with ast)."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "onereg"
ORDER = [
    "core",
    "ledger",
    "registry",
    "federation",
    "audit",
    "rpki",
    "http",
    "whois",
    "rtr",
    "web",
    "cli",
]
RANK = {name: i for i, name in enumerate(ORDER)}
# audit and rpki sit side by side; the network interfaces sit side by side above them, and the
# web explorer above them (it is served by the node's HTTP server and uses its pools and RDAP
# building blocks), and the command line on top, because it is what starts them.
PEERS = [{"audit", "rpki"}, {"http", "whois", "rtr"}]


def _layer(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "onereg" else None


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append(node.module)
        elif isinstance(node, ast.Import):
            found.extend(alias.name for alias in node.names)
    return found


def _allowed(own: str, other: str) -> bool:
    if any(own in group and other in group and own != other for group in PEERS):
        return False
    return RANK[other] <= RANK[own]


def test_every_package_is_a_known_layer() -> None:
    packages = {p.name for p in SRC.iterdir() if (p / "__init__.py").exists()}
    assert packages <= set(ORDER), packages - set(ORDER)


def test_no_module_imports_a_higher_layer() -> None:
    violations = []
    for path in SRC.rglob("*.py"):
        rel = path.relative_to(SRC)
        if len(rel.parts) < 2:
            continue
        own = rel.parts[0]
        for module in _imports(path):
            other = _layer(module)
            if other is not None and not _allowed(own, other):
                violations.append(f"{rel}: {own} imports {module}")
    assert violations == []


def test_the_checker_sees_a_violation(tmp_path: Path) -> None:
    bad = tmp_path / "mod.py"
    bad.write_text("from onereg.audit.checks import run_audit\n")
    assert not _allowed("registry", _layer(_imports(bad)[0]) or "")
