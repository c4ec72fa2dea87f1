"""Test servers standing in for the blog's lab hosts, each listening on a lab address inside
the lab namespace (the listening socket is created there; the server runs in-process).

- ``DockerAPI``: Docker Engine swarm service API over TLS with a required client certificate:
  ``GET /services``, ``GET /services/{name|id}``, ``POST /v1.24/services/{id}/update?version=N``
  (the body is the new Spec; a stale version is refused like Docker does).
- ``BlockLists``: HTTPS host rules.emergingthreats.net serving the two Emerging Threats lists.
- ``SwitchACL``: a switch's ACL REST API at AGENT:8080, ``PUT /acl/{id}`` with a JSON list of
  iptables lines (Cumulus Linux's acl REST service in the blog), ``GET /acl`` lists them.
"""

from __future__ import annotations

import json
import re
import ssl
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from .netns import in_netns


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    ssl_context: ssl.SSLContext | None = None

    def __init__(self, addr, handler, owner):
        self.owner = owner
        super().__init__(addr, handler)

    def finish_request(self, request, client_address):
        # TLS handshake in the request's own thread, so a client that fails it (no client
        # certificate) cannot stall the accept loop
        if self.ssl_context is not None:
            try:
                request = self.ssl_context.wrap_socket(request, server_side=True)
            except (ssl.SSLError, OSError) as exc:
                self.owner.tls_failures.append(f"{client_address[0]}: {exc}")
                return
        super().finish_request(request, client_address)

    def handle_error(self, request, client_address):
        import sys

        self.owner.errors.append(repr(sys.exc_info()[1]))


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, fmt, *args):  # quiet; requests are recorded by the owner
        pass

    def _body(self) -> bytes:
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def _send(self, status: int, body, ctype: str = "application/json") -> None:
        data = (
            body
            if isinstance(body, bytes)
            else (body.encode() if isinstance(body, str) else json.dumps(body).encode())
        )
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _dispatch(self, method: str) -> None:
        url = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(url.query)
        body = self._body()
        owner = self.server.owner
        with owner.lock:
            owner.requests.append((time.time(), method, self.path, body))
        status, reply, ctype = owner.handle(method, url.path, query, body)
        self._send(status, reply, ctype)

    def do_GET(self):
        self._dispatch("GET")

    def do_POST(self):
        self._dispatch("POST")

    def do_PUT(self):
        self._dispatch("PUT")

    def do_DELETE(self):
        self._dispatch("DELETE")


