"""The README's walk-through, run as written: every fenced `sh` block, in order, in one shell,
on a small real subset of the 2018 files (tests/walkdata.py), with the ports moved to free ones.

A step is one command line (a `for`/`until ... done` loop is one step); its comment says what
it must do: `# => TEXT` is output it prints, `# (exit N)` its exit status when not 0. Long-running
servers (`onereg serve`, `rtr serve`) are started in the background with `&`, checked with a
client (curl, rtrclient) and stopped with `kill`. Blocks fenced as `sh noexec` are shown, not run
(only the quick start, which is what the test does). The evidence examples
(`<!-- evidence: SRC -> DST, existing|new holder -->` before a `json` block) must each satisfy
every needs rule of the policies for that transfer, so they cannot drift from policies/*.toml.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from localfed import free_base_port
from onereg.cli.transfers import needs_failures
from onereg.core.registries import RegistryId
from onereg.core.resources import Resource
from onereg.federation.layout import DataDir
from onereg.ledger.agreement import Agreement
from onereg.registry.transfer_policy import (
    EventKind,
    PolicySet,
    Receipt,
    TransferRequest,
    default_policy_dir,
    evaluate,
)
from walkdata import small_shared_data

README = Path(__file__).resolve().parents[1] / "README.md"
VENV_BIN = str(Path(sys.executable).parent)
# The records the walk-through names, kept beside every 600th line of each 2018 file.
KEEP = {
    "ripencc": ["|193.0.", "|asn|3333|"],
    "arin": ["876762d29b9741cf8062b502260203c8", "|asn|112|", "|192.175.48.0|"],
    "lacnic": ["|200.57.128.0|"],
}
EXIT = re.compile(r"#\s*\(exit (\d+)\)")
EXPECT = re.compile(r"#.*?=>\s*(.+?)\s*$")


@dataclass(frozen=True)
class Step:
    line: int  # in README.md
    command: str
    exit: int
    expect: str | None


def fenced_blocks(text: str) -> list[tuple[str, int, list[str]]]:
    """(info string, first line number, lines) of every fenced block."""
    blocks: list[tuple[str, int, list[str]]] = []
    info, start, body = None, 0, []
    for number, line in enumerate(text.splitlines(), 1):
        if line.startswith("```"):
            if info is None:
                info, start, body = line[3:].strip(), number + 1, []
            else:
                blocks.append((info, start, body))
                info = None
        elif info is not None:
            body.append(line)
    assert info is None, f"README.md: the block opened at line {start - 1} is never closed"
    return blocks


def steps(text: str) -> list[Step]:
    """The commands of every `sh` block, continuation lines and loops joined."""
    out: list[Step] = []
    for info, start, body in fenced_blocks(text):
        if info != "sh":
            continue
        pending: list[str] = []
        first = 0
        for offset, line in enumerate(body):
            if not pending:
                if not line.strip() or line.lstrip().startswith("#"):
                    continue
                first = start + offset
            pending.append(line)
            joined = "\n".join(pending)
            in_loop = re.match(r"\s*(for|while|until)\b", pending[0]) and _open_loops(pending)
            if line.rstrip().endswith("\\") or in_loop:
                continue
            code = pending[-1]
            status = EXIT.search(code)
            expect = EXPECT.search(code)
            out.append(
                Step(
                    first,
                    joined,
                    int(status.group(1)) if status else 0,
                    expect.group(1) if expect else None,
                )
            )
            pending = []
    return out


PORTS = 10  # HTTP 8440-8449, whois 8540-8549, RTR 8280-8289


def _open_loops(lines: list[str]) -> int:
    """Loops opened and not yet closed by `done` in these lines (comments left out), so that a
    loop with a one-line loop inside it is one step."""
    code = " ".join(line.split("#")[0] for line in lines)
    opened = len(re.findall(r"(?:^|[;&|]|\s)(?:for|while|until)\s", code))
    return opened - len(re.findall(r"(?:^|;|\s)done\b", code))


def moved_ports(command: str, base: int) -> str:
    """The README's ports (HTTP 8440+n, whois 8540+n, RTR 8280+n; the embedded set-up's six
    nodes, then the node-per-host example's) moved to free ones (`free_base_port`: HTTP at
    base+n, whois at base+100+n, RTR at base+200+n). A node served from its own node.toml
    listens where the moved `node init` put it."""
    command = re.sub(r"\b84(4\d)\b", lambda m: str(base + int(m.group(1)) - 40), command)
    command = re.sub(r"\b85(4\d)\b", lambda m: str(base + 60 + int(m.group(1))), command)
    command = re.sub(r"\b828(\d)\b", lambda m: str(base + 200 + int(m.group(1))), command)
    return re.sub(r"onereg serve (?!--config)", f"onereg serve --base-port {base} ", command)


def script(walk: list[Step], base: int, results: Path) -> str:
    lines = ["trap 'kill $(jobs -p) 2>/dev/null' EXIT"]
    for index, step in enumerate(walk):
        lines += [
            f"{{\n{moved_ports(step.command, base)}\n}} > {results}/{index}.out 2>&1 </dev/null",
            f"echo $? > {results}/{index}.rc",
        ]
    return "\n".join(lines) + "\n"


def words(text: str) -> str:
    """Whitespace collapsed: rich wraps long lines to the terminal's width."""
    return " ".join(text.split())


