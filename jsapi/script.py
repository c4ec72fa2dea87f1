"""One running script: its V8 isolate, its thread, its handlers and counters.

Every script has one Python thread that owns the isolate: it evaluates the script, then serves
the script's queued work (HTTP requests, flow records, events, callbacks, interval ticks) one
item at a time, so a script's handlers never run concurrently. JavaScript itself runs on the
isolate's own thread (mini-racer's message pump); host calls run there too (see bridge.py).
A slow or stuck script only delays its own queue; the engine and the other scripts go on.
"""

from __future__ import annotations

import collections
import json
import os
import re
import threading
import time
from importlib.resources import files
from pathlib import Path
from typing import Any

from engine import limits, log
from engine.errors import UnknownName
from engine.jsonvalues import finite

from . import rewrite
from .bridge import Isolate, JSError
from .registry import RAISE, JSThrow, RawJSON

PRELUDE = files(__package__).joinpath("prelude.js").read_text(encoding="utf-8")  # package data
BUFFERS = files(__package__).joinpath("buffers.js").read_text(encoding="utf-8")
_FN_MARK = "\u0000fn"
_WRAPGLOBALS = re.compile(r"^\s*//\s*wrapglobals\s*:\s*([A-Za-z_$][\w$]*)", re.M)
_LOCATION = re.compile(r"\(?((?:[^()\s]+)):(\d+):\d+\)?")

MAX_QUEUE = 10000  # flow records / events waiting for one script
MAX_REQUESTS = 200  # HTTP requests waiting for one script
BATCH = 64  # flow records / events per handler dispatch


# one encoder, built once: json.dumps() with options builds a new encoder per call
_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode


def _dumps(obj) -> str:
    try:
        return _encode(obj)
    except (ValueError, TypeError):  # NaN/Infinity or a non-JSON type somewhere: slow path
        return json.dumps(finite(obj), ensure_ascii=False, separators=(",", ":"), default=_default)


def _default(o):
    if isinstance(o, (set, frozenset, tuple)):
        return list(o)
    if hasattr(o, "to_json"):
        return o.to_json()
    return str(o)


class JSCallback:
    """A JS function handed to a host function; calling it queues a call on the script."""

    __slots__ = ("script", "id", "released")

    def __init__(self, script: "Script", cb_id: int):
        self.script = script
        self.id = cb_id
        self.released = False
        script.callbacks_issued += 1

    def __call__(self, *args, release: bool = False) -> bool:
        if self.released:
            return False
        if release:
            self.released = True
        return self.script.submit_callback(self.id, list(args), release)

    def release(self) -> None:
        if not self.released:
            self.released = True
            self.script.submit_release(self.id)


