"""Misbehaving scripts are stopped and reported; the engine and other scripts carry on."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import pytest

from conftest import REPO, RunningEngine
from engine import log
from engine.sflow.gen import Scenario, TrafficGenerator

APPS = {
    "good": "var n = 0; setIntervalHandler(function () { n++; }, 1);\n"
    "setHttpHandler(function () { return {n: n}; });\n",
    "stuck": "setHttpHandler(function (req) {\n  if (req.path[0] === 'loop') { while (true) {} }\n  return 'ok';\n});\n",
    "hog": "setHttpHandler(function () {\n  var a = [];\n  while (true) a.push('x'.repeat(1000) + a.length);\n});\n",
    "syntax": "var a = 1;\nvar b = 2;\nvar c = ;\n",
    "toperror": "var a = 1;\n\nundefinedFunction(a);\n",
    "bye": "logInfo('nothing to do');\n",
    "spin": "while (true) {}\n",
    "wrapped": "// wrapglobals: rt\nvar v = rt.version();\n"
    "setHttpHandler(function () { return {v: v, ns: typeof rt.metric}; });\n",
    "badinclude": "var x = 1;\ninclude(scriptdir() + '/inc/broken.js');\n",
    # loops of host calls: stopped at script.timeout like loops in JavaScript
    "hostspin": "while (true) { getSystemProperty('x'); }\n",
    "flowloop": "setHttpHandler(function () {\n"
    "  for (var i = 0; ; i++) setFlow('loop' + (i % 50), {keys: 'ipsource', value: 'bytes'});\n"
    "});\n",
}
INCLUDES = {"badinclude": "function ok() {}\nvar y = [1, 2;\n"}


def url(eng, path):
    try:
        with urllib.request.urlopen(eng.http_url + path, timeout=30) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


@pytest.fixture(scope="module")
def eng(tmp_path_factory):
    log.setup("INFO")
    home = tmp_path_factory.mktemp("sandbox")
    for name, src in APPS.items():
        (home / "apps" / name / "scripts").mkdir(parents=True)
        (home / "apps" / name / "scripts" / f"{name}.js").write_text(src)
    for name, src in INCLUDES.items():
        (home / "apps" / name / "scripts" / "inc").mkdir()
        (home / "apps" / name / "scripts" / "inc" / "broken.js").write_text(src)
    e = RunningEngine({"script.timeout": "2", "script.memory": "64"}, home=home).start()
    rt = e.engine.subsystems["runtime"]
    e.wait_for(lambda: all(s.started or s.error for s in rt.scripts.values()), 20)
    yield e
    e.stop()


def status(eng, sid):
    return eng.get_json("/scripts/json")[sid]


def test_syntax_error_reports_file_and_line(eng):
    s = status(eng, "syntax~syntax.js")
    assert s["alive"] is False and s["gracefulExit"] is False
    assert s["error"].startswith(
        "apps/syntax/scripts/syntax.js apps/syntax/scripts/syntax.js#3 SyntaxError"
    )
    assert any(r["level"] == "SEVERE" and "syntax.js#3" in r["message"] for r in log.recent)
    assert url(eng, "/app/syntax/status") == (503, "UNAVAILABLE")


def test_top_level_error_and_graceful_exit(eng):
    s = status(eng, "toperror~toperror.js")
    assert (
        s["alive"] is False
        and "toperror.js#3 ReferenceError: undefinedFunction is not defined" in s["error"]
    )
    # a script that registered no handlers has nothing left to do: it ends gracefully
    bye = status(eng, "bye~bye.js")
    assert bye["alive"] is False and bye["gracefulExit"] is True and "error" not in bye
    assert eng.engine.subsystems["runtime"].scripts["bye~bye.js"].isolate is None
    assert url(eng, "/app/bye/status") == (200, "OK")
    assert url(eng, "/app/bye/scripts/bye.js/json")[0] == 503


def test_wrapglobals_namespace(eng):
    code, body = url(eng, "/app/wrapped/scripts/wrapped.js/json")
    assert code == 200 and json.loads(body) == {"v": eng.engine.version, "ns": "function"}


def test_syntax_error_in_included_file_names_file_and_line(eng):
    s = status(eng, "badinclude~badinclude.js")
    assert s["alive"] is False
    assert "SyntaxError" in s["error"] and "apps/badinclude/scripts/inc/broken.js#2" in s["error"]


def test_stuck_top_level_is_stopped(eng):
    s = status(eng, "spin~spin.js")
    assert s["alive"] is False and "time limit" in s["error"]


def test_a_top_level_looping_on_host_calls_is_stopped(eng):
    s = status(eng, "hostspin~hostspin.js")
    assert s["alive"] is False and "time limit" in s["error"]


def test_a_handler_looping_on_setflow_is_stopped_and_rest_answers_meanwhile(eng):
    t0 = time.monotonic()
    box = {}
    hung = threading.Thread(
        target=lambda: box.setdefault("r", url(eng, "/app/flowloop/scripts/flowloop.js/json"))
    )
    hung.start()
    slowest = 0.0
    while hung.is_alive() and time.monotonic() - t0 < 30:
        t1 = time.monotonic()
        assert url(eng, "/analyzer/json")[0] == 200
        slowest = max(slowest, time.monotonic() - t1)
        time.sleep(0.05)
    hung.join(30)
    assert box["r"][0] == 503 and time.monotonic() - t0 < 15
    s = status(eng, "flowloop~flowloop.js")
    assert s["alive"] is False and "time limit" in s["error"]
    # every setFlow hops to the engine's loop, which went on answering REST in between
    assert slowest < 2.0
    assert "loop0" in eng.engine.subsystems["flows"].tables


def test_infinite_loop_in_handler_stops_only_that_script(eng):
    assert url(eng, "/app/stuck/scripts/stuck.js/json") == (200, '"ok"')  # JSON, as sFlow-RT
    before = json.loads(url(eng, "/app/good/scripts/good.js/json")[1])["n"]
    t0 = time.monotonic()
    box = {}
    hung = threading.Thread(
        target=lambda: box.setdefault("r", url(eng, "/app/stuck/scripts/stuck.js/loop/json"))
    )
    hung.start()
    time.sleep(0.2)
    # while the script spins, the engine answers REST and ingests sFlow
    datagrams = eng.engine.stats.datagrams
    assert url(eng, "/version")[0] == 200
    assert "r" not in box  # answered while the handler still spins
    eng.send(TrafficGenerator(Scenario(agents=1, samples_per_second=50, seed=3)).step(1.0))
    eng.wait_datagrams(datagrams + 1, 2)
    hung.join(30)
    code = box["r"][0]
    assert code == 503 and time.monotonic() - t0 < 10
    s = status(eng, "stuck~stuck.js")
    assert s["alive"] is False and "time limit" in s["error"]
    assert s["cpuMs"] > 0  # the isolate thread spun until the limit
    assert s["requestsReceived"] == 2
    assert url(eng, "/app/stuck/scripts/stuck.js/json")[0] == 503
    assert url(eng, "/app/stuck/status") == (503, "UNAVAILABLE")
    assert url(eng, "/status")[0] == 503
    eng.wait_for(lambda: json.loads(url(eng, "/app/good/scripts/good.js/json")[1])["n"] > before, 5)
    assert url(eng, "/version")[0] == 200


def test_memory_exhaustion_stops_only_that_script(eng):
    code, _ = url(eng, "/app/hog/scripts/hog.js/json")
    assert code == 503
    s = status(eng, "hog~hog.js")
    assert s["alive"] is False and ("heap limit" in s["error"] or "time limit" in s["error"])
    assert url(eng, "/app/good/scripts/good.js/json")[0] == 200


def test_store_survives_restart(tmp_path):
    app = tmp_path / "apps" / "keep" / "scripts"
    app.mkdir(parents=True)
    (app / "keep.js").write_text(
        "var runs = (storeGet('runs') || 0) + 1; storeSet('runs', runs);\n"
        "setHttpHandler(function () { return {runs: runs}; });\n"
    )
    for expected in (1, 2):
        e = RunningEngine({}, home=tmp_path).start()
        try:
            e.wait_for(lambda: e.engine.subsystems["runtime"].scripts["keep~keep.js"].started, 10)
            assert json.loads(url(e, "/app/keep/scripts/keep.js/json")[1]) == {"runs": expected}
        finally:
            e.stop()


def test_store_writes_are_atomic_under_kill_9(tmp_path):
    folder = tmp_path / "store" / "x~y.js"
    code = (
        "import sys; sys.path.insert(0, %r)\n"
        "from jsapi.store import Store\n"
        "s = Store(%r); i = 0\n"
        "print('ready', flush=True)\n"
        "while True:\n"
        "    i += 1; s.set('k', {'i': i, 'pad': 'x' * (i %% 5000)})\n"
    ) % (str(REPO), str(folder))
    for _ in range(3):
        p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE)
        try:
            assert p.stdout.readline().strip() == b"ready"
            time.sleep(0.3)
        finally:
            os.kill(p.pid, signal.SIGKILL)
            p.wait()
        value = json.loads((folder / "k").read_text())
        assert value["i"] > 0 and len(value["pad"]) == value["i"] % 5000


def test_sflow_rt_app_folder_is_read_too(tmp_path):
    for folder, body in (
        ("app", "setHttpHandler(function () { return 'app/'; });"),
        ("apps", "setHttpHandler(function () { return 'apps/'; });"),
    ):
        (tmp_path / folder / "both" / "scripts").mkdir(parents=True)
        (tmp_path / folder / "both" / "scripts" / "s.js").write_text(body)
    (tmp_path / "app" / "legacy" / "scripts").mkdir(parents=True)
    (tmp_path / "app" / "legacy" / "scripts" / "l.js").write_text(
        "setHttpHandler(function () { return 'legacy'; });"
    )
    (tmp_path / "app" / "legacy" / "scripts" / "inc").mkdir()
    (tmp_path / "app" / "legacy" / "scripts" / "inc" / "not-a-script.js").write_text(
        "throw 'must not run';"
    )
    e = RunningEngine({}, home=tmp_path).start()
    try:
        rt = e.engine.subsystems["runtime"]
        assert sorted(rt.scripts) == ["both~s.js", "legacy~l.js"]
        e.wait_for(lambda: all(s.started for s in rt.scripts.values()), 10)
        assert url(e, "/app/both/scripts/s.js/txt") == (200, "apps/")
        assert url(e, "/app/legacy/scripts/l.js/txt") == (200, "legacy")
    finally:
        e.stop()


def test_engine_stop_interrupts_a_busy_script(tmp_path):
    (tmp_path / "apps" / "busy" / "scripts").mkdir(parents=True)
    (tmp_path / "apps" / "busy" / "scripts" / "busy.js").write_text(
        "setIntervalHandler(function () { while (true) { logFine('spin'); } }, 1);\n"
    )
    e = RunningEngine({"script.timeout": "600"}, home=tmp_path).start()
    script = e.engine.subsystems["runtime"].scripts["busy~busy.js"]
    e.wait_for(lambda: script.started, 10)
    time.sleep(1.5)  # the interval handler is spinning now
    t0 = time.monotonic()
    e.stop()
    assert time.monotonic() - t0 < 10  # not the 600 s time limit
    assert not script.thread.is_alive()
    assert script.error is None and script.graceful_exit is True
