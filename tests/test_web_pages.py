"""Headless Chromium loads every built-in page, the API explorer and two test app pages that use
each /inc widget, with synthetic sFlow flowing: no console errors or failed requests, charts
draw data (DOM and canvas pixels checked), screenshots saved in test-artifacts/web/."""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path

import pytest


def _load_harness():
    path = Path(__file__).resolve().parent / "web" / "harness.py"
    spec = importlib.util.spec_from_file_location("flowrt_web_harness", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


harness = _load_harness()

CHROMIUM = harness.cdp.find_chromium()
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)"
)

TEST_APP_SCRIPT = """// description: flowrt web test app
setHttpHandler(function (req) { return {hello: 'world'}; });
"""
# An app script in the style of sFlow-RT apps: a flow, a 1 s trend of totals and top stacks,
# served to the page by setHttpHandler (written for this test).
TREND_SCRIPT = """// description: trend for the web test page
var SEP = '_SEP_';
var trend = {maxPoints: 60, times: [], trends: {bps: [], protocols: []}};
setFlow('webtest_stack', {keys: 'stack', value: 'bytes', n: 10, t: 2, fs: SEP});
setFlow('webtest_total', {value: 'bytes', t: 2});
setIntervalHandler(function (now) {
  var total = metric('ALL', 'sum:webtest_total')[0].metricValue || 0;
  var top = {}, flows = activeFlows('ALL', 'webtest_stack', 5, 0, 'sum');
  for (var i = 0; i < flows.length; i++) top[flows[i].key] = flows[i].value * 8;
  trend.times.push(now);
  trend.trends.bps.push(total * 8);
  trend.trends.protocols.push(top);
  if (trend.times.length > trend.maxPoints) {
    trend.times.shift(); trend.trends.bps.shift(); trend.trends.protocols.shift();
  }
}, 1);
setHttpHandler(function (req) {
  if (req.path[0] !== 'trend') throw 'not_found';
  var after = req.query.after ? parseInt(req.query.after[0]) : 0, out = {maxPoints: trend.maxPoints, times: [], trends: {bps: [], protocols: []}};
  for (var i = 0; i < trend.times.length; i++) {
    if (trend.times[i] > after) {
      out.times.push(trend.times[i]);
      out.trends.bps.push(trend.trends.bps[i]);
      out.trends.protocols.push(trend.trends.protocols[i]);
    }
  }
  return {trend: out};
});
"""
TEST_APP_API = """openapi: 3.0.1
info: {title: Web test app, version: 1.0.0}
paths:
  /hello.js/greeting/json:
    get: {summary: Say hello, responses: {"200": {description: OK}}}
"""
BROKEN_SCRIPT = "// description: fails on purpose\nthrow 'web test script failure';\n"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """An engine whose home has one app (the widget test pages plus two scripts), with traffic."""
    from conftest import RunningEngine
    import engine.rest
    from engine import log

    log.setup("INFO")  # as engine.main does: keeps recent lines for /log/json
    home = tmp_path_factory.mktemp("webhome")
    app = home / "app" / "webtest"
    shutil.copytree(harness.HERE / "widgets", app / "html")
    (app / "scripts").mkdir()
    (app / "scripts" / "hello.js").write_text(TEST_APP_SCRIPT)
    (app / "scripts" / "broken.js").write_text(BROKEN_SCRIPT)
    (app / "api.yml").write_text(TEST_APP_API)
    (app / "scripts" / "trend.js").write_text(TREND_SCRIPT)

    with pytest.MonkeyPatch.context() as mp:
        build = engine.rest.build_app

        def build_with_pages(eng):
            app = build(eng)
            harness.add_test_pages(app)  # used only if the engine does not serve app pages itself
            return app

        mp.setattr(engine.rest, "build_app", build_with_pages)
        # history in chDB (the test install has it), recorded every second for the History tab
        eng = RunningEngine(
            {"history.enabled": "yes", "history.interval": "1", "history.flush": "0.2"}, home
        ).start()
    traffic = harness.Traffic(eng.send).start()
    eng.wait_for(lambda: len(eng.get_json("/agents/json")) >= 3, timeout=20)
    yield eng
    traffic.stop()
    eng.stop()


@pytest.fixture(scope="module")
def browser():
    b = harness.SyncBrowser(CHROMIUM)
    yield b
    b.close()


