"""Writing one benchmark's section of docs/benchmarks.md, leaving the other sections as they are."""

from __future__ import annotations

import os
import platform
import sqlite3
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"
HEADER = "# Benchmarks\n\nWritten by the scripts in `bench/`; each owns one section.\n"


def machine() -> str:
    cpu = "unknown cpu"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{os.cpu_count()} cores ({cpu}), Python {platform.python_version()}, "
        f"SQLite {sqlite3.sqlite_version}, {platform.system()} {platform.release()}"
    )


def table(rows: list[tuple[str, str, str, bool | None]]) -> list[str]:
    lines = ["| measure | figure | target | met |", "|---|---|---|---|"]
    for name, figure, target, met in rows:
        mark = "" if met is None else ("yes" if met else "**no**")
        lines.append(f"| {name} | {figure} | {target} | {mark} |")
    return lines


def write_section(name: str, body: list[str]) -> None:
    """Replace (or add) the section `name`, delimited by HTML comments."""
    start, end = f"<!-- section:{name} -->", f"<!-- /section:{name} -->"
    text = OUT.read_text() if OUT.exists() else HEADER
    if not text.startswith("# Benchmarks"):
        text = HEADER
    block = "\n".join([start, *body, end])
    if start in text and end in text:
        head, rest = text.split(start, 1)
        text = head + block + rest.split(end, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(text)
    print("\n".join(body))
