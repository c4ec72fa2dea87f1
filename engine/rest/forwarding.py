"""Forwarding routes: /forwarding/json and GET/PUT/POST/DELETE /forwarding/{name}/json."""

from __future__ import annotations

from aiohttp import web

from . import add_named_resource


def setup(app: web.Application, engine) -> None:
    add_named_resource(
        app.router,
        "forwarding",
        "forwarding",
        lambda f, n: f.get_forward(n),
        lambda f: f.forwards_json(),
        lambda f, n, b: f.set_forward(n, b),
        lambda f, n: f.clear_forward(n),
    )
