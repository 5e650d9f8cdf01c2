"""`onereg rpki validate` as a whole command beside `rpki-client -n`, on the same tree.

Issue 13 asks that our relying party, timed as a user runs it (process start, imports, the walk,
the JSON output), be no slower than rpki-client revalidating its cache offline. The repository
is the one bench_rpki_validate.py generates (`--cas` holder CAs x `--roas` ROAs, default
40 x 50 = 2,000 ROAs), served once by rsyncd on 127.0.0.1 so that rpki-client fills its cache;
after that nothing touches the network:

  * `onereg rpki validate --tal T --repo MIRROR --json OUT` (MIRROR: the published tree under
    its rsync host name), with its default workers (one per core) and with `--workers 1`;
  * `rpki-client -n -t T -d CACHE -j OUT` (offline: validates what its cache holds);
  * `onereg --help`: the start-up every onereg command pays before its own work.

Each command runs `--runs` times, alternating, after one untimed warm-up each (it writes our
byte-code caches, as a user's first run does); the figure is the median wall-clock time. The
VRP sets must be equal. Beside each median, the CPU it took (user + system, its waited-for
processes included): on a shared machine that says more than the wall clock. The machine is
shared: compare rows of one run only.

Run: .venv/bin/python bench/bench_rpki_validate_command.py  [--cas 40] [--roas 50] [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench_rpki_validate import generate, republish
from report import machine, table, write_section

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from rpkijudges import rsync_daemon, run_rpki_client, world_dir

ONEREG = str(Path(sys.executable).with_name("onereg"))

Vrps = set[tuple[int, str, int]]


def _vrps(json_file: Path) -> Vrps:
    roas = json.loads(json_file.read_text())["roas"]
    return {(int(str(r["asn"]).removeprefix("AS")), r["prefix"], int(r["maxLength"])) for r in roas}


def _timed(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds): the CPU is user + system of the command and every process
    it waited for (rpki-client's parser and helpers, our workers), which a shared machine
    disturbs far less than the wall clock."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=600)
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{argv[0]} exited with {done.returncode}: {done.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return seconds, cpu


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cas", type=int, default=40)
    parser.add_argument("--roas", type=int, default=50)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--state", type=Path, default=Path("/tmp/onereg-bench-rpki-cmd/state"))
    args = parser.parse_args()
    args.state.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(args.state.parent, 0o755)
    port = generate(args.state, args.cas, args.roas)
    tal, rsync_dir, objects = republish(args.state, port)
    # a user's Python writes byte-code caches; the sandbox this may run in does not
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    with world_dir("onereg-bench-rpcmd-") as work:
        with rsync_daemon(rsync_dir, work / "rsyncd", port):
            filled = run_rpki_client(tal, work / "rc", (f"127.0.0.1:{port}",))
        if len(filled.vrps) != args.cas * args.roas:
            raise SystemExit(f"rpki-client found {len(filled.vrps)} VRPs: {filled.log[-2000:]}")
        mirror = work / "mirror"
        mirror.mkdir()
        (mirror / f"127.0.0.1:{port}").symlink_to(rsync_dir)
        ours_out, rc_out = work / "ours.json", work / "rc" / "out"
        ours = [ONEREG, "rpki", "validate", "--tal", str(tal), "--repo", str(mirror)]
        commands = {
            "onereg rpki validate (one worker per core)": [*ours, "--json", str(ours_out)],
            "onereg rpki validate --workers 1": [*ours, "--workers", "1", "--json", str(ours_out)],
            "onereg --help (start-up alone)": [ONEREG, "--help"],
            "rpki-client -n": [
                "rpki-client", "-n", "-t", str(work / "rc" / tal.name), "-d",
                str(work / "rc" / "cache"), "-j", str(rc_out),
            ],
        }  # fmt: skip
        times: dict[str, list[float]] = {name: [] for name in commands}
        cpus: dict[str, list[float]] = {name: [] for name in commands}
        load = os.getloadavg()[0]
        for argv in commands.values():  # warm-up: byte-code caches, page cache
            _timed(argv, env)
        for _ in range(args.runs):
            for name, argv in commands.items():
                wall, cpu = _timed(argv, env)
                times[name].append(wall)
                cpus[name].append(cpu)
        same = _vrps(ours_out) == _vrps(rc_out / "json") == filled.vrps
    median = {name: statistics.median(runs) for name, runs in times.items()}
    reference = median["rpki-client -n"]
    cpu = {name: statistics.median(runs) for name, runs in cpus.items()}
    rows: list[tuple[str, str, str, bool | None]] = [
        (
            name,
            f"{median[name]:.2f} s (runs: {', '.join(f'{t:.2f}' for t in runs)}; "
            f"CPU {cpu[name]:.2f} s)",
            "",
            None,
        )
        for name, runs in times.items()
    ]
    for name in commands:
        if name.startswith("onereg rpki"):
            ratio = median[name] / reference
            target = "<= 1.0" if "per core" in name else ""
            met = ratio <= 1.0 if "per core" in name else None
            rows.append((f"time ratio {name} / rpki-client -n", f"{ratio:.2f}", target, met))
            cpu_ratio = cpu[name] / cpu["rpki-client -n"]
            rows.append((f"CPU ratio {name} / rpki-client -n", f"{cpu_ratio:.2f}", "", None))
    rows.append(("same VRP set", "yes" if same else "NO", "yes", same))
    lines = [
        "## `onereg rpki validate` as a command (bench/bench_rpki_validate_command.py)",
        "",
        f"Machine: {machine()}. Repository: 1 TA, {args.cas} holder CAs x {args.roas} ROAs = "
        f"{objects} objects, issued by `RegistryCa`; rpki-client's cache filled once over rsync,",
        "then every command offline on the same files. Whole commands as a user runs them",
        f"(process start included), median of {args.runs} alternating runs after a warm-up;",
        "CPU is user + system of the command and the processes it waited for (workers, or",
        "rpki-client's parser and helpers).",
        f"Load average when the runs started: {load:.1f} (the machine is shared: compare rows of",
        "one run only). The start-up row is what every onereg command pays before its own work",
        "(the imports of `onereg.cli.main`); the validation itself is the difference.",
        "",
        "Command: `.venv/bin/python bench/bench_rpki_validate_command.py`",
        "",
        *table(rows),
    ]
    write_section("rpki-validate-command", lines)
    if not same:
        raise SystemExit("onereg and rpki-client disagree")


if __name__ == "__main__":
    main()