@pytest.fixture(scope="module")
def walk(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> tuple[list[Step], Path]:
    root = tmp_path_factory.mktemp("readme")
    shared = small_shared_data(shared_data, root / "shared" / "data", KEEP)  # ../shared/data
    work, results = root / "work", root / "results"
    work.mkdir()
    results.mkdir()
    walk = steps(README.read_text())
    env = {
        **os.environ,
        "PATH": f"{VENV_BIN}:{os.environ['PATH']}",
        "ONEREG_SHARED_DATA": str(shared),
        "COLUMNS": "100",
    }
    env.pop("ONEREG_DATA_DIR", None)
    shell = subprocess.Popen(
        ["bash", "-c", script(walk, free_base_port(PORTS), results)],
        cwd=work,
        env=env,
        start_new_session=True,
    )
    try:
        shell.wait(timeout=900)
    finally:
        if shell.poll() is None:
            os.killpg(shell.pid, signal.SIGKILL)
            shell.wait()
    return walk, results


def test_the_walk_through_has_the_steps_the_issue_asks_for() -> None:
    walk = steps(README.read_text())
    commands = [s.command for s in walk]
    assert len(walk) > 40
    assert any("versions" in c and "193.0.0.0/20" in c for c in commands)
    assert any("--list-versions 193.0.0.0/20" in c for c in commands)
    assert any(c.startswith("onereg verify-evidence") for c in commands)
    assert any("agreement evidence" in c for c in commands)
    assert any(c.startswith("rm -rf onereg-data") for c in commands)
    for needed in (  # the RPKI and node-per-host sections run too (none is `noexec`)
        "onereg rpki roa add",
        "onereg rpki publish",
        "onereg rpki validate",
        "onereg rpki show",
        "onereg rov",
        "onereg rtr serve --vrps",
        "onereg rtr serve --tal",
        "rtrclient",
        "onereg node init",
        "onereg node describe",
        "onereg federation assemble",
        "onereg serve --config",
    ):
        assert any(needed in c for c in commands), needed
    intra = next(c for c in commands if "recipient ripencc:$NL" in c).split()[3]
    inter = next(c for c in commands if "recipient arin:$US" in c).split()[3]
    assert not Resource.parse(intra).overlaps(Resource.parse(inter))


def test_every_step_of_the_readme_does_what_it_says(walk: tuple[list[Step], Path]) -> None:
    steps_run, results = walk
    for index, step in enumerate(steps_run):
        rc_file = results / f"{index}.rc"
        assert rc_file.exists(), f"README.md:{step.line}: never ran (the shell stopped before)"
        output = (results / f"{index}.out").read_text(errors="replace")
        where = f"README.md:{step.line}: {step.command}\n--- output ---\n{output[-3000:]}"
        assert int(rc_file.read_text()) == step.exit, where
        if step.expect is not None:
            assert words(step.expect) in words(output), where


def test_audit_and_verify_agree_on_the_allow_list(walk: tuple[list[Step], Path]) -> None:
    """AS112 is on the NRO allow-list for the audit of the nodes and for the audit of the
    replay `onereg verify` makes from the published logs alike."""
    steps_run, results = walk
    outputs = {
        s.command.split("#")[0].strip(): (results / f"{i}.out").read_text()
        for i, s in enumerate(steps_run)
    }
    for command in ("onereg audit", "onereg verify"):
        said = words(outputs[command])
        assert "AS112" in said and "NOT on the NRO allow-list" not in said, command


def evidence_examples(text: str) -> list[tuple[str, str, bool, dict[str, object]]]:
    marker = re.compile(r"<!-- evidence: (\w+) -> (\w+), (existing|new) holder -->")
    found = []
    for match in marker.finditer(text):
        block = text[match.end() :].split("```json\n", 1)[1].split("```", 1)[0]
        found.append((match[1], match[2], match[3] == "existing", json.loads(block)))
    return found


def test_each_policy_has_a_complete_evidence_example() -> None:
    examples = evidence_examples(README.read_text())
    assert {dst for _, dst, _, _ in examples} == {"afrinic", "apnic", "arin", "lacnic", "ripencc"}
    policies = PolicySet.load(default_policy_dir())
    for source, recipient, existing, evidence in examples:
        request = TransferRequest(
            resource=Resource.parse("193.0.20.0/24"),
            source=RegistryId(source),
            recipient=RegistryId(recipient),
            on=datetime.now(UTC).date(),
            received=Receipt(EventKind.LEGACY, datetime(1970, 1, 1, tzinfo=UTC).date()),
            evidence=evidence,
            recipient_is_holder=existing,
        )
        asked = [f for f in evaluate(request, policies).failures if f.rule == "needs"]
        without = [
            f
            for f in evaluate(
                TransferRequest(**{**request.__dict__, "evidence": {}}), policies
            ).failures
            if f.rule == "needs"
        ]
        assert without, f"{source} -> {recipient}: the example shows evidence nobody asks for"
        assert asked == [], f"{source} -> {recipient}: {evidence} leaves {asked}"


def test_needs_failures_reads_whether_the_recipient_holds_space(tmp_path: Path) -> None:
    """Without a node for the recipient it is taken as new (asked the initial-block way)."""
    a = Agreement(
        "193.0.20.0/23", "ripencc", "S", "arin", "R", "transfer", "00" * 16, "2999-01-01T00:00:00Z"
    )
    failures = needs_failures(DataDir(tmp_path), a, {}, PolicySet.load(default_policy_dir()))
    ways = [way for f in failures for way in f.alternatives]
    assert ("initial_block_qualification",) in ways
    assert ("utilisation_80_percent", "current_holdings_addresses") not in ways
