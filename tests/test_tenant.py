"""sFlow tenants (REST /tenant): real captures in over UDP, selected samples out over UDP to
receiver sockets on loopback. The expected datagrams are built here independently: the input
is split into samples by a small walker of its own, the samples are selected by re-stating the
filter rules on the decoded samples (ipaddress networks, ifName learned from the counters in
stream order), and the tenant datagrams are assembled with struct."""

from __future__ import annotations

import ipaddress
import json
import socket
import struct
import time

import pytest

from engine.sflow import DecodeError, decode_datagram, encode
from engine.sflow.pcap import read_pcap
from paths import SFLOW_DATA
from udp_receiver import Receiver

PCAPS = sorted(SFLOW_DATA.glob("*/*.pcap"))
OVERFLOWD = SFLOW_DATA / "overflowd" / "sflow.pcap"
HSFLOWD = SFLOW_DATA / "generated" / "hsflowd-2.1.25-lo-pcap.pcap"


# -- plumbing ----------------------------------------------------------------------------------
@pytest.fixture
def receivers():
    made: list[Receiver] = []

    def factory(*args) -> Receiver:
        r = Receiver(*args)
        made.append(r)
        return r

    yield factory
    for r in made:
        r.close()


def tenant_spec(receiver: Receiver, **filters) -> dict:
    return {"collectorAddress": receiver.host, "collectorPort": receiver.port, "filters": filters}


def tenants(eng):
    return eng.engine.subsystems["tenants"]


def settle(eng, inputs: int, *tenant_receivers) -> list[int]:
    """Wait on counters, not on time: the engine has processed ``inputs`` datagrams in all
    (its own count), a flush the last one scheduled has run, and each (tenant name, receiver)
    pair's receiver holds every datagram the tenant's counter says it sent. Returns those
    counts: a datagram the engine should not have sent shows in them, so the caller's "nothing
    else arrived" compares with what the engine did, not with what arrived in some delay."""
    eng.wait_datagrams(inputs)
    eng.call(lambda: None)  # one loop turn: a flush scheduled by the last datagram ran
    sent = []
    for name, receiver in tenant_receivers:
        state = eng.request("GET", f"/tenant/{name}/json")[1]
        assert state["drops"] == 0, state
        receiver.wait_count(state["datagrams"])
        sent.append(state["datagrams"])
    return sent


def handlers(eng, t) -> set[str]:
    e = eng.engine
    return {
        kind
        for kind, hs, h in (
            ("flow", e.flow_handlers, t.on_flow_sample),
            ("counter", e.counter_handlers, t.on_counter_sample),
            ("other", e.other_handlers, t.on_other_sample),
        )
        if h in hs
    }


# -- the independent model ---------------------------------------------------------------------
def split_v5(data: bytes):
    """(agent bytes incl. address type, sub_agent, uptime, [sample bytes]) of a v5 datagram."""
    version, atype = struct.unpack_from(">II", data, 0)
    assert version == 5
    alen = {1: 4, 2: 16}[atype]
    agent = data[4 : 8 + alen]
    sub_agent, _seq, uptime, n = struct.unpack_from(">IIII", data, 8 + alen)
    off, out = 24 + alen, []
    for _ in range(n):
        _tag, length = struct.unpack_from(">II", data, off)
        out.append(data[off : off + 8 + length])
        off += 8 + length
    return agent, sub_agent, uptime, out


class Model:
    """What one tenant should send, restated from the filter rules (docs/ingest.md#tenants)."""

    def __init__(self, cidr=(), mac=(), ifindex=(), ifname=()):
        self.nets = [ipaddress.ip_network(c, strict=False) for c in cidr]
        self.macs = {m.replace(":", "").replace("-", "").upper() for m in mac}
        self.ifindex = {
            (str(ipaddress.ip_address(a)), int(p)) for a, p in (x.split("_", 1) for x in ifindex)
        }
        self.ifname = {tuple(x.split("_", 1)) for x in ifname}
        self.seqs: dict = {}
        self.expected: list[bytes] = []
        self.samples = 0

    def port_hit(self, agent, index, names) -> bool:
        return (agent, index) in self.ifindex or (agent, names.get((agent, index))) in self.ifname

    def selects(self, s, names) -> bool:
        if s.kind in ("flow", "discard"):
            a = s.attributes()
            for key in ("ipsource", "ipdestination", "ip6source", "ip6destination"):
                if key in a and any(ipaddress.ip_address(a[key]) in n for n in self.nets):
                    return True
            if a.get("macsource") in self.macs or a.get("macdestination") in self.macs:
                return True
            return any(
                fmt == 0 and self.port_hit(s.agent, port, names)
                for fmt, port in ((s.input_format, s.input), (s.output_format, s.output))
            )
        if s.kind == "counter":
            return s.ds_class == 0 and self.port_hit(s.agent, s.ds_index, names)
        return False

    def add(self, data: bytes, chosen: list[bytes]) -> None:
        agent, sub_agent, uptime, _ = split_v5(data)
        if not chosen:
            return
        key = (agent, sub_agent)
        seq = self.seqs[key] = self.seqs.get(key, 0) + 1
        self.expected.append(
            data[: 8 + len(agent) - 4]
            + struct.pack(">IIII", sub_agent, seq, uptime, len(chosen))
            + b"".join(chosen)
        )
        self.samples += len(chosen)


