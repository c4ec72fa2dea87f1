"""HTTP clients for scripts (spec §3.8): http(), http2(), httpAsync().

They run on the calling script's thread (blocking I/O never touches the event loop), with the
``script.http.timeout`` timeout; httpAsync runs on a small shared pool and calls the script's
success/error function back on the script's thread. Relative URLs ("/flows/json") reach this
flowrt. ``certs`` names a folder holding key.pem, cert.pem and ca.pem for mutual TLS (the
Docker API pattern); proxies from the environment are not used.
"""

from __future__ import annotations

import base64
import http.client
import socket
import ssl
import threading
import urllib.error
import urllib.parse
import urllib.request
import weakref
from pathlib import Path

from .registry import js_global


MAX_BODY = 64 << 20  # bytes of response body a script may receive


class HttpFailure(Exception):
    pass


class OpenSockets:
    """The sockets of script HTTP requests in flight (weakly held: a finished request's socket
    just goes away), so that an engine stop ends them at once instead of waiting for
    script.http.timeout: ``close_all()`` shuts each down, which wakes a blocked read, and
    refuses new ones."""

    def __init__(self):
        self._lock = threading.Lock()
        self._open: weakref.WeakSet = weakref.WeakSet()
        self.closed = False
        # connection classes whose sockets join this set (built once, used per request)
        self.http_class = _tracked(http.client.HTTPConnection, self)
        self.https_class = _tracked(http.client.HTTPSConnection, self)

    def add(self, sock) -> None:
        with self._lock:
            if not self.closed:
                self._open.add(sock)
                return
        sock.close()
        raise HttpFailure("engine stopping")

    def close_all(self) -> None:
        with self._lock:
            self.closed = True
            socks = list(self._open)
        for sock in socks:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def _tracked(base, sockets: OpenSockets):
    """An http.client connection class whose sockets join ``sockets``."""

    class Tracked(base):
        def connect(self):
            super().connect()
            sockets.add(self.sock)

    return Tracked


class _HTTPHandler(urllib.request.HTTPHandler):
    def __init__(self, sockets: OpenSockets):
        super().__init__()
        self._conn = sockets.http_class

    def http_open(self, req):
        return self.do_open(self._conn, req)


class _HTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, sockets: OpenSockets, context=None):
        super().__init__(context=context)
        self._conn = sockets.https_class

    def https_open(self, req):
        return self.do_open(self._conn, req, context=self._context)  # type: ignore[attr-defined]  # HTTPSHandler's own


LOOPBACK_NAMES = {"127.0.0.1", "::1", "localhost", "0.0.0.0", "::"}
DEFAULT_CERT_FOLDERS = "tls,/tls"


def _engine_host(script) -> str:
    """Where this engine's REST API answers locally: http.hostname when bound to one address,
    else the loopback address."""
    host = script.engine.props.get_str("http.hostname", "") or ""
    if host in ("", "0.0.0.0", "::"):
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host


def _absolute(script, url) -> tuple[str, bool]:
    """(absolute URL, whether it reaches this engine). Relative URLs ("/flows/json") reach
    this flowrt, over HTTPS when it serves HTTPS."""
    url = str(url)
    engine = script.engine
    port = getattr(engine, "http_port", None) or engine.props.get_int("http.port", 8008)
    if url.startswith("/"):
        scheme = "https" if getattr(engine, "http_tls", False) else "http"
        return f"{scheme}://{_engine_host(script)}:{port}{url}", True
    try:
        parts = urllib.parse.urlsplit(url)
        target_port = parts.port or (443 if parts.scheme == "https" else 80)
        host = (parts.hostname or "").lower()
    except ValueError:
        return url, False
    # this engine's own addresses only: a script's secret must not reach another local
    # service that happens to use the same port on an address the engine is not bound to
    bound = (engine.props.get_str("http.hostname", "") or "").lower().strip("[]")
    local = LOOPBACK_NAMES if bound in ("", "0.0.0.0", "::") else {bound}
    return url, target_port == port and host in local


def cert_folders(script) -> list[Path]:
    """The folders (and their subfolders) a script may name in ``certs``: script.certs, a
    comma list relative to the engine home, default tls and /tls (Docker's layout)."""
    rt = script.runtime
    listed = rt.engine.props.get_str("script.certs", DEFAULT_CERT_FOLDERS) or ""
    out = []
    for item in listed.split(","):
        item = item.strip()
        if item:
            p = Path(item)
            out.append((p if p.is_absolute() else rt.home / p).resolve())
    return out


def _certs_folder(script, certs) -> Path:
    """The folder ``certs`` names, if it is inside an allowed folder. The refusal is the same
    whether or not the path exists, so scripts cannot probe the file system with it."""
    allowed = cert_folders(script)
    p = Path(str(certs))
    folder = (p if p.is_absolute() else script.runtime.home / p).resolve()
    for root in allowed:
        if folder == root or root in folder.parents:
            return folder
    names = ", ".join(script.runtime.relative(r) for r in allowed) or "none (script.certs is empty)"
    raise HttpFailure(
        f"certs {str(certs)!r}: not allowed; certs must name a folder under {names} (script.certs)"
    )


