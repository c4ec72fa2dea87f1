"""Where history goes: a ClickHouse server over HTTP or the native protocol, or chDB in-process.

Every backend has the same three blocking calls, made from the writer thread or a query
thread, never from the engine's event loop:

  ``execute(sql)``                      DDL and ALTERs; raises BackendError
  ``insert(table, columns, rows)``      rows: tuples in column order; raises BackendError
  ``query(sql) -> list[list]``          rows of a SELECT; raises BackendError

``describe()`` names the target for logs and /history/json (no password).
"""
from __future__ import annotations

import base64
import http.client
import threading
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

from ..errors import NotRunning
from .sqltext import parse_json_compact, tsv


class BackendError(NotRunning):
    """The store refused or could not be reached; the text says why (REST: 503)."""


class NotInstalled(BackendError):
    """The library a backend needs is not installed."""


@dataclass
class ServerSpec:
    scheme: str          # http, https or native
    host: str
    port: int
    user: str | None = None
    password: str | None = None

    def describe(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"


def parse_servers(text: str) -> list[ServerSpec]:
    """``history.clickhouse``: comma-separated ``http://host[:8123]``, ``https://host[:8443]``,
    ``clickhouse://host[:9000]`` or ``native://host[:9000]`` (native protocol), or
    ``host[:port]`` (HTTP); ``user:password@`` may precede the host."""
    out = []
    for item in (s.strip() for s in text.split(",")):
        if not item:
            continue
        if "://" not in item:
            item = "http://" + item
        u = urllib.parse.urlsplit(item)
        scheme = {"http": "http", "https": "https", "clickhouse": "native",
                  "native": "native", "tcp": "native"}.get(u.scheme.lower())
        if scheme is None:
            raise ValueError(f"history.clickhouse: unknown scheme in {item!r} "
                             "(http, https, clickhouse or native)")
        if not u.hostname:
            raise ValueError(f"history.clickhouse: no host in {item!r}")
        try:
            port = u.port
        except ValueError:
            raise ValueError(f"history.clickhouse: bad port in {item!r}") from None
        if port is None:
            port = {"http": 8123, "https": 8443, "native": 9000}[scheme]
        out.append(ServerSpec(scheme, u.hostname, port,
                              urllib.parse.unquote(u.username) if u.username else None,
                              urllib.parse.unquote(u.password) if u.password else None))
    if not out:
        raise ValueError("history.clickhouse names no server")
    return out


class HttpBackend:
    """ClickHouse's HTTP interface (any version): SQL in the body or the ``query`` parameter,
    rows in as TabSeparated, answers out as JSONCompact."""

    def __init__(self, spec: ServerSpec, timeout: float = 10.0, settings: dict | None = None):
        self.spec = spec
        self.timeout = timeout
        self.settings = dict(settings or {})
        self._local = threading.local()       # one keep-alive connection per thread

    def describe(self) -> str:
        return self.spec.describe()

    def _connection(self) -> http.client.HTTPConnection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            cls = http.client.HTTPSConnection if self.spec.scheme == "https" else \
                http.client.HTTPConnection
            conn = cls(self.spec.host, self.spec.port, timeout=self.timeout)
            self._local.conn = conn
        return conn

    def _drop_connection(self) -> None:
        conn = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None:
            conn.close()

    def _post(self, params: dict, body: bytes) -> bytes:
        params = {**self.settings, **params}
        headers = {"Content-Type": "text/plain; charset=utf-8"}
        if self.spec.user is not None:
            token = f"{self.spec.user}:{self.spec.password or ''}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(token).decode()
        path = "/?" + urllib.parse.urlencode(params) if params else "/"
        for attempt in (0, 1):
            conn = self._connection()
            try:
                conn.request("POST", path, body=body, headers=headers)
                reply = conn.getresponse()
                data = reply.read()
            except (OSError, http.client.HTTPException) as exc:
                self._drop_connection()
                # a kept-alive connection the server closed: one fresh try
                if attempt == 0 and isinstance(exc, (http.client.RemoteDisconnected,
                                                     ConnectionResetError, BrokenPipeError)):
                    continue
                raise BackendError(f"{self.describe()}: {exc or type(exc).__name__}") from None
            if reply.status != 200:
                text = data.decode("utf-8", "replace").strip()
                raise BackendError(f"{self.describe()}: HTTP {reply.status}: {text[:500]}")
            return data
        raise BackendError(f"{self.describe()}: connection lost")   # not reached

    def execute(self, sql: str) -> None:
        self._post({}, sql.encode())

    def insert(self, table: str, columns, rows) -> None:
        sql = f"INSERT INTO {table} ({', '.join(columns)}) FORMAT TabSeparated"
        self._post({"query": sql}, tsv(rows).encode())

    def query(self, sql: str) -> list[list]:
        return parse_json_compact(self._post({}, (sql + " FORMAT JSONCompact").encode()))

    def close(self) -> None:
        self._drop_connection()


class NativeBackend:
    """ClickHouse's native protocol through clickhouse-driver (talks to old servers too)."""

    def __init__(self, spec: ServerSpec, timeout: float = 10.0, settings: dict | None = None):
        try:
            from clickhouse_driver import Client
        except ImportError:
            raise NotInstalled("the native protocol needs clickhouse-driver: "
                               "pip install 'flowrt[history]'") from None
        self.spec = spec
        self._make = lambda: Client(host=spec.host, port=spec.port, user=spec.user or "default",
                                    password=spec.password or "", connect_timeout=timeout,
                                    send_receive_timeout=timeout, settings=dict(settings or {}))
        self._local = threading.local()      # a Client is not thread-safe: one per thread

    def describe(self) -> str:
        return self.spec.describe()

    def _client(self):
        c = getattr(self._local, "client", None)
        if c is None:
            c = self._local.client = self._make()
        return c

    def _run(self, fn):
        from clickhouse_driver import errors
        try:
            return fn(self._client())
        except (errors.Error, OSError, EOFError) as exc:
            client = getattr(self._local, "client", None)
            self._local.client = None
            if client is not None:
                try:
                    client.disconnect()
                except Exception:
                    pass
            raise BackendError(f"{self.describe()}: {exc}") from None

    def execute(self, sql: str) -> None:
        self._run(lambda c: c.execute(sql))

    def insert(self, table: str, columns, rows) -> None:
        sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES"
        self._run(lambda c: c.execute(sql, rows if isinstance(rows, list) else list(rows)))

    def query(self, sql: str) -> list[list]:
        return [list(r) for r in self._run(lambda c: c.execute(sql))]

    def close(self) -> None:
        client = getattr(self._local, "client", None)
        self._local.client = None
        if client is not None:
            client.disconnect()


class ChdbBackend:
    """chDB: ClickHouse in this process, data in a folder. chDB allows one data folder per
    process at a time, so a second engine in the same process cannot open another one."""

    def __init__(self, path):
        try:
            from chdb import session as chs
        except ImportError:
            raise NotInstalled("no history.clickhouse servers and chDB is not installed "
                               "(pip install 'flowrt[history]')") from None
        Path(path).mkdir(parents=True, exist_ok=True)
        self.path = path = str(path)
        self._lock = threading.Lock()       # one statement at a time on the session
        try:
            self._session: chs.Session | None = chs.Session(path)
        except Exception as exc:
            raise BackendError(f"chDB at {path}: {exc}") from None

    def describe(self) -> str:
        return f"chDB {self.path}"

    def _run(self, sql: str, fmt: str = "CSV"):
        with self._lock:
            if self._session is None:
                raise BackendError("chDB is closed")
            try:
                return self._session.query(sql, fmt)
            except Exception as exc:
                raise BackendError(f"chDB: {exc}") from None

    def execute(self, sql: str) -> None:
        self._run(sql)

    def insert(self, table: str, columns, rows) -> None:
        self._run(f"INSERT INTO {table} ({', '.join(columns)}) FORMAT TabSeparated\n" + tsv(rows))

    def query(self, sql: str) -> list[list]:
        result = self._run(sql, "JSONCompact")
        data = result.bytes() if hasattr(result, "bytes") else bytes(result)
        return parse_json_compact(data)

    def close(self) -> None:
        with self._lock:
            session, self._session = self._session, None
        if session is not None:
            session.close()


def open_server(spec: ServerSpec, timeout: float, settings: dict | None = None):
    cls = NativeBackend if spec.scheme == "native" else HttpBackend
    return cls(spec, timeout, settings)
