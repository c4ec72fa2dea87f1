"""BIRD 2 as a real BGP peer for the BGP tests: own config, control socket and pid file in a temp
folder, run in the foreground as a child process (never the system service)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

import waiting

BIRD = shutil.which("bird") or ("/usr/sbin/bird" if Path("/usr/sbin/bird").exists() else None)
BIRDC = shutil.which("birdc") or ("/usr/sbin/birdc" if Path("/usr/sbin/birdc").exists() else None)


def free_tcp_port(host: str = "127.0.0.1") -> int:
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(fam, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class Bird:
    def __init__(self, workdir: Path, config: str):
        self.dir = Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.conf = self.dir / "bird.conf"
        self.sock = self.dir / "bird.ctl"
        self.pidfile = self.dir / "bird.pid"
        self.logfile = self.dir / "bird.log"
        self.conf.write_text(config)
        self.proc: subprocess.Popen | None = None

    def start(self) -> "Bird":
        check = subprocess.run([BIRD, "-p", "-c", str(self.conf)], capture_output=True, text=True)
        if check.returncode != 0:
            raise RuntimeError(f"bird config rejected: {check.stderr}{check.stdout}")
        self.proc = subprocess.Popen(
            [BIRD, "-f", "-c", str(self.conf), "-s", str(self.sock), "-P", str(self.pidfile)],
            stdout=open(self.logfile, "ab"),
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 10
        while not self.sock.exists():
            if self.proc.poll() is not None:
                raise RuntimeError(f"bird exited: {self.logfile.read_text()}")
            if time.monotonic() > deadline:
                raise RuntimeError("bird control socket did not appear")
            time.sleep(0.05)
        return self

    def cmd(self, *args: str) -> str:
        out = subprocess.run(
            [BIRDC, "-s", str(self.sock), *args], capture_output=True, text=True, timeout=10
        )
        return out.stdout

    def reconfigure(self, config: str) -> str:
        self.conf.write_text(config)
        return self.cmd("configure")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def wait_until(predicate, timeout: float = 20.0, interval: float = 0.1):
    """waiting.wait_until with the patience BGP sessions need."""
    return waiting.wait_until(predicate, timeout, interval)


def bird_config(
    flowrt_port: int,
    static4: list[str],
    static6: list[str],
    *,
    local_as: int = 65254,
    flowrt_as: int = 65162,
    listen4: int = 0,
    listen6: int = 0,
    export4: str = "all",
    export6: str = "all",
    flowspec: bool = False,
) -> str:
    """BIRD peering with flowrt over loopback: 127.0.0.2 -> 127.0.0.1 for IPv4 and ::1 for IPv6.
    static4/static6 are BIRD route statements (with optional filter blocks)."""
    s4 = "\n".join(f"  route {r};" for r in static4)
    s6 = "\n".join(f"  route {r};" for r in static6)
    tables = "flow4 table ft4;\nflow6 table ft6;" if flowspec else ""
    flow4 = "flow4 { table ft4; import all; export none; };" if flowspec else ""
    flow6 = "flow6 { table ft6; import all; export none; };" if flowspec else ""
    return f"""
router id 10.0.0.254;
{tables}
protocol device {{ }}
protocol static st4 {{
  ipv4;
{s4}
}}
protocol static st6 {{
  ipv6;
{s6}
}}
protocol bgp flowrt4 {{
  local 127.0.0.2 port {listen4} as {local_as};
  neighbor 127.0.0.1 port {flowrt_port} as {flowrt_as};
  multihop;
  hold time 9;
  connect delay time 1;
  connect retry time 1;
  error wait time 1, 2;
  ipv4 {{ import all; export {export4}; next hop self; }};
  {flow4}
}}
protocol bgp flowrt6 {{
  local ::1 port {listen6} as {local_as};
  neighbor ::1 port {flowrt_port} as {flowrt_as};
  multihop;
  hold time 9;
  connect delay time 1;
  connect retry time 1;
  error wait time 1, 2;
  ipv6 {{ import all; export {export6}; next hop address 2001:db8:ffff::fe; }};
  {flow6}
}}
"""


def sflow_datagram(
    agent: str, flows: list[tuple], size: int = 1000, rate: int = 100, seq: int = 1
) -> bytes:
    """One sFlow v5 datagram from `agent` with a flow sample per (source, destination
    [, protocol, source port, destination port]) tuple (sampled_ipv4 / sampled_ipv6 records,
    `size` bytes, sampling rate `rate`)."""
    from engine.sflow import encode as e

    samples = []
    for i, flow in enumerate(flows):
        src, dst = flow[0], flow[1]
        proto, sport, dport = (list(flow[2:5]) + [6, 40000, 80][len(flow[2:5]) :])[:3]
        ports = (
            {"TCPSrcPort": sport, "TCPDstPort": dport}
            if proto == 6
            else {"UDPSrcPort": sport, "UDPDstPort": dport}
        )
        if ":" in dst:
            rec = e.encode_flow_record(
                {
                    "flowBlock_tag": "0:4",
                    "sampledPacketSize": size,
                    "IPProtocol": proto,
                    "srcIP6": src,
                    "dstIP6": dst,
                    **ports,
                }
            )
        else:
            rec = e.encode_flow_record(
                {
                    "flowBlock_tag": "0:3",
                    "sampledPacketSize": size,
                    "IPProtocol": proto,
                    "srcIP": src,
                    "dstIP": dst,
                    **ports,
                }
            )
        samples.append(e.flow_sample(seq * 1000 + i, 0, 3, rate, rate * (i + 1), 0, 1, 2, [rec]))
    return e.datagram(agent, seq, 1000, samples)
