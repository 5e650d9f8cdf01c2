"""`onereg rov` end to end: VRPs from a CSV, routes from a prefix-origin table, JSON out."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from localfed import ONEREG


def test_onereg_rov_prints_the_summary_and_writes_the_routes(tmp_path: Path) -> None:
    vrps = tmp_path / "vrps.csv"
    vrps.write_text("ASN,IP Prefix,Max Length,Trust Anchor\nAS64500,192.0.2.0/23,24,lab\n")
    routes = tmp_path / "table.txt"
    routes.write_text(
        "192.0.2.0/24\t64500\n192.0.3.0/25\t64500\n192.0.2.0/24\t64501\n10.0.0.0/8\t1\n"
    )
    out = tmp_path / "routes.json"
    data = tmp_path / "data"
    onereg = [ONEREG, "--data-dir", str(data), "rov", "--vrps", str(vrps)]
    # the second run loads both files from the cache the first wrote; the third parses again
    for n, flags in enumerate(([], [], ["--no-cache"])):
        done = subprocess.run(
            [*onereg, str(routes), "--output", "json", "-o", str(out), *flags],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        assert "4 routes, 1 VRPs" in done.stderr
        rows = json.loads(out.read_text())["routes"]
        states = [(r["prefix"], r["origin"], r["state"]) for r in rows]
        assert states == [
            ("192.0.2.0/24", 64500, "valid"),
            ("192.0.3.0/25", 64500, "invalid"),
            ("192.0.2.0/24", 64501, "invalid"),
            ("10.0.0.0/8", 1, "not-found"),
        ], n
        assert len(list((data / "cache" / "rov").glob("*.cols"))) == 2
    bad = tmp_path / "bad.txt"
    bad.write_text("192.0.2.0/33\t1\n")
    refused = subprocess.run([*onereg, str(bad)], capture_output=True, text=True, timeout=120)
    assert refused.returncode != 0 and "bad.txt:1" in refused.stderr
