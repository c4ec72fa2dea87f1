"""Web routes without a browser: redirects, static trees, the /inc asset set app pages expect,
the OpenAPI document (and that it covers every route the engine serves), /log/json."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request

import pytest
import yaml

from engine import log
from engine.rest import web as webroutes

# Every /inc asset sFlow-RT app pages reference (spec 2.9), plus the CSS our widgets bring.
INC_ASSETS = [
    "jquery.min.js",
    "jquery.widget.js",
    "jquery.stripchart.js",
    "stripchart.js",
    "stripchart.css",
    "jquery.gauge.js",
    "gauge.css",
    "jquery.flow.js",
    "flow.css",
    "jquery.sunburst.js",
    "sunburst.css",
    "jquery.heatmap.js",
    "heatmap.css",
    "popper.min.js",
    "bootstrap.min.js",
    "bootstrap.min.css",
    "jquery-ui/jquery-ui.min.js",
    "jquery-ui/jquery-ui.structure.min.css",
    "jquery-ui/jquery-ui.theme.css",
    "DataTables/js/jquery.dataTables.min.js",
    "DataTables/js/dataTables.jqueryui.min.js",
    "DataTables/css/dataTables.jqueryui.css",
    "DataTables/images/details_open.png",
    "DataTables/images/details_close.png",
    "img/favicon.png",
    "img/inmon.svg",
    "inmsf/main.css",
    "base.css",
]
CONTENT_TYPES = {
    ".js": "javascript",
    ".css": "text/css",
    ".png": "image/png",
    ".svg": "image/svg+xml",
}


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def fetch(url: str, follow: bool = True):
    opener = urllib.request.build_opener() if follow else urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(url, timeout=10) as reply:
            return reply.status, dict(reply.headers), reply.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


@pytest.fixture(scope="module")
def server():
    from conftest import RunningEngine

    eng = RunningEngine({}).start()
    yield eng
    eng.stop()


def test_root_redirects_to_status_ui(server):
    status, headers, _ = fetch(server.http_url + "/", follow=False)
    assert status == 302
    assert headers["Location"] == "./html/index.html"
    status, headers, body = fetch(server.http_url + "/")
    assert status == 200 and b"<title>flowrt</title>" in body


def test_favicon_ico(server):
    status, headers, body = fetch(server.http_url + "/favicon.ico")
    assert status == 200 and headers["Content-Type"] == "image/png"
    assert body.startswith(b"\x89PNG")


@pytest.mark.parametrize("tree", ["html", "inc", "api"])
def test_tree_without_slash_redirects(server, tree):
    status, headers, _ = fetch(f"{server.http_url}/{tree}", follow=False)
    assert status == 302 and headers["Location"] == f"/{tree}/"


def test_directory_serves_index(server):
    for path in ("/html/", "/api/"):
        status, headers, body = fetch(server.http_url + path)
        assert status == 200 and headers["Content-Type"].startswith("text/html"), path
        assert b"<html" in body


@pytest.mark.parametrize("asset", INC_ASSETS)
def test_inc_asset_served(server, asset):
    status, headers, body = fetch(f"{server.http_url}/inc/{asset}")
    assert status == 200, asset
    assert len(body) > 20
    ext = asset[asset.rfind(".") :]
    assert CONTENT_TYPES[ext] in headers["Content-Type"], (asset, headers["Content-Type"])


def test_third_party_licenses_ship_with_assets():
    licenses = webroutes.RESOURCES / "inc" / "licenses"
    for name in ("jquery", "jquery-ui", "bootstrap", "popper.js", "DataTables", "swagger-ui"):
        text = (licenses / f"{name}.LICENSE.txt").read_text()
        assert "Permission is hereby granted" in text or "Apache License" in text, name


def test_missing_file_and_escape_are_404(server):
    for path in (
        "/inc/nope.js",
        "/html/js/nope.js",
        "/inc/../engine/core.py",
        "/inc/%2e%2e/%2e%2e/pyproject.toml",
        "/inc/..%2f..%2fpyproject.toml",
    ):
        status, headers, body = fetch(server.http_url + path)
        assert status == 404, path
        assert b"flowrt" not in body.lower() or b"error" in body


def test_api_docs_json_and_yaml(server):
    status, headers, body = fetch(server.http_url + "/api-docs")
    assert status == 200 and headers["Content-Type"].startswith("application/json")
    doc = json.loads(body)
    assert doc["openapi"].startswith("3.")
    status, headers, body = fetch(server.http_url + "/api.yml")
    assert status == 200 and "yaml" in headers["Content-Type"]
    assert yaml.safe_load(body) == doc


def _template(path: str) -> str:
    """/flow/{name}/json and /flow/{x:[a-z]+}/json both become /flow/{}/json."""
    return re.sub(r"\{[^{}]*(\{[^{}]*\}[^{}]*)*\}", "{}", path)


def _served_and_documented():
    """{template: methods} the aiohttp app routes with every subsystem attached, and api.yml's."""
    from engine import props
    from engine.core import Engine
    from engine.rest import build_app

    engine = Engine(props.Properties(dict(props.DEFAULTS)), webroutes.RESOURCES.parent)
    app = build_app(engine)
    served = {}
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource is not None else {}
        path = info.get("path") or info.get("formatter") or info.get("prefix")
        if route.method in ("HEAD", "OPTIONS") or path is None:
            continue
        served.setdefault(_template(path), set()).add(route.method)
    doc = yaml.safe_load(webroutes.API_YML.read_text())
    documented = {}
    for path, ops in doc["paths"].items():
        documented.setdefault(_template(path), set()).update(
            m.upper() for m in ops if m != "parameters"
        )
    return served, documented


