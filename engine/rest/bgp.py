"""/bgp/... REST endpoints: thin adapters over engine.subsystems["bgp"] (engine/bgp/speaker.py).
An unknown neighbor in a query is the speaker's UnknownName (404), a bad argument its
ValueError (400); both are rendered by the middleware in engine.rest."""

from __future__ import annotations

from aiohttp import web

from . import check_writable, json_response, read_json, subsystem_of
from .errors import BadRequest, NotFound


def _bgp(request):
    return subsystem_of(request, "bgp")


def _q(request, name, default=None):
    return request.query.get(name, default)


async def topprefixes(request: web.Request, family: int) -> web.Response:
    bgp = _bgp(request)
    router = request.match_info["router"]
    out = bgp.top_prefixes(
        router,
        int(_q(request, "maxPrefixes", 100)),
        float(_q(request, "minValue", 0)),
        _q(request, "direction", "destination"),
        _q(request, "includeCovered", "false"),
        int(_q(request, "minPrefix", 0)),
        _q(request, "pruneCovered", "false"),
        family,
    )
    return json_response(request, out)


async def topprefixes4(request):
    return await topprefixes(request, 4)


async def topprefixes6(request):
    return await topprefixes(request, 6)


async def prefix(request: web.Request) -> web.Response:
    address = _q(request, "address")
    if not address:
        raise BadRequest("address query parameter required")
    info = _bgp(request).prefix_info(request.match_info["router"], address)
    if info is None:
        raise NotFound(f"no route covers {address}")
    return json_response(request, info)


async def routepusher_list(request: web.Request) -> web.Response:
    routes = _bgp(request).pushed_routes(request.match_info["router"])
    if routes is None:
        raise NotFound("no such BGP neighbor")
    return json_response(request, routes)


def _route_prefix(request) -> str:
    return f"{request.match_info['address']}/{request.match_info['bits']}"


async def routepusher_get(request: web.Request) -> web.Response:
    route = _bgp(request).pushed_route(request.match_info["router"], _route_prefix(request))
    if route is None:
        raise NotFound("no such route")
    return json_response(request, route)


async def _body(request) -> dict:
    body = await read_json(request)
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise BadRequest("body must be a JSON object")
    return body


async def routepusher_put(request: web.Request) -> web.Response:
    check_writable(request)
    route = await _body(request)
    route["prefix"] = _route_prefix(request)
    ok = _bgp(request).add_route(request.match_info["router"], route)
    if not ok:
        raise NotFound("no such BGP neighbor")
    return web.Response(status=204)


async def routepusher_delete(request: web.Request) -> web.Response:
    check_writable(request)
    ok = _bgp(request).remove_route(request.match_info["router"], _route_prefix(request))
    if not ok:
        raise NotFound("no such route")
    return web.Response(status=204)


async def flowspec_get(request: web.Request) -> web.Response:
    flows = _bgp(request).flows(request.match_info["router"])
    if flows is None:
        raise NotFound("no such BGP neighbor")
    return json_response(request, flows)


async def flowspec_change(request: web.Request) -> web.Response:
    check_writable(request)
    spec = await _body(request)
    bgp = _bgp(request)
    router = request.match_info["router"]
    ok = (bgp.add_flow if request.method == "PUT" else bgp.remove_flow)(router, spec)
    if not ok:
        raise NotFound("no such BGP neighbor" if bgp.neighbor(router) is None else "no such flow")
    return web.Response(status=204)


def setup(app: web.Application, engine) -> None:
    r = app.router
    r.add_get("/bgp/topprefixes/{router}/json", topprefixes4)
    r.add_get("/bgp/topprefixes6/{router}/json", topprefixes6)
    r.add_get("/bgp/prefix/{router}/json", prefix)
    r.add_get("/bgp/routepusher/{router}/json", routepusher_list)
    r.add_get("/bgp/routepusher/{router}/{address}/{bits}/json", routepusher_get)
    r.add_put("/bgp/routepusher/{router}/{address}/{bits}/json", routepusher_put)
    r.add_delete("/bgp/routepusher/{router}/{address}/{bits}/json", routepusher_delete)
    r.add_get("/bgp/flowspec/{router}/json", flowspec_get)
    r.add_put("/bgp/flowspec/{router}/json", flowspec_change)
    r.add_delete("/bgp/flowspec/{router}/json", flowspec_change)
