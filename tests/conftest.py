"""Shared pytest fixtures. Engineers append fixtures here; keep each one self-contained.

- ``free_port(kind)``: a currently free TCP or UDP port on 127.0.0.1.
- ``make_engine(props=None, home=None, **kw)``: start an in-process engine (core + REST + UDP
  collector) on free ports in a background event-loop thread, home = the test's tmp_path unless
  given; returns a ``RunningEngine``. Stopped at teardown. ``kw`` names use ``__`` for ``.``.
- ``running_engine``: ``make_engine()`` with default properties.

A RunningEngine has .engine, .http_url, .sflow_port, .send(datagram[s]), .send_paced(datagrams)
(flow control against the engine's ingest count, for bulk sends), .get_json(path),
.request(method, path, body=None) -> (status, JSON or None), .wait_for(predicate),
.wait_datagrams(n) and .call(fn) (run fn in the engine's loop thread).

Under CI (CI=1/true/yes) a skipped test is reported failed: see pytest_runtest_makereport.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from paths import TESTDATA
from waiting import wait_until

REPO = Path(__file__).resolve().parent.parent

# Every engine the tests start, in process or as a process (./start.sh, engine.main), runs with
# this many sFlow workers (docs/ingest.md, "Workers"): 1, the in-process engine, unless the CI
# lane sets FLOWRT_WORKERS=2. Tests that compare 1 and N workers set sflow.workers themselves.
os.environ.setdefault("FLOWRT_WORKERS", "1")
WORKERS = int(os.environ["FLOWRT_WORKERS"])
TESTDATA = TESTDATA
SFLOW_TESTDATA = TESTDATA / "sflow"


def free_port(kind: str = "tcp") -> int:
    """A port that was free a moment ago (bind port 0, read it back, close)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM if kind == "tcp" else socket.SOCK_DGRAM)
    try:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
    finally:
        sock.close()


