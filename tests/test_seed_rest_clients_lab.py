"""Blog scenario: the REST clients dnspair.py, ddos.py and elephant.py (their Python 3 ports in
test_seed_rest_clients.py) against flowrt in the blog's lab, where the names come from a real
DNS server and the bgp* keys from the router's table.

The lab: flowrt (10.0.0.162) runs bgp.js unmodified with ``-Dbgp.start=yes`` and
``-Ddns.servers=10.0.0.53``; BIRD 2 at 10.0.0.254 reflects the routes; NSD at 10.0.0.53 holds
the PTR records; the switch 10.0.0.253 sends plain sampled headers (no extended gateway or
router records), so mask bits, source AS and destination AS path can only come from BGP.
The clients run inside flowrt's namespace against http://localhost:8008, as in the posts.
"""

from __future__ import annotations

import threading
import time

import pytest

from bgp_support import BIRD, Bird
from dns_support import NSD, Nsd
from lab import netns
from lab.agents import Paced, Sender, Switch
from lab.scenario import LabScenario
from lab.swarm import FLOWRT_SFLOW
from test_seed_rest_clients import ddos, dnspair, elephant

pytestmark = [
    pytest.mark.skipif(netns.available() is not None, reason=str(netns.available())),
    pytest.mark.skipif(BIRD is None, reason="needs BIRD 2 (Debian package bird2)"),
    pytest.mark.skipif(NSD is None, reason="needs NSD (Debian package nsd)"),
]

ROUTER, SWITCH, DNS = "10.0.0.254", "10.0.0.253", "10.0.0.53"
PTR = {
    "198.51.100.7": "resolver.example.test.",
    "10.0.0.5": "victim.example.test.",
    "10.0.0.40": "mail1.example.test.",
    "203.0.113.9": "mx.example.test.",
    "10.0.0.70": "dhcp20.example.test.",
}
BIRD_CONF = f"""
router id {ROUTER};
protocol device {{ }}
protocol static table4 {{
  ipv4;
  route 198.48.0.0/13 blackhole {{ bgp_path.prepend(64499); }};
  route 198.51.100.0/24 blackhole {{ bgp_path.prepend(64500); }};
  route 203.0.113.0/24 blackhole {{ bgp_path.prepend(64502); bgp_path.prepend(64501); }};
}}
protocol bgp flowrt {{
  local {ROUTER} as 65254;
  neighbor 10.0.0.162 port 1179 as 65162;
  connect delay time 1;
  connect retry time 1;
  ipv4 {{ import none; export all; next hop self; }};
}}
"""


class Traffic(Paced):
    """Every 0.1 s from the switch: DNS responses (UDP sport 53) from 198.51.100.7 at 200k
    frames/s (1-in-1000), a 1.2 Gbit/s TCP elephant 10.0.0.40 -> 203.0.113.9 (1-in-10000) and
    a small ssh flow below both thresholds."""

    FLOWS = [
        dict(
            src="198.51.100.7",
            dst="10.0.0.5",
            proto=17,
            sport=53,
            dport=33000,
            size=512,
            rate=1000,
            samples=20,
        ),
        dict(
            src="10.0.0.40",
            dst="203.0.113.9",
            sport=60789,
            dport=25,
            size=1500,
            rate=10000,
            samples=10,
        ),
        dict(src="10.0.0.70", dst="10.0.0.40", sport=56174, dport=22, size=100, rate=10, samples=1),
    ]

    def __init__(self, switch: Switch):
        super().__init__(0.1, lambda now: switch.send_flows(self.FLOWS, dt_ms=100))


def test_rest_clients_with_bgp_keys_from_bird_and_names_from_dns(tmp_path):
    with LabScenario(tmp_path, [ROUTER, SWITCH, DNS]) as s:
        nsd = Nsd(tmp_path / "nsd", ptr=PTR)
        # also answer on the lab's DNS address, port 53 (127.0.0.1 stays for the start check)
        nsd.conf.write_text(
            nsd.conf.read_text().replace(
                "  ip-address: 127.0.0.1\n", f"  ip-address: 127.0.0.1\n  ip-address: {DNS}@53\n"
            )
        )
        s.started(s.lab.in_hosts(nsd.start))
        fr = s.start_flowrt(["bgp.js"], ["-Dbgp.start=yes", f"-Ddns.servers={DNS}"])
        bird = Bird(tmp_path / "bird", BIRD_CONF)
        s.started(s.lab.in_hosts(bird.start))
        fr.wait_log(r"INFO: BGP open 10\.0\.0\.254 \d+", 30)
        deadline = time.monotonic() + 20
        while fr.get_json(f"/bgp/topprefixes/{ROUTER}/json")["nPrefixes"] != 3:
            assert time.monotonic() < deadline
            time.sleep(0.2)

        rest = f"http://localhost:{fr.http_port}"
        results = {"dnspair": [], "ddos": [], "elephant": []}
        stop_at = time.time() + 40
        runs = [
            (dnspair, (rest, results["dnspair"], stop_at, "dns:ipsource,dns:ipdestination")),
            (ddos, (rest, results["ddos"], stop_at)),
            (elephant, (rest, results["elephant"], stop_at)),
        ]
        clients = [
            threading.Thread(target=s.lab.in_flowrt, args=(fn, *args), daemon=True)
            for fn, args in runs
        ]
        for c in clients:
            c.start()
        deadline = time.monotonic() + 20
        while not (
            len(fr.get_json("/flow/json")) == 3 and len(fr.get_json("/threshold/json")) == 2
        ):
            assert time.monotonic() < deadline, "the clients did not define their flows"
            time.sleep(0.1)
        traffic = s.started(
            Traffic(Switch(s.started(Sender(s.lab.hosts_ns, SWITCH, FLOWRT_SFLOW)), SWITCH))
        )
        traffic.start()
        for c in clients:
            c.join(50)

        # ddos.py: mask bits and source AS from the router's route 198.51.100.0/24 (65254 64500)
        assert [e["flowKey"] for e in results["ddos"]] == ["198.51.100.0/24,64500"], results["ddos"]
        e = results["ddos"][0]
        assert e["agent"] == SWITCH and e["thresholdID"] == "ddos" and e["value"] > 100000
        # elephant.py: destination AS path as the router advertises it
        assert [e["flowKey"] for e in results["elephant"]] == [
            "10.0.0.40,203.0.113.9,60789,25,65254-64501-64502"
        ], results["elephant"]
        assert results["elephant"][0]["value"] > 1000000000 / 8
        # dnspair.py: both ends named by the lab's DNS server
        recs = results["dnspair"]
        assert recs, "no dnspair flow records within the deadline\n" + fr.tail()
        expected = {
            f"{PTR[a]},{PTR[b]}"
            for a, b in [
                ("198.51.100.7", "10.0.0.5"),
                ("10.0.0.40", "203.0.113.9"),
                ("10.0.0.70", "10.0.0.40"),
            ]
        }
        assert {r["flowKeys"] for r in recs} <= expected, recs
        assert all(r["name"] == "dnspair" and r["agent"] == SWITCH and r["value"] > 0 for r in recs)
        assert not [l for l in fr.log_lines() if "SEVERE" in l], fr.tail()
