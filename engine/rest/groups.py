"""Address groups and maps: /group/{name}/json, /group/json, /map/{name}/json, /map/json."""
from __future__ import annotations

from aiohttp import web

from . import check_writable, json_response, read_json
from .errors import BadRequest, NotFound
from .flows import flows_of


def _routes(kind: str, get_one, get_all, put, delete):
    async def list_all(request):
        return json_response(request, get_all(flows_of(request)))

    async def one(request):
        name = request.match_info["name"]
        value = get_one(flows_of(request), name)
        if value is None:
            raise NotFound(f"no {kind} {name}")
        return json_response(request, value)

    async def set_one(request):
        check_writable(request)
        body = await read_json(request)
        try:
            put(flows_of(request), request.match_info["name"], body)
        except ValueError as exc:
            raise BadRequest(str(exc)) from None
        return web.Response(status=204)

    async def del_one(request):
        check_writable(request)
        name = request.match_info["name"]
        if not delete(flows_of(request), name):
            raise NotFound(f"no {kind} {name}")
        return web.Response(status=204)
    return list_all, one, set_one, del_one


def setup(app: web.Application, engine) -> None:
    if "flows" not in engine.subsystems:
        return
    r = app.router
    for kind, funcs in (
            ("group", (lambda f, n: f.get_groups(n), lambda f: f.groups_json(),
                       lambda f, n, b: f.set_groups(n, b), lambda f, n: f.clear_groups(n))),
            ("map", (lambda f, n: f.get_map(n), lambda f: f.maps_json(),
                     lambda f, n, b: f.set_map(n, b), lambda f, n: f.clear_map(n)))):
        list_all, one, set_one, del_one = _routes(kind, *funcs)
        r.add_get(f"/{kind}/json", list_all)
        r.add_get(f"/{kind}/{{name}}/json", one)
        r.add_put(f"/{kind}/{{name}}/json", set_one)
        r.add_post(f"/{kind}/{{name}}/json", set_one)
        r.add_delete(f"/{kind}/{{name}}/json", del_one)
