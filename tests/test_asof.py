"""Time travel: the state at a past moment, replayed from the logs, through the CLI (`show`,
`audit`), RDAP (`?asOf=`) and whois (`--as-of`), on both sides of two transfers: one inside
RIPE NCC (R1 -> R2) and one from RIPE NCC to ARIN (R1 -> A1)."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from click.testing import CliRunner

from localfed import EVIDENCE, ONEREG, LocalFederation
from onereg.cli.main import cli
from onereg.core.registries import RegistryId
from onereg.core.resources import Resource
from onereg.federation.asof import PastDataDir
from onereg.federation.embedded import config_path
from onereg.federation.importer import import_delegated_file
from onereg.federation.layout import DataDir
from onereg.federation.lookup import lookup
from onereg.registry import asof
from onereg.registry.node import RegistryNode
from onereg.registry.transfer_policy import PolicySet, default_policy_dir
from onereg.registry.transfers import transfer_within

INTRA = "193.0.2.0/24"  # R1 -> R2 inside RIPE NCC
INTER = "193.0.1.0/24"  # R1 at RIPE NCC -> A1 at ARIN


def _now() -> str:
    """A moment strictly between two log entries: the clock moves on a little either side."""
    time.sleep(0.01)
    moment = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    time.sleep(0.01)
    return moment


@dataclass(frozen=True)
class Story:
    fed: LocalFederation
    before_log: str  # before any node was made
    before: str  # nodes built, nothing transferred
    between: str  # the intra-registry transfer done, the inter-registry one not begun
    after: str  # both transfers done


def _until_registered(fed: LocalFederation, tid: str) -> None:
    deadline = time.monotonic() + 30
    while True:
        reply = httpx.get(f"{fed.urls['arin']}/transfers/{tid}", timeout=10)
        if reply.is_success and reply.json().get("state") == "sourceFinalized":
            return
        assert time.monotonic() < deadline, reply.text
        time.sleep(0.1)


@pytest.fixture(scope="module")
def story(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> Iterator[Story]:
    before_log = _now()
    fed = LocalFederation(
        tmp_path_factory.mktemp("asof"),
        {
            "ripencc": [
                ("ipv4", "193.0.0.0", 65536, "R1"),
                ("ipv4", "194.0.0.0", 256, "R2"),
                ("ipv4", "195.0.0.0", 256, "R1"),
            ],
            "arin": [("ipv4", "23.0.0.0", 65536, "A1")],
        },
        iana=shared_data / "iana",
    )
    before = _now()
    signed = fed.agreement(INTRA, ("ripencc", "R1"), ("ripencc", "R2"))
    with fed.data.open(RegistryId.RIPENCC, create=False) as node:
        policies = PolicySet.load(default_policy_dir())
        transfer_within(node, signed, policies, datetime.now(UTC), EVIDENCE)
    between = _now()
    try:
        for registry in ("iana", "ripencc", "arin"):  # authority comes from IANA's log
            fed.start(registry)
        fed.wait_mirrored(("ripencc", "arin"), ("iana", "ripencc", "arin"))
        moved = fed.agreement(INTER, ("ripencc", "R1"), ("arin", "A1"))
        with httpx.Client() as client:
            assert fed.submit(client, moved).json()["state"] == "sourceFinalized"
        _until_registered(fed, moved.agreement.nonce)
        _until_maps_follow(fed, "ip/193.0.1.5")
        yield Story(fed, before_log, before, between, _now())
    finally:
        fed.stop()


def _until_maps_follow(fed: LocalFederation, path: str) -> None:
    """Until both nodes' authority maps (rebuilt in a worker process after each log change)
    have the transfer: RIPE NCC redirects the block to ARIN and ARIN answers it. Redirects for
    a past moment are drawn from the logs as they were, not from these maps."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ripe = httpx.get(f"{fed.urls['ripencc']}/rdap/{path}", timeout=30)
        arin = httpx.get(f"{fed.urls['arin']}/rdap/{path}", timeout=30)
        if ripe.status_code == 301 and arin.status_code == 200:
            return
        time.sleep(0.2)
    raise AssertionError(f"the authority maps did not follow the transfer of {path}")