def expected_from(datagrams: list[bytes], models: list[Model]) -> None:
    names: dict = {}  # (agent, ifIndex) -> ifName, as the counters told so far
    for data in datagrams:
        try:
            dg = decode_datagram(data)
        except DecodeError:
            continue
        if dg.version != 5:
            continue
        _, _, _, raw = split_v5(data)
        assert len(raw) == len(dg.samples)  # no unknown sample types in these captures
        chosen: list[list[bytes]] = [[] for _ in models]
        for s, sample_bytes in zip(dg.samples, raw):
            if s.kind == "counter" and s.ds_class == 0:
                for rec in s.records():
                    if rec["counterBlock_tag"] == "0:1005":
                        names[(s.agent, s.ds_index)] = rec["ifName"]
            for m, out in zip(models, chosen):
                if m.selects(s, names):
                    out.append(sample_bytes)
        for m, out in zip(models, chosen):
            m.add(data, out)


def check_received(got: list[bytes], model: Model) -> None:
    assert len(got) == len(model.expected)
    # byte for byte, in each agent's order (one sender, loopback; with sFlow workers the
    # agents' streams come from several processes, interleaved)
    assert _by_agent(got) == _by_agent(model.expected)
    last: dict = {}
    for data in got:  # valid sFlow v5 to our own decoder; sequence numbers without gaps
        dg = decode_datagram(data)
        assert dg.version == 5 and dg.samples
        key = (dg.agent, dg.sub_agent)
        assert dg.seq == last.get(key, 0) + 1
        last[key] = dg.seq


def _by_agent(datagrams: list[bytes]) -> dict:
    out: dict = {}
    for data in datagrams:
        dg = decode_datagram(data)
        out.setdefault((dg.agent, dg.sub_agent), []).append(data)
    return out


def knows(eng, agent: str) -> bool:
    """The metric store (with workers: the one of the agent's worker) holds the agent."""
    return any(eng.call(eng.engine.gather, "metrics.agents", "__contains__", agent))


# -- tests -------------------------------------------------------------------------------------
FILTERS = {
    "v4": {
        "cidr": [
            "127.0.0.0/8",
            "192.168.108.0/24",
            "49.49.49.109/32",
            "92.222.184.0/24",
            "192.168.1.2",
        ]
    },
    "v6": {"cidr": ["::1/128", "2a0c:8880:2::/48", "2001:db8::/126"]},
    "mac": {"mac": ["00:1c:c4:47:d3:f9", "d2-5b-45-ee-5e-cf", "001111111103"]},
    "ports": {
        "ifindex": [
            "192.168.1.1_13",
            "192.168.1.1_4",
            "30::1:1:1_7001",
            "30::1:1:1_3001",
            "15.184.1.195_3",
            "15.184.1.129_5",
            "172.16.0.3_7",
            "172.16.0.3_1",
            "172.16.0.3_28",
            "172.21.35.17_1043",
        ],
        "ifname": ["192.0.2.2_lo"],
    },
}


