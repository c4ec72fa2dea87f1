"""Blog scenario: emerging.js downloads the Emerging Threats block lists and, when a local host
talks to a listed address, PUTs an ERSPAN capture ACL to the switch that saw the traffic.

The lab: rules.emergingthreats.net (10.0.0.80, flowrt's /etc/hosts) serves the two lists over
HTTPS with a certificate from the test CA, which flowrt trusts through SSL_CERT_FILE. Two
switches (sFlow agents 10.0.0.21 and 10.0.0.22) run the ACL REST API on :8080. flowrt runs
emerging.js unmodified.
"""

from __future__ import annotations

import threading
import time

import pytest

from lab import netns
from lab.agents import Sender, Switch
from lab.scenario import LabScenario
from lab.servers import BlockLists, SwitchACL
from lab.swarm import FLOWRT_SFLOW

pytestmark = pytest.mark.skipif(netns.available() is not None, reason=str(netns.available()))

RULES_HOST, RULES_IP = "rules.emergingthreats.net", "10.0.0.80"
LEAF1, LEAF2 = "10.0.0.21", "10.0.0.22"
COMPROMISED = ["203.0.113.66", "198.51.100.23", "203.0.113.7"]
BLOCK = ["192.0.2.0/24", "100.64.12.0/22", "198.18.5.9"]

# (switch, local host, remote address): a compromised host, a blocked net, and clean traffic
TO_COMPROMISED = (LEAF1, "10.0.0.31", "203.0.113.66")
TO_BLOCKED_NET = (LEAF2, "10.0.0.32", "192.0.2.45")
CLEAN = (LEAF1, "10.0.0.33", "198.51.100.200")


def acl(local, remote, agent):
    return [
        "[iptables]",
        "# emerging threat capture",
        f"-A FORWARD --in-interface swp+ -s {local} -d {remote} -j ERSPAN --src-ip {agent} --dst-ip 10.0.0.70",
        f"-A FORWARD --in-interface swp+ -s {remote} -d {local} -j ERSPAN --src-ip {agent} --dst-ip 10.0.0.70",
    ]


class Traffic(threading.Thread):
    """Each active flow: 4 samples every 0.25 s from its switch (both directions)."""

    def __init__(self, switches):
        super().__init__(daemon=True)
        self.switches = switches
        self.flows: list[tuple] = []
        self.started: dict[tuple, float] = {}
        self.halt = threading.Event()

    def add(self, flow):
        self.started[flow] = time.time()
        self.flows.append(flow)

    def run(self):
        while not self.halt.is_set():
            for flow in list(self.flows):
                agent, local, remote = flow
                self.switches[agent].send_flows(
                    [
                        dict(src=local, dst=remote, dport=443, size=600, samples=2),
                        dict(src=remote, dst=local, sport=443, dport=40000, size=1400, samples=2),
                    ],
                    dt_ms=250,
                )
            self.halt.wait(0.25)

    def stop(self):
        self.halt.set()
        self.join(5)


def test_emerging_threat_traffic_triggers_capture_acl(tmp_path):
    with LabScenario(tmp_path, [RULES_IP, LEAF1, LEAF2]) as s:
        lists = BlockLists(
            s.lab.hosts_ns, RULES_IP, s.pki.server_context(RULES_HOST), COMPROMISED, BLOCK
        )
        s.started(lists.start())
        acls = {a: s.started(SwitchACL(s.lab.hosts_ns, a, 8080).start()) for a in (LEAF1, LEAF2)}
        switches = {
            a: Switch(s.started(Sender(s.lab.hosts_ns, a, FLOWRT_SFLOW)), a) for a in (LEAF1, LEAF2)
        }

        fr = s.start_flowrt(["emerging.js"], hosts={RULES_HOST: RULES_IP}, ca_bundle=s.pki.ca_file)
        assert sorted(r[2] for r in lists.requests) == [
            "/blockrules/compromised-ips.txt",
            "/fwrules/emerging-Block-IPs.txt",
        ]
        assert not lists.tls_failures
        group = fr.get_json("/group/emerging/json")
        assert group == {"compromised": COMPROMISED, "block": BLOCK}, group

        traffic = s.started(Traffic(switches))
        traffic.start()
        traffic.add(CLEAN)
        traffic.add(TO_COMPROMISED)
        deadline = time.monotonic() + 10
        while not acls[LEAF1].puts and time.monotonic() < deadline:
            time.sleep(0.05)
        assert acls[LEAF1].puts, "no ACL PUT to the switch within 10 s\n" + fr.tail()
        when, rule_id, rules = acls[LEAF1].puts[0]
        assert when - traffic.started[TO_COMPROMISED] < 5, "capture within seconds"
        assert (rule_id, rules) == ("emrg0", acl("10.0.0.31", "203.0.113.66", LEAF1))
        fr.wait_log(r"WARNING: capturing 10\.0\.0\.31 rule emrg0 on 10\.0\.0\.21", 5)

        traffic.add(TO_BLOCKED_NET)  # inside a CIDR of the block list, seen by leaf 2
        deadline = time.monotonic() + 10
        while not acls[LEAF2].puts and time.monotonic() < deadline:
            time.sleep(0.05)
        assert [(i, r) for _, i, r in acls[LEAF2].puts] == [
            ("emrg1", acl("10.0.0.32", "192.0.2.45", LEAF2))
        ]
        fr.wait_log(r"WARNING: capturing 10\.0\.0\.32 rule emrg1 on 10\.0\.0\.22", 5)

        time.sleep(2.0)  # the flows go on: flowStart fires once per flow, clean traffic never
        assert len(acls[LEAF1].puts) == 1 and len(acls[LEAF2].puts) == 1
        captured = [l for l in fr.log_lines() if "capturing" in l]
        assert len(captured) == 2, captured
        flows = fr.get_json("/activeflows/ALL/emerging/json")
        keys = {f["key"] for f in flows}
        assert (
            "10.0.0.31,203.0.113.66,compromised" in keys and "10.0.0.32,192.0.2.45,block" in keys
        ), flows
        assert not any(CLEAN[1] in k for k in keys), "clean traffic has no emerging group"


def test_emerging_refuses_a_block_list_server_it_does_not_trust(tmp_path):
    # the same lab without SSL_CERT_FILE: the test CA is unknown, so the download must fail
    # certificate verification, be logged by the script, and leave the group empty
    with LabScenario(tmp_path, [RULES_IP]) as s:
        lists = BlockLists(
            s.lab.hosts_ns, RULES_IP, s.pki.server_context(RULES_HOST), COMPROMISED, BLOCK
        )
        s.started(lists.start())
        fr = s.start_flowrt(["emerging.js"], hosts={RULES_HOST: RULES_IP})
        warnings = fr.wait_log(
            r"WARNING: failed to load https://rules\.emergingthreats\.net/", 10, count=2
        )
        assert all(
            "CERTIFICATE_VERIFY_FAILED" in w or "certificate verify failed" in w for w in warnings
        ), warnings
        assert lists.wait_tls_failures() and not lists.requests
        assert fr.get_json("/group/emerging/json") == {}
