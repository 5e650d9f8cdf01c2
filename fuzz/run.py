"""Run the fuzz targets with atheris (coverage-guided libFuzzer) and report what happened.

    python -m fuzz.run --minutes 10                 # every target, the time shared out
    python -m fuzz.run --seconds 300 --family der   # one family, 5 minutes per target
    python -m fuzz.run --list

Each target runs in its own process (libFuzzer runs one target per process), with its corpus
under ``--work`` (default ``.fuzz/<target>/corpus``, seeded from the target's seeds the first
time) so a later run resumes where the last one stopped. A crash stops that target; the input
is written beside its corpus as ``crash-<sha1>`` and the report names it. The table gives
executions, executions per second, libFuzzer's coverage (``cov``: edges reached; ``ft``:
features) and the corpus size.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from fuzz.harness import Target, dictionary
from fuzz.targets import FAMILIES, family_of, family_targets

_STATUS = re.compile(r"^#(\d+)\s+\w+\s+cov: (\d+) ft: (\d+) corp: (\d+)/")
_EXECS = re.compile(r"stat::number_of_executed_units: (\d+)")
_RATE = re.compile(r"stat::average_exec_per_sec: (\d+)")
_ARTIFACT = re.compile(r"Test unit written to (\S+)")


@dataclass(slots=True)
class Outcome:
    """What one target's run reported."""

    target: str
    seconds: float
    execs: int = 0
    rate: int = 0
    cov: int = 0
    ft: int = 0
    corpus: int = 0
    crash: str | None = None

    def row(self) -> str:
        crash = self.crash or "-"
        return (
            f"{self.target:<14} {self.seconds:>7.0f} {self.execs:>10} {self.rate:>8} "
            f"{self.cov:>6} {self.ft:>7} {self.corpus:>6}  {crash}"
        )


HEADER = (
    f"{'target':<14} {'seconds':>7} {'execs':>10} {'exec/s':>8} {'cov':>6} {'ft':>7} "
    f"{'corpus':>6}  crash"
)


def parse_log(target: str, seconds: float, log: str) -> Outcome:
    """The figures libFuzzer printed (its last status line and final stats)."""
    out = Outcome(target, seconds)
    previous = ""
    for line in log.splitlines():
        if m := _STATUS.match(line):
            out.execs, out.cov, out.ft, out.corpus = (int(g) for g in m.groups())
        elif m := _EXECS.search(line):
            out.execs = int(m.group(1))
        elif m := _RATE.search(line):
            out.rate = int(m.group(1))
        elif m := _ARTIFACT.search(line):
            out.crash = f"{out.crash or 'crash'}: {m.group(1)}"
        elif previous.startswith("=== Uncaught Python exception"):
            out.crash = line.strip()[:80]
        previous = line
    if out.rate == 0 and seconds > 0:
        out.rate = int(out.execs / seconds)
    return out


def _target(family: str, name: str) -> Target:
    return {t.name: t for t in family_targets(family)}[name]


def _seed_corpus(family: str, name: str, corpus: Path) -> None:
    if corpus.is_dir() and any(corpus.iterdir()):
        return
    corpus.mkdir(parents=True, exist_ok=True)
    target = _target(family, name)
    for data in target.seeds():
        (corpus / f"seed-{hashlib.sha1(data).hexdigest()}").write_bytes(data[: target.max_len])


def run_target(
    family: str, name: str, seconds: int, work: Path, runs: int | None, seed: int
) -> Outcome:
    """One target in a child process (``--child``), its output kept in ``<work>/<name>/log``."""
    home = work / name
    _seed_corpus(family, name, home / "corpus")
    command = [sys.executable, "-m", "fuzz.run", "--child", f"{family}:{name}"]
    command += ["--seconds", str(seconds)]
    command += ["--work", str(work), "--seed", str(seed)]
    if runs is not None:
        command += ["--runs", str(runs)]
    scratch = home / "scratch"
    scratch.mkdir(exist_ok=True)
    env = {**os.environ, "ONEREG_FUZZ_SCRATCH": str(scratch.resolve())}
    started = time.monotonic()
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, errors="replace", check=False, env=env
        )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    elapsed = time.monotonic() - started
    log = done.stdout + done.stderr
    (home / "log").write_text(log)
    out = parse_log(name, elapsed, log)
    if done.returncode != 0 and out.crash is None:
        out.crash = f"exit {done.returncode} (see {home / 'log'})"
    return out


def child(which: str, seconds: int, work: Path, runs: int | None, seed: int) -> None:
    """Inside the child: instrument the project while importing the target, then fuzz."""
    import atheris

    family, _, name = which.partition(":")
    # the project, and the pure-Python libraries that parse for it (DER, RFC 9421 fields)
    with atheris.instrument_imports(include=["onereg", "asn1crypto", "http_message_signatures"]):
        target = _target(family, name)
    home = work / name
    args = [sys.argv[0], str(home / "corpus"), f"-max_len={target.max_len}", "-timeout=10"]
    args += [f"-artifact_prefix={home}/", "-print_final_stats=1", f"-seed={seed}"]
    args += [f"-max_total_time={seconds}", "-rss_limit_mb=2048"]
    if runs is not None:
        args.append(f"-runs={runs}")
    if target.tokens:
        (home / "dict").write_text(dictionary(target.tokens))
        args.append(f"-dict={home / 'dict'}")
    atheris.Setup(args, target.check)
    atheris.Fuzz()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fuzz.run", description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, help="total time, shared out over the targets")
    parser.add_argument("--seconds", type=int, default=60, help="time per target")
    parser.add_argument("--family", action="append", choices=FAMILIES, help="only these")
    parser.add_argument("--target", action="append", help="only these targets")
    parser.add_argument("--runs", type=int, help="stop each target after this many inputs")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--work", type=Path, default=Path(".fuzz"))
    parser.add_argument("--list", action="store_true")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    opts = parser.parse_args(argv)
    if opts.child:
        child(opts.child, opts.seconds, opts.work, opts.runs, opts.seed)
        return 0
    families = opts.family or sorted({family_of(t) for t in opts.target or []}) or FAMILIES
    chosen = [
        (family, t.name)
        for family in families
        for t in family_targets(family)
        if not opts.target or t.name in opts.target
    ]
    if opts.list or not chosen:
        print("\n".join(f"{family}: {name}" for family, name in chosen) or "no such target")
        return 0 if chosen else 2
    seconds = max(1, int(opts.minutes * 60 / len(chosen))) if opts.minutes else opts.seconds
    print(HEADER, flush=True)
    outcomes = []
    for family, name in chosen:
        outcomes.append(run_target(family, name, seconds, opts.work, opts.runs, opts.seed))
        print(outcomes[-1].row(), flush=True)
    total = sum(o.execs for o in outcomes)
    crashes = [o for o in outcomes if o.crash]
    print(
        f"total: {total} execs in {sum(o.seconds for o in outcomes):.0f} s, "
        f"{len(crashes)} crashing target(s)"
    )
    return 1 if crashes else 0


if __name__ == "__main__":
    sys.exit(main())