@pytest.fixture
def open_page(site, browser):
    opened = []

    def opener(path: str):
        page = browser.page(site.http_url + path)
        opened.append(page)
        return page

    yield opener
    for page in opened:
        page.close()


def assert_clean(page):
    assert page.errors == [], page.errors
    assert page.failed == [], page.failed


# -- built-in status UI -------------------------------------------------------------------------


def test_status_page(open_page):
    page = open_page("/html/index.html#status")
    page.wait_for("+$('#chart-rates').attr('data-points') >= 4")
    assert page.eval("$('#t-agents').text()") == "3"
    page.wait_for("parseFloat($('#t-datagrams').text()) > 0")
    assert page.eval("$('#s-version').text()")
    assert harness.canvas_ink(page, "#chart-rates canvas") > 0.01
    # the datagram series is drawn in its legend colour
    assert harness.canvas_has_color(page, "#chart-rates canvas", (0x1F, 0x77, 0xB4)) > 50
    assert page.eval("$('#chart-rates .stripchart-legend tbody tr').length") == 3
    assert page.eval("$('#heartbeat').hasClass('ok')")
    page.wait_for(
        "$('#s-agents tbody tr').length === 3 && $('#s-agents tbody td.num').first().text() !== '–'"
    )
    page.screenshot("html-status")
    assert_clean(page)


def test_agents_page(open_page, site):
    page = open_page("/html/index.html#agents")
    page.wait_for("$('#agents-table tbody tr').length === 3")
    agents = page.eval(
        "$('#agents-table tbody tr td:first-child').map(function(){return $(this).text()}).get()"
    )
    assert sorted(agents) == sorted(site.get_json("/agents/json"))
    # sort by datagrams, descending then ascending
    page.eval("$('#agents-table th[data-key=datagrams]').click()")
    assert page.eval("$('#agents-table th[data-key=datagrams]').hasClass('sorted-desc')")
    page.eval("$('#agents-search').val(%r).trigger('input')" % agents[0])
    assert page.eval("$('#agents-table tbody tr').length") == 1
    page.eval("$('#agents-search').val('').trigger('input')")
    page.screenshot("html-agents")
    assert_clean(page)


def test_metrics_page(open_page):
    page = open_page("/html/index.html#metrics")
    page.wait_for(
        "$('#m-metric option').length > 0 && $('#m-agent option').length === 4", timeout=30
    )
    page.wait_for(
        "+$('#chart-metric').attr('data-points') >= 3 && $('#m-value').text() !== ''", timeout=30
    )
    # pick one agent: its metric names come from /metric/{agent}/json, with data sources
    agent = page.eval("$('#m-agent option').eq(1).val()")
    page.eval("$('#m-agent').val(%r).trigger('change')" % agent)
    page.wait_for("$('#m-datasource option').length > 1", timeout=20)
    page.wait_for(
        "$('#m-dump tbody tr').length > 0 && $('#m-dump tbody tr td:first-child').map(function(){return $(this).text()})"
        ".get().every(function(a){return a === %r}) && $('#m-vagent').text() === %r"
        % (agent, agent),
        timeout=20,
    )
    page.wait_for(
        "+$('#m-n').text() === $('#m-dump tbody tr').length", timeout=10
    )  # N = values summarised
    assert harness.canvas_ink(page, "#chart-metric canvas") > 0.005
    page.screenshot("html-metrics")
    assert_clean(page)


