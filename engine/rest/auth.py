"""Opt-in access control for the REST API and web UI (docs/security.md).

Properties:
  http.auth.token      a secret: ``Authorization: Bearer <token>``, or HTTP basic auth with the
                       token as the password (any user name; what a browser can send)
  http.auth.user,      HTTP basic auth credentials
  http.auth.password
  http.auth.anonymous  ``none`` (default): every request needs credentials; ``read``: GET and
                       HEAD of engine routes (REST queries, status UI, app pages) are open,
                       while script and app handlers (/script/..., /app/<app>/scripts/...),
                       which may act on a GET, still need credentials

Nothing is required while neither a token nor a password is set. Scripts calling this engine
(``http('/flows/json')``) are let through with a per-process secret that the script runtime
adds to their requests (``INTERNAL_HEADER``), so apps keep working when credentials are on.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import secrets

from aiohttp import web

from ..props import PropertyError

INTERNAL_HEADER = "X-Flowrt-Internal"
REALM = 'Basic realm="flowrt", charset="UTF-8"'


def auth_required(props) -> bool:
    return bool(
        props.get_str("http.auth.token", "")
        or props.get_str("http.auth.password", "")
        or props.get_str("http.auth.user", "")
    )


def _equal(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))


class Credentials:
    """What a request must present; ``allows(request)`` decides."""

    def __init__(self, props, internal: str):
        self.token = props.get_str("http.auth.token", "") or ""
        self.user = props.get_str("http.auth.user", "") or ""
        self.password = props.get_str("http.auth.password", "") or ""
        anonymous = (props.get_str("http.auth.anonymous", "none") or "none").strip().lower()
        if self.user and not self.password:
            raise PropertyError("http.auth.user needs http.auth.password")
        if anonymous not in ("none", "read"):
            raise PropertyError(f"http.auth.anonymous={anonymous!r}: expected none or read")
        self.anonymous_read = anonymous == "read"
        self.internal = internal

    def open_route(self, request: web.Request) -> bool:
        if not self.anonymous_read or request.method not in ("GET", "HEAD"):
            return False
        path = request.path
        if path.startswith("/script/"):
            return False
        parts = path.split("/", 4)  # "", "app", name, "scripts", ...
        return not (len(parts) > 3 and parts[1] == "app" and parts[3] == "scripts")

    def presented(self, request: web.Request) -> bool:
        internal = request.headers.get(INTERNAL_HEADER)
        if internal is not None and _equal(internal, self.internal):
            return True
        header = request.headers.get("Authorization", "")
        scheme, _, value = header.partition(" ")
        scheme, value = scheme.lower(), value.strip()
        if scheme == "bearer":
            return bool(self.token) and _equal(value, self.token)
        if scheme == "basic":
            try:
                user, sep, password = (
                    base64.b64decode(value, validate=True).decode("utf-8").partition(":")
                )
            except (binascii.Error, UnicodeDecodeError, ValueError):
                return False
            if not sep:
                return False
            if self.token and _equal(password, self.token):
                return True
            if self.password and _equal(password, self.password):
                # with no http.auth.user any user name goes, as with the token
                return not self.user or _equal(user, self.user)
        return False

    def allows(self, request: web.Request) -> bool:
        return self.open_route(request) or self.presented(request)


def middleware(engine):
    """The aiohttp middleware enforcing the properties, or None when nothing is required.
    Sets ``engine.internal_token`` either way (the script runtime sends it)."""
    internal = getattr(engine, "internal_token", None) or secrets.token_urlsafe(32)
    engine.internal_token = internal
    if not auth_required(engine.props):
        return None
    creds = Credentials(engine.props, internal)

    @web.middleware
    async def check(request: web.Request, handler):
        if creds.allows(request):
            return await handler(request)
        body = json.dumps({"status": 401, "error": "authentication required"})
        return web.Response(
            status=401,
            text=body,
            content_type="application/json",
            headers={"WWW-Authenticate": REALM},
        )

    return check
