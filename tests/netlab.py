"""A network-namespace lab for multi-host tests: one namespace per host, all cabled to a Linux
bridge in a "switch" namespace, optionally with a leg into the root namespace so the test process
itself can reach the hosts, and one system user with a private home per host.

Only addresses from 198.18.0.0/15 (RFC 2544 benchmarking space) are ever configured, and only on
interfaces the lab creates; the root namespace gets at most one veth with a connected /24 and no
routes. Everything is named `onlab<pid>-<n>...` so a later run can find and remove what a killed
run left behind (`cleanup_stale`); a normal run removes it on `close` (the `with` block's exit, or
a finalizer at garbage collection / interpreter exit if the test never got that far).
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import ipaddress
import itertools
import json
import os
import pwd
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
import weakref
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import pytest

PREFIX = "onlab"
LAB_SPACE = ipaddress.IPv4Network("198.18.0.0/15")
SYSTEM_PATH = "/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin"
HOST_NAME = re.compile(r"[a-z][a-z0-9]{0,11}")
# Every lab object: onlab<pid>-<n> (root link), onlab<pid>-<n>-<host> (netns, user),
# onlab<pid>-<n>_switch (netns), /tmp/onlab<pid>-<n>-XXXX (base directory).
LAB_NAME = re.compile(rf"{PREFIX}(\d+)-(\d+)(?:$|[-_])")
LOCK = Path(tempfile.gettempdir()) / "onereg-netlab.lock"
_counter = itertools.count(1)
_live: set[str] = set()  # tags of labs open in this process (a stale tag may reuse our pid)


class LabError(RuntimeError):
    """A lab command failed; the message has the command and its stderr."""


def sh(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run a root-namespace command; fail loudly with its stderr (setup errors must be legible)."""
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    if check and proc.returncode != 0:
        raise LabError(f"{' '.join(argv)}: exit {proc.returncode}: {proc.stderr.strip()}")
    return proc


def need_netns() -> None:
    """Skip the calling test when namespaces are unavailable, or fail it when CI demands them
    (ONEREG_REQUIRE_NETNS=1), so a CI machine without root cannot silently skip the lab tests."""
    reason = NetLab.available()
    if reason is None:
        return
    if os.environ.get("ONEREG_REQUIRE_NETNS") == "1":
        pytest.fail(f"network namespaces required (ONEREG_REQUIRE_NETNS=1): {reason}")
    pytest.skip(reason)


@dataclass
class _Resources:
    """What a lab created, kept apart from the lab so a finalizer can tear it down."""

    tag: str
    namespaces: list[str] = field(default_factory=list)
    root_link: str | None = None
    users: list[str] = field(default_factory=list)
    base: Path | None = None
    procs: list[subprocess.Popen[Any]] = field(default_factory=list)
    logs: list[IO[bytes]] = field(default_factory=list)


def _kill_group(proc: subprocess.Popen[Any]) -> None:
    """Kill a started process with its whole group (servers fork workers) and reap it."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=10)


def _kill_netns_pids(ns: str) -> None:
    """Kill whatever still runs in a namespace (daemons that left our process group)."""
    out = sh("ip", "netns", "pids", ns, check=False).stdout
    for pid in out.split():
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(pid), signal.SIGKILL)


def _kill_uid(uid: int) -> None:
    """Kill the processes of one lab user (userdel refuses while they run)."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if entry.stat().st_uid == uid:
                    os.kill(int(entry.name), signal.SIGKILL)


def _userdel(name: str) -> None:
    """Remove a lab user and its group; retried because parallel runs contend for /etc/passwd."""
    try:
        uid = pwd.getpwnam(name).pw_uid
    except KeyError:
        return
    _kill_uid(uid)
    for _ in range(20):
        if sh("userdel", name, check=False).returncode in (0, 6):  # 6: no such user
            return
        time.sleep(0.2)
    sh("userdel", name)


def _teardown(res: _Resources) -> list[str]:
    """Remove everything in `res`, continuing past failures; returns the failures. Order matters:
    processes before namespaces (a process keeps its namespace alive) and users (userdel refuses
    while they run); the switch namespace takes the bridge and the root leg's peer with it."""
    _live.discard(res.tag)
    for proc in res.procs:
        _kill_group(proc)
    for ns in res.namespaces:
        _kill_netns_pids(ns)
    errors: list[str] = []
    if res.root_link:  # first: the switch's asynchronous cleanup would race us for it
        with _collect(errors, res.root_link):
            _del_link(res.root_link)
    for ns in res.namespaces:
        with _collect(errors, ns):
            _del_netns(ns)
    for user in res.users:
        with _collect(errors, user):
            _userdel(user)
    if res.base:
        with _collect(errors, str(res.base)):
            shutil.rmtree(res.base)
    for log in res.logs:
        log.close()
    res.namespaces, res.users, res.procs, res.logs = [], [], [], []
    res.root_link = res.base = None
    return errors


