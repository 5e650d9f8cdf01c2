"""What the benches read of a process from /proc: its CPU time so far, and whether a set of
processes has gone quiet (the nodes' start-up work done)."""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from pathlib import Path


def cpu_seconds(pid: int, descendants: bool = False) -> float:
    """User + system CPU time of a process (all its threads) so far, in clock ticks' precision;
    with `descendants`, that of its live descendants too (a node's worker processes). A process
    that has ended counts 0."""
    tick = os.sysconf("SC_CLK_TCK")
    total, todo = 0.0, [pid]
    while todo:
        p = todo.pop()
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
            if descendants:
                for task in Path(f"/proc/{p}/task").iterdir():
                    todo += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return total


def settle(pids: Iterable[int], quiet: float = 0.1, limit: float = 120.0) -> bool:
    """Wait until the processes together use less than `quiet` of a core over a second; False
    when they did not within `limit` seconds. Nodes just started verify their mirrors, sign
    first checkpoints and build their maps for a while: that start-up work is not the steady
    state a bench measures (in the cold RDAP run it was 1,315 µs CPU per request against 249 µs
    once settled; in the load-under-attack bench it once made the load generator 200 ms late)."""
    pids = list(pids)
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        before = sum(cpu_seconds(pid) for pid in pids)
        time.sleep(1.0)
        if sum(cpu_seconds(pid) for pid in pids) - before < quiet:
            return True
    return False
