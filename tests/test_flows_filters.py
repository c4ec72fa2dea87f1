"""Filter parsing and compiled evaluation (through a definition, as used per sample)."""

import pytest

from engine.flows import filters
from engine.flows.engine import FlowEngine

NOW = 1_700_000_000.0


def matches(flt, attrs):
    fe = FlowEngine(None)
    fe.set_flow("f", {"value": "frames", "filter": flt})
    fe.process(dict(attrs, frames=1), "10.0.0.1", "1", 1, NOW)
    return bool(fe.active_flows("ALL", "f", now=NOW))


TCP = {
    "ipprotocol": 6,
    "tcpsourceport": 1094,
    "tcpdestinationport": 80,
    "tcpflags": "000010000",
    "ipsource": "10.0.0.1",
    "httpmimetype": "image/png",
    "ethernetprotocol": 2048,
    "reason": "ttl_exceeded",
}


@pytest.mark.parametrize(
    "flt,expect",
    [
        ("ipprotocol=6", True),
        ("ipprotocol=6,17", True),
        ("ipprotocol=17", False),
        ("ipprotocol!=17", True),
        ("ethernetprotocol!=2048,2054,34525", False),
        ("(tcpsourceport=1094|tcpdestinationport=1094)", True),
        ("ipprotocol=6&tcpflags~....1....", True),
        ("tcpflags~....1..1.", False),
        ("ipprotocol=6&tcpflags~.......1.", False),
        ("tcpflags!~.......1.", True),
        ("httpmimetype~image/.*", True),
        ("httpmimetype~image", False),  # whole-value match, as Java's matches()
        ("vxlanvni!=null", False),
        ("vxlanvni=null", True),
        ("vxlanvni=null,5", True),
        ("vxlanvni=5", False),
        ("vxlanvni!=5", True),
        ("'ipsource'='10.0.0.1'", True),
        ("ipsource='10.0.0.1'|ipprotocol=17", True),
        ("ipprotocol=17|ipprotocol=6&tcpsourceport=1", False),  # & binds tighter than |
        ("(ipprotocol=17|ipprotocol=6)&tcpsourceport=1094", True),
        ("!(ipprotocol=17)", True),
        ("range:tcpdestinationport:1:1023=true", True),
        ("prefix:ipsource:.:1=10", True),
        ("ipsource~10\\.0\\..*", True),
        ("ipsource~(10|11)\\..*&ipprotocol=6", True),
        ("reason=ttl_exceeded", True),
        (" ipprotocol = 6 ", True),
    ],
)
def test_filter(flt, expect):
    assert matches(flt, TCP) is expect


@pytest.mark.parametrize(
    "bad",
    [
        "ipprotocol",
        "ipprotocol=6&",
        "(ipprotocol=6",
        "=6",
        "ipprotocol=6)",
        "ipsource~'a",
        "ipsource~(",
        "nosuch:fn=1",
    ],
)
def test_bad_filter_is_rejected_with_reason(bad):
    fe = FlowEngine(None)
    with pytest.raises(ValueError) as exc:
        fe.set_flow("f", {"value": "frames", "filter": bad})
    assert str(exc.value)


def test_parse_tree():
    tree = filters.parse("a=1,2&(b!=null|c~x.*)")
    assert tree.op == "and"
    assert tree.children[0] == filters.Term("a", "=", ["1", "2"])
    assert tree.children[1].op == "or"
    assert tree.children[1].children[0].values == [None]
    assert filters.parse("") is None


def test_filter_compiled_once_not_per_sample(monkeypatch):
    fe = FlowEngine(None)
    fe.set_flow("f", {"value": "frames", "filter": "ipprotocol=6"})
    calls = []
    monkeypatch.setattr(filters, "parse", lambda *a: calls.append(a))
    for i in range(100):
        fe.process(dict(TCP, frames=1), "10.0.0.1", "1", 1, NOW + i)
    assert calls == []
