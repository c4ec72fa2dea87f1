"""The synchronous JS -> Python bridge (jsapi/bridge.py) on real V8 isolates."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from jsapi.bridge import Isolate, JSError, ReentrantCall


def echo(text):
    return True, text


def test_sync_call_returns_value_before_next_statement():
    seen = []

    def host(text):
        seen.append(json.loads(text))
        return True, json.dumps([{"metricN": 7, "metricValue": 1.5}])

    iso = Isolate(host)
    try:
        out = iso.eval(
            "var v = JSON.parse(__bridge.call('[\"q\"]')[1]); v[0].metricN + ':' + v[0].metricValue"
        )
        assert out == "7:1.5"
        assert seen == [["q"]]
    finally:
        iso.close()


@pytest.mark.parametrize("size", [10, 2047, 2048, 2049, 100_000])
def test_large_payloads_both_ways_cross_chunk_boundaries(size):
    # a 4 KiB buffer holds 2016 UTF-16 units: these sizes need 1..50 chunks each way
    got = []

    def host(text):
        got.append(text)
        return True, text[::-1]

    iso = Isolate(host, buffer_bytes=4096)
    try:
        js = (
            f"var s = ''; for (var i = 0; i < {size}; i++) s += String.fromCharCode(97 + i % 26);"
            "var r = __bridge.call(s); r[1] === s.split('').reverse().join('') ? 'same' : 'diff'"
        )
        assert iso.eval(js) == "same"
        assert len(got[0]) == size
    finally:
        iso.close()


def test_unicode_astral_and_lone_surrogates_survive():
    iso = Isolate(echo, buffer_bytes=256)  # tiny buffer: a surrogate pair may straddle chunks
    try:
        js = r"""
        var s = 'héllo 😀 \ud800 中文 \u0000 end'.repeat(20);
        var r = __bridge.call(s)[1];
        (r === s) + ':' + r.length
        """
        assert iso.eval(js) == f"true:{len('héllo 😀 ? 中文 ? end'.encode('utf-16-le')) // 2 * 20}"
        seen = []
        iso2 = Isolate(lambda t: (seen.append(t) or True, t))
        iso2.eval("__bridge.call('x\\ud83d\\ude00y')")
        assert seen == ["x😀y"]
        iso2.close()
    finally:
        iso.close()


def test_python_exception_becomes_js_status_and_js_can_continue():
    def host(text):
        if text == "bad":
            raise ValueError("nope")
        return True, "fine"

    iso = Isolate(host)
    try:
        out = iso.eval(
            "var a = __bridge.call('bad'); var b = __bridge.call('ok'); a[0] + '|' + a[1] + '|' + b[1]"
        )
        status, err, ok = out.split("|")
        assert status == "1" and "nope" in json.loads(err)["message"] and ok == "fine"
    finally:
        iso.close()


def test_js_exceptions_reach_python_with_line_numbers():
    iso = Isolate(echo)
    try:
        with pytest.raises(JSError) as info:
            iso.eval("var a = 1;\nvar b = 2;\nthrow new Error('boom');")
        assert (
            info.value.kind == "error"
            and "<anonymous>:3:" in info.value.message
            and "boom" in info.value.message
        )
        with pytest.raises(JSError) as info:
            iso.eval("var x = ;")
        assert info.value.kind == "syntax"
        assert iso.eval("1 + 1") == 2  # the isolate is still usable
    finally:
        iso.close()


def test_reentrant_eval_from_host_call_is_refused_not_deadlocked():
    box = {}

    def host(text):
        try:
            box["iso"].eval("1")
        except ReentrantCall as exc:
            return True, f"refused: {exc}"
        return True, "ran"

    iso = box["iso"] = Isolate(host)
    try:
        iso.eval("0")  # learn the isolate thread
        assert iso.eval("__bridge.call('x')[1]").startswith("refused")
    finally:
        iso.close()


def test_nested_host_calls_in_js_callbacks_and_recursion():
    depth = []

    def host(text):
        depth.append(int(text))
        return True, str(int(text) + 1)

    iso = Isolate(host)
    try:
        js = """
        function rec(n) { return n >= 50 ? n : rec(+__bridge.call(String(n))[1]); }
        [1,2,3].map(function (x) { return +__bridge.call(String(x))[1]; }).join(',') + '/' + rec(0)
        """
        assert iso.eval(js) == "2,3,4/50"
        assert len(depth) == 3 + 50
    finally:
        iso.close()


def test_many_isolates_call_concurrently():
    n, calls = 8, 2000
    results, errors = {}, []

    def worker(i):
        try:
            iso = Isolate(lambda t, i=i: (True, f"{i}:{t}"))
            js = f"var ok = 0; for (var k = 0; k < {calls}; k++) if (__bridge.call(String(k))[1] === '{i}:' + k) ok++; ok"
            results[i] = iso.eval(js)
            iso.close()
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    assert results == {i: calls for i in range(n)}


def test_timeout_terminates_infinite_loop_and_isolate_survives():
    iso = Isolate(echo)
    try:
        with pytest.raises(JSError) as info:
            iso.eval("while (true) {}", timeout=0.3)
        assert info.value.kind == "terminated"
        assert iso.eval("'alive'") == "alive"
    finally:
        iso.close()


def test_heap_limit_stops_runaway_allocation():
    iso = Isolate(echo, memory_limit=48 << 20)
    try:
        with pytest.raises(JSError) as info:
            iso.eval("var a = []; while (true) a.push({x: 'y' + a.length});", timeout=30)
        assert info.value.kind == "memory"
        assert iso.memory_limit_reached()
    finally:
        iso.close()


def test_post_message_is_read_by_js():
    iso = Isolate(echo, buffer_bytes=1024)
    try:
        msg = json.dumps({"k": "v" * 3000, "u": "ü😀"}, ensure_ascii=False)
        assert (
            iso.post_and_eval(msg, "var m = JSON.parse(__bridge.readMessage()); m.k.length + m.u")
            == "3000ü😀"
        )
    finally:
        iso.close()


def test_no_value_handles_leak():
    iso = Isolate(echo)
    try:
        iso.eval("0")
        base = iso._dll.mr_value_count(iso._ctx)
        iso.eval("for (var i = 0; i < 10000; i++) __bridge.call('x' + i)")
        for i in range(500):
            iso.post_and_eval(f"[{i}]", "__bridge.readMessage()")
        with pytest.raises(JSError):
            iso.eval("throw 1")
        assert iso._dll.mr_value_count(iso._ctx) <= base + 2
    finally:
        iso.close()


def test_time_limit_counts_host_calls_too():
    import time as _time

    def slow_host(text):
        _time.sleep(0.2)
        return True, "done"

    iso = Isolate(slow_host)
    try:
        assert iso.eval("__bridge.call('x')[1]", timeout=1.0) == "done"
        # 4 x 0.2 s inside host calls, little JS time: past the 0.3 s limit, stopped after
        # the host call running when the time was up
        t0 = _time.perf_counter()
        with pytest.raises(JSError) as exc:
            iso.eval("var r; for (var i = 0; i < 4; i++) r = __bridge.call('x')[1]; r", timeout=0.3)
        assert exc.value.kind in ("timeout", "terminated")
        assert 0.3 <= _time.perf_counter() - t0 < 0.7
        with pytest.raises(JSError):
            iso.eval("__bridge.call('x'); while (true) {}", timeout=0.3)
        assert iso.host_seconds >= 0.6
    finally:
        iso.close()


def test_isolates_created_at_once_in_a_fresh_process():
    # V8 crashed (FATAL partition_address_space) when the first isolates of a process were
    # created concurrently; each run needs a fresh process, so run a few.
    import subprocess
    import sys

    code = (
        "import sys, threading; sys.path.insert(0, %r)\n"
        "from jsapi.bridge import Isolate\n"
        "b = threading.Barrier(12); out = []\n"
        "def w():\n"
        "    b.wait(); i = Isolate(lambda t: (True, t)); out.append(i.eval(\"__bridge.call('ok')[1]\")); i.close()\n"
        "ts = [threading.Thread(target=w) for _ in range(12)]\n"
        "[t.start() for t in ts]; [t.join() for t in ts]\n"
        "print(out.count('ok'))\n"
    ) % str(Path(__file__).resolve().parent.parent)
    for _ in range(4):
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
        assert r.returncode == 0 and r.stdout.strip() == "12", r.stderr[-2000:]