@contextlib.contextmanager
def _collect(errors: list[str], what: str) -> Iterator[None]:
    """Record a failed teardown step and go on with the next one."""
    try:
        yield
    except (OSError, LabError, subprocess.SubprocessError) as exc:
        errors.append(f"{what}: {exc}")


def _del_link(name: str) -> None:
    """Delete a root-namespace link; it failing only counts if the link is still there (it goes
    by itself when the switch namespace does)."""
    proc = sh("ip", "link", "del", name, check=False)
    if proc.returncode and Path("/sys/class/net", name).exists():
        raise LabError(f"ip link del {name}: {proc.stderr.strip()}")


def _del_netns(name: str) -> None:
    """Delete a namespace; it failing only counts if it is still there (a concurrent run's
    cleanup_stale may have been quicker)."""
    proc = sh("ip", "netns", "del", name, check=False)
    if proc.returncode and Path("/run/netns", name).exists():
        raise LabError(f"ip netns del {name}: {proc.stderr.strip()}")


def _stale(name: str) -> bool:
    """Whether a lab-named object belongs to a run that is gone (dead pid, or our own pid but
    not a lab this process has open: a killed run's pid can come back)."""
    m = LAB_NAME.match(name)
    if not m:
        return False
    pid, tag = int(m.group(1)), f"{m.group(1)}-{m.group(2)}"
    if pid == os.getpid():
        return tag not in _live
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def _netns_names() -> list[str]:
    """Names of all named network namespaces."""
    out = sh("ip", "-j", "netns", "list", check=False).stdout.strip()
    return [entry["name"] for entry in json.loads(out or "[]")]


def _stale_objects() -> tuple[list[str], list[str], list[str], list[Path]]:
    """Namespaces, root links, users and base dirs of labs whose run is gone."""
    return (
        [ns for ns in _netns_names() if _stale(ns)],
        [p.name for p in Path("/sys/class/net").iterdir() if _stale(p.name)],
        [p.pw_name for p in pwd.getpwall() if _stale(p.pw_name)],
        [p for p in Path(tempfile.gettempdir()).glob(f"{PREFIX}*") if _stale(p.name)],
    )


def cleanup_stale(timeout: float = 20.0) -> list[str]:
    """Remove what killed lab runs left behind; returns what was found. Labs of live processes
    are left alone. Repeats until nothing stale is left, since a concurrent run may be removing
    the same leftovers (its half-done deletions make ours fail) until `timeout`."""
    found: list[str] = []
    end = time.monotonic() + timeout
    while True:
        namespaces, links, users, bases = _stale_objects()
        objects = [*namespaces, *links, *users, *map(str, bases)]
        if not objects:
            return found
        found += [o for o in objects if o not in found]
        if time.monotonic() > end:
            raise LabError(f"stale lab objects remain: {objects}")
        _teardown(_Resources(tag="stale", namespaces=namespaces, users=users))
        for link in links:
            with contextlib.suppress(LabError):
                _del_link(link)
        for base in bases:
            shutil.rmtree(base, ignore_errors=True)
        time.sleep(0.05)


@functools.cache
def _probe() -> str | None:
    """Try what a lab needs: root, the tools, a namespace with a bridge and a veth pair."""
    if not sys.platform.startswith("linux"):
        return f"network namespaces need Linux, not {sys.platform}"
    if os.geteuid() != 0:
        return "network namespaces and system users need root"
    missing = [t for t in ("ip", "setpriv", "useradd", "userdel") if not shutil.which(t)]
    if missing:
        return f"not installed: {', '.join(missing)} (apt-get install iproute2 util-linux passwd)"
    ns = f"{PREFIX}{os.getpid()}-{next(_counter)}_probe"
    _live.add(ns.rsplit("_", 1)[0])
    try:
        sh("ip", "netns", "add", ns)
        sh("ip", "-n", ns, "link", "add", "br0", "type", "bridge")
        sh("ip", "-n", ns, "link", "add", "v0", "type", "veth", "peer", "name", "v1")
        return None
    except LabError as exc:
        return f"cannot build a network namespace lab here: {exc}"
    finally:
        sh("ip", "netns", "del", ns, check=False)
        _live.discard(ns.rsplit("_", 1)[0])