def test_openapi_documents_every_route():
    """Every (path, method) the engine routes is in api.yml: a new route needs its documentation."""
    served, documented = _served_and_documented()
    missing = [
        f"{m} {p}"
        for p, methods in served.items()
        for m in methods
        if m not in documented.get(p, set()) and not (m == "*" and documented.get(p))
    ]
    assert not missing, "routes missing from resources/api/api.yml: " + ", ".join(sorted(missing))


def test_openapi_documents_only_served_routes():
    """The document promises nothing the engine does not serve."""
    served, documented = _served_and_documented()
    extra = [
        f"{m} {p}"
        for p, methods in documented.items()
        for m in methods
        if m not in served.get(p, set()) and "*" not in served.get(p, set())
    ]
    assert not extra, "api.yml documents routes the engine does not serve: " + ", ".join(
        sorted(extra)
    )


def test_openapi_document_is_well_formed():
    doc = yaml.safe_load(webroutes.API_YML.read_text())
    refs = set(re.findall(r'"#/components/(\w+)/(\w+)"', webroutes.API_YML.read_text()))
    for kind, name in refs:
        assert name in doc["components"][kind], f"dangling $ref {kind}/{name}"
    for path, ops in doc["paths"].items():
        assert path.startswith("/")
        params = set(re.findall(r"\{(\w+)\}", path))
        for method, op in ops.items():
            if method == "parameters":
                continue
            assert op.get("summary") and op.get("responses"), f"{method} {path}"
            declared = {
                p.get("name")
                for p in ops.get("parameters", []) + op.get("parameters", [])
                if "name" in p
            }
            declared |= {
                doc["components"]["parameters"][p["$ref"].rsplit("/", 1)[1]]["name"]
                for p in ops.get("parameters", []) + op.get("parameters", [])
                if "$ref" in p
            }
            assert params <= declared, (
                f"{method} {path}: undeclared path parameters {params - declared}"
            )


