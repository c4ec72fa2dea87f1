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
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)"
)


@pytest.fixture(scope="module")
def eng(tmp_path_factory):
    home = tmp_path_factory.mktemp("home")
    shutil.copytree(HERE / "js" / "compat", home / "apps" / "compat")
    e = RunningEngine({}, home=home).start()
    # polls 5 s apart (agent clock): current for 16 s of wall time after the last one
    gen = TrafficGenerator(
        Scenario(agents=2, samples_per_second=100, flows=5, seed=5, polling_interval=5.0)
    )
    target = 0
    for _ in range(3):
        target += e.send_paced(gen.step(5.0))
    e.wait_for(lambda: e.engine.stats.datagrams >= target)
    e.gen = gen
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


def _page(eng, path, ready):
    """A browser on one compat page once `ready` (a JS expression) holds; (browser, page)."""
    browser = harness.SyncBrowser(CHROMIUM)
    page = browser.page(eng.http_url + "/app/compat/html/" + path)
    page.wait_for(ready)
    return browser, page


def test_fabric_view_links_tab(eng):
    """fabric-view's Links tab reads topologyLinkMetric(link, 5 metrics) by position, node1's
    port first: with both ends up at 10G the page shows Up and 10G (not Down / Unknown)."""
    # counters expire after 3 missed polls: fresh ones, however long the tests before took
    sent = eng.engine.stats.datagrams + eng.send_paced(eng.gen.step(5.0))
    eng.wait_for(lambda: eng.engine.stats.datagrams >= sent)
    a1, a2 = sorted(eng.get_json("/agents/json"))[:2]
    ports = lambda n: {f"{n}-eth{i}": {"ifindex": str(i)} for i in range(1, 5)}
    topo = {
        "nodes": {
            "s1": {"agent": a1, "ports": ports("s1")},
            "s2": {"agent": a2, "ports": ports("s2")},
        },
        "links": {"s1-s2": {"node1": "s1", "port1": "s1-eth4", "node2": "s2", "port2": "s2-eth3"}},
    }
    status, _ = eng.request("PUT", "/topology/json", topo)
    assert status == 204
    browser, page = _page(eng, "links.html", "document.body.classList.contains('loaded')")
    try:
        row = page.eval("""(function(){var r=$('#links tr[data-link="s1-s2"]');
            return [r.find('.status').text(), r.find('.speed').text(), r.find('.counters').text()];})()""")
        assert row == ["Up", "10G", "Yes"], row
        assert page.errors == [] and page.failed == [], (page.errors, page.failed)
    finally:
        browser.close()


def test_ddos_protect_mode_string_over_json(eng):
    """ddos-protect's page reads and posts its mode, a bare string, with dataType 'json': the
    script's string result must arrive JSON-encoded on a .../json route."""
    browser, page = _page(eng, "mode.html", "$('#after').text().length > 0")
    try:
        assert page.eval("$('#mode').text()") == "string:manual"
        assert page.eval("$('#after').text()") == "string:automatic"
        assert page.errors == [], page.errors
    finally:
        browser.close()


def test_threshold_line_from_string_value(eng):
    """ddos-protect keeps a threshold changed in its settings as the typed text ("100000");
    the chart's dashed threshold line (colour 2 of the palette) must still be drawn."""
    browser, page = _page(eng, "threshold.html", "document.body.classList.contains('drawn')")
    try:
        page.sleep(0.2)
        orange = harness.canvas_has_color(page, "#udp-flood canvas", (0xFF, 0x7F, 0x0E), 10)
        page.screenshot("compat-threshold")
        assert orange > 100, orange
        assert page.errors == [], page.errors
    finally:
        browser.close()