def _ssl_context(folder: Path):
    ctx = ssl.create_default_context(cafile=str(folder / "ca.pem"))
    ctx.load_cert_chain(str(folder / "cert.pem"), str(folder / "key.pem"))
    return ctx


def _self_context():
    """TLS to this engine itself: its certificate may be self-signed or name another host,
    and the connection never leaves the machine."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def request(
    script, url, method="GET", headers=None, body=None, user=None, password=None, certs=None
):
    """One HTTP exchange -> (status, body text, headers dict). Raises HttpFailure."""
    url, to_self = _absolute(script, url)
    if not url.startswith(("http://", "https://")):
        raise HttpFailure(f"unsupported URL {url}")
    data = None
    if body is not None:
        data = body.encode("utf-8") if isinstance(body, str) else str(body).encode("utf-8")
    req = urllib.request.Request(url, data=data, method=str(method or "GET").upper())
    for k, v in (headers or {}).items():
        req.add_header(str(k), str(v))
    if user is not None:
        token = base64.b64encode(f"{user}:{password or ''}".encode()).decode()
        req.add_header("Authorization", f"Basic {token}")
    ctx = None
    if certs:
        folder = _certs_folder(script, certs)
        try:
            ctx = _ssl_context(folder)
        except (OSError, ssl.SSLError) as exc:
            raise HttpFailure(f"bad certs {certs}: {exc}") from None
    if to_self:
        # this engine lets its own scripts in whatever http.auth.* requires, and refuses at
        # once a request that would wait for a script that waits for it (engine/rest/scripts.py)
        from engine.rest.auth import INTERNAL_HEADER
        from engine.rest.scripts import CALLERS_HEADER

        token = getattr(script.engine, "internal_token", None)
        if token:
            req.add_header(INTERNAL_HEADER, token)
        req.add_header(CALLERS_HEADER, ",".join([*script.http_callers, script.id]))
        if ctx is None:
            ctx = _self_context()
    sockets = script.runtime.http_sockets
    opener = urllib.request.build_opener(
        urllib.request.ProxyHandler({}), _HTTPHandler(sockets), _HTTPSHandler(sockets, ctx)
    )
    try:
        with opener.open(req, timeout=script.runtime.http_timeout) as resp:
            return resp.status, _text(_read(resp, url), resp.headers), dict(resp.headers.items())
    except urllib.error.HTTPError as exc:
        return (
            exc.code,
            _text(_read(exc, url), exc.headers),
            dict(exc.headers.items()) if exc.headers else {},
        )
    except urllib.error.URLError as exc:
        raise HttpFailure(f"{url}: {exc.reason}") from None
    except (OSError, ValueError, ssl.SSLError) as exc:
        raise HttpFailure(f"{url}: {exc}") from None


def _read(resp, url: str) -> bytes:
    data = resp.read(MAX_BODY + 1) or b""
    if len(data) > MAX_BODY:
        raise HttpFailure(f"{url}: response larger than {MAX_BODY >> 20} MB")
    return data


def _text(data: bytes, headers) -> str:
    charset = headers.get_content_charset() if headers is not None else None
    return data.decode(charset or "utf-8", "replace")


@js_global("http")
def _http(script, url, method="get", *rest):
    """http(url), http(url,'get'[,user,password[,accept]]),
    http(url,'put'|'post'|'delete', contentType, content[,user,password[,accept]])."""
    method = str(method or "get").upper()
    headers, body, user, password = {}, None, None, None
    if method in ("GET", "HEAD"):
        user, password, accept = (list(rest) + [None] * 3)[:3]
    else:
        ctype, body, user, password, accept = (list(rest) + [None] * 5)[:5]
        if ctype:
            headers["Content-Type"] = str(ctype)
    if accept:
        headers["Accept"] = str(accept)
    status, text, _ = request(script, url, method, headers, body, user, password)
    if not 200 <= status < 300:
        raise HttpFailure(f"HTTP {status} from {url}")
    return text


def _spec(req):
    if not isinstance(req, dict) or "url" not in req:
        raise TypeError("request object with url expected")
    return dict(
        url=req["url"],
        method=req.get("operation") or req.get("method") or "GET",
        headers=req.get("headers") or {},
        body=req.get("body"),
        user=req.get("user"),
        password=req.get("password"),
        certs=req.get("certs"),
    )


@js_global("http2")
def _http2(script, req):
    spec = _spec(req)
    status, text, headers = request(script, **spec)
    return {"status": status, "body": text, "headers": headers}


@js_global("_httpAsync")
def _http_async(script, req, success_id=0, error_id=0):
    spec = _spec(req)
    from .script import JSCallback

    ok = JSCallback(script, success_id) if success_id else None
    bad = JSCallback(script, error_id) if error_id else None

    def run():
        try:
            status, text, headers = request(script, **spec)
            res = {"status": status, "url": str(spec["url"]), "body": text, "headers": headers}
            target, other = (ok, bad) if 200 <= status < 300 else (bad, ok)
        except Exception as exc:
            res, target, other = str(exc), bad, ok
        if other is not None:
            other.release()
        if target is not None:
            target(res, release=True)

    script.runtime.executor.submit(run)