def test_flows_page(open_page, site):
    page = open_page("/html/index.html#flows")
    # key completion offers keys seen in the traffic
    page.eval(
        "var i = $('#f-keys').val('ipdest')[0]; i.focus(); i.setSelectionRange(6, 6); $(i).trigger('input')"
    )
    page.wait_for("$('#complete-menu').hasClass('show')")
    assert "ipdestination" in page.eval(
        "$('#complete-menu .dropdown-item').map(function(){return $(this).text()}).get()"
    )
    page.eval(
        "$('#complete-menu .dropdown-item').filter(function(){return $(this).text()==='ipdestination'}).trigger('mousedown')"
    )
    assert page.eval("$('#f-keys').val()") == "ipdestination"
    page.eval(
        "$('#f-keys').val('ipsource,ipdestination'); $('#f-value').val('bps'); $('#flow-form').submit()"
    )
    page.wait_for("$('#f-table tbody td.key').length >= 4", timeout=30)
    page.wait_for(
        "+$('#chart-flows').attr('data-points') >= 3 && +$('#chart-flows').attr('data-series') >= 2",
        timeout=30,
    )
    name = page.eval("Object.keys(window.sessionStorage).length >= 0 && $('#f-status').text()")
    assert "flows" in name
    defined = [n for n in site.get_json("/flow/json") if n.startswith("flowrt_ui_")]
    assert (
        len(defined) == 1
        and site.get_json(f"/flow/{defined[0]}/json")["keys"] == "ipsource,ipdestination"
    )
    assert harness.canvas_ink(page, "#chart-flows canvas") > 0.02
    # clicking a key narrows the flow with a filter
    src = page.eval("$('#f-table tbody td.key').first().text()")
    page.eval("$('#f-table tbody td.key').first().click()")
    page.wait_for("$('#f-filter').val() === \"ipsource='%s'\"" % src)
    page.wait_for(
        "$('#f-table tbody tr').length >= 1 && $('#f-table tbody td.key').first().text() === %r"
        % src,
        timeout=30,
    )
    # flows defined elsewhere are listed; the widget page's flow may exist, so define one here
    import json
    import urllib.request

    req = urllib.request.Request(
        site.http_url + "/flow/webtest_listed/json",
        method="PUT",
        data=json.dumps({"keys": "ipprotocol", "value": "frames"}).encode(),
        headers={"Content-Type": "application/json"},
    )
    urllib.request.urlopen(req, timeout=10).close()
    page.wait_for("$('#f-defined tr[data-name=webtest_listed]').length === 1", timeout=15)
    assert (
        page.eval("$('#f-defined tr[data-name^=flowrt_ui_]').length") == 0
    )  # our own is not listed
    page.screenshot("html-flows")
    page.eval("$('#f-defined tr[data-name=webtest_listed]').click()")
    page.wait_for("$('#f-keys').val() === 'ipprotocol' && $('#f-filter').val() === ''")
    page.wait_for(
        "$('#f-table thead th').first().text() === 'ipprotocol' && $('#f-table tbody td.key').length > 0",
        timeout=30,
    )
    assert page.eval("$('#f-table thead th').last().text()") == "frames per second"
    # a bad filter is reported, not swallowed
    page.eval("$('#f-filter').val('ipsource=(('); $('#flow-form').submit()")
    page.wait_for("$('#f-status').hasClass('text-danger')")
    page.eval("$('#f-clear').click()")
    site.wait_for(
        lambda: not [n for n in site.get_json("/flow/json") if n.startswith("flowrt_ui_")]
    )
    page.errors[:] = [e for e in page.errors if "400" not in e]  # the rejected PUT above
    page.failed[:] = [f for f in page.failed if not f.startswith("400 ")]
    assert_clean(page)


