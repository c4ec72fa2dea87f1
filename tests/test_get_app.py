"""./get-app.sh against zips served on loopback (FLOWRT_GITHUB_URL / FLOWRT_GITHUB_API)."""

from __future__ import annotations

import io
import json
import os
import stat
import subprocess
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from conftest import REPO

GET_APP = REPO / "get-app.sh"


def make_zip(entries: dict, top: str = "browse-flows-master") -> bytes:
    """A GitHub-style archive: every entry under one top folder."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr(f"{top}/", "")
        for name, data in entries.items():
            zf.writestr(f"{top}/{name}", data)
    return buf.getvalue()


APP = {
    "README.md": "# demo\n",
    "scripts/top.js": "setIntervalHandler(function(){},1);\n",
    "html/index.html": "<html></html>\n",
}


class GitHub(BaseHTTPRequestHandler):
    routes: dict = {}

    def log_message(self, *a):
        pass

    def do_GET(self):
        body = self.routes.get(self.path)
        if body is None:
            self.send_response(404)
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def github():
    GitHub.routes = {}
    srv = ThreadingHTTPServer(("127.0.0.1", 0), GitHub)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}", GitHub.routes
    srv.shutdown()
    srv.server_close()


def run(home, base, *args):
    env = dict(
        os.environ, FLOWRT_HOME=str(home), FLOWRT_GITHUB_URL=base, FLOWRT_GITHUB_API=base + "/api"
    )
    return subprocess.run(
        [str(GET_APP), *args], env=env, capture_output=True, text=True, timeout=60
    )


def test_installs_master_zip_stripping_top_folder(github, tmp_path):
    base, routes = github
    routes["/sflow-rt/browse-flows/archive/master.zip"] = make_zip(APP)
    r = run(tmp_path, base, "sflow-rt", "browse-flows")
    assert r.returncode == 0, r.stderr
    assert "Restart flowrt to run application" in r.stdout
    app = tmp_path / "apps" / "browse-flows"
    assert (app / "scripts" / "top.js").read_text() == APP["scripts/top.js"]
    assert (app / "html" / "index.html").is_file() and (app / "README.md").is_file()
    # refuses to overwrite an installed app
    r = run(tmp_path, base, "sflow-rt", "browse-flows")
    assert r.returncode == 1 and "already exists" in r.stderr
    assert (app / "scripts" / "top.js").read_text() == APP["scripts/top.js"]


def test_falls_back_to_default_branch(github, tmp_path):
    base, routes = github
    routes["/api/repos/me/newapp"] = json.dumps({"default_branch": "main"}).encode()
    routes["/me/newapp/archive/refs/heads/main.zip"] = make_zip(APP, top="newapp-main")
    r = run(tmp_path, base, "me", "newapp")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "apps" / "newapp" / "scripts" / "top.js").is_file()


def test_unknown_repository(github, tmp_path):
    base, _ = github
    r = run(tmp_path, base, "me", "nothing")
    assert r.returncode == 1 and "no such repository" in r.stderr
    assert not (tmp_path / "apps" / "nothing").exists()


def test_url_and_file_forms(github, tmp_path):
    base, routes = github
    routes["/dl/x.zip"] = make_zip(APP, top="flow-trend-master")
    r = run(tmp_path, base, "url", base + "/dl/x.zip")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "apps" / "flow-trend" / "scripts" / "top.js").is_file()
    local = tmp_path / "local.zip"
    local.write_bytes(make_zip(APP, top="other-app"))
    r = run(tmp_path, base, "url", str(local))
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "apps" / "other-app" / "html" / "index.html").is_file()


def test_file_urls_and_clear_errors(github, tmp_path):
    """Issue 14 item 10: file:///x.zip installs; other schemes and missing files say what is
    accepted."""
    base, _ = github
    local = tmp_path / "my app.zip"
    local.write_bytes(make_zip(APP, top="file-app-main"))
    r = run(tmp_path, base, "url", local.as_uri())  # file:///.../my%20app.zip
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "apps" / "file-app" / "scripts" / "top.js").is_file()
    r = run(tmp_path, base, "url", "file:///no/such/x.zip")
    assert r.returncode == 1 and "no such file '/no/such/x.zip'" in r.stderr, r.stderr
    r = run(tmp_path, base, "url", "ftp://example.invalid/x.zip")
    assert r.returncode == 1 and "http://, https:// or file://" in r.stderr, r.stderr
    r = run(tmp_path, base, "url", "file://otherhost/x.zip")
    assert r.returncode == 1 and "local file" in r.stderr, r.stderr


@pytest.mark.parametrize("bad", ["traversal", "absolute", "link", "two-tops"])
def test_rejects_unsafe_zips_without_writing(github, tmp_path, bad):
    base, routes = github
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("evil-master/scripts/ok.js", "1")
        if bad == "traversal":
            zf.writestr("evil-master/../../escaped.js", "1")
        elif bad == "absolute":
            zf.writestr("/tmp/escaped.js", "1")
        elif bad == "link":
            info = zipfile.ZipInfo("evil-master/scripts/link.js")
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            zf.writestr(info, "/etc/passwd")
        else:
            zf.writestr("another/x.js", "1")
    routes["/u/evil/archive/master.zip"] = buf.getvalue()
    r = run(tmp_path, base, "u", "evil")
    assert r.returncode == 1, r.stdout
    assert not (tmp_path / "apps" / "evil").exists()
    assert not (tmp_path / "escaped.js").exists() and not (tmp_path.parent / "escaped.js").exists()
    leftovers = list((tmp_path / "apps").iterdir()) if (tmp_path / "apps").exists() else []
    assert leftovers == []


def test_usage(tmp_path):
    r = subprocess.run(
        [str(GET_APP)],
        capture_output=True,
        text=True,
        timeout=30,
        env=dict(os.environ, FLOWRT_HOME=str(tmp_path)),
    )
    assert r.returncode == 2 and "Usage" in r.stderr


def test_installed_app_runs_after_restart(github, tmp_path):
    from conftest import RunningEngine

    base, routes = github
    app = {
        "scripts/hello.js": "setHttpHandler(function () { return {hello: 'world'}; });\n",
        "html/index.html": "<p>hi</p>\n",
    }
    routes["/me/hello/archive/master.zip"] = make_zip(app, top="hello-master")
    assert run(tmp_path, base, "me", "hello").returncode == 0
    eng = RunningEngine({}, home=tmp_path).start()
    try:
        rt = eng.engine.subsystems["runtime"]
        eng.wait_for(lambda: rt.scripts["hello~hello.js"].started, 10)
        assert eng.get_json("/apps/json")["hello"] == {
            "entry": "/html/",
            "scripts": ["hello~hello.js"],
        }
        assert eng.get_json("/app/hello/scripts/hello.js/json") == {"hello": "world"}
    finally:
        eng.stop()


def test_flowrt_get_app_installs_into_the_home(github, tmp_path):
    """`flowrt get-app USER PROJECT`, the pip-install way: same download, into --home's apps/."""
    import sys

    base, routes = github
    routes["/sflow-rt/browse-flows/archive/master.zip"] = make_zip(APP)
    env = dict(os.environ, FLOWRT_GITHUB_URL=base, FLOWRT_GITHUB_API=base + "/api")
    env.pop("FLOWRT_HOME", None)
    flowrt = Path(sys.executable).parent / "flowrt"
    home = tmp_path / "home"
    home.mkdir()
    r = subprocess.run(
        [str(flowrt), "--home", str(home), "get-app", "sflow-rt", "browse-flows"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    assert "Installed apps/browse-flows" in r.stdout
    assert (home / "apps" / "browse-flows" / "scripts" / "top.js").read_text() == APP[
        "scripts/top.js"
    ]
    assert not (tmp_path / "apps").exists()
