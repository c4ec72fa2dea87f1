"""Address groups and maps: /group/{name}/json, /group/json, /map/{name}/json, /map/json."""

from __future__ import annotations

from aiohttp import web

from . import add_named_resource


def setup(app: web.Application, engine) -> None:
    add_named_resource(
        app.router,
        "group",
        "flows",
        lambda f, n: f.get_groups(n),
        lambda f: f.groups_json(),
        lambda f, n, b: f.set_groups(n, b),
        lambda f, n: f.clear_groups(n),
    )
    add_named_resource(
        app.router,
        "map",
        "flows",
        lambda f, n: f.get_map(n),
        lambda f: f.maps_json(),
        lambda f, n, b: f.set_map(n, b),
        lambda f, n: f.clear_map(n),
    )
