"""Fuzz: mutated datagrams of the real captures (../shared/testdata/sflow) through the whole
sample path of a running engine (decoder, agents, counters, flow definitions with keys,
filters, values and thresholds, BGP-less enrichment), then every query route over what was
stored. Bad input is counted as a decode error; nothing else may fail (docs/testing.md)."""

from __future__ import annotations

import json
import logging
import time
import urllib.error
import urllib.request

from engine.sflow.pcap import read_pcap
from fuzz_support import count, mutate_bytes, rng
from paths import SFLOW_DATA

CAPTURES = sorted(SFLOW_DATA.glob("*/*.pcap"))
SEEDS = [p.payload for f in CAPTURES for p in read_pcap(f)]
SEEDS = SEEDS[:60] + SEEDS[60::23]  # a few of every capture, not all 1000 of overflowd's

FLOWS = {
    "pair": {"keys": "ipsource,ipdestination", "value": "bytes", "log": True, "activeTimeout": 1},
    "mac": {
        "keys": "macsource,macdestination,vlan",
        "value": "frames",
        "filter": "ethernetprotocol=0x800",
    },
    "ports": {
        "keys": "ipprotocol,tcpsourceport,udpdestinationport",
        "value": "bytes",
        "values": ["frames", "avg:ipbytes"],
        "filter": "ipprotocol=6|ipprotocol=17",
    },
    "v6": {"keys": "ip6source,mask:ip6destination:48", "value": "bytes"},
    "funcs": {
        "keys": "prefix:[or:ipsource:ip6source]:.:2,country:ipsource,range:ipbytes:0:1500",
        "value": "bytes",
    },
    "inner": {"keys": "ipsource.1,ipdestination.1,vni", "value": "frames"},
    "drops": {"keys": "reason,inputifindex", "value": "frames", "dropped": True},
    "all": {"keys": "agent,inputifindex,outputifindex,headerprotocol", "value": "frames"},
}
QUERIES = [
    "/agents/json",
    "/analyzer/json",
    "/flowkeys/json",
    "/metrics/json",
    "/metric/ALL/json",
    "/metric/ALL/max:ifinoctets,sum:ifoutucastpkts,avg:load_one/json",
    "/dump/ALL/ALL/json",
    "/table/ALL/ifindex,ifinoctets,ifoutoctets/json",
    "/prometheus/metrics/ALL/ALL/txt",
    "/prometheus/analyzer/txt",
    "/flows/json?maxFlows=1000",
    "/events/json",
    "/log/json?minLevel=WARNING",
]


def query(eng, path):
    try:
        with urllib.request.urlopen(eng.http_url + path, timeout=30) as reply:
            return reply.status, reply.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_mutated_captures_through_the_engine(make_engine, caplog):
    caplog.set_level(logging.WARNING)
    eng = make_engine({"flows.max": "200"})
    for name, spec in FLOWS.items():
        assert eng.request("PUT", f"/flow/{name}/json", spec)[0] == 204, name
        assert eng.request("PUT", f"/threshold/{name}/json", {"metric": name, "value": 1})[0] == 204
    r = rng("ingest")
    n = count(30000)
    core = eng.engine
    base = core.stats.datagrams

    def ingest(batch):
        now = time.time()
        for i, data in enumerate(batch):
            core.ingest(data, f"192.0.2.{i % 7}", now)

    t0 = time.monotonic()
    batch = []
    for k in range(n):
        seed = SEEDS[k % len(SEEDS)]
        data = seed if k % 10 == 0 else mutate_bytes(r, seed, SEEDS)
        if r.random() < 0.3:
            data = mutate_bytes(r, data, SEEDS)  # two mutations stacked
        batch.append(data)
        if len(batch) == 200:
            eng.call(ingest, batch)
            batch = []
    if batch:
        eng.call(ingest, batch)
    # a few through the real socket and receive path as well
    sent = eng.send(mutate_bytes(r, SEEDS[k % len(SEEDS)], SEEDS) for k in range(count(200)))
    eng.wait_for(lambda: core.stats.datagrams >= base + n + sent * 0.9, 20)
    took = time.monotonic() - t0
    stats = core.stats
    print(
        f"\n{n} mutated datagrams in {took:.1f}s: {stats.decode_errors} decode errors, "
        f"{stats.flow_samples} flow / {stats.counter_samples} counter samples, "
        f"{len(core.agents.by_address)} agents"
    )
    assert stats.handler_errors == 0
    assert stats.decode_errors > 0 and stats.flow_samples > 0 and stats.counter_samples > 0
    eng.call(core.subsystems["flows"].tick, time.time())
    for path in QUERIES + [f"/activeflows/ALL/{name}/json?maxFlows=50" for name in FLOWS]:
        status, body = query(eng, path)
        assert status == 200, (path, body[:300])
        if path.endswith("json"):
            json.loads(body)  # strict JSON: no NaN or Infinity
    bad = [rec.getMessage()[:300] for rec in caplog.records if rec.levelno >= logging.ERROR]
    assert not bad, bad
