"""Independent RTR clients judge our server (RPKI-JUDGES.md §5), on 127.0.0.1 only:

* rtrclient (rtrlib, `rtr-tools`): the full set, then only the delta after a change;
* BIRD 2 with an `rpki` protocol and roa4/roa6 tables (`birdc` on a private socket): the same;
* rtrmon (`stayrtr` package): our server beside StayRTR fed the same rpki-client JSON: no
  difference;
* rpki-rov (rtrlib): route origin states for sample routes equal our RFC 6811 reference.

Needs: apt-get install -y rtr-tools bird2 stayrtr. Each test skips when its tool is missing.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from birdlab import Proc, ThreadServer, free_port, need, wait_for
from birdlab import bird_roas as _bird_roas
from onereg.rpki.rov import State, validate_reference
from onereg.rtr.vrps import load_vrps

Vrp = tuple[int, str, int]

VRPS: list[Vrp] = [
    (64496, "203.0.113.0/24", 24),
    (64497, "198.51.100.0/24", 26),
    (64498, "192.0.2.0/24", 24),
    (64499, "10.0.0.0/8", 16),
    (0, "100.64.0.0/10", 10),
    (64500, "2001:db8::/32", 48),
    (64501, "2001:db8:1000::/36", 36),
]
ADDED: Vrp = (64510, "198.18.0.0/15", 16)
WITHDRAWN: Vrp = VRPS[1]
AFTER = [v for v in VRPS if v != WITHDRAWN] + [ADDED]


@pytest.fixture
def ours() -> Iterator[ThreadServer]:
    server = ThreadServer(VRPS)
    try:
        yield server
    finally:
        server.stop()


def _norm(prefix: str, length: int | str) -> str:
    return str(ipaddress.ip_network(f"{prefix}/{length}"))


# --- rtrclient -----------------------------------------------------------------------------------


def _rtrclient_events(lines: list[str]) -> list[tuple[str, Vrp]]:
    """'+ 203.0.113.0    24 -  24   64496' lines."""
    out = []
    for line in lines:
        parts = line.split()
        if len(parts) == 6 and parts[0] in "+-" and parts[3] == "-":
            sign, prefix, length, _, maxlen, asn = parts
            out.append((sign, (int(asn), _norm(prefix, length), int(maxlen))))
    return out


def test_rtrclient_full_then_delta(ours: ThreadServer) -> None:
    need("rtrclient", "stdbuf")
    proc = Proc(["stdbuf", "-oL", "rtrclient", "-p", "tcp", "127.0.0.1", str(ours.port)])
    try:
        full = wait_for(
            lambda: (ev := _rtrclient_events(proc.lines)) and len(ev) >= len(VRPS) and ev,
            what="rtrclient full set",
        )
        assert sorted(full) == sorted(("+", v) for v in VRPS)
        ours.change(lambda: ours.cache.apply(announce=[ADDED], withdraw=[WITHDRAWN]))
        events = wait_for(
            lambda: (ev := _rtrclient_events(proc.lines)) and len(ev) >= len(VRPS) + 2 and ev,
            what="rtrclient delta",
        )
        time.sleep(0.5)
        events = _rtrclient_events(proc.lines)
        assert sorted(events[len(VRPS) :]) == sorted([("+", ADDED), ("-", WITHDRAWN)])
        text = "\n".join(proc.lines)
        assert "Serial Notify received" in text and "sending serial query" in text
        assert "Sync successful, received 2 Prefix PDUs" in text  # only the delta
    finally:
        proc.stop()


def test_rtrclient_export(ours: ThreadServer) -> None:
    """rtrclient's export mode: sync, write the set as CSV, exit."""
    need("rtrclient")
    out = subprocess.run(
        ["rtrclient", "-e", "-t", "csv", "tcp", "127.0.0.1", str(ours.port)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    rows = [[f.strip() for f in line.split(",")] for line in out.stdout.splitlines()]
    got = set()
    for r in rows:
        if len(r) < 4 or not r[1].isdigit():
            continue
        if "." in r[0] or ":" in r[0]:  # prefix, length, maxlen, ASN
            got.add((int(r[3].removeprefix("AS")), _norm(r[0], r[1]), int(r[2])))
    assert got == set(VRPS), out.stdout + out.stderr


# --- BIRD 2 --------------------------------------------------------------------------------------


def test_bird_full_then_delta(ours: ThreadServer, tmp_path: Path) -> None:
    need("bird", "birdc")
    conf = tmp_path / "bird.conf"
    ctl = tmp_path / "bird.ctl"
    conf.write_text(
        f"""
log "{tmp_path / "bird.log"}" all;
router id 192.0.2.1;
roa4 table r4;
roa6 table r6;
protocol rpki rtr1 {{
        roa4 {{ table r4; }};
        roa6 {{ table r6; }};
        remote 127.0.0.1 port {ours.port};
        retry keep 5; refresh keep 30; expire keep 600;
}}
"""
    )
    check = subprocess.run(["bird", "-p", "-c", str(conf)], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    proc = Proc(["bird", "-f", "-c", str(conf), "-s", str(ctl), "-P", str(tmp_path / "bird.pid")])
    try:
        wait_for(lambda: ctl.exists(), what="bird control socket")

        def roas() -> set[Vrp]:
            return _bird_roas(ctl, "r4") | _bird_roas(ctl, "r6")

        assert wait_for(lambda: roas() == set(VRPS) and roas(), what="BIRD full set") == set(VRPS)
        status = subprocess.run(
            ["birdc", "-s", str(ctl), "show", "protocols", "all", "rtr1"],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout
        flat = " ".join(status.split())
        assert "Established" in flat and "Protocol version: 1" in flat, status
        ours.change(lambda: ours.cache.apply(announce=[ADDED], withdraw=[WITHDRAWN]))
        assert wait_for(lambda: roas() == set(AFTER) and roas(), what="BIRD delta") == set(AFTER)
        status = subprocess.run(
            ["birdc", "-s", str(ctl), "show", "protocols", "all", "rtr1"],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout
        assert "Serial number: 1" in " ".join(status.split()), status
        ev = subprocess.run(
            ["birdc", "-s", str(ctl), "eval roa_check(r4, 198.18.0.0/16, 64510)"],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout
        assert "(enum 35)1" in ev or ev.strip().endswith("1"), ev
    finally:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            subprocess.run(["birdc", "-s", str(ctl), "down"], capture_output=True, timeout=10)
        proc.stop()


# --- rtrmon: ours vs StayRTR ------------------------------------------------------------


def _rpki_client_json(vrps: list[Vrp]) -> bytes:
    roas = [
        {"asn": a, "prefix": p, "maxLength": m, "ta": "test", "expires": 4102444800}
        for a, p, m in vrps
    ]
    meta = {"buildtime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "vrps": len(roas)}
    return orjson.dumps({"metadata": meta, "roas": roas}, option=orjson.OPT_INDENT_2)


def _stayrtr(json_path: Path) -> tuple[Proc, int]:
    port = free_port()
    proc = Proc(
        [
            "stayrtr",
            "-bind",
            f"127.0.0.1:{port}",
            "-metrics.addr",
            f"127.0.0.1:{free_port()}",
            "-cache",
            str(json_path),
            "-refresh",
            "1",
            "-checktime=false",
            "-loglevel",
            "info",
        ]
    )
    return proc, port


def _diff(addr: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"http://{addr}/diff.json", timeout=5) as resp:
        doc: dict[str, Any] = json.loads(resp.read())
    return doc


def test_rtrmon_ours_equals_stayrtr(tmp_path: Path) -> None:
    need("stayrtr", "rtrmon")
    json_path = tmp_path / "vrps.json"
    json_path.write_bytes(_rpki_client_json(VRPS))
    ours = ThreadServer(load_vrps(json_path))  # the same file, through our loader
    stay, stay_port = _stayrtr(json_path)

    def listening() -> bool:
        with socket.create_connection(("127.0.0.1", stay_port), 1):
            return True

    wait_for(listening, what="StayRTR listening")
    mon_addr = f"127.0.0.1:{free_port()}"
    mon = Proc(
        [
            "rtrmon",
            "-primary.host",
            f"tcp://127.0.0.1:{ours.port}",
            "-secondary.host",
            f"tcp://127.0.0.1:{stay_port}",
            "-primary.refresh",
            "1s",
            "-secondary.refresh",
            "1s",
            "-addr",
            mon_addr,
            "-loglevel",
            "debug",
        ]
    )
    try:

        def settled() -> dict[str, Any] | None:
            doc = _diff(mon_addr)
            meta = doc.get("metadata-primary", {}), doc.get("metadata-secondary", {})
            counts = [m.get("vrp-count", m.get("count")) for m in meta]
            if all(c == len(VRPS) for c in counts):
                return doc
            return None

        doc = wait_for(settled, timeout=40, what="rtrmon seeing both servers")
        assert doc["only-primary"] == [] and doc["only-secondary"] == [], doc
        # after the same change on both sides, still no difference
        json_path.write_bytes(_rpki_client_json(AFTER))
        ours.change(lambda: ours.cache.update(load_vrps(json_path)))

        def settled_after() -> dict[str, Any] | None:
            doc = _diff(mon_addr)
            if doc["only-primary"] or doc["only-secondary"]:
                return None
            serials = [
                doc.get(k, {}).get("serial") for k in ("metadata-primary", "metadata-secondary")
            ]
            return doc if serials[0] == 1 and serials[1] not in (None, 0) else None

        doc = wait_for(settled_after, timeout=40, what="rtrmon after the change")
        assert doc["only-primary"] == [] and doc["only-secondary"] == []
    except AssertionError:
        print("\n".join(mon.lines[-40:]))
        print("\n".join(stay.lines[-20:]))
        raise
    finally:
        mon.stop()
        stay.stop()
        ours.stop()


# --- rpki-rov ------------------------------------------------------------------------------------

ROUTES: list[tuple[str, int]] = [
    ("203.0.113.0/24", 64496),  # valid
    ("203.0.113.0/25", 64496),  # invalid: too specific
    ("203.0.113.0/24", 64511),  # invalid: other AS
    ("198.51.100.0/26", 64497),  # valid within maxLength
    ("198.51.100.0/27", 64497),  # invalid
    ("10.1.0.0/16", 64499),  # valid
    ("10.1.2.0/24", 64499),  # invalid
    ("100.64.1.0/24", 64496),  # invalid: AS0 covers it
    ("8.8.8.0/24", 15169),  # not found
    ("2001:db8::/48", 64500),  # valid
    ("2001:db8:1000::/36", 64501),  # valid
    ("2001:db8:1000::/40", 64501),  # invalid
    ("2001:db9::/32", 64500),  # not found
]
RTRLIB_STATE = {"0": State.VALID, "1": State.NOT_FOUND, "2": State.INVALID}


def test_rpki_rov_matches_reference(ours: ThreadServer) -> None:
    need("rpki-rov")
    lines = [f"{p.split('/')[0]} {p.split('/')[1]} {asn}" for p, asn in ROUTES]
    out = subprocess.run(
        ["rpki-rov", "127.0.0.1", str(ours.port)],
        input="\n".join(lines) + "\n",
        capture_output=True,
        text=True,
        timeout=60,
    )
    answers = [line for line in out.stdout.splitlines() if "|" in line]
    assert len(answers) == len(ROUTES), out.stdout + out.stderr
    reference = validate_reference(VRPS, ROUTES)
    for (route, asn), answer, (state, _, _) in zip(ROUTES, answers, reference, strict=True):
        got = RTRLIB_STATE[answer.rsplit("|", 1)[1].strip()]  # "route|matching VRPs|state"
        assert got == state, f"{route} AS{asn}: rpki-rov {got}, reference {state}: {answer}"
