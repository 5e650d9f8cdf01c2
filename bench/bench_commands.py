"""Whole-command timings of `onereg` as a user runs it, each beside its baseline (issue 13).

Every figure is the median of N runs of the installed console script in a fresh process (the
clock starts before the fork and stops when the process has exited), with the CPU it used
(user + system, from wait4) beside it, because on a shared machine the wall clock mostly
measures the neighbours:

* `onereg --help`, `onereg show 193.0.0.1` and `onereg audit` on unchanged nodes (target
  <= 0.25 s), beside the Debian `whois` client asking one node served by `onereg serve --config`
  for the same resource;
* `onereg audit` right after a change (target <= 1 s): before each run one record of the RIPE
  NCC node changes (an import of its 2018 file with one country changed, alternately back);
* `onereg rov` on the 2014 RouteViews table (512,621 routes) against 10^6 VRPs in a CSV file
  (target <= 1.5 s), beside its validation core (`validate_routes` in this process, best of N;
  the VRPs are those of bench_rov.py). The untimed first run leaves both files' columns in
  `<data-dir>/cache/rov/` (rpki.colcache), as a user's first run does, so the timed runs load
  them; a second row times the first run (`--no-cache`: both files parsed), which must meet
  the same target, a third the same with every route's row written as CSV to a file.

Bytecode caching is on, as in any installed copy (PYTHONDONTWRITEBYTECODE is dropped from the
environment), and one untimed run of each command comes first.

Run: .venv/bin/python bench/bench_commands.py [--data-dir DIR] [--runs 7] [--no-write]
(without --data-dir, `onereg up` builds the 2018 federation in a temporary folder first);
`--only rov` times the rov rows alone (no federation) and prints them without writing.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench_rov import TABLE_2014, VRP_FILES, synthesise
from onereg.core.registries import RegistryId
from onereg.federation.embedded import config_path, describe_nodes
from onereg.rpki.routes import read_prefix_origin, read_vrps
from onereg.rpki.rov import validate_routes
from onereg.rpki.rov_index import PrefixColumns, RouteSet, VrpSet
from report import machine, table, write_section

ONEREG = str(Path(sys.executable).with_name("onereg"))
RIPE_FILE = "delegated-ripencc-extended-latest"
RECORD = "|ipv4|193.0.0.0|4096|19930901|allocated|"
ENV = {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "COLUMNS")}


def run_once(args: list[str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one whole process, output discarded."""
    started = time.perf_counter()
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ENV)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode not in (0, 1):  # audit exits 1 on conflicts; anything else is a failure
        raise SystemExit(f"{' '.join(args)} failed with {proc.returncode}")
    return wall, usage.ru_utime + usage.ru_stime


def timed(args: list[str], runs: int, before: list[str] | None = None) -> tuple[float, float]:
    """Medians of wall and CPU seconds; `before` runs (untimed) ahead of each timed run."""
    subprocess.run(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ENV)
    walls, cpus = [], []
    for _ in range(runs):
        if before is not None:
            subprocess.run(before, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ENV)
        wall, cpu = run_once(args)
        walls.append(wall)
        cpus.append(cpu)
    return statistics.median(walls), statistics.median(cpus)


def changed_ripe_files(shared: Path, folder: Path) -> tuple[Path, Path]:
    """The real 2018 RIPE NCC file with 193.0.0.0/20's country changed, and as published."""
    text = (shared / "delegated" / "2018-10-13" / RIPE_FILE).read_text()
    assert f"ripencc|NL{RECORD}" in text
    changed = folder / "changed" / RIPE_FILE
    original = folder / "original" / RIPE_FILE
    for path, body in (
        (changed, text.replace(f"ripencc|NL{RECORD}", f"ripencc|DE{RECORD}", 1)),
        (original, text),
    ):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(body)
    return changed, original


def free_base() -> int:
    for base in range(23000 + os.getpid() % 300 * 7, 60000, 7):
        try:
            for port in (base + n + off for off in (0, 100, 200) for n in range(6)):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
    raise SystemExit("no free ports")


