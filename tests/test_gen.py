"""The synthetic sFlow generator: decodable datagrams, exact counts and rates, CLI and replay."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
from collections import defaultdict

import pytest

from engine.sflow import decode_datagram
from engine.sflow.gen import MAX_DATAGRAM, Scenario, TrafficGenerator, main, replay_pcap
from engine.sflow.pcap import read_pcap

from conftest import REPO, SFLOW_TESTDATA


def _decode_all(datagrams):
    return [decode_datagram(d) for d in datagrams]


def _flow_samples(dgs):
    return [s for dg in dgs for s in dg.samples if s.kind == "flow"]


def test_datagrams_decode_with_promised_sample_counts():
    sc = Scenario(agents=3, flows=20, samples_per_second=200, sampling_rate=100, seed=3)
    gen = TrafficGenerator(sc)
    raw = [d for _, dgs in gen.run(10, dt=0.5) for d in dgs]
    dgs = _decode_all(raw)
    assert max(len(d) for d in raw) <= MAX_DATAGRAM
    by_agent = defaultdict(int)
    for s in _flow_samples(dgs):
        by_agent[s.agent] += 1
    assert sorted(by_agent) == ["192.0.2.1", "192.0.2.2", "192.0.2.3"]
    for agent, n in by_agent.items():
        # deterministic sampling: each flow is within half a sample of its expectation
        assert abs(n - 200 * 10) <= sc.flows / 2, (agent, n)
    assert sum(by_agent.values()) == gen.flow_samples()
    # datagram sequence numbers count up by one per agent, uptime in ms
    seqs = defaultdict(list)
    for dg in dgs:
        seqs[dg.agent].append(dg.seq)
        assert 0 < dg.uptime <= 10_000
    for s in seqs.values():
        assert s == list(range(1, len(s) + 1))


def test_flow_estimates_converge_to_true_rates():
    sc = Scenario(
        agents=1,
        flows=10,
        zipf=1.2,
        samples_per_second=500,
        sampling_rate=50,
        seed=5,
        ipv6_fraction=0.3,
    )
    gen = TrafficGenerator(sc)
    seconds = 20
    samples = _flow_samples(_decode_all(d for _, dgs in gen.run(seconds) for d in dgs))
    est_bytes = defaultdict(float)
    est_frames = defaultdict(float)
    for s in samples:
        a = s.attributes()
        key = a.get("ipsource") or a.get("ip6source")
        est_bytes[key] += s.sampling_rate * a["bytes"] / seconds
        est_frames[key] += s.sampling_rate / seconds
    flows = gen.flows
    # heavy hitter: flow 0 carries the most traffic, weights fall off as 1/(i+1)^1.2
    assert flows[0].frames_per_second > flows[1].frames_per_second > flows[-1].frames_per_second
    assert sum(f.frames_per_second for f in flows) == pytest.approx(500 * 50)
    for f in flows:
        expected_samples = f.frames_per_second * seconds / sc.sampling_rate
        # exact up to one sample of rounding
        tolerance = sc.sampling_rate / seconds
        assert abs(est_frames[f.src] - f.frames_per_second) <= tolerance + 1e-9, f.index
        assert abs(est_bytes[f.src] - f.bytes_per_second) <= tolerance * f.frame_size + 1e-6
        assert expected_samples > 0


def test_sampled_headers_carry_the_flow_keys():
    gen = TrafficGenerator(
        Scenario(
            flows=12,
            samples_per_second=400,
            ipv6_fraction=0.3,
            vxlan_fraction=0.3,
            tagged=True,
            vlans=(10, 20),
            seed=7,
        )
    )
    seen = {}
    for s in _flow_samples(_decode_all(gen.step(1.0))):
        a = s.attributes()
        seen[
            (
                a.get("ipsource") or a.get("ip6source"),
                a.get("ipsource.1") or a.get("ip6source.1"),
                a.get("udpsourceport") or a.get("tcpsourceport"),
            )
        ] = a
    assert any(f.vxlan for f in gen.flows) and any(":" in f.src for f in gen.flows)
    matched = 0
    for f in gen.flows:
        keys = f.keys()
        for a in seen.values():
            if all(a.get(k) == v for k, v in keys.items()):
                matched += 1
                assert a["vlan"] in (10, 20) and a["bytes"] == f.frame_size
                assert a["inputifindex"] == f.in_port and a["outputifindex"] == f.out_port
                if f.vxlan:
                    assert a["stack"].startswith("eth.ip.udp.vxlan.eth.")
                    assert a["vxlanvni"] == 1000 + f.vlan
                break
    assert matched == len(gen.flows)


def test_interface_counters_count_the_true_traffic():
    sc = Scenario(
        agents=1,
        ports=3,
        flows=15,
        samples_per_second=300,
        sampling_rate=10,
        polling_interval=5,
        seed=11,
    )
    gen = TrafficGenerator(sc)
    polls = defaultdict(list)  # ifIndex -> [(uptime, record)]
    pools = defaultdict(list)
    for _, dgs in gen.run(20, dt=1.0):
        for dg in _decode_all(dgs):
            for s in dg.samples:
                if s.kind == "counter":
                    (generic,) = [r for r in s.records() if r["counterBlock_tag"] == "0:1"]
                    polls[generic["ifIndex"]].append((dg.uptime, generic))
                else:
                    pools[s.ds_index].append((s.seq, s.sample_pool, s.sampling_rate))
    rates = gen.true_rates()["192.0.2.1"]["ports"]
    assert sorted(polls) == [1, 2, 3]
    for ifindex, seq in polls.items():
        assert len(seq) == 4  # t = 1, 6, 11, 16
        (t0, first), (t1, last) = seq[0], seq[-1]
        dt = (t1 - t0) / 1000
        assert dt == 15
        for name, true in (
            ("ifInOctets", "in_bytes"),
            ("ifInUcastPkts", "in_frames"),
            ("ifOutOctets", "out_bytes"),
            ("ifOutUcastPkts", "out_frames"),
        ):
            assert (last[name] - first[name]) / dt == pytest.approx(
                rates[ifindex][true], abs=1 / dt
            )
        assert first["ifSpeed"] == sc.port_speed and first["ifStatus"] == 3
    for seq in pools.values():
        # per data source: sample sequence numbers count up; the pool grows by ~rate per sample
        assert [q for q, _, _ in seq] == list(range(1, len(seq) + 1))
        (_, p0, rate), (_, p1, _) = seq[0], seq[-1]
        assert (p1 - p0) / (len(seq) - 1) == pytest.approx(rate, rel=0.1)


def test_host_and_container_counters():
    sc = Scenario(
        agents=2,
        hosts=True,
        containers=4,
        container_cpu=0.2,
        container_bytes_in=1000.0,
        container_bytes_out=3000.0,
        polling_interval=2,
        samples_per_second=10,
        seed=4,
    )
    gen = TrafficGenerator(sc)
    hosts, containers = {}, defaultdict(list)
    for now, dgs in gen.run(8, dt=1.0):
        for dg in _decode_all(dgs):
            for s in dg.samples:
                if s.kind != "counter" or s.ds_class == 0:
                    continue
                recs = {r["counterBlock_tag"]: r for r in s.records()}
                if s.ds_class == 2:
                    assert set(recs) == {
                        "0:2000",
                        "0:2001",
                        "0:2003",
                        "0:2004",
                        "0:2005",
                        "0:2006",
                        "0:2100",
                    }
                    hosts[recs["0:2000"]["hostname"]] = recs
                else:
                    assert s.ds_class == 3
                    assert recs["0:2002"] == {
                        "counterBlock_tag": "0:2002",
                        "parent_dsClass": 2,
                        "parent_dsIndex": 1,
                    }
                    containers[(dg.agent, recs["0:2000"]["hostname"])].append((now, recs))
    assert sorted(hosts) == ["vx0host", "vx1host"]
    assert hosts["vx0host"]["0:2100"]["vnode_num_domains"] == 4
    assert hosts["vx0host"]["0:2003"]["cpu_num"] == sc.host_cpus
    assert len(containers) == 8
    for (_agent, name), seq in containers.items():
        assert re.fullmatch(r"(apache|nginx|redis)\.\d+\.[a-z0-9]{3}", name), name
        (t0, a), (t1, b) = seq[0], seq[-1]
        assert t1 - t0 == 6
        assert b["0:2101"]["vcpu_state"] == 1
        assert (b["0:2101"]["vcpu_cpu_mS"] - a["0:2101"]["vcpu_cpu_mS"]) / 6 == pytest.approx(
            200, abs=1
        )
        assert (b["0:2104"]["vnio_bytes_in"] - a["0:2104"]["vnio_bytes_in"]) / 6 == pytest.approx(
            1000, abs=1
        )
        assert (b["0:2104"]["vnio_bytes_out"] - a["0:2104"]["vnio_bytes_out"]) / 6 == pytest.approx(
            3000, abs=1
        )
    names = {n for _, n in containers}
    assert gen.true_rates()["192.0.2.1"]["containers"].keys() <= names


def test_expanded_samples_option():
    gen = TrafficGenerator(Scenario(expanded=True, samples_per_second=50, polling_interval=1))
    tags = {s.tag for dg in _decode_all(gen.step(1.0)) for s in dg.samples}
    assert tags == {"0:3", "0:4"}


def _udp_listener():
    from engine.collector import set_receive_buffer

    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    set_receive_buffer(sock, 16 << 20)  # holds a whole replay: we read only after sending
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(5)
    return sock


def _receive(sock, n):
    out = []
    while len(out) < n:
        out.append(sock.recv(65535))
    return out


def test_cli_sends_synthetic_sflow():
    sock = _udp_listener()
    port = sock.getsockname()[1]
    try:
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "engine.sflow.gen",
                "--port",
                str(port),
                "--agents",
                "2",
                "--rate",
                "400",
                "--count",
                "20",
                "--duration",
                "10",
                "--hosts",
                "--containers",
                "2",
            ],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert proc.returncode == 0, proc.stderr
        assert "sent 20 datagrams" in proc.stderr
        dgs = _decode_all(_receive(sock, 20))
    finally:
        sock.close()
    assert {dg.agent for dg in dgs} == {"192.0.2.1", "192.0.2.2"}
    kinds = {s.kind for dg in dgs for s in dg.samples}
    assert kinds == {"flow", "counter"}


def test_replay_pcap_sends_every_datagram_unchanged():
    path = SFLOW_TESTDATA / "overflowd" / "sflow.pcap"
    expected = [p.payload for p in read_pcap(path)]
    sock = _udp_listener()
    try:
        n = replay_pcap(str(path), "127.0.0.1", sock.getsockname()[1], speed=0, rate=5000)
        got = _receive(sock, n)
    finally:
        sock.close()
    assert n == 1000
    assert got == expected


def test_replay_keeps_the_captured_pace():
    """--speed 100 replays the 144 s overflowd capture in about 1.4 s: the last datagram
    cannot go out before its scaled capture time."""
    import time

    path = SFLOW_TESTDATA / "overflowd" / "sflow.pcap"
    pkts = list(read_pcap(path))
    span = pkts[-1].time - pkts[0].time
    sock = _udp_listener()
    try:
        start = time.monotonic()
        main(["--pcap", str(path), "--speed", "100", "--port", str(sock.getsockname()[1])])
        elapsed = time.monotonic() - start
        assert len(_receive(sock, len(pkts))) == len(pkts)
    finally:
        sock.close()
    assert elapsed >= span / 100 * 0.95


def test_discard_samples():
    gen = TrafficGenerator(
        Scenario(agents=1, samples_per_second=10, discards_per_second=30, seed=8)
    )
    discards = [
        s
        for _, dgs in gen.run(4)
        for dg in _decode_all(dgs)
        for s in dg.samples
        if s.kind == "discard"
    ]
    assert len(discards) == 120 == gen.agents[0].discards
    assert [s.seq for s in discards] == list(range(1, 121))
    assert {s.reason for s in discards} <= {258, 259, 269} and len(
        {s.reason for s in discards}
    ) == 3
    for s in discards:
        tags = [r["flowBlock_tag"] for r in s.records()]
        assert tags == ["0:1", "0:1036"]
        assert s.attributes()["inputifindex"] == s.input


def test_exact_flow_added_and_removed():
    """An attack-like flow with exact properties starts and stops mid-run."""
    gen = TrafficGenerator(Scenario(agents=2, samples_per_second=50, sampling_rate=100, seed=6))
    gen.step(1.0)
    attack = gen.add_flow(
        1,
        src="203.0.113.9",
        dst="10.2.0.5",
        proto="udp",
        sport=53,
        dport=4444,
        frame_size=1400,
        frames_per_second=20000,
        in_port=2,
        out_port=3,
    )
    during = [
        s
        for dg in _decode_all(d for _, dgs in gen.run(5) for d in dgs)
        for s in dg.samples
        if s.kind == "flow" and s.agent == "192.0.2.2"
    ]
    hits = [s for s in during if s.attributes().get("ipsource") == "203.0.113.9"]
    assert len(hits) == attack.samples == 20000 * 5 // 100
    a = hits[0].attributes()
    assert (a["ipdestination"], a["udpsourceport"], a["udpdestinationport"], a["bytes"]) == (
        "10.2.0.5",
        53,
        4444,
        1400,
    )
    assert (hits[0].input, hits[0].output) == (2, 3)
    total = gen.flow_samples()
    gen.remove_flow(attack)
    after = [
        s
        for dg in _decode_all(gen.step(2.0))
        for s in dg.samples
        if s.kind == "flow" and s.attributes().get("ipsource") == "203.0.113.9"
    ]
    assert after == []
    assert gen.flow_samples() >= total
    with pytest.raises(ValueError):
        gen.add_flow(0, src="10.0.0.1", dst="10.0.0.2", in_port=99)


def test_cli_flow_spec():
    from engine.sflow.gen import add_flow_spec

    gen = TrafficGenerator(Scenario(agents=2))
    f = add_flow_spec(
        gen,
        "agent=1,src=2001:db8::9,dst=2001:db8::1,proto=tcp,dport=443,"
        "size=900,pps=5000,in=1,out=4,vlan=7",
    )
    assert (f.agent, f.proto, f.dport, f.frame_size, f.frames_per_second, f.out_port, f.vlan) == (
        "192.0.2.2",
        6,
        443,
        900,
        5000.0,
        4,
        7,
    )
    with pytest.raises(ValueError):
        add_flow_spec(gen, "src=1.2.3.4,bogus=1,dst=1.2.3.5")


def test_cli_sends_to_ipv6_collector():
    sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    try:
        sock.bind(("::1", 0))
    except OSError:
        sock.close()
        pytest.skip("no IPv6 loopback")
    sock.settimeout(5)
    try:
        assert (
            main(
                [
                    "--host",
                    "::1",
                    "--port",
                    str(sock.getsockname()[1]),
                    "--rate",
                    "200",
                    "--count",
                    "3",
                    "--duration",
                    "10",
                ]
            )
            == 0
        )
        dgs = _decode_all(_receive(sock, 3))
    finally:
        sock.close()
    assert all(dg.agent == "192.0.2.1" for dg in dgs)
