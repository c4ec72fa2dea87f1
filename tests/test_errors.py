"""Errors by type (docs/rest.md, "Errors"): each domain error of engine/errors.py answers as
documented through real REST and from a real script, an internal KeyError is a 500 / a thrown
Error (never a 404 or an empty answer), "subsystem not running" is 503 on every subsystem's
routes, and the types survive the trip from a worker process to the front."""

from __future__ import annotations

import json
import logging
import pickle

import pytest

from engine.errors import EngineError, InvalidDefinition, NotRunning, UnknownName
from engine.history.backends import BackendError
from engine.history.service import HistoryOff
from engine.workers import protocol

SCRIPT = """
var cases = {
  unknownFlow: function() { return activeFlows('ALL', 'nosuch'); },
  knownFlow: function() { return activeFlows('ALL', 'known'); },
  badAggMode: function() { return activeFlows('ALL', 'known', 10, 0, 'bogus'); },
  unknownBaseline: function() { return baselineCheck('nosuch', 1); },
  unknownNeighbor: function() { return bgpTopPrefixes('192.0.2.99'); },
  badFlow: function() { return setFlow('bad', {keys: 'ipsource', value: 'bytes', t: 'x'}); },
  badGroups: function() { return setGroups('g', {x: ['not-an-address']}); },
  historyOff: function() { return historyFlowNames(); }
};
setHttpHandler(function(req) {
  try { return {value: cases[req.path[0]]()}; }
  catch (e) { return {thrown: String(e && e.message !== undefined ? e.message : e)}; }
});
"""


@pytest.fixture
def eng(make_engine, tmp_path):
    (tmp_path / "errors.js").write_text(SCRIPT)
    e = make_engine({"script.file": "errors.js"}, home=tmp_path)
    assert e.request("PUT", "/flow/known/json", {"keys": "ipsource", "value": "bytes"})[0] == 204
    rt = e.engine.subsystems["runtime"]
    e.wait_for(lambda: all(s.started for s in rt.scripts.values()), 20)
    return e


def js(eng, case: str) -> dict:
    status, body = eng.request("GET", f"/script/errors.js/{case}/json")
    assert status == 200, body
    return body


def test_unknown_name_is_404_in_rest_and_the_declared_answer_in_js(eng):
    assert eng.request("GET", "/activeflows/ALL/nosuch/json") == (
        404,
        {"status": 404, "error": "no flow nosuch"},
    )
    assert eng.request("GET", "/bgp/topprefixes/192.0.2.99/json") == (
        404,
        {"status": 404, "error": "no BGP neighbor 192.0.2.99"},
    )
    assert eng.request("GET", "/bgp/prefix/192.0.2.99/json?address=10.0.0.1")[0] == 404
    # activeFlows declares [] (sFlow-RT's answer); the others throw with the reason
    assert js(eng, "unknownFlow") == {"value": []}
    assert js(eng, "knownFlow") == {"value": []}
    assert js(eng, "unknownBaseline") == {"thrown": "no baseline nosuch"}
    assert js(eng, "unknownNeighbor") == {"thrown": "no BGP neighbor 192.0.2.99"}


def test_invalid_definition_is_400_in_rest_and_an_error_in_js(eng):
    status, body = eng.request("GET", "/activeflows/ALL/known/json?aggMode=bogus")
    assert status == 400 and "aggMode must be" in body["error"]
    status, body = eng.request(
        "PUT", "/flow/bad/json", {"keys": "ipsource", "value": "bytes", "t": "x"}
    )
    assert (status, body["error"]) == (400, "t must be a number")
    assert eng.request("PUT", "/group/g/json", {"x": ["not-an-address"]})[0] == 400
    assert "aggMode must be" in js(eng, "badAggMode")["thrown"]
    assert js(eng, "badFlow") == {"thrown": "t must be a number"}
    assert js(eng, "badGroups") == {"value": False}  # as sFlow-RT's apps test it


