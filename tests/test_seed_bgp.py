"""Blog scenario: bgp.js, real-time BGP route analytics.

The lab is the blog's: the router 10.0.0.254 is BIRD 2 (AS 65254) reflecting a table of 500+
prefixes to flowrt (10.0.0.162, AS 65162, BGP port 1179), and the switch 10.0.0.253 sends sFlow.
flowrt runs bgp.js unmodified with ``-Dbgp.start=yes``. The switch's traffic goes 50 % to
198.51.100.0/24, 30 % to 192.0.2.0/24, 10 % to 203.0.113.128/25 (a more-specific of
203.0.113.0/24) and 10 % to an address no route covers; another agent's traffic must not count.
/bgp/topprefixes/10.0.0.254/json must rank the prefixes by their 60 s moving-average byte
rate with the coverage figures of the blog's query.
"""

from __future__ import annotations

import math
import time

import pytest

from bgp_support import BIRD, Bird
from lab import netns
from lab.agents import Paced, Sender, Switch
from lab.scenario import LabScenario
from lab.swarm import FLOWRT_SFLOW

pytestmark = [
    pytest.mark.skipif(netns.available() is not None, reason=str(netns.available())),
    pytest.mark.skipif(BIRD is None, reason="needs BIRD 2 (Debian package bird2)"),
]

ROUTER, SWITCH, OTHER_AGENT = "10.0.0.254", "10.0.0.253", "10.0.0.99"
FILLER = [f"172.{20 + i // 256}.{i % 256}.0/24" for i in range(500)]
ROUTES = {
    "198.51.100.0/24": [15169],
    "192.0.2.0/24": [3356, 174],
    "203.0.113.0/24": [2914],
    "203.0.113.128/25": [2914, 6453],
}
# destination: samples per 0.25 s (1000 B frames, 1-in-1000 sampling: 1 MB of traffic each)
MIX = {"198.51.100.9": 5, "192.0.2.77": 3, "203.0.113.200": 1, "100.64.0.1": 1}
SIZE, RATE, TICK = 1000, 1000, 0.25
TAU = 60.0  # bgp.js: 60 s moving average


def bird_config() -> str:
    routes = []
    for i, prefix in enumerate(FILLER):
        routes.append(f"  route {prefix} blackhole {{ bgp_path.prepend({64512 + i % 500}); }};")
    for prefix, path in ROUTES.items():
        prepends = " ".join(f"bgp_path.prepend({a});" for a in reversed(path))
        routes.append(f"  route {prefix} blackhole {{ {prepends} }};")
    body = "\n".join(routes)
    return f"""
router id {ROUTER};
protocol device {{ }}
protocol static table4 {{
  ipv4;
{body}
}}
protocol bgp flowrt {{
  local {ROUTER} as 65254;
  neighbor 10.0.0.162 port 1179 as 65162;
  connect delay time 1;
  connect retry time 1;
  error wait time 1, 2;
  # BIRD sends MED over eBGP only when the export filter sets it
  ipv4 {{ import none; next hop self;
          export filter {{ if net.len = 25 then bgp_med = 20; else bgp_med = 10; accept; }}; }};
}}
"""


class Traffic(Paced):
    """Every 0.25 s the switch sends the mix; another agent (no bgpAddSource) sends traffic to
    192.0.2.5 that must not count. Records when each of the switch's ticks went out."""

    def __init__(self, switch: Switch, other: Switch):
        super().__init__(TICK, self.send)
        self.switch, self.other = switch, other
        self.flows = [
            dict(src="10.0.0.31", dst=d, size=SIZE, rate=RATE, samples=n) for d, n in MIX.items()
        ]
        self.sent: list[float] = []

    def send(self, now):
        self.switch.send_flows(self.flows, dt_ms=int(TICK * 1000))
        self.sent.append(time.time())
        self.other.send_flows(
            [dict(src="10.0.0.32", dst="192.0.2.5", size=SIZE, rate=RATE, samples=20)],
            dt_ms=int(TICK * 1000),
        )

    def between_ticks(self) -> None:
        """Wait until a tick went out 0.08 s ago. A tick's mix takes two datagrams; a query
        answered between them sees a partial tick and shares off by ~1 % (more likely with
        the collector's receive thread, whose wakeup adds a scheduling hop between the two on a
        busy machine), while the next tick is still 0.17 s away."""
        n = len(self.sent)
        deadline = time.monotonic() + 5
        while len(self.sent) == n and time.monotonic() < deadline:
            time.sleep(0.002)
        time.sleep(0.08)

    def moving_average(self, at: float, sent_before: float) -> float:
        """The 60 s moving average (bytes/s) at time `at` of the ticks sent before
        `sent_before`: each tick of B bytes at time s contributes B/tau e^-(at-s)/tau."""
        per_tick = sum(MIX.values()) * SIZE * RATE
        return sum(per_tick / TAU * math.exp(-(at - t) / TAU) for t in self.sent if t < sent_before)


