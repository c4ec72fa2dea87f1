"""flowrt started the way a user starts it (``./start.sh -Dscript.file=...``), inside the lab's
flowrt namespace, on the default ports 8008 and 6343 (the namespace has its own ports).

``ip netns exec`` already gives the command a mount namespace of its own; ``unshare --mount
--propagation private`` makes that explicit, and inside it:

- /tls is a bind mount of the test's folder with key.pem, cert.pem, ca.pem. The directory /tls
  must exist on the machine's file system to be a mount point: when it does not, the lab
  creates the empty directory and the last lab run using it removes it again (markers in
  /run/flowrt-lab-tls/); its content is never visible outside flowrt's mount namespace;
- /etc/hosts is a bind mount of the test's hosts file (rules.emergingthreats.net -> lab host).

SSL_CERT_FILE names the lab CA bundle, so https servers signed by the test CA are trusted by
http()/http2()/httpAsync() without certs (the standard OpenSSL variable Python's ssl honours).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

from .netns import in_netns

REPO = Path(__file__).resolve().parents[2]
TLS_MOUNT = Path("/tls")
TLS_STATE = Path("/run/flowrt-lab-tls")  # who uses /tls now (see _tls_registry)

_SETUP = """set -e
if [ -n "$LAB_TLS" ]; then mount --bind "$LAB_TLS" /tls; fi
if [ -n "$LAB_HOSTS" ]; then mount --bind "$LAB_HOSTS" /etc/hosts; fi
exec "$@"
"""


@contextlib.contextmanager
def _tls_registry():
    """Lab runs on this machine (concurrent test sessions too) share the /tls mount point:
    each holds a marker while it uses it; the last one out removes /tls if a lab made it."""
    TLS_STATE.mkdir(parents=True, exist_ok=True)
    with open(TLS_STATE / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def ensure_tls_mountpoint() -> str:
    """Make /tls exist as an (empty) mount point; returns a token for remove_tls_mountpoint."""
    token = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
    with _tls_registry():
        if not TLS_MOUNT.exists():
            TLS_MOUNT.mkdir()
            (TLS_STATE / "created").touch()
        (TLS_STATE / f"user-{token}").touch()
    return token


def remove_tls_mountpoint(token: str) -> None:
    with _tls_registry():
        (TLS_STATE / f"user-{token}").unlink(missing_ok=True)
        users = []
        for marker in TLS_STATE.glob("user-*"):
            pid = int(marker.name.split("-")[1])
            try:
                os.kill(pid, 0)
                users.append(marker)
            except ProcessLookupError:
                marker.unlink(missing_ok=True)  # a run that was killed
        if not users and (TLS_STATE / "created").exists():
            try:
                TLS_MOUNT.rmdir()  # only when empty: never anything a user put there
            except OSError:
                pass
            (TLS_STATE / "created").unlink(missing_ok=True)


def write_hosts(path: Path, names: dict[str, str]) -> Path:
    lines = ["127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback"]
    lines += [f"{addr}\t{name}" for name, addr in names.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def private_command(
    ns: str,
    argv: list[str],
    *,
    tls: Path | None = None,
    hosts_file: Path | None = None,
    ca_bundle: Path | None = None,
):
    """(argv, env) running argv in network namespace ns and a private mount namespace where
    /tls is the `tls` folder and /etc/hosts is `hosts_file`."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k
        not in (
            "RTPROP",
            "SSL_CERT_FILE",
            "SSL_CERT_DIR",
            "http_proxy",
            "https_proxy",
            "HTTP_PROXY",
            "HTTPS_PROXY",
            "all_proxy",
            "ALL_PROXY",
        )
    }
    env["LAB_TLS"] = str(tls) if tls is not None else ""
    env["LAB_HOSTS"] = str(hosts_file) if hosts_file is not None else ""
    if ca_bundle is not None:
        env["SSL_CERT_FILE"] = str(ca_bundle)
    return (
        [
            "ip",
            "netns",
            "exec",
            ns,
            "unshare",
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-c",
            _SETUP,
            "flowrt-lab",
            *argv,
        ],
        env,
    )


