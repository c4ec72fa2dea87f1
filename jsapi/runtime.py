"""The script runtime subsystem: finds scripts and apps, runs them, answers their status.

``attach(engine)`` returns a ``Runtime`` (``engine.subsystems["runtime"]``). Scripts:

* each file in the comma list ``script.file`` (relative to the engine home or absolute) runs as
  script ``<file name>`` (e.g. ``elb.js``);
* each ``apps/<NAME>/scripts/*.js`` (top level only; ``app/<NAME>`` too, sFlow-RT's folder
  name) runs as script ``<NAME>~<file>.js``.

Properties: ``script.timeout`` (seconds one handler call or the script's top level may run,
time in host calls included; default 20), ``script.memory`` (heap limit per script in
MB, default 256), ``script.store`` (folder of persistent stores, default ``store``),
``script.http.timeout`` (seconds for http()/http2()/httpAsync(), default 10).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import time
from pathlib import Path

from engine import log

from . import registry
from .script import HttpResult, Script

APP_FOLDERS = ("apps", "app")


def attach(engine) -> "Runtime":
    from . import globals_core, globals_engine, globals_http  # noqa: F401  (register globals)

    rt = Runtime(engine)
    engine.status_ok = rt.status_ok
    return rt


class Runtime:
    def __init__(self, engine):
        self.engine = engine
        props = engine.props
        self.home = Path(getattr(engine, "home", ".")).resolve()
        self.call_timeout = max(0.05, props.get_float("script.timeout", 20.0))
        self.memory_limit = max(16, props.get_int("script.memory", 256)) << 20
        self.buffer_bytes = 1 << 20
        self.http_timeout = max(0.1, props.get_float("script.http.timeout", 10.0))
        self.store_dir = self.home / (props.get_str("script.store", "store") or "store")
        self.loop: asyncio.AbstractEventLoop | None = None
        self.loop_thread: int | None = None
        self.scripts: dict[str, Script] = {}
        self.apps: dict[str, dict] = {}
        self.shared: dict[str, str] = {}
        self.shared_lock = threading.Lock()
        self.executor = concurrent.futures.ThreadPoolExecutor(4, thread_name_prefix="script-http")
        from .globals_http import OpenSockets

        self.http_sockets = OpenSockets()  # script HTTP requests in flight, ended by stop()
        self._discover()

    # -- discovery -------------------------------------------------------------------------
    def _discover(self) -> None:
        for item in (self.engine.props.get_str("script.file", "") or "").split(","):
            item = item.strip()
            if not item:
                continue
            path = Path(item)
            path = path if path.is_absolute() else self.home / path
            sid = path.name
            if sid in self.scripts:
                sid = self.relative(path)
            self.scripts[sid] = Script(self, sid, path, self.relative(path), None)
        for folder in APP_FOLDERS:
            base = self.home / folder
            if not base.is_dir():
                continue
            for app_dir in sorted(p for p in base.iterdir() if p.is_dir()):
                name = app_dir.name
                if name in self.apps or name.startswith("."):
                    continue
                ids = []
                scripts_dir = app_dir / "scripts"
                if scripts_dir.is_dir():
                    for f in sorted(scripts_dir.glob("*.js")):
                        if f.is_file():
                            sid = f"{name}~{f.name}"
                            self.scripts[sid] = Script(self, sid, f, self.relative(f), name)
                            ids.append(sid)
                self.apps[name] = {
                    "dir": app_dir,
                    "scripts": ids,
                    "html": (app_dir / "html").is_dir(),
                }

    def relative(self, path: Path) -> str:
        try:
            return str(Path(path).resolve().relative_to(self.home))
        except ValueError:
            return str(path)

    def globals_for(self, script: Script) -> list:
        return registry.available_globals(self.engine)

    # -- lifecycle -------------------------------------------------------------------------
    async def start(self) -> None:
        from .store import remove_leftovers

        removed = remove_leftovers(self.store_dir)
        if removed:
            log.info(f"store: removed {removed} unfinished write(s) left by a crash")
        self.loop = asyncio.get_running_loop()
        self.loop_thread = threading.get_ident()
        self._starter = self.loop.create_task(self._start_scripts())

    async def _start_scripts(self) -> None:
        # As in sFlow-RT, scripts start once the HTTP port listens, so a script's top level
        # can already reach flowrt's REST API (relative URLs in http()).
        for _ in range(500):
            if getattr(self.engine, "http_port", None):
                break
            await asyncio.sleep(0.01)
        for script in self.scripts.values():
            if not script.thread.is_alive() and not script.started:
                script.start()

    async def stop(self) -> None:
        starter = getattr(self, "_starter", None)
        if starter is not None and not starter.done():
            starter.cancel()
        for script in self.scripts.values():
            script.stop()
        self.http_sockets.close_all()  # http() calls waiting on a server return now

        def join_all():
            deadline = time.monotonic() + 5.0
            for script in self.scripts.values():
                if script.thread.is_alive():
                    script.thread.join(max(0.0, deadline - time.monotonic()))

        await asyncio.get_running_loop().run_in_executor(None, join_all)
        self.executor.shutdown(wait=False, cancel_futures=True)
        self.loop = None

    def add_script(self, script_id: str, path: Path, app: str | None = None) -> Script:
        """Start one more script (tests and tools); the id must be new."""
        if script_id in self.scripts:
            raise ValueError(f"script {script_id} exists")
        script = Script(self, script_id, Path(path).resolve(), self.relative(path), app)
        self.scripts[script_id] = script
        script.start()
        return script

    # -- status ----------------------------------------------------------------------------
    def status_ok(self, app: str | None = None) -> bool:
        scripts = (
            self.scripts.values()
            if app is None
            else (self.scripts[s] for s in self.apps.get(app, {}).get("scripts", []))
        )
        return all(s.ok for s in scripts)

    def scripts_json(self) -> dict:
        return {sid: s.status_json() for sid, s in self.scripts.items()}

    def apps_json(self) -> dict:
        return {
            name: ({"entry": "/html/"} if app["html"] else {}) | {"scripts": list(app["scripts"])}
            for name, app in self.apps.items()
        }

    # -- threads ---------------------------------------------------------------------------
    def on_loop(self, fn, *args):
        """Run fn(*args) on the engine's event-loop thread and wait for it (script threads)."""
        loop = self.loop
        if loop is None or threading.get_ident() == self.loop_thread or loop.is_closed():
            return fn(*args)
        fut: concurrent.futures.Future = concurrent.futures.Future()

        def run():
            try:
                fut.set_result(fn(*args))
            except BaseException as exc:
                fut.set_exception(exc)

        try:
            loop.call_soon_threadsafe(run)
        except RuntimeError:  # loop closed meanwhile
            return fn(*args)
        try:
            return fut.result(max(30.0, self.call_timeout * 2))
        except concurrent.futures.TimeoutError:
            raise TimeoutError("engine event loop did not answer (shutting down?)") from None

    async def http(self, script: Script, req: dict, callers: tuple = ()) -> dict:
        loop = asyncio.get_running_loop()
        fut = loop.create_future()
        if not script.alive or not script.submit_http(req, HttpResult(loop, fut), callers):
            return {"status": 503, "type": "text", "body": "script not running"}
        return await fut