class LabServer:
    """Base: serves `handle(method, path, query, body) -> (status, body, content type)` on
    address:port inside namespace `ns` until stop()."""

    def __init__(self, ns: str, address: str, port: int, ssl_context: ssl.SSLContext | None = None):
        self.ns, self.address, self.port = ns, address, port
        self.ssl_context = ssl_context
        self.lock = threading.Lock()
        self.requests: list[tuple] = []
        self.errors: list[str] = []
        self.tls_failures: list[str] = []
        self._srv: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"{'https' if self.ssl_context else 'http'}://{self.address}:{self.port}"

    def start(self):
        def make():
            srv = _Server((self.address, self.port), _Handler, self)
            srv.ssl_context = self.ssl_context
            return srv

        self._srv = in_netns(self.ns, make)
        self._thread = threading.Thread(
            target=self._srv.serve_forever,
            kwargs={"poll_interval": 0.1},
            name=f"lab-{self.address}:{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._srv is not None:
            self._srv.shutdown()
            self._srv.server_close()
            self._srv = None

    def handle(self, method, path, query, body):
        return 404, {"message": "not found"}, "application/json"

    def wait_tls_failures(self, timeout: float = 5.0) -> list[str]:
        """The handshake failures seen so far, waiting up to `timeout` for the first: with TLS
        1.3 the client can see the server's alert before the server thread has recorded it."""
        deadline = time.monotonic() + timeout
        while not self.tls_failures and time.monotonic() < deadline:
            time.sleep(0.01)
        return list(self.tls_failures)


class DockerAPI(LabServer):
    """Docker swarm services. `on_update(name, replicas)` is called after each accepted update."""

    API_PREFIX = re.compile(r"^/v1\.\d+")

    def __init__(self, ns, address="10.0.0.134", port=2376, ssl_context=None, on_update=None):
        super().__init__(ns, address, port, ssl_context)
        self.services: dict[str, dict] = {}
        self.updates: list[tuple[float, str, int]] = []
        self.on_update = on_update

    def add_service(self, name: str, replicas: int, sid: str | None = None) -> dict:
        sid = sid or f"{abs(hash(name)) % (1 << 60):015x}{len(self.services):010x}"
        svc = {
            "ID": sid,
            "Version": {"Index": 11 + len(self.services)},
            "CreatedAt": "2016-05-15T23:19:56.654716Z",
            "UpdatedAt": "2016-05-15T23:19:56.654716Z",
            "Spec": {
                "Name": name,
                "TaskTemplate": {"ContainerSpec": {"Image": name}},
                "Mode": {"Replicated": {"Replicas": replicas}},
                "EndpointSpec": {"Mode": "vip"},
            },
            "Endpoint": {"Spec": {}},
        }
        with self.lock:
            self.services[sid] = svc
        return svc

    def replicas(self, name: str) -> int:
        with self.lock:
            svc = self._find(name)
            return svc["Spec"]["Mode"]["Replicated"]["Replicas"]

    def _find(self, ref: str) -> dict | None:
        if ref in self.services:
            return self.services[ref]
        for svc in self.services.values():
            if svc["Spec"]["Name"] == ref:
                return svc
        return None

    def handle(self, method, path, query, body):
        path = self.API_PREFIX.sub("", path).rstrip("/")
        j = "application/json"
        if method == "GET" and path == "/services":
            with self.lock:
                return 200, list(self.services.values()), j
        m = re.fullmatch(r"/services/([^/]+)", path)
        if method == "GET" and m:
            with self.lock:
                svc = self._find(m.group(1))
                return (
                    (200, svc, j)
                    if svc
                    else (404, {"message": f"service {m.group(1)} not found"}, j)
                )
        m = re.fullmatch(r"/services/([^/]+)/update", path)
        if method == "POST" and m:
            try:
                spec = json.loads(body)
                replicas = int(spec["Mode"]["Replicated"]["Replicas"])
            except (ValueError, KeyError, TypeError) as exc:
                return 400, {"message": f"bad spec: {exc}"}, j
            with self.lock:
                svc = self._find(m.group(1))
                if svc is None:
                    return 404, {"message": "service not found"}, j
                version = (query.get("version") or [""])[0]
                if version != str(svc["Version"]["Index"]):
                    return 500, {"message": "update out of sequence"}, j
                svc["Spec"] = spec
                svc["Version"]["Index"] += 1
                self.updates.append((time.time(), svc["Spec"]["Name"], replicas))
            if self.on_update:
                self.on_update(svc["Spec"]["Name"], replicas)
            return 200, {"Warnings": None}, j
        return 404, {"message": "page not found"}, j


COMPROMISED = "https://rules.emergingthreats.net/blockrules/compromised-ips.txt"
BLOCK = "https://rules.emergingthreats.net/fwrules/emerging-Block-IPs.txt"


class BlockLists(LabServer):
    """rules.emergingthreats.net over HTTPS, the lists in their published shape (one address
    per line; the block list with comment lines and CIDRs)."""

    def __init__(self, ns, address, ssl_context, compromised: list[str], block: list[str]):
        super().__init__(ns, address, 443, ssl_context)
        self.files = {
            urllib.parse.urlsplit(COMPROMISED).path: "\n".join(compromised) + "\n",
            urllib.parse.urlsplit(
                BLOCK
            ).path: "#\n# Emerging Threats - Block Rules (flowrt lab copy)\n#\n# Spamhaus DROP Nets\n"
            + "\n".join(block)
            + "\n",
        }

    def handle(self, method, path, query, body):
        if method == "GET" and path in self.files:
            return 200, self.files[path], "text/plain"
        return 404, "not found\n", "text/plain"


class SwitchACL(LabServer):
    """A switch's ACL REST API: PUT /acl/ID stores the rule set (a JSON list of lines)."""

    def __init__(self, ns, address, port=8080):
        super().__init__(ns, address, port)
        self.acls: dict[str, list[str]] = {}
        self.puts: list[tuple[float, str, list[str]]] = []

    def handle(self, method, path, query, body):
        j = "application/json"
        m = re.fullmatch(r"/acl/([^/]+)", path)
        if method == "PUT" and m:
            try:
                rules = json.loads(body)
            except ValueError as exc:
                return 400, {"error": f"bad JSON: {exc}"}, j
            if not isinstance(rules, list) or not all(isinstance(r, str) for r in rules):
                return 400, {"error": "a list of strings expected"}, j
            with self.lock:
                self.acls[m.group(1)] = rules
                self.puts.append((time.time(), m.group(1), rules))
            return 200, "", "text/plain"
        if method == "GET" and path.rstrip("/") == "/acl":
            with self.lock:
                return 200, sorted(self.acls), j
        if method == "DELETE" and m:
            with self.lock:
                found = self.acls.pop(m.group(1), None)
            return (
                (200, "", "text/plain") if found is not None else (404, {"error": "no such acl"}, j)
            )
        return 404, {"error": "not found"}, j
