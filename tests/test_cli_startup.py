"""`onereg` starts light: `--help`, `show` and `audit` load none of the stacks other commands need
(numpy, aiohttp, httpx, Starlette, uvicorn, the RPKI and RTR code), because subcommands import
what they use when they run (`cli.lazy`). Structural, not timed: the timings are in
bench/bench_commands.py. Also: the one-line help kept for lazy subcommands is their own."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import click
import pytest

from onereg.cli import main as cli_main
from onereg.cli.lazy import LazyGroup
from onereg.federation.config import DEFAULT_BASE_PORT
from onereg.federation.importer import import_delegated_file, import_iana
from onereg.federation.layout import DataDir

HEAVY = (
    "numpy",
    "aiohttp",
    "httpx",
    "starlette",
    "uvicorn",
    "jsonschema",
    "onereg.rpki",
    "onereg.rtr",
    "onereg.http",
    "onereg.federation.mirror",
    "onereg.federation.peer_client",
)

# Runs the command in this interpreter, then reports which modules it had loaded.
PROBE = """
import json, sys
from onereg.cli.main import cli
try:
    cli(sys.argv[1:], prog_name="onereg")
except (SystemExit, Exception):  # a refused command (OneregError) has loaded what it needed
    pass
sys.stderr.write("\\nMODULES " + json.dumps(sorted(sys.modules)) + "\\n")
"""


def _loaded(*args: str) -> tuple[set[str], str]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *args], capture_output=True, text=True, timeout=120
    )
    marker = done.stderr.rsplit("MODULES ", 1)
    assert len(marker) == 2, done.stderr
    return set(json.loads(marker[1])), done.stdout


def _heavy(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if any(m == h or m.startswith(h + ".") for h in HEAVY))


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> Path:
    """IANA's registries and 300 real records of the 2018 RIPE NCC file (193.0.0.0/20's among
    them), under the file's own header with the count made to match."""
    root = tmp_path_factory.mktemp("startup")
    source = shared_data / "delegated" / "2018-10-13" / "delegated-ripencc-extended-latest"
    lines = source.read_text().splitlines()
    records = [line for line in lines[4:] if "|summary" not in line]
    at = next(i for i, line in enumerate(records) if "|193.0.0.0|" in line)
    chosen = records[at - 150 : at + 150]
    version, registry, serial, _count, *rest = lines[0].split("|")
    header = "|".join([version, registry, serial, str(len(chosen)), *rest])
    part = root / "src" / "delegated-ripencc-extended-latest"
    part.parent.mkdir()
    part.write_text("\n".join([header, *chosen]) + "\n")
    data = DataDir(root / "data")
    import_iana(data, shared_data / "iana")
    import_delegated_file(data, part, None)
    return root / "data"


def test_help_loads_no_heavy_module() -> None:
    modules, out = _loaded("--help")
    assert "rov" in out and "rpki" in out  # the lazy commands are listed all the same
    assert _heavy(modules) == []
    assert "onereg.cli.rov" not in modules and "onereg.cli.rpki" not in modules


def test_show_and_audit_load_no_heavy_module(data_dir: Path, shared_data: Path) -> None:
    base = ("--data-dir", str(data_dir), "--shared-data", str(shared_data))
    modules, out = _loaded(*base, "show", "193.0.0.1")
    assert "193.0.0.0/8" in out  # it did look the resource up
    assert _heavy(modules) == []
    modules, out = _loaded(*base, "audit")
    assert "verdict" in out
    assert _heavy(modules) == []


def test_a_lazy_command_loads_when_run() -> None:
    modules, out = _loaded("rov", "--help")
    assert "--vrps" in out
    assert "onereg.cli.rov" in modules


@pytest.mark.parametrize(
    ("group", "table"),
    [(cli_main.cli, cli_main.LAZY_COMMANDS), (cli_main.node, cli_main.LAZY_NODE_COMMANDS)],
)
def test_the_listed_help_of_a_lazy_command_is_its_own(
    group: click.Group, table: dict[str, tuple[str, str]]
) -> None:
    assert isinstance(group, LazyGroup)
    for name, (_target, _help) in table.items():
        entry = group.lazy.get(name)
        command = entry.load() if entry is not None else group.commands[name]
        for limit in (30, 45, 80, 200):
            listed = click.Command(None, help=_help).get_short_help_str(limit)
            assert listed == command.get_short_help_str(limit), (name, limit)


def test_the_base_port_default_is_the_federations() -> None:
    assert cli_main.DEFAULT_BASE_PORT == DEFAULT_BASE_PORT


def test_rpki_validate_of_a_local_mirror_loads_no_http_client(tmp_path: Path) -> None:
    """With --repo nothing is fetched, so the fetcher's HTTP stack (0.1-0.2 s of imports, paid
    before any work) stays out, while validation itself (numpy-free) runs."""
    tal = tmp_path / "lab.tal"
    tal.write_text("rsync://127.0.0.1/ta/ta.cer\n\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA\n")
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    modules, _ = _loaded("rpki", "validate", "--tal", str(tal), "--repo", str(mirror))
    assert "onereg.rpki.validate" in modules
    assert not [m for m in modules if m.split(".")[0] in ("httpx", "aiohttp")]
    assert "onereg.rpki.fetch" not in modules
