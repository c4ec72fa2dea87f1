"""Topology: GET/PUT/POST /topology/json (the same Topology.set/get as setTopology())."""
from __future__ import annotations

from aiohttp import web

from . import check_writable, engine_of, json_response, read_json
from .errors import BadRequest


def setup(app: web.Application, engine) -> None:
    if "topology" not in engine.subsystems:
        return

    async def get(request):
        return json_response(request, engine_of(request).subsystems["topology"].get())

    async def put(request):
        check_writable(request)
        body = await read_json(request)
        try:
            engine_of(request).subsystems["topology"].set(body)
        except ValueError as exc:
            raise BadRequest(str(exc)) from None
        return web.Response(status=204)

    app.router.add_get("/topology/json", get)
    app.router.add_put("/topology/json", put)
    app.router.add_post("/topology/json", put)
