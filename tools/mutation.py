"""Mutation testing of the core modules with mutmut 3 (a developer tool, not part of `./dev test`).

    .venv/bin/pip install mutmut          # once, into your own venv; not a project dependency
    nice -n 15 .venv/bin/python tools/mutation.py GROUP [GROUP ...]   # groups: see GROUPS
    .venv/bin/python tools/mutation.py --report GROUP                 # counts again, no run

Each group mutates a few source files against the small set of fast tests that cover them. The
run happens in a scratch directory outside the repository (default
/tmp/onereg-mutation/<clone>/<group>, or $ONEREG_MUTATION_DIR/<group>): mutmut's configuration
(a generated setup.cfg) and everything it writes (mutants/, its caches) stay there, so nothing
here touches `./dev test`, pyproject.toml or the work tree. `shared` in the scratch directory
is a symlink to the real data, read in place. Results per source file go to stdout as a
Markdown table (the figures in docs/mutation.md), and surviving mutants are listed by name;
`mutmut show NAME` run inside the scratch directory prints a mutant's diff.
"""

from __future__ import annotations

import argparse
import filecmp
import os
import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# group -> (files to mutate, relative to the repo; the tests run against them)
GROUPS: dict[str, tuple[list[str], list[str]]] = {
    "core": (
        [
            "src/onereg/core/intervals.py",
            "src/onereg/core/resources.py",
            "src/onereg/core/registries.py",
            "src/onereg/core/errors.py",
            "src/onereg/core/gc.py",
        ],
        ["tests/test_intervals.py", "tests/test_resources.py", "tests/test_core_edges.py"],
    ),
    "core_fs": (["src/onereg/core/fs.py"], ["tests/test_core_fs.py"]),
    "audit": (
        ["src/onereg/audit/checks.py", "src/onereg/audit/findings.py"],
        ["tests/test_audit_edges.py", "tests/test_audit.py"],
    ),
    # Reading nodes and writing the NRO file: test_audit_io.py builds nodes of a few records
    # (tens of milliseconds each); test_audit.py imports IANA's real registries (under a second).
    "audit_io": (
        ["src/onereg/audit/view.py", "src/onereg/audit/nro.py"],
        [
            "tests/test_audit_io.py",
            "tests/test_no_code_from_data.py",
            "tests/test_audit.py",
            "tests/test_audit_edges.py",
        ],
    ),
    "transfer_policy": (
        ["src/onereg/registry/transfer_policy.py"],
        ["tests/test_transfer_policy.py", "tests/test_transfer_policy_edges.py"],
    ),
    "rpki_resources": (
        ["src/onereg/rpki/resources.py"],
        ["tests/test_rpki_resources.py", "tests/test_rpki_validate.py"],
    ),
    "rpki_validate": (
        ["src/onereg/rpki/validate.py"],
        [
            "tests/test_rpki_validate.py",
            "tests/test_rpki_resources.py",
            "tests/test_rpki_dercheck.py",
            "tests/test_rpki_validate_reasons.py",
            "tests/test_rpki_validate_edges.py",
        ],
    ),
    "rtr_state": (
        ["src/onereg/rtr/state.py"],
        ["tests/test_rtr_state_edges.py", "tests/test_rtr.py::test_state_inputs_agree"]
        + [
            f"tests/test_rtr.py::{name}"
            for name in (
                "test_state_serials_and_deltas",
                "test_state_apply_ignores_no_ops",
                "test_state_history_is_bounded",
                "test_state_serial_wraps",
            )
        ],
    ),
    "ledger_small": (
        [
            "src/onereg/ledger/agreement.py",
            "src/onereg/ledger/entry.py",
            "src/onereg/ledger/evidence.py",
        ],
        ["tests/test_agreement.py", "tests/test_checkpoint.py", "tests/test_ledger_edges.py"],
    ),
    "ledger_merkle": (
        ["src/onereg/ledger/merkle.py", "src/onereg/ledger/tiles.py"],
        [
            "tests/test_merkle.py",
            "tests/test_merkle_edges.py",
            "tests/test_tiles.py",
            "tests/test_tiles_edges.py",
        ],
    ),
    "ledger_note": (
        [
            "src/onereg/ledger/note.py",
            "src/onereg/ledger/checkpoint.py",
            "src/onereg/ledger/policy.py",
        ],
        [
            "tests/test_note.py",
            "tests/test_checkpoint.py",
            "tests/test_note_edges.py",
            "tests/test_policy_edges.py",
        ],
    ),
    "ledger_statetree": (
        ["src/onereg/ledger/statetree.py", "src/onereg/ledger/proofile.py"],
        # test_proofs.py builds nodes from real data (deselected here); proof files are tested
        # in test_checkpoint.py.
        [
            "tests/test_statetree.py",
            "tests/test_statetree_edges.py",
            "tests/test_checkpoint.py",
            "tests/test_proofile_edges.py",
        ],
    ),
}