@pytest.mark.parametrize("receiver", ["thread", "asyncio"])
def test_pcap_replay_forwards_exactly_the_selected_samples(make_engine, receivers, receiver):
    sent = [d.payload for p in PCAPS for d in read_pcap(p)]
    models = {name: Model(**f) for name, f in FILTERS.items()}
    expected_from(sent, list(models.values()))
    total = sum(1 for d in sent for _ in _samples_or_none(d))
    for name, m in models.items():  # every filter selects something, none everything
        assert 0 < m.samples < total, name

    eng = make_engine({"sflow.receiver": receiver})
    if receiver == "asyncio":  # one event-loop callback per datagram
        assert eng.engine.receive_queue is None
    t = tenants(eng)
    assert handlers(eng, t) == set()  # nothing on the sample path without tenants
    recv = {name: receivers() for name in FILTERS}
    for name, f in FILTERS.items():
        assert eng.request("PUT", f"/tenant/{name}/json", tenant_spec(recv[name], **f)) == (
            204,
            None,
        )
    assert handlers(eng, t) == {"flow", "counter", "other"}
    eng.send_paced(sent)
    counts = settle(eng, len(sent), *recv.items())
    for (name, m), count in zip(models.items(), counts):
        assert count == len(m.expected) == len(recv[name].got), name
        check_received(list(recv[name].got), m)

    status, all_ = eng.request("GET", "/tenant/json")
    assert status == 200 and set(all_) == set(FILTERS)
    for name, m in models.items():
        spec = all_[name]
        assert spec == eng.request("GET", f"/tenant/{name}/json")[1]
        assert (spec["samples"], spec["datagrams"], spec["bytes"], spec["drops"]) == (
            m.samples,
            len(m.expected),
            sum(map(len, m.expected)),
            0,
        )
        assert (spec["collectorAddress"], spec["collectorPort"]) == ("127.0.0.1", recv[name].port)
    # normalized as documented
    assert all_["mac"]["filters"] == {"mac": ["001CC447D3F9", "D25B45EE5ECF", "001111111103"]}
    assert all_["v4"]["filters"]["cidr"][-1] == "192.168.1.2/32"
    assert all_["ports"]["filters"]["ifname"] == ["192.0.2.2_lo"]


def _samples_or_none(data):
    try:
        return decode_datagram(data).samples
    except DecodeError:
        return []


def test_model_details_hold_in_the_captures():
    """The replay test's filters exercise what they claim: mixed IPv4/IPv6 datagrams, an IPv6
    agent, counter samples, ifName learned on the way, multiple/discarded output ports that
    must not match, a datagram of which only some flow samples are selected."""
    sent = {p.name + p.parent.name: [d.payload for d in read_pcap(p)] for p in PCAPS}
    hs_sent = sent["hsflowd-2.1.25-lo-pcap.pcapgenerated"]
    v6 = [
        (
            sum("ip6source" in s.attributes() for s in dg.samples if s.kind == "flow"),
            len(dg.samples),
        )
        for dg in map(decode_datagram, hs_sent)
    ]
    assert any(0 < a < n for a, n in v6)  # datagrams mixing IPv4 and IPv6 samples
    hs = Model(cidr=["::1/128"])
    expected_from(hs_sent, [hs])
    assert hs.samples == sum(a for a, _ in v6)
    ports = Model(**FILTERS["ports"])
    expected_from(sent["sflow-print-v6.pcaptcpdump"], [ports])
    kinds = {s.kind for d in ports.expected for s in decode_datagram(d).samples}
    assert kinds == {"flow", "counter"}
    assert decode_datagram(ports.expected[0]).agent == "30::1:1:1"
    for name in ("data-multiple-interfaces.pcapakvorado", "data-discard-interface.pcapakvorado"):
        m = Model(ifindex=["172.16.0.3_7", "172.16.0.3_1"])
        expected_from(sent[name], [m])
        assert m.expected == []  # output format 2 (multiple) / 1 (discarded): no ifIndex
    raw = Model(cidr=["92.222.184.0/24"])
    expected_from(sent["data-sflow-raw-ipv4.pcapakvorado"], [raw])
    assert [len(decode_datagram(d).samples) for d in raw.expected] == [1]
    lo = Model(ifname=["192.0.2.2_lo"])
    expected_from(sent["hsflowd-2.1.25-lo-pcap.pcapgenerated"], [lo])
    assert {s.kind for d in lo.expected for s in decode_datagram(d).samples} == {"flow", "counter"}


def _records(pcap, kind):
    for d in read_pcap(pcap):
        for s in decode_datagram(d.payload).samples:
            if s.kind == kind:
                return [encode.encode_flow_record(r) for r in s.records()]


FLOW_RECORDS = None


def flow(seq, input, output, records=None, ds=None):
    global FLOW_RECORDS
    if records is None:
        if FLOW_RECORDS is None:
            FLOW_RECORDS = _records(OVERFLOWD, "flow")  # 192.168.1.2 -> 192.168.1.3
        records = FLOW_RECORDS
    return encode.flow_sample(
        seq, 0, input if ds is None else ds, 256, seq * 256, 0, input, output, records
    )