def test_not_running_is_503_on_every_subsystems_routes(eng):
    # history is off by default: its store is "not running"
    status, body = eng.request("GET", "/history/flows/json")
    assert status == 503 and body["error"].startswith("history is off")
    assert js(eng, "historyOff")["thrown"].startswith("history is off")
    routes = {
        "flows": [
            "/activeflows/ALL/known/json",
            "/flow/json",
            "/flows/json",
            "/group/json",
            "/map/json",
            "/threshold/json",
            "/events/json",
            "/flowkeys/json",
        ],
        "metrics": ["/metrics/json", "/metric/ALL/ifinoctets/json"],
        "bgp": ["/bgp/topprefixes/192.0.2.1/json", "/bgp/routepusher/192.0.2.1/json"],
        "topology": ["/topology/json"],
        "forwarding": ["/forwarding/json"],
        "tenants": ["/tenant/json"],
        "history": ["/history/json"],
    }
    subsystems = eng.engine.subsystems
    for name, paths in routes.items():
        held = eng.call(subsystems.pop, name)
        try:
            for path in paths:
                assert eng.request("GET", path) == (
                    503,
                    {"status": 503, "error": f"the {name} subsystem is not running"},
                ), path
        finally:
            eng.call(subsystems.__setitem__, name, held)
    assert eng.request("GET", "/flow/json")[0] == 200


def test_an_internal_key_error_is_a_500_and_a_thrown_error_not_not_found(eng, monkeypatch, caplog):
    flows = eng.engine.subsystems["flows"]

    def broken(*args, **kw):
        return {}["a bug"]

    monkeypatch.setattr(flows, "active_flows", broken)
    with caplog.at_level(logging.ERROR):
        reply = eng.request("GET", "/activeflows/ALL/known/json")
    assert reply == (500, {"status": 500, "error": "internal error: KeyError"})
    assert any(
        r.exc_info and r.exc_info[0] is KeyError and "/activeflows/" in r.getMessage()
        for r in caplog.records
    )
    # the script sees an Error, not the [] activeFlows answers for an unknown flow
    assert js(eng, "knownFlow") == {"thrown": "'a bug'"}


@pytest.mark.parametrize(
    "exc",
    [
        UnknownName("no flow x"),
        InvalidDefinition("t must be a number"),
        NotRunning("the bgp subsystem is not running"),
        HistoryOff("history is off: no store"),
        BackendError("chDB: gone"),
    ],
)
def test_domain_errors_cross_the_worker_protocol_as_themselves(exc):
    [back] = protocol.Decoder().feed(protocol.frame(("reply", 1, False, exc)))
    got = back[3]
    assert type(got) is type(exc) and str(got) == str(exc) and got.reason == exc.reason
    assert isinstance(got, EngineError)
    assert pickle.loads(pickle.dumps(exc)).args == exc.args


def test_errors_raised_in_a_worker_reach_the_front_with_their_type(make_engine):
    eng = make_engine({"sflow.workers": 2})
    assert eng.engine.cluster is not None
    flows = eng.engine.subsystems["flows"]
    eng.call(flows.set_flow, "known", {"keys": "ipsource", "value": "bytes"})
    # asked of the workers directly (the front checks names itself before asking them)
    with pytest.raises(UnknownName, match="no flow nosuch"):
        eng.call(eng.engine.gather, "flows", "active_flows", "ALL", "nosuch")
    with pytest.raises(InvalidDefinition, match="aggMode"):
        eng.call(eng.engine.gather, "flows", "active_flows", "ALL", "known", 10, None, "bogus")
    assert eng.call(eng.engine.gather, "flows", "active_flows", "ALL", "known") == [[], []]
    # and REST answers them as in one process
    assert eng.request("GET", "/activeflows/ALL/nosuch/json")[0] == 404
    assert json.dumps(eng.get_json("/activeflows/ALL/known/json")) == "[]"
