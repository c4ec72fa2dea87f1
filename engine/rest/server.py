"""Server routes: /version, /analyzer/json, /license/json, /agents/json, /status."""

from __future__ import annotations

from aiohttp import web

from ..agents import agents_json
from . import engine_of, json_response
from .errors import BadRequest


async def version(request: web.Request) -> web.Response:
    return web.Response(text=engine_of(request).version, content_type="text/plain")


async def analyzer(request: web.Request) -> web.Response:
    return json_response(request, engine_of(request).analyzer_json())


async def license_(request: web.Request) -> web.Response:
    return json_response(request, engine_of(request).license_json())


async def agents(request: web.Request) -> web.Response:
    try:
        result = agents_json(engine_of(request), request.query.getall("agent", []))
    except ValueError as exc:
        raise BadRequest(str(exc)) from None
    return json_response(request, result)


async def status(request: web.Request) -> web.Response:
    engine = engine_of(request)
    check = getattr(engine, "status_ok", None)
    ok = check() if check else True
    return web.Response(
        text="OK" if ok else "UNAVAILABLE", status=200 if ok else 503, content_type="text/plain"
    )


def setup(app: web.Application, engine) -> None:
    app.router.add_get("/version", version)
    app.router.add_get("/analyzer/json", analyzer)
    app.router.add_get("/license/json", license_)
    app.router.add_get("/agents/json", agents)
    app.router.add_get("/status", status)
