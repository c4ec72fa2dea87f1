"""A real InfluxDB 1.x (Debian package ``influxdb``) inside the lab namespace, with a temp
config: HTTP on ADDRESS:8086, meta/data/wal in a temp folder, no usage reporting, no internal
monitor database. Never the system service."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path

from .netns import in_netns

INFLUXD = shutil.which("influxd") or (
    "/usr/bin/influxd" if Path("/usr/bin/influxd").exists() else None
)

CONFIG = """\
reporting-disabled = true
bind-address = "127.0.0.1:8088"

[meta]
  dir = "{dir}/meta"
  logging-enabled = false

[data]
  dir = "{dir}/data"
  wal-dir = "{dir}/wal"
  query-log-enabled = false
  trace-logging-enabled = false

[coordinator]
  log-queries-after = "0s"

[retention]
  enabled = false

[monitor]
  store-enabled = false

[subscriber]
  enabled = false

[continuous_queries]
  enabled = false

[http]
  enabled = true
  bind-address = "{address}:{port}"
  auth-enabled = false
  log-enabled = false
  write-tracing = false
  pprof-enabled = false

[logging]
  level = "warn"
"""


class InfluxDB:
    def __init__(self, ns: str, workdir: Path, address: str = "10.0.0.50", port: int = 8086):
        self.ns, self.address, self.port = ns, address, port
        self.dir = Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.conf = self.dir / "influxdb.conf"
        self.conf.write_text(CONFIG.format(dir=self.dir, address=address, port=port))
        self.log = self.dir / "influxd.log"
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://{self.address}:{self.port}"

    def start(self, timeout: float = 30.0) -> "InfluxDB":
        if INFLUXD is None:
            raise RuntimeError("influxd not installed (apt-get install influxdb)")
        out = open(self.log, "ab")
        self.proc = in_netns(
            self.ns,
            subprocess.Popen,
            [INFLUXD, "-config", str(self.conf)],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        out.close()
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"influxd exited: {self.log.read_text()[-2000:]}")
            try:
                if self._http("GET", "/ping")[0] == 204:
                    return self
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"influxd not answering: {self.log.read_text()[-2000:]}")
            time.sleep(0.1)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def _http(self, method: str, path: str, data: bytes | None = None):
        def call():
            req = urllib.request.Request(self.url + path, data=data, method=method)
            opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
            with opener.open(req, timeout=10) as r:
                return r.status, r.read()

        return in_netns(self.ns, call)

    def query(self, q: str, db: str | None = None) -> dict:
        params = {"q": q, "epoch": "ms"}
        if db:
            params["db"] = db
        body = urllib.parse.urlencode(params).encode()
        status, data = self._http("POST", "/query", body)
        return json.loads(data)

    def create_database(self, db: str) -> None:
        res = self.query(f'CREATE DATABASE "{db}"')
        if any("error" in r for r in res.get("results", [])):
            raise RuntimeError(res)

    def series(self, db: str, measurement: str) -> list[dict]:
        """All points of a measurement as dicts (time in ms, tags and fields by name)."""
        res = self.query(f'SELECT * FROM "{measurement}"', db)
        out = []
        for r in res.get("results", []):
            for s in r.get("series", []):
                cols = s["columns"]
                out.extend(dict(zip(cols, v)) for v in s["values"])
        return out

    def measurements(self, db: str) -> list[str]:
        res = self.query("SHOW MEASUREMENTS", db)
        names = []
        for r in res.get("results", []):
            for s in r.get("series", []):
                names.extend(v[0] for v in s["values"])
        return names
