"""flowrt started the way a user starts it (``./start.sh -Dscript.file=...``), inside the lab's
flowrt namespace, on the default ports 8008 and 6343 (the namespace has its own ports).

``ip netns exec`` already gives the command a mount namespace of its own; ``unshare --mount
--propagation private`` makes that explicit, and inside it:

- /tls is a bind mount of the test's folder with key.pem, cert.pem, ca.pem. The directory /tls
  must exist on the machine's file system to be a mount point: when it does not, the lab
  creates the empty directory and removes it again at stop (its content is never visible
  outside flowrt's mount namespace);
- /etc/hosts is a bind mount of the test's hosts file (rules.emergingthreats.net -> lab host).

SSL_CERT_FILE names the lab CA bundle, so https servers signed by the test CA are trusted by
http()/http2()/httpAsync() without certs (the standard OpenSSL variable Python's ssl honours).
"""
from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

from .netns import in_netns

REPO = Path(__file__).resolve().parents[2]
TLS_MOUNT = Path("/tls")

_SETUP = """set -e
if [ -n "$LAB_TLS" ]; then mount --bind "$LAB_TLS" /tls; fi
if [ -n "$LAB_HOSTS" ]; then mount --bind "$LAB_HOSTS" /etc/hosts; fi
exec "$@"
"""


class Flowrt:
    def __init__(self, ns: str, home: Path, props: list[str], *, tls: Path | None = None,
                 hosts: dict[str, str] | None = None, ca_bundle: Path | None = None,
                 http_port: int = 8008):
        self.ns = ns
        self.home = Path(home)
        self.props = list(props)
        self.tls = tls
        self.hosts = hosts
        self.ca_bundle = ca_bundle
        self.http_port = http_port
        self.log = self.home / "flowrt.log"
        self.proc: subprocess.Popen | None = None
        self._made_tls = False

    def start(self, timeout: float = 60.0) -> "Flowrt":
        env = {k: v for k, v in os.environ.items() if k not in ("RTPROP", "SSL_CERT_FILE", "SSL_CERT_DIR")}
        env.update(FLOWRT_HOME=str(self.home), LAB_TLS="", LAB_HOSTS="")
        for k in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
            env.pop(k, None)
        if self.tls is not None:
            if not TLS_MOUNT.exists():
                TLS_MOUNT.mkdir()
                self._made_tls = True
            env["LAB_TLS"] = str(self.tls)
        if self.hosts is not None:
            hosts_file = self.home / "hosts"
            lines = ["127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback"]
            lines += [f"{addr}\t{name}" for name, addr in self.hosts.items()]
            hosts_file.write_text("\n".join(lines) + "\n")
            env["LAB_HOSTS"] = str(hosts_file)
        if self.ca_bundle is not None:
            env["SSL_CERT_FILE"] = str(self.ca_bundle)
        argv = ["ip", "netns", "exec", self.ns, "unshare", "--mount", "--propagation", "private",
                "sh", "-c", _SETUP, "flowrt-lab", str(REPO / "start.sh"), *self.props]
        out = open(self.log, "ab")
        self.proc = subprocess.Popen(argv, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
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
        if self._made_tls:
            try:
                TLS_MOUNT.rmdir()
            except OSError:
                pass
            self._made_tls = False

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
                raise AssertionError(f"no log line /{pattern}/ x{count} within {timeout}s:\n" + self.tail())
            time.sleep(0.1)

    def tail(self, n: int = 60) -> str:
        return "\n".join(self.log_lines()[-n:])

    # -- REST, from inside flowrt's namespace (curl http://localhost:8008/...) ------------------
    def request(self, path: str, method: str = "GET", body=None) -> tuple[int, str]:
        def call():
            data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
            req = urllib.request.Request(f"http://localhost:{self.http_port}{path}", data=data,
                                         method=method,
                                         headers={"Content-Type": "application/json"} if data else {})
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
        """The seed's own command, run as a user would inside the namespace."""
        out = subprocess.run(["ip", "netns", "exec", self.ns, "curl", "-s",
                              f"http://localhost:{self.http_port}{path}"],
                             capture_output=True, text=True, timeout=30)
        return out.stdout

    def describe(self) -> str:
        return f"flowrt in {self.ns}: ./start.sh {shlex.join(self.props)}"