def test_history_page(open_page, site):
    import json
    import urllib.request

    req = urllib.request.Request(
        site.http_url + "/flow/webtest_history/json",
        method="PUT",
        data=json.dumps({"keys": "ipsource", "value": "bytes", "history": True}).encode(),
        headers={"Content-Type": "application/json"},
    )
    urllib.request.urlopen(req, timeout=10).close()
    # a few one-second intervals stored
    site.wait_for(
        lambda: (
            len(
                site.get_json("/history/flowseries/ALL/webtest_history/json?from=-1m&step=1")[
                    "keys"
                ]
            )
            >= 2
            and sum(
                x > 0
                for x in site.get_json(
                    "/history/flowseries/ALL/webtest_history/json?from=-1m&step=1"
                )["values"][0]
            )
            >= 3
        ),
        timeout=30,
    )
    page = open_page("/html/index.html#history")
    page.wait_for(
        "$('#h-flow option').filter(function(){return this.value==='webtest_history'}).length === 1",
        timeout=30,
    )
    page.eval("$('#h-flow').val('webtest_history').trigger('change')")
    page.wait_for(
        "$('#h-table tbody td.key').length >= 2 && +$('#chart-history').attr('data-series') >= 2 "
        "&& $('#h-title').text().indexOf('webtest_history') === 0",
        timeout=30,
    )
    assert harness.canvas_ink(page, "#chart-history canvas") > 0.005
    series = page.eval("+$('#chart-history').attr('data-series')")
    assert page.eval("$('#chart-history .stripchart-legend tbody tr').length") == series
    assert "bits per second" in page.eval("$('#h-title').text()")
    # the table lists the same keys, in the same order, as the REST answer for the range
    keys = page.eval("$('#h-table tbody td.key').map(function(){return $(this).text()}).get()")
    top = site.get_json("/history/topkeys/ALL/webtest_history/json?from=-1h&maxKeys=10")
    assert keys[:3] == [r["key"] for r in top][:3]
    assert "chdb" in page.eval("$('#h-store').text()")
    page.screenshot("html-history")
    # a custom range before the engine started: nothing stored there
    page.eval("$('#h-range').val('custom').trigger('change')")
    assert page.eval("$('#h-from').is(':visible') && $('#h-to').is(':visible')")
    page.eval(
        "$('#h-from').val('2001-01-01T00:00'); $('#h-to').val('2001-01-01T01:00'); $('#history-form').submit()"
    )
    page.wait_for("$('#h-table tbody').text().indexOf('no traffic stored') >= 0", timeout=20)
    page.eval("$('#h-range').val('-15m').trigger('change')")
    page.wait_for("$('#h-table tbody td.key').length >= 2", timeout=20)
    assert_clean(page)


# geometry of two elements in page pixels, for overlap checks
RECT = (
    "(function(sel){var r=document.querySelector(sel).getBoundingClientRect();"
    "return [r.left, r.top, r.right, r.bottom];})(%r)"
)


def _overlap(a, b) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def test_flows_page_legend_of_20_keys_stays_clear(open_page):
    """With 20 keys the top-N legend is 20 rows: it must cover neither the plot nor the table
    header under the chart."""
    page = open_page("/html/index.html#flows")
    page.eval(
        "$('#f-keys').val('ipsource,ipdestination,tcpdestinationport'); $('#f-value').val('bps');"
        "$('#f-filter').val(''); $('#flow-form').submit()"
    )
    page.wait_for("$('#chart-flows .stripchart-legend tbody tr').length >= 20", timeout=40)
    page.wait_for("$('#f-table tbody tr').length >= 20", timeout=20)
    page.sleep(0.3)
    legend = page.eval(RECT % "#chart-flows .stripchart-legend")
    plot = page.eval(RECT % "#chart-flows canvas")
    header = page.eval(RECT % "#f-table thead")
    card = page.eval(RECT % "#flow-result .chart-card")
    page.screenshot("html-flows-20-keys")
    assert legend[3] - legend[1] > 200  # 20 rows are shown
    assert not _overlap(legend, plot), (legend, plot)
    assert not _overlap(legend, header), (legend, header)
    assert card[1] <= legend[1] and legend[3] <= card[3], (legend, card)  # inside its card
    page.eval("$('#f-clear').click()")
    assert_clean(page)


def test_api_page_heartbeat_and_route_links(open_page, site):
    """Opened directly on #api, the heartbeat turns live and stays live (the page itself loads
    once); each route links to its own operation in the explorer, which opens it."""
    page = open_page("/html/index.html#api")
    page.wait_for("$('#api-links a').length > 30")
    page.wait_for(
        "$('#heartbeat').hasClass('ok') && $('#heartbeat-text').text() === 'live'", timeout=5
    )
    page.sleep(6)
    assert page.eval("$('#heartbeat').hasClass('ok') && $('#heartbeat-text').text()") == "live"
    hrefs = page.eval("$('#api-links a').map(function(){return $(this).attr('href')}).get()")
    assert len(set(hrefs)) == len(hrefs), "every route links somewhere of its own"
    href = page.eval(
        "$('#api-links a').filter(function(){return $(this).text().indexOf('GET/metric/{agent}/{metric}/json') === 0})"
        ".attr('href')"
    )
    assert href.startswith("../api/index.html#/metrics/")
    page.goto(site.http_url + "/html/" + href)
    page.wait_for("document.querySelectorAll('.opblock.is-open').length === 1", timeout=30)
    opened = page.eval(
        "document.querySelector('.opblock.is-open .opblock-summary-path').textContent"
    )
    assert opened.replace("\u200b", "") == "/metric/{agent}/{metric}/json"
    assert_clean(page)


