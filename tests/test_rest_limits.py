"""Hostile and careless REST input (issue 14 items 1, 2 and 4): deep nesting is a 400 with a
reason and no traceback, long-polls are capped, sFlow-RT's validations are made the same way,
the odd input sFlow-RT accepts is accepted and breaks nothing, and scripts meet the same rules
as REST clients (one implementation in engine/)."""

from __future__ import annotations

import json
import logging
import math
import time
import urllib.error
import urllib.request

import pytest

from engine import limits
from engine.sflow.gen import Scenario, TrafficGenerator

JS_RULES = r"""
// answers what the engine said when a script made the same change as a REST client
setHttpHandler(function (req) {
  var body = req.body, what = req.path[0], out = {};
  try {
    if (what === 'flow') setFlow('jsflow', body);
    else if (what === 'threshold') setThreshold('jsthreshold', body);
    else if (what === 'deep') setFlow('jsdeep', JSON.parse(req.query.text[0]));
    out.ok = true;
  } catch (e) { out.error = String(e.message || e); }
  if (req.error) out.requestError = req.error;
  return out;
});
"""


def raw(eng, method, path, body: bytes | None = None, timeout=30, headers=None):
    """(status, body text, seconds) of one request, whatever the body is."""
    req = urllib.request.Request(
        eng.http_url + path,
        data=body,
        method=method,
        headers={"Content-Type": "application/json", **(headers or {})},
    )
    t0 = time.monotonic()
    try:
        with urllib.request.urlopen(req, timeout=timeout) as reply:
            return reply.status, reply.read().decode(), time.monotonic() - t0
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(), time.monotonic() - t0


@pytest.fixture
def eng(make_engine, tmp_path):
    (tmp_path / "rules.js").write_text(JS_RULES)
    e = make_engine({"script.file": "rules.js", "http.longpoll.max": "1"}, home=tmp_path)
    rt = e.engine.subsystems["runtime"]
    e.wait_for(lambda: rt.scripts["rules.js"].started, 20)
    return e


def js(eng, what: str, body=None, query: str = ""):
    status, text, _ = raw(
        eng,
        "POST",
        f"/script/rules.js/{what}/json{query}",
        None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode()),
    )
    assert status == 200, text
    return json.loads(text)


DEEP_BODIES = {
    "100,000 nested [": b"[" * 100_000,
    "20,000 nested [ closed": b"[" * 20_000 + b"]" * 20_000,
    '50,000 nested {"a":': b'{"a":' * 50_000,
    "257 nested arrays": b"[" * 257 + b"]" * 257,
    "filter of 5,000 nested parentheses": json.dumps(
        {"keys": "ipsource", "filter": "(" * 5000 + "ipsource=10.0.0.1" + ")" * 5000}
    ).encode(),
    "filter of 2,000 nested parentheses": json.dumps(
        {"keys": "ipsource", "filter": "(" * 2000 + "ipsource=10.0.0.1" + ")" * 2000}
    ).encode(),
    "filter of 5,000 negations": json.dumps(
        {"keys": "ipsource", "filter": "!" * 5000 + "ipsource=1"}
    ).encode(),
    "key of 5,000 nested [": json.dumps({"keys": "[" * 5000 + "ipsource" + "]" * 5000}).encode(),
    "value of 5,000 nested [": json.dumps({"value": "[" * 5000 + "bytes" + "]" * 5000}).encode(),
    "regex of 5,000 nested groups": json.dumps(
        {"keys": "ipsource", "filter": "ipsource~" + "(" * 5000 + "x" + ")" * 5000}
    ).encode(),
}


