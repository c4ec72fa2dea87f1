"""The bgp* JavaScript globals in real V8: a test script drives them against a raw BGP peer, and
the user's seed bgp.js runs unmodified against BIRD 2, inside a network namespace this test
creates so the blog's lab addresses (router 10.0.0.254, sFlow-RT 10.0.0.162) exist."""

from __future__ import annotations

import json
import os
import selectors
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
import uuid

import pytest

from bgp_support import BIRD, Bird, sflow_datagram, wait_until
from conftest import REPO, RunningEngine
from engine.bgp import message as m
from bgp_peer import RawPeer, attrs_bytes, pack_updates
from paths import SEED_SCRIPTS

SEED_BGP_JS = SEED_SCRIPTS / "bgp.js"

SCRIPT = r"""
var events = [];
bgpAddNeighbor('127.0.0.1', 65162, '10.0.0.162', {ipv6: true, flowspec: true},
  function(peer) { events.push('open ' + peer); },
  function(peer) { events.push('close ' + peer); });
bgpAddSource('10.0.0.253', '127.0.0.1', 60, 'bytes');
setHttpHandler(function(req) {
  var q = req.query, op = q.op ? q.op[0] : 'state';
  switch (op) {
  case 'state': return {events: events, routes: bgpRouteCount('127.0.0.1'),
                        flows: bgpFlowCount('127.0.0.1')};
  case 'top': return bgpTopPrefixes('127.0.0.1', 2, 0, 'egress', false, 0, false);
  case 'top6': return bgpTopPrefixes6('127.0.0.1', 10);
  case 'add': return bgpAddRoute('127.0.0.1', {prefix: '100.64.0.0/24', nexthop: '192.0.2.1',
                                               aspath: '64500', communities: '65000:1'});
  case 'remove': return bgpRemoveRoute('127.0.0.1', '100.64.0.0/24');
  case 'flow': return bgpAddFlow('127.0.0.1', {match: {destination: '192.0.2.1/32',
                                  protocol: '=17', 'source-port': '=53'},
                                  then: {'traffic-rate': '0'}});
  case 'unknown': try { bgpTopPrefixes('10.9.9.9', 5); return 'no error'; }
                  catch (e) { return 'error: ' + e.message; }
  case 'badroute': try { bgpAddRoute('127.0.0.1', {prefix: '100.64.1.0/24'}); return 'no error'; }
                   catch (e) { return 'error: ' + e.message; }
  }
  throw 'not_found';
});
"""


def next_update(peer) -> m.Update:
    """The next UPDATE that is not an End-of-RIB marker."""
    while True:
        u = m.decode_update(peer.recv_until(m.UPDATE), True)
        if u.eor is None:
            return u


def js(eng, op):
    with urllib.request.urlopen(f"{eng.http_url}/script/bgptest.js/json?op={op}", timeout=20) as r:
        body = r.read().decode()
    try:
        return json.loads(body)
    except ValueError:
        return body  # a string result comes back as text


@pytest.fixture
def scripted(tmp_path):
    (tmp_path / "bgptest.js").write_text(SCRIPT)
    eng = RunningEngine(
        {"bgp.start": "yes", "bgp.port": "0", "script.file": "bgptest.js"}, home=tmp_path
    ).start()
    try:
        eng.wait_for(
            lambda: all(s.started for s in eng.engine.subsystems["runtime"].scripts.values()), 30
        )
        yield eng
    finally:
        eng.stop()


def test_bgp_globals_from_javascript(scripted):
    eng = scripted
    bgp = eng.engine.subsystems["bgp"]
    assert "127.0.0.1" in bgp.neighbors and bgp.sources["10.0.0.253"][0].t == 60
    peer = RawPeer(
        "127.0.0.1", bgp.listen_port, 65254, "10.0.0.254", families={(1, 1), (2, 1), (1, 133)}
    )
    peer.handshake()
    try:
        for msg in pack_updates(
            [(socket.inet_aton("192.0.2.0"), 24)], attrs_bytes(aspath=(65254, 3356))
        ):
            peer.send(msg)
        for msg in pack_updates(
            [(socket.inet_aton("198.51.100.0"), 24)], attrs_bytes(aspath=(65254, 174))
        ):
            peer.send(msg)
        eng.wait_for(lambda: len(bgp.neighbors["127.0.0.1"].rib4) == 2)
        eng.wait_for(lambda: js(eng, "state")["events"] == ["open 127.0.0.1"], 10)
        eng.send(
            sflow_datagram(
                "10.0.0.253", [("10.1.1.1", "198.51.100.1")] * 3 + [("10.1.1.1", "192.0.2.1")]
            )
        )
        top = eng.wait_for(lambda: (lambda t: t["topPrefixes"] and t)(js(eng, "top")))
        assert [e["prefix"] for e in top["topPrefixes"]] == ["198.51.100.0/24", "192.0.2.0/24"]
        assert top["direction"] == "destination" and top["valuePercentCoverage"] == pytest.approx(
            100
        )
        assert js(eng, "top6")["nPrefixes"] == 0
        assert js(eng, "add") is True
        u = next_update(peer)
        assert u.nlri4 == [(socket.inet_aton("100.64.0.0"), 24)]
        assert u.attrs.aspath == (65162, 64500) and u.attrs.communities == (65000 << 16 | 1,)
        assert js(eng, "state")["routes"] == 1
        assert js(eng, "flow") is True
        assert next_update(peer).other_families == [(1, 133)]
        assert js(eng, "state")["flows"] == 1
        assert js(eng, "remove") is True
        w = next_update(peer)
        assert w.withdrawn4 == [(socket.inet_aton("100.64.0.0"), 24)]
        assert js(eng, "unknown").startswith("error: no BGP neighbor")
        assert "nexthop" in js(eng, "badroute")
    finally:
        peer.close()
    eng.wait_for(lambda: js(eng, "state")["events"] == ["open 127.0.0.1", "close 127.0.0.1"], 10)


