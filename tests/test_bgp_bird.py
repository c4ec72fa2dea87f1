"""flowrt's BGP speaker against a real BIRD 2 peer over loopback (IPv4 via 127.0.0.2, IPv6 via ::1)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from bgp_support import BIRD, Bird, bird_config, free_tcp_port, sflow_datagram, wait_until

pytestmark = pytest.mark.skipif(BIRD is None, reason="BIRD 2 (Debian bird2) not installed")

ROUTES4 = [
    (
        "192.0.2.0/24 blackhole { bgp_path.prepend(3356); bgp_path.prepend(174); "
        "bgp_community.add((65000,666)); bgp_large_community.add((65254,1,2)); }"
    ),
    "198.51.100.0/24 blackhole { bgp_path.prepend(15169); }",
    "203.0.113.0/24 blackhole { bgp_path.prepend(2914); bgp_path.prepend(6453); }",
    "203.0.113.128/25 blackhole { bgp_path.prepend(2914); }",
]
ROUTES6 = [
    "2001:db8:1::/48 blackhole { bgp_path.prepend(6939); bgp_community.add((65000,6)); }",
    "2001:db8:2::/48 blackhole { bgp_path.prepend(13335); }",
]


class Peering:
    def __init__(
        self,
        make_engine,
        tmp_path,
        routes4=ROUTES4,
        routes6=ROUTES6,
        flowspec=False,
        local_as=65254,
        flowrt_as=65162,
    ):
        self.local_as, self.flowrt_as = local_as, flowrt_as
        self.running = make_engine({"bgp.start": "yes", "bgp.port": "0"})
        self.bgp = self.running.engine.subsystems["bgp"]
        self.opened: list[str] = []
        self.closed: list[str] = []
        self.flowspec = flowspec
        self.running.call(
            self.bgp.add_neighbor,
            "127.0.0.2",
            str(flowrt_as),
            "10.0.0.162",
            {"flowspec": True} if flowspec else None,
            self.opened.append,
            self.closed.append,
        )
        self.running.call(
            self.bgp.add_neighbor,
            "::1",
            flowrt_as,
            "10.0.0.162",
            {"ipv6": True, "flowspec6": flowspec},
        )
        self.listen4, self.listen6 = free_tcp_port(), free_tcp_port("::1")
        self.tmp = tmp_path
        self.bird = Bird(tmp_path / "bird", self.config(routes4, routes6)).start()

    def config(self, routes4, routes6) -> str:
        return bird_config(
            self.bgp.listen_port,
            routes4,
            routes6,
            listen4=self.listen4,
            listen6=self.listen6,
            flowspec=self.flowspec,
            local_as=self.local_as,
            flowrt_as=self.flowrt_as,
        )

    def n4(self):
        return self.bgp.neighbors["127.0.0.2"]

    def n6(self):
        return self.bgp.neighbors["::1"]

    def wait_tables(self, n4=len(ROUTES4), n6=len(ROUTES6), timeout=20):  # noqa: B008 (constants)
        wait_until(lambda: len(self.n4().rib4) == n4 and len(self.n6().rib6) == n6, timeout)

    def get(self, path):
        return self.running.get_json(path)

    def request(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(
            self.running.http_url + path,
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(req, timeout=10) as reply:
                return reply.status, reply.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    def bird_routes(self, table="master4") -> str:
        return self.bird.cmd("show", "route", "table", table, "all")

    def stop(self):
        self.bird.stop()


@pytest.fixture
def peering(make_engine, tmp_path):
    p = Peering(make_engine, tmp_path)
    yield p
    p.stop()


def test_ipv4_and_ipv6_tables_arrive_with_paths_and_communities(peering):
    peering.wait_tables()
    assert peering.opened == ["127.0.0.2"]
    r = peering.get("/bgp/prefix/127.0.0.2/json?address=192.0.2.77")
    assert r["prefix"] == "192.0.2.0/24"
    assert r["aspath"] == "65254-174-3356"  # BIRD prepends its own AS on eBGP
    assert r["nexthop"] == "127.0.0.2"
    assert r["origin"] == "IGP"
    assert r["communities"] == "65000:666-65254:1:2"
    r = peering.get("/bgp/prefix/127.0.0.2/json?address=203.0.113.200")
    assert (r["prefix"], r["aspath"]) == ("203.0.113.128/25", "65254-2914")
    r6 = peering.get("/bgp/prefix/::1/json?address=2001:db8:1::99")
    assert r6["prefix"] == "2001:db8:1::/48"
    assert r6["aspath"] == "65254-6939"
    assert r6["communities"] == "65000:6"
    assert r6["nexthop"] == "2001:db8:ffff::fe"
    top = peering.get("/bgp/topprefixes/127.0.0.2/json")
    assert top["state"] == "established"
    assert top["as"] == 65254 and top["id"] == "10.0.0.254"
    assert top["nPrefixes"] == len(ROUTES4) == top["learnedPrefixesAdded"]
    top6 = peering.get("/bgp/topprefixes6/::1/json")
    assert top6["nPrefixes"] == len(ROUTES6)


def test_withdrawals_remove_prefixes(peering):
    peering.wait_tables()
    out = peering.bird.reconfigure(peering.config(ROUTES4[:2], ROUTES6[:1]))
    assert "Reconfigur" in out
    peering.wait_tables(2, 1)
    n4 = peering.n4()
    assert n4.rib4.lookup("203.0.113.200") is None
    assert n4.rib4.removed == 2
    assert peering.n6().rib6.lookup("2001:db8:2::1") is None
    top = peering.get("/bgp/topprefixes/127.0.0.2/json")
    assert top["learnedPrefixesRemoved"] == 2 and top["nPrefixes"] == 2


def test_session_flap_recovers(peering):
    peering.wait_tables()
    assert "disabled" in peering.bird.cmd("disable", "flowrt4")
    # the close handler is called after the state changes: wait for it too (a loaded machine
    # can run this check in between)
    wait_until(
        lambda: peering.n4().state == "idle" and len(peering.n4().rib4) == 0 and peering.closed
    )
    assert peering.closed == ["127.0.0.2"]
    assert peering.n6().state == "established"  # the other session is untouched
    peering.bird.cmd("enable", "flowrt4")
    peering.wait_tables()
    assert peering.n4().state == "established"
    assert peering.opened == ["127.0.0.2", "127.0.0.2"]
    assert peering.n4().established_count == 2


def test_pushed_routes_appear_in_bird(peering):
    peering.wait_tables()
    bgp, run = peering.bgp, peering.running
    assert run.call(
        bgp.add_route,
        "127.0.0.2",
        {
            "prefix": "100.64.1.0/24",
            "nexthop": "127.0.0.9",
            "aspath": "65001-65002",
            "communities": "65000:1 65000:2",
            "med": 7,
        },
    )
    assert run.call(
        bgp.add_route,
        "::1",
        {"prefix": "2001:db8:99::/48", "nexthop": "2001:db8:ffff::9", "communities": "1:2:3"},
    )
    assert run.call(bgp.route_count, "127.0.0.2") == 1
    out = wait_until(lambda: (lambda s: "100.64.1.0/24" in s and s)(peering.bird_routes()))
    assert "BGP.as_path: 65162 65001 65002" in out
    assert "(65000,1) (65000,2)" in out
    assert "BGP.med: 7" in out
    out6 = wait_until(
        lambda: (lambda s: "2001:db8:99::/48" in s and s)(peering.bird_routes("master6"))
    )
    assert "BGP.large_community: (1, 2, 3)" in out6
    # REST view of the pusher, then a REST-pushed route and its removal
    assert peering.get("/bgp/routepusher/127.0.0.2/json") == ["100.64.1.0/24"]
    status, _ = peering.request(
        "PUT",
        "/bgp/routepusher/127.0.0.2/100.64.2.0/24/json",
        {"nexthop": "127.0.0.9", "aspath": "65003", "localpref": 200},
    )
    assert status == 204
    wait_until(lambda: "100.64.2.0/24" in peering.bird_routes())
    assert peering.get("/bgp/routepusher/127.0.0.2/100.64.2.0/24/json")["aspath"] == "65003"
    status, body = peering.request(
        "PUT", "/bgp/routepusher/127.0.0.2/100.64.3.0/24/json", {"aspath": "1"}
    )
    assert status == 400 and b"nexthop" in body
    assert run.call(bgp.remove_route, "127.0.0.2", "100.64.1.0/24")
    status, _ = peering.request("DELETE", "/bgp/routepusher/127.0.0.2/100.64.2.0/24/json")
    assert status == 204
    wait_until(lambda: "100.64." not in peering.bird_routes())
    top = peering.get("/bgp/topprefixes/127.0.0.2/json")
    assert (top["pushedPrefixesAdded"], top["pushedPrefixesRemoved"]) == (2, 2)
    # routes still pushed are re-sent when the session comes back
    peering.bird.cmd("restart", "flowrt6")
    wait_until(lambda: "2001:db8:99::/48" in peering.bird_routes("master6"))


def test_topprefixes_ranking_and_coverage_from_sflow(peering):
    peering.wait_tables()
    run, bgp = peering.running, peering.bgp
    assert run.call(
        bgp.add_source, "10.0.0.253", {"router": "127.0.0.2", "router6": "::1"}, 60, "bytes"
    )
    flows = (
        [("10.1.1.1", "192.0.2.10")] * 6
        + [("10.1.1.1", "198.51.100.7")] * 3
        + [("10.1.1.1", "203.0.113.5")] * 1
        + [("10.1.1.1", "8.8.8.8")] * 2
        + [("2001:db8:ff::1", "2001:db8:2::1")] * 4
        + [("2001:db8:ff::1", "2001:db8:1::1")]
    )
    before = run.engine.stats.flow_samples
    run.send([sflow_datagram("10.0.0.253", flows, seq=1)])
    run.send([sflow_datagram("10.0.0.99", flows, seq=1)])  # not a source: ignored
    run.wait_for(lambda: run.engine.stats.flow_samples >= before + 2 * len(flows))
    top = peering.get("/bgp/topprefixes/127.0.0.2/json?maxPrefixes=2")
    assert [e["prefix"] for e in top["topPrefixes"]] == ["192.0.2.0/24", "198.51.100.0/24"]
    first = top["topPrefixes"][0]
    assert set(first) >= {"aspath", "localpref", "med", "nexthop", "origin", "prefix", "value"}
    # 6 and 3 of 12 samples of 1000 bytes x 100, as a 60 s moving average (rate in bytes/s)
    assert first["value"] == pytest.approx(6 * 1000 * 100 / 60, rel=0.02)
    assert top["valuePercentCoverage"] == pytest.approx(75.0, rel=0.01)
    assert top["valueTotal"] == pytest.approx(12 * 1000 * 100 / 60, rel=0.02)
    assert top["valueTopPrefixes"] == pytest.approx(9 * 1000 * 100 / 60, rel=0.02)
    # minValue drops the smaller one; minPrefix=25 drops all the /24s
    mid = 4 * 1000 * 100 / 60
    assert len(peering.get(f"/bgp/topprefixes/127.0.0.2/json?minValue={mid}")["topPrefixes"]) == 1
    assert peering.get("/bgp/topprefixes/127.0.0.2/json?minPrefix=25")["topPrefixes"] == []
    # includeCovered brings in the /25 under 203.0.113.0/24 with its parent named
    cov = peering.get("/bgp/topprefixes/127.0.0.2/json?includeCovered=true")
    entry = {e["prefix"]: e for e in cov["topPrefixes"]}
    assert entry["203.0.113.128/25"]["parentprefix"] == "203.0.113.0/24"
    assert entry["203.0.113.128/25"]["value"] == 0
    # ... and pruneCovered removes it again: same next hop as its parent
    pruned = peering.get("/bgp/topprefixes/127.0.0.2/json?includeCovered=true&pruneCovered=true")
    assert "203.0.113.128/25" not in {e["prefix"] for e in pruned["topPrefixes"]}
    # source direction: all traffic came from 10.1.1.1, which no route covers
    src = peering.get("/bgp/topprefixes/127.0.0.2/json?direction=source")
    assert src["direction"] == "source" and src["topPrefixes"] == []
    top6 = peering.get("/bgp/topprefixes6/::1/json")
    assert [e["prefix"] for e in top6["topPrefixes"]] == ["2001:db8:2::/48", "2001:db8:1::/48"]
    assert top6["valuePercentCoverage"] == pytest.approx(100.0)
    assert peering.request("GET", "/bgp/topprefixes/127.0.0.2/json?direction=up")[0] == 400
    assert peering.request("GET", "/bgp/topprefixes/127.0.0.77/json")[0] == 404


def test_bgp_flow_attributes_from_table(peering):
    peering.wait_tables()
    run, bgp = peering.running, peering.bgp
    run.call(bgp.add_source, "10.0.0.253", "127.0.0.2", 60, "bytes")
    attrs = {"ipsource": "203.0.113.130", "ipdestination": "192.0.2.10"}
    got = run.call(bgp.flow_attributes, "10.0.0.253", attrs)
    assert got == {
        "bgpas": 65254,
        "ipdestinationmaskbits": 24,
        "bgpnexthop": "127.0.0.2",
        "bgpdestinationas": 3356,
        "bgpdestinationpeeras": 65254,
        "bgpdestinationaspath": "65254-174-3356",
        "bgpcommunities": "65000:666-65254:1:2",
        "bgplocalpref": 100,
        "ipsourcemaskbits": 25,
        "bgpsourceas": 2914,
        "bgpsourcepeeras": 65254,
    }
    assert run.call(bgp.flow_attributes, "10.0.0.99", attrs) == {}


def test_flowspec_rules_reach_bird(make_engine, tmp_path):
    p = Peering(make_engine, tmp_path, flowspec=True)
    try:
        p.wait_tables()
        run, bgp = p.running, p.bgp
        ddos = {
            "match": {"destination": "192.0.2.1/32", "protocol": "=17", "source-port": "=53"},
            "then": {"traffic-rate": "0", "communities": "65535:666"},
        }
        assert run.call(bgp.add_flow, "127.0.0.2", ddos)
        status, _ = p.request(
            "PUT",
            "/bgp/flowspec/127.0.0.2/json",
            {
                "match": {
                    "destination": "192.0.2.2/32",
                    "port": ">=137&<=139|=8080",
                    "tcp-flags": "=S",
                },
                "then": {"traffic-rate": "1000", "traffic-marking": "le"},
            },
        )
        assert status == 204
        assert run.call(
            bgp.add_flow,
            "::1",
            {
                "match": {"destination": "2001:db8:1::1/128", "protocol": "=6"},
                "then": {"traffic-action": "sample"},
            },
        )
        out = wait_until(
            lambda: (lambda s: s.count("flow4 {") == 2 and s)(
                p.bird.cmd("show", "route", "table", "ft4", "all")
            )
        )
        assert "flow4 { dst 192.0.2.1/32; proto 17; sport 53; }" in out
        assert "flow4 { dst 192.0.2.2/32; port 137..139,8080; tcp flags 0x2/0x2; }" in out
        assert "(generic, 0x80060000, 0x447a0000)" in out  # rate 1000.0 bytes/s as IEEE float
        assert "(65535,666)" in out
        out6 = wait_until(
            lambda: (lambda s: "flow6 {" in s and s)(
                p.bird.cmd("show", "route", "table", "ft6", "all")
            )
        )
        assert "dst 2001:db8:1::1/128" in out6 and "0x80070000, 0x2" in out6
        assert len(p.get("/bgp/flowspec/127.0.0.2/json")) == 2
        assert run.call(bgp.flow_count, "127.0.0.2") == 2
        status, _ = p.request("DELETE", "/bgp/flowspec/127.0.0.2/json", ddos)
        assert status == 204
        wait_until(lambda: "192.0.2.1/32" not in p.bird.cmd("show", "route", "table", "ft4"))
        assert p.request("DELETE", "/bgp/flowspec/127.0.0.2/json", ddos)[0] == 404
        status, body = p.request(
            "PUT",
            "/bgp/flowspec/127.0.0.2/json",
            {"match": {"protocol": "=6"}, "then": {"teleport": "1"}},
        )
        assert status == 400 and b"teleport" in body
    finally:
        p.stop()


def test_ibgp_session_like_the_active_route_manager(make_engine, tmp_path):
    """The blog's Active Route Manager peers over iBGP (both ends AS 65136): no AS is prepended
    either way and LOCAL_PREF travels with the routes."""
    p = Peering(make_engine, tmp_path, local_as=65136, flowrt_as=65136)
    try:
        p.wait_tables()
        r = p.get("/bgp/prefix/127.0.0.2/json?address=192.0.2.1")
        assert r["aspath"] == "174-3356" and r["localpref"] == 100
        assert p.get("/bgp/topprefixes/127.0.0.2/json")["as"] == 65136
        assert p.running.call(
            p.bgp.add_route,
            "127.0.0.2",
            {
                "prefix": "100.64.9.0/24",
                "nexthop": "127.0.0.9",
                "localpref": 300,
                "aspath": "64999",
            },
        )
        out = wait_until(lambda: (lambda s: "100.64.9.0/24" in s and s)(p.bird_routes()))
        assert "BGP.as_path: 64999\n" in out and "BGP.local_pref: 300" in out
    finally:
        p.stop()