class Flowrt:
    def __init__(
        self,
        ns: str,
        home: Path,
        props: list[str],
        *,
        tls: Path | None = None,
        hosts: dict[str, str] | None = None,
        ca_bundle: Path | None = None,
        http_port: int = 8008,
    ):
        self.ns = ns
        self.home = Path(home)
        self.props = list(props)
        self.tls = tls
        self.hosts = hosts
        self.ca_bundle = ca_bundle
        self.http_port = http_port
        self.log = self.home / "flowrt.log"
        self.proc: subprocess.Popen | None = None
        self._tls_token: str | None = None

    def start(self, timeout: float = 60.0) -> "Flowrt":
        hosts_file = None
        if self.hosts is not None:
            hosts_file = write_hosts(self.home / "hosts", self.hosts)
        if self.tls is not None:
            self._tls_token = ensure_tls_mountpoint()
        argv, env = private_command(
            self.ns,
            [str(REPO / "start.sh"), *self.props],
            tls=self.tls,
            hosts_file=hosts_file,
            ca_bundle=self.ca_bundle,
        )
        env["FLOWRT_HOME"] = str(self.home)
        out = open(self.log, "ab")
        self.proc = subprocess.Popen(
            argv, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
        out.close()
        try:
            self.wait_log(f"Listening, HTTP port {self.http_port}", timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self._tls_token is not None:
            remove_tls_mountpoint(self._tls_token)
            self._tls_token = None

    # -- log -----------------------------------------------------------------------------------
    def log_lines(self) -> list[str]:
        try:
            return self.log.read_text(errors="replace").splitlines()
        except FileNotFoundError:
            return []

    def wait_log(self, pattern: str, timeout: float = 30.0, count: int = 1) -> list[str]:
        """Wait until `count` log lines match the regular expression; returns the matches."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            hits = [l for l in self.log_lines() if rx.search(l)]
            if len(hits) >= count:
                return hits
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(f"flowrt exited ({self.proc.returncode}):\n" + self.tail())
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"no log line /{pattern}/ x{count} within {timeout}s:\n" + self.tail()
                )
            time.sleep(0.1)

    def tail(self, n: int = 60) -> str:
        return "\n".join(self.log_lines()[-n:])

    # -- REST, from inside flowrt's namespace (curl http://localhost:8008/...) ------------------
    def request(self, path: str, method: str = "GET", body=None) -> tuple[int, str]:
        def call():
            data = (
                None
                if body is None
                else (body if isinstance(body, bytes) else json.dumps(body).encode())
            )
            req = urllib.request.Request(
                f"http://localhost:{self.http_port}{path}",
                data=data,
                method=method,
                headers={"Content-Type": "application/json"} if data else {},
            )
            opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
            try:
                with opener.open(req, timeout=30) as r:
                    return r.status, r.read().decode()
            except urllib.error.HTTPError as exc:
                return exc.code, exc.read().decode()

        return in_netns(self.ns, call)

    def get_json(self, path: str):
        status, text = self.request(path)
        if status != 200:
            raise AssertionError(f"GET {path}: {status} {text}")
        return json.loads(text)

    def curl(self, path: str) -> str:
        """The seed's own command, run as a user would inside the namespace (urllib when curl
        is not installed)."""
        if shutil.which("curl") is None:
            return self.request(path)[1]
        out = subprocess.run(
            [
                "ip",
                "netns",
                "exec",
                self.ns,
                "curl",
                "-s",
                f"http://localhost:{self.http_port}{path}",
            ],
            capture_output=True,
            text=True,
            timeout=30,
        )
        return out.stdout

    def describe(self) -> str:
        return f"flowrt in {self.ns}: ./start.sh {shlex.join(self.props)}"
