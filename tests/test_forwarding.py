"""sFlow forwarding (REST /forwarding, JS setForward/clearForward) against a running engine:
real UDP in, real UDP out to a receiver socket on loopback standing in for another collector."""

from __future__ import annotations

import json
import socket
import time
import urllib.request

import pytest

from engine.forwarding import agent_address
from engine.sflow import encode
from engine.sflow.pcap import read_pcap
from paths import SFLOW_DATA
from udp_receiver import Receiver

PCAP = SFLOW_DATA / "overflowd" / "sflow.pcap"


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def ip(text: str) -> bytes:
    import ipaddress

    return ipaddress.ip_address(text).packed


def empty_datagram(agent: str, seq: int, version: int = 5) -> bytes:
    return encode.encode_datagram(
        {"version": version, "agent": agent, "seq": seq, "uptime": seq * 1000, "samples": []}
    )


def forwarding(eng):
    return eng.engine.subsystems["forwarding"]


def test_pcap_datagrams_forwarded_byte_identical(make_engine, receiver):
    eng = make_engine()
    fwd = forwarding(eng)
    assert fwd.on_datagram not in eng.engine.datagram_handlers  # nothing defined: no cost
    assert eng.request(
        "PUT", "/forwarding/other/json", {"address": "127.0.0.1", "port": receiver.port}
    ) == (204, None)
    assert fwd.on_datagram in eng.engine.datagram_handlers
    sent = [d.payload for d in read_pcap(PCAP)]
    assert len(sent) == 1000
    eng.send_paced(sent)
    got = receiver.wait_count(len(sent))
    assert len(got) == len(sent)
    assert got == sent  # byte-identical, in order (one sender, loopback)
    status, spec = eng.request("GET", "/forwarding/other/json")
    assert status == 200
    assert spec == {
        "address": "127.0.0.1",
        "port": receiver.port,
        "datagrams": len(sent),
        "bytes": sum(map(len, sent)),
        "drops": 0,
    }
    assert eng.request("GET", "/forwarding/json") == (200, {"other": spec})


def test_agents_filter_v5_and_v4_headers(make_engine, receiver):
    eng = make_engine()
    assert eng.request(
        "PUT",
        "/forwarding/one/json",
        {"address": "127.0.0.1", "port": receiver.port, "agents": ["192.0.2.2", "2001:db8::2"]},
    ) == (204, None)
    assert eng.request("GET", "/forwarding/one/json")[1]["agents"] == ["192.0.2.2", "2001:db8::2"]
    wanted, seq = [], 0
    for i in range(20):
        for agent in ("192.0.2.1", "192.0.2.2", "2001:db8::1", "2001:db8::2"):
            version = 4 if i % 2 else 5
            seq += 1
            dg = empty_datagram(agent, seq, version)
            assert dg[3] == version
            eng.send(dg)
            if agent.endswith("2"):
                wanted.append(dg)
    markers = [empty_datagram(agent, 999999) for agent in ("192.0.2.2", "2001:db8::2")]
    eng.send(markers)
    for marker in markers:
        receiver.wait_for(marker)
    time.sleep(0.1)
    # each agent's datagrams in its order (with sFlow workers the two agents' streams may
    # come from two processes, interleaved)
    by_agent = {
        a: [d for d in receiver.got if agent_address(d) == ip(a)]
        for a in ("192.0.2.2", "2001:db8::2")
    }
    assert len(receiver.got) == len(wanted) + 2
    for a, got in by_agent.items():
        assert got == [d for d in wanted + markers if agent_address(d) == ip(a)]
    status, spec = eng.request("GET", "/forwarding/one/json")
    assert spec["datagrams"] == len(wanted) + 2 and spec["drops"] == 0


def test_ipv6_loopback_destination(make_engine):
    r6 = Receiver(socket.AF_INET6, "::1")
    try:
        eng = make_engine()
        assert (
            eng.request("PUT", "/forwarding/v6/json", {"address": "::1", "port": r6.port})[0] == 204
        )
        sent = [empty_datagram("192.0.2.1", s) for s in range(1, 11)]
        eng.send(sent)
        assert r6.wait_count(len(sent)) == sent
        assert eng.request("GET", "/forwarding/v6/json")[1]["address"] == "::1"
    finally:
        r6.close()


def test_two_forwardings_and_delete_stops(make_engine, receiver):
    eng = make_engine()
    other = Receiver()
    try:
        assert (
            eng.request(
                "PUT", "/forwarding/a/json", {"address": "127.0.0.1", "port": receiver.port}
            )[0]
            == 204
        )
        assert (
            eng.request("PUT", "/forwarding/b/json", {"address": "127.0.0.1", "port": other.port})[
                0
            ]
            == 204
        )
        first = empty_datagram("192.0.2.1", 1)
        eng.send(first)
        assert receiver.wait_count(1) == [first] and other.wait_count(1) == [first]
        assert eng.request("DELETE", "/forwarding/a/json") == (204, None)
        second = empty_datagram("192.0.2.1", 2)
        eng.send(second)
        assert other.wait_for(second) == [first, second]
        assert receiver.got == [first]
        assert eng.request("DELETE", "/forwarding/b/json") == (204, None)
        assert forwarding(eng).on_datagram not in eng.engine.datagram_handlers
        n = eng.engine.stats.datagrams
        eng.send(empty_datagram("192.0.2.1", 3))
        eng.wait_datagrams(n + 1)
        # loopback delivery happens inside sendto: anything forwarded would be queued by now
        time.sleep(0.3)
        assert receiver.got == [first] and other.got == [first, second]
        assert eng.request("GET", "/forwarding/json") == (200, {})
    finally:
        other.close()