def test_apps_page(open_page):
    page = open_page("/html/index.html#apps")
    page.wait_for("$('#apps-table tbody tr').length === 1", timeout=20)
    assert page.eval("$('#apps-table tbody a').attr('href')") == "../app/webtest/html/"
    page.wait_for("$('#scripts-table tbody tr').length === 3")
    states = page.eval(
        "$('#scripts-table tbody tr').map(function(){return $(this).find('td').eq(1).text()}).get()"
    )
    assert sorted(states) == ["failed", "running", "running"]
    assert "web test script failure" in page.eval("$('#scripts-table').text()")
    page.screenshot("html-apps")
    assert_clean(page)


def test_log_page(open_page):
    page = open_page("/html/index.html#log")
    page.wait_for("$('#log-table tbody tr td.msg').length > 0")
    text = page.eval("$('#log-table').text()")
    assert "broken.js" in text  # the failed script was logged
    page.eval("$('#log-level').val('SEVERE').trigger('change')")
    page.wait_for(
        "$('#log-table .badge').length > 0 && $('#log-table .badge').map(function(){return $(this).text()}).get().every(function(l){return l==='SEVERE'})"
    )
    page.screenshot("html-log")
    assert_clean(page)


def test_api_and_about_pages(open_page):
    page = open_page("/html/index.html#api")
    page.wait_for("$('#api-links a').length > 30")
    page.eval("location.hash = '#about'")
    page.wait_for("$('#about').hasClass('active') && $('#a-version').text() !== ''")
    page.screenshot("html-about")
    assert_clean(page)


def test_api_explorer(open_page):
    page = open_page("/api/")
    page.wait_for("document.querySelectorAll('.opblock').length > 40", timeout=30)
    assert "flowrt REST API" in page.eval("document.querySelector('.info .title').textContent")
    page.screenshot("api-explorer")
    # installed apps' api.yml are offered too, anchored at their scripts folder
    page.wait_for("document.querySelectorAll('#definition option').length === 2")
    page.eval(
        "var s = document.getElementById('definition'); s.value = s.options[1].value; s.dispatchEvent(new Event('change')); true"
    )
    page.wait_for(
        "document.querySelector('.info .title') && document.querySelector('.info .title').textContent.indexOf('Web test app') === 0",
        timeout=20,
    )
    assert page.eval("document.querySelectorAll('.opblock').length") == 1
    assert "/hello.js/greeting/json" in page.eval(
        "document.querySelector('.opblock-summary-path').textContent"
    )
    assert "url=" in page.eval("location.search")
    assert_clean(page)


# -- /inc widgets on app pages ------------------------------------------------------------------