@pytest.mark.parametrize("case", sorted(DEEP_BODIES))
def test_deep_nesting_is_400_with_a_reason(eng, case, caplog):
    """Item 1: 400 and one reason, no 500 and no traceback in the log."""
    caplog.set_level(logging.DEBUG)
    for path in ("/flow/x/json", "/threshold/x/json", "/group/x/json", "/topology/json"):
        status, text, _ = raw(eng, "PUT", path, DEEP_BODIES[case])
        if path == "/topology/json" and status == 204:
            continue  # a flow spec is an (empty) topology: only nesting must be refused
        assert status == 400, (path, status, text[:300])
        reason = json.loads(text)["error"]
        assert reason and len(reason) <= limits.REASON_MAX, reason
        if path == "/flow/x/json":
            assert "nested" in reason, reason
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], [
        r.getMessage()[:200] for r in caplog.records if r.levelno >= logging.ERROR
    ]
    assert eng.request("GET", "/flow/x/json")[0] == 404  # nothing half-defined
    assert eng.request("PUT", "/flow/ok/json", {"keys": "ipsource"})[0] == 204


def test_nesting_limits_are_the_documented_ones(eng):
    """Just inside each limit is accepted, one level more is refused."""
    depth = limits.FILTER_MAX_DEPTH
    ok = {"keys": "ipsource", "filter": "(" * depth + "ipsource=10.0.0.1" + ")" * depth}
    assert eng.request("PUT", "/flow/f/json", ok)[0] == 204
    over = {
        "keys": "ipsource",
        "filter": "(" * (depth + 1) + "ipsource=10.0.0.1" + ")" * (depth + 1),
    }
    status, err = eng.request("PUT", "/flow/f/json", over)
    assert status == 400 and f"deeper than {depth}" in err["error"]
    k = limits.KEY_MAX_DEPTH
    assert eng.request("PUT", "/flow/k/json", {"keys": "[" * k + "ipsource" + "]" * k})[0] == 204
    status, err = eng.request(
        "PUT", "/flow/k/json", {"keys": "[" * (k + 1) + "ipsource" + "]" * (k + 1)}
    )
    assert status == 400 and f"deeper than {k}" in err["error"]
    j = limits.JSON_MAX_DEPTH
    nested = {"keys": "ipsource", "junk": json.loads("[" * (j - 1) + "]" * (j - 1))}
    assert eng.request("PUT", "/flow/j/json", nested)[0] == 204  # unknown attributes kept
    assert eng.request("GET", "/flow/j/json")[0] == 200
    nested["junk"] = [nested["junk"]]
    status, err = eng.request("PUT", "/flow/j/json", nested)
    assert status == 400 and f"deeper than {j} levels" in err["error"]


def test_scripts_meet_the_same_rules(eng):
    """REST and JS follow one rule: a script making the same change gets the same reason."""
    deep_filter = {"keys": "ipsource", "filter": "(" * 2000 + "ipsource=1" + ")" * 2000}
    status, err = eng.request("PUT", "/flow/x/json", deep_filter)
    assert status == 400
    assert js(eng, "flow", deep_filter)["error"] == err["error"]
    bad = {"metric": "no_such_metric!!", "value": -1}
    status, err = eng.request("PUT", "/threshold/x/json", bad)
    assert status == 400
    assert js(eng, "threshold", bad)["error"] == err["error"]
    # a value nested deeper than the JSON limit, built by the script itself
    text = "[" * 300 + "]" * 300
    status, err = eng.request("PUT", "/flow/x/json", {"keys": "ipsource", "x": json.loads(text)})
    assert status == 400
    got = js(
        eng, "deep", query="?text=" + urllib.request.quote('{"keys":"ipsource","x":' + text + "}")
    )
    assert got["error"] == err["error"]
    # a script HTTP handler handed a body nested too deeply sees req.error, never a 500
    got = js(eng, "none", b"[" * 100_000)
    assert "nested deeper" in got["requestError"]
    assert eng.engine.subsystems["runtime"].scripts["rules.js"].alive


@pytest.mark.parametrize(
    "path",
    [
        "/flows/json?timeout=1e9&flowID=99999999",
        "/events/json?timeout=1e9&eventID=99999999",
        "/flows/json?timeout=inf",
        "/events/json?timeout=1e308&maxEvents=5",
    ],
)
def test_long_poll_is_capped(eng, path):
    """Item 2: a long-poll waits at most http.longpoll.max seconds (1 here, default 60)."""
    status, text, seconds = raw(eng, "GET", path, timeout=20)
    assert (status, json.loads(text)) == (200, [])
    assert 0.8 <= seconds < 5