def ifname_counters(seq, index, name):
    return encode.counter_sample(
        seq,
        0,
        index,
        [encode.encode_counter_record({"counterBlock_tag": "0:1005", "ifName": name})],
    )


def test_ifname_follows_the_agents_counters(make_engine, receivers):
    eng = make_engine()
    r = receivers()
    agent = "192.0.2.9"
    dgs = iter(range(1, 1000))

    def send(*samples, sub_agent=0):
        data = encode.datagram(agent, next(dgs), 5000, list(samples), sub_agent)
        eng.send(data)
        return data

    before = send(ifname_counters(1, 3, "eth3"), ifname_counters(1, 4, "eth4"))
    eng.wait_for(lambda: knows(eng, agent))
    # defined after the names were learned: resolved from what the agent already reported
    assert (
        eng.request(
            "PUT", "/tenant/t/json", tenant_spec(r, ifname=[f"{agent}_eth3", f"{agent}_eth9"])
        )[0]
        == 204
    )
    one = send(flow(1, 3, 7), flow(2, 7, 8), ifname_counters(2, 3, "eth3"), flow(3, 8, 3))
    # ifIndex 3 renamed, 5 becomes eth9: selection follows within the same datagram
    two = send(
        flow(4, 3, 8),
        ifname_counters(3, 3, "eth3-old"),
        flow(5, 3, 8),
        ifname_counters(1, 5, "eth9"),
        flow(6, 7, 5),
        sub_agent=1,
    )
    assert settle(eng, 3, ("t", r)) == [2]
    got = list(r.got)
    assert len(got) == 2
    _, _, _, s1 = split_v5(one)
    _, _, _, s2 = split_v5(two)
    assert split_v5(got[0])[3] == [s1[0], s1[2], s1[3]]
    assert split_v5(got[1])[3] == [s2[0], s2[3], s2[4]]
    assert [decode_datagram(g).seq for g in got] == [1, 1]  # one sequence per sub-agent
    assert decode_datagram(got[1]).sub_agent == 1
    assert before not in r.got


def test_ifindex_counters_discards_and_same_bytes_twice(make_engine, receivers):
    eng = make_engine()
    r = receivers()
    agent = "2001:db8::9"
    assert eng.request("PUT", "/tenant/p/json", tenant_spec(r, ifindex=[f"{agent}_12"]))[0] == 204
    records = _records(OVERFLOWD, "flow")
    discard = encode.discard_sample(1, 0, 12, 0, 12, 0, 258, records)
    other_discard = encode.discard_sample(2, 0, 13, 0, 13, 0, 258, records)
    counters = encode.counter_sample(
        9,
        0,
        12,
        [encode.encode_counter_record({"counterBlock_tag": "0:1005", "ifName": "x"})],
        expanded=True,
    )
    expanded = encode.flow_sample(3, 0, 99, 1, 1, 0, 99, 12, records, expanded=True)
    data = encode.datagram(
        agent, 77, 123456, [counters, other_discard, flow(1, 1, 2), discard, expanded]
    )
    # the same bytes object ingested twice is two datagrams, not one with samples twice
    eng.call(eng.engine.ingest, data, "127.0.0.1", time.time())
    eng.call(eng.engine.ingest, data, "127.0.0.1", time.time())
    assert settle(eng, 2, ("p", r)) == [2]
    got = list(r.got)
    _, _, _, raw = split_v5(data)
    assert len(got) == 2
    for seq, g in enumerate(got, 1):
        dg = decode_datagram(g)
        assert (dg.agent, dg.seq, dg.uptime) == (agent, seq, 123456)
        assert split_v5(g)[3] == [raw[0], raw[3], raw[4]]
        assert [s.kind for s in dg.samples] == ["counter", "discard", "flow"]


def test_datagram_ending_in_an_unknown_sample_is_still_sent(make_engine, receivers):
    """The last sample flushes a datagram; when that is one nobody handles (unknown sample
    type) the datagram goes out once the event loop is idle. (The event loop of the process
    that ingests: one process here, so the test can look at it between two datagrams.)"""
    eng = make_engine({"sflow.workers": 1})
    r = receivers()
    assert eng.request("PUT", "/tenant/v4/json", tenant_spec(r, cidr=["192.168.1.0/24"]))[0] == 204
    unknown = struct.pack(">II", 9 << 12 | 9, 4) + b"\0\0\0\0"
    data = encode.datagram("192.0.2.1", 1, 1, [flow(1, 1, 2), unknown])
    eng.send(data)
    got = r.wait_count(1)
    assert len(got) == 1 and split_v5(got[0])[3] == split_v5(data)[3][:1]
    # the same bytes twice within one event-loop turn: still two datagrams
    t = tenants(eng)

    def twice():
        eng.engine.ingest(data, "127.0.0.1", time.time())
        eng.engine.ingest(data, "127.0.0.1", time.time())
        return t.tenants["v4"].datagrams

    assert eng.call(twice) == 2  # the first went out when the second began
    got = r.wait_count(3)
    assert [decode_datagram(g).seq for g in got] == [1, 2, 3]
    assert all(split_v5(g)[3] == split_v5(data)[3][:1] for g in got)


