"""The HTTP(S) listener of the REST API and web UI: one place that starts and stops it, for
``engine.main`` and the tests alike.

* HTTPS when ``http.tls.certificate`` and ``http.tls.key`` name PEM files (docs/security.md);
* connections counted for /analyzer/json (``httpConnectionsCurrent``, ``httpConnectionsTotal``);
* a stop that finishes within seconds whatever is open: long-polls are answered first
  (``Engine.closing``), then requests still running get ``STOP_GRACE`` seconds before they are
  cancelled and their connections closed.
"""

from __future__ import annotations

import logging
import ssl
from pathlib import Path

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from . import log
from .props import PropertyError
from .rest.auth import auth_required

STOP_GRACE = 1.0  # seconds requests still running at a stop may take to finish


class _BadRequestFilter(logging.Filter):
    """aiohttp logs every malformed request (a request line over 8 KB, bad headers, TLS to
    the plain port) as an error with a traceback: a client could fill the log. They are
    answered 400 by aiohttp; here they become one FINE line per client address a minute."""

    def __init__(self):
        super().__init__()
        self.limited = log.RateLimited(60.0)

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if not isinstance(exc, HttpProcessingError):
            return True  # a handler failing is a bug: keep it whole
        remote = record.args[0] if isinstance(record.args, tuple) and record.args else "?"
        self.limited(
            remote,
            log.fine,
            f"HTTP bad request from {remote}: {type(exc).__name__} {str(exc)[:200]}",
        )
        return False


_bad_requests = _BadRequestFilter()
logging.getLogger("aiohttp.server").addFilter(_bad_requests)


class ConnectionStats:
    """Open and accepted HTTP connections (each TCP connection once, however many requests it
    carries)."""

    __slots__ = ("current", "total")

    def __init__(self):
        self.current = 0
        self.total = 0


def tls_context(props, home: Path) -> ssl.SSLContext | None:
    """The server TLS context from http.tls.certificate / http.tls.key (paths relative to the
    engine home), or None for plain HTTP. PropertyError for half a configuration or files
    that do not load."""
    cert = props.get_str("http.tls.certificate") or ""
    key = props.get_str("http.tls.key") or ""
    if not cert and not key:
        return None
    if not cert or not key:
        raise PropertyError("HTTPS needs both http.tls.certificate and http.tls.key")
    cert_path, key_path = (p if p.is_absolute() else home / p for p in (Path(cert), Path(key)))
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        ctx.load_cert_chain(str(cert_path), str(key_path))
    except (OSError, ssl.SSLError) as exc:
        raise PropertyError(f"cannot load http.tls.certificate/http.tls.key: {exc}") from None
    return ctx


class HttpServer:
    """``await HttpServer(engine).start(host, port)`` -> the bound port; ``await stop()``."""

    def __init__(self, engine):
        self.engine = engine
        self.stats = ConnectionStats()
        self.runner: web.AppRunner | None = None
        self.port = 0
        self.tls = False

    async def start(self, host: str | None, port: int, reuse_address: bool = True) -> int:
        from .rest import build_app

        engine = self.engine
        ctx = tls_context(engine.props, engine.home)
        self.tls = ctx is not None
        engine.http_tls = self.tls
        engine.http_connections = self.stats
        self.runner = web.AppRunner(
            build_app(engine), access_log=None, handle_signals=False, shutdown_timeout=STOP_GRACE
        )
        await self.runner.setup()
        self._count_connections(self.runner.server)
        site = web.TCPSite(
            self.runner, host=host, port=port, ssl_context=ctx, reuse_address=reuse_address
        )
        await site.start()
        sockets = getattr(site._server, "sockets", None) or ()  # the bound port (port 0)
        self.port = sockets[0].getsockname()[1] if sockets else port
        engine.http_port = self.port
        if not self.tls and auth_required(engine.props):
            log.warning(
                "HTTP credentials are required but travel in clear text: set "
                "http.tls.certificate and http.tls.key for HTTPS"
            )
        return self.port

    def _count_connections(self, server) -> None:
        # aiohttp's Server is told of every connection it serves; count them on the way
        stats = self.stats
        made, lost = server.connection_made, server.connection_lost

        def connection_made(handler, transport):
            stats.current += 1
            stats.total += 1
            made(handler, transport)

        def connection_lost(handler, exc=None):
            stats.current = max(0, stats.current - 1)
            lost(handler, exc)

        server.connection_made = connection_made
        server.connection_lost = connection_lost

    async def stop(self) -> None:
        """Answer long-polls, then close the listener and every connection (requests still
        running after STOP_GRACE seconds are cancelled)."""
        closing = getattr(self.engine, "closing", None)
        if closing is not None:
            closing()
        if self.runner is not None:
            runner, self.runner = self.runner, None
            await runner.cleanup()
