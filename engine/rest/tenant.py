"""Tenant routes: /tenant/json and GET/PUT/POST/DELETE /tenant/{name}/json."""

from __future__ import annotations

from aiohttp import web

from . import add_named_resource


def setup(app: web.Application, engine) -> None:
    add_named_resource(
        app.router,
        "tenant",
        "tenants",
        lambda t, n: t.get_tenant(n),
        lambda t: t.tenants_json(),
        lambda t, n, b: t.set_tenant(n, b),
        lambda t, n: t.clear_tenant(n),
    )
