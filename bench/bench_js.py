"""JavaScript runtime figures: host-call round trip, isolate start time and memory, handlers/s.

    .venv/bin/python bench/bench_js.py

Host calls: a raw bridge echo, a script-thread global (getSystemProperty, JSON both ways) and
an event-loop global (agents(), hops to the engine's loop thread and back). Handlers: flow
records through setFlowHandler (batched dispatch), single dispatches (JS callbacks, the path of
interval ticks and HTTP requests) and HTTP requests end to end through aiohttp.
"""

from __future__ import annotations

import concurrent.futures
import os
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from conftest import RunningEngine  # noqa: E402
from jsapi.bridge import Isolate  # noqa: E402
from jsapi.registry import register_global  # noqa: E402


def rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def per_call_us(iso: Isolate, js_call: str, n: int) -> float:
    iso_time = iso.eval(
        f"var t0 = Date.now(); for (var i = 0; i < {n}; i++) {js_call}; Date.now() - t0"
    )
    return iso_time * 1000.0 / n


def bench_bridge() -> None:
    iso = Isolate(lambda text: (True, text))
    iso.eval("__bridge.call('warm')")
    best = min(per_call_us(iso, "__bridge.call('[1,\"abc\"]')", 50_000) for _ in range(3))
    print(f"host call, raw bridge echo:            {best:6.1f} us")
    iso.close()


def bench_isolates() -> None:
    starts = []
    base = rss()
    isos = []
    for _ in range(20):
        t0 = time.perf_counter()
        isos.append(Isolate(lambda text: (True, text)))
        starts.append((time.perf_counter() - t0) * 1000)
    grown = (rss() - base) / len(isos)
    stats = [i.heap_stats() for i in isos]
    heap = statistics.mean(h["used_heap_size"] for h in stats)
    phys = statistics.mean(h["total_physical_size"] for h in stats)
    for i in isos:
        i.close()
    print(f"isolate start (bare):                  {statistics.median(starts):6.1f} ms median")
    print(
        f"isolate memory:                        {grown / 2**20:6.1f} MB RSS each, V8 heap {heap / 2**20:.1f} MB used"
        f" / {phys / 2**20:.1f} MB physical"
    )