def test_sent_on_the_datagrams_last_sample(make_engine, receivers):
    """No waiting for the event loop when the datagram's last sample was seen. (One process:
    the counters are read in the turn that ingested.)"""
    eng = make_engine({"sflow.workers": 1})
    r = receivers()
    assert eng.request("PUT", "/tenant/v4/json", tenant_spec(r, cidr=["192.168.1.0/24"]))[0] == 204
    t = tenants(eng)
    last_counter = encode.datagram("192.0.2.1", 1, 1, [flow(1, 1, 2), ifname_counters(1, 1, "a")])
    last_flow = encode.datagram("192.0.2.1", 2, 1, [ifname_counters(2, 1, "a"), flow(2, 1, 2)])

    def once(data):
        eng.engine.ingest(data, "127.0.0.1", time.time())
        return t.tenants["v4"].datagrams

    assert eng.call(once, last_counter) == 1
    assert eng.call(once, last_flow) == 2
    assert len(r.wait_count(2)) == 2


def test_v4_datagrams_and_unselected_samples_send_nothing(make_engine, receivers):
    eng = make_engine()
    r = receivers()
    assert (
        eng.request(
            "PUT", "/tenant/t/json", tenant_spec(r, cidr=["192.168.1.0/24"], mac=["001CC447D3F9"])
        )[0]
        == 204
    )
    dg = decode_datagram(next(read_pcap(OVERFLOWD)).payload)
    v4 = encode.encode_datagram({**encode.datagram_to_dict(dg), "version": 4})
    assert decode_datagram(v4).version == 4 and decode_datagram(v4).samples
    other = encode.datagram(
        "192.0.2.1",
        5,
        1,
        [flow(1, 1, 2, records=_records(SFLOW_DATA / "akvorado" / "data-icmpv4.pcap", "flow"))],
    )
    marker = encode.datagram("192.0.2.1", 6, 1, [flow(2, 1, 2)])
    eng.send([v4, other, marker])
    assert settle(eng, 3, ("t", r)) == [1]
    got = list(r.got)
    assert len(got) == 1 and split_v5(got[0])[3] == split_v5(marker)[3]
    assert decode_datagram(got[0]).seq == 1  # v4 and unselected datagrams use no number


def test_delete_stops_and_redefinition_keeps_the_sequence(make_engine, receivers):
    eng = make_engine()
    t = tenants(eng)
    r, r2 = receivers(), receivers()
    spec = tenant_spec(r, cidr=["192.168.1.2/32"])
    assert eng.request("PUT", "/tenant/a/json", spec)[0] == 204
    assert handlers(eng, t) == {"flow", "counter", "other"}
    dgs = [encode.datagram("192.0.2.1", n, n, [flow(n, 1, 2)]) for n in range(1, 4)]
    eng.send(dgs[0])
    r.wait_count(1)
    # same destination, other filters: the receiver keeps one sequence; counters restart
    assert (
        eng.request(
            "PUT",
            "/tenant/a/json",
            {**spec, "filters": {"cidr": ["192.168.1.0/24"], "ifindex": ["192.0.2.1_1"]}},
        )[0]
        == 204
    )
    assert handlers(eng, t) == {"flow", "counter", "other"}
    eng.send(dgs[1])
    r.wait_count(2)
    assert [decode_datagram(g).seq for g in r.got] == [1, 2]
    assert eng.request("GET", "/tenant/a/json")[1]["samples"] == 1
    # a second tenant to another collector, over IPv6
    r6 = receivers(socket.AF_INET6, "::1")
    assert eng.request("PUT", "/tenant/b/json", tenant_spec(r6, ifindex=["192.0.2.1_2"]))[0] == 204
    assert (
        eng.request("PUT", "/tenant/c/json", tenant_spec(r2, mac=["00:00:00:00:00:01"]))[0] == 204
    )
    assert eng.request("DELETE", "/tenant/a/json") == (204, None)
    eng.send(dgs[2])
    assert [split_v5(g)[3] for g in r6.wait_count(1)] == [split_v5(dgs[2])[3]]
    assert eng.request("GET", "/tenant/a/json")[0] == 404
    assert eng.request("DELETE", "/tenant/b/json")[0] == 204
    assert eng.request("DELETE", "/tenant/c/json")[0] == 204
    assert handlers(eng, t) == set()
    n = eng.engine.stats.datagrams
    eng.send(encode.datagram("192.0.2.1", 4, 4, [flow(4, 1, 2)]))
    settle(eng, n + 1)
    # no handler saw it and no tenant socket is left to send it with
    assert t._sockets.by_family == {}
    assert len(r.got) == 2 and len(r6.got) == 1 and r2.got == []
    assert eng.request("GET", "/tenant/json") == (200, {})


