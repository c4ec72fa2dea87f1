"""Real captures through the real decoder into the store, checked against rates computed
independently from sflowtool's ground-truth output of the same captures."""

from __future__ import annotations

import gzip
import ipaddress
import json

import pytest

from engine.metrics import MetricStore
from engine.sflow import decode_datagram
from engine.sflow.pcap import read_pcap

from conftest import SFLOW_TESTDATA

CAPTURES = [
    "overflowd/sflow",
    "tcpdump/sflow_multiple_counter_30_pdus",
    "tcpdump/sflow-print-v6",
    "generated/hsflowd-2.1.25-lo-pcap",
    "nxthdr/sflow",
    "loghub/sflow",
]


def ground_truth(stem: str):
    """[(agent, ds, seq, uptime_ms, {tag: {field: str}})] per counter sample, from sflowtool."""
    path = SFLOW_TESTDATA / (stem + ".sflowtool.jsonl")
    if not path.exists():
        path = SFLOW_TESTDATA / (stem + ".sflowtool.jsonl.gz")
    opener = gzip.open if path.suffix == ".gz" else open
    out = []
    with opener(path, "rt") as f:
        for line in f:
            try:
                dg = json.loads(line)
            except ValueError:
                continue
            for s in dg.get("samples", []):
                if s.get("sampleType") != "COUNTERSSAMPLE":
                    continue
                cls, idx = s["sourceId"].split(":")
                ds = idx if cls == "0" else f"{cls}.{idx}"
                recs = {e["counterBlock_tag"]: e for e in s.get("elements", [])}
                agent = str(ipaddress.ip_address(dg["agent"]))  # sflowtool writes IPv6 in full
                out.append((agent, ds, int(s["sampleSequenceNo"]), int(dg["sysUpTime"]), recs))
    return out


def feed(stem: str) -> MetricStore:
    store = MetricStore(timeout=1e9)  # captures are old: never expire in this test
    for d in read_pcap(SFLOW_TESTDATA / (stem + ".pcap")):
        try:
            dg = decode_datagram(d.payload)
        except ValueError:
            continue  # the NetFlow packets in the tcpdump capture
        for s in dg.samples:
            if s.kind == "counter":
                store.update(
                    dg.agent, s.data_source, s.ds_class, s.seq, s.records(), d.time, dg.uptime
                )
    return store


@pytest.mark.parametrize("stem", CAPTURES)
def test_interface_rates_match_sflowtool(stem):
    store = feed(stem)
    truth = ground_truth(stem)
    last: dict = {}
    pairs: dict = {}
    for agent, ds, seq, up, recs in truth:
        key = (agent, ds)
        p = last.get(key)
        if p is not None and seq > p[0] and up > p[1]:
            pairs[key] = (p, (seq, up, recs))
        elif p is not None:
            pairs.pop(key, None)
        last[key] = (seq, up, recs)
    checked = 0
    for (agent, ds), ((_, up1, r1), (_, up2, r2)) in pairs.items():
        a, b = r1.get("0:1"), r2.get("0:1")
        if not a or not b:
            continue
        values = store.agents[agent].sources[ds].values
        dt = (up2 - up1) / 1000.0
        speed = int(b["ifSpeed"])
        assert values["ifspeed"] == speed
        for field, metric in (
            ("ifInOctets", "ifinoctets"),
            ("ifOutOctets", "ifoutoctets"),
            ("ifInUcastPkts", "ifinucastpkts"),
            ("ifOutErrors", "ifouterrors"),
        ):
            d = int(b[field]) - int(a[field])
            if d < 0 or int(b[field]) == 0xFFFFFFFF:
                continue
            assert values[metric] == pytest.approx(d / dt, rel=1e-9), (agent, ds, metric)
            checked += 1
        d = int(b["ifInOctets"]) - int(a["ifInOctets"])
        if speed and d >= 0:
            assert values["ifinutilization"] == pytest.approx(d / dt * 800 / speed, rel=1e-9)
        status = int(b["ifStatus"])
        assert values["ifoperstatus"] == ("up" if status & 2 else "down")
    if stem.startswith("overflowd"):
        assert checked > 150  # 52 ports polled repeatedly
    for (agent, ds), (_, _, recs) in last.items():
        descr = recs.get("0:2000")
        if descr:
            assert store.agents[agent].sources[ds].values["host_name"] == descr["hostname"]
        cpu = recs.get("0:2003")
        if cpu:
            assert store.agents[agent].sources[ds].values["load_one"] == pytest.approx(
                float(cpu["cpu_load_one"]), abs=0.0005
            )