def main() -> None:
    bench_bridge()
    bench_isolates()
    home = Path(tempfile.mkdtemp(prefix="bench-js-"))
    app = home / "apps" / "bench" / "scripts"
    app.mkdir(parents=True)
    done = threading.Event()
    box: dict = {}
    register_global("benchDone", lambda s: done.set())
    register_global("benchResult", lambda s, v: box.__setitem__("v", v))
    register_global("benchCb", lambda s, fn: box.__setitem__("cb", fn), callbacks=True)
    (app / "b.js").write_text("""
var seen = 0, target = 0;
function setTarget(n) { seen = 0; target = n; }
setFlowHandler(function (rec) { if (++seen === target) benchDone(); });
setHttpHandler(function (req) { return {ok: true, n: seen}; });
function hostLoop(n, call) { var t0 = Date.now(); for (var i = 0; i < n; i++) call(); return Date.now() - t0; }
""")
    n_scripts = 10
    for k in range(n_scripts):
        (app / f"idle{k}.js").write_text("var x = 0; setIntervalHandler(function(){ x++; }, 60);\n")
    t0 = time.perf_counter()
    eng = RunningEngine({"bench.prop": "v"}, home=home).start()
    rt = eng.engine.subsystems["runtime"]
    eng.wait_for(lambda: all(s.started for s in rt.scripts.values()), 60)
    print(
        f"engine start with {n_scripts + 1} scripts:          {(time.perf_counter() - t0) * 1000:6.0f} ms"
    )
    script = rt.scripts["bench~b.js"]

    results = {}

    def host_bench(name, call, n):
        box.pop("v", None)
        done.clear()
        script.submit_eval(
            f"benchResult(hostLoop({n}, function () {{ return {call}; }})); benchDone();"
        )
        done.wait(120)
        results[name] = box["v"] * 1000.0 / n

    host_bench("script thread", "getSystemProperty('bench.prop')", 50_000)
    host_bench("event loop", "agents()", 10_000)
    print(
        f"host call, getSystemProperty():        {results['script thread']:6.1f} us (script thread)"
    )
    print(
        f"host call, agents():                   {results['event loop']:6.1f} us (hop to event loop)"
    )

    # the same while the engine ingests sFlow as fast as this process can send it
    from engine.sflow.gen import Scenario, TrafficGenerator

    datagrams = TrafficGenerator(Scenario(agents=4, samples_per_second=2000, seed=1)).step(2.0)
    stop = threading.Event()

    def blast():
        while not stop.is_set():
            eng.send(datagrams)

    sender = threading.Thread(target=blast, daemon=True)
    before = eng.engine.stats.datagrams
    t0 = time.perf_counter()
    sender.start()
    host_bench("script thread", "getSystemProperty('bench.prop')", 5_000)
    host_bench("event loop", "agents()", 1_000)
    stop.set()
    sender.join()
    rate = (eng.engine.stats.datagrams - before) / (time.perf_counter() - t0)
    print(
        f"  while ingesting {rate:8.0f} datagrams/s: getSystemProperty() {results['script thread']:.1f} us, "
        f"agents() {results['event loop']:.1f} us"
    )

    # flow records through setFlowHandler: batched dispatch. The queue is filled while the
    # script thread is held back, so this measures the handler side alone.
    n = 10_000
    record = {
        "flowID": 1,
        "name": "x",
        "flowKeys": "10.0.0.1,10.0.0.2",
        "value": 1234.5,
        "start": 0,
        "end": 1,
        "agent": "10.0.0.254",
        "dataSource": "3",
    }
    done.clear()
    script.submit_eval(f"setTarget({n})")
    time.sleep(0.2)
    with script._cond:
        for _ in range(n):
            script._flows.append(record)
        t0 = time.perf_counter()
        script._cond.notify()
    done.wait(120)
    dt = time.perf_counter() - t0
    print(f"flow handler calls:                    {n / dt:8.0f} /s")

    # single dispatches: JS callbacks (same path as interval ticks and HTTP requests)
    from jsapi.script import JSCallback

    done.clear()
    script.submit_eval("var k = 0; benchCb(function () { if (++k === 5000) benchDone(); });")
    while "cb" not in box:
        time.sleep(0.01)
    cb: JSCallback = box["cb"]
    t0 = time.perf_counter()
    for _ in range(5000):
        cb()
    done.wait(120)
    print(f"single handler dispatches:             {5000 / (time.perf_counter() - t0):8.0f} /s")

    # HTTP requests end to end (4 clients)
    url = eng.http_url + "/app/bench/scripts/b.js/json"
    m = 2000

    def hit(_):
        with urllib.request.urlopen(url, timeout=10) as r:
            r.read()

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        list(pool.map(hit, range(50)))
        t0 = time.perf_counter()
        list(pool.map(hit, range(m)))
    print(f"HTTP handler requests (4 clients):     {m / (time.perf_counter() - t0):8.0f} /s")

    # full scripts (isolate + prelude + thread): start time and memory each
    extra = home / "extra"
    extra.mkdir()
    base = rss()
    t0 = time.perf_counter()
    added = []
    for k in range(20):
        f = extra / f"s{k}.js"
        f.write_text(
            "var a = []; for (var i = 0; i < 100; i++) a.push({i: i});\n"
            "setIntervalHandler(function(){ a.length; }, 60);\n"
        )
        added.append(rt.add_script(f"extra{k}.js", f))
    eng.wait_for(lambda: all(s.started for s in added), 60)
    per_ms = (time.perf_counter() - t0) * 1000 / len(added)
    grown = (rss() - base) / len(added)
    stats = [s.isolate.heap_stats() for s in added]
    heap = statistics.mean(h["used_heap_size"] for h in stats)
    phys = statistics.mean(h["total_physical_size"] for h in stats)
    print(f"script start (isolate+prelude+eval):   {per_ms:6.1f} ms each (20 started at once)")
    print(
        f"script memory:                         {grown / 2**20:6.1f} MB RSS each, V8 heap {heap / 2**20:.1f} MB used"
        f" / {phys / 2**20:.1f} MB physical"
    )
    eng.stop()


if __name__ == "__main__":
    main()