class RunningEngine:
    """An engine serving REST on 127.0.0.1:http_port and sFlow on UDP sflow_port."""

    def __init__(self, props: dict | None = None, home: Path | str | None = None):
        self.props = dict(props or {})
        self.home = home or REPO
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(
            target=self.loop.run_forever, name="engine-loop", daemon=True
        )
        self.engine = None
        self.http_port = 0
        self.sflow_port = 0
        self._sock = None

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> "RunningEngine":
        self.thread.start()
        try:
            asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(30)
        except BaseException:
            self.engine = None  # half-started: only the loop thread to tear down
            self.stop()
            raise
        return self

    async def _start(self):
        from engine import collector, props
        from engine.core import Engine
        from engine.http_server import HttpServer

        values = dict(props.DEFAULTS)
        values.update(
            {
                "http.hostname": "127.0.0.1",
                "sflow.hostname": "127.0.0.1",
                "sflow.port": "0",
                "http.port": "0",
                # tests count every datagram they send: a machine busy enough to keep
                # one queued for a second must not drop it (tests/test_overload.py
                # runs the default)
                "sflow.receiver.maxage": "0",
                # chDB allows one data folder per process: engines record history
                # only in the tests that ask for it (tests/test_history_*.py)
                "history.enabled": "no",
            }
        )
        values.update({k: str(v) for k, v in self.props.items()})
        self.engine = Engine(props.Properties(values), self.home)
        await self.engine.start()
        self.transport, self.sflow_port = await collector.start(self.engine)
        self.server = HttpServer(self.engine)
        self.http_port = await self.server.start("127.0.0.1", 0, reuse_address=False)

    def stop(self) -> None:
        if self.engine is not None:
            asyncio.run_coroutine_threadsafe(self._stop(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()
        if self._sock is not None:
            self._sock.close()

    async def _stop(self):
        self.transport.close()
        await self.server.stop()
        await self.engine.stop()

    # -- helpers -----------------------------------------------------------------------------
    @property
    def http_url(self) -> str:
        scheme = "https" if self.engine is not None and self.engine.http_tls else "http"
        return f"{scheme}://127.0.0.1:{self.http_port}"

    def send(self, datagrams, pace: float = 0.0) -> int:
        """Send one datagram (bytes) or an iterable of them over real UDP; returns the count."""
        if self._sock is None:
            self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        if isinstance(datagrams, (bytes, bytearray, memoryview)):
            datagrams = [datagrams]
        n = 0
        for dg in datagrams:
            self._sock.sendto(dg, ("127.0.0.1", self.sflow_port))
            n += 1
            if pace:
                time.sleep(pace)
        return n

    def send_paced(self, datagrams, window: int = 200, timeout: float = 30.0) -> int:
        """Send many datagrams without overrunning the engine's socket buffer: never more than
        `window` ahead of what the engine has ingested. Returns the count sent."""
        if self._sock is None:
            self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        stats = self.engine.stats
        base = stats.datagrams
        deadline = time.monotonic() + timeout
        n = 0
        for dg in datagrams:
            while n - (stats.datagrams - base) >= window:
                if time.monotonic() > deadline:
                    raise AssertionError("engine stopped ingesting")
                time.sleep(0.001)
            self._sock.sendto(dg, ("127.0.0.1", self.sflow_port))
            n += 1
        return n

    def get_json(self, path: str):
        with urllib.request.urlopen(self.http_url + path, timeout=10) as reply:
            return json.loads(reply.read())

    def request(self, method: str, path: str, body=None):
        """One REST call: (status, decoded JSON reply or None when the reply is empty). Error
        statuses are returned, not raised. A bytes body is sent as is, anything else as JSON."""
        data = (
            None
            if body is None
            else (body if isinstance(body, bytes) else json.dumps(body).encode())
        )
        req = urllib.request.Request(
            self.http_url + path,
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(req, timeout=30) as reply:
                raw = reply.read()
                return reply.status, (json.loads(raw) if raw else None)
        except urllib.error.HTTPError as e:
            raw = e.read()
            return e.code, (json.loads(raw) if raw else None)

    def call(self, fn, *args):
        """Run fn(*args) in the engine's event-loop thread and return its result."""

        async def run():
            return fn(*args)

        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(30)

    def wait_for(self, predicate, timeout: float = 10.0, interval: float = 0.02):
        """Poll predicate() until it returns something truthy; returns that value
        (waiting.wait_until)."""
        return wait_until(predicate, timeout, interval)

    def wait_datagrams(self, n: int, timeout: float = 10.0) -> int:
        """Wait until the engine has received at least n datagrams in total."""
        self.wait_for(lambda: self.engine.stats.datagrams >= n, timeout)
        return self.engine.stats.datagrams


@pytest.fixture
def make_engine(tmp_path):
    started: list[RunningEngine] = []

    def factory(props: dict | None = None, home: Path | str | None = None, **kw) -> RunningEngine:
        merged = dict(props or {})
        merged.update({k.replace("__", "."): v for k, v in kw.items()})  # sflow__port=... form
        # a fresh home per engine: apps/ and store/ of the checkout stay untouched
        eng = RunningEngine(merged, home or tmp_path).start()
        started.append(eng)
        return eng

    yield factory
    for eng in started:
        eng.stop()


@pytest.fixture
def running_engine(make_engine):
    return make_engine()


# -- skip policy -------------------------------------------------------------------------------
# .ci/run installs every optional tool the tests use, so under CI a skip would hide a feature
# that silently stopped being tested: it is reported as a failure instead. The one exception is
# the pure-Python lane (FLOWRT_NO_ACCEL set), which skips the C-only tests on purpose.
CI_SKIP_FAILED = "skipped under CI: "


def _under_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if not rep.skipped or hasattr(rep, "wasxfail") or not _under_ci():
        return
    longrepr = rep.longrepr
    reason = longrepr[2] if isinstance(longrepr, tuple) and len(longrepr) == 3 else str(longrepr)
    reason = reason.removeprefix("Skipped: ")
    if os.environ.get("FLOWRT_NO_ACCEL", "") not in ("", "0") and "FLOWRT_NO_ACCEL" in reason:
        return
    rep.outcome = "failed"
    rep.longrepr = CI_SKIP_FAILED + reason


def pytest_report_teststatus(report, config):
    # a skip turned failure in setup (skipif markers, skipping fixtures) would read ERROR
    if report.when == "setup" and report.failed and str(report.longrepr).startswith(CI_SKIP_FAILED):
        return "failed", "F", "FAILED"


# -- parallel workers --------------------------------------------------------------------------
# ./test.sh runs the suite in pytest-xdist worker processes, whole files to a worker (pyproject
# addopts, docs/testing.md). A test that must not share the machine with other tests (rates,
# throughput, timing against the wall clock) is marked `alone`: it waits until the tests
# running on the other workers have finished, and none starts until it has. Two file locks in
# the run's shared temp folder do it: every test holds the gate's lock shared while it runs;
# an `alone` test takes it exclusively. The turnstile makes a waiting `alone` test go next
# (without it a steady stream of shared holders could keep it waiting until the run ends).


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "alone: run with no other test running at the same time "
        "(tests/conftest.py, docs/testing.md)",
    )


# Files whose tests take longest (tens of seconds; most of it waiting, some of it CPU-bound
# hypothesis runs): under workers they are handed out first, so that no worker is still busy
# with one of them while the others have run out of files. Only an ordering hint: a stale
# entry costs some seconds, never a failure. A single-process run keeps file order.
SLOW_FILES = (
    "test_accel_equivalence.py",
    "test_release.py",
    "test_ingest_batch.py",
    "test_decode_fuzz.py",
    "test_accel_walk.py",
    "test_seed_elb.py",
    "test_web_pages.py",
    "test_history_clickhouse.py",
    "test_cli.py",
    "test_flows_fastpath.py",
    "test_seed_swarmmetrics.py",
    "test_http_security.py",
    "test_workers.py",
)


def pytest_collection_modifyitems(config, items):
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        return
    rank = {name: i for i, name in enumerate(SLOW_FILES)}
    # stable: a file's tests keep their order, the other files theirs
    items.sort(key=lambda item: rank.get(item.path.name, len(SLOW_FILES)))


def _run_locks(item) -> tuple[Path, Path] | None:
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        return None  # one process: tests already run one at a time
    # every worker's basetemp is <run's basetemp>/popen-gwN: the parent is shared by the run
    root = item.config._tmp_path_factory.getbasetemp().parent
    return root / "alone.turnstile", root / "alone.gate"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    locks = _run_locks(item)
    if locks is None:
        yield
        return
    import fcntl

    alone = item.get_closest_marker("alone") is not None
    with open(locks[0], "a") as turnstile, open(locks[1], "a") as gate:
        fcntl.flock(turnstile, fcntl.LOCK_EX)
        try:
            fcntl.flock(gate, fcntl.LOCK_EX if alone else fcntl.LOCK_SH)
        finally:
            if not alone:
                fcntl.flock(turnstile, fcntl.LOCK_UN)
        try:
            yield
        finally:
            fcntl.flock(gate, fcntl.LOCK_UN)
            if alone:
                fcntl.flock(turnstile, fcntl.LOCK_UN)
