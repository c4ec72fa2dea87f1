"""Key expressions and built-in key functions, evaluated on plain attribute dicts."""

import pytest

from engine.flows.engine import FlowEngine
from engine.flows.keys import compile_key, split_key_list
from engine.flows.keyfuncs import uri_part
from engine.flows.registry import KEY_FUNCTIONS, KeyFunctionError, register


@pytest.fixture
def fe():
    return FlowEngine(None)


def key(fe, text):
    return compile_key(text, fe).extract


def test_plain_and_layer_suffix(fe):
    a = {"ipsource": "10.0.0.1", "ipsource.1": "192.168.0.9"}
    assert key(fe, "ipsource")(a) == "10.0.0.1"
    assert key(fe, "ipsource.1")(a) == "192.168.0.9"
    assert key(fe, "ipdestination")(a) is None


def test_key_list_split_respects_brackets_and_escapes():
    assert split_key_list("ipsource, ipdestination") == ["ipsource", "ipdestination"]
    assert split_key_list(["a", "b"]) == ["a", "b"]
    assert split_key_list("concat:[null:a:x\\,y]:b,c") == ["concat:[null:a:x\\,y]:b", "c"]
    assert split_key_list("") == []
    with pytest.raises(KeyFunctionError):
        split_key_list("a,,b")
    with pytest.raises(KeyFunctionError):
        split_key_list(3)


def test_mask_fixed_and_routed(fe):
    a = {"ipsource": "10.1.2.3", "ip6source": "2001:db8:1:2::5", "ipsourcemaskbits": 13}
    assert key(fe, "mask:ipsource:24")(a) == "10.1.2.0/24"
    assert key(fe, "mask:ip6source:48")(a) == "2001:db8:1::/48"
    assert key(fe, "mask:ipsource")(a) == "10.0.0.0/13"
    assert key(fe, "mask:ipdestination")(a) is None
    with pytest.raises(KeyFunctionError):
        compile_key("mask:ipsource:abc", fe)


def test_prefix_suffix_first(fe):
    a = {
        "stack": "eth.vlan.ip.tcp",
        "dnsqname": "www.example.com.",
        "httpurl": "http://localhost:8008/metrics/json",
    }
    assert key(fe, "prefix:stack:.:1")(a) == "eth"
    assert key(fe, "prefix:stack:.:3")(a) == "eth.vlan.ip"
    # the blog's rule: the empty token after a trailing '.' counts as one of the n
    assert key(fe, "suffix:dnsqname:.:3")(a) == "example.com."
    assert key(fe, "suffix:dnsqname:.:2")(a) == "com."
    assert key(fe, "suffix:stack:.:2")(a) == "ip.tcp"
    assert key(fe, "first:stack:.:ip:ip6")(a) == "ip"
    assert key(fe, "first:stack:.:ip6:arp")(a) is None
    # the example from define_flow: nested function with a '/' delimiter
    assert key(fe, "prefix:[uri:httpurl:path]:/:2")(a) == "/metrics"


def test_bits_range_null_or_eq_if_concat(fe):
    a = {
        "ip6flowlabel": 0xFFFFF,
        "bytes": 1500,
        "httpstatus": 404,
        "bgpas": 65000,
        "bgpsourceas": 65000,
        "tcpsourceport": 80,
        "stack": "eth.ip.tcp",
        "ipsource": "10.0.0.1",
    }
    assert key(fe, "bits:ip6flowlabel:255")(a) == 255
    assert key(fe, "range:bytes:1519")(a) == "false"
    assert key(fe, "range:bytes:1000:1500")(a) == "true"
    assert key(fe, "range:httpstatus:400")(a) == "true"
    assert key(fe, "range:missing:1")(a) is None
    assert key(fe, "null:vxlanvni:none")(a) == "none"
    assert key(fe, "null:vxlanvni")(a) == "null"
    assert key(fe, "null:bytes:0")(a) == 1500
    assert key(fe, "or:udpsourceport:tcpsourceport")(a) == 80
    assert key(fe, "eq:bgpsourceas:bgpas")(a) == "true"
    assert key(fe, "eq:bgpsourceas:bytes")(a) == "false"
    assert key(fe, "if:[first:stack:.:ip:ip6]:ip:ipsource:ip6source")(a) == "10.0.0.1"
    assert key(fe, "concat:-:ipsource:tcpsourceport")(a) == "10.0.0.1-80"
    assert key(fe, "concat:\\::ipsource:tcpsourceport")(a) == "10.0.0.1:80"
    assert key(fe, "concat:-:ipsource:missing")(a) is None