def test_widget_page(open_page):
    page = open_page("/app/webtest/html/index.html")
    page.wait_for(
        "window.widgetStatus && widgetStatus.flowPolls >= 3 && widgetStatus.flows > 5", timeout=30
    )
    page.wait_for(
        "+$('#topn').attr('data-points') >= 4 && +$('#trend').attr('data-points') >= 4", timeout=20
    )
    assert page.eval("widgetStatus.errors") == []
    # number formatting apps borrow from the widget prototypes
    assert page.eval("$.inmon.stripchart.prototype.valueStr(1234567)") == "1.235M"
    assert page.eval("$.inmon.stripchart.prototype.valueStr(0.002, true)") == "2m"
    assert page.eval("$.inmon.gauge.prototype.valueStr(1234567)") == "1.23M"
    assert page.eval("$.inmon.stripchart.prototype.options.colors.length") >= 10
    # gauges: counter mode turns datagram totals into a rate; the arc follows the value
    page.wait_for("+$('#gauge-datagrams').attr('data-value') > 0")
    assert page.eval("$('#gauge-agents .value tspan').first().text()") == "3"
    assert page.eval("$('#gauge-agents .data-arc').attr('d')") != page.eval(
        "$('#gauge-datagrams .track').attr('d')"
    )
    # stripchart and chart(): series drawn, legends with headings and links
    assert harness.canvas_ink(page, "#rate canvas") > 0.005
    assert harness.canvas_ink(page, "#trend canvas") > 0.02
    assert harness.canvas_ink(page, "#topn canvas") > 0.02
    assert page.eval("$('#topn .stripchart-legend thead th').length") == 4
    assert page.eval("$('#topn .stripchart-legend tbody tr').length") >= 5
    assert page.eval("$('#topn .stripchart-legend a').first().attr('href')").startswith("#proto-")
    protocols = set(
        page.eval(
            "$('#topn .stripchart-legend tbody tr').map(function(){return $(this).find('td').eq(3).text()}).get()"
        )
    )
    assert protocols and protocols <= {"tcp", "udp", "icmp"}, (
        protocols
    )  # keyName relabels a key part
    # a click on a topn chart selects a time and marks it
    page.eval("""(function(){var c=$('#topn canvas'), o=c.offset();
        c.trigger($.Event('click',{pageX:o.left+c.width()/2, pageY:o.top+40}));})()""")
    # sunburst, heatmap, particle flow
    assert page.eval("+$('#sunburst').attr('data-segments')") > 5
    assert harness.canvas_ink(page, "#sunburst canvas") > 0.1
    assert page.eval("+$('#heatmap').attr('data-points')") > 5
    assert harness.canvas_ink(page, "#heatmap canvas") > 0.01
    page.wait_for("+$('#flow').attr('data-particles') > 5", timeout=20)
    assert harness.canvas_ink(page, "#flow canvas") > 0.001
    clicked = page.eval("""(function(){
        var w = $('#flow').flow('instance'), p = w._particles[0], c = $('#flow canvas'), o = c.offset(), got = null;
        $('#flow').one('flowclick', function(e, flow){ got = flow; });
        c.trigger($.Event('click', {pageX: o.left + p.x, pageY: o.top + p.y}));
        return got && got.info[0].value; })()""")
    assert clicked and clicked.startswith("10.")
    assert page.eval("$('#flow .flow-info').is(':visible')")
    entry = page.eval("""(function(){
        var w = $('#sunburst').sunburst('instance'), s = w._segments[0], c = $('#sunburst canvas'), o = c.offset(), got = null;
        var a = (s.a0 + s.a1) / 2, r = (s.r0 + s.r1) / 2;
        $('#sunburst').one('click', function(e, entry){ got = entry; });
        c.trigger($.Event('click', {pageX: o.left + w._cx + r * Math.cos(a), pageY: o.top + w._cy + r * Math.sin(a)}));
        return got; })()""")
    assert entry and entry["path"] and entry["value"] > 0
    page.screenshot("inc-widgets")
    assert_clean(page)


def test_jqueryui_page(open_page):
    page = open_page("/app/webtest/html/jqueryui.html")
    page.wait_for(
        "window.uiStatus && uiStatus.tableDraws >= 2 && $('#agentstable tbody tr').length === 3",
        timeout=20,
    )
    page.wait_for("+$('#samples').attr('data-points') >= 3")
    assert harness.canvas_ink(page, "#samples canvas") > 0.01
    assert page.eval("$('#tabs').hasClass('ui-tabs')")
    assert page.eval("$('#agentstable_wrapper').length") == 1
    page.eval(
        "$('#tabs').tabs('option', 'active', 1); $('#keyinput').val('ip').autocomplete('search', 'ip'); true"
    )
    page.wait_for("$('.ui-autocomplete li').length > 2")
    assert page.eval("uiStatus.completions") > 2
    page.screenshot("inc-jqueryui")
    assert_clean(page)


def test_app_script_trend_page(open_page):
    """The sFlow-RT app pattern end to end: script trend -> setHttpHandler -> chart() widgets."""
    page = open_page("/app/webtest/html/trend.html")
    page.wait_for(
        "window.trendStatus && trendStatus.polls >= 3 && trendStatus.points >= 3", timeout=30
    )
    page.wait_for(
        "+$('#protocols').attr('data-series') >= 3 && +$('#total').attr('data-points') >= 3",
        timeout=30,
    )
    stacks = page.eval(
        "$('#protocols .stripchart-legend tbody tr td:nth-child(2)').map(function(){return $(this).text()}).get()"
    )
    assert stacks and all(s.startswith("eth.ip") for s in stacks), stacks
    assert harness.canvas_ink(page, "#total canvas") > 0.02
    assert harness.canvas_ink(page, "#protocols canvas") > 0.02
    page.screenshot("inc-app-trend")
    assert_clean(page)