def test_send_error_counts_a_drop(make_engine, receivers):
    """A datagram the kernel refuses to send (larger than UDP allows) counts a drop, not a
    handler error; its sequence number is used anyway, so a receiver would see the loss."""
    eng = make_engine()
    r = receivers()
    assert eng.request("PUT", "/tenant/x/json", tenant_spec(r, ifindex=["192.0.2.1_1"]))[0] == 204
    errors = eng.engine.stats.handler_errors
    huge = encode.flow_sample(1, 0, 1, 1, 1, 0, 1, 2, [encode.record("0:4242", b"\0" * 70000)])
    data = encode.datagram("192.0.2.1", 1, 1, [huge])
    eng.call(eng.engine.ingest, data, "127.0.0.1", time.time())
    eng.call(eng.engine.ingest, data, "127.0.0.1", time.time())
    spec = eng.request("GET", "/tenant/x/json")[1]
    assert (spec["samples"], spec["datagrams"], spec["drops"]) == (0, 0, 2)
    assert eng.engine.stats.handler_errors == errors
    small = encode.datagram("192.0.2.1", 2, 1, [flow(1, 1, 2)])
    eng.send(small)
    got = r.wait_count(1)
    assert [decode_datagram(g).seq for g in got] == [3]
    # collectorPort defaults to 6343 (nothing is sent there: no traffic follows)
    assert eng.request("PUT", "/tenant/d/json", {"collectorAddress": "127.0.0.1"})[0] == 204
    assert eng.request("GET", "/tenant/d/json")[1]["collectorPort"] == 6343
    assert eng.request("DELETE", "/tenant/d/json")[0] == 204


@pytest.mark.parametrize(
    "body, reason",
    [
        ({"collectorAddress": "collector.example"}, "collectorAddress"),
        ({"filters": {"cidr": ["10.0.0.0/8"]}}, "collectorAddress"),
        ({"collectorAddress": "10.0.0.1", "collectorPort": 70000}, "collectorPort"),
        ({"collectorAddress": "10.0.0.1", "collectorPort": 0}, "collectorPort"),
        ({"collectorAddress": "10.0.0.1", "collectorPort": "x"}, "collectorPort"),
        ({"collectorAddress": "10.0.0.1", "collectorPort": True}, "collectorPort"),
        ({"collectorAddress": "10.0.0.1", "address": "10.0.0.2"}, "address"),
        ({"collectorAddress": "10.0.0.1", "filters": {"vlan": ["1"]}}, "vlan"),
        ({"collectorAddress": "10.0.0.1", "filters": ["10.0.0.0/8"]}, "filters"),
        ({"collectorAddress": "10.0.0.1", "filters": {"cidr": "10.0.0.0/8"}}, "cidr"),
        ({"collectorAddress": "10.0.0.1", "filters": {"cidr": ["10.0.0.0/33"]}}, "10.0.0.0/33"),
        (
            {"collectorAddress": "10.0.0.1", "filters": {"cidr": ["2001:db8::/129"]}},
            "2001:db8::/129",
        ),
        ({"collectorAddress": "10.0.0.1", "filters": {"cidr": [24]}}, "cidr"),
        ({"collectorAddress": "10.0.0.1", "filters": {"mac": ["D8D385B2DD2"]}}, "D8D385B2DD2"),
        ({"collectorAddress": "10.0.0.1", "filters": {"mac": ["D8:D3:85:B2-DD:2B"]}}, "mac"),
        ({"collectorAddress": "10.0.0.1", "filters": {"mac": ["G8D385B2DD2B"]}}, "mac"),
        ({"collectorAddress": "10.0.0.1", "filters": {"ifindex": ["10.0.0.1"]}}, "agent_port"),
        ({"collectorAddress": "10.0.0.1", "filters": {"ifindex": ["10.0.0.1_eth3"]}}, "ifIndex"),
        ({"collectorAddress": "10.0.0.1", "filters": {"ifindex": ["10.0.0.1_-2"]}}, "ifIndex"),
        ({"collectorAddress": "10.0.0.1", "filters": {"ifindex": ["switch1_2"]}}, "switch1"),
        ({"collectorAddress": "10.0.0.1", "filters": {"ifname": ["10.0.0.1_"]}}, "ifname"),
        ({"collectorAddress": "10.0.0.1", "filters": {"ifname": ["eth3"]}}, "agent_port"),
        (["10.0.0.1"], "object"),
    ],
)
def test_bad_specs_are_refused_with_a_reason(running_engine, body, reason):
    status, err = running_engine.request("PUT", "/tenant/bad/json", body)
    assert status == 400 and reason in err["error"]
    assert running_engine.request("GET", "/tenant/json") == (200, {})
    assert handlers(running_engine, tenants(running_engine)) == set()