def test_uri_parts():
    url = "http://user@www.example.com:8080/games/puzzles.php?level=2#top"
    expect = {
        "scheme": "http",
        "user": "user",
        "authority": "user@www.example.com:8080",
        "host": "www.example.com",
        "port": 8080,
        "path": "/games/puzzles.php",
        "file": "puzzles.php",
        "extension": "php",
        "query": "level=2",
        "fragment": "top",
        "isabsolute": "true",
        "isopaque": "false",
    }
    for part, value in expect.items():
        assert uri_part(url, part) == value, part
    assert uri_part("/login.php", "path") == "/login.php"
    assert uri_part("/login.php", "isabsolute") == "false"
    assert uri_part("/a/./b/../c.html", "normalized") == "/a/c.html"
    assert uri_part("mailto:a@b.com", "isopaque") == "true"
    assert uri_part("/games/", "extension") is None


def test_group_longest_match_v4_v6_and_live_update(fe):
    fe.set_groups(
        "site", {"private": ["10.0.0.0/8"], "lab": ["10.1.0.0/16"], "v6": ["2001:db8::/32"]}
    )
    g = key(fe, "group:ipsource:site")
    assert g({"ipsource": "10.1.2.3"}) == "lab"
    assert g({"ipsource": "10.9.2.3"}) == "private"
    assert g({"ipsource": "192.0.2.1"}) is None
    assert g({"ipsource": "2001:db8::1"}) == "v6"
    # a redefinition applies to keys compiled before it
    fe.set_groups("site", {"all": ["0.0.0.0/0"]})
    assert g({"ipsource": "10.1.2.3"}) == "all"
    assert fe.clear_groups("site")
    assert g({"ipsource": "10.1.2.3"}) is None
    with pytest.raises(ValueError, match="invalid CIDR"):
        fe.set_groups("bad", {"x": ["not-a-cidr"]})
    with pytest.raises(ValueError, match="groups must be an object"):
        fe.set_groups("bad", ["10.0.0.0/8"])
    assert fe.get_groups("bad") is None


def test_group_several_sets_in_order(fe):
    fe.set_groups("a", {"A": ["10.1.0.0/16"]})
    fe.set_groups("b", {"B": ["10.0.0.0/8"]})
    g = key(fe, "group:ipsource:a:b")
    assert g({"ipsource": "10.1.0.1"}) == "A"
    assert g({"ipsource": "10.2.0.1"}) == "B"


def test_map(fe):
    fe.set_map("svc", {"web": ["80", "443"], "dns": [53]})
    m = key(fe, "map:tcpdestinationport:svc")
    assert m({"tcpdestinationport": 443}) == "web"
    assert m({"tcpdestinationport": 53}) == "dns"
    assert m({"tcpdestinationport": 22}) is None
    fe.set_map("mac", {"member1": ["0A0B0C0D0E0F"]})
    assert key(fe, "map:macsource:mac")({"macsource": "0A0B0C0D0E0F"}) == "member1"
    with pytest.raises(ValueError, match="not a string or number"):
        fe.set_map("bad", {"x": [{"y": 1}]})
    assert fe.get_map("bad") is None


def test_errors(fe):
    for bad in (
        "nosuchfn:ipsource",
        "prefix:stack",
        "uri:httpurl:bogus",
        "mask:[ipsource",
        "bits:x:y",
        "range:bytes:lo",
        "group:ipsource",
        "map:a",
        "if:a:b:c",
    ):
        with pytest.raises(KeyFunctionError):
            compile_key(bad, fe)


def test_registry_extension_needs_no_parser_change(fe):
    name = "testupper"
    if name not in KEY_FUNCTIONS:

        def factory(args, engine):
            k = args[0].key
            return lambda attrs: None if k(attrs) is None else str(k(attrs)).upper()

        register(name, factory)
    assert key(fe, "testupper:[prefix:httphost:.:1]")({"httphost": "www.x.org"}) == "WWW"