# mutmut maps each function to the tests that ran it while it collected its statistics; code run
# inside a module-scoped fixture is charged to the first test only, so its mutants would run
# against that one test. The scratch copies of the tests therefore get function-scoped fixtures,
# except in these groups, whose fixtures build nodes (seconds each) and whose code the in-memory
# tests (test_audit_edges.py) reach directly.
KEEP_FIXTURE_SCOPE = {"audit", "audit_io"}

# Text replaced in a group's scratch copies of its tests. The state tree's property tests fix
# 120 examples in their own settings (the mutation profile cannot lower them) and its scale
# test builds 100,000 leaves (6 s per mutant); per mutant they run 25 examples and no scale test.
SCRATCH_REWRITES: dict[str, list[tuple[str, str]]] = {
    "ledger_statetree": [
        ("max_examples=120", "max_examples=25"),
        (
            "\ndef test_hundred_thousand_leaves",
            '\n@pytest.mark.skip(reason="scale test, too slow per mutant")'
            "\ndef test_hundred_thousand_leaves",
        ),
    ],
}

PYTEST_ARGS = ["-p", "no:cacheprovider", "-m", "not realdata", "-x", "-q"]


def scratch_for(group: str) -> Path:
    base = os.environ.get("ONEREG_MUTATION_DIR")
    root = Path(base) if base else Path("/tmp/onereg-mutation") / REPO.name
    return root / group


def prepare(group: str) -> Path:
    _, wanted = GROUPS[group]
    tests = [t for t in wanted if (REPO / t.split("::")[0]).exists()]
    work = scratch_for(group)
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    shutil.copytree(REPO / "src", work / "src", ignore=shutil.ignore_patterns("__pycache__"))
    (work / "tests").mkdir()
    files = {t.split("::")[0] for t in tests} | {"tests/conftest.py"}
    # Helpers the selected tests import (plain modules beside them).
    files |= {
        f"tests/{p.name}" for p in (REPO / "tests").glob("*.py") if not p.name.startswith("test_")
    }
    for rel in sorted(files):
        if (REPO / rel).exists():
            copy_test(group, REPO / rel, work / rel)
    shutil.copy2(REPO / "pyproject.toml", work / "pyproject.toml")
    shutil.copytree(REPO / "policies", work / "policies")  # test_transfer_policy reads them
    with (work / "tests" / "conftest.py").open("a") as conftest:
        # Fewer property-test examples per mutant: a mutant that survives 25 examples of every
        # covering test is reported (and looked at) anyway; the full suite keeps its own profile.
        conftest.write(
            "\n\nsettings.register_profile("
            '"mutation", parent=settings.get_profile("onereg"), max_examples=25)\n'
            'settings.load_profile("mutation")\n'
        )
    shared = REPO.parent / "shared"
    if shared.exists():
        # conftest finds the data at <tests>/../../shared; mutmut runs from work/mutants.
        (work / "shared").symlink_to(shared)
    write_config(group, work)
    return work


def write_config(group: str, work: Path) -> None:
    """mutmut's setup.cfg for the group (rewritten by --rerun and --resume, so that test files
    added to the group since the first run are run too; mutmut then collects its statistics
    again)."""
    sources, wanted = GROUPS[group]
    tests = [t for t in wanted if (REPO / t.split("::")[0]).exists()]
    lines = [
        "[mutmut]",
        "source_paths=src/onereg",
        "only_mutate=" + "\n    ".join(["", *sources]),
        "pytest_add_cli_args_test_selection=" + "\n    ".join(["", *tests]),
        "pytest_add_cli_args=" + "\n    ".join(["", *PYTEST_ARGS]),
        "also_copy=policies/",
        "timeout_multiplier=3.0",
        "timeout_constant=5.0",
    ]
    for target in (work / "setup.cfg", work / "mutants" / "setup.cfg"):
        if target.parent.exists():
            target.write_text("\n".join(lines) + "\n")


def copy_test(group: str, source: Path, target: Path) -> None:
    text = source.read_text()
    if group not in KEEP_FIXTURE_SCOPE:
        text = text.replace('@pytest.fixture(scope="module")', "@pytest.fixture")
    for old, new in SCRATCH_REWRITES.get(group, []):
        text = text.replace(old, new)
    target.write_text(text)


