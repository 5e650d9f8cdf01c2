"""The fuzz targets (fuzz/), replayed briefly with a fixed seed, and every crash they found.

The long coverage-guided run is `python -m fuzz.run` (docs/fuzzing.md); here each target gets
its seed corpus and a few hundred seeded mutations of it, so a parser that starts raising an
unexpected exception again fails the suite on every machine the same way.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from fuzz.harness import Target
from fuzz.mutate import mutations
from fuzz.run import parse_log
from fuzz.targets import all_targets

TARGETS = all_targets()
MUTATIONS = 300
SLOWEST = 2.0  # seconds for one input: a parser that takes longer is hanging on it

# Inputs the fuzzers found crashing a parser, by target: each must now be refused cleanly.
GZIP_BAD_DEFLATE = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\x03\xff\xff\xff"
DEEP_JSON = b'{"agreement": ' + b"[" * 3000
NOTIFICATION_BAD_HOST = (
    b'<notification version="1" session_id="a2d845c4-5b91-4015-a2b7-988c03ce232a" serial="3" '
    b'xmlns="http://www.ripe.net/rpki/rrdp"><snapshot uri="https://[x/s.xml" '
    b'hash="c047e305fe71f2936720948e129a14c0819ded9cdecf31cfaf02c71200eb6f7c"/></notification>'
)
ROA_INFINITE_ASN = (
    b'{"request": {"format": "onereg-roa-request/2", "registry": "ripencc", "holder": "H", '
    b'"action": "add", "asn": 1E999, "prefixes": [], "expires": "", "nonce": ""}}'
)
REGRESSIONS: list[tuple[str, bytes]] = [
    ("delegated", GZIP_BAD_DEFLATE),  # zlib.error escaped read_text and delegated_registry
    # ValueError from socket.inet_pton: a NUL character in a start address
    ("delegated", b"2|ripencc|1|1|||+0000\nripencc|NL|ipv4|1.2.3.\x00|256|19930901|allocated\n"),
    # LookupError from expat: the XML declaration names an encoding Python does not have
    ("iana_xml", b"\x01<?xml version='1.0' encoding='MTF-8'?><registry/>"),
    # ValueError from expat: "multi-byte encodings are not supported" (atheris)
    ("iana_xml", b"\x07<?xml version='1.0' encoding='UTF-7'?>\n<registry/>"),
    # split-view evidence: UnicodeDecodeError, AttributeError, KeyError, TypeError escaped
    ("evidence", b"\xff"),
    ("evidence", b"[]"),
    ("evidence", b'{"format": "onereg-split-view-evidence/v1"}'),
    ("evidence", b'{"format": "onereg-split-view-evidence/v1", "path": [1]}'),
    # UnicodeDecodeError escaped load_config for a node.toml that is not UTF-8
    ("node_config", b'registry = "ripencc\xe4"\n'),
    # TypeError from canonical JSON: a ROA request's asn beyond 64 bits (atheris)
    ("roa_request", b'{"request": {"asn": 33331111111111111111111111}, "signature": ""}'),
    # OverflowError from int(): an asn of 1E999 is a JSON float, infinity (atheris)
    ("roa_request", ROA_INFINITE_ASN),
    # ValueError from urlsplit: "Invalid IPv6 URL" in a notification's snapshot URI
    ("rrdp_notification", NOTIFICATION_BAD_HOST),
    # LookupError, ValueError from expat: as the IANA reader's, an encoding it cannot read
    ("rrdp_notification", b"<?xml version='1.0' encoding='UTF-7'?><notification/>"),
    ("rrdp_document", b"\x01<?xml version='1.0' encoding='MTF-8'?><delta/>"),
    # VRP files for RTR: corrupt gzip, bzip2, xz streams escaped (zlib.error, OSError, LZMAError)
    ("vrp_file", GZIP_BAD_DEFLATE),
    ("vrp_file", b"BZh91AY&SY" + bytes(40)),
    ("vrp_file", b"\xfd7zXZ\x00" + bytes(40)),
    # AttributeError: a JSON VRP whose asn is a number with a fraction (atheris)
    ("vrp_file", b'[{"asn": 6.496, "prefix": "192.0.2.0/24", "maxLength": 24}]'),
    # BGP tables: zlib.error while sniffing a broken gzip; KeyError from mrtparse on an
    # unknown MRT type
    ("bgp_routes", b"\x00" + GZIP_BAD_DEFLATE),
    ("bgp_routes", b"\x03" + bytes(4) + b"\xff\xff" + bytes(6)),
    # RecursionError: nesting deeper than the JSON or TOML decoder recurses
    ("node_config", b"registry = " + b"[" * 3000),
    ("transfer_policy", b"\x04schema = " + b"[" * 3000),
    ("agreement", DEEP_JSON),
    ("transfer_submit", DEEP_JSON),
    ("transfer_offer", DEEP_JSON),
    ("roa_request", DEEP_JSON),
    ("holder_key", DEEP_JSON),
]


def _replay(target: Target, inputs: list[bytes]) -> None:
    target.check(inputs[0])  # builds the target's world (a node, keys), which is not the parse
    for data in inputs:
        started = time.perf_counter()
        target.check(data)
        assert time.perf_counter() - started < SLOWEST, (target.name, data[:80])


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_target_survives_seeds_and_mutations(name: str) -> None:
    target = TARGETS[name]
    seeds = list(target.seeds())
    assert seeds, f"{name} has no seed corpus"
    _replay(target, [*seeds, *mutations(seeds, MUTATIONS, seed=12, max_len=target.max_len)])


@pytest.mark.parametrize(("name", "data"), REGRESSIONS)
def test_crash_found_by_fuzzing_is_refused_cleanly(name: str, data: bytes) -> None:
    target = TARGETS[name]
    with pytest.raises(target.allowed) as caught:
        target.parse(data)
    assert str(caught.value).strip()


def test_coverage_guided_run_reports_its_figures(tmp_path: Path) -> None:
    """The atheris runner itself, briefly: it instruments the parser, grows a corpus from the
    seeds and prints executions and coverage (what docs/fuzzing.md records)."""
    repo = Path(__file__).resolve().parents[1]
    command = [sys.executable, "-m", "fuzz.run", "--family", "rtr", "--target", "rtr_pdus"]
    command += ["--runs", "1500"]
    done = subprocess.run(
        [*command, "--work", str(tmp_path)], cwd=repo, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr
    row = next(line for line in done.stdout.splitlines() if line.startswith("rtr_pdus"))
    execs, cov, corpus = (int(x) for x in (row.split()[2], row.split()[4], row.split()[6]))
    assert execs >= 1500 and cov > 10 and corpus >= 2, row
    assert row.rstrip().endswith("-"), row  # no crash
    assert len(list((tmp_path / "rtr_pdus" / "corpus").iterdir())) >= 2


def test_crash_is_reported_with_its_input() -> None:
    log = (
        "=== Uncaught Python exception: ===\nKeyError: 'path'\n"
        "#12\tDONE cov: 40 ft: 41 corp: 3/9b lim: 4 exec/s: 0 rss: 40Mb\n"
        "artifact_prefix='w/'; Test unit written to w/crash-abc\n"
    )
    out = parse_log("evidence", 2.0, log)
    assert (out.execs, out.cov, out.ft, out.corpus) == (12, 40, 41, 3)
    assert out.crash == "KeyError: 'path': w/crash-abc"
