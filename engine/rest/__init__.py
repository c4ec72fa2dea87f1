"""aiohttp application: every module in this package with a ``setup(app, engine)`` adds its routes.

Handlers are thin adapters over engine functions. Errors are rendered once, by the middleware
here: engine.rest.errors exceptions (HTTP-level: a missing parameter, read-only) and the engine's
domain errors (engine.errors: UnknownName 404, InvalidDefinition or any ValueError 400,
NotRunning 503), each as ``{"status": N, "error": reason}``. Anything else is a bug: logged
with its traceback and answered 500 (docs/rest.md, "Errors").
"""

from __future__ import annotations

import importlib
import json
import pkgutil

# aliased: the submodule engine.rest.web, once imported, would shadow a global named `web`
from aiohttp import web as aioweb

from .. import limits, log
from ..errors import NotRunning, UnknownName, not_running
from ..jsonvalues import finite
from .errors import ApiError, BadRequest, Forbidden, NotFound

ENGINE_KEY = aioweb.AppKey("engine", object)
DUMPS_KEY = aioweb.AppKey("json_dumps", object)


def _dumps_factory(indent: int | None):
    def dumps(obj) -> str:
        kw: dict = {
            "indent": indent,
            "separators": (",", ":") if indent is None else None,
            "allow_nan": False,
            "default": str,
        }
        try:
            return json.dumps(obj, **kw)
        except ValueError:  # NaN/Infinity from an agent: null, as scripts see it
            return json.dumps(finite(obj), **kw)

    return dumps


def status_of(exc: Exception) -> int | None:
    """The HTTP status of an error a handler let through; None for a bug (500, logged)."""
    if isinstance(exc, ApiError):
        return exc.status
    if isinstance(exc, UnknownName):
        return 404
    if isinstance(exc, NotRunning):
        return 503
    if isinstance(exc, ValueError):  # InvalidDefinition and the engine's other bad-input checks
        return 400
    return None


@aioweb.middleware
async def error_middleware(request: aioweb.Request, handler):
    try:
        return await handler(request)
    except (aioweb.HTTPException, ConnectionError):  # aiohttp's own (a client gone: ignored)
        raise
    except Exception as exc:
        status = status_of(exc)
        if status is None:  # a bug: logged with its traceback, never read as "not found"
            log.log.error("%s %s failed", request.method, request.path, exc_info=True)
            return aioweb.json_response(
                {"status": 500, "error": f"internal error: {type(exc).__name__}"}, status=500
            )
        return aioweb.json_response(
            {"status": status, "error": limits.reason(str(exc))}, status=status
        )


def build_app(engine) -> aioweb.Application:
    from .auth import middleware as auth_middleware

    middlewares = [error_middleware]
    auth = auth_middleware(engine)
    if auth is not None:
        middlewares.insert(0, auth)
    if engine.props.get_bool("http.log"):
        middlewares.insert(0, _access_log)
    app = aioweb.Application(middlewares=middlewares, client_max_size=16 * 1024 * 1024)
    app[ENGINE_KEY] = engine
    indent = engine.props.get_str("http.json.indent")
    app[DUMPS_KEY] = _dumps_factory(int(indent) if indent not in (None, "", "0") else None)
    modules = sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))
    for name in modules:
        module = importlib.import_module(f"{__name__}.{name}")
        setup = getattr(module, "setup", None)
        if setup is not None:
            setup(app, engine)
    return app


@aioweb.middleware
async def _access_log(request: aioweb.Request, handler):
    response = await handler(request)
    log.info(f"{request.remote} {request.method} {request.path_qs} {response.status}")
    return response


def json_response(request: aioweb.Request, obj, status: int = 200) -> aioweb.Response:
    """JSON reply using the engine's http.json.indent setting."""
    return aioweb.json_response(obj, status=status, dumps=request.app[DUMPS_KEY])  # type: ignore[arg-type]  # _dumps_factory's


def engine_of(request: aioweb.Request):
    return request.app[ENGINE_KEY]


def subsystem_of(request: aioweb.Request, name: str):
    """engine.subsystems[name]; NotRunning (503) when it is not attached. Routes of every
    subsystem exist whether or not it runs, so a client learns why rather than a bare 404."""
    sub = engine_of(request).subsystems.get(name)
    if sub is None:
        raise not_running(name)
    return sub


def check_writable(request: aioweb.Request) -> None:
    """403 for changes through REST when http.readonly=yes (scripts still may change)."""
    if engine_of(request).props.get_bool("http.readonly"):
        raise Forbidden("read-only: http.readonly=yes")


async def read_json(request: aioweb.Request):
    """The request body parsed as JSON (None when empty); 400 when it does not parse or
    nests deeper than engine.limits.JSON_MAX_DEPTH."""
    try:
        text = await request.text()
        return limits.parse_json(text) if text.strip() else None
    except limits.TooDeep as exc:
        raise BadRequest(str(exc)) from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(f"invalid JSON body: {exc}") from None


def add_named_resource(router, kind: str, subsystem: str, get_one, get_all, put, delete) -> None:
    """/{kind}/json (all) and GET/PUT/POST/DELETE /{kind}/{name}/json over one subsystem's
    methods: get_one(sub, name) -> value or None (404), get_all(sub), put(sub, name, body)
    raising ValueError (400), delete(sub, name) -> False when absent (404). Flows,
    thresholds, groups and maps all answer the same way."""

    def sub_of(request):
        return subsystem_of(request, subsystem)

    async def list_all(request):
        return json_response(request, get_all(sub_of(request)))

    async def one(request):
        name = request.match_info["name"]
        value = get_one(sub_of(request), name)
        if value is None:
            raise NotFound(f"no {kind} {name}")
        return json_response(request, value)

    async def set_one(request):
        check_writable(request)
        body = await read_json(request)
        put(sub_of(request), request.match_info["name"], body)
        return aioweb.Response(status=204)

    async def del_one(request):
        check_writable(request)
        name = request.match_info["name"]
        if not delete(sub_of(request), name):
            raise NotFound(f"no {kind} {name}")
        return aioweb.Response(status=204)

    router.add_get(f"/{kind}/json", list_all)
    router.add_get(f"/{kind}/{{name}}/json", one)
    router.add_put(f"/{kind}/{{name}}/json", set_one)
    router.add_post(f"/{kind}/{{name}}/json", set_one)
    router.add_delete(f"/{kind}/{{name}}/json", del_one)
