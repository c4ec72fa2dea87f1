"""Scripts in a running engine: every global and handler (tests/js/suite), against real
generated sFlow over UDP, real HTTP, real V8 isolates."""

from __future__ import annotations

import hashlib
import json
import shutil
import socket
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from conftest import RunningEngine
from engine import log
from engine.sflow.gen import Scenario, TrafficGenerator
from jsapi.registry import register_global, unregister_global

JS = Path(__file__).parent / "js"
SUITE = "/app/suite/scripts/globals.js"
KEPT: list = []


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def _reply(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n).decode() if n else ""
        if self.path.startswith("/missing"):
            self.send_response(404)
            self.end_headers()
            self.wfile.write(b"nope")
            return
        out = json.dumps(
            {"method": self.command, "body": body, "xt": self.headers.get("X-T")}
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    do_GET = do_POST = do_PUT = _reply


@pytest.fixture(scope="module")
def web_server():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    h = tmp_path_factory.mktemp("home")
    shutil.copytree(JS / "suite", h / "apps" / "suite")
    shutil.copytree(JS / "peer", h / "apps" / "peer")
    shutil.copytree(JS / "clears", h / "apps" / "clears")
    (h / "standalone.js").write_text(
        "setHttpHandler(function(req) { return 'standalone ' + req.query.state[0]; });\n"
    )
    return h


@pytest.fixture(scope="module")
def rt(home):
    log.setup("FINE")
    # another module's globals: one needing an absent subsystem, one plain (extensibility)
    register_global("testOnlyAbsent", lambda s, x: x, requires=("no_such_subsystem",))
    register_global("testExtra", lambda s, x: int(x) * 2)
    register_global("testKeep", lambda s, opts: KEPT.append(opts["onEvent"]), callbacks=True)
    eng = RunningEngine({"suite.prop": "x", "script.file": "standalone.js"}, home=home).start()
    eng.wait_for(
        lambda: all(s.started for s in eng.engine.subsystems["runtime"].scripts.values()), 20
    )
    # real sFlow from the generator: counters and flow samples from two agents
    gen = TrafficGenerator(
        Scenario(agents=2, samples_per_second=300, flows=20, seed=7, polling_interval=1.0)
    )
    eng.gen = gen
    eng.call(lambda: None)
    yield eng
    eng.stop()
    unregister_global("testOnlyAbsent")
    unregister_global("testExtra")
    unregister_global("testKeep")


def get(eng, path, data=None, method=None, raw=False):
    req = urllib.request.Request(eng.http_url + path, data=data, method=method)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            body = r.read().decode()
            return r.status, r.headers.get("Content-Type", ""), body
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type", ""), e.read().decode()


def check(eng, name, query=""):
    status, _, body = get(eng, f"{SUITE}/check/{name}/json{query}")
    assert status == 200, body
    return json.loads(body)["result"]


def feed(eng, seconds=3):
    for _ in range(seconds):
        eng.send(eng.gen.step(1.0))
        time.sleep(0.05)


def test_scripts_start_and_report_status(rt):
    lines = [r["message"] for r in log.recent]
    assert "apps/suite/scripts/globals.js started" in lines
    assert "apps/peer/scripts/peer.js started" in lines
    assert "standalone.js started" in lines
    scripts = rt.get_json("/scripts/json")
    assert set(scripts) >= {"suite~globals.js", "peer~peer.js", "standalone.js"}
    assert scripts["suite~globals.js"]["alive"] is True
    apps = rt.get_json("/apps/json")
    assert apps["suite"] == {"entry": "/html/", "scripts": ["suite~globals.js"]}
    assert "entry" not in apps["peer"]
    assert get(rt, "/app/suite/status")[2] == "OK"
    assert get(rt, "/app/nosuch/status")[0] == 404
    assert get(rt, "/app/suite/html/")[2].startswith("<html>")
    assert get(rt, "/app/suite/html/../scripts/globals.js")[0] == 404


def test_http_handler_request_object_and_replies(rt):
    status, ctype, body = get(rt, f"{SUITE}/echo/a/b/json?x=1&x=2&y=")
    assert status == 200 and ctype.startswith("application/json")
    assert json.loads(body) == {
        "method": "GET",
        "path": ["echo", "a", "b"],
        "format": "json",
        "query": {"x": ["1", "2"], "y": [""]},
    }
    status, _, body = get(rt, f"{SUITE}/echo/json", data=b'{"k":[1,"\xc3\xbc"]}', method="PUT")
    assert json.loads(body)["body"] == {"k": [1, "ü"]} and json.loads(body)["method"] == "PUT"
    body = json.loads(get(rt, f"{SUITE}/echo/json", data=b"{broken", method="POST")[2])
    assert body["error"] and body["body"] == "{broken"
    status, ctype, body = get(rt, f"{SUITE}/text/txt")
    assert (status, body) == (200, "plain text") and ctype.startswith("text/plain")
    assert get(rt, f"{SUITE}/nothing/json")[0] == 204
    for what, code in [
        ("not_found", 404),
        ("bad_request", 400),
        ("service_unavailable", 503),
        ("internal_server_error", 500),
    ]:
        assert get(rt, f"{SUITE}/throw/json?what={what}")[0] == code
    status, _, body = get(rt, f"{SUITE}/error/json")
    assert status == 500 and "TypeError: typed" in body
    status, _, body = get(rt, f"{SUITE}/cyclic/json")  # unserializable reply: 500, script lives
    assert status == 500 and "circular" in body
    assert rt.get_json("/scripts/json")["suite~globals.js"]["alive"] is True
    # the same script through the /script/APP~SCRIPT.js/ form, and a standalone script
    assert json.loads(get(rt, "/script/suite~globals.js/echo/json")[2])["path"] == ["echo"]
    # a string result on a json route is JSON-encoded, as sFlow-RT 3.0 answers
    assert get(rt, "/script/standalone.js/json?state=enabled")[2] == '"standalone enabled"'
    assert get(rt, "/script/nosuch.js/json")[0] == 404


def test_server_globals(rt):
    feed(rt, 1)
    rt.wait_datagrams(1)
    r = check(rt, "server")
    assert r["version"] == rt.engine.version
    assert r["prop"] == "x" and r["missing"] is None and r["names"] is True
    assert set(r["agents"]) <= set(rt.get_json("/agents/json")) and r["agents"]
    assert len(r["agentsOne"]) == 1
    assert r["datagrams"] >= 1
    assert r["dir"] == "apps/suite/scripts" and r["lib"] == 40


def test_metric_globals_match_the_engine(rt):
    feed(rt, 3)
    rt.wait_for(lambda: check(rt, "metric")["n"] >= 8, 10)
    r = check(rt, "metric")
    store = rt.engine.subsystems["metrics"]
    direct = rt.call(store.query_metric, "ALL", "max:ifinoctets,sum:ifinoctets", None)
    assert r["n"] == direct[0]["metricN"]
    assert r["max"] == pytest.approx(direct[0]["metricValue"], rel=0.5)
    assert r["sum"] >= r["max"] > 0
    assert r["arrayName"] == "sum:ifinoctets" and r["arraySum"] == pytest.approx(r["sum"], rel=0.5)
    rows = check(rt, "table")
    assert rows and all(len(row) == 2 and row[0]["metricName"] == "ifindex" for row in rows)
    dumped = check(rt, "dump")
    assert {d["agent"] for d in dumped} == set(rt.get_json("/agents/json"))
    assert "ifinoctets" in check(rt, "metrics")
    per_agent = check(rt, "agentMetrics")
    assert any(k.endswith(".ifinoctets") for k in per_agent)
    info = check(rt, "dsinfo")
    assert info is None or isinstance(info, dict)


def test_flow_threshold_and_handler_globals(rt):
    r = check(rt, "defineFlows")
    assert r["bad"] and "Error" in r["bad"]
    assert "suite_pair" in rt.get_json("/flow/json")
    assert rt.get_json("/flow/suite_pair/json")["keys"] == "ipsource,ipdestination"
    deadline = time.time() + 20
    while time.time() < deadline:
        feed(rt, 1)
        f = check(rt, "flows")
        h = check(rt, "handlers")
        if f["top"] and h["flows"] and h["events"]:
            break
    assert f["top"], "no active flows"
    top = f["top"][0]
    assert set(top) >= {"key", "value", "agent", "dataSource"} and top["value"] > 0
    assert len(f["top"]) <= 5
    assert f["flowValue"] is None or f["flowValue"] >= 0
    assert f["triggered"] in (True, False)
    assert "ipsource" in f["keys"]
    assert f["unknown"] == []
    assert h["flows"] > 0 and h["firstFlow"]["name"] == "suite_log"
    assert h["events"] > 0 and h["firstEvent"]["thresholdID"] == "suite_th"
    counters = rt.get_json("/scripts/json")["suite~globals.js"]
    assert counters["flowsReceived"] >= h["flows"] and counters["eventsReceived"] >= h["events"]
    g = check(rt, "groups")
    assert g == {"ok": True, "bad": False, "map": True}
    assert check(rt, "clear") == [True, True, True, False]
    assert "suite_pair" not in rt.get_json("/flow/json")


def test_interval_handler_gets_now_in_ms(rt):
    rt.wait_for(lambda: len(check(rt, "handlers")["ticks"]) >= 2, 10)
    ticks = check(rt, "handlers")["ticks"]
    now = time.time() * 1000
    assert all(abs(now - t) < 60_000 for t in ticks)
    assert ticks == sorted(set(ticks))  # one call per tick, time moving on


def test_store_persists_on_disk_atomically(rt, home):
    r = check(rt, "store")
    assert r["plain"] == {"a": [1, 2, 3], "s": "ü😀"} and r["odd"] == 42
    assert r["gone"] is None and r["missing"] is None
    assert sorted(r["keys"]) == ["odd/../key", "plain"]
    folder = home / "store" / "suite~globals.js"
    assert json.loads((folder / "plain").read_text()) == {"a": [1, 2, 3], "s": "ü😀"}
    assert (folder / "plain").read_text().startswith('{\n "a"')  # one-space indent
    assert not list(folder.glob(".tmp-*"))
    assert all(p.parent == folder for p in folder.iterdir())  # '..' stayed inside


def test_shared_values_are_copies_and_cross_scripts(rt):
    r = check(rt, "shared")
    assert r["copy"] == {"n": 1}
    assert r["peer"] == {"hello": "suite"}
    assert json.loads(get(rt, "/app/peer/scripts/peer.js/json")[2])["fromSuite"] == {"n": 1}
    assert check(rt, "sharedMore") == {"keys": ["tmp_a", "tmp_b"], "a": None, "b": None}


def test_large_unicode_values_through_globals(rt):
    # ~2.5 MB of UTF-16 each way: several trips through the 1 MiB shared buffer
    assert check(rt, "bigShared") == [True, 1500000, 20000, "ключ19999", True]


def test_utilities(rt):
    r = check(rt, "utils")
    assert r["number"] == "1,234,568 seconds" and r["pct"] == "12% difference"
    assert r["date"].startswith("1970-01-01T") or r["date"].startswith("1969-12-31T")
    assert r["md5"] == hashlib.md5(b"hello").hexdigest()
    assert r["dateObj"] == "2020-06"
    assert "127.0.0.1" in r["dns"] or "::1" in r["dns"]
    assert r["baseline"] == ["learning"] * 5 + ["normal", "high"]
    assert r["stats"]["min"] == 10 and r["stats"]["max"] == 50


def test_syslog_sends_udp(rt):
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(5)
    try:
        assert check(rt, "syslog", f"?port={sock.getsockname()[1]}") is True
        data = sock.recv(4096).decode()
        assert data.startswith("<133>1 ") and data.endswith('{"msg":"hi"}')
    finally:
        sock.close()


def test_graphite_sends_plaintext_over_tcp(rt):
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    srv.settimeout(5)
    try:
        assert check(rt, "graphite", f"?port={srv.getsockname()[1]}") is True
        conn, _ = srv.accept()
        data = conn.recv(4096).decode()
        conn.close()
        lines = data.splitlines()
        assert [l.split()[:2] for l in lines] == [["a.b", "1.5"], ["c", "2"]]
        assert abs(int(lines[0].split()[2]) - time.time()) < 60
    finally:
        srv.close()


def test_http_clients(rt, web_server):
    r = check(rt, "http", f"?url={web_server}")
    assert r["version"] == rt.engine.version  # relative URL reached flowrt itself
    assert r["status"] == 200
    assert json.loads(r["body"]) == {"method": "POST", "body": "b😀", "xt": "y"}
    assert r["s404"] == 404
    assert r["err"] and "404" in r["err"]
    assert r["unreach"] and "Error" in r["unreach"]
    rt.wait_for(lambda: set(check(rt, "async")) >= {"ok", "err"}, 10)
    a = check(rt, "async")
    assert a["ok"]["status"] == 200 and json.loads(a["ok"]["body"])["body"] == "async"
    assert a["err"]["status"] == 404
    assert "okErr" not in a


def test_registry_globals_and_missing_ones_are_reference_errors(rt):
    r = check(rt, "missingGlobal")
    assert r["type"] == "undefined"
    assert r["call"].startswith("ReferenceError") and "testOnlyAbsent" in r["call"]
    assert r["extra"] == 42
    e = check(rt, "hostError")
    assert e[0] is True and e[1]


def test_log_functions(rt):
    assert check(rt, "log") is True
    recent = {(r["level"], r["message"]) for r in log.recent}
    assert {
        ("INFO", "suite info"),
        ("WARNING", "suite warn"),
        ("SEVERE", "suite severe"),
        ("FINE", "suite fine"),
    } <= recent


def test_include_is_sandboxed_and_rhino_dialect_runs(rt):
    assert "only files under apps/suite" in check(rt, "includeEscape")
    assert check(rt, "rhino") == [3, [1, 2, 3]]


def test_handlers_of_one_script_never_overlap(rt):
    results = []

    def hit():
        results.append(get(rt, f"{SUITE}/slow/txt"))

    threads = [threading.Thread(target=hit) for _ in range(3)]
    for t in threads:
        t.start()
    # another script answers while the suite is busy
    assert get(rt, "/app/peer/scripts/peer.js/json")[0] == 200
    for t in threads:
        t.join(30)
    spans = sorted(tuple(int(x) for x in r[2].split("-")) for r in results)
    assert len(spans) == 3 and all(end - start >= 300 for start, end in spans)
    assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:]))  # one after the other


def test_js_callbacks_handed_to_host_functions(rt):
    assert check(rt, "keepCallback") is True
    cb = KEPT[-1]
    assert threading.Thread(target=cb, args=({"peer": "10.0.0.1"}, 2)).start() is None
    rt.wait_for(lambda: "cb" in check(rt, "async"), 10)
    assert check(rt, "async")["cb"] == [{"peer": "10.0.0.1"}, 2, "function"]
    cb.release()
    assert cb(1, 2) is False


def test_clear_handlers(rt):
    rt.wait_for(
        lambda: json.loads(get(rt, "/app/clears/scripts/clears.js/json")[2])["ticks"] >= 1, 10
    )
    status, _, body = get(rt, "/app/clears/scripts/clears.js/clear/json")
    assert status == 200
    at_clear = json.loads(body)["ticks"]
    assert get(rt, "/app/clears/scripts/clears.js/json")[0] == 404  # no HTTP handler now
    time.sleep(2.5)
    assert check(rt, "sharedTicks") == at_clear  # no tick since
    script = rt.engine.subsystems["runtime"].scripts["clears~clears.js"]
    assert script.interval == 0 and not script.subscriptions and script.alive