def test_unknown_names_read_only_and_empty_filters(make_engine, receivers):
    eng = make_engine()
    assert eng.request("GET", "/tenant/nosuch/json")[0] == 404
    assert eng.request("DELETE", "/tenant/nosuch/json")[0] == 404
    assert eng.request("PUT", "/tenant/x/json", b"{not json")[0] == 400
    # no filters: a tenant that selects nothing (yet)
    r = receivers()
    assert (
        eng.request(
            "PUT",
            "/tenant/none/json",
            {"collectorAddress": "127.0.0.1", "collectorPort": str(r.port)},
        )[0]
        == 204
    )
    assert eng.request("GET", "/tenant/none/json")[1] == {
        "collectorAddress": "127.0.0.1",
        "collectorPort": r.port,
        "filters": {},
        "samples": 0,
        "datagrams": 0,
        "bytes": 0,
        "drops": 0,
    }
    n = eng.engine.stats.datagrams
    eng.send([d.payload for d in read_pcap(OVERFLOWD)][:20])
    assert settle(eng, n + 20, ("none", r)) == [0]
    assert r.got == []
    ro = make_engine({"http.readonly": "yes"})
    assert ro.request("PUT", "/tenant/x/json", {"collectorAddress": "127.0.0.1"})[0] == 403
    assert ro.request("DELETE", "/tenant/x/json")[0] == 403
    assert ro.request("GET", "/tenant/json") == (200, {})


def test_prefix_index_matches_ipaddress():
    """The merged interval index (one bisect for every tenant's cidrs) against ipaddress, on
    nested, overlapping and adjacent prefixes of 12 tenants, at their edges and at random."""
    import random

    from engine.tenants import Prefixes

    rnd = random.Random(7)
    for version, bits, family in ((4, 32, socket.AF_INET), (6, 128, socket.AF_INET6)):
        nets = []
        for _ in range(60):
            plen = rnd.choice(
                [0, 1, 8, 12, 16, 23, 24, 25, 31, bits] + [bits - 64] * (version == 6)
            )
            base = rnd.choice([0, rnd.getrandbits(bits), (1 << bits) - 1, 10 << (bits - 8)])
            net = (
                ipaddress.ip_network((base, plen), strict=False)
                if version == 4
                else ipaddress.IPv6Network((base, plen), strict=False)
            )
            nets.append((net, 1 << rnd.randrange(12)))
        index = Prefixes(
            family, [(int(n.network_address), int(n.broadcast_address), b) for n, b in nets]
        )
        probes = {rnd.getrandbits(bits) for _ in range(2000)}
        for n, _ in nets:
            lo, hi = int(n.network_address), int(n.broadcast_address)
            probes.update(x for x in (lo - 1, lo, lo + 1, hi - 1, hi, hi + 1) if 0 <= x < 1 << bits)
        for x in probes:
            addr = ipaddress.ip_address(x) if version == 4 else ipaddress.IPv6Address(x)
            want = 0
            for n, b in nets:
                if addr in n:
                    want |= b
            assert index.mask(str(addr)) == want, (str(addr), version)
    assert Prefixes(socket.AF_INET, []).mask("10.0.0.1") == 0
    assert Prefixes(socket.AF_INET, [(1, 2, 1)]).mask("not an address") == 0


