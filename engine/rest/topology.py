"""Topology: GET/PUT/POST /topology/json (the same Topology.set/get as setTopology())."""

from __future__ import annotations

from aiohttp import web

from . import check_writable, json_response, read_json, subsystem_of


async def get(request):
    return json_response(request, subsystem_of(request, "topology").get())


async def put(request):
    check_writable(request)
    body = await read_json(request)
    subsystem_of(request, "topology").set(body)  # ValueError: 400 (the middleware)
    return web.Response(status=204)


def setup(app: web.Application, engine) -> None:
    app.router.add_get("/topology/json", get)
    app.router.add_put("/topology/json", put)
    app.router.add_post("/topology/json", put)