def mutmut() -> str:
    exe = Path(sys.executable).with_name("mutmut")
    if not exe.exists():
        sys.exit("mutmut is not installed in this venv: .venv/bin/pip install mutmut")
    return str(exe)


_LINE = re.compile(
    r"^\s*(?P<name>onereg\.[\w.]+?)\.(?P<func>x[ǁ_]\S*?__mutmut_\d+): (?P<status>.+)$"
)


KILLED = ("killed", "timeout", "caught by type check")


def results(group: str) -> list[tuple[str, str, str]]:
    """(module, mutant name, status) of every mutant of the group's last run."""
    out = subprocess.run(
        [mutmut(), "results", "--all", "true"],
        cwd=scratch_for(group),
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    found = []
    for line in out.splitlines():
        m = _LINE.match(line)
        if m:
            found.append((m["name"], f"{m['name']}.{m['func']}", m["status"]))
    return found


def not_killed(group: str) -> list[tuple[str, str]]:
    return [(name, status) for _, name, status in results(group) if status not in KILLED]


def refresh_tests(group: str) -> Path:
    """Copy the repository's current tests into an existing scratch run (to rerun survivors),
    and any source file that changed since: mutmut then resets the results of the functions
    whose code changed (their mutants are checked again) and keeps the others."""
    work = scratch_for(group)
    for path in (REPO / "src").rglob("*.py"):
        target = work / path.relative_to(REPO)
        if not target.exists() or not filecmp.cmp(path, target, shallow=False):
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)  # a new mtime: mutmut makes the mutants again
    for target in (work / "tests", work / "mutants" / "tests"):
        if target.exists():
            for path in (REPO / "tests").glob("*.py"):
                if path.name == "conftest.py":
                    continue  # keeps the mutation profile appended by prepare()
                if (target / path.name).exists() or path.name.startswith("test_"):
                    copy_test(group, path, target / path.name)
    write_config(group, work)
    return work


def report(group: str) -> int:
    per_file: dict[str, Counter[str]] = {}
    left: list[tuple[str, str]] = []
    for module, name, status in results(group):
        per_file.setdefault(module, Counter())[status] += 1
        if status not in KILLED and status != "not checked":
            left.append((name, status))
    print(f"\n### {group}\n")
    print(
        "| module | mutants | checked | killed | survived | no tests | timeout "
        "| kill rate (of checked) |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    worst = 100.0
    for module, counts in sorted(per_file.items()):
        total = sum(counts.values())
        checked = total - counts["not checked"]
        killed = sum(counts[k] for k in KILLED)
        rate = 100.0 * killed / checked if checked else 0.0
        worst = min(worst, rate if checked == total else 0.0)
        print(
            f"| `{module}` | {total} | {checked} | {killed} | {counts['survived']} "
            f"| {counts['no tests']} | {counts['timeout']} | {rate:.1f} % |"
        )
    print(f"\nnot killed ({len(left)}):")
    for name, status in left:
        print(f"  {name}: {status}")
    return 0 if worst >= 90.0 else 1


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("groups", nargs="+", choices=sorted(GROUPS))
    parser.add_argument("--report", action="store_true", help="only print the last run's figures")
    parser.add_argument("--max-children", type=int, default=2)
    parser.add_argument(
        "--names", nargs="*", default=[], help="only these mutants (fnmatch globs allowed)"
    )
    parser.add_argument("--resume", action="store_true", help="go on with unchecked mutants")
    parser.add_argument(
        "--rerun", action="store_true", help="keep the scratch dir, rerun survivors"
    )
    args = parser.parse_args()
    status = 0
    for group in args.groups:
        if not args.report:
            names: list[str] = list(args.names)
            if args.rerun:
                work = refresh_tests(group)
                names = args.names or [
                    name for name, status in not_killed(group) if status != "not checked"
                ]
            elif args.resume:
                work = refresh_tests(group)  # mutmut itself goes on with unchecked mutants
            else:
                work = prepare(group)
            print(f"mutating {', '.join(GROUPS[group][0])} in {work}", flush=True)
            subprocess.run(
                [
                    "nice",
                    "-n",
                    "15",
                    mutmut(),
                    "run",
                    "--max-children",
                    str(args.max_children),
                    *names,
                ],
                cwd=work,
                stdout=(work / "mutmut-run.log").open("w"),
                stderr=subprocess.STDOUT,
                check=False,
            )
        status |= report(group)
    return status


if __name__ == "__main__":
    sys.exit(main())
