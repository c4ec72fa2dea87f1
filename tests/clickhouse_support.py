"""Real ClickHouse servers for the history tests: Debian's clickhouse-server (18.16), each run
by hand with its own config, data and logs in a temp folder, on loopback ephemeral ports (never
the system service). ``shards(tmp, n)`` starts n servers that all know a cluster ``flowrt_test``
with one shard per server, for Distributed tables.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from conftest import free_port

BINARY = shutil.which("clickhouse-server") or (
    "/usr/sbin/clickhouse-server" if Path("/usr/sbin/clickhouse-server").exists() else None
)
CLUSTER = "flowrt_test"

needs_server = pytest.mark.skipif(
    BINARY is None, reason="clickhouse-server is not installed (apt-get install clickhouse-server)"
)

_CONFIG = """<?xml version="1.0"?>
<yandex>
  <logger><level>warning</level><log>{d}/server.log</log><errorlog>{d}/error.log</errorlog>
    <console>0</console></logger>
  <listen_host>127.0.0.1</listen_host>
  <http_port>{http}</http_port>
  <tcp_port>{tcp}</tcp_port>
  <interserver_http_port>{inter}</interserver_http_port>
  <path>{d}/data/</path>
  <tmp_path>{d}/tmp/</tmp_path>
  <user_files_path>{d}/user_files/</user_files_path>
  <format_schema_path>{d}/format_schemas/</format_schema_path>
  <users_config>{d}/users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <mark_cache_size>67108864</mark_cache_size>
  <uncompressed_cache_size>67108864</uncompressed_cache_size>
  <max_concurrent_queries>50</max_concurrent_queries>
  <timezone>UTC</timezone>
  <remote_servers>
    <{cluster}>{shards}</{cluster}>
  </remote_servers>
</yandex>
"""

_USERS = """<?xml version="1.0"?>
<yandex>
  <profiles><default><max_memory_usage>2000000000</max_memory_usage></default></profiles>
  <users><default><password></password>
    <networks><ip>127.0.0.1</ip><ip>::1</ip></networks>
    <profile>default</profile><quota>default</quota></default></users>
  <quotas><default></default></quotas>
</yandex>
"""


class ClickHouseServer:
    """One clickhouse-server process. ``stop()`` and ``start()`` again keep data and ports."""

    def __init__(self, folder: Path, http_port: int, tcp_port: int, shard_tcp_ports: list[int]):
        self.dir = Path(folder)
        self.http_port = http_port
        self.tcp_port = tcp_port
        self.inter_port = free_port()
        for sub in ("data", "tmp", "user_files", "format_schemas"):
            (self.dir / sub).mkdir(parents=True, exist_ok=True)
        shards = "".join(
            f"<shard><replica><host>127.0.0.1</host><port>{p}</port></replica></shard>"
            for p in shard_tcp_ports
        )
        (self.dir / "config.xml").write_text(
            _CONFIG.format(
                d=self.dir,
                http=http_port,
                tcp=tcp_port,
                inter=self.inter_port,
                cluster=CLUSTER,
                shards=shards,
            )
        )
        (self.dir / "users.xml").write_text(_USERS)
        self.proc: subprocess.Popen | None = None

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def native_url(self) -> str:
        return f"clickhouse://127.0.0.1:{self.tcp_port}"

    def start(self, timeout: float = 30.0) -> "ClickHouseServer":
        out = open(self.dir / "stdout.log", "ab")
        self.proc = subprocess.Popen(
            [BINARY, f"--config-file={self.dir / 'config.xml'}"],
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=self.dir,
        )
        out.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"clickhouse-server exited {self.proc.returncode}: " + self._log_tail()
                )
            try:
                with urllib.request.urlopen(self.http_url + "/ping", timeout=1) as r:
                    if r.read().strip() == b"Ok.":
                        return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("clickhouse-server did not answer: " + self._log_tail())

    def _log_tail(self) -> str:
        try:
            return (self.dir / "error.log").read_text()[-2000:]
        except OSError:
            return ""

    def stop(self, grace: float = 3.0) -> None:
        """SIGTERM; after ``grace`` seconds SIGKILL (a server with clients still connected,
        e.g. the other shard's Distributed connections, waits long for them to close; what it
        acknowledged is on disk already)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(grace)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def query(self, sql: str):
        """Rows of a SELECT (JSONCompact), or None for other statements."""
        select = sql.lstrip().upper().startswith(("SELECT", "SHOW"))
        body = (sql + (" FORMAT JSONCompact" if select else "")).encode()
        req = urllib.request.Request(self.http_url + "/", data=body)
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                raw = r.read()
        except urllib.error.HTTPError as e:
            raise AssertionError(f"{sql}: {e.read().decode()[:500]}") from None
        if not select:
            return None
        doc = json.loads(raw)
        ints = [i for i, m in enumerate(doc["meta"]) if m["type"] in ("UInt64", "Int64")]
        rows = doc["data"]
        for row in rows:  # 64-bit integers come quoted
            for i in ints:
                row[i] = int(row[i])
        return rows


def shards(tmp: Path, n: int) -> list[ClickHouseServer]:
    """n started servers, each one shard of cluster ``flowrt_test``."""
    ports = [(free_port(), free_port()) for _ in range(n)]
    servers = [
        ClickHouseServer(Path(tmp) / f"ch{i}", http, tcp, [p[1] for p in ports])
        for i, (http, tcp) in enumerate(ports)
    ]
    started = []
    try:
        for s in servers:
            started.append(s.start())
    except BaseException:
        for s in started:
            s.stop()
        raise
    return servers
