"""NSD (Debian's authoritative DNS server) as a real DNS server for the dns: tests.

``Nsd(workdir, ptr={ip: name}, hosts={name: [ip, ...]})`` writes reverse zones for the PTR
records and a forward zone for the A/AAAA records, runs ``nsd -d`` on 127.0.0.1 at a free
UDP+TCP port in the foreground (never the system service) and stops it on ``stop()``.
"""

from __future__ import annotations

import ipaddress
import shutil
import socket
import subprocess
import time
from pathlib import Path

NSD = shutil.which("nsd") or ("/usr/sbin/nsd" if Path("/usr/sbin/nsd").exists() else None)

SOA = "@ IN SOA ns.test. admin.test. 1 3600 600 86400 {ttl}\n@ IN NS ns.test.\n"


def free_udp_tcp_port() -> int:
    """A port free for both UDP and TCP on 127.0.0.1 (NSD listens on both)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            u.bind(("127.0.0.1", 0))
            port = u.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t:
                try:
                    t.bind(("127.0.0.1", port))
                except OSError:
                    continue
                return port
    raise RuntimeError("no free UDP+TCP port")


def _reverse_zone(ip: str) -> tuple[str, str]:
    """(zone, owner label) for an address: a /24 zone for IPv4, a /64 zone for IPv6."""
    rev = ipaddress.ip_address(ip).reverse_pointer
    labels = rev.split(".")
    cut = 1 if ":" not in ip else 16
    return ".".join(labels[cut:]), ".".join(labels[:cut])


class Nsd:
    def __init__(
        self,
        workdir: Path,
        ptr: dict[str, str] | None = None,
        hosts: dict[str, list[str]] | None = None,
        domain: str = "example.test",
        ttl: int = 60,
    ):
        self.dir = Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_udp_tcp_port()
        self.proc: subprocess.Popen | None = None
        self.log = self.dir / "nsd.log"
        zones: dict[str, list[str]] = {}
        for ip, name in (ptr or {}).items():
            zone, owner = _reverse_zone(ip)
            zones.setdefault(zone, []).append(f"{owner} IN PTR {name}")
        fwd = zones.setdefault(domain, [])
        for name, addrs in (hosts or {}).items():
            for a in addrs:
                rtype = "AAAA" if ":" in a else "A"
                fwd.append(f"{name}. IN {rtype} {a}")
        conf = [
            "server:",
            "  ip-address: 127.0.0.1",
            f"  port: {self.port}",
            '  username: ""',
            '  chroot: ""',
            f'  zonesdir: "{self.dir}"',
            '  database: ""',
            f'  zonelistfile: "{self.dir}/zone.list"',
            f'  xfrdfile: "{self.dir}/xfrd.state"',
            f'  xfrdir: "{self.dir}"',
            f'  pidfile: "{self.dir}/nsd.pid"',
            "  server-count: 1",
            "  do-ip6: no",
            "  verbosity: 1",
            "remote-control:",
            "  control-enable: no",
        ]
        for i, (zone, records) in enumerate(sorted(zones.items())):
            fname = f"zone{i}.db"
            (self.dir / fname).write_text(
                f"$ORIGIN {zone}.\n$TTL {ttl}\n" + SOA.format(ttl=ttl) + "\n".join(records) + "\n"
            )
            conf += ["zone:", f'  name: "{zone}"', f'  zonefile: "{fname}"']
        self.conf = self.dir / "nsd.conf"
        self.conf.write_text("\n".join(conf) + "\n")
        self.domain = domain

    @property
    def server(self) -> str:
        """The value for dns.servers."""
        return f"127.0.0.1:{self.port}"

    def start(self) -> "Nsd":
        self.proc = subprocess.Popen(
            [NSD, "-d", "-c", str(self.conf)], stdout=open(self.log, "ab"), stderr=subprocess.STDOUT
        )
        import dns.message
        import dns.query

        deadline = time.monotonic() + 10
        query = dns.message.make_query(f"{self.domain}.", "SOA")
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"nsd exited: {self.log.read_text()[-2000:]}")
            try:
                dns.query.udp(query, "127.0.0.1", timeout=0.2, port=self.port)
                return self
            except Exception:
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(
                        f"nsd did not answer: {self.log.read_text()[-2000:]}"
                    ) from None
                time.sleep(0.05)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None


class SilentServer:
    """A UDP socket on 127.0.0.1 that reads queries and never answers: a DNS server that is
    down in the slowest way (a closed port would at least answer ICMP unreachable)."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]

    @property
    def server(self) -> str:
        return f"127.0.0.1:{self.port}"

    def received(self) -> int:
        """Queries that arrived so far (drains the socket)."""
        self.sock.setblocking(False)
        n = 0
        while True:
            try:
                self.sock.recv(4096)
                n += 1
            except BlockingIOError:
                return n

    def close(self) -> None:
        self.sock.close()