def test_long_poll_odd_values(eng):
    for q in ("timeout=nan", "timeout=-5", "timeout=0"):
        status, text, seconds = raw(eng, "GET", "/flows/json?" + q)
        assert status == 200 and seconds < 0.5, q
    for q in ("timeout=soon", "flowID=inf", "maxFlows=nan"):
        status, text, _ = raw(eng, "GET", "/flows/json?" + q)
        assert status == 400 and "number" in json.loads(text)["error"], q
    assert limits.long_poll_seconds(1e9) == 60.0 == limits.LONG_POLL_MAX
    assert limits.long_poll_seconds(float("nan")) == 0.0


def test_threshold_validation_as_sflow_rt(eng):
    """Item 4: sFlow-RT refuses a threshold on metric "no_such_metric!!" (400 with a reason)."""
    status, err = eng.request(
        "PUT", "/threshold/t/json", {"metric": "no_such_metric!!", "value": -1}
    )
    assert status == 400 and "no_such_metric!!" in err["error"] and "metric name" in err["error"]
    assert eng.request("GET", "/threshold/t/json")[0] == 404
    # a valid name of a metric that does not exist (yet) is fine, as in sFlow-RT
    assert (
        eng.request("PUT", "/threshold/t/json", {"metric": "no_such_metric", "value": 1})[0] == 204
    )
    for bad in (
        {"metric": "ifinoctets", "value": "lots"},
        {"metric": "ifinoctets"},
        {"metric": "", "value": 1},
        {"metric": "ifinoctets", "value": 1e400},
    ):
        assert eng.request("PUT", "/threshold/u/json", bad)[0] == 400, bad


def test_odd_input_sflow_rt_accepts_breaks_nothing(eng):
    """Item 4: value:'bogus', t:1e308, n:1e20 and filter=(( are accepted (204/200, as sFlow-RT
    answers); decay arithmetic does not overflow, no cache is sized by n, and what can never
    match answers empty."""
    specs = {
        "bogus": {"keys": "ipsource", "value": "bogus"},
        "slow": {"keys": "ipsource", "value": "bytes", "t": 1e308},
        "fast": {"keys": "ipsource", "value": "bytes", "t": 1e-308},
        "big": {"keys": "ipsource", "value": "frames", "n": 1e20},
        "neg": {"keys": "ipsource", "value": "bytes", "activeTimeout": 1e308},
    }
    for name, spec in specs.items():
        assert eng.request("PUT", f"/flow/{name}/json", spec) == (204, None), name
    assert eng.request("GET", "/flow/slow/json")[1]["t"] == 600  # bounded, docs/flows.md
    assert eng.request("GET", "/flow/fast/json")[1]["t"] == 0.2
    assert eng.request("GET", "/flow/big/json")[1]["n"] == 10000
    gen = TrafficGenerator(Scenario(agents=2, flows=40, seed=14))
    eng.send_paced(d for _ in range(10) for d in gen.step(0.1))
    eng.wait_for(lambda: eng.request("GET", "/activeflows/ALL/slow/json")[1])
    for name in ("slow", "fast", "big", "neg"):
        status, flows = eng.request("GET", f"/activeflows/ALL/{name}/json?maxFlows=1e20")
        assert status == 200 and flows, name
        assert all(math.isfinite(f["value"]) and f["value"] >= 0 for f in flows), flows
    # what can never match answers empty: no attribute "bogus" in any sample
    assert eng.request("GET", "/activeflows/ALL/bogus/json") == (200, [])
    status, got = eng.request("GET", "/metric/ALL/max:ifinoctets/json?filter=((")
    assert status == 200 and got[0]["metricName"] == "max:ifinoctets"
    assert eng.engine.stats.handler_errors == 0
    # the same odd specs from a script are accepted the same way
    assert js(eng, "flow", specs["slow"]) == {"ok": True}
    assert eng.request("GET", "/flow/jsflow/json")[1]["t"] == 600
