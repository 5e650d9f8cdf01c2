"""The network-namespace lab itself: hosts reach each other and the test process over the lab's
bridge, run as their own users with private homes, see nothing of the root namespace's loopback,
and leave nothing behind, neither after a `with` block (passing or failing) nor after a run that
was killed (`cleanup_stale`)."""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from netlab import NetLab, cleanup_stale, need_netns

TESTS = Path(__file__).resolve().parent
NOTHING: dict[str, list[str]] = {"netns": [], "links": [], "users": [], "dirs": [], "pids": []}

FETCH = """
import sys, urllib.request
print(urllib.request.urlopen(sys.argv[1], timeout=10).read().decode(), end="")
"""
LIST = "import os, sys; print(os.listdir(sys.argv[1]))"
CONNECT = """
import socket, sys
try:
    socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5).close()
    print("connected")
except ConnectionRefusedError:
    print("refused")
"""


@pytest.fixture(autouse=True)
def _netns() -> None:
    need_netns()


def wait_http(url: str, proc: subprocess.Popen[bytes], lab: NetLab) -> httpx.Response:
    """Poll until the server answers (it needs a moment to bind), failing early if it died."""
    end = time.monotonic() + 20
    while time.monotonic() < end:
        assert proc.poll() is None, f"server exited {proc.returncode}: {lab.output(proc)}"
        try:
            return httpx.get(url, timeout=2, trust_env=False)
        except httpx.TransportError:
            time.sleep(0.05)
    raise AssertionError(f"no answer from {url}: {lab.output(proc)}")


def uids(pid: int) -> list[int]:
    """Real, effective, saved and filesystem uid of a process."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Uid:"):
            return [int(x) for x in line.split()[1:]]
    raise AssertionError(f"no Uid line for {pid}")


def test_hosts_serve_fetch_and_keep_apart() -> None:
    """What multi-host tests rely on: a server in one host reachable from the others and from
    the test process, running as its host's user, whose home the other hosts cannot read."""
    with NetLab(["a", "b", "c"]) as lab:
        home = lab.home("a")
        (home / "hello.txt").write_text("hello from a\n")
        uid_a = pwd.getpwnam(lab.user("a")).pw_uid
        os.chown(home / "hello.txt", uid_a, -1)
        (home / "hello.txt").chmod(0o600)
        assert lab.address("a").startswith("198.18.") and lab.netns("a") in lab.namespaces

        server = lab.popen("a", ["python3", "-m", "http.server", "--bind", lab.address("a"),
                                 "8000", "--directory", str(home)])  # fmt: skip
        url = f"http://{lab.address('a')}:8000/hello.txt"
        assert wait_http(url, server, lab).text == "hello from a\n"  # from the root namespace
        for host in ("b", "c"):
            got = lab.run(host, ["python3", "-c", FETCH, url])
            assert (got.returncode, got.stdout) == (0, "hello from a\n"), got.stderr
        assert uids(server.pid) == [uid_a] * 4

        assert (home.stat().st_mode & 0o777, home.stat().st_uid) == (0o700, uid_a)
        assert lab.base.stat().st_mode & 0o777 == 0o711
        mine = lab.run("a", ["python3", "-c", LIST, str(home)])
        assert mine.stdout == "['hello.txt']\n", mine.stderr
        peek = lab.run("b", ["python3", "-c", LIST, str(home)])
        assert peek.returncode != 0 and "PermissionError" in peek.stderr, peek

        addrs = lab.run("b", ["ip", "-4", "-o", "addr"], user=False).stdout
        assert [line.split()[3] for line in addrs.splitlines()] == [
            "127.0.0.1/8",
            f"{lab.address('b')}/24",
        ]


def test_root_loopback_is_out_of_reach() -> None:
    """Hosts have their own loopback: a service on the root namespace's 127.0.0.1 (where the
    rest of the test suite listens) cannot be reached from a host."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = str(listener.getsockname()[1])
        here = subprocess.run(
            [sys.executable, "-c", CONNECT, port], capture_output=True, text=True, timeout=30
        )
        assert here.stdout == "connected\n", here.stderr  # the probe works where it can
        with NetLab(["a"]) as lab:
            there = lab.run("a", ["python3", "-c", CONNECT, port])
            assert there.stdout == "refused\n", there.stderr


def leftovers(names: dict[str, list[str]]) -> dict[str, list[str]]:
    """Which of a lab's namespaces, root links, users (and their groups) and dirs still exist."""
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    link_names = {line.split(":")[1].strip().split("@")[0] for line in links.splitlines()}

    def known(db: str, name: str) -> bool:
        return subprocess.run(["getent", db, name], capture_output=True).returncode == 0

    return {
        "netns": [ns for ns in names["netns"] if ns in netns.split()],
        "links": [link for link in names["links"] if link in link_names],
        "users": [u for u in names["users"] if known("passwd", u) or known("group", u)],
        "dirs": [d for d in names["dirs"] if Path(d).exists()],
        "pids": [p for p in names["pids"] if running(int(p))],
    }


def running(pid: int) -> bool:
    """Whether a process exists and is not a zombie (an orphan's reaping is init's business)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def lab_names(lab: NetLab, pids: list[int]) -> dict[str, list[str]]:
    """Everything a lab created, by name; asserts it all exists to begin with."""
    names = {
        "netns": lab.namespaces,
        "links": [lab.root_link or ""],
        "users": [lab.user(h) for h in lab.hosts],
        "dirs": [str(lab.home(h)) for h in lab.hosts] + [str(lab.base)],
        "pids": [str(p) for p in pids],
    }
    assert len(names["netns"]) == len(lab.hosts) + 1
    assert leftovers(names) == names
    return names


@pytest.mark.parametrize("failing", [False, True])
def test_teardown_removes_everything(failing: bool) -> None:
    """Leaving the `with` block, normally or by an exception, removes every lab object and
    kills the lab's processes."""
    names: dict[str, list[str]] = {}
    expect = (
        pytest.raises(RuntimeError, match="body failed") if failing else contextlib.nullcontext()
    )
    with expect, NetLab(["a", "b"]) as lab:
        sleeper = lab.popen("b", ["sleep", "600"])
        names = lab_names(lab, [sleeper.pid])
        if failing:
            raise RuntimeError("test body failed")
    assert names and leftovers(names) == NOTHING


def test_cleanup_stale_after_a_killed_run() -> None:
    """A run SIGKILLed inside its lab leaves everything behind; the next cleanup_stale removes
    it. The child stops itself first so that, while we look, its leftovers are not yet stale
    (a concurrent test run's cleanup would otherwise race us)."""
    child = f"""
import json, os, signal, sys
sys.path.insert(0, {str(TESTS)!r})
from netlab import NetLab
lab = NetLab(["a"]).__enter__()
sleeper = lab.popen("a", ["sleep", "600"])
names = {{"netns": lab.namespaces, "links": [lab.root_link], "users": [lab.user("a")],
          "dirs": [str(lab.home("a")), str(lab.base)], "pids": [str(sleeper.pid)]}}
print(json.dumps(names), flush=True)
os.kill(os.getpid(), signal.SIGSTOP)
"""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen([sys.executable, "-c", child], stdout=subprocess.PIPE, env=env)
    try:
        assert proc.stdout is not None
        names = json.loads(proc.stdout.readline() or "null")
        assert names and leftovers(names) == names
        assert not any(name in cleanup_stale() for name in names["netns"])  # still alive
    finally:
        proc.kill()  # SIGKILL: no finalizer, no atexit
        proc.wait(timeout=30)
    cleanup_stale()
    assert leftovers(names) == NOTHING