def test_bgp_topprefixes_ranks_routes_carrying_the_traffic(tmp_path):
    with LabScenario(tmp_path, [ROUTER, SWITCH, OTHER_AGENT]) as s:
        fr = s.start_flowrt(["bgp.js"], ["-Dbgp.start=yes"])
        fr.wait_log(r"INFO: Listening, BGP port 1179", 5)

        bird = Bird(tmp_path / "bird", bird_config())
        s.started(s.lab.in_hosts(bird.start))  # bird -f inside the lab namespace
        fr.wait_log(rf"INFO: BGP open {ROUTER.replace('.', '[.]')} \d+", 30)
        n_routes = len(FILLER) + len(ROUTES)
        deadline = time.monotonic() + 30
        while fr.get_json(f"/bgp/topprefixes/{ROUTER}/json")["nPrefixes"] != n_routes:
            assert time.monotonic() < deadline, fr.get_json(f"/bgp/topprefixes/{ROUTER}/json")
            time.sleep(0.2)

        traffic = s.started(
            Traffic(
                Switch(s.started(Sender(s.lab.hosts_ns, SWITCH, FLOWRT_SFLOW)), SWITCH),
                Switch(s.started(Sender(s.lab.hosts_ns, OTHER_AGENT, FLOWRT_SFLOW)), OTHER_AGENT),
            )
        )
        traffic.start()
        time.sleep(6.0)

        traffic.between_ticks()
        t0 = time.time()
        top = fr.get_json(f"/bgp/topprefixes/{ROUTER}/json?maxPrefixes=5")
        t1 = time.time()
        assert top["state"] == "established" and top["as"] == 65254 and top["id"] == ROUTER
        assert top["direction"] == "destination"
        assert top["nPrefixes"] == top["learnedPrefixesAdded"] == n_routes
        ranked = top["topPrefixes"]
        assert [p["prefix"] for p in ranked] == [
            "198.51.100.0/24",
            "192.0.2.0/24",
            "203.0.113.128/25",
        ]
        assert [p["aspath"] for p in ranked] == ["65254-15169", "65254-3356-174", "65254-2914-6453"]
        assert [p["med"] for p in ranked] == [10, 10, 20]
        assert all(
            p["nexthop"] == ROUTER and p["origin"] == "IGP" and p["localpref"] == 100
            for p in ranked
        ), ranked
        # shares of the switch's traffic: each 0.25 s tick carries the whole mix (in two
        # datagrams a moment apart, hence not to the last digit)
        total = sum(MIX.values())
        assert ranked[0]["value"] / top["valueTotal"] == pytest.approx(5 / total, rel=1e-4)
        assert ranked[1]["value"] / top["valueTotal"] == pytest.approx(3 / total, rel=1e-4)
        assert top["valueTopPrefixes"] == pytest.approx(sum(p["value"] for p in ranked), rel=1e-9)
        assert top["valuePercentCoverage"] == pytest.approx(90.0, rel=1e-4)
        # the total is the 60 s moving average of the bytes the switch sent (all of it counts:
        # routed or not), to within the moment of the query
        lo = traffic.moving_average(t1, sent_before=t0 - 0.05) * 0.99
        hi = traffic.moving_average(t0, sent_before=t1) * 1.01
        assert lo <= top["valueTotal"] <= hi, (lo, top["valueTotal"], hi)

        traffic.between_ticks()
        two = fr.get_json(f"/bgp/topprefixes/{ROUTER}/json?maxPrefixes=2")
        assert [p["prefix"] for p in two["topPrefixes"]] == ["198.51.100.0/24", "192.0.2.0/24"]
        assert two["valuePercentCoverage"] == pytest.approx(80.0, rel=1e-4)
        traffic.between_ticks()
        covered = fr.get_json(f"/bgp/topprefixes/{ROUTER}/json?maxPrefixes=3&minPrefix=25")
        assert [p["prefix"] for p in covered["topPrefixes"]] == ["203.0.113.128/25"]
        assert not [l for l in fr.log_lines() if "SEVERE" in l], fr.tail()