def test_log_json_returns_recent_lines(server):
    log.setup("INFO")
    marker = "web-test-marker line for /log/json"
    log.warning(marker)
    lines = server.get_json("/log/json?maxLines=1000")
    mine = [l for l in lines if l["message"] == marker]
    assert mine and mine[-1]["level"] == "WARNING" and isinstance(mine[-1]["time"], int)
    assert [l["time"] for l in lines] == sorted(l["time"] for l in lines)
    severe_only = server.get_json("/log/json?minLevel=SEVERE&maxLines=1000")
    assert all(l["level"] == "SEVERE" for l in severe_only)
    assert len(server.get_json("/log/json?maxLines=1")) == 1
    later = server.get_json(f"/log/json?after={mine[-1]['time']}&maxLines=1000")
    assert all(l["time"] > mine[-1]["time"] for l in later)


def test_log_json_rejects_bad_parameters(server):
    for query in ("minLevel=LOUD", "maxLines=many", "after=x"):
        status, _, body = fetch(f"{server.http_url}/log/json?{query}")
        assert status == 400, query
        assert json.loads(body)["error"]


def test_http_html_no_disables_pages(make_engine):
    eng = make_engine({"http.html": "no"})
    assert fetch(eng.http_url + "/html/index.html")[0] == 404
    assert fetch(eng.http_url + "/inc/jquery.min.js")[0] == 404
    assert fetch(eng.http_url + "/api-docs")[0] == 200  # the API description stays available


def test_html_redirect_property(make_engine):
    eng = make_engine({"http.html.redirect": "/app/dashboard/html/"})
    status, headers, _ = fetch(eng.http_url + "/", follow=False)
    assert status == 302 and headers["Location"] == "/app/dashboard/html/"


APP_API = """openapi: 3.0.1
info: {title: Exporter, version: 1.0.0}
paths:
  /../../../prometheus/analyzer/txt:
    get: {summary: core path, responses: {"200": {description: OK}}}
  /export.js/flows/{agent}/txt:
    get: {summary: script path, responses: {"200": {description: OK}}}
"""


def test_app_api_documents(make_engine, tmp_path):
    for name, text in (
        ("exporter", APP_API),
        ("legacy", "swagger: '2.0'\ninfo: {title: L, version: '1'}\npaths: {}\n"),
        ("broken", "paths: [unclosed\n"),
        ("plain", None),
    ):
        folder = tmp_path / "app" / name / "scripts"
        folder.mkdir(parents=True)
        (folder / "main.js").write_text("// description: test\n")
        if text is not None:
            (tmp_path / "app" / name / "api.yml").write_text(text)
    eng = make_engine(home=tmp_path)
    docs = json.loads(fetch(eng.http_url + "/api-docs")[2])
    assert docs["x-flowrt-apps"] == ["broken", "exporter", "legacy"]
    status, headers, body = fetch(eng.http_url + "/app/exporter/api.yml")
    assert status == 200 and "yaml" in headers["Content-Type"]
    doc = yaml.safe_load(body)
    assert doc["servers"] == [{"url": "scripts", "description": "exporter scripts"}]
    assert set(doc["paths"]) == {
        "/../../../prometheus/analyzer/txt",
        "/export.js/flows/{agent}/txt",
    }
    # relative to the document URL, the server and paths land where flowrt answers them
    from urllib.parse import urljoin

    base = urljoin(eng.http_url + "/app/exporter/api.yml", doc["servers"][0]["url"])
    assert (
        urljoin(base + "/", "." + "/export.js/flows/ALL/txt")
        == eng.http_url + "/app/exporter/scripts/export.js/flows/ALL/txt"
    )
    assert (
        yaml.safe_load(fetch(eng.http_url + "/app/legacy/api.yml")[2])["basePath"]
        == "/app/legacy/scripts"
    )
    assert fetch(eng.http_url + "/app/broken/api.yml")[0] == 400
    assert fetch(eng.http_url + "/app/plain/api.yml")[0] == 404
    assert fetch(eng.http_url + "/app/nosuch/api.yml")[0] == 404
