"""App pages' JavaScript patterns in headless Chromium against a running engine, with pages
written for flowrt's tests (tests/js/compat/html) that reproduce what published sFlow-RT app
pages do with the shared /inc widgets."""
from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path

import pytest

from conftest import RunningEngine
from engine.sflow.gen import Scenario, TrafficGenerator

HERE = Path(__file__).resolve().parent


def _load_harness():
    path = HERE / "web" / "harness.py"
    spec = importlib.util.spec_from_file_location("flowrt_web_harness", path)
    if spec.name in sys.modules:
        return sys.modules[spec.name]
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


harness = _load_harness()
CHROMIUM = harness.cdp.find_chromium()
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")


@pytest.fixture(scope="module")
def eng(tmp_path_factory):
    home = tmp_path_factory.mktemp("home")
    shutil.copytree(HERE / "js" / "compat", home / "apps" / "compat")
    e = RunningEngine({}, home=home).start()
    gen = TrafficGenerator(Scenario(agents=1, samples_per_second=100, flows=5, seed=5,
                                    polling_interval=1.0))
    target = 0
    for _ in range(3):
        target += e.send_paced(gen.step(1.0))
    e.wait_for(lambda: e.engine.stats.datagrams >= target)
    yield e
    e.stop()


def test_stripchart_value_formatter_called_unbound(eng):
    """browse-metrics: `var nf = $.inmon.stripchart.prototype.valueStr; nf(v)`."""
    browser = harness.SyncBrowser(CHROMIUM)
    try:
        page = browser.page(eng.http_url + "/app/compat/html/unbound.html")
        page.wait_for("$('#out').text().length > 0")
        assert page.errors == [] and page.failed == [], (page.errors, page.failed)
        first, second = page.eval("$('#out').text()").split("|")
        assert first == "1.235M"
        assert second and second != "0"
        page.close()
    finally:
        browser.close()
