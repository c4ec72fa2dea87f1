"""Real UDP into a running engine: pcap replay counts, bad input counted and survived,
receive-buffer warning, kernel drop counter."""

from __future__ import annotations

import logging
import socket
import subprocess
import sys

from engine import collector, log
from engine.sflow import encode as enc
from engine.sflow.gen import Scenario, TrafficGenerator
from engine.sflow.pcap import read_pcap

from conftest import REPO, SFLOW_TESTDATA

OVERFLOWD = SFLOW_TESTDATA / "overflowd" / "sflow.pcap"


def test_pcap_replay_shows_agent_counts(make_engine):
    """flowrt-gen replays the overflowd capture over loopback; /agents/json must count every
    sample of its 1000 datagrams."""
    # a roomy socket buffer (root may exceed rmem_max) so a busy CI machine loses nothing
    running_engine = make_engine({"sflow.rcvpktsbuffer": 16_000_000})
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "engine.sflow.gen",
            "--pcap",
            str(OVERFLOWD),
            "--speed",
            "0",
            "--rate",
            "2000",
            "--port",
            str(running_engine.sflow_port),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert "sent 1000 datagrams" in proc.stderr
    running_engine.wait_datagrams(1000, timeout=30)
    agents = running_engine.get_json("/agents/json")
    agent = agents["192.168.1.1"]
    assert agent["sFlowDatagramsReceived"] == 1000
    assert agent["sFlowFlowSamples"] == 5855
    assert agent["sFlowCounterSamples"] == 502
    assert agent["sFlowDatagramSource"] == ["127.0.0.1"]
    assert agent["sFlowDecodeErrors"] == 0
    analyzer = running_engine.get_json("/analyzer/json")
    assert analyzer["sFlowDatagramsReceived"] == 1000
    assert analyzer["sFlowFlowSamples"] == 5855
    assert analyzer["sFlowCounterSamples"] == 502
    assert analyzer["sFlowBytesReceived"] == sum(len(p.payload) for p in read_pcap(OVERFLOWD))


def test_generator_traffic_counted_per_agent(running_engine):
    gen = TrafficGenerator(
        Scenario(agents=3, samples_per_second=100, discards_per_second=5, seed=9)
    )
    dgs = [d for _, step in gen.run(3) for d in step]
    running_engine.send_paced(dgs)
    running_engine.wait_datagrams(len(dgs))
    agents = running_engine.get_json("/agents/json")
    assert sorted(agents) == ["192.0.2.1", "192.0.2.2", "192.0.2.3"]
    assert sum(a["sFlowFlowSamples"] for a in agents.values()) == gen.flow_samples()
    for a in agents.values():
        assert a["sFlowDatagramsLost"] == 0 and a["sFlowFlowLostSamples"] == 0
        assert a["sFlowCounterSamples"] == 4  # one poll of 4 ports
        assert a["sFlowCounterDatasources"] == 4
        assert a["sFlowNotificationSamples"] == 15  # 5 discards/s for 3 s
    assert running_engine.get_json("/analyzer/json")["sFlowDiscardSamples"] == 45


def _malformed() -> list[bytes]:
    """NetFlow v5 sent to 6343, the CVE-2018-10105 packet, truncated and corrupted sFlow."""
    bad = []
    multi = SFLOW_TESTDATA / "tcpdump" / "sflow_multiple_counter_30_pdus.pcap"
    bad += [p.payload for p in read_pcap(multi) if p.payload[:4] != b"\0\0\0\x05"]
    assert len(bad) == 5  # the NetFlow packets
    bad += [p.payload for p in read_pcap(SFLOW_TESTDATA / "tcpdump" / "sflow_print-segv.pcap")]
    good = next(iter(read_pcap(OVERFLOWD))).payload
    bad += [good[:n] for n in (0, 3, 27, 40, 100, len(good) - 1)]
    bad.append(b"\0\0\0\x05\0\0\0\x07" + good[8:])  # unknown agent address type
    bad.append(good[:24] + b"\xff\xff\xff\xff" + good[28:])  # implausible sample count
    return bad


def _record_level_damage() -> bytes:
    """A well-framed datagram whose sampled-header record claims more bytes than it holds:
    only a consumer that decodes the record notices."""
    hdr = enc.u32(1) + enc.u32(1518) + enc.u32(4) + enc.u32(4000) + b"\0" * 64
    rec = enc._TL.pack(1, len(hdr)) + hdr
    return enc.datagram("192.0.2.99", 1, 1, [enc.flow_sample(1, 0, 1, 100, 100, 0, 1, 2, [rec])])


def test_malformed_datagrams_are_counted_and_survived(running_engine):
    from engine.sflow import DecodeError, decode_datagram

    bad = _malformed()
    for b in bad:
        try:
            decode_datagram(b)
        except DecodeError:
            continue
        raise AssertionError(f"walker accepted malformed datagram {b[:32].hex()}")
    running_engine.send(bad)
    running_engine.wait_datagrams(len(bad))
    analyzer = running_engine.get_json("/analyzer/json")
    assert analyzer["sFlowDecodeErrors"] == len(bad)
    assert analyzer["sFlowFlowSamples"] == analyzer["sFlowCounterSamples"] == 0
    # damage inside a record passes the walker; the engine must survive whoever decodes it
    running_engine.send(_record_level_damage())
    running_engine.wait_datagrams(len(bad) + 1)
    # the engine keeps working: valid datagrams afterwards are decoded and counted
    gen = TrafficGenerator(Scenario(agents=1, samples_per_second=20, seed=2))
    good = gen.step(1.0)
    running_engine.send(good)
    running_engine.wait_datagrams(len(bad) + 1 + len(good))
    agents = running_engine.get_json("/agents/json")
    assert agents["192.0.2.1"]["sFlowFlowSamples"] == gen.flow_samples()
    assert agents["192.0.2.1"]["sFlowDecodeErrors"] == 0
    assert running_engine.get_json("/analyzer/json")["sFlowDecodeErrors"] >= len(bad)