def test_send_error_counts_a_drop(make_engine, receiver):
    """A datagram the kernel refuses to send (larger than UDP allows) is a drop, not an error
    that reaches the sample path."""
    eng = make_engine()
    assert (
        eng.request("PUT", "/forwarding/a/json", {"address": "127.0.0.1", "port": receiver.port})[0]
        == 204
    )
    errors = eng.engine.stats.handler_errors
    eng.call(eng.engine.ingest, b"\0\0\0\5" + b"\0" * 70000, "127.0.0.1", time.time())
    spec = eng.request("GET", "/forwarding/a/json")[1]
    assert (spec["datagrams"], spec["drops"]) == (0, 1)
    assert eng.engine.stats.handler_errors == errors


@pytest.mark.parametrize(
    "body, reason",
    [
        ({"address": "collector.example"}, "address"),
        ({"port": 6343}, "address"),
        ({"address": "10.0.0.1", "port": 70000}, "port"),
        ({"address": "10.0.0.1", "port": 0}, "port"),
        ({"address": "10.0.0.1", "port": "x"}, "port"),
        ({"address": "10.0.0.1", "agents": "10.0.0.254"}, "agents"),
        ({"address": "10.0.0.1", "agents": ["10.0.0.254", "router1"]}, "agent"),
        ({"address": "10.0.0.1", "collector": "x"}, "collector"),
        (["10.0.0.1"], "object"),
    ],
)
def test_bad_specs_are_refused_with_a_reason(running_engine, body, reason):
    status, err = running_engine.request("PUT", "/forwarding/bad/json", body)
    assert status == 400 and reason in err["error"]
    assert running_engine.request("GET", "/forwarding/json") == (200, {})


def test_unknown_names_and_read_only(make_engine):
    eng = make_engine()
    assert eng.request("GET", "/forwarding/nosuch/json")[0] == 404
    assert eng.request("DELETE", "/forwarding/nosuch/json")[0] == 404
    assert eng.request("PUT", "/forwarding/x/json", b"{not json")[0] == 400
    ro = make_engine({"http.readonly": "yes"})
    assert ro.request("PUT", "/forwarding/x/json", {"address": "127.0.0.1"})[0] == 403
    assert ro.request("DELETE", "/forwarding/x/json")[0] == 403
    assert ro.request("GET", "/forwarding/json") == (200, {})


SCRIPT = r"""
setHttpHandler(function(req) {
  var q = req.query, op = q.op[0];
  switch (op) {
  case 'set': return setForward('js', '127.0.0.1', parseInt(q.port[0]), ['192.0.2.2']);
  case 'setdefault': return setForward('dflt', '127.0.0.1');
  case 'clear': return clearForward('js');
  case 'bad': try { setForward('bad', '127.0.0.1', 99999); return 'no error'; }
              catch (e) { return 'error: ' + e.message; }
  }
  throw 'not_found';
});
"""


def test_js_set_and_clear_forward(make_engine, receiver, tmp_path):
    (tmp_path / "fw.js").write_text(SCRIPT)
    eng = make_engine({"script.file": "fw.js"}, home=tmp_path)

    def op(name, **q):
        query = "&".join(f"{k}={v}" for k, v in {"op": name, **q}.items())
        with urllib.request.urlopen(f"{eng.http_url}/script/fw.js/json?{query}", timeout=20) as r:
            body = r.read().decode()
        try:
            return json.loads(body)
        except ValueError:
            return body  # a string result comes back as text

    runtime = eng.engine.subsystems["runtime"]
    eng.wait_for(lambda: runtime.scripts and all(s.started for s in runtime.scripts.values()), 30)
    assert "port" in op("bad")
    op("set", port=receiver.port)
    op("setdefault")
    status, all_ = eng.request("GET", "/forwarding/json")
    assert all_["js"] == {
        "address": "127.0.0.1",
        "port": receiver.port,
        "agents": ["192.0.2.2"],
        "datagrams": 0,
        "bytes": 0,
        "drops": 0,
    }
    assert all_["dflt"]["port"] == 6343
    # removed before any traffic: nothing goes to a real collector that may listen on 6343
    assert eng.request("DELETE", "/forwarding/dflt/json")[0] == 204
    skipped, wanted = empty_datagram("192.0.2.1", 1), empty_datagram("192.0.2.2", 2)
    eng.send([skipped, wanted])
    assert receiver.wait_for(wanted) == [wanted]
    assert op("clear") is True
    assert op("clear") is False
    assert eng.request("GET", "/forwarding/js/json")[0] == 404
    assert forwarding(eng).on_datagram not in eng.engine.datagram_handlers
