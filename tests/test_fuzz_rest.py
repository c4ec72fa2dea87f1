"""Fuzz: mutated REST bodies, query strings and path segments against a running engine (real
HTTP). Every answer is below 500 with a JSON reason for errors, nothing is logged as an error,
the engine keeps answering, and the changes that were accepted read back as valid JSON
(docs/testing.md)."""

from __future__ import annotations

import json
import logging
import time
import urllib.error
import urllib.parse
import urllib.request

from fuzz_support import count, json_text, mutate_json, odd_value, rng

BODIES = {
    "/flow/{name}/json": [
        {
            "keys": "ipsource,ipdestination",
            "value": "bytes",
            "filter": "ipprotocol=6",
            "t": 5,
            "n": 10,
            "log": True,
            "activeTimeout": 10,
        },
        {
            "keys": ["macsource", "mask:ipdestination:24"],
            "value": "frames",
            "values": ["bytes", "avg:ipbytes"],
            "aggMode": "sum",
            "fs": "|",
            "flowStart": True,
        },
        {"keys": "ipsource", "value": "bytes", "dropped": True},
        {"keys": "ipsource", "value": "bytes", "ipfixCollectors": ["127.0.0.1:9"]},
    ],
    "/threshold/{name}/json": [
        {"metric": "pair", "value": 100, "byFlow": True, "timeout": 2},
        {
            "metric": "ifinutilization",
            "value": "80",
            "filter": {"ifspeed": ["1000000000"], "host_name": "x*"},
        },
    ],
    "/group/{name}/json": [{"private": ["10.0.0.0/8", "192.168.0.0/16"], "v6": ["2001:db8::/32"]}],
    "/map/{name}/json": [{"web": ["80", "443"], "mail": ["25"]}],
    "/forwarding/{name}/json": [{"address": "127.0.0.1", "port": 9, "agents": ["10.0.0.1"]}],
    "/tenant/{name}/json": [
        {
            "collectorAddress": "127.0.0.1",
            "collectorPort": 9,
            "filters": {
                "cidr": ["10.0.0.0/24"],
                "mac": ["D8D385B2DD2B"],
                "ifindex": ["10.0.0.1_2"],
                "ifname": ["10.0.0.1_eth3"],
            },
        }
    ],
    "/topology/json": [
        {
            "nodes": {
                "leaf1": {"agent": "10.0.0.1", "ports": {"swp1": {"ifindex": "3"}}},
                "spine1": {"agent": "10.0.0.2", "ports": {"swp1": {"ifindex": "1"}}},
            },
            "links": {
                "l1": {"node1": "leaf1", "port1": "swp1", "node2": "spine1", "port2": "swp1"}
            },
        }
    ],
    "/bgp/routepusher/127.0.0.1/10.1.0.0/16/json": [
        {
            "nexthop": "192.0.2.1",
            "aspath": "65000-65001",
            "origin": "IGP",
            "localpref": 100,
            "med": 0,
            "communities": "65000:666",
        }
    ],
    "/bgp/flowspec/127.0.0.1/json": [
        {
            "match": {"destination": "10.0.0.1/32", "protocol": "=17", "destination-port": "=53"},
            "then": {"traffic-rate": "0"},
        }
    ],
    "/script/echo.js/body/json": [{"any": ["thing", 1, None]}],
}

QUERIES = {
    "/activeflows/{agent}/{flow}/json": ["maxFlows", "minValue", "aggMode", "filter"],
    "/metric/{agent}/{metric}/json": ["ifspeed", "host_name", "os_name"],
    "/table/{agent}/{metric}/json": ["ifspeed", "sort"],
    "/dump/{agent}/{metric}/json": ["ifindex"],
    "/prometheus/metrics/{agent}/{metric}/txt": ["ifspeed"],
    "/flows/json": ["name", "flowID", "maxFlows", "timeout"],
    "/events/json": ["thresholdID", "eventID", "maxEvents", "timeout"],
    "/flowvalue/{agent}/1.{flow}/json": ["key"],
    "/flowlocations/{agent}/{flow}/json": ["key"],
    "/agents/json": ["agent"],
    "/log/json": ["maxLines", "minLevel", "after"],
    "/bgp/topprefixes/{agent}/json": [
        "maxPrefixes",
        "minValue",
        "direction",
        "includeCovered",
        "pruneCovered",
        "minPrefix",
    ],
    "/bgp/prefix/{agent}/json": ["address"],
    "/metric/{agent}/json": [],
    "/script/echo.js/{flow}/json": ["x"],
}
AGENTS = (
    "ALL",
    "10.0.0.1",
    "10.0.0.1;10.0.0.2",
    "TOPOLOGY",
    "EDGE",
    "CORE",
    "127.0.0.1",
    "::1",
    "leaf1",
    "",
)
METRICS = (
    "ifinoctets",
    "max:ifinoctets,min:load_one",
    "ALL",
    "sort:ifinoctets:-5",
    "med:ifinoctets",
    "pair",
    "q1:x,q3:y",
    "avg:",
    ":",
    "sum:ALL",
)
ECHO = "setHttpHandler(function (req) { return {body: req.body === undefined ? null : req.body, query: req.query, error: req.error || null}; });"