class Script:
    """A script: ``id`` (e.g. ``elb.js`` or ``myapp~top.js``), its file and its state."""

    def __init__(self, runtime, script_id: str, path: Path, display: str, app: str | None):
        self.runtime = runtime
        self.engine = runtime.engine
        self.id = script_id
        self.path = path
        self.display = display  # path as logged, relative to the engine home
        self.app = app
        self.dir = path.parent
        self.alive = False
        self.graceful_exit = False
        self.error: str | None = None
        self.started = False
        self.isolate: Isolate | None = None
        self.specs: list = []
        self.counters = {
            "flowsReceived": 0,
            "flowsLost": 0,
            "eventsReceived": 0,
            "eventsLost": 0,
            "requestsReceived": 0,
            "requestsLost": 0,
            "handlerErrors": 0,
        }
        self.cpu_ms_closed = 0
        self.interval = 0.0
        self._next_tick = 0.0
        self.http_handler = False
        self.callbacks_issued = 0
        self._cond = threading.Condition()
        self._http: collections.deque = collections.deque()
        self._flows: collections.deque = collections.deque()
        self._events: collections.deque = collections.deque()
        self._calls: collections.deque = collections.deque()
        self._stop = False
        self.subscriptions: dict[str, Any] = {}
        # scripts waiting (through this engine's REST API) on the HTTP request this script
        # handles now: its own requests to the engine carry them on (jsapi/globals_http.py)
        self.http_callers: tuple = ()
        self.buffer_overrun = 0  # ArrayBuffer bytes asked for when over script.memory
        self.collect_wanted = False  # buffers.js asked for a full collection after this call
        self.thread = threading.Thread(target=self._run, name=f"script {script_id}", daemon=True)

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> None:
        self.alive = True
        self.thread.start()

    def stop(self) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify()
        iso = self.isolate
        if iso is not None:
            try:
                iso.interrupt()  # a handler still running is cut short: the engine stops
            except Exception:
                pass

    def _run(self) -> None:
        try:
            if self._boot():
                if self._has_work():
                    self._serve()
                else:  # nothing can ever call the script again: end it, freeing its isolate
                    self.alive = False
                    self.graceful_exit = True
        except Exception as exc:  # a bug here must not take the engine down
            self._die(f"{self.display} internal error: {exc!r}")
            log.log.error("script %s failed", self.id, exc_info=exc)
        finally:
            self._shutdown()

    def _boot(self) -> bool:
        rt = self.runtime
        try:
            source = self.path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            self._die(f"{self.display} cannot read script: {exc}")
            return False
        self.isolate = Isolate(
            self._host, buffer_bytes=rt.buffer_bytes, memory_limit=rt.memory_limit
        )
        self.specs = rt.globals_for(self)
        m = _WRAPGLOBALS.search(source)
        config = {
            "names": [s.name for s in self.specs],
            "callbacks": [s.name for s in self.specs if s.callbacks],
            "scriptdir": self.runtime.relative(self.dir),
            "file": self.display,
            "wrapglobals": m.group(1) if m else None,
            "memoryLimit": rt.memory_limit,
        }
        install = (
            f"globalThis.__buffers = (0, eval)({json.dumps(BUFFERS)} + "
            f"'\\n//# sourceURL=flowrt/buffers.js'); "
            f"(0, eval)({json.dumps(PRELUDE)} + '\\n//# sourceURL=flowrt/prelude.js')"
            f"(globalThis, {json.dumps(config)}); 0"
        )
        self.isolate.eval(install, timeout=rt.call_timeout)
        try:
            self.isolate.eval(rewrite.rewrite(source), timeout=rt.call_timeout)
        except JSError as exc:
            if self.alive and not self._stop:
                self._die(self.describe_js_error(exc))
            return False
        if self.buffer_overrun:  # over script.memory at the top level, the error caught
            self._die(self.describe_js_error(JSError("terminated", "memory")))
        if not self.alive:
            return False
        self.started = True
        log.info(f"{self.display} started")
        return True

    def _has_work(self) -> bool:
        """Handlers, subscriptions or JS callbacks held by other subsystems keep a script."""
        with self._cond:
            return bool(
                self.interval > 0
                or self.http_handler
                or self.subscriptions
                or self.callbacks_issued
                or self._calls
                or self._http
            )

    def _die(self, message: str, graceful: bool = False) -> None:
        if not self.alive:
            return
        self.alive = False
        self.graceful_exit = graceful
        if not graceful:
            self.error = message
            log.severe(message)
        self._unsubscribe_all()
        with self._cond:
            pending = list(self._http)
            self._http.clear()
            self._flows.clear()
            self._events.clear()
        for _req, fut, _ in pending:
            fut.set({"status": 503, "type": "text", "body": "script not running"})

    def _shutdown(self) -> None:
        self._unsubscribe_all()
        with self._cond:
            pending = list(self._http)
            self._http.clear()
        for _req, fut, _ in pending:
            fut.set({"status": 503, "type": "text", "body": "script not running"})
        if self.alive and self._stop:
            self.alive = False
            self.graceful_exit = True
        iso = self.isolate
        if iso is not None:
            self.cpu_ms_closed = self.cpu_ms()
            self.isolate = None
            try:
                iso.close()
            except Exception as exc:
                log.fine(f"closing isolate of {self.id}: {exc!r}")

    def _unsubscribe_all(self) -> None:
        subs, self.subscriptions = self.subscriptions, {}
        for unsub in subs.values():
            try:
                self.runtime.on_loop(unsub)
            except Exception:
                pass

    # -- work queue ------------------------------------------------------------------------
    def _serve(self) -> None:
        while True:
            with self._cond:
                while True:
                    if self._stop or not self.alive:
                        return
                    if self._calls or self._http or self._events or self._flows:
                        break
                    if self.interval > 0:
                        wait = self._next_tick - time.time()
                        if wait <= 0:
                            break
                        self._cond.wait(wait)
                    else:
                        self._cond.wait()
                calls = list(self._calls)
                self._calls.clear()
                http = self._http.popleft() if self._http else None
                events = [self._events.popleft() for _ in range(min(BATCH, len(self._events)))]
                flows = [self._flows.popleft() for _ in range(min(BATCH, len(self._flows)))]
            for call in calls:
                self._dispatch(call)
            if http is not None:
                req, fut, self.http_callers = http
                try:
                    result = self._dispatch(["http", req])
                finally:
                    self.http_callers = ()
                fut.set(result or {"status": 503, "type": "text", "body": "script not running"})
            if events:
                self._dispatch(["events", events])
            if flows:
                self._dispatch(["flows", flows])
            now = time.time()
            if self.interval > 0 and now >= self._next_tick and self.alive:
                self._next_tick += self.interval
                if self._next_tick <= now:  # fell behind: skip the missed ticks
                    self._next_tick = now + self.interval
                self._dispatch(["interval", int(now * 1000)])

    def _dispatch(self, message: list):
        """Run one dispatch in JS; returns the HTTP result for 'http' messages."""
        iso = self.isolate
        if iso is None or not self.alive:
            return None
        try:
            text = _dumps(message)
            try:
                result = iso.post_and_eval(
                    text, "__rt.dispatch()", timeout=self.runtime.call_timeout
                )
            finally:
                if self.collect_wanted:
                    self.collect_wanted = False
                    iso.collect()
        except JSError as exc:
            if not self._stop:  # interrupted by an engine stop is no error
                self._die(self.describe_js_error(exc))
            return {"status": 503, "type": "text", "body": "script stopped"}
        if self.buffer_overrun:
            # over script.memory: the call was to be terminated but ended first (a handler
            # that caught the RangeError and returned); the script stops all the same
            self._die(self.describe_js_error(JSError("terminated", "memory")))
            return {"status": 503, "type": "text", "body": "script stopped"}
        if message[0] == "http":
            res = json.loads(result) if isinstance(result, str) and result else None
            if not isinstance(res, dict):
                self._handler_error(res if isinstance(res, list) else [], "HTTP handler")
                return {"status": 500, "type": "text", "body": "script failed"}
            if "error" in res:
                self._handler_error([res.pop("error")], "HTTP handler")
            return res
        if result:
            self._handler_error(json.loads(result), f"{message[0]} handler")
        return None

    def _handler_error(self, errors: list, where: str) -> None:
        # a handler failing on every tick must not flood the log: the first 10, then 1 in 100
        for err in errors:
            self.counters["handlerErrors"] += 1
            n = self.counters["handlerErrors"]
            if n > 10 and n % 100:
                continue
            log.warning(
                f"{self.display} {where}: {self._format_error(err.get('message', ''), err.get('stack', ''))}"
            )

    # -- submissions (any thread) ----------------------------------------------------------
    def submit_http(self, req: dict, fut, callers: tuple = ()) -> bool:
        """Queue an HTTP request for the script's handler; ``callers``: the scripts whose
        requests to this engine are waiting on this one."""
        with self._cond:
            self.counters["requestsReceived"] += 1
            if not self.alive or len(self._http) >= MAX_REQUESTS:
                self.counters["requestsLost"] += 1
                return False
            self._http.append((req, fut, tuple(callers)))
            self._cond.notify()
        return True

    def deliver_flow(self, record) -> None:
        with self._cond:
            self.counters["flowsReceived"] += 1
            if len(self._flows) >= MAX_QUEUE:
                self.counters["flowsLost"] += 1
                return
            self._flows.append(record)
            self._cond.notify()

    def deliver_event(self, event) -> None:
        with self._cond:
            self.counters["eventsReceived"] += 1
            if len(self._events) >= MAX_QUEUE:
                self.counters["eventsLost"] += 1
                return
            self._events.append(event)
            self._cond.notify()

    def submit_callback(self, cb_id: int, args: list, release: bool) -> bool:
        with self._cond:
            if not self.alive:
                return False
            self._calls.append(["cb", cb_id, args, release])
            self._cond.notify()
        return True

    def submit_release(self, cb_id: int) -> None:
        with self._cond:
            if self.alive:
                self._calls.append(["release", [cb_id]])
                self._cond.notify()

    def submit_eval(self, code: str) -> None:
        """Evaluate code in the script's global scope (tests and tools)."""
        with self._cond:
            self._calls.append(["eval", code])
            self._cond.notify()

    def set_interval(self, seconds: float) -> None:
        with self._cond:
            self.interval = max(0.0, seconds)
            if self.interval:
                self._next_tick = time.time() + self.interval
            self._cond.notify()

    # -- host calls (isolate thread) -------------------------------------------------------
    def _host(self, text: str) -> tuple[bool, str]:
        try:
            # the engine's JSON rule for REST bodies holds for script arguments too
            fid, args = limits.parse_json(text, wrapped=2)
            spec = self.specs[fid]
            if spec.callbacks:
                args = [self._callbacks_in(a) for a in args]
            try:
                if spec.loop:
                    result = self.runtime.on_loop(spec.fn, self, *args)
                else:
                    result = spec.fn(self, *args)
            except UnknownName:
                # the one JS mapping of the engine's "no such name": the global's declared
                # answer (sFlow-RT's [] or null), else an Error as for any other exception
                if spec.unknown is RAISE:
                    raise
                result = spec.unknown
        except JSThrow as exc:
            return False, _dumps({"throw": exc.value})
        except Exception as exc:
            name = getattr(exc, "js_name", None) or (
                "TypeError" if isinstance(exc, TypeError) else "Error"
            )
            message = str(exc)
            # bounded as REST bounds its reasons: messages may quote megabytes of input
            return False, _dumps({"name": name, "message": limits.reason(message)})
        if result is None:
            return True, ""
        if isinstance(result, RawJSON):
            return True, result.text
        return True, _dumps(result)

    def _callbacks_in(self, value):
        if isinstance(value, dict):
            if len(value) == 1 and _FN_MARK in value:
                return JSCallback(self, value[_FN_MARK])
            return {k: self._callbacks_in(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self._callbacks_in(v) for v in value]
        return value

    # -- errors and status -----------------------------------------------------------------
    def describe_js_error(self, exc: JSError) -> str:
        if exc.kind in ("timeout", "terminated") and not self.buffer_overrun:
            return f"{self.display} stopped: exceeded the {self.runtime.call_timeout:g}s time limit per call"
        if self.buffer_overrun:
            return (
                f"{self.display} stopped: its ArrayBuffer data would reach "
                f"{self.buffer_overrun >> 20} MB, over the {self.runtime.memory_limit >> 20} MB "
                "limit (script.memory)"
            )
        if exc.kind == "memory":
            return f"{self.display} stopped: exceeded the {self.runtime.memory_limit >> 20} MB heap limit"
        first, _, rest = exc.message.partition("\n")
        # mini-racer: "<anonymous>:LINE: Error text" then source line, caret and stack
        m = re.match(r"<anonymous>:(-?\d+): (.*)", first)
        if m:
            line, msg = m.group(1), m.group(2)
            stack_loc = self._location(rest)
            if stack_loc and not stack_loc[0] == self.display:
                return f"{self.display} {stack_loc[0]}#{stack_loc[1]} {msg}"
            return f"{self.display} {self.display}#{line} {msg}"
        return f"{self.display} {self._format_error(first, rest)}"

    def _location(self, stack: str):
        for m in _LOCATION.finditer(stack or ""):
            name = m.group(1)
            if name.startswith("flowrt/") or name in ("eval", "native"):
                continue
            if name == "<anonymous>":
                name = self.display
            return name, m.group(2)
        return None

    def _format_error(self, message: str, stack: str) -> str:
        loc = self._location(stack)
        if loc:
            return f"{loc[0]}#{loc[1]} {message}"
        return message

    def cpu_ms(self) -> int:
        iso = self.isolate
        if iso is None or iso.thread_native_id is None:
            return self.cpu_ms_closed
        try:
            with open(f"/proc/self/task/{iso.thread_native_id}/stat") as f:
                fields = f.read().rpartition(")")[2].split()
            ticks = int(fields[11]) + int(fields[12])
            return int(ticks * 1000 / os.sysconf("SC_CLK_TCK"))
        except (OSError, ValueError, IndexError):
            return self.cpu_ms_closed

    def status_json(self) -> dict:
        out: dict = {
            "alive": self.alive,
            "gracefulExit": self.graceful_exit,
            "cpuMs": self.cpu_ms(),
        }
        if self.error:
            out["error"] = self.error
        for k in (
            "flowsReceived",
            "flowsLost",
            "eventsReceived",
            "eventsLost",
            "requestsReceived",
            "requestsLost",
        ):
            out[k] = self.counters[k]
        return out

    @property
    def ok(self) -> bool:
        """Running, not started yet, or ended without an error."""
        return self.error is None


class HttpResult:
    """Carries a script's HTTP reply from the script thread to the event loop."""

    __slots__ = ("loop", "future")

    def __init__(self, loop, future):
        self.loop = loop
        self.future = future

    def set(self, result) -> None:
        def done():
            if not self.future.done():
                self.future.set_result(result)

        try:
            self.loop.call_soon_threadsafe(done)
        except RuntimeError:
            pass