def serve_ripe(data_dir: Path) -> tuple[subprocess.Popen[bytes], str, int]:
    """`onereg serve --config` of the RIPE NCC node; (process, whois host, port) once it answers."""
    nodes = describe_nodes(data_dir, free_base(), quorum=1)
    whois = next(n.whois for n in nodes if n.registry == "ripencc")
    host, port = whois.rsplit(":", 1)
    config = config_path(data_dir, RegistryId.RIPENCC)
    proc = subprocess.Popen(
        [ONEREG, "serve", "--config", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=ENV,
    )
    deadline = time.time() + 300
    while time.time() < deadline:
        answer = subprocess.run(
            ["whois", "-h", host, "-p", port, "193.0.0.1"], capture_output=True, text=True
        )
        if "193.0.0.0" in answer.stdout:
            return proc, host, int(port)
        time.sleep(1)
    proc.terminate()
    raise SystemExit("the RIPE NCC node's whois did not answer")


def rov_core(runs: int, vrps_csv: Path) -> float:
    """Write the 10^6 VRPs as CSV; the validation core's best time on them, in this process."""
    routes = read_prefix_origin(TABLE_2014)
    vrps = synthesise(read_vrps(VRP_FILES), routes.v4, 1_000_000)
    with vrps_csv.open("w") as out:
        out.write("ASN,IP Prefix,Max Length,Trust Anchor\n")
        for value, length, maxlen, asn in zip(
            vrps.v4.hi.tolist(),
            vrps.v4.length.tolist(),
            vrps.v4.extra.tolist(),
            vrps.v4.asn.tolist(),
            strict=True,
        ):
            out.write(f"AS{asn},{socket.inet_ntoa(value.to_bytes(4, 'big'))}/{length},{maxlen},x\n")
        for prefix, maxlen, asn in zip(
            vrps.v6.prefixes(), vrps.v6.extra.tolist(), vrps.v6.asn.tolist(), strict=True
        ):
            out.write(f"AS{asn},{prefix},{maxlen},x\n")
    route_set = RouteSet(routes.v4, PrefixColumns.empty(6))
    vrp_set = VrpSet(vrps.v4, vrps.v6)
    best = float("inf")
    for _ in range(runs):
        started = time.perf_counter()
        validate_routes(vrp_set, route_set)
        best = min(best, time.perf_counter() - started)
    return best


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument(
        "--only",
        choices=["rov"],
        default=None,
        help="time only these rows (median of --runs) and print them; nothing is written",
    )
    args = parser.parse_args()
    shared = Path(__file__).resolve().parents[2] / "shared" / "data"
    work = Path(tempfile.mkdtemp(prefix="bench-commands-"))
    try:
        return _bench(args, shared, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


Row = tuple[str, str, str, bool | None]
Add = Callable[[str, tuple[float, float], float | None], None]


def rov_rows(base: list[str], work: Path, runs: int, add: Add, rows: list[Row]) -> None:
    """The `onereg rov` rows: cached, first run (`--no-cache`), first run writing CSV, and
    the validation core alone; `runs` timed runs each."""
    vrps_csv = work / "vrps-1e6.csv"
    core = rov_core(3, vrps_csv)
    rov = [*base, "rov", "--vrps", str(vrps_csv), str(TABLE_2014)]
    add("`onereg rov` 2014 table (512,621 routes) x 10^6 VRPs", timed(rov, runs), 1.5)
    add(
        "`onereg rov` as above, first run on these files (`--no-cache`: both parsed)",
        timed([*rov, "--no-cache"], runs),
        1.5,
    )
    add(
        "`onereg rov` as above, first run, every route written (`--output csv -o FILE`)",
        timed([*rov, "--no-cache", "--output", "csv", "-o", str(work / "rov.csv")], runs),
        None,
    )
    rows.append(("rov baseline: validation core alone (best of 3)", f"{core:.3f} s", "", None))
    print(rows[-1], flush=True)


def _bench(args: argparse.Namespace, shared: Path, work: Path) -> int:
    runs = args.runs
    data_dir = args.data_dir or work / "data"
    base = [ONEREG, "--data-dir", str(data_dir), "--shared-data", str(shared)]
    rows: list[Row] = []

    def add(name: str, figures: tuple[float, float], target: float | None) -> None:
        wall, cpu = figures
        met = None if target is None else wall <= target
        rows.append(
            (name, f"{wall:.3f} s (CPU {cpu:.3f} s)", f"<= {target} s" if target else "", met)
        )
        print(rows[-1], flush=True)

    if args.only == "rov":  # no federation needed; printed only (the section is one run's)
        rov_rows(base, work, runs, add, rows)
        return 0
    if args.data_dir is None:
        print("building the 2018 federation (onereg up) ...", flush=True)
        subprocess.run([*base, "up"], stdout=subprocess.DEVNULL, env=ENV)
    changed, original = changed_ripe_files(shared, work)

    add("`onereg --help`", timed([ONEREG, "--help"], runs), 0.25)
    add("`onereg show 193.0.0.1`", timed([*base, "show", "193.0.0.1"], runs), 0.25)
    add("`onereg audit`, nodes unchanged", timed([*base, "audit"], runs), 0.25)
    flip = [changed, original]
    state = {"n": 0}

    def change() -> list[str]:
        state["n"] += 1
        return [*base, "import", str(flip[state["n"] % 2])]

    walls, cpus = [], []
    for _ in range(max(3, runs // 2)):
        subprocess.run(change(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ENV)
        wall, cpu = run_once([*base, "audit"])
        walls.append(wall)
        cpus.append(cpu)
    add(
        "`onereg audit` right after a change (RIPE NCC)",
        (statistics.median(walls), statistics.median(cpus)),
        1.0,
    )
    subprocess.run([*base, "import", str(original)], stdout=subprocess.DEVNULL, env=ENV)

    rov_rows(base, work, max(3, runs // 2), add, rows)

    proc, host, port = serve_ripe(data_dir)
    try:
        whois = timed(["whois", "-h", host, "-p", str(port), "193.0.0.1"], runs)
        rows.append(
            (
                "baseline: Debian `whois 193.0.0.1` to the served RIPE NCC node",
                f"{whois[0]:.3f} s (CPU {whois[1]:.3f} s)",
                "",
                None,
            )
        )
        print(rows[-1], flush=True)
    finally:
        proc.terminate()
        proc.wait(timeout=60)

    body = [
        "## Whole commands (issue 13)",
        "",
        f"Machine: {machine()}; load average when run: "
        f"{', '.join(f'{x:.1f}' for x in os.getloadavg())}.",
        "",
        "Command: `.venv/bin/python bench/bench_commands.py`",
        "",
        *table(rows),
        "",
        f"Median of {runs} runs (audit after a change and rov: {max(3, runs // 2)}), each a "
        "fresh process timed from fork to exit, CPU = user + system of that process. The whois "
        "baseline is the client's whole run against `onereg serve --config` of the RIPE NCC node.",
    ]
    if not args.no_write:
        write_section("commands", body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