def test_ifname_is_kept_when_a_counter_sample_brings_no_name(make_engine, receivers):
    """An interface keeps the last name it reported: once the metrics store has forgotten the
    data source (its counters expired), a counter sample without a port name record (0:1005)
    does not take the port out of an ifname filter; only another name does."""
    eng = make_engine()
    r = receivers()
    agent = "192.0.2.10"
    dgs = iter(range(1, 1000))

    def send(*samples):
        data = encode.datagram(agent, next(dgs), 5000, list(samples))
        eng.send(data)
        return data

    send(ifname_counters(1, 3, "eth3"))
    eng.wait_for(lambda: knows(eng, agent))
    assert eng.request("PUT", "/tenant/t/json", tenant_spec(r, ifname=[f"{agent}_eth3"]))[0] == 204
    # the store expires the data source (no counters for a long time)
    eng.call(eng.engine.gather, "metrics", "sweep", time.time() + 3600)
    assert not knows(eng, agent)
    nameless = encode.counter_sample(2, 0, 3, [])
    kept = send(nameless, flow(1, 3, 7))
    got = r.wait_count(1)
    assert len(got) == 1 and split_v5(got[0])[3] == split_v5(kept)[3]
    # a different name does take it out
    send(ifname_counters(3, 3, "eth3-new"), flow(2, 3, 7))
    marker = send(ifname_counters(4, 4, "eth3"), flow(3, 4, 7))
    assert settle(eng, 4, ("t", r)) == [2]
    got = list(r.got)
    assert len(got) == 2 and split_v5(got[1])[3] == split_v5(marker)[3]


def test_ipv4_mapped_ipv6_agent_matches_its_port_filters(make_engine, receivers):
    """An agent with an IPv4-mapped IPv6 address is named as the decoder names it
    (::ffff:192.0.2.1, inet_ntop), whichever way the filter writes it, so its ifindex filter
    matches and GET answers that form."""
    eng = make_engine()
    r = receivers()
    agent = "::ffff:192.0.2.1"
    assert (
        eng.request("PUT", "/tenant/m/json", tenant_spec(r, ifindex=["::FFFF:c000:201_5"]))[0]
        == 204
    )
    assert eng.request("GET", "/tenant/m/json")[1]["filters"]["ifindex"] == [f"{agent}_5"]
    data = encode.datagram(agent, 1, 1, [flow(1, 5, 7)])
    assert decode_datagram(data).agent == agent
    eng.send(data)
    got = r.wait_count(1, timeout=5)
    assert len(got) == 1 and split_v5(got[0])[3] == split_v5(data)[3]


SOCKET_FAILURE = r"""
import errno, json, os, resource
from engine import props
from engine.core import Engine

eng = Engine(props.Properties(dict(props.DEFAULTS)))
t = eng.subsystems["tenants"]
spec = {"collectorAddress": "127.0.0.1", "collectorPort": 9, "filters": {"ifindex": ["192.0.2.1_1"]}}
# the kernel refuses new descriptors: no socket can be opened
top = max(int(fd) for fd in os.listdir("/proc/self/fd"))
resource.setrlimit(resource.RLIMIT_NOFILE, (top + 8, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
held = []
try:
    while True:
        held.append(os.open("/dev/null", os.O_RDONLY))
except OSError as exc:
    assert exc.errno == errno.EMFILE
out = {}
try:
    t.set_tenant("a", spec)
    out["first"] = "accepted"
except ValueError as exc:
    out["first"] = "ValueError: " + str(exc)
except Exception as exc:
    out["first"] = type(exc).__name__
out["after_failure"] = [sorted(t.tenants), t.on_flow_sample in eng.flow_handlers]
os.close(held.pop())
t.set_tenant("a", spec)
out["after_retry"] = [sorted(t.tenants), t.on_flow_sample in eng.flow_handlers]
print(json.dumps(out))
"""


def test_a_socket_that_cannot_be_opened_refuses_the_tenant(tmp_path):
    """A PUT whose collector socket cannot be opened (no descriptors left; no IPv6 in the
    kernel) is refused with the reason and leaves no half-registered tenant behind."""
    import subprocess
    import sys

    from paths import REPO

    run = subprocess.run(
        [sys.executable, "-c", SOCKET_FAILURE],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
    )
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout.strip().splitlines()[-1])
    assert out["first"].startswith("ValueError: ") and "socket" in out["first"], out
    assert out["after_failure"] == [[], False]
    assert out["after_retry"] == [["a"], True]
