"""The seed REST clients (dnspair.py, ddos.py, elephant.py from the 2016 blog posts), ported to
Python 3 with urllib, run against a real engine fed with real sFlow datagrams over UDP.

The ports keep the clients' logic: define the flow (and threshold) with PUT, then long-poll
/flows/json or /events/json with a flowID/eventID cursor, taking records newest first and
reversing them. Only the endless loops become loops with a deadline, and the print becomes
collecting into a list.
"""

import json
import threading
import time
import urllib.request

from dns_support import NSD, Nsd
from engine.sflow import encode, packets

AGENT = "10.0.0.20"


# -- the clients ----------------------------------------------------------------------------
def put(url, obj):
    req = urllib.request.Request(
        url,
        data=json.dumps(obj).encode(),
        method="PUT",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=10) as r:
        return r.status


def get(url):
    with urllib.request.urlopen(url, timeout=70) as r:
        return r.status, json.loads(r.read())


def dnspair(rest, out, deadline, keys):
    flow = {"keys": keys, "value": "bytes", "activeTimeout": 10, "log": True}
    put(rest + "/flow/dnspair/json", flow)
    flowurl = rest + "/flows/json?name=dnspair&maxFlows=10&timeout=5"
    flowID = -1
    while time.time() < deadline and not out:
        status, flows = get(flowurl + "&flowID=" + str(flowID))
        if status != 200:
            break
        if len(flows) == 0:
            continue
        flowID = flows[0]["flowID"]
        flows.reverse()
        for f in flows:
            out.append(f)


def ddos(rest, out, deadline):
    reflector_port = "53"
    max_pps = 100000
    flow = {
        "keys": "mask:ipsource,bgpsourceas",
        "filter": "udpsourceport=" + reflector_port,
        "value": "frames",
    }
    put(rest + "/flow/ddos/json", flow)
    threshold = {"metric": "ddos", "value": max_pps, "byFlow": True}
    put(rest + "/threshold/ddos/json", threshold)
    _tail_events(rest + "/events/json?thresholdID=ddos&maxEvents=10&timeout=5", out, deadline)


def elephant(rest, out, deadline):
    max_Bps = 1000000000 / 8
    flow = {
        "keys": "ipsource,ipdestination,tcpsourceport,tcpdestinationport,bgpdestinationaspath",
        "value": "bytes",
    }
    put(rest + "/flow/elephant/json", flow)
    threshold = {"metric": "elephant", "value": max_Bps, "byFlow": True}
    put(rest + "/threshold/elephant/json", threshold)
    _tail_events(rest + "/events/json?thresholdID=elephant&maxEvents=10&timeout=5", out, deadline)


def _tail_events(eventurl, out, deadline):
    eventID = -1
    while time.time() < deadline and not out:
        status, events = get(eventurl + "&eventID=" + str(eventID))
        if status != 200:
            break
        if len(events) == 0:
            continue
        eventID = events[0]["eventID"]
        events.reverse()
        for e in events:
            out.append(e)


# -- traffic --------------------------------------------------------------------------------
def sample(seq, src, dst, proto, sport, dport, size, rate, src_as, as_path, src_mask):
    frame = packets.frame("020000000001", "020000000002", src, dst, proto, size, sport, dport)
    header = frame[:128]
    hdr = (
        encode.u32(1)
        + encode.u32(size)
        + encode.u32(packets.FCS_LEN)
        + encode.u32(len(header))
        + encode.pad(header)
    )
    router = encode.FLOW_RECORDS["0:1002"](
        {"nextHop": "10.0.0.1", "srcSubnetMask": src_mask, "dstSubnetMask": 24}
    )
    gateway = encode.FLOW_RECORDS["0:1003"](
        {
            "bgp_nexthop": "10.0.0.1",
            "my_as": 65000,
            "src_as": src_as,
            "src_peer_as": src_as,
            "dst_as_path": as_path,
            "BGP_communities": [],
            "BGP_localpref": 100,
        }
    )
    recs = [
        encode.record("0:1", hdr),
        encode.record("0:1002", router),
        encode.record("0:1003", gateway),
    ]
    return encode.flow_sample(seq, 0, 10, rate, seq * rate, 0, 10, 11, recs)


