"""Traffic per prefix (moving average, forward decay), the topprefixes selection rules, the
speaker's configuration API and its bgp.start / bgp.port behaviour."""

from __future__ import annotations

import math
import socket

import pytest

from engine import log
from engine.bgp import message as m
from engine.bgp.rib import Rib, normalize_address, parse_prefix
from engine.bgp.traffic import DST, SRC, Accumulator, prefix_values, top_prefixes


def test_moving_average_converges_on_the_rate():
    acc = Accumulator(10, now=1000.0)
    # 250 bytes every 0.1 s = 2500 bytes/s for 100 s (10 time constants)
    for i in range(1000):
        acc.add(1000.0 + i * 0.1, 250, None, "192.0.2.0/24")
    values, total = prefix_values([acc], DST, 1100.0)
    assert values["192.0.2.0/24"] == pytest.approx(2500, rel=0.02)
    assert total == pytest.approx(2500, rel=0.02)
    # after one time constant without traffic the rate has decayed by e
    values, _ = prefix_values([acc], DST, 1110.0)
    assert values["192.0.2.0/24"] == pytest.approx(2500 / math.e, rel=0.02)


def test_forward_decay_survives_long_runs():
    """Thousands of time constants: the scale is renormalized, values stay right and finite."""
    acc = Accumulator(1, now=0.0)
    for i in range(20000):
        acc.add(i * 0.5, 10, "198.51.100.0/24", None)  # 20 per second
    values, total = prefix_values([acc], SRC, 9999.5)
    assert values["198.51.100.0/24"] == pytest.approx(20, rel=0.3)  # 2 samples per constant
    assert math.isfinite(total) and acc.t0 > 9000
    # a prefix that went quiet long ago is dropped at renormalization
    acc.add(10000.0, 1, "203.0.113.0/24", None)
    for i in range(200):
        acc.add(10000.0 + i, 1, "198.51.100.0/24", None)
    assert "203.0.113.0/24" not in acc.by_prefix[SRC]


def make_rib(routes):
    rib = Rib(m.AFI_IPV4)
    for prefix, nexthop in routes:
        _, packed, plen, _ = parse_prefix(prefix)
        rib.announce([(packed, plen)], m.PathAttrs(aspath=(65001,), nexthop=nexthop))
    return rib


ROUTES = [
    ("10.0.0.0/8", "192.0.2.1"),
    ("10.1.0.0/16", "192.0.2.1"),
    ("10.2.0.0/16", "192.0.2.2"),
    ("10.2.3.0/24", "192.0.2.2"),
    ("0.0.0.0/0", "192.0.2.9"),
    ("172.16.0.0/12", "192.0.2.3"),
]


def test_top_prefixes_rules():
    rib = make_rib(ROUTES)
    assert len(rib) == 6
    values = {
        "10.0.0.0/8": 50.0,
        "0.0.0.0/0": 40.0,
        "172.16.0.0/12": 5.0,
        "10.2.0.0/16": 1.0,
        "192.168.0.0/16": 99.0,
    }  # not (any more) in the table: never listed
    r = top_prefixes(rib, values, 200.0, 2, 0, 0, False, False)
    assert [e["prefix"] for e in r["topPrefixes"]] == ["10.0.0.0/8", "0.0.0.0/0"]
    assert r["valueTopPrefixes"] == 90 and r["valuePercentCoverage"] == 45
    r = top_prefixes(rib, values, 200.0, 10, 0, 1, False, False)  # minPrefix=1: no default
    assert "0.0.0.0/0" not in [e["prefix"] for e in r["topPrefixes"]]
    r = top_prefixes(rib, values, 200.0, 10, 4.0, 0, False, False)  # minValue
    assert [e["prefix"] for e in r["topPrefixes"]] == ["10.0.0.0/8", "0.0.0.0/0", "172.16.0.0/12"]
    r = top_prefixes(rib, {"10.0.0.0/8": 50.0}, 50.0, 1, 0, 1, True, False)
    got = {e["prefix"]: e.get("parentprefix") for e in r["topPrefixes"]}
    assert got == {
        "10.0.0.0/8": None,
        "10.1.0.0/16": "10.0.0.0/8",
        "10.2.0.0/16": "10.0.0.0/8",
        "10.2.3.0/24": "10.0.0.0/8",
    }
    # pruneCovered: 10.1/16 has its parent's next hop; 10.2.3/24 has 10.2/16's next hop
    r = top_prefixes(rib, {"10.0.0.0/8": 50.0}, 50.0, 1, 0, 1, True, True)
    assert sorted(e["prefix"] for e in r["topPrefixes"]) == ["10.0.0.0/8", "10.2.0.0/16"]
    assert top_prefixes(rib, {}, 0.0, 5, 0, 0, False, False)["valuePercentCoverage"] == 0


def test_rib_counts_replacements_once_and_clears():
    rib = make_rib(ROUTES)
    packed = socket.inet_aton("10.1.0.0")
    rib.announce([(packed, 16)], m.PathAttrs(aspath=(1,), nexthop="192.0.2.5"))
    assert (len(rib), rib.added) == (6, 6)
    assert rib.lookup("10.1.2.3")[1].nexthop == "192.0.2.5"
    assert rib.match("10.1.2.3")[:2] == ("10.1.0.0/16", 16)
    rib.withdraw([(packed, 16), (socket.inet_aton("11.0.0.0"), 8)])  # 2nd is unknown: ignored
    assert (len(rib), rib.removed) == (5, 1)
    assert rib.match("10.1.2.3")[0] == "10.0.0.0/8"  # the cache saw the withdrawal
    rib.clear()
    assert (len(rib), rib.removed) == (0, 6) and rib.match("10.1.2.3") is None


