"""Network namespaces for the lab: flowrt's own namespace and one holding every lab host.

::

    flowrt-lab-<pid>-<tag>            lab-hosts-<pid>-<tag>
    eth0 10.0.0.162/24  <-- veth -->  eth0 10.0.0.134, .50, .80, .253, .254, ... /24
    lo                                lo

The veth is created inside the namespaces (it never appears in the machine's namespace), so
nothing the lab does can reach the machine's network. Python code joins a namespace per
thread (``in_netns``): sockets keep the namespace they were created in, and child processes
started from such a thread run in it, so test servers live in-process and daemons (influxd,
bird) start with plain ``subprocess``.
"""

from __future__ import annotations

import ctypes
import os
import re
import shutil
import signal
import subprocess
import threading
import time
import uuid

CLONE_NEWNET = 0x40000000
NETNS_DIR = "/var/run/netns"
PREFIXES = ("flowrt-lab-", "lab-hosts-")
FLOWRT_IP = "10.0.0.162"  # bgp.js's myID: flowrt itself

_libc = ctypes.CDLL(None, use_errno=True)


def available() -> str | None:
    """None when the lab can be built here, else the reason it cannot."""
    if os.geteuid() != 0:
        return "needs root (ip netns)"
    if shutil.which("ip") is None:
        return "needs iproute2 (ip)"
    if shutil.which("unshare") is None:
        return "needs util-linux (unshare)"
    return None


def _enter(name: str) -> None:
    fd = os.open(os.path.join(NETNS_DIR, name), os.O_RDONLY)
    try:
        if _libc.setns(fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"setns {name}: {os.strerror(err)}")
    finally:
        os.close(fd)


def in_netns(name: str, fn, *args, **kw):
    """Run fn(*args, **kw) in a new thread that has joined network namespace `name` and
    return its result (or raise its exception). The thread ends with fn, so the namespace
    switch never leaks into other code."""
    box: dict = {}

    def run():
        try:
            _enter(name)
            box["value"] = fn(*args, **kw)
        except BaseException as exc:  # handed to the caller
            box["error"] = exc

    t = threading.Thread(target=run, name=f"netns-{name}", daemon=True)
    t.start()
    t.join()
    if "error" in box:
        raise box["error"]
    return box.get("value")


def ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=check)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale() -> None:
    """Remove lab namespaces left by a test process that no longer exists (killed runs)."""
    try:
        names = os.listdir(NETNS_DIR)
    except FileNotFoundError:
        return
    for name in names:
        m = re.match(r"^(?:flowrt-lab|lab-hosts)-(\d+)-", name)
        if m and not _pid_alive(int(m.group(1))):
            _delete(name)


def _kill_members(name: str) -> None:
    """SIGKILL what still runs in one of our own namespaces (only our children live there)."""
    out = ip("netns", "pids", name, check=False).stdout.split()
    for pid in out:
        try:
            os.kill(int(pid), signal.SIGKILL)
        except (ProcessLookupError, ValueError):
            pass


def _delete(name: str) -> None:
    _kill_members(name)
    ip("netns", "delete", name, check=False)
    shutil.rmtree(f"/etc/netns/{name}", ignore_errors=True)


class Lab:
    """Two namespaces joined by a veth: flowrt at 10.0.0.162 and the lab hosts' addresses."""

    def __init__(self, hosts: list[str], prefix: int = 24):
        tag = f"{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.flowrt_ns = f"flowrt-lab-{tag}"
        self.hosts_ns = f"lab-hosts-{tag}"
        self.flowrt_ip = FLOWRT_IP
        self.hosts = list(dict.fromkeys(hosts))
        self.prefix = prefix
        self._made: list[str] = []

    def start(self) -> "Lab":
        remove_stale()
        try:
            for ns in (self.flowrt_ns, self.hosts_ns):
                ip("netns", "add", ns)
                self._made.append(ns)
                ip("-n", ns, "link", "set", "lo", "up")
            ip(
                "-n",
                self.flowrt_ns,
                "link",
                "add",
                "eth0",
                "type",
                "veth",
                "peer",
                "name",
                "eth0",
                "netns",
                self.hosts_ns,
            )
            ip(
                "-n",
                self.flowrt_ns,
                "addr",
                "add",
                f"{self.flowrt_ip}/{self.prefix}",
                "dev",
                "eth0",
            )
            for a in self.hosts:
                ip("-n", self.hosts_ns, "addr", "add", f"{a}/{self.prefix}", "dev", "eth0")
            for ns in (self.flowrt_ns, self.hosts_ns):
                ip("-n", ns, "link", "set", "eth0", "up")
            self._wait_link()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_link(self, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = ip("-n", self.flowrt_ns, "-o", "link", "show", "eth0").stdout
            if "LOWER_UP" in state and ",UP" in state:
                return
            time.sleep(0.02)
        raise RuntimeError(f"lab veth did not come up: {state}")

    def stop(self) -> None:
        for ns in reversed(self._made):
            _delete(ns)
        self._made.clear()

    def __enter__(self) -> "Lab":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- running things in the namespaces -------------------------------------------------------
    def in_hosts(self, fn, *args, **kw):
        return in_netns(self.hosts_ns, fn, *args, **kw)

    def in_flowrt(self, fn, *args, **kw):
        return in_netns(self.flowrt_ns, fn, *args, **kw)

    def popen_in_hosts(self, argv: list[str], **kw) -> subprocess.Popen:
        return self.in_hosts(subprocess.Popen, argv, **kw)
