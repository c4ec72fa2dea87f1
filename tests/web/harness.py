"""Shared pieces for the web tests: a running engine with synthetic traffic and the test app
pages served at /app/webtest/html/, and a synchronous wrapper around the CDP browser."""

from __future__ import annotations

import asyncio
import importlib.util
import threading
from pathlib import Path

from aiohttp import web

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
ARTIFACTS = REPO / "test-artifacts" / "web"


def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


cdp = _load("flowrt_test_cdp", HERE / "cdp.py")


def add_test_pages(app: web.Application) -> None:
    """Serve tests/web/widgets as an app page, unless the engine already serves that path."""
    root = (HERE / "widgets").resolve()

    async def page(request: web.Request) -> web.StreamResponse:
        target = (root / request.match_info["path"]).resolve()
        if not target.is_relative_to(root) or not target.is_file():
            raise web.HTTPNotFound()
        return web.FileResponse(target)

    app.router.add_get("/app/webtest/html/{path:.*}", page)


class Traffic:
    """Synthetic sFlow from the project's generator, paced in a thread until stopped."""

    def __init__(self, send, agents: int = 3, samples_per_second: float = 60.0, step: float = 0.25):
        from engine.sflow.gen import Scenario, TrafficGenerator

        self.gen = TrafficGenerator(
            Scenario(agents=agents, samples_per_second=samples_per_second, flows=30, seed=11)
        )
        self.send = send
        self.step = step
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self._run, name="web-traffic", daemon=True)

    def _run(self):
        while not self.stop_event.is_set():
            self.send(self.gen.step(self.step))
            self.stop_event.wait(self.step)

    def start(self) -> "Traffic":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.stop_event.set()
        self.thread.join(10)


class SyncBrowser:
    """Runs the async CDP client on a private event loop, one call at a time."""

    def __init__(self, executable: str):
        self.loop = asyncio.new_event_loop()
        self.browser = self.run(cdp.Browser(executable).start())

    def run(self, coro):
        return self.loop.run_until_complete(coro)

    def page(self, url: str, timeout: float = 30.0):
        page = self.run(self.browser.new_page())
        self.run(page.goto(url, timeout))
        return SyncPage(self, page)

    def close(self):
        try:
            self.run(self.browser.close())
        finally:
            self.loop.close()


class SyncPage:
    def __init__(self, owner: SyncBrowser, page):
        self.owner = owner
        self.page = page

    @property
    def errors(self):
        return self.page.errors

    @property
    def failed(self):
        return self.page.failed

    def goto(self, url: str):
        return self.owner.run(self.page.goto(url))

    def eval(self, expression: str):
        return self.owner.run(self.page.eval(expression))

    def wait_for(self, expression: str, timeout: float = 20.0):
        return self.owner.run(self.page.wait_for(expression, timeout))

    def sleep(self, seconds: float):
        self.owner.run(asyncio.sleep(seconds))

    def screenshot(self, name: str) -> Path:
        return self.owner.run(self.page.screenshot(ARTIFACTS / f"{name}.png"))

    def close(self):
        self.owner.run(self.page.send("Page.close"))


# JavaScript: share of a canvas's pixels that differ from its most common colour (0 when blank).
CANVAS_INK = """
(function (sel) {
  var c = document.querySelector(sel);
  if (!c || !c.width || !c.height) return 0;
  var d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data, counts = {}, best = 0, n = d.length / 4;
  for (var i = 0; i < d.length; i += 16) {
    var k = d[i] + ',' + d[i + 1] + ',' + d[i + 2] + ',' + d[i + 3];
    counts[k] = (counts[k] || 0) + 1;
    if (counts[k] > best) best = counts[k];
  }
  return 1 - best / (n / 4);
})(%s)
"""


def canvas_ink(page: SyncPage, selector: str) -> float:
    import json

    return page.eval(CANVAS_INK % json.dumps(selector))


def canvas_has_color(
    page: SyncPage, selector: str, rgb: tuple[int, int, int], tolerance: int = 8
) -> int:
    """Pixels of the canvas within tolerance of one colour (a series colour, say)."""
    import json

    expr = """
    (function (sel, rgb, tol) {
      var c = document.querySelector(sel);
      if (!c) return 0;
      var d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data, n = 0;
      for (var i = 0; i < d.length; i += 4) {
        if (Math.abs(d[i] - rgb[0]) <= tol && Math.abs(d[i + 1] - rgb[1]) <= tol && Math.abs(d[i + 2] - rgb[2]) <= tol && d[i + 3] > 200) n++;
      }
      return n;
    })(%s, %s, %d)""" % (json.dumps(selector), json.dumps(list(rgb)), tolerance)
    return page.eval(expr)
