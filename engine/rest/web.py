"""Web routes: / redirect, the status UI (/html/), shared app assets (/inc/), the API explorer
(/api/), the OpenAPI document (/api-docs, /api.yml) and recent log lines (/log/json).

Static files come from the resources that ship with flowrt (engine.bundled; not from the engine
home, so a test or a package install with its own home still gets the UI).
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from aiohttp import web

from .. import log
from ..bundled import RESOURCES
from . import json_response
from .errors import BadRequest, NotFound

API_YML = RESOURCES / "api" / "api.yml"
STATIC_TREES = ("html", "inc", "api")
LOG_LEVELS = {"FINE": 0, "INFO": 1, "WARNING": 2, "SEVERE": 3}


def static_response(request: web.Request, root: Path, rel: str) -> web.FileResponse:
    """The file `rel` under `root` (a folder: its index.html, after a redirect to the path with
    a trailing slash); 404 for anything outside the tree."""
    root = root.resolve()
    try:
        target = (root / rel).resolve()
        target.relative_to(root)  # refuses ../ escapes and symlinks out of the tree
    except (ValueError, OSError):
        raise NotFound("no such file") from None
    if target.is_dir():
        if rel and not rel.endswith("/"):
            raise web.HTTPFound(request.path + "/")
        target = target / "index.html"
    if not target.is_file():
        raise NotFound("no such file")
    return web.FileResponse(target, headers={"Cache-Control": "no-cache"})


def _static_handler(root: Path):
    async def handler(request: web.Request) -> web.StreamResponse:
        return static_response(request, root, request.match_info.get("path", ""))

    return handler


def _slash_redirect(location: str):
    async def handler(request: web.Request) -> web.Response:
        raise web.HTTPFound(location)

    return handler


class ApiDocument:
    """The OpenAPI document, read once (YAML text for /api.yml, parsed JSON for /api-docs)."""

    def __init__(self, path: Path = API_YML):
        self.path = path
        self._text: str | None = None
        self._json: str | None = None

    def text(self) -> str:
        if self._text is None:
            self._text = self.path.read_text(encoding="utf-8")
        return self._text

    def as_json(self) -> str:
        if self._json is None:
            self._json = json.dumps(yaml.safe_load(self.text()), separators=(",", ":"))
        return self._json


def recent_log(max_lines: int = 100, min_level: str = "FINE", after: int = 0) -> list[dict]:
    """The newest log lines kept by engine.log (oldest first), filtered by level and time."""
    floor = LOG_LEVELS.get(min_level.upper())
    if floor is None:
        raise BadRequest(f"bad minLevel {min_level!r}, expected one of {', '.join(LOG_LEVELS)}")
    lines = [
        r for r in list(log.recent) if LOG_LEVELS.get(r["level"], 1) >= floor and r["time"] > after
    ]
    return lines[-max_lines:] if max_lines > 0 else []


def _int_param(request: web.Request, name: str, default: int) -> int:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise BadRequest(f"{name} must be an integer, got {raw!r}") from None


async def log_json(request: web.Request) -> web.Response:
    lines = recent_log(
        _int_param(request, "maxLines", 100),
        request.query.get("minLevel", "FINE"),
        _int_param(request, "after", 0),
    )
    return json_response(request, lines)


def _app_dirs(engine) -> dict[str, Path]:
    runtime = engine.subsystems.get("runtime")
    apps = getattr(runtime, "apps", None) or {}
    return {name: Path(info["dir"]) for name, info in apps.items() if info.get("dir")}


def apps_with_api(engine) -> list[str]:
    """Installed apps that describe their script REST paths in an api.yml."""
    return sorted(
        name for name, folder in _app_dirs(engine).items() if (folder / "api.yml").is_file()
    )


def app_api_document(engine, name: str) -> dict:
    """An app's api.yml with its paths anchored at /app/<name>/scripts/, where its scripts answer.

    App documents give script paths (/export.js/...) and core paths as /../../../prometheus/...;
    both resolve once the server is the scripts folder, relative to the document's own URL."""
    folder = _app_dirs(engine).get(name)
    if folder is None or not (folder / "api.yml").is_file():
        raise NotFound(f"no api.yml for app {name!r}")
    try:
        doc = yaml.safe_load((folder / "api.yml").read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise BadRequest(f"app {name} api.yml is not valid YAML: {exc}") from exc
    if not isinstance(doc, dict):
        raise BadRequest(f"app {name} api.yml is not an OpenAPI document")
    if "swagger" in doc:  # OpenAPI 2.0
        doc.setdefault("basePath", f"/app/{name}/scripts")
    elif not doc.get("servers"):
        doc["servers"] = [{"url": "scripts", "description": f"{name} scripts"}]
    return doc


def setup(app: web.Application, engine) -> None:
    props = engine.props
    doc = ApiDocument()

    async def api_yml(request: web.Request) -> web.Response:
        return web.Response(text=doc.text(), content_type="application/yaml")

    async def api_docs(request: web.Request) -> web.Response:
        apps = apps_with_api(engine)
        if not apps:
            return web.Response(text=doc.as_json(), content_type="application/json")
        # the explorer offers installed apps' documents too
        body = doc.as_json()[:-1] + ',"x-flowrt-apps":' + json.dumps(apps) + "}"
        return web.Response(text=body, content_type="application/json")

    async def app_api_yml(request: web.Request) -> web.Response:
        text = yaml.safe_dump(app_api_document(engine, request.match_info["app"]), sort_keys=False)
        return web.Response(text=text, content_type="application/yaml")

    app.router.add_get("/api-docs", api_docs)
    app.router.add_get("/api.yml", api_yml)
    app.router.add_get("/app/{app}/api.yml", app_api_yml)
    app.router.add_get("/log/json", log_json)

    if (props.get_str("http.html") or "yes").lower() == "no":
        return
    redirect = props.get_str("http.html.redirect") or "./html/index.html"
    app.router.add_get("/", _slash_redirect(redirect))
    favicon = RESOURCES / "inc" / "img" / "favicon.png"

    async def favicon_ico(request: web.Request) -> web.StreamResponse:
        # browsers ask for /favicon.ico on pages without an icon link (PNG is accepted)
        return web.FileResponse(
            favicon, headers={"Content-Type": "image/png", "Cache-Control": "max-age=86400"}
        )

    app.router.add_get("/favicon.ico", favicon_ico)
    for tree in STATIC_TREES:
        app.router.add_get(f"/{tree}", _slash_redirect(f"/{tree}/"))
        app.router.add_get(f"/{tree}/{{path:.*}}", _static_handler(RESOURCES / tree))
