"""IPFIX export of flow definitions (``ipfixCollectors``, engine/flows/ipfix.py).

The exported messages are read by a small IPFIX parser written here (templates and data sets,
RFC 7011) and by a real collector, nfdump's nfcapd; the counts must match traffic generated
with known rates (engine.sflow.gen)."""

from __future__ import annotations

import ipaddress
import json
import shutil
import signal
import socket
import struct
import subprocess
import time
import urllib.request
from collections import defaultdict

import pytest

from engine import props
from engine.core import Engine
from engine.flows.cache import idle_timeout
from engine.sflow.gen import Scenario, TrafficGenerator

from conftest import free_port

T0 = 1_700_000_000.0


# -- an independent IPFIX reader ----------------------------------------------------------------
ADDRESS_IES = {8: 4, 12: 4, 27: 6, 28: 6}  # IE -> IP version
MAC_IES = {56, 80}


def parse_message(msg: bytes, templates: dict) -> dict:
    """One IPFIX message -> {domain, seq, export_time, template_ids, records: [{ie: value}]};
    templates ({(domain, template id): [(ie, length)]}) are learned from template sets."""
    version, length, export_time, seq, domain = struct.unpack_from("!HHIII", msg)
    assert version == 10, version
    assert length == len(msg), (length, len(msg))
    out = {
        "domain": domain,
        "seq": seq,
        "export_time": export_time,
        "template_ids": [],
        "records": [],
    }
    off = 16
    while off < length:
        set_id, set_len = struct.unpack_from("!HH", msg, off)
        assert set_len >= 4 and off + set_len <= length
        body = msg[off + 4 : off + set_len]
        off += set_len
        if set_id == 2:  # template set
            p = 0
            while len(body) - p >= 4:
                tid, count = struct.unpack_from("!HH", body, p)
                p += 4
                fields = []
                for _ in range(count):
                    ie, flen = struct.unpack_from("!HH", body, p)
                    p += 4
                    if ie & 0x8000:  # enterprise number follows
                        p += 4
                    fields.append((ie & 0x7FFF, flen))
                templates[(domain, tid)] = fields
                out["template_ids"].append(tid)
        elif set_id >= 256:  # data set
            fields = templates[(domain, set_id)]  # KeyError: data before its template
            rlen = sum(flen for _, flen in fields)
            p = 0
            while len(body) - p >= rlen:
                rec = {}
                for ie, flen in fields:
                    raw = body[p : p + flen]
                    p += flen
                    if ie in ADDRESS_IES:
                        rec[ie] = str(ipaddress.ip_address(raw))
                    elif ie in MAC_IES:
                        rec[ie] = raw.hex().upper()
                    else:
                        rec[ie] = int.from_bytes(raw, "big")
                out["records"].append(rec)
            assert len(body) - p < 4, "data set padding too long"
    return out


