"""Script and app routes: script HTTP handlers, app static content, /apps/json, /scripts/json,
/app/{app}/status. Thin adapters over jsapi.runtime.Runtime."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from .. import limits
from . import json_response, subsystem_of
from .errors import NotFound
from .web import static_response

# the scripts whose requests to this engine wait on a request, outermost first: set by
# jsapi/globals_http.py on scripts' own requests to this engine
CALLERS_HEADER = "X-Flowrt-Callers"

CONTENT_TYPES = {
    "json": "application/json",
    "txt": "text/plain",
    "html": "text/html",
    "csv": "text/csv",
    "xml": "application/xml",
    "js": "application/javascript",
    "svg": "image/svg+xml",
}


def _runtime(request: web.Request):
    return subsystem_of(request, "runtime")


async def _request_object(request: web.Request, rest: str) -> dict | None:
    parts = [p for p in rest.split("/")]
    if not parts or not parts[-1]:
        return None
    req = {
        "method": request.method,
        "path": parts[:-1],
        "format": parts[-1],
        "query": {k: request.query.getall(k) for k in request.query.keys()},
    }
    if request.can_read_body:
        raw = await request.read()
        if raw:
            text = raw.decode("utf-8", "replace")
            try:
                req["body"] = limits.parse_json(text)
            except ValueError as exc:
                ctype = request.content_type or ""
                req["body"] = text
                if "json" in ctype or not ctype.startswith("text/"):
                    req["error"] = f"bad JSON body: {exc}"
    return req


async def _dispatch(request: web.Request, script_id: str, rest: str) -> web.StreamResponse:
    rt = _runtime(request)
    script = rt.scripts.get(script_id)
    if script is None:
        raise NotFound(f"no script {script_id}")
    req = await _request_object(request, rest)
    if req is None:
        raise NotFound("expected .../<format> after the script name")
    if not script.alive:
        return web.Response(status=503, text="script not running", content_type="text/plain")
    # a script's own request to this engine names the scripts waiting on it: one of them is
    # the target would wait for itself until script.http.timeout, so refuse at once
    callers = tuple(c for c in request.headers.get(CALLERS_HEADER, "").split(",") if c)
    if script_id in callers:
        chain = " -> ".join([*callers, script_id])
        return web.Response(
            status=508,
            content_type="text/plain",
            text=f"loop detected: {chain}; script {script_id} is waiting for "
            "this request and cannot answer it",
        )
    res = await rt.http(script, req, callers)
    status = res.get("status", 500)
    if res.get("type") == "none":
        return web.Response(status=204)
    ctype = CONTENT_TYPES.get(req["format"], "text/plain") if status < 400 else "text/plain"
    if res.get("type") == "json":
        ctype = "application/json"
    return web.Response(status=status, text=res.get("body", ""), content_type=ctype)


async def app_script(request: web.Request) -> web.StreamResponse:
    m = request.match_info
    return await _dispatch(request, f"{m['app']}~{m['script']}", m["rest"])


async def script(request: web.Request) -> web.StreamResponse:
    m = request.match_info
    return await _dispatch(request, m["script"], m["rest"])


async def app_html(request: web.Request) -> web.StreamResponse:
    rt = _runtime(request)
    app = rt.apps.get(request.match_info["app"])
    if app is None:
        raise NotFound("no such app")
    return static_response(request, Path(app["dir"]) / "html", request.match_info.get("path", ""))


async def app_html_root(request: web.Request) -> web.StreamResponse:
    raise web.HTTPFound(request.path + "/")


async def app_status(request: web.Request) -> web.Response:
    rt = _runtime(request)
    name = request.match_info["app"]
    if name not in rt.apps:
        raise NotFound("no such app")
    ok = rt.status_ok(name)
    return web.Response(
        text="OK" if ok else "UNAVAILABLE", status=200 if ok else 503, content_type="text/plain"
    )


async def apps_json(request: web.Request) -> web.Response:
    return json_response(request, _runtime(request).apps_json())


async def scripts_json(request: web.Request) -> web.Response:
    return json_response(request, _runtime(request).scripts_json())


def setup(app: web.Application, engine) -> None:
    r = app.router
    r.add_get("/apps/json", apps_json)
    r.add_get("/scripts/json", scripts_json)
    r.add_get("/app/{app}/status", app_status)
    r.add_get("/app/{app}/html", app_html_root)
    r.add_get("/app/{app}/html/{path:.*}", app_html)
    for method in ("GET", "POST", "PUT", "DELETE"):
        r.add_route(method, "/app/{app}/scripts/{script}/{rest:.+}", app_script)
        r.add_route(method, "/script/{script}/{rest:.+}", script)
