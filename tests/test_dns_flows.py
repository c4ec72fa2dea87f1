"""dns:, country:, asn: and oui: inside a running engine: sFlow over UDP in, REST out."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import pytest

from dns_support import NSD, Nsd, SilentServer
from engine.sflow import encode, packets
from paths import GEOIP_DATA
from waiting import wait_until

GEOIP = GEOIP_DATA
if not GEOIP.is_dir():
    GEOIP = Path(__file__).resolve().parent.parent.parent / "shared" / "testdata" / "geoip"

PTR = {"192.0.2.10": "client.example.test.", "192.0.2.20": "server.example.test."}


def put_json(eng, path: str, body) -> int:
    req = urllib.request.Request(
        eng.http_url + path,
        data=json.dumps(body).encode(),
        method="PUT",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=10) as reply:
        return reply.status


def datagram(seq: int, flows, agent: str = "192.0.2.254") -> bytes:
    """One datagram holding one flow sample per (src_mac, src, dst) item."""
    samples = []
    for i, (src_mac, src, dst) in enumerate(flows):
        frame = packets.frame(src_mac, "020000000002", src, dst, 6, 1000, 40000, 443)
        header = frame[:128]
        rec = encode.record(
            "0:1",
            encode.u32(1)
            + encode.u32(1000)
            + encode.u32(4)
            + encode.u32(len(header))
            + encode.pad(header),
        )
        samples.append(encode.flow_sample(seq * 10 + i, 0, 3, 100, 100 * seq, 0, 3, 4, [rec]))
    return encode.datagram(agent, seq, seq * 1000, samples)


class Sender:
    def __init__(self, eng, flows):
        self.eng, self.flows, self.seq = eng, flows, 0

    def __call__(self):
        self.seq += 1
        self.eng.send(datagram(self.seq, self.flows))


def poll(eng, send, predicate, timeout: float = 15.0):
    """Send traffic and poll until predicate() is truthy."""

    def sent_then():
        send()
        return predicate()

    return wait_until(sent_then, timeout, 0.1)


@pytest.mark.skipif(NSD is None, reason="nsd (Debian package nsd) not installed")
def test_names_appear_in_activeflows_and_flow_records(make_engine, tmp_path):
    nsd = Nsd(tmp_path / "nsd", ptr=PTR).start()
    try:
        eng = make_engine({"dns.servers": nsd.server})
        # the blog's dnspair.py flow, plus the fall-back form
        assert put_json(
            eng,
            "/flow/dnspair/json",
            {
                "keys": "dns:ipsource,dns:ipdestination",
                "value": "bytes",
                "activeTimeout": 1,
                "log": True,
            },
        ) in (200, 204)
        assert put_json(
            eng,
            "/flow/named/json",
            {"keys": "or:[dns:ipsource]:ipsource,null:[dns:ipdestination]:none", "value": "frames"},
        ) in (200, 204)
        send = Sender(
            eng,
            [
                ("020000000001", "192.0.2.10", "192.0.2.20"),
                ("020000000001", "192.0.2.10", "192.0.2.30"),
            ],
        )
        want = "client.example.test.,server.example.test."

        def active():
            rows = eng.get_json("/activeflows/ALL/dnspair/json?maxFlows=10")
            return [r for r in rows if r["key"] == want]

        rows = poll(eng, send, active)
        assert rows[0]["value"] > 0
        # 192.0.2.30 has no PTR: dnspair never counts it, the fall-back flow keys it as is
        named = poll(
            eng,
            send,
            lambda: (
                {r["key"] for r in eng.get_json("/activeflows/ALL/named/json")}
                >= {"client.example.test.,server.example.test.", "client.example.test.,none"}
            ),
        )
        assert named
        assert all(
            "192.0.2.30" not in r["key"] for r in eng.get_json("/activeflows/ALL/dnspair/json")
        )
        records = poll(eng, send, lambda: eng.get_json("/flows/json?name=dnspair&maxFlows=10"))
        assert {r["flowKeys"] for r in records} == {want}
        assert records[0]["name"] == "dnspair" and records[0]["agent"] == "192.0.2.254"
        dns_state = dns_counters(eng)
        assert dns_state["errors"] == 0 and dns_state["answers"] == 2
    finally:
        nsd.stop()


def test_dead_dns_server_leaves_the_sample_path_alone(make_engine):
    silent = SilentServer()
    try:
        eng = make_engine(
            {"dns.servers": silent.server, "dns.timeout": "0.3", "dns.queue.size": "20"}
        )
        put_json(eng, "/flow/bysrc/json", {"keys": "or:[dns:ipsource]:ipsource", "value": "frames"})
        flows = [("020000000001", f"198.51.100.{i}", "192.0.2.20") for i in range(60)]
        send = Sender(eng, flows[:30])
        send2 = Sender(eng, flows[30:])
        for _ in range(10):
            send()
            send2()
        eng.wait_datagrams(20)
        keys = poll(
            eng,
            send,
            lambda: {r["key"] for r in eng.get_json("/activeflows/ALL/bysrc/json?maxFlows=100")},
        )
        assert keys <= {f"198.51.100.{i}" for i in range(60)}
        states = eng.call(eng.engine.gather, "dns", "json")  # each sFlow worker resolves
        assert all(st["queued"] <= 20 for st in states) and dns_counters(eng)["dropped"] > 0
        analyzer = eng.get_json("/analyzer/json")
        assert analyzer["sFlowFlowSamples"] >= 20 * 30 and analyzer["sFlowHandlerErrors"] == 0
    finally:
        silent.close()


@pytest.mark.skipif(
    not (GEOIP / "GeoIP2-Country-Test.mmdb").is_file(), reason="shared GeoIP test data not present"
)
def test_country_asn_oui_in_keys_and_filters(make_engine):
    eng = make_engine(
        {
            "geo.country": str(GEOIP / "GeoIP2-Country-Test.mmdb"),
            "geo.asn": str(GEOIP / "GeoLite2-ASN-Test.mmdb"),
        }
    )
    put_json(
        eng,
        "/flow/geo/json",
        {
            "keys": "country:ipsource,asn:ipsource:both,oui:macsource:name,"
            "if:[first:stack:.:ip:ip6]:ip:[country:ipdestination]:[country:ip6destination]",
            "value": "bytes",
            "filter": "country:ipsource=SE,US",
        },
    )
    put_json(
        eng,
        "/flow/geo6/json",
        {
            "keys": "if:[first:stack:.:ip:ip6]:ip:[country:ipsource]:[country:ip6source]",
            "value": "frames",
        },
    )
    send = Sender(
        eng,
        [
            ("00000C000001", "89.160.20.112", "67.43.156.1"),
            ("00000C000001", "216.160.83.56", "202.196.224.1"),
            ("00000C000001", "81.2.69.142", "67.43.156.1"),  # GB: filtered out
            ("FEFFFF000001", "2001:218::1", "2a02:cf40::1"),
        ],
    )

    def keys(name):
        return {r["key"] for r in eng.get_json(f"/activeflows/ALL/{name}/json?maxFlows=20")}

    cisco = "Cisco Systems, Inc"
    want = {f"SE,29518 Bredband2 AB,{cisco},BT", f"US,209,{cisco},PH"}
    assert poll(eng, send, lambda: keys("geo") == want)
    assert poll(eng, send, lambda: keys("geo6") == {"SE", "US", "GB", "JP"})


def dns_counters(eng) -> dict:
    """The DNS service's counters, summed over the processes that resolve (with sFlow
    workers each worker looks up the addresses of its agents' samples)."""
    out: dict = {}
    for state in eng.call(eng.engine.gather, "dns", "json"):
        for key, value in state.items():
            if isinstance(value, int):
                out[key] = out.get(key, 0) + value
    return out