class Traffic(threading.Thread):
    """Every 0.1 s: DNS responses (UDP sport 53) from 198.51.100.7 at 200k frames/s
    (sampled 1:1000), a 1.5 GB/s TCP elephant (sampled 1:10000) and a small flow below both
    thresholds, with extended router/gateway records (AS numbers, AS path, mask bits)."""

    def __init__(self, eng):
        super().__init__(daemon=True)
        self.eng = eng
        self.stop = threading.Event()

    def run(self):
        seq = 0
        dseq = 0
        while not self.stop.is_set():
            samples = []
            for _ in range(20):  # 20 per 0.1 s x 1000 = 200,000 frames/s
                seq += 1
                samples.append(
                    sample(
                        seq,
                        "198.51.100.7",
                        "10.0.0.5",
                        17,
                        53,
                        33000,
                        512,
                        1000,
                        64500,
                        [64500],
                        13,
                    )
                )
            for _ in range(10):  # 10 per 0.1 s x 10000 x 1500 B = 150 MB/s = 1.2 Gbit/s
                seq += 1
                samples.append(
                    sample(
                        seq,
                        "10.0.0.162",
                        "203.0.113.9",
                        6,
                        60789,
                        25,
                        1500,
                        10000,
                        65000,
                        [64501, 64502],
                        24,
                    )
                )
            seq += 1
            samples.append(
                sample(seq, "10.0.0.70", "10.0.0.162", 6, 56174, 22, 100, 10, 65000, [65000], 24)
            )
            for i in range(0, len(samples), 8):
                dseq += 1
                self.eng.send(
                    encode.datagram(
                        AGENT, dseq, int(time.time() * 1000) & 0xFFFFFFF, samples[i : i + 8]
                    )
                )
            self.stop.wait(0.1)


PTR = {
    "10.0.0.162": "xenvm11.example.test.",
    "203.0.113.9": "mx.example.test.",
    "198.51.100.7": "resolver.example.test.",
    "10.0.0.5": "victim.example.test.",
    "10.0.0.70": "dhcp20.example.test.",
}


def test_seed_rest_clients_get_their_records_and_events(make_engine, tmp_path):
    # dnspair's dns: keys resolve through a real DNS server (NSD) holding PTR records for the
    # traffic's addresses; without nsd installed the flow keys on the addresses themselves.
    nsd = Nsd(tmp_path / "nsd", ptr=PTR).start() if NSD else None
    try:
        eng = make_engine({"dns.servers": nsd.server} if nsd else {})
        keys = "dns:ipsource,dns:ipdestination" if nsd else "ipsource,ipdestination"
        results = run_clients(eng, keys)
    finally:
        if nsd:
            nsd.stop()

    ddos_keys = [e["flowKey"] for e in results["ddos"]]
    assert ddos_keys == ["198.48.0.0/13,64500"]  # 198.51.100.7 masked to /13, source AS
    e = results["ddos"][0]
    assert e["agent"] == AGENT and e["dataSource"] == "10" and e["value"] > 100000
    assert e["thresholdID"] == "ddos" and e["metric"] == "ddos"

    assert [e["flowKey"] for e in results["elephant"]] == [
        "10.0.0.162,203.0.113.9,60789,25,64501-64502"
    ]
    assert results["elephant"][0]["value"] > 1000000000 / 8

    recs = results["dnspair"]
    assert recs, "no dnspair flow records within the deadline"
    names = (lambda ip: PTR[ip]) if nsd else (lambda ip: ip)
    expected = {
        f"{names(a)},{names(b)}"
        for a, b in [
            ("198.51.100.7", "10.0.0.5"),
            ("10.0.0.162", "203.0.113.9"),
            ("10.0.0.70", "10.0.0.162"),
        ]
    }
    assert {r["flowKeys"] for r in recs} <= expected
    r = recs[0]
    assert set(r) >= {"flowID", "name", "flowKeys", "value", "start", "end", "agent", "dataSource"}
    assert r["name"] == "dnspair" and r["agent"] == AGENT and r["value"] > 0
    assert 8000 <= r["end"] - r["start"] <= 11500  # activeTimeout 10 s


def run_clients(eng, dnspair_keys):
    rest = eng.http_url
    results = {"dnspair": [], "ddos": [], "elephant": []}
    deadline = time.time() + 40
    clients = [
        threading.Thread(target=dnspair, args=(rest, results["dnspair"], deadline, dnspair_keys)),
        threading.Thread(target=ddos, args=(rest, results["ddos"], deadline)),
        threading.Thread(target=elephant, args=(rest, results["elephant"], deadline)),
    ]
    for c in clients:
        c.start()
    eng.wait_for(
        lambda: len(eng.get_json("/flow/json")) == 3 and len(eng.get_json("/threshold/json")) == 2
    )
    traffic = Traffic(eng)
    traffic.start()
    try:
        for c in clients:
            c.join(45)
    finally:
        traffic.stop.set()
        traffic.join(5)
    return results