# --- the three faces ----------------------------------------------------------------------


def _onereg(story: Story, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [ONEREG, "--data-dir", str(story.fed.root), *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


def _show(story: Story, resource: str, moment: str) -> str:
    done = _onereg(story, "show", resource, "--as-of", moment)
    assert done.returncode == 0, done.stderr
    assert "as of:" in done.stderr  # which entry of each log the answer stands on
    return done.stdout


def _rdap(story: Story, registry: str, path: str, moment: str | None) -> httpx.Response:
    params = {} if moment is None else {"asOf": moment}
    return httpx.get(f"{story.fed.urls[registry]}/rdap/{path}", params=params, timeout=30)


def _holders(answer: httpx.Response) -> list[str]:
    return [e["handle"] for e in answer.json().get("entities", []) if "registrant" in e["roles"]]


def _historical(answer: httpx.Response) -> list[str]:
    notices = answer.json().get("notices", [])
    return [" ".join(n["description"]) for n in notices if n["title"] == "Historical answer"]


def _whois(story: Story, registry: str, line: str) -> str:
    host, port = story.fed.whois[registry].rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(line.encode() + b"\r\n")
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks).decode()


def _org(text: str) -> list[str]:
    """The holders a whois answer names: the `org:` lines of RIPE's inetnum objects, the
    `OrgId:` lines of ARIN's (each registry answers in its own dialect)."""
    return [line.split()[1] for line in text.splitlines() if line.startswith(("org:", "OrgId:"))]


# --- inside one registry ------------------------------------------------------------------


def test_show_before_and_after_a_transfer_inside_a_registry(story: Story) -> None:
    before = _show(story, "193.0.2.5", story.before)
    assert "holder R1" in before and "193.0.0.0/16" in before and "holder R2" not in before
    after = _show(story, "193.0.2.5", story.between)
    assert "holder R2" in after and "193.0.2.0/24" in after and "holder R1" not in after
    assert _show(story, "193.0.2.5", story.after) == after  # the inter-RIR move left it alone


def test_rdap_and_whois_agree_with_the_cli_inside_a_registry(story: Story) -> None:
    for moment, holder, network in (
        (story.before, "R1", "193.0.0.0"),
        (story.between, "R2", "193.0.2.0"),
    ):
        answer = _rdap(story, "ripencc", "ip/193.0.2.5", moment)
        assert answer.status_code == 200, answer.text
        assert _holders(answer) == [holder]
        assert answer.json()["startAddress"] == network
        [notice] = _historical(answer)
        assert "ripencc log as of" in notice
        text = _whois(story, "ripencc", f"--as-of {moment} 193.0.2.5")
        assert "% Historical: the ripencc log as of" in text
        assert _org(text) == [holder], text
    org = _whois(story, "ripencc", f"--as-of {story.before} R2")  # a handle: its holder then
    assert "% Historical:" in org and "organisation:" in org and "R2" in org
    now = _rdap(story, "ripencc", "ip/193.0.2.5", None)
    assert _holders(now) == ["R2"] and _historical(now) == []


def test_a_past_answer_stands_on_the_last_entry_before_the_moment(story: Story) -> None:
    """The notice names the entry: the intra transfer is the entry right after `before`."""
    past = _rdap(story, "ripencc", "ip/193.0.2.5", story.before)
    later = _rdap(story, "ripencc", "ip/193.0.2.5", story.between)
    with story.fed.data.read(RegistryId.RIPENCC) as node:
        first = asof.entry_at(node, asof.parse_moment(story.before, "test"))
        second = asof.entry_at(node, asof.parse_moment(story.between, "test"))
        kind = node.conn.execute("SELECT kind FROM log WHERE seq = ?", (second.seq,)).fetchone()
    assert second.seq == first.seq + 1 and kind == ("transfer.completed",)
    assert f"entries 1-{first.seq}," in _historical(past)[0]
    assert f"entries 1-{second.seq}," in _historical(later)[0]


def test_show_as_of_an_entry_of_one_registrys_log(story: Story) -> None:
    with story.fed.data.read(RegistryId.RIPENCC) as node:
        seq = asof.entry_at(node, asof.parse_moment(story.between, "test")).seq  # the transfer
    for number, holder in ((seq - 1, "R1"), (seq, "R2")):
        done = _onereg(story, "show", "193.0.2.5", "--as-of-entry", f"ripencc:{number}")
        assert done.returncode == 0, done.stderr
        assert f"holder {holder}" in done.stdout
        assert f"ripencc log as of entry {number}: entries 1-{number}," in done.stderr
    done = _onereg(story, "show", "193.0.2.5", "--as-of-entry", "ripencc:999999")
    assert done.returncode == 2 and "no entry 999999" in done.stderr, done.stderr
    root = str(story.fed.root)
    for args, said in (  # in process: the same command, without a start-up each
        (["show", "193.0.2.5", "--as-of-entry", "ripencc:x"], "is not REGISTRY:N"),
        (["show", "193.0.2.5", "--as-of-entry", "nowhere:3"], "is not REGISTRY:N"),
        (["show", "193.0.2.5", "--as-of-entry", "ripencc:0"], "no entry 0"),
        (["audit", "--as-of", story.after, "--as-of-entry", "ripencc:1"], "one or the other"),
    ):
        result = CliRunner().invoke(cli, ["--data-dir", root, *args])
        assert isinstance(result.exception, asof.MomentError), result.output
        assert said in str(result.exception)


# --- between registries -------------------------------------------------------------------


def test_show_before_and_after_a_transfer_between_registries(story: Story) -> None:
    before = _show(story, INTER, story.between)
    assert "RIPE NCC" in before and "holder R1" in before
    assert "ARIN" not in before and "cross" not in before
    after = _show(story, INTER, story.after)
    assert "ARIN" in after and "holder A1" in after and "holder R1" not in after
    assert "arin holds 193.0.1.0/24 in ripencc's block (origin: inter-rir)" in after


def test_rdap_and_whois_agree_with_the_cli_between_registries(story: Story) -> None:
    before = _rdap(story, "ripencc", "ip/193.0.1.5", story.between)
    assert before.status_code == 200 and _holders(before) == ["R1"]
    moved = _rdap(story, "ripencc", "ip/193.0.1.5", story.after)
    assert moved.status_code == 301  # RIPE NCC no longer holds it: the same moment at ARIN
    location = moved.headers["location"]
    assert location.startswith(story.fed.urls["arin"]) and "asOf=" in location
    followed = httpx.get(location, timeout=30)
    assert followed.status_code == 200 and _holders(followed) == ["A1"]
    assert _historical(followed)
    assert _org(_whois(story, "ripencc", f"--as-of {story.between} 193.0.1.5")) == ["R1"]
    assert _org(_whois(story, "arin", f"--as-of {story.after} 193.0.1.5")) == ["A1"]


@pytest.mark.parametrize("asked", ["arin", "iana"])
def test_before_the_transfer_the_recipient_sends_the_client_to_the_source(
    story: Story, asked: str
) -> None:
    """ARIN holds the block today, but not before the transfer: a question about that moment
    goes to RIPE NCC, authoritative then (read from the logs as they were), keeping `asOf`;
    IANA's node sends it to the registry of the moment asked, on both sides of the move."""
    for moment, registry, holder in (
        (story.before, "ripencc", "R1"),
        (story.between, "ripencc", "R1"),
        (story.after, "arin", "A1"),
    ):
        sent = _rdap(story, asked, "ip/193.0.1.5", moment)
        if asked == registry:
            continue  # ARIN after the move: answered above
        assert sent.status_code == 301, (moment, sent.text)
        location = sent.headers["location"]
        assert location.startswith(story.fed.urls[registry] + "/rdap/ip/193.0.1.5"), location
        assert f"asOf={quote(moment)}" in location
        followed = httpx.get(location, timeout=30)
        assert followed.status_code == 200 and _holders(followed) == [holder], followed.text
        assert "ripencc log as of" in _historical(followed)[0] or registry == "arin"
    now = _rdap(story, "arin", "ip/193.0.1.5", None)  # today ARIN answers itself
    assert now.status_code == 200 and _holders(now) == ["A1"]


def test_show_from_the_recipients_view_sees_the_source_then(story: Story) -> None:
    """`show --node` reads ARIN's own database and its mirrors of the others' logs, each
    replayed to the moment: before the transfer RIPE NCC held the block, after it ARIN."""
    arin = str(config_path(story.fed.root, RegistryId.ARIN))
    for moment, registry, holder in (
        (story.between, "RIPE NCC", "R1"),
        (story.after, "ARIN", "A1"),
    ):
        done = _onereg(story, "show", INTER, "--as-of", moment, "--node", arin)
        assert done.returncode == 0, done.stderr
        assert registry in done.stdout and f"holder {holder}" in done.stdout, done.stdout


def test_before_the_transfer_the_recipients_whois_refers_to_the_source(story: Story) -> None:
    text = _whois(story, "arin", f"--as-of {story.between} 193.0.1.5")
    assert "Historical: the arin log as of" in text and _org(text) == [], text
    assert "RIPE NCC is the authoritative registry" in text, text
    host = story.fed.whois["ripencc"]
    assert f"refer:          {host}" in text
    assert f'Ask it for the same moment: "--as-of {story.between} 193.0.1.5"' in text
    again = _whois(story, "ripencc", f"--as-of {story.between} 193.0.1.5")  # as whois(1) would
    assert _org(again) == ["R1"]
    after = _whois(story, "ripencc", f"--as-of {story.after} 193.0.1.5")  # and the other way
    assert "ARIN is the authoritative registry" in after and _org(after) == []


def test_audit_as_of_sees_the_cross_registry_holding_appear(story: Story) -> None:
    def cross(moment: str) -> list[tuple[str, str, str]]:
        done = _onereg(story, "audit", "--json", "--as-of", moment)
        assert done.returncode == 0, done.stderr
        report = json.loads(done.stdout)
        return [(c["registry"], c["range"], c["origin"]) for c in report["cross_holdings"]]

    assert ("arin", INTER, "inter-rir") not in cross(story.between)
    assert ("arin", INTER, "inter-rir") in cross(story.after)


# --- what cannot be answered --------------------------------------------------------------


@pytest.mark.parametrize("bad", ["2019-13-01", "yesterday", "2019-01-01T25:00:00Z"])
def test_a_bad_date_is_refused_by_every_face_naming_it(story: Story, bad: str) -> None:
    done = _onereg(story, "show", "193.0.2.5", "--as-of", bad)
    assert done.returncode == 2 and "--as-of" in done.stderr and bad in done.stderr
    assert "Traceback" not in done.stderr
    answer = _rdap(story, "ripencc", "ip/193.0.2.5", bad)
    assert answer.status_code == 400
    assert "asOf" in answer.json()["description"][0] and bad in answer.json()["description"][0]
    text = _whois(story, "ripencc", f"--as-of {bad} 193.0.2.5")
    assert "%ERROR:111" in text and bad in text


def test_a_moment_before_the_logs_began_says_so(story: Story) -> None:
    for command in (("show", "193.0.2.5"), ("audit",)):
        done = _onereg(story, *command, "--as-of", story.before_log)
        assert done.returncode == 2 and "before the" in done.stderr and "log began" in done.stderr
    answer = _rdap(story, "ripencc", "ip/193.0.2.5", story.before_log)
    assert answer.status_code == 404 and "log began" in answer.json()["description"][0]
    text = _whois(story, "ripencc", f"--as-of {story.before_log} 193.0.2.5")
    assert "%ERROR:101" in text and "log began" in text


def test_the_openapi_document_declares_the_extension(story: Story) -> None:
    document = httpx.get(f"{story.fed.urls['ripencc']}/rdap/openapi.json", timeout=10).json()
    for path in ("/rdap/ip/{address}", "/rdap/ip/{prefix}/{length}", "/rdap/autnum/{asn}"):
        names = [p["name"] for p in document["paths"][path]["get"]["parameters"]]
        assert "asOf" in names
    assert "asOf" not in json.dumps(document["paths"]["/rdap/entity/{handle}"])


# --- the replay itself --------------------------------------------------------------------


def test_the_replay_at_the_head_is_the_current_state(story: Story) -> None:
    """Replayed to its last entry, a node's past is exactly its projection (every table)."""
    for registry in (RegistryId.RIPENCC, RegistryId.ARIN):
        with story.fed.data.read(registry) as node:
            head = asof.entry_number(node, node.head()[0])
            with asof.replay(node, head) as past:
                assert past.head() == node.head()
                assert past.table_digests() == node.table_digests()


def test_a_replay_cut_earlier_differs_and_writes_nothing(story: Story) -> None:
    with story.fed.data.read(RegistryId.RIPENCC) as node:
        digest, size = node.state_digest(), node.head()
        moment = asof.entry_at(node, asof.parse_moment(story.before, "test"))
        with asof.replay(node, moment) as past:
            assert past.head()[0] == moment.seq < size[0]
            assert past.state_digest() != digest
        assert node.state_digest() == digest and node.head() == size
        with pytest.raises(asof.MomentError, match=f"entries 1-{size[0]}, no entry 0"):
            asof.entry_number(node, 0)


def test_a_narrow_replay_follows_the_holders_other_records(story: Story) -> None:
    """Asked about 195.0.0.5, R1's records elsewhere are replayed too, through the transfers
    that removed R1's /16 and added its pieces (a removal names no holder)."""
    res = Resource.parse("195.0.0.5")
    seen = []
    with story.fed.data.read(RegistryId.RIPENCC) as node:
        for moment in (story.before, story.between, story.after):
            cut = asof.entry_at(node, asof.parse_moment(moment, "test"))
            with (
                asof.replay(node, cut) as full,
                asof.replay(node, cut, res, frozenset({"R1"})) as narrow,
            ):
                held = full.holder_resources("R1")
                assert narrow.holder_resources("R1") == held
                seen.append([str(d.resource) for d in held])
    assert seen[0] != seen[1] != seen[2] and "193.0.0.0/16" in seen[0]


def test_moments_are_read_as_utc() -> None:
    assert asof.parse_moment("2019-01-01", "x") == datetime(2019, 1, 1, tzinfo=UTC)
    assert asof.parse_moment("2019-01-01T02:00:00+02:00", "x") == datetime(2019, 1, 1, tzinfo=UTC)
    assert asof.parse_moment("2019-01-01T00:00:00", "x").utcoffset() == timedelta(0)
    assert asof.log_time(datetime(2019, 1, 1, tzinfo=UTC)) == "2019-01-01T00:00:00.000000Z"
    assert asof.log_time(asof.parse_moment("0001-01-01", "x")) == "0001-01-01T00:00:00.000000Z"
    for bad in ("2019-02-30", "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"):
        with pytest.raises(asof.MomentError, match=re.escape(f"--as-of: '{bad}' is not a date")):
            asof.parse_moment(bad, "--as-of")


# --- a real registry update: AFRINIC's 41/8 records of February 2016, then of October 2018 --


@dataclass(frozen=True)
class Update:
    data: DataDir
    files: dict[str, list[list[str]]]  # moment -> the file's records (fields)
    moments: dict[str, str]  # "2016" / "2018" -> a moment right after that import


def _subset(path: Path, out: Path) -> list[list[str]]:
    """The file's IPv4 records in 41.0.0.0/8 (a few hundred real lines), as a file of its own."""
    lines = path.read_text().splitlines()
    records = [line for line in lines if "|ipv4|41." in line and not line.startswith("#")]
    header = lines[0].split("|")
    header[3] = str(len(records))  # the count the reader checks the file against
    out.write_text("\n".join(["|".join(header), *records]) + "\n")
    return [line.split("|") for line in records]


@pytest.fixture(scope="module")
def update(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> Update:
    root = tmp_path_factory.mktemp("update")
    data = DataDir(root / "data")
    files: dict[str, list[list[str]]] = {}
    moments: dict[str, str] = {}
    sources = {
        "2016": "2016-02/delegated-afrinic-extended-latest.txt",
        "2018": "2018-10-13/delegated-afrinic-extended-latest",
    }
    for year, name in sources.items():
        path = root / year / "delegated-afrinic-extended-latest"
        path.parent.mkdir()
        files[year] = _subset(shared_data / "delegated" / name, path)
        import_delegated_file(data, path, None)
        moments[year] = _now()
    return Update(data, files, moments)


def _rows(node: RegistryNode) -> set[tuple[str, int, str, str, str]]:
    return {(d.start_text, d.value, d.date, d.status, d.opaque or "") for d in node.delegations()}


def _file_rows(records: list[list[str]]) -> set[tuple[str, int, str, str, str]]:
    return {(r[3], int(r[4]), r[5], r[6], r[7] if len(r) > 7 else "") for r in records}


def test_the_replay_gives_back_each_files_records(update: Update) -> None:
    """Replayed to a moment after each import, the node holds exactly that file's records,
    although the 2018 import changed holders and dates of the 2016 ones in place."""
    assert _file_rows(update.files["2016"]) != _file_rows(update.files["2018"])
    with update.data.read(RegistryId.AFRINIC) as node:
        assert _rows(node) == _file_rows(update.files["2018"])
        for year, moment in update.moments.items():
            cut = asof.entry_at(node, asof.parse_moment(moment, "test"))
            with asof.replay(node, cut) as past:
                assert _rows(past) == _file_rows(update.files[year]), year


def test_a_replay_for_one_resource_answers_as_the_full_one(update: Update) -> None:
    """The lookup replay (records touching the resource, and all records of their holders)
    gives what the full replay gives, for every record the 2018 file changed, at both moments
    (holders' records change hands in between, which the narrow replay must follow)."""
    changed = _file_rows(update.files["2016"]) ^ _file_rows(update.files["2018"])
    starts = sorted({row[0] for row in changed})
    several = 0
    with update.data.read(RegistryId.AFRINIC) as node:
        for moment in update.moments.values():
            cut = asof.entry_at(node, asof.parse_moment(moment, "test"))
            with asof.replay(node, cut) as full:
                for start in starts:
                    res = Resource.parse(start)
                    found = full.overlapping(res)
                    holders = frozenset(d.holder for d in found if d.holder)
                    with asof.replay(node, cut, res, holders) as narrow:
                        assert narrow.overlapping(res) == found, (moment, start)
                        for holder in holders:
                            held = full.holder_resources(holder)
                            assert narrow.holder_resources(holder) == held, (moment, holder)
                            several += len(held) > 1
    assert several  # some holders have more than the record asked about


def test_show_reads_the_same_past_from_a_narrow_replay(update: Update) -> None:
    moment = asof.parse_moment(update.moments["2016"], "test")
    full = PastDataDir.of(update.data, moment)
    for row in update.files["2016"][:5]:
        res = Resource.parse(row[3])
        assert lookup(PastDataDir.of(update.data, moment, res), res) == lookup(full, res)