def test_address_normalization():
    assert normalize_address("::ffff:10.0.0.1") == "10.0.0.1"
    assert normalize_address("2001:DB8::0:1") == "2001:db8::1"
    with pytest.raises(ValueError):
        normalize_address("10.0.0.300")
    assert parse_prefix("10.1.2.3/16")[3] == "10.1.0.0/16"


@pytest.fixture
def info_log():
    level = log.log.level
    if not getattr(log.log, "_flowrt_configured", False):
        log.setup("INFO")
    log.log.setLevel(min(level or 20, 20))
    yield
    log.log.setLevel(level)


def test_listening_log_line_and_disabled_by_default(make_engine, info_log):
    on = make_engine({"bgp.start": "yes", "bgp.port": "0"})
    bgp = on.engine.subsystems["bgp"]
    assert bgp.listen_port > 0
    assert f"Listening, BGP port {bgp.listen_port}" in [r["message"] for r in log.recent]
    with socket.create_connection(("127.0.0.1", bgp.listen_port), timeout=5):
        pass
    off = make_engine()
    assert off.engine.subsystems["bgp"].server is None
    assert off.call(off.engine.subsystems["bgp"].add_neighbor, "10.0.0.254", "65162", "10.0.0.162")
    assert any("bgp.start=yes" in r["message"] for r in log.recent)


def test_configuration_api_validation(make_engine):
    run = make_engine({"bgp.start": "yes", "bgp.port": "0"})
    bgp = run.engine.subsystems["bgp"]
    for bad in (
        ("10.0.0.300", 65000),
        ("10.0.0.1", "as65000"),
        ("10.0.0.1", 0),
        ("10.0.0.1", 65000, "1.2.3"),
    ):
        with pytest.raises((ValueError, OSError)):
            run.call(bgp.add_neighbor, *bad)
    assert run.call(bgp.add_neighbor, "10.0.0.254", 65162.0, "10.0.0.162")  # JS numbers are floats
    with pytest.raises(ValueError):
        run.call(bgp.add_source, "10.0.0.253", "10.9.9.9")  # no such router
    assert run.call(bgp.add_source, "EDGE", "10.0.0.254", 30, "frames")
    assert bgp.wildcard_sources[0].value == "frames"
    for route in (
        {"prefix": "10.0.0.0/8"},
        {"nexthop": "10.0.0.1"},
        {"prefix": "10.0.0.0/8", "nexthop": "2001:db8::1"},
        {"prefix": "10.0.0.0/8", "nexthop": "10.0.0.1", "origin": "SOMEWHERE"},
        {"prefix": "10.0.0.0/8", "nexthop": "10.0.0.1", "communities": "1:2:3:4"},
    ):
        with pytest.raises(ValueError):
            run.call(bgp.add_route, "10.0.0.254", route)
    assert (
        run.call(bgp.add_route, "10.0.0.9", {"prefix": "10.0.0.0/8", "nexthop": "10.0.0.1"})
        is False
    )
    assert run.call(bgp.add_route, "10.0.0.254", {"prefix": "10.0.0.0/8", "nexthop": "10.0.0.1"})
    assert run.call(bgp.route_count, "10.0.0.254") == 1
    assert run.call(bgp.remove_neighbor, "10.0.0.254") and not run.call(
        bgp.remove_neighbor, "10.0.0.254"
    )
    assert bgp.wildcard_sources[0].router4 is None


def test_top_prefixes_skips_many_withdrawn_heavy_prefixes():
    """Traffic still credited to prefixes that left the table never hides the live ones, even
    when they outnumber the first cut of candidates."""
    rib = make_rib(ROUTES)
    values = {f"192.168.{i}.0/24": 1000.0 + i for i in range(100)}  # gone from the table
    values.update({"10.1.0.0/16": 3.0, "10.2.0.0/16": 2.0, "172.16.0.0/12": 1.0})
    r = top_prefixes(rib, values, 1e6, 2, 0, 0, False, False)
    assert [e["prefix"] for e in r["topPrefixes"]] == ["10.1.0.0/16", "10.2.0.0/16"]


def test_rest_changes_refused_when_read_only(make_engine):
    import json
    import urllib.error
    import urllib.request

    run = make_engine({"bgp.start": "yes", "bgp.port": "0", "http.readonly": "yes"})
    bgp = run.engine.subsystems["bgp"]
    run.call(bgp.add_neighbor, "10.0.0.254", 65162, "10.0.0.162")
    for method, path, body in (
        ("PUT", "/bgp/routepusher/10.0.0.254/10.1.0.0/16/json", {"nexthop": "10.0.0.1"}),
        ("DELETE", "/bgp/routepusher/10.0.0.254/10.1.0.0/16/json", None),
        ("PUT", "/bgp/flowspec/10.0.0.254/json", {"match": {"protocol": "=6"}}),
    ):
        req = urllib.request.Request(
            run.http_url + path,
            method=method,
            data=None if body is None else json.dumps(body).encode(),
        )
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(req, timeout=10)
        assert err.value.code == 403
    assert run.call(bgp.route_count, "10.0.0.254") == 0
    assert run.get_json("/bgp/routepusher/10.0.0.254/json") == []  # reading still works