@contextlib.contextmanager
def _subnet_lock() -> Iterator[None]:
    """Serialise choosing and claiming a root-namespace subnet between concurrent test runs."""
    with LOCK.open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _root_networks() -> list[ipaddress.IPv4Network]:
    """IPv4 networks configured in the root namespace (a lab subnet must not overlap them)."""
    out = json.loads(sh("ip", "-j", "-4", "addr", "show").stdout or "[]")
    return [
        ipaddress.IPv4Interface(f"{a['local']}/{a['prefixlen']}").network
        for link in out
        for a in link.get("addr_info", [])
    ]


def _pick_subnet(wanted: str | None) -> ipaddress.IPv4Network:
    """The requested /24 (checked), or the first /24 of 198.18.0.0/15 not in use in the root
    namespace, so two test runs on one machine each get their own."""
    used = _root_networks()
    candidates = [ipaddress.IPv4Network(wanted)] if wanted else LAB_SPACE.subnets(new_prefix=24)
    for net in candidates:
        if not any(net.overlaps(u) for u in used):
            return net
    raise LabError(f"no free lab subnet (wanted {wanted}; in use: {used})")


TRAVERSE_STATE = Path(tempfile.gettempdir()) / "onereg-netlab-traverse.json"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextlib.contextmanager
def others_may_traverse(directory: Path) -> Iterator[None]:
    """Let every user traverse `directory` (o+x: enter, not list) for the block, then restore its
    exact old mode. Concurrent test runs share the grant through a state file: the first run
    records the mode, the last one restores it, and a killed run's claim is dropped (its
    recorded mode still counts) once its pid is gone."""
    key, me = str(directory), os.getpid()

    def update(change: Any) -> None:
        with _subnet_lock():  # serialises with the other runs' grants too
            try:
                state = json.loads(TRAVERSE_STATE.read_text())
            except (OSError, ValueError):
                state = {}
            entry = state.get(key) or {"mode": stat.S_IMODE(directory.stat().st_mode), "pids": []}
            entry["pids"] = [p for p in entry["pids"] if p != me and _pid_alive(p)]
            change(entry)
            if entry["pids"]:
                state[key] = entry
                directory.chmod(entry["mode"] | stat.S_IXOTH)
            else:
                state.pop(key, None)
                directory.chmod(entry["mode"])
            TRAVERSE_STATE.write_text(json.dumps(state))

    update(lambda entry: entry["pids"].append(me))
    try:
        yield
    finally:
        update(lambda entry: None)