# -- the seed's bgp.js, unmodified, against BIRD in the blog's addressing -----------------------
def _netns_ok() -> bool:
    return shutil.which("ip") is not None and os.geteuid() == 0 and BIRD is not None


@pytest.fixture
def labns():
    name = f"flowrt-bgp-{uuid.uuid4().hex[:8]}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True)
        for addr in ("10.0.0.162/32", "10.0.0.254/32"):
            subprocess.run(["ip", "-n", name, "addr", "add", addr, "dev", "lo"], check=True)
        yield name
    finally:
        subprocess.run(["ip", "netns", "delete", name], check=False)


def in_ns(ns, code: str, *args: str) -> str:
    return subprocess.run(
        ["ip", "netns", "exec", ns, str(REPO / ".venv/bin/python"), "-c", code, *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout


GET = (
    "import sys, urllib.request\n"
    "print(urllib.request.urlopen('http://127.0.0.1:8008' + sys.argv[1], timeout=20).read().decode())"
)
SEND = (
    "import sys, socket\n"
    "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
    "for h in sys.argv[1:]: s.sendto(bytes.fromhex(h), ('127.0.0.1', 6343))"
)

BIRD_LAB = """
router id 10.0.0.254;
protocol device { }
protocol static st4 {
  ipv4;
  route 192.0.2.0/24 blackhole { bgp_path.prepend(3356); };
  route 198.51.100.0/24 blackhole { bgp_path.prepend(15169); bgp_community.add((65254,100)); };
  route 203.0.113.0/24 blackhole { bgp_path.prepend(2914); };
}
protocol bgp sflowrt {
  local 10.0.0.254 as 65254;
  neighbor 10.0.0.162 port 1179 as 65162;
  multihop;
  connect delay time 1;
  connect retry time 1;
  ipv4 { import none; export all; next hop self; };
}
"""


@pytest.mark.skipif(not _netns_ok(), reason="needs root, iproute2 and BIRD 2")
def test_seed_bgp_js_unmodified_with_bird(labns, tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    shutil.copyfile(SEED_BGP_JS, home / "bgp.js")
    assert (home / "bgp.js").read_bytes() == SEED_BGP_JS.read_bytes()
    env = dict(os.environ, FLOWRT_HOME=str(home))
    env.pop("RTPROP", None)
    proc = subprocess.Popen(
        [
            "ip",
            "netns",
            "exec",
            labns,
            str(REPO / ".venv/bin/python"),
            "-m",
            "engine.main",
            "-Dscript.file=bgp.js",
            "-Dbgp.start=yes",
        ],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)

    def read_until(want: set, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            seen = {l.split(": ", 1)[-1].strip() for l in lines}
            if all(any(s.startswith(w) for s in seen) for w in want):
                return
            if sel.select(timeout=0.5):
                line = proc.stdout.readline()
                if not line:
                    break
                lines.append(line)
        raise AssertionError(f"missing {want} in log: {''.join(lines)}")

    bird = None
    try:
        read_until({"Listening, BGP port 1179", "bgp.js started", "Listening, HTTP port 8008"})
        bird_dir = tmp_path / "bird"
        bird = Bird(bird_dir, BIRD_LAB)
        bird.proc = subprocess.Popen(
            [
                "ip",
                "netns",
                "exec",
                labns,
                BIRD,
                "-f",
                "-c",
                str(bird.conf),
                "-s",
                str(bird.sock),
                "-P",
                str(bird.pidfile),
            ],
            stdout=open(bird.logfile, "ab"),
            stderr=subprocess.STDOUT,
        )
        read_until({"BGP open 10.0.0.254"}, 30)

        def top(query=""):
            return json.loads(in_ns(labns, GET, f"/bgp/topprefixes/10.0.0.254/json{query}"))

        wait_until(lambda: top()["nPrefixes"] == 3, 20)
        # sFlow from the switch 10.0.0.253: 5 : 3 : 1 samples to the three routes + 1 unrouted
        flows = (
            [("172.16.0.1", "198.51.100.9")] * 5
            + [("172.16.0.1", "192.0.2.9")] * 3
            + [("172.16.0.1", "203.0.113.9")]
            + [("172.16.0.1", "100.64.0.1")]
        )
        in_ns(
            labns,
            SEND,
            sflow_datagram("10.0.0.253", flows).hex(),
            sflow_datagram("10.0.0.99", flows, seq=2).hex(),
        )
        result = wait_until(
            lambda: (lambda t: len(t["topPrefixes"]) == 2 and t)(top("?maxPrefixes=2")), 20
        )
        assert result["state"] == "established" and result["as"] == 65254
        assert result["id"] == "10.0.0.254" and result["direction"] == "destination"
        assert [e["prefix"] for e in result["topPrefixes"]] == ["198.51.100.0/24", "192.0.2.0/24"]
        best = result["topPrefixes"][0]
        assert best["aspath"] == "65254-15169" and best["nexthop"] == "10.0.0.254"
        assert best["value"] == pytest.approx(
            5 * 1000 * 100 / 60, rel=0.05
        )  # 60 s average of bytes
        assert result["valuePercentCoverage"] == pytest.approx(80.0, rel=0.01)
        assert result["valueTotal"] == pytest.approx(10 * 1000 * 100 / 60, rel=0.05)
    finally:
        if bird is not None:
            bird.stop()
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