def send(eng, method, path, body=None):
    req = urllib.request.Request(
        eng.http_url + path, data=body, method=method, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(req, timeout=30) as reply:
            return reply.status, reply.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def odd_text(r) -> str:
    v = odd_value(r)
    return v if isinstance(v, str) else json.dumps(v)


def segment(r, choices) -> str:
    text = r.choice(choices) if r.random() < 0.7 else odd_text(r)
    return urllib.parse.quote(text, safe=",;:") or "x"


def test_mutated_bodies_and_queries(make_engine, tmp_path, caplog):
    caplog.set_level(logging.WARNING)
    (tmp_path / "echo.js").write_text(ECHO)
    eng = make_engine(
        {
            "script.file": "echo.js",
            "http.longpoll.max": "0.05",
            "bgp.start": "yes",
            "bgp.port": "0",
            "bgp.hostname": "127.0.0.1",
        },
        home=tmp_path,
    )
    rt = eng.engine.subsystems["runtime"]
    eng.wait_for(lambda: rt.scripts["echo.js"].started, 20)
    eng.call(eng.engine.subsystems["bgp"].add_neighbor, "127.0.0.1", 65000)
    r = rng("rest")
    names = ["pair", "x", "a b", "ü", "..", "%2F"]
    outcomes: dict[int, int] = {}
    failures = []
    n = count(2500)
    t0 = time.monotonic()
    for k in range(n):
        if k % 2 == 0:
            route = r.choice(list(BODIES))
            path = route.replace("{name}", urllib.parse.quote(r.choice(names), safe=""))
            body = r.choice(BODIES[route])
            for _ in range(r.randint(1, 3)):
                body = mutate_json(r, body)
            data = json_text(r, body)
            method = (
                r.choice(("PUT", "PUT", "POST", "DELETE"))
                if not path.startswith("/script")
                else "POST"
            )
        else:
            route = r.choice(list(QUERIES))
            path = (
                route.replace("{agent}", segment(r, AGENTS))
                .replace("{metric}", segment(r, METRICS))
                .replace("{flow}", segment(r, names))
            )
            params = []
            for key in QUERIES[route]:
                if r.random() < 0.6:
                    params.append((key, odd_text(r)))
            if r.random() < 0.2:
                params.append((odd_text(r)[:50] or "k", odd_text(r)))
            if params:
                path += "?" + urllib.parse.urlencode(params)
            data, method = None, "GET"
        status, reply = send(eng, method, path, data)
        outcomes[status] = outcomes.get(status, 0) + 1
        if status >= 500 and not (status == 508):
            failures.append((method, path[:300], (data or b"")[:600], status, reply[:300]))
        elif status >= 400 and reply[:1] == b"{":
            reason = json.loads(reply).get("error", "")
            if not reason or len(reason) > 300:
                failures.append((method, path[:200], (data or b"")[:200], status, reply[:300]))
    took = time.monotonic() - t0
    print(f"\n{n} requests in {took:.1f}s: {dict(sorted(outcomes.items()))}")
    assert not failures, failures[:5]
    # what was accepted reads back as strict JSON, and the engine still works
    for path in (
        "/flow/json",
        "/threshold/json",
        "/group/json",
        "/map/json",
        "/forwarding/json",
        "/tenant/json",
        "/topology/json",
        "/bgp/routepusher/127.0.0.1/json",
        "/analyzer/json",
        "/scripts/json",
    ):
        status, reply = send(eng, "GET", path)
        assert status == 200, (path, reply[:300])
        json.loads(reply)
    assert rt.scripts["echo.js"].alive
    assert eng.engine.stats.handler_errors == 0
    bad = [
        (rec.getMessage()[:300], repr(rec.exc_info[1])[:300] if rec.exc_info else None)
        for rec in caplog.records
        if rec.levelno >= logging.ERROR
    ]
    assert not bad, bad