class NetLab:
    """Hosts in their own network namespaces on one bridge; see the module docstring."""

    def __init__(
        self, hosts: Sequence[str], subnet: str | None = None, attach_root: bool = True
    ) -> None:
        bad = [h for h in hosts if not HOST_NAME.fullmatch(h)]
        if bad or len(set(hosts)) != len(hosts) or not 0 < len(hosts) <= 200:
            raise ValueError(f"hosts must be 1-200 distinct names like 'a' or 'node1': {hosts}")
        self.hosts = list(hosts)
        self.tag = f"{os.getpid()}-{next(_counter)}"
        self.attach_root = attach_root
        self._wanted_subnet = subnet
        self.subnet = ipaddress.IPv4Network(subnet or "198.18.0.0/24")
        if self.subnet.prefixlen != 24 or not self.subnet.subnet_of(LAB_SPACE):
            raise ValueError(f"lab subnet must be a /24 inside {LAB_SPACE}, not {subnet}")
        self._res = _Resources(tag=self.tag)
        self._finalizer = weakref.finalize(self, _teardown, self._res)
        self._users: dict[str, pwd.struct_passwd] = {}
        self._homes: dict[str, Path] = {}
        self._logs: dict[int, Path] = {}

    # -- availability ---------------------------------------------------------------------------

    @staticmethod
    def available() -> str | None:
        """None if this machine lets us build a lab, else why not (probed once per process)."""
        return _probe()

    # -- setup ----------------------------------------------------------------------------------

    def __enter__(self) -> NetLab:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close(raise_errors=exc[0] is None)

    def start(self) -> None:
        """Build the switch, the root leg (which fixes the subnet) and the hosts."""
        reason = self.available()
        if reason:
            raise LabError(reason)
        _live.add(self.tag)
        cleanup_stale()
        base = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{self.tag}-", dir=tempfile.gettempdir()))
        self._res.base = base
        base.chmod(0o711)  # lab users traverse it to reach their own 0700 homes
        (base / "logs").mkdir(mode=0o700)
        switch = self._add_netns(f"{PREFIX}{self.tag}_switch")
        sh("ip", "-n", switch, "link", "add", "br0", "type", "bridge")
        sh("ip", "-n", switch, "link", "set", "br0", "up")
        if self.attach_root:
            self._attach_root()
        for i, host in enumerate(self.hosts):
            self._add_host(i, host)

    def _add_netns(self, name: str) -> str:
        """A namespace with `lo` up and no IPv6 on the links we add (no link-local addresses,
        no router solicitations: nothing but our 198.18 addresses appears on the wire)."""
        sh("ip", "netns", "add", name)
        self._res.namespaces.append(name)
        knob = "/proc/sys/net/ipv6/conf/default/disable_ipv6"  # this namespace's own knob
        sh("ip", "netns", "exec", name, "sh", "-c", f"[ ! -e {knob} ] || echo 1 > {knob}")
        sh("ip", "-n", name, "link", "set", "lo", "up")
        return name

    def _add_host(self, i: int, host: str) -> None:
        """Host i: a namespace with eth0 = 198.18.x.(10+i)/24, cabled to the bridge as h<i>."""
        ns = self._add_netns(self.netns(host))
        switch = self._res.namespaces[0]
        port = f"h{i}"
        sh("ip", "-n", switch, "link", "add", port, "type", "veth", "peer", "name", "eth0",
           "netns", ns)  # fmt: skip
        sh("ip", "-n", switch, "link", "set", port, "master", "br0", "up")
        sh("ip", "-n", ns, "addr", "add", f"{self.address(host)}/24", "dev", "eth0")
        sh("ip", "-n", ns, "link", "set", "eth0", "up")

    def _attach_root(self) -> None:
        """The root leg: one veth with .1 of the lab /24; the subnet is chosen under a lock so
        concurrent runs never configure the same /24 twice in the root namespace."""
        switch = self._res.namespaces[0]
        link = f"{PREFIX}{self.tag}"
        if len(link) > 15:
            raise LabError(f"interface name too long: {link}")
        with _subnet_lock():
            self.subnet = _pick_subnet(self._wanted_subnet)
            sh("ip", "link", "add", link, "type", "veth", "peer", "name", "root", "netns", switch)
            self._res.root_link = link
            ipv6 = Path("/proc/sys/net/ipv6/conf", link, "disable_ipv6")
            if ipv6.exists():
                ipv6.write_text("1\n")
            sh("ip", "addr", "add", f"{self.subnet.network_address + 1}/24", "dev", link)
        sh("ip", "-n", switch, "link", "set", "root", "master", "br0", "up")
        sh("ip", "link", "set", link, "up")

    def close(self, raise_errors: bool = True) -> None:
        """Kill the lab's processes and remove everything it created."""
        errors = self._finalizer() or []
        if errors and raise_errors:
            raise LabError("netlab teardown: " + "; ".join(errors))

    # -- naming ---------------------------------------------------------------------------------

    def _index(self, host: str) -> int:
        if host not in self.hosts:
            raise KeyError(f"no host {host!r} in this lab ({self.hosts})")
        return self.hosts.index(host)

    def address(self, host: str) -> str:
        """Host i's IPv4 address: 198.18.x.(10+i)."""
        return str(self.subnet.network_address + 10 + self._index(host))

    @property
    def root_address(self) -> str | None:
        """The root namespace's address on the lab (.1), if attached."""
        return str(self.subnet.network_address + 1) if self._res.root_link else None

    def netns(self, host: str) -> str:
        """The host's namespace name."""
        self._index(host)
        return f"{PREFIX}{self.tag}-{host}"

    @property
    def namespaces(self) -> list[str]:
        """Every namespace of the lab (switch first)."""
        return list(self._res.namespaces)

    @property
    def root_link(self) -> str | None:
        """The lab's only root-namespace interface, if attached."""
        return self._res.root_link

    @property
    def base(self) -> Path:
        """The lab's base directory (mode 0711, removed at exit)."""
        if self._res.base is None:
            raise LabError("lab not started")
        return self._res.base

    # -- users and homes ------------------------------------------------------------------------

    def user(self, host: str) -> str:
        """The host's system user (created on first use, removed at exit)."""
        if host not in self._users:
            name = f"{PREFIX}{self.tag}-{host}"[:32]
            self._index(host)
            self._res.users.append(name)  # before useradd: a half-made user is still removed
            self._useradd(name)
            self._users[host] = pwd.getpwnam(name)
        return self._users[host].pw_name

    @staticmethod
    def _useradd(name: str) -> None:
        """useradd, retried: concurrent runs contend for the /etc/passwd lock (exit 10)."""
        argv = ("useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name)
        for _ in range(20):
            proc = sh(*argv, check=False)
            if proc.returncode == 0:
                return
            if proc.returncode != 10:
                break
            time.sleep(0.2)
        raise LabError(f"{' '.join(argv)}: exit {proc.returncode}: {proc.stderr.strip()}")

    def home(self, host: str) -> Path:
        """The host's directory: owned by its user, mode 0700 (other hosts cannot look in)."""
        if host not in self._homes:
            pw = self._users.get(host) or pwd.getpwnam(self.user(host))
            path = self.base / host
            path.mkdir(mode=0o700)
            os.chown(path, pw.pw_uid, pw.pw_gid)
            self._homes[host] = path
        return self._homes[host]

    # -- processes ------------------------------------------------------------------------------

    def _command(self, host: str, argv: Sequence[str], user: bool) -> list[str]:
        """argv inside the host's namespace, as its user: setpriv changes uid/gid/groups and keeps
        the environment we pass (runuser/su would reset it), and drops root's capabilities."""
        prefix = ["ip", "netns", "exec", self.netns(host)]
        if user:
            pw = self._users.get(host) or pwd.getpwnam(self.user(host))
            prefix += ["setpriv", f"--reuid={pw.pw_uid}", f"--regid={pw.pw_gid}",
                       "--clear-groups", "--"]  # fmt: skip
        return [*prefix, *map(str, argv)]

    def _env(self, host: str, user: bool, env: dict[str, str] | None) -> dict[str, str]:
        """A small explicit environment (root's PATH points into /root, which users cannot
        read), with HOME = the host's home; `env` adds to or overrides it."""
        base = {"PATH": SYSTEM_PATH, "LANG": "C.UTF-8"}
        if user:
            base["HOME"] = str(self.home(host))
        return {**base, **(env or {})}

    def popen(
        self,
        host: str,
        argv: Sequence[str],
        *,
        user: bool = True,
        env: dict[str, str] | None = None,
        cwd: str | Path | None = None,
        stdout: Any = None,
        stderr: Any = None,
    ) -> subprocess.Popen[bytes]:
        """Start argv in the host's namespace (as its user unless user=False), in its own process
        group, killed at exit. Output goes to a log under the base dir unless redirected;
        `output(proc)` reads it."""
        log = None
        if stdout is None:
            path = self.base / "logs" / f"{host}-{len(self._res.procs)}.log"
            log = path.open("wb")
            self._res.logs.append(log)
            stdout, stderr = log, subprocess.STDOUT if stderr is None else stderr
        proc = subprocess.Popen(
            self._command(host, argv, user),
            env=self._env(host, user, env),
            cwd=cwd or (self.home(host) if user else None),
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=stderr,
            start_new_session=True,
        )
        self._res.procs.append(proc)
        if log is not None:
            self._logs[proc.pid] = Path(log.name)
        return proc

    def output(self, proc: subprocess.Popen[bytes]) -> str:
        """What a `popen` process wrote so far (for assertion messages)."""
        path = self._logs.get(proc.pid)
        return path.read_text(errors="replace") if path and path.exists() else ""

    def run(
        self,
        host: str,
        argv: Sequence[str],
        *,
        user: bool = True,
        env: dict[str, str] | None = None,
        cwd: str | Path | None = None,
        input: str | None = None,
        timeout: float = 60,
        check: bool = False,
    ) -> subprocess.CompletedProcess[str]:
        """Run argv to completion in the host's namespace (as its user unless user=False);
        stdout and stderr are captured as text."""
        return subprocess.run(
            self._command(host, argv, user),
            env=self._env(host, user, env),
            cwd=cwd or (self.home(host) if user else None),
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=check,
            start_new_session=True,
        )
