"""aiohttp application: every module in this package with a ``setup(app, engine)`` adds its routes.

Handlers are thin adapters over engine functions; errors are raised as engine.rest.errors
exceptions and rendered once, by the middleware here.
"""
from __future__ import annotations

import importlib
import json
import pkgutil

from aiohttp import web

from .. import log
from .errors import ApiError

ENGINE_KEY = web.AppKey("engine", object)


def _dumps_factory(indent: int | None):
    def dumps(obj) -> str:
        return json.dumps(obj, indent=indent, separators=(",", ":") if indent is None else None,
                          allow_nan=False, default=str)
    return dumps


@web.middleware
async def error_middleware(request: web.Request, handler):
    try:
        return await handler(request)
    except ApiError as exc:
        return web.json_response({"status": exc.status, "error": exc.reason}, status=exc.status)


def build_app(engine) -> web.Application:
    middlewares = [error_middleware]
    if engine.props.get_bool("http.log"):
        middlewares.insert(0, _access_log)
    app = web.Application(middlewares=middlewares, client_max_size=16 * 1024 * 1024)
    app[ENGINE_KEY] = engine
    indent = engine.props.get_str("http.json.indent")
    app["json_dumps"] = _dumps_factory(int(indent) if indent not in (None, "", "0") else None)
    modules = sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))
    for name in modules:
        module = importlib.import_module(f"{__name__}.{name}")
        setup = getattr(module, "setup", None)
        if setup is not None:
            setup(app, engine)
    return app


@web.middleware
async def _access_log(request: web.Request, handler):
    response = await handler(request)
    log.info(f"{request.remote} {request.method} {request.path_qs} {response.status}")
    return response


def json_response(request: web.Request, obj, status: int = 200) -> web.Response:
    """JSON reply using the engine's http.json.indent setting."""
    return web.json_response(obj, status=status, dumps=request.app["json_dumps"])


def engine_of(request: web.Request):
    return request.app[ENGINE_KEY]