_OVERFLOW_CHILD = """
import socket
from engine.core import KernelDrops
drops = KernelDrops()
sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sink.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1)   # the kernel's minimum
sink.bind(("127.0.0.1", 0))
tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for _ in range(200):
    tx.sendto(b"x" * 1200, sink.getsockname())
received = 0
sink.setblocking(False)
try:
    while True:
        sink.recv(2000)
        received += 1
except BlockingIOError:
    pass
print(drops.read(), received)
"""


def test_kernel_drops_counted(running_engine, tmp_path):
    """Engine.kernel_drops reports RcvbufErrors growth. The overflow runs in a child process in
    a network namespace of its own (/proc/net/snmp is per namespace), so it cannot disturb
    other tests' engines."""
    import shutil

    analyzer = running_engine.get_json("/analyzer/json")
    assert isinstance(analyzer["sFlowKernelDrops"], int) and analyzer["sFlowKernelDrops"] >= 0
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        import pytest

        pytest.skip("unshare/ip not installed")
    script = tmp_path / "overflow.py"
    script.write_text(_OVERFLOW_CHILD)
    proc = subprocess.run(
        [
            "unshare",
            "--net",
            "sh",
            "-c",
            f'ip link set lo up && exec "{sys.executable}" "{script}"',
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    drops, received = (int(x) for x in proc.stdout.split())
    assert drops > 0
    assert drops + received == 200


class _Capture(logging.Handler):
    def __init__(self):
        super().__init__()
        self.lines = []

    def emit(self, record):
        self.lines.append((record.levelname, record.getMessage()))


def test_receive_buffer_warning_when_kernel_grants_less():
    """Linux caps any socket buffer at INT_MAX/2 even for root (SO_RCVBUFFORCE), so asking for
    more must log the WARNING and return what was granted."""
    log.setup("INFO")
    cap = _Capture()
    log.log.addHandler(cap)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        wanted = 2**31 - 1
        granted = collector.set_receive_buffer(sock, wanted)
        assert granted < wanted
        assert any(level == "WARNING" and "sflow.rcvpktsbuffer" in msg for level, msg in cap.lines)
        cap.lines.clear()
        assert collector.set_receive_buffer(sock, 65536) >= 65536
        assert not cap.lines
    finally:
        log.log.removeHandler(cap)
        sock.close()


def test_receive_buffer_warning_without_cap_net_admin(tmp_path):
    """A non-privileged engine cannot exceed net.core.rmem_max: start flowrt with
    CAP_NET_ADMIN dropped and a buffer request above rmem_max; it must warn and still run."""
    import shutil

    if shutil.which("setpriv") is None:
        import pytest

        pytest.skip("setpriv (util-linux) not installed")
    rmem_max = int(open("/proc/sys/net/core/rmem_max").read())
    from test_start import start_engine, stop_engine

    proc, lines = start_engine(
        tmp_path,
        [f"-Dsflow.rcvpktsbuffer={rmem_max * 2}"],
        prefix=["setpriv", "--inh-caps=-net_admin", "--bounding-set=-net_admin"],
    )
    try:
        warnings = [l for l in lines if " WARNING: sFlow receive buffer" in l]
        assert warnings, lines
        assert f"sflow.rcvpktsbuffer={rmem_max * 2}" in warnings[0]
    finally:
        assert stop_engine(proc) == 0


def test_ipv6_agent_capture(running_engine):
    """The tcpdump capture from an agent with an IPv6 address (30::1:1:1)."""
    from engine.sflow.gen import replay_pcap

    path = SFLOW_TESTDATA / "tcpdump" / "sflow-print-v6.pcap"
    n = replay_pcap(str(path), "127.0.0.1", running_engine.sflow_port, speed=0, rate=2000)
    assert n == 25
    running_engine.wait_datagrams(25)
    agent = running_engine.get_json("/agents/json")["30::1:1:1"]
    assert (
        agent["sFlowDatagramsReceived"],
        agent["sFlowFlowSamples"],
        agent["sFlowCounterSamples"],
    ) == (25, 13, 48)


def test_garbage_from_unknown_sender_is_not_an_agent(running_engine):
    running_engine.send([b"\x00\x05" + b"\xff" * 40])
    running_engine.wait_datagrams(1)
    assert running_engine.get_json("/agents/json") == {}
    assert running_engine.get_json("/analyzer/json")["sFlowDecodeErrors"] == 1
    # counted by source where it was received (with workers: worker 0, the steering default)
    counted = {}
    for part in running_engine.call(
        running_engine.engine.gather, "agents.errors_by_source", "copy"
    ):
        counted.update(part)
    assert counted == {"127.0.0.1": 1}