class Collector:
    """A UDP socket on a loopback ephemeral port; drain() returns what arrived so far."""

    def __init__(self, family=socket.AF_INET, host="127.0.0.1"):
        self.sock = socket.socket(family, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        self.sock.bind((host, 0))
        self.sock.setblocking(False)
        self.port = self.sock.getsockname()[1]
        self.address = f"[{host}]:{self.port}" if ":" in host else f"{host}:{self.port}"
        self.messages: list[tuple[int, bytes]] = []  # (sender port, message)

    def drain(self) -> list[tuple[int, bytes]]:
        while True:
            try:
                data, addr = self.sock.recvfrom(65535)
            except BlockingIOError:
                return self.messages
            self.messages.append((addr[1], data))

    def close(self):
        self.sock.close()


@pytest.fixture
def collectors():
    made = []

    def make(family=socket.AF_INET, host="127.0.0.1"):
        c = Collector(family, host)
        made.append(c)
        return c

    yield make
    for c in made:
        c.close()


def decode_all(messages) -> list[dict]:
    """Messages in arrival order, templates tracked per sender (transport session)."""
    templates: dict = defaultdict(dict)
    out = []
    for sport, msg in messages:
        m = parse_message(msg, templates[sport])
        m["session"] = sport
        out.append(m)
    return out


# -- (1) exported records against generated traffic (simulated time, parsed here) ---------------
def test_records_match_generated_traffic_templates_sequence_and_domains(collectors):
    rate = 100
    gen = TrafficGenerator(
        Scenario(
            agents=2,
            flows=30,
            samples_per_second=1500,
            sampling_rate=rate,
            ipv6_fraction=0.4,
            protocols=(("tcp", 0.6), ("udp", 0.4)),
            start_time=T0,
            seed=5,
        )
    )
    eng = Engine(props.Properties(dict(props.DEFAULTS)))
    fe = eng.subsystems["flows"]
    c4a, c4b, c6 = collectors(), collectors(), collectors(socket.AF_INET6, "::1")
    fe.set_flow(
        "tcp4",
        {
            "keys": "ipsource,ipdestination,tcpsourceport,tcpdestinationport,"
            "inputifindex,outputifindex",
            "value": "bytes",
            "values": ["frames"],
            "activeTimeout": 5,
            "ipfixCollectors": [c4a.address, c4b.address],
        },
    )
    fe.set_flow(
        "udp6",
        {
            "keys": [
                "ip6source",
                "ip6destination",
                "ip6nexthdr",
                "udpsourceport",
                "udpdestinationport",
                "macsource",
                "macdestination",
            ],
            "value": "frames",
            "t": 1,
            "ipfixCollectors": [c6.address],
        },
    )
    assert fe.get_flow("udp6")["ipfixCollectors"] == [c6.address]
    seconds = 12
    last_tick = T0
    for now, dgs in gen.run(seconds, dt=0.25):
        for dg in dgs:
            eng.ingest(dg, "127.0.0.1", now)
        if now - last_tick >= 1.0:
            fe.tick(now)
            last_tick = now
    end = T0 + seconds
    # while the flows run, only the definition with activeTimeout 5 has reported (udp6 has
    # the default 60 s and its flows have not ended) ...
    assert c4a.drain() and not c6.drain()
    # ... then every flow ends (idle) and its last counts go out
    fe.tick(end + idle_timeout(2) + 1)
    for c in (c4a, c4b, c6):
        c.drain()
    assert fe.tables["tcp4"].exporter.errors == 0 and fe.tables["udp6"].exporter.errors == 0

    # every collector of a definition gets the same messages
    assert [m for _, m in c4a.messages] == [m for _, m in c4b.messages]
    tcp_msgs = decode_all(c4a.messages)
    udp_msgs = decode_all(c6.messages)
    assert tcp_msgs and udp_msgs

    # one template per definition, the standard IEs in key order, counters, start/end times
    tcp_fields = [
        (8, 4),
        (12, 4),
        (7, 2),
        (11, 2),
        (10, 4),
        (14, 4),
        (4, 1),
        (1, 8),
        (2, 8),
        (152, 8),
        (153, 8),
    ]
    udp_fields = [
        (27, 16),
        (28, 16),
        (193, 1),
        (7, 2),
        (11, 2),
        (56, 6),
        (80, 6),
        (4, 1),
        (2, 8),
        (152, 8),
        (153, 8),
    ]
    for name, c, fields in (("tcp4", c4a, tcp_fields), ("udp6", c6, udp_fields)):
        tid = fe.tables[name].exporter.template.id
        assert tid >= 256
        templates = {}
        msgs = [parse_message(m, templates) for _, m in c.messages]
        assert {k[1] for k in templates} == {tid}
        assert all(f == fields for f in templates.values())
        # observation domain = the agent's IPv4 address
        domains = {m["domain"] for m in msgs}
        assert domains == {int(ipaddress.ip_address(a.address)) for a in gen.agents}
        for dom in domains:
            mine = [m for m in msgs if m["domain"] == dom]
            # the template comes first (test_template_refresh... checks the re-sends)
            assert mine[0]["template_ids"] == [tid]
            # sequence number = data records sent to this domain before the message
            sent = 0
            for m in mine:
                assert m["seq"] == sent
                assert m["records"]
                sent += len(m["records"])

    # counts: exactly the sampled estimate (samples x rate), within one sample of the truth
    def totals(msgs, key_ies):
        out = defaultdict(lambda: [0, 0, [], []])
        for m in msgs:
            for r in m["records"]:
                k = (m["domain"],) + tuple(r[ie] for ie in key_ies)
                t = out[k]
                t[0] += r.get(1, 0)
                t[1] += r.get(2, 0)
                t[2].append((r[152], r[153]))
                t[3].append(m["export_time"])
        return out

    tcp = totals(tcp_msgs, (8, 12, 7, 11, 10, 14, 4))
    udp = totals(udp_msgs, (27, 28, 193, 7, 11, 56, 80, 4))
    want_tcp, want_udp = {}, {}
    for a in gen.agents:
        dom = int(ipaddress.ip_address(a.address))
        for f in a.flows:
            if f.samples == 0:
                continue
            if ":" not in f.src and f.proto == 6:
                want_tcp[(dom, f.src, f.dst, f.sport, f.dport, f.in_port, f.out_port, 6)] = f
            elif ":" in f.src and f.proto == 17:
                want_udp[
                    (
                        dom,
                        f.src,
                        f.dst,
                        17,
                        f.sport,
                        f.dport,
                        f.src_mac.upper(),
                        f.dst_mac.upper(),
                        17,
                    )
                ] = f
    assert want_tcp and want_udp
    assert set(tcp) == set(want_tcp)
    assert set(udp) == set(want_udp)
    for got, want, has_bytes in ((tcp, want_tcp, True), (udp, want_udp, False)):
        for k, f in want.items():
            octets, frames, spans, _ = got[k]
            assert frames == f.samples * rate
            true_frames = f.frames_per_second * seconds
            assert abs(frames - true_frames) <= rate, (k, frames, true_frames)
            if has_bytes:
                assert octets == f.samples * rate * f.frame_size
            else:
                assert octets == 0  # frames only: no octetDeltaCount field
            for start, last in spans:
                assert T0 * 1000 <= start <= last <= end * 1000
    # long flows are exported every activeTimeout (5 s) with delta counts: the heaviest TCP
    # flow of each agent has three reports (0-5 s, 5-10 s, 10-12 s) whose spans do not overlap
    for a in gen.agents:
        heavy = [k for k, f in want_tcp.items() if f.agent == a.address]
        k = max(heavy, key=lambda k: want_tcp[k].frames_per_second)
        spans = sorted(tcp[k][2])
        assert len(spans) == 3, spans
        assert all(spans[i][1] <= spans[i + 1][0] for i in range(len(spans) - 1))
        assert sorted(tcp[k][3])[0] < end  # the first report left before the flow ended


def test_template_refresh_shared_sequence_and_send_errors(collectors):
    """Definitions share one exporting process: one sequence per (collector, domain) across
    them, a template id each; templates are re-sent 30 s on; a failing collector is counted
    and does not stop the others."""
    from engine.flows.engine import FlowEngine

    fe = FlowEngine(None)
    col = collectors()
    # 255.255.255.255 without SO_BROADCAST: the kernel refuses the send (EACCES), nothing leaves
    spec = {"value": "bytes", "ipfixCollectors": ["255.255.255.255:9", col.address]}
    fe.set_flow("a", dict(spec, keys="ipsource"))
    fe.set_flow("b", dict(spec, keys="ipsource,ipdestination", values=["frames"]))
    ta, tb = fe.tables["a"].exporter, fe.tables["b"].exporter
    assert ta.template.id != tb.template.id
    pkt = {"ipsource": "10.0.0.1", "ipdestination": "10.0.0.2", "bytes": 100, "frames": 1}

    def burst(start, agent="192.0.2.7"):
        for i in range(5):
            fe.process(pkt, agent, "1", 10, start + i)
        fe.tick(start + 4 + idle_timeout(2) + 1)  # both flows end and are exported

    burst(T0)  # templates (first time)
    burst(T0 + 20)  # no templates: sent 20 s ago
    burst(T0 + 40)  # templates again: 40 s ago
    burst(T0 + 41, agent="192.0.2.8")  # another domain: its own templates and sequence
    templates: dict = {}
    msgs = [parse_message(m, templates) for _, m in col.drain()]
    dom7, dom8 = int(ipaddress.ip_address("192.0.2.7")), int(ipaddress.ip_address("192.0.2.8"))
    assert [(m["domain"], m["template_ids"], m["seq"], len(m["records"])) for m in msgs] == [
        (dom7, [ta.template.id], 0, 1),
        (dom7, [tb.template.id], 1, 1),
        (dom7, [], 2, 1),
        (dom7, [], 3, 1),
        (dom7, [ta.template.id], 4, 1),
        (dom7, [tb.template.id], 5, 1),
        (dom8, [ta.template.id], 0, 1),
        (dom8, [tb.template.id], 0 + 1, 1),
    ]
    assert msgs[0]["records"][0][1] == 5 * 100 * 10
    assert msgs[1]["records"][0][1] == 5 * 100 * 10 and msgs[1]["records"][0][2] == 5 * 10
    assert ta.errors == 4 and tb.errors == 4 and ta.records == 4 and tb.records == 4
    # a deleted definition releases its template id and stops
    fe.clear_flow("a")
    assert ta.closed and ta.template.id not in ta.sender.ids


# -- (2) a real collector: nfdump's nfcapd ------------------------------------------------------
def _need(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        pytest.skip(f"{tool} not installed (Debian package nfdump: apt-get install -y nfdump)")
    return path


def test_nfcapd_receives_the_flows(make_engine, tmp_path):
    nfcapd, nfdump = _need("nfcapd"), _need("nfdump")
    outdir = tmp_path / "nfcapd"
    outdir.mkdir()
    port = free_port("udp")
    proc = subprocess.Popen(
        [nfcapd, "-b", "127.0.0.1", "-p", str(port), "-w", str(outdir), "-t", "3600"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        rate = 50
        gen = TrafficGenerator(
            Scenario(
                agents=1,
                flows=12,
                samples_per_second=2000,
                sampling_rate=rate,
                ipv6_fraction=0.3,
                protocols=(("tcp", 0.5), ("udp", 0.5)),
                seed=3,
            )
        )
        eng = make_engine()
        fields = {
            "keys": "ipsource,ipdestination,ipprotocol,tcpsourceport,tcpdestinationport,"
            "inputifindex,outputifindex",
            "value": "bytes",
            "values": "frames",
            "activeTimeout": 1,
            "ipfixCollectors": [f"127.0.0.1:{port}"],
        }
        assert eng.request("PUT", "/flow/nf4/json", fields)[0] == 204
        fields6 = {
            "keys": "ip6source,ip6destination,ip6nexthdr,udpsourceport,udpdestinationport",
            "value": "frames",
            "values": ["bytes"],
            "ipfixCollectors": [f"127.0.0.1:{port}"],
        }
        assert eng.request("PUT", "/flow/nf6/json", fields6)[0] == 204
        time.sleep(0.3)  # nfcapd is listening by now (its socket is bound before the loop)
        assert proc.poll() is None, proc.stdout.read().decode()
        dgs = [dg for _, step in gen.run(4, dt=0.5) for dg in step]
        eng.send_paced(dgs)
        eng.wait_for(lambda: eng.engine.stats.datagrams >= len(dgs))

        # nf4 (activeTimeout 1 s) reports from the engine's 1 s housekeeping while it runs ...
        def exporters():  # each process that exports (with sFlow workers: each worker)
            return [st for st in eng.call(eng.engine.gather, "flows", "ipfix_stats", "nf4") if st]

        eng.wait_for(lambda: sum(st["records"] for st in exporters()) > 0, timeout=10)
        # the exporter's counters, read-only, in the definition as GET shows it
        stats = eng.request("GET", "/flow/nf4/json")[1]["ipfixStats"]
        assert stats["templateId"] == exporters()[0]["templateId"] and stats["records"] > 0
        assert stats["messages"] > 0 and stats["errors"] == stats["dropped"] == 0
        assert eng.request("GET", "/flow/json")[1]["nf6"]["ipfixStats"]["templateId"] > 0
        # ... and deleting a definition exports what its flows have counted since
        assert eng.request("DELETE", "/flow/nf4/json")[0] == 204
        assert eng.request("DELETE", "/flow/nf6/json")[0] == 204
        time.sleep(0.5)
    finally:
        proc.send_signal(signal.SIGTERM)  # nfcapd writes its file when it terminates
        try:
            log = proc.communicate(timeout=10)[0].decode()
        except subprocess.TimeoutExpired:
            proc.kill()
            log = proc.communicate()[0].decode()
    out = subprocess.run(
        [nfdump, "-R", str(outdir), "-o", "json"], capture_output=True, text=True, timeout=30
    )
    assert out.returncode == 0, out.stderr + log
    flows = json.loads(out.stdout)
    assert "Sequence Errors: 0" in log, log
    got = {}
    for f in flows:
        src = f.get("src4_addr") or f.get("src6_addr")
        dst = f.get("dst4_addr") or f.get("dst6_addr")
        key = (src, dst, f["proto"], f["src_port"], f["dst_port"])
        if key in got:  # an activeTimeout report and a later one: deltas add up
            assert ":" not in src  # nf6 has the default 60 s: one record per flow
            got[key]["in_packets"] += f["in_packets"]
            got[key]["in_bytes"] += f["in_bytes"]
            got[key]["last"] = max(got[key]["last"], f["last"])
        else:
            got[key] = f
    want = {}
    for f in gen.flows:
        if f.samples and ((":" not in f.src and f.proto == 6) or (":" in f.src and f.proto == 17)):
            want[(f.src, f.dst, f.proto, f.sport, f.dport)] = f
    assert any(":" in k[0] for k in want) and any(":" not in k[0] for k in want)
    assert set(got) == set(want)
    for k, f in want.items():
        rec = got[k]
        assert rec["in_packets"] == f.samples * rate
        assert rec["in_bytes"] == f.samples * rate * f.frame_size
        true_frames = f.frames_per_second * 4
        assert abs(rec["in_packets"] - true_frames) <= max(rate, 0.02 * true_frames)
        if ":" not in f.src:
            assert (rec["input_snmp"], rec["output_snmp"]) == (f.in_port, f.out_port)
        assert rec["first"] <= rec["last"]


# -- (3) what IPFIX cannot carry is refused -----------------------------------------------------
BAD = [
    ({"keys": "ipsource,ipttl", "value": "bytes"}, ["1.2.3.4"], "ipttl"),
    ({"keys": "ipsource,tcpflags", "value": "bytes"}, ["1.2.3.4"], "tcpflags"),
    ({"keys": "ipsource.1", "value": "bytes"}, ["1.2.3.4"], "ipsource.1"),
    ({"keys": "mask:ipsource:24", "value": "bytes"}, ["1.2.3.4"], "mask:ipsource:24"),
    ({"keys": "ipsource", "value": "requests"}, ["1.2.3.4"], "requests"),
    ({"keys": "ipsource", "value": "avg:bytes"}, ["1.2.3.4"], "avg:bytes"),
    (
        {"keys": "ipsource", "value": "bytes", "values": ["count:ipdestination"]},
        ["1.2.3.4"],
        "count:ipdestination",
    ),
    ({"keys": "ipsource", "value": "bytes", "values": ["bytes"]}, ["1.2.3.4"], "once"),
    ({"keys": "tcpsourceport,udpsourceport", "value": "bytes"}, ["1.2.3.4"], "udpsourceport"),
    ({"keys": "ipsource", "value": "bytes"}, ["collector.example.com"], "not an IP address"),
    ({"keys": "ipsource", "value": "bytes"}, ["10.0.0.1:0"], "port"),
    ({"keys": "ipsource", "value": "bytes"}, ["10.0.0.1:65536"], "port"),
    ({"keys": "ipsource", "value": "bytes"}, ["[::1"], "bad address"),
    ({"keys": "ipsource", "value": "bytes"}, ["[::1]x"], "bad address"),
    ({"keys": "ipsource", "value": "bytes"}, "10.0.0.1", "array of strings"),
    ({"keys": "ipsource", "value": "bytes"}, [4739], "array of strings"),
]


def test_bad_definitions_are_refused_with_a_reason(make_engine, tmp_path):
    (tmp_path / "ipfix.js").write_text(JS)
    eng = make_engine({"script.file": "ipfix.js"}, home=tmp_path)
    for spec, collectors, reason in BAD:
        status, body = eng.request("PUT", "/flow/bad/json", dict(spec, ipfixCollectors=collectors))
        assert status == 400, (spec, collectors, status)
        assert reason in body["error"], (reason, body)
    assert eng.request("GET", "/flow/bad/json")[0] == 404
    # accepted forms: ip, ip:port, [ipv6]:port, bare ipv6; an empty list exports nothing
    ok = {
        "keys": "macsource,vlan,priority,ethernetprotocol",
        "value": "frames",
        "ipfixCollectors": ["127.0.0.1", "127.0.0.1:2055", "[::1]:4740", "::1"],
    }
    assert eng.request("PUT", "/flow/ok/json", ok)[0] == 204
    assert eng.request("GET", "/flow/ok/json")[1]["ipfixCollectors"] == ok["ipfixCollectors"]
    spec = eng.engine.subsystems["flows"].tables["ok"].spec
    assert [(a, p) for a, p, _ in spec.ipfix_collectors] == [
        ("127.0.0.1", 4739),
        ("127.0.0.1", 2055),
        ("::1", 4740),
        ("::1", 4739),
    ]
    # an exporter where the flows are (with sFlow workers: in each worker), none for []
    assert all(eng.call(eng.engine.gather, "flows", "ipfix_stats", "ok"))
    assert eng.request("PUT", "/flow/none/json", {"keys": "ipttl", "ipfixCollectors": []})[0] == 204
    assert not any(eng.call(eng.engine.gather, "flows", "ipfix_stats", "none"))
    # setFlow throws the same reason in JavaScript
    runtime = eng.engine.subsystems["runtime"]
    eng.wait_for(lambda: runtime.scripts and all(s.started for s in runtime.scripts.values()), 30)
    with urllib.request.urlopen(f"{eng.http_url}/script/ipfix.js/json", timeout=20) as r:
        result = json.loads(r.read())
    assert result["bad"].startswith("error:") and "ipttl" in result["bad"], result
    assert result["good"] is True


JS = r"""
setHttpHandler(function(req) {
  var out = {};
  try { setFlow('jsbad', {keys: 'ipsource,ipttl', value: 'bytes', ipfixCollectors: ['127.0.0.1']});
        out.bad = 'no error'; }
  catch (e) { out.bad = 'error: ' + (e.message || e); }
  out.good = setFlow('jsgood', {keys: 'ipsource,ipdestination', value: 'bytes',
                                ipfixCollectors: ['127.0.0.1:9']});
  clearFlow('jsgood');
  return out;
});
"""


# -- (4) definitions without collectors send nothing and keep the fast path ---------------------
def test_definition_without_collectors_sends_nothing(collectors):
    from engine.flows import pipeline
    from engine.flows.cache import FlowTable

    rate = 100
    gen = TrafficGenerator(
        Scenario(
            agents=1,
            flows=10,
            samples_per_second=1000,
            sampling_rate=rate,
            protocols=(("tcp", 1.0),),
            start_time=T0,
            seed=9,
        )
    )
    eng = Engine(props.Properties(dict(props.DEFAULTS)))
    fe = eng.subsystems["flows"]
    col = collectors()
    keys = "ipsource,ipdestination,tcpsourceport,tcpdestinationport"
    fe.set_flow("exp", {"keys": keys, "value": "bytes", "ipfixCollectors": [col.address]})
    fe.set_flow("plain", {"keys": keys, "value": "bytes", "log": True})
    plain = fe.tables["plain"]
    assert type(plain) is FlowTable and plain.exporter is None
    # bytes only: the exporting definition keeps the plain-sum fast path too
    assert fe.tables["exp"].fast and plain.fast
    if pipeline.fastpath is not None and pipeline._accel_on:
        assert fe._process_flow.source.startswith("# C pipeline")
    for now, dgs in gen.run(5, dt=0.5):
        for dg in dgs:
            eng.ingest(dg, "127.0.0.1", now)
        fe.tick(now)
    # redefining "exp" without collectors exports what it had counted, then nothing more
    fe.set_flow("exp", {"keys": keys, "value": "bytes"})
    assert type(fe.tables["exp"]) is FlowTable
    sent = list(col.drain())
    records = [r for m in decode_all(sent) for r in m["records"]]
    assert len(records) == sum(1 for f in gen.flows if f.samples)
    assert sum(r[1] for r in records) == sum(f.samples * rate * f.frame_size for f in gen.flows)
    for now, dgs in gen.run(5, dt=0.5):
        for dg in dgs:
            eng.ingest(dg, "127.0.0.1", now)
        fe.tick(now)
    fe.tick(gen.now + 60)
    assert col.drain() == sent
    # the logged definition still produced its own flow records, not IPFIX
    assert fe.flows_since("plain", max_flows=1000)


def test_bytes_and_frames_update_matches_the_general_path(collectors):
    """ExportTable._update_both (bytes + frames) is FlowTable.update plus the second total:
    the same rates, values, thresholds and flow records, float for float."""
    import random

    from engine.flows.engine import FlowEngine

    col = collectors()
    spec = {
        "keys": "ipsource,tcpdestinationport",
        "value": "bytes",
        "values": ["frames"],
        "t": 1.5,
        "log": True,
        "flowStart": True,
    }
    plain, exp = FlowEngine(None), FlowEngine(None)
    plain.set_flow("f", spec)
    exp.set_flow("f", dict(spec, ipfixCollectors=[col.address]))
    assert exp.tables["f"].update != exp.tables["f"].__class__.update  # the special path
    for fe in (plain, exp):
        fe.set_threshold("big", {"metric": "f", "value": 40_000, "byFlow": True})
    rng = random.Random(4)
    now = T0
    frames = defaultdict(int)
    for _ in range(5000):
        now += rng.choice((0.0, 0.001, 0.05, 0.3))  # equal times too (dt = 0)
        a = {
            "ipsource": f"10.0.0.{rng.randrange(20)}",
            "tcpdestinationport": 80,
            "bytes": rng.choice((64, 1500, 9000)),
        }
        if rng.random() < 0.9:
            a["frames"] = 1  # else: the second value is missing
        rate = rng.choice((1, 10, 256))
        for fe in (plain, exp):
            fe.process(dict(a), "192.0.2.1", "1", rate, now)
        frames[a["ipsource"]] += rate if "frames" in a else 0
    pe, ee = plain.tables["f"].entries, exp.tables["f"].entries
    assert pe.keys() == ee.keys()
    for fk in pe:
        assert pe[fk][:6] == ee[fk][:6]
        assert ee[fk][6] == frames[fk[2]]
    assert plain.active_flows("ALL", "f", 100, now=now) == exp.active_flows(
        "ALL", "f", 100, now=now
    )
    strip = lambda recs: [
        {k: v for k, v in r.items() if k not in ("eventID", "flowID")} for r in recs
    ]
    assert strip(plain.events_since(max_events=1000)) == strip(exp.events_since(max_events=1000))
    assert plain.events_since(max_events=1000)
    assert strip(plain.flows_since(max_flows=1000)) == strip(exp.flows_since(max_flows=1000))


# -- (3) review: sessions, failures, extremes, engine stop --------------------------------------
@pytest.fixture
def own_sender(monkeypatch):
    """A private exporting process, so the test sees a fresh transport session whatever other
    tests left defined in the process-wide one."""
    from engine.flows import ipfix

    sender = ipfix.Sender()
    monkeypatch.setattr(ipfix, "SENDER", sender)
    yield sender
    for sock in sender.sockets.values():
        sock.close()


PKT = {"ipsource": "10.0.0.1", "ipdestination": "10.0.0.2", "bytes": 100, "frames": 1}


def _ended(fe, start, agent="192.0.2.7", pkt=PKT, rate=10, n=3):
    """n samples of one flow from ``start`` on, then a tick after it ended."""
    for i in range(n):
        fe.process(dict(pkt), agent, "1", rate, start + i)
    fe.tick(start + n + idle_timeout(2) + 1)


def test_new_transport_session_restarts_sequence_and_templates(collectors, own_sender):
    """RFC 7011 3.1: the sequence number counts the data records of the current stream. When
    the last exporting definition goes, the socket closes; the next one opens another (a new
    source port, so a new transport session): its sequence starts at 0, with the template."""
    from engine.flows.engine import FlowEngine

    fe = FlowEngine(None)
    col = collectors()
    spec = {"keys": "ipsource", "value": "bytes", "ipfixCollectors": [col.address]}
    fe.set_flow("a", spec)
    _ended(fe, T0)
    _ended(fe, T0 + 20)
    fe.clear_flow("a")
    assert own_sender.sockets == {}
    fe.set_flow("b", spec)
    _ended(fe, T0 + 40)
    msgs = decode_all(col.drain())
    assert [(m["seq"], len(m["records"]), bool(m["template_ids"])) for m in msgs] == [
        (0, 1, True),
        (1, 1, False),
        (0, 1, True),
    ]
    # the first two share a session; the third socket's port is the kernel's choice (it may
    # hand out the same ephemeral port again), so the restart shows in sequence and template
    assert msgs[0]["session"] == msgs[1]["session"]


def test_a_template_that_failed_to_leave_is_sent_again(collectors, own_sender):
    """A message carrying the template that the kernel refused does not count as the template
    sent: the next message carries it (else the collector could decode nothing for 30 s)."""
    from engine.flows.engine import FlowEngine

    failures = []
    real = own_sender._sendto

    def refuse_first(family, msg, addr, port):
        if not failures:
            failures.append(msg)
            return OSError(105, "No buffer space available")
        return real(family, msg, addr, port)

    own_sender._sendto = refuse_first
    fe = FlowEngine(None)
    col = collectors()
    fe.set_flow("a", {"keys": "ipsource", "value": "bytes", "ipfixCollectors": [col.address]})
    _ended(fe, T0)
    _ended(fe, T0 + 5)
    assert len(failures) == 1 and fe.tables["a"].exporter.errors == 1
    msgs = decode_all(col.drain())  # KeyError here: data before its template
    assert [(m["seq"], m["template_ids"]) for m in msgs] == [
        (1, [fe.tables["a"].exporter.template.id])
    ]


def test_counts_beyond_64_bits_and_non_finite_values_do_not_stop_the_tick(collectors, own_sender):
    """Deltas are unsigned 64-bit: a larger estimate (huge sampling rate times huge lengths)
    is exported as 2^64-1 rather than lost; a non-finite value (sFlow-RT RTFLOW samples carry
    doubles) must not raise out of the housekeeping tick, which would stop every other
    definition's sweep and export."""
    from engine.flows.engine import FlowEngine

    fe = FlowEngine(None)
    col = collectors()
    spec = {
        "keys": "ipsource",
        "value": "bytes",
        "values": ["frames"],
        "ipfixCollectors": [col.address],
    }
    fe.set_flow("big", spec)
    fe.set_flow("inf", dict(spec, keys="ipdestination"))
    fe.set_flow("ok", dict(spec, keys="ip6source"))
    big = 0xFFFFFFFF
    for i in range(3):
        fe.process(
            {"ipsource": "10.0.0.1", "bytes": big, "frames": 1}, "192.0.2.7", "1", big, T0 + i
        )
        fe.process(
            {"ipdestination": "10.0.0.2", "bytes": float("inf"), "frames": 1},
            "192.0.2.7",
            "1",
            1,
            T0 + i,
        )
        fe.process(
            {"ip6source": "2001:db8::1", "bytes": 100, "frames": 1}, "192.0.2.7", "1", 10, T0 + i
        )
    fe.tick(T0 + 3 + idle_timeout(2) + 1)
    got = {}
    templates: dict = {}
    for _, msg in col.drain():
        m = parse_message(msg, templates)
        for r in m["records"]:
            name = "ok" if 27 in r else "big" if 8 in r else "inf"
            got[name] = (r[1], r[2])
    assert got == {"big": (2**64 - 1, 3 * big), "inf": (2**64 - 1, 3), "ok": (3 * 100 * 10, 30)}
    for name in ("big", "inf", "ok"):
        assert fe.tables[name].exporter.dropped == 0 and fe.tables[name].entries == {}


def test_engine_stop_exports_what_the_caches_hold_and_closes_the_sockets(collectors, own_sender):
    """Stopping the engine exports every exporting definition's flows that have counts not yet
    reported, then closes the exporting sockets; definitions without collectors send nothing."""
    import asyncio

    from engine.flows.engine import FlowEngine

    fe = FlowEngine(None)
    col = collectors()
    fe.set_flow(
        "exp",
        {
            "keys": "ipsource,ipdestination",
            "value": "bytes",
            "values": ["frames"],
            "ipfixCollectors": [col.address],
        },
    )
    fe.set_flow("plain", {"keys": "ipsource", "value": "bytes"})
    now = time.time()
    for i in range(4):
        fe.process(dict(PKT), "192.0.2.7", "1", 10, now + i * 0.1)
        fe.process(dict(PKT, ipsource="10.0.0.3"), "192.0.2.8", "2", 100, now + i * 0.1)
    fe.tick(now + 1)  # nothing ended yet: nothing sent
    assert col.drain() == []
    asyncio.run(fe.stop())
    msgs = decode_all(col.drain())
    got = sorted((m["domain"], r[8], r[1], r[2]) for m in msgs for r in m["records"])
    assert got == [
        (int(ipaddress.ip_address("192.0.2.7")), "10.0.0.1", 4 * 100 * 10, 4 * 10),
        (int(ipaddress.ip_address("192.0.2.8")), "10.0.0.3", 4 * 100 * 100, 4 * 100),
    ]
    assert fe.tables["exp"].exporter.closed and own_sender.sockets == {}
    assert own_sender.ids == set()
    # GET shows the exporter's counters; a definition PUT back as GET showed it is accepted
    shown = fe.get_flow("exp")
    assert shown["ipfixStats"] == {
        "templateId": fe.tables["exp"].exporter.template.id,
        "records": 2,
        "messages": 2,
        "errors": 0,
        "dropped": 0,
        "pending": 0,
    }
    assert "ipfixStats" not in fe.get_flow("plain")
    from engine.flows.spec import FlowSpec

    assert "ipfixStats" not in FlowSpec("again", shown).as_json()


def test_a_dropped_record_restarts_both_deltas(collectors, own_sender, monkeypatch):
    """A record dropped (queue full) still ends its period for both counters: the next record
    of that flow has the bytes and the frames since the drop, not frames since earlier."""
    from engine.flows import ipfix
    from engine.flows.engine import FlowEngine

    monkeypatch.setattr(ipfix, "MAX_PENDING", 1)
    fe = FlowEngine(None)
    col = collectors()
    fe.set_flow(
        "f",
        {
            "keys": "ipsource",
            "value": "bytes",
            "values": ["frames"],
            "activeTimeout": 5,
            "ipfixCollectors": [col.address],
        },
    )
    for i in range(3):
        for src in ("10.0.0.1", "10.0.0.2"):
            fe.process({"ipsource": src, "bytes": 100, "frames": 1}, "192.0.2.7", "1", 10, T0 + i)
    fe.tick(T0 + 5)  # both reported; one queued, the other dropped
    exporter = fe.tables["f"].exporter
    assert exporter.dropped == 1 and exporter.records == 1
    for i in range(2):
        fe.process(
            {"ipsource": "10.0.0.2", "bytes": 100, "frames": 1}, "192.0.2.7", "1", 10, T0 + 6 + i
        )
    fe.tick(T0 + 20)  # both ended: the dropped flow's counts since its drop go
    recs = [(r[8], r[1], r[2]) for m in decode_all(col.drain()) for r in m["records"]]
    assert sorted(recs) == [("10.0.0.1", 3000, 30), ("10.0.0.2", 2000, 20)]
    for _, octets, packets in recs:
        assert octets == packets * 100, recs


def test_stopping_a_running_engine_exports_its_flows(collectors, own_sender, tmp_path):
    """End to end: sFlow in over UDP, a definition PUT over REST, the engine stopped (what
    SIGTERM does): the flows still in the cache arrive at the collector, every byte counted."""
    from conftest import RunningEngine

    rate = 100
    gen = TrafficGenerator(
        Scenario(
            agents=2,
            flows=8,
            samples_per_second=1000,
            sampling_rate=rate,
            protocols=(("tcp", 1.0),),
            seed=5,
        )
    )
    col = collectors()
    eng = RunningEngine({}, tmp_path).start()
    try:
        fields = {
            "keys": "ipsource,ipdestination,tcpsourceport,tcpdestinationport",
            "value": "bytes",
            "values": ["frames"],
            "ipfixCollectors": [col.address],
        }
        assert eng.request("PUT", "/flow/stop/json", fields)[0] == 204
        dgs = [dg for _, step in gen.run(2, dt=0.5) for dg in step]
        eng.send_paced(dgs)
        eng.wait_for(lambda: eng.engine.stats.datagrams >= len(dgs))
        assert eng.request("GET", "/flow/stop/json")[1]["ipfixStats"]["records"] == 0
    finally:
        eng.stop()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not col.drain():
        time.sleep(0.02)
    time.sleep(0.1)
    records = [r for m in decode_all(col.drain()) for r in m["records"]]
    flows = [f for f in gen.flows if f.samples]
    assert len(records) == len({(f.src, f.dst, f.sport, f.dport) for f in flows})
    assert sum(r[1] for r in records) == sum(f.samples * rate * f.frame_size for f in flows)
    assert sum(r[2] for r in records) == sum(f.samples * rate for f in flows)
    assert own_sender.sockets == {} and own_sender.ids == set()


def test_redefining_the_only_exporting_definition_keeps_the_session(collectors, own_sender):
    """Replacing a definition opens the new one before the old one lets go, so the exporting
    socket (the transport session) stays: one source port, one unbroken sequence, as a
    collector tracking its exporters by address and domain wants (nfcapd counts a sequence
    restart as an error)."""
    from engine.flows.engine import FlowEngine

    fe = FlowEngine(None)
    col = collectors()
    spec = {"keys": "ipsource", "value": "bytes", "ipfixCollectors": [col.address]}
    fe.set_flow("a", spec)
    _ended(fe, T0)
    for i in range(2):
        fe.process(dict(PKT), "192.0.2.7", "1", 10, T0 + 20 + i)
    fe.set_flow("a", dict(spec, n=10))  # exports what the old cache held, then goes on
    _ended(fe, T0 + 40)
    msgs = decode_all(col.drain())
    assert [(m["seq"], len(m["records"])) for m in msgs] == [(0, 1), (1, 1), (2, 1)]
    assert len({m["session"] for m in msgs}) == 1
    assert msgs[2]["template_ids"] == [fe.tables["a"].exporter.template.id]
