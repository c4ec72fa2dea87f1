"""Synthetic sFlow: a library (Scenario + TrafficGenerator) and the ``flowrt-gen`` command.

The generator simulates agents (switches, optionally hosts with containers) carrying a fixed
set of flows at known, constant rates. Sampling is deterministic: each flow accumulates
``frames_per_second * dt / sampling_rate`` samples of credit and emits the whole part, so the
sFlow estimate of every flow (samples x sampling_rate x frame size) converges exactly to the
true rate the generator reports. Interface counters count exactly the true traffic, so
counter-derived rates are exact too.

Library use::

    gen = TrafficGenerator(Scenario(agents=2, samples_per_second=500, seed=1))
    datagrams = gen.step(1.0)        # one simulated second -> list of datagram bytes
    gen.flows[0].bytes_per_second    # the true rate of the heaviest flow
    gen.true_rates()                 # per agent/flow/port true rates

Command line: ``flowrt-gen --help`` or docs/generator.md.
"""

from __future__ import annotations

import argparse
import ipaddress
import random
import socket
import sys
import time
import zlib
from dataclasses import dataclass
from typing import Any, Iterable

from .. import native
from . import encode, packets
from .encode import counter_sample, datagram, flow_sample, record

MAX_DATAGRAM = 1400  # bytes; agents keep datagrams under a typical MTU
HEADER_LEN = 128  # sampled header bytes, as most switches send

DEFAULT_SIZES = ((64, 0.35), (576, 0.15), (1500, 0.5))
DEFAULT_PROTOCOLS = (("tcp", 0.75), ("udp", 0.2), ("icmp", 0.05))
SERVER_PORTS = (
    (443, 0.4),
    (80, 0.2),
    (53, 0.1),
    (22, 0.05),
    (3306, 0.05),
    (6379, 0.05),
    (8080, 0.05),
    (123, 0.05),
    (5201, 0.05),
)


@dataclass
class Scenario:
    """What to simulate. Rates are exact: the generator produces precisely this traffic."""

    agents: int = 1
    agent_base: str = "192.0.2.1"  # agent addresses count up from here
    ports: int = 4  # switch ports (ifIndex 1..ports) per agent
    port_speed: int = 10_000_000_000  # ifSpeed, bits/s
    flows: int = 100  # flows per agent
    zipf: float = 1.0  # heavy-hitter skew: flow i gets weight 1/(i+1)^zipf
    samples_per_second: float = 1000.0  # flow samples/s per agent (sets the frame rate)
    sampling_rate: int = 1000  # 1-in-N
    sizes: tuple = DEFAULT_SIZES  # frame sizes (bytes incl. FCS) and their weights
    protocols: tuple = DEFAULT_PROTOCOLS  # tcp/udp/icmp weights
    ipv6_fraction: float = 0.0  # share of flows that are IPv6
    vxlan_fraction: float = 0.0  # share of flows carried in VXLAN between VTEPs
    src_net: str = "10.1.0.0/16"
    dst_net: str = "10.2.0.0/16"
    src_net6: str = "2001:db8:1::/64"
    dst_net6: str = "2001:db8:2::/64"
    vlans: tuple = (1,)  # VLANs the flows are spread over
    tagged: bool = False  # put an 802.1Q tag into the sampled header
    header_len: int = HEADER_LEN
    expanded: bool = False  # expanded (0:3/0:4) instead of compact samples
    polling_interval: float = 20.0  # counter polling interval, seconds
    samples_per_datagram: int = 8  # flush a datagram at this many samples (or size)
    hosts: bool = False  # also send host counters 2000-2006 (ds 2.1)
    host_name: str = "vx{agent}host"  # {agent} = agent number, from 0
    host_cpu: float = 0.25  # host CPU utilisation 0..1
    host_cpus: int = 4
    containers: int = 0  # containers per host (virtual nodes 2100-2104)
    services: tuple = ("apache", "nginx", "redis")
    container_cpu: float = 0.1  # each container's CPU utilisation (of one CPU)
    container_bytes_in: float = 100_000.0  # container network bytes/s in
    container_bytes_out: float = 200_000.0  # container network bytes/s out
    container_flows: bool = False  # flows run between the containers' MACs
    discards_per_second: float = 0.0  # discard samples (0:5) per agent per second
    discard_reasons: tuple = ((258, 0.5), (259, 0.3), (269, 0.2))  # acl, no_buffer, blackhole
    seed: int = 1
    start_time: float = 0.0  # simulated clock at start (uptime 0)

    @property
    def frames_per_second(self) -> float:
        """True frame rate per agent."""
        return self.samples_per_second * self.sampling_rate


def _weighted(rng: random.Random, choices) -> Any:
    values, weights = zip(*choices)
    return rng.choices(values, weights)[0]


class Flow:
    """One flow through one agent: constant frame rate and frame size."""

    __slots__ = (
        "agent",
        "index",
        "src_mac",
        "dst_mac",
        "src",
        "dst",
        "proto",
        "sport",
        "dport",
        "frame_size",
        "frames_per_second",
        "in_port",
        "out_port",
        "vlan",
        "vxlan",
        "vtep",
        "records",
        "credit",
        "samples",
    )
    agent: str
    index: int
    src_mac: str
    dst_mac: str
    src: str
    dst: str
    proto: int
    sport: int
    dport: int
    frame_size: int
    frames_per_second: float
    in_port: int
    out_port: int
    vlan: int
    vxlan: bool
    vtep: tuple[str, str, int] | None
    records: list
    credit: float
    samples: int

    def __init__(self, **kw):
        for k, v in kw.items():
            setattr(self, k, v)
        self.credit = 0.5  # so the sample count is the rounded, not floored, expectation
        self.samples = 0

    @property
    def bytes_per_second(self) -> float:
        return self.frames_per_second * self.frame_size

    @property
    def protocol_name(self) -> str:
        return {6: "tcp", 17: "udp", 1: "icmp", 58: "icmp"}.get(self.proto, str(self.proto))

    def keys(self) -> dict:
        """sFlow-RT flow keys this flow produces; a VXLAN flow's own addresses and ports are
        the inner (.1) keys and the VTEPs are the outer ones."""
        inner = self._keys(
            self.src, self.dst, self.proto, self.sport, self.dport, self.src_mac, self.dst_mac
        )
        if not self.vxlan:
            return inner
        assert self.vtep is not None  # _flow_records() sets it on every VXLAN flow
        vtep_a, vtep_b, sport = self.vtep
        k = self._keys(vtep_a, vtep_b, 17, sport, 4789, "02aa00000001", "02aa00000002")
        k.update({name + ".1": value for name, value in inner.items()})
        return k

    def _keys(self, src, dst, proto, sport, dport, src_mac, dst_mac) -> dict:
        v6 = ":" in src
        k = {
            "ip6source" if v6 else "ipsource": src,
            "ip6destination" if v6 else "ipdestination": dst,
            ("ip6nexthdr" if v6 else "ipprotocol"): 58 if v6 and proto == 1 else proto,
            "macsource": src_mac.upper(),
            "macdestination": dst_mac.upper(),
        }
        if proto == 6:
            k.update(tcpsourceport=sport, tcpdestinationport=dport)
        elif proto == 17:
            k.update(udpsourceport=sport, udpdestinationport=dport)
        return k


class _Port:
    __slots__ = (
        "ifindex",
        "in_octets",
        "in_pkts",
        "out_octets",
        "out_pkts",
        "flow_seq",
        "counter_seq",
    )
    ifindex: int
    in_octets: float
    in_pkts: float
    out_octets: float
    out_pkts: float
    flow_seq: int
    counter_seq: int

    def __init__(self, ifindex: int):
        self.ifindex = ifindex
        self.in_octets = self.in_pkts = self.out_octets = self.out_pkts = 0.0
        self.flow_seq = 0
        self.counter_seq = 0


def container_mac(agent_number: int, index: int) -> str:
    """The MAC of container `index` (from 1) of agent `agent_number` (from 0): locally
    administered, unlike the host's adapters (02...) and the flows' random MACs."""
    return f"06{agent_number:04x}{index:06x}"


class _Container:
    __slots__ = (
        "index",
        "name",
        "cpu_ms",
        "bytes_in",
        "bytes_out",
        "pkts_in",
        "pkts_out",
        "seq",
        "uuid",
        "mac",
    )
    index: int
    name: str
    cpu_ms: float
    bytes_in: float
    bytes_out: float
    pkts_in: float
    pkts_out: float
    seq: int
    uuid: bytes
    mac: str

    def __init__(self, index: int, name: str, uuid: bytes, mac: str):
        self.index = index
        self.name = name
        self.uuid = uuid
        self.mac = mac
        self.cpu_ms = self.bytes_in = self.bytes_out = self.pkts_in = self.pkts_out = 0.0
        self.seq = 0


class Agent:
    """One simulated sFlow agent: its flows, port counters and datagram packing."""

    def __init__(self, scenario: Scenario, number: int, rng: random.Random):
        sc = self.scenario = scenario
        self.number = number
        self.address = str(ipaddress.ip_address(scenario.agent_base) + number)
        self.sub_agent = 0
        self.seq = 0
        self.ports = [_Port(i + 1) for i in range(sc.ports)]
        self.flows = self._make_flows(rng)
        self.pending: list[bytes] = []
        self.pending_size = 0
        self.out: list[bytes] = []
        self.last_poll: float | None = None
        self.host_seq = 0
        self.discard_seq = 0
        self.removed_samples = 0
        self.discard_credit = 0.5
        self.discards = 0
        self.discard_rng = random.Random(rng.random())
        self.host_cpu_ms = 0.0
        self.host_uuid = bytes(rng.getrandbits(8) for _ in range(16))
        self.host_name = sc.host_name.format(agent=number)
        self.containers = []
        for i in range(sc.containers if sc.hosts else 0):
            service = sc.services[i % len(sc.services)]
            task = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(3))
            name = f"{service}.{i // len(sc.services) + 1}.{task}"
            self.containers.append(
                _Container(
                    i + 1,
                    name,
                    bytes(rng.getrandbits(8) for _ in range(16)),
                    container_mac(number, i + 1),
                )
            )

    # -- set-up ------------------------------------------------------------------------------
    def _make_flows(self, rng: random.Random) -> list[Flow]:
        sc = self.scenario
        weights = [1.0 / (i + 1) ** sc.zipf for i in range(sc.flows)]
        total = sum(weights)
        src4 = ipaddress.ip_network(sc.src_net)
        dst4 = ipaddress.ip_network(sc.dst_net)
        src6 = ipaddress.ip_network(sc.src_net6)
        dst6 = ipaddress.ip_network(sc.dst_net6)
        flows = []
        for i in range(sc.flows):
            v6 = rng.random() < sc.ipv6_fraction
            src_net, dst_net = (src6, dst6) if v6 else (src4, dst4)
            src = str(src_net[rng.randrange(1, min(src_net.num_addresses - 1, 1 << 20))])
            dst = str(dst_net[rng.randrange(1, min(dst_net.num_addresses - 1, 1 << 20))])
            proto = {"tcp": 6, "udp": 17, "icmp": 1}[_weighted(rng, sc.protocols)]
            sport = rng.randrange(32768, 61000) if proto != 1 else 0
            dport = _weighted(rng, SERVER_PORTS) if proto != 1 else 0
            size = _weighted(rng, sc.sizes)
            # a frame must hold its headers: Ethernet+FCS, tag, IP, TCP/UDP/ICMP (+VXLAN 50)
            vxlan = rng.random() < sc.vxlan_fraction
            size = max(
                size,
                18 + 4 * sc.tagged + (40 if v6 else 20) + (20 if proto == 6 else 8) + 50 * vxlan,
            )
            in_port = rng.randrange(sc.ports) + 1
            out_port = rng.randrange(sc.ports - 1) + 1 if sc.ports > 1 else 1
            if sc.ports > 1 and out_port >= in_port:
                out_port += 1
            vlan = sc.vlans[rng.randrange(len(sc.vlans))]
            src_mac, dst_mac = f"02{rng.getrandbits(40):010x}", f"02{rng.getrandbits(40):010x}"
            n = sc.containers if sc.hosts else 0
            if sc.container_flows and n:
                # container i mod n sends to the next one (or to itself when it is alone)
                src_mac = container_mac(self.number, i % n + 1)
                dst_mac = container_mac(self.number, (i + 1) % n + 1)
            f = Flow(
                agent=self.address,
                index=i,
                src_mac=src_mac,
                dst_mac=dst_mac,
                src=src,
                dst=dst,
                proto=proto,
                sport=sport,
                dport=dport,
                frame_size=size,
                frames_per_second=sc.frames_per_second * weights[i] / total,
                in_port=in_port,
                out_port=out_port,
                vlan=vlan,
                vxlan=vxlan,
                vtep=None,
            )
            f.records = self._flow_records(f, rng)
            flows.append(f)
        return flows

    def add_flow(
        self,
        src: str,
        dst: str,
        proto: int | str = 6,
        sport: int = 0,
        dport: int = 0,
        frame_size: int = 1500,
        frames_per_second: float = 1000.0,
        in_port: int = 1,
        out_port: int = 2,
        vlan: int | None = None,
        vxlan: bool = False,
        src_mac: str | None = None,
        dst_mac: str | None = None,
    ) -> Flow:
        """A flow with exactly these properties, from now on (e.g. an attack starting)."""
        sc = self.scenario
        proto = (
            {"tcp": 6, "udp": 17, "icmp": 1}.get(proto, proto) if isinstance(proto, str) else proto
        )
        nports = len(self.ports)
        for port in (in_port, out_port):
            if not 1 <= port <= nports:
                raise ValueError(f"port {port} not in 1..{nports}")
        rng = random.Random(zlib.crc32(repr((src, dst, proto, sport, dport)).encode()))
        f = Flow(
            agent=self.address,
            index=len(self.flows),
            src_mac=src_mac or f"02{rng.getrandbits(40):010x}",
            dst_mac=dst_mac or f"02{rng.getrandbits(40):010x}",
            src=src,
            dst=dst,
            proto=int(proto),
            sport=sport,
            dport=dport,
            frame_size=frame_size,
            frames_per_second=float(frames_per_second),
            in_port=in_port,
            out_port=out_port,
            vlan=sc.vlans[0] if vlan is None else vlan,
            vxlan=vxlan,
            vtep=None,
        )
        f.records = self._flow_records(f, rng)
        self.flows.append(f)
        return f

    def _flow_records(self, f: Flow, rng: random.Random) -> list[bytes]:
        sc = self.scenario
        vlans = [f.vlan] if sc.tagged else []
        if f.vxlan:
            inner = packets.frame(
                f.src_mac, f.dst_mac, f.src, f.dst, f.proto, f.frame_size - 50, f.sport, f.dport
            )
            vtep_a = f"192.168.{self.number % 256}.{1 + f.in_port}"
            vtep_b = f"192.168.{self.number % 256}.{1 + f.out_port}"
            frame = packets.frame(
                "02aa00000001",
                "02aa00000002",
                vtep_a,
                vtep_b,
                17,
                f.frame_size,
                f.sport or 49152,
                packets.VXLAN_PORT,
                vlans,
                vxlan_inner=inner,
                vni=1000 + f.vlan,
            )
            f.vtep = (vtep_a, vtep_b, f.sport or 49152)
        else:
            frame = packets.frame(
                f.src_mac,
                f.dst_mac,
                f.src,
                f.dst,
                f.proto,
                f.frame_size,
                f.sport,
                f.dport,
                vlans,
                ident=rng.getrandbits(16),
            )
        header = frame[: sc.header_len]
        hdr = (
            encode.u32(1)
            + encode.u32(f.frame_size)
            + encode.u32(packets.FCS_LEN)
            + encode.u32(len(header))
            + encode.pad(header)
        )
        switch = encode.u32(f.vlan) + encode.u32(0) + encode.u32(f.vlan) + encode.u32(0)
        return [record("0:1", hdr), record("0:1001", switch)]

    # -- time step ---------------------------------------------------------------------------
    def step(self, now: float, dt: float) -> list[bytes]:
        sc = self.scenario
        uptime = int((now - sc.start_time) * 1000)
        rate = sc.sampling_rate
        ports = self.ports
        for f in self.flows:
            frames = f.frames_per_second * dt
            octets = frames * f.frame_size
            pin, pout = ports[f.in_port - 1], ports[f.out_port - 1]
            pin.in_octets += octets
            pin.in_pkts += frames
            pout.out_octets += octets
            pout.out_pkts += frames
            f.credit += frames / rate
            n = int(f.credit)
            if n:
                f.credit -= n
                f.samples += n
                for _ in range(n):
                    pin.flow_seq += 1
                    # the pool counts every frame the port's sampler has seen
                    self._add(
                        flow_sample(
                            pin.flow_seq,
                            0,
                            pin.ifindex,
                            rate,
                            int(pin.in_pkts),
                            0,
                            f.in_port,
                            f.out_port,
                            f.records,
                            expanded=sc.expanded,
                        ),
                        uptime,
                    )
        if sc.discards_per_second:
            self._discards(dt, uptime)
        for c in self.containers:
            c.cpu_ms += sc.container_cpu * 1000 * dt
            c.bytes_in += sc.container_bytes_in * dt
            c.bytes_out += sc.container_bytes_out * dt
            c.pkts_in += sc.container_bytes_in * dt / 1000
            c.pkts_out += sc.container_bytes_out * dt / 1000
        self.host_cpu_ms += sc.host_cpu * sc.host_cpus * 1000 * dt
        if self.last_poll is None or now - self.last_poll >= sc.polling_interval - 1e-9:
            self.last_poll = now if self.last_poll is None else self.last_poll + sc.polling_interval
            self._poll(uptime)
        self._flush(uptime)
        out, self.out = self.out, []
        return out

    def _discards(self, dt: float, uptime: int) -> None:
        """Discard samples: a packet of a random flow dropped at its ingress port for a reason
        drawn from the mix; records: the sampled header and the egress queue."""
        sc = self.scenario
        self.discard_credit += sc.discards_per_second * dt
        n = int(self.discard_credit)
        self.discard_credit -= n
        if not self.flows:
            return
        rng = self.discard_rng
        for _ in range(n):
            f = self.flows[rng.randrange(len(self.flows))]
            self.discard_seq += 1
            self.discards += 1
            reason = _weighted(rng, sc.discard_reasons)
            self._add(
                encode.discard_sample(
                    self.discard_seq,
                    0,
                    f.in_port,
                    0,
                    f.in_port,
                    f.out_port,
                    reason,
                    [f.records[0], record("0:1036", encode.u32(0))],
                ),
                uptime,
            )

    def _add(self, sample: bytes, uptime: int) -> None:
        if self.pending and (
            len(self.pending) >= self.scenario.samples_per_datagram
            or self.pending_size + len(sample) > MAX_DATAGRAM - 28
        ):
            self._flush(uptime)
        self.pending.append(sample)
        self.pending_size += len(sample)

    def _flush(self, uptime: int) -> None:
        if self.pending:
            self.seq += 1
            self.out.append(datagram(self.address, self.seq, uptime, self.pending, self.sub_agent))
            self.pending = []
            self.pending_size = 0

    # -- counters ----------------------------------------------------------------------------
    def _poll(self, uptime: int) -> None:
        sc = self.scenario
        for p in self.ports:
            p.counter_seq += 1
            generic = encode.COUNTER_RECORDS["0:1"](
                {
                    "ifIndex": p.ifindex,
                    "networkType": 6,
                    "ifSpeed": sc.port_speed,
                    "ifDirection": 1,
                    "ifStatus": 3,
                    "ifInOctets": int(p.in_octets),
                    "ifInUcastPkts": int(p.in_pkts),
                    "ifOutOctets": int(p.out_octets),
                    "ifOutUcastPkts": int(p.out_pkts),
                    "ifPromiscuousMode": 0,
                }
            )
            ether = encode.COUNTER_RECORDS["0:2"]({})
            self._add(
                counter_sample(
                    p.counter_seq,
                    0,
                    p.ifindex,
                    [record("0:1", generic), record("0:2", ether)],
                    expanded=sc.expanded,
                ),
                uptime,
            )
        if sc.hosts:
            self._add(self._host_sample(uptime), uptime)
            for c in self.containers:
                self._add(self._container_sample(c), uptime)

    def _host_sample(self, uptime: int) -> bytes:
        sc = self.scenario
        self.host_seq += 1
        total_ms = sc.host_cpus * (uptime if uptime > 0 else 0)
        busy = int(self.host_cpu_ms)
        in_octets = sum(p.in_octets for p in self.ports)
        out_octets = sum(p.out_octets for p in self.ports)
        in_pkts = sum(p.in_pkts for p in self.ports)
        out_pkts = sum(p.out_pkts for p in self.ports)
        recs = [
            record(
                "0:2000",
                encode.COUNTER_RECORDS["0:2000"](
                    {
                        "hostname": self.host_name,
                        "UUID": self.host_uuid,
                        "machine_type": 3,
                        "os_name": 2,
                        "os_release": "6.1.0-flowrt",
                    }
                ),
            ),
            record(
                "0:2001",
                encode.COUNTER_RECORDS["0:2001"](
                    {
                        "adaptor_list": [
                            {
                                "ifIndex": p.ifindex,
                                "mac_list": [f"02{self.number:04x}{p.ifindex:06x}"],
                            }
                            for p in self.ports
                        ]
                    }
                ),
            ),
            record(
                "0:2003",
                encode.COUNTER_RECORDS["0:2003"](
                    {
                        "cpu_load_one": sc.host_cpu * sc.host_cpus,
                        "cpu_load_five": sc.host_cpu * sc.host_cpus,
                        "cpu_load_fifteen": sc.host_cpu * sc.host_cpus,
                        "cpu_proc_run": 1,
                        "cpu_proc_total": 100 + len(self.containers),
                        "cpu_num": sc.host_cpus,
                        "cpu_speed": 2400,
                        "cpu_uptime": uptime // 1000,
                        "cpu_user": busy,
                        "cpu_idle": max(0, total_ms - busy),
                        "cpu_steal": 0,
                        "cpu_guest": 0,
                        "cpu_guest_nice": 0,
                    }
                ),
            ),
            record(
                "0:2004",
                encode.COUNTER_RECORDS["0:2004"](
                    {
                        "mem_total": 16 << 30,
                        "mem_free": 8 << 30,
                        "mem_buffers": 256 << 20,
                        "mem_cached": 2 << 30,
                        "swap_total": 0,
                        "swap_free": 0,
                    }
                ),
            ),
            record(
                "0:2005",
                encode.COUNTER_RECORDS["0:2005"](
                    {
                        "disk_total": 500 << 30,
                        "disk_free": 300 << 30,
                        "disk_partition_max_used": 40.0,
                    }
                ),
            ),
            record(
                "0:2006",
                encode.COUNTER_RECORDS["0:2006"](
                    {
                        "nio_bytes_in": int(in_octets),
                        "nio_pkts_in": int(in_pkts),
                        "nio_bytes_out": int(out_octets),
                        "nio_pkts_out": int(out_pkts),
                    }
                ),
            ),
        ]
        if self.containers:
            recs.append(
                record(
                    "0:2100",
                    encode.COUNTER_RECORDS["0:2100"](
                        {
                            "vnode_mhz": 2400,
                            "vnode_cpus": sc.host_cpus,
                            "vnode_memory": 16 << 30,
                            "vnode_memory_free": 8 << 30,
                            "vnode_num_domains": len(self.containers),
                        }
                    ),
                )
            )
        return counter_sample(self.host_seq, 2, 1, recs, expanded=sc.expanded)

    def _container_sample(self, c: _Container) -> bytes:
        sc = self.scenario
        c.seq += 1
        recs = [
            record(
                "0:2000",
                encode.COUNTER_RECORDS["0:2000"](
                    {
                        "hostname": c.name,
                        "UUID": c.uuid,
                        "machine_type": 3,
                        "os_name": 2,
                        "os_release": "6.1.0-flowrt",
                    }
                ),
            ),
            record(
                "0:2001",
                encode.COUNTER_RECORDS["0:2001"](
                    {"adaptor_list": [{"ifIndex": c.index, "mac_list": [c.mac]}]}
                ),
            ),
            record("0:2002", encode.u32(2) + encode.u32(1)),
            record(
                "0:2101",
                encode.COUNTER_RECORDS["0:2101"](
                    {"vcpu_state": 1, "vcpu_cpu_mS": int(c.cpu_ms), "vcpu_cpuCount": 1}
                ),
            ),
            record(
                "0:2102",
                encode.COUNTER_RECORDS["0:2102"](
                    {"vmem_memory": 256 << 20, "vmem_maxMemory": 1 << 30}
                ),
            ),
            record(
                "0:2103",
                encode.COUNTER_RECORDS["0:2103"](
                    {
                        "vdsk_capacity": 10 << 30,
                        "vdsk_allocation": 2 << 30,
                        "vdsk_available": 8 << 30,
                    }
                ),
            ),
            record(
                "0:2104",
                encode.COUNTER_RECORDS["0:2104"](
                    {
                        "vnio_bytes_in": int(c.bytes_in),
                        "vnio_pkts_in": int(c.pkts_in),
                        "vnio_bytes_out": int(c.bytes_out),
                        "vnio_pkts_out": int(c.pkts_out),
                    }
                ),
            ),
        ]
        return counter_sample(c.seq, 3, c.index, recs, expanded=sc.expanded)


class TrafficGenerator:
    """Steps a Scenario through simulated time, producing sFlow datagrams."""

    def __init__(self, scenario: Scenario | None = None, **kw):
        self.scenario = scenario or Scenario(**kw)
        rng = random.Random(self.scenario.seed)
        self.agents = [Agent(self.scenario, i, rng) for i in range(self.scenario.agents)]
        self.now = self.scenario.start_time
        self.datagrams = 0

    @property
    def flows(self) -> list[Flow]:
        """All flows, heaviest first within each agent."""
        return [f for a in self.agents for f in a.flows]

    def add_flow(self, agent: int = 0, **spec) -> Flow:
        """Add a flow with exact properties to agent number `agent` (see Agent.add_flow)."""
        return self.agents[agent].add_flow(**spec)

    def remove_flow(self, flow: Flow) -> None:
        """Stop a flow (e.g. an attack ending); its samples so far stay counted."""
        for a in self.agents:
            if flow in a.flows:
                a.flows.remove(flow)
                a.removed_samples += flow.samples

    def step(self, dt: float) -> list[bytes]:
        """Advance simulated time by dt seconds; return the datagrams sent in that time."""
        self.now += dt
        out: list[bytes] = []
        for agent in self.agents:
            out.extend(agent.step(self.now, dt))
        self.datagrams += len(out)
        return out

    def run(self, seconds: float, dt: float = 1.0) -> Iterable[tuple[float, list[bytes]]]:
        """Yield (simulated time, datagrams) for each step of dt over the given seconds."""
        steps = int(round(seconds / dt))
        for _ in range(steps):
            dgs = self.step(dt)
            yield self.now, dgs

    def flow_samples(self) -> int:
        return sum(f.samples for f in self.flows) + sum(a.removed_samples for a in self.agents)

    def true_rates(self) -> dict:
        """True traffic per agent: totals, per flow and per port (frames/s, bytes/s)."""
        out = {}
        for a in self.agents:
            ports = {
                p.ifindex: {"in_frames": 0.0, "in_bytes": 0.0, "out_frames": 0.0, "out_bytes": 0.0}
                for p in a.ports
            }
            for f in a.flows:
                ports[f.in_port]["in_frames"] += f.frames_per_second
                ports[f.in_port]["in_bytes"] += f.bytes_per_second
                ports[f.out_port]["out_frames"] += f.frames_per_second
                ports[f.out_port]["out_bytes"] += f.bytes_per_second
            out[a.address] = {
                "frames": sum(f.frames_per_second for f in a.flows),
                "bytes": sum(f.bytes_per_second for f in a.flows),
                "flow_samples": a.scenario.samples_per_second,
                "flows": [
                    {"keys": f.keys(), "frames": f.frames_per_second, "bytes": f.bytes_per_second}
                    for f in a.flows
                ],
                "ports": ports,
                "containers": {
                    c.name: {
                        "cpu": a.scenario.container_cpu,
                        "bytes_in": a.scenario.container_bytes_in,
                        "bytes_out": a.scenario.container_bytes_out,
                    }
                    for c in a.containers
                },
            }
        return out


# -- sending ----------------------------------------------------------------------------------
def open_sender(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
    except OSError:
        pass
    sock.connect((host, port))
    return sock


def _send(sock: socket.socket, data: bytes) -> bool:
    """Send one datagram; a full send buffer or ICMP port-unreachable is not fatal."""
    while True:
        try:
            sock.send(data)
            return True
        except BlockingIOError:
            time.sleep(0.0005)
        except ConnectionRefusedError:
            return False


class Pacer:
    """Sleep so that item i goes out at start + i/rate (no drift, bursts only when late)."""

    def __init__(self, rate: float):
        self.interval = 1.0 / rate if rate and rate > 0 else 0.0
        self.start = time.perf_counter()
        self.n = 0

    def wait(self) -> None:
        if self.interval:
            due = self.start + self.n * self.interval
            delay = due - time.perf_counter()
            if delay > 0.0005:
                time.sleep(delay)
        self.n += 1


# the C extension is optional: plain send() below without it. A test tool, not an engine
# path, so FLOWRT_NO_ACCEL does not turn it off.
_net = native.module("engine._net", tool=True)


def send_cycle(sock: socket.socket, dgs: list[bytes], start: int, count: int) -> int:
    """Send `count` datagrams dgs[start], dgs[start + 1], ... (indices wrap around) on a
    connected socket, one sendmmsg per batch where engine._net is built: a sender on a small
    machine then leaves the CPU to the collector. Returns how many went out (fewer when a
    non-blocking socket's buffer is full). ICMP port-unreachable is not fatal."""
    if not count:
        return 0
    if _net is not None:
        try:
            return _net.send_batch(sock.fileno(), dgs, start, count)
        except ConnectionRefusedError:
            return 1  # the refused datagram is lost, as with _send; the rest follows next call
    n = len(dgs)
    for k in range(count):
        try:
            sock.send(dgs[(start + k) % n])
        except BlockingIOError:
            return k
        except ConnectionRefusedError:
            pass
    return count


def send_paced(
    sock: socket.socket,
    dgs: list[bytes],
    rate: float,
    count: int = 0,
    seconds: float = 0.0,
    tick: float = 0.001,
) -> int:
    """Send dgs cyclically at `rate` datagrams/s (0 = as fast as possible) until `count`
    datagrams (0 = no limit) or `seconds` (0 = no limit) have passed: every `tick` the due
    datagrams go out in one batch. Returns the number sent."""
    if not dgs or (not count and not seconds):
        return 0
    start = time.perf_counter()
    sent = 0
    while True:
        elapsed = time.perf_counter() - start
        if (seconds and elapsed >= seconds) or (count and sent >= count):
            return sent
        due = int(elapsed * rate) + 1 if rate > 0 else sent + 64
        if count:
            due = min(due, count)
        if due > sent:
            k = send_cycle(sock, dgs, sent, due - sent)
            sent += k
            if k and rate <= 0:
                continue
        time.sleep(tick if rate > 0 else 0.0005)


def send_datagrams(datagrams: Iterable[bytes], host: str, port: int, rate: float = 0.0) -> int:
    """Send datagrams to host:port at `rate` datagrams/s (0 = as fast as possible)."""
    sock = open_sender(host, port)
    pacer = Pacer(rate)
    n = 0
    try:
        for dg in datagrams:
            pacer.wait()
            _send(sock, dg)
            n += 1
    finally:
        sock.close()
    return n


def replay_pcap(
    path: str,
    host: str = "127.0.0.1",
    port: int = 6343,
    speed: float = 1.0,
    rate: float = 0.0,
    loops: int = 1,
    sflow_port: int | None = None,
) -> int:
    """Send the sFlow datagrams of a pcap to host:port. speed X replays at X times the captured
    pace; speed 0 sends as fast as possible, or at `rate` datagrams/s if given."""
    from .pcap import read_pcap

    dgs = [(d.time, d.payload) for d in read_pcap(path, sflow_port)]
    if not dgs:
        return 0
    sock = open_sender(host, port)
    if not speed:
        try:
            return send_paced(sock, [p for _, p in dgs], rate, count=len(dgs) * max(1, loops))
        finally:
            sock.close()
    sent = 0
    try:
        for _ in range(max(1, loops)):
            t0, start = dgs[0][0], time.perf_counter()
            for t, payload in dgs:
                delay = start + (t - t0) / speed - time.perf_counter()
                if delay > 0.0005:
                    time.sleep(delay)
                _send(sock, payload)
                sent += 1
    finally:
        sock.close()
    return sent


def run_live(
    gen: TrafficGenerator,
    host: str,
    port: int,
    duration: float = 0.0,
    tick: float = 0.05,
    max_datagrams: int = 0,
    quiet: bool = True,
) -> int:
    """Send the generator's traffic in real time: every tick, step by the elapsed time and
    spread the resulting datagrams over the next tick."""
    sock = open_sender(host, port)
    start = last = time.perf_counter()
    sent = 0
    try:
        while True:
            now = time.perf_counter()
            if duration and now - start >= duration:
                break
            dgs = gen.step(now - last)
            last = now
            gap = tick / len(dgs) if dgs else 0.0
            i = 0
            while i < len(dgs):
                # what is due by now goes out in one batch (one sendmmsg with engine._net)
                due = min(len(dgs), int((time.perf_counter() - now) / gap) + 1) if gap else len(dgs)
                if max_datagrams:
                    due = min(due, i + max_datagrams - sent)
                k = send_cycle(sock, dgs, i, due - i) if due > i else 0
                i += k
                sent += k
                if max_datagrams and sent >= max_datagrams:
                    return sent
                if i < len(dgs):
                    delay = now + (i + 1) * gap - time.perf_counter()
                    # after a batch wait at least 1 ms, so batches collect at high rates
                    time.sleep(max(delay, 0.001 if k else 0.0002))
            rest = last + tick - time.perf_counter()
            if rest > 0:
                time.sleep(rest)
            if not quiet and int(now - start) != int(time.perf_counter() - start):
                print(f"{sent} datagrams, {gen.flow_samples()} flow samples", file=sys.stderr)
    except KeyboardInterrupt:
        pass
    finally:
        sock.close()
    return sent


# -- command line -----------------------------------------------------------------------------
def _mix(text: str, cast=str) -> tuple:
    """'64:0.3,1500:0.7' -> ((64, 0.3), (1500, 0.7)); a bare value gets weight 1."""
    out = []
    for item in text.split(","):
        value, _, weight = item.strip().partition(":")
        out.append((cast(value), float(weight) if weight else 1.0))
    return tuple(out)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="flowrt-gen",
        description=(
            "Send synthetic sFlow (flow samples with realistic headers, interface, host and "
            "container counters) to a collector, or replay an sFlow pcap."
        ),
    )
    p.add_argument("--host", default="127.0.0.1", help="collector address (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=6343, help="collector UDP port (default 6343)")
    p.add_argument(
        "--duration", type=float, default=0.0, help="seconds to run (default: until interrupted)"
    )
    p.add_argument("--count", type=int, default=0, help="stop after this many datagrams")
    p.add_argument(
        "--rate",
        type=float,
        default=None,
        help="synthetic: flow samples/s over all agents (default 100); "
        "with --pcap: datagrams/s when --speed is 0",
    )
    p.add_argument(
        "--datagram-rate",
        type=float,
        default=None,
        help="synthetic: datagrams/s over all agents (instead of --rate)",
    )
    g = p.add_argument_group("synthetic traffic")
    g.add_argument("--agents", type=int, default=1)
    g.add_argument("--agent-base", default="192.0.2.1", help="first agent address")
    g.add_argument("--ports", type=int, default=4, help="switch ports per agent")
    g.add_argument("--flows", type=int, default=100, help="flows per agent")
    g.add_argument("--zipf", type=float, default=1.0, help="heavy-hitter skew (0 = uniform)")
    g.add_argument("--sampling-rate", type=int, default=1000, help="1-in-N sampling")
    g.add_argument(
        "--sizes", default="64:0.35,576:0.15,1500:0.5", help="frame size mix, size:weight,..."
    )
    g.add_argument(
        "--protocols", default="tcp:0.75,udp:0.2,icmp:0.05", help="protocol mix, name:weight,..."
    )
    g.add_argument("--ipv6", type=float, default=0.0, help="fraction of IPv6 flows")
    g.add_argument("--vxlan", type=float, default=0.0, help="fraction of VXLAN-encapsulated flows")
    g.add_argument("--src-net", default="10.1.0.0/16")
    g.add_argument("--dst-net", default="10.2.0.0/16")
    g.add_argument("--src-net6", default="2001:db8:1::/64")
    g.add_argument("--dst-net6", default="2001:db8:2::/64")
    g.add_argument("--vlans", default="1", help="comma-separated VLAN ids")
    g.add_argument("--tagged", action="store_true", help="802.1Q tag in sampled headers")
    g.add_argument("--expanded", action="store_true", help="expanded samples (0:3/0:4)")
    g.add_argument("--polling", type=float, default=20.0, help="counter polling interval (s)")
    g.add_argument("--samples-per-datagram", type=int, default=8)
    g.add_argument("--hosts", action="store_true", help="agents are hosts: send 2000-2006")
    g.add_argument("--host-name", default="vx{agent}host")
    g.add_argument("--host-cpu", type=float, default=0.25)
    g.add_argument(
        "--containers", type=int, default=0, help="containers per host (implies --hosts): 2100-2104"
    )
    g.add_argument(
        "--services",
        default="apache,nginx,redis",
        help="container names are <service>.<slot>.<task>",
    )
    g.add_argument(
        "--container-cpu",
        type=float,
        default=0.1,
        help="container CPU utilisation (fraction of one CPU)",
    )
    g.add_argument(
        "--container-bytes",
        type=float,
        default=100000.0,
        help="container network bytes/s in (out is twice this)",
    )
    g.add_argument(
        "--container-flows",
        action="store_true",
        help="flows run between the containers' MACs (for host:macsource:vir_host_name)",
    )
    g.add_argument(
        "--flow",
        action="append",
        default=[],
        metavar="SPEC",
        help="add an exact flow to agent 0, e.g. 'src=203.0.113.9,dst=10.2.0.5,"
        "proto=udp,sport=53,dport=4444,size=1500,pps=50000,in=1,out=2' "
        "(repeatable; agent=N picks another agent)",
    )
    g.add_argument(
        "--discards", type=float, default=0.0, help="discard samples (0:5) per second per agent"
    )
    g.add_argument("--seed", type=int, default=1)
    r = p.add_argument_group("pcap replay")
    r.add_argument("--pcap", help="replay this sFlow pcap instead of synthetic traffic")
    r.add_argument(
        "--speed",
        type=float,
        default=1.0,
        help="replay at X times the captured pace; 0 = as fast as possible",
    )
    r.add_argument("--loop", type=int, default=1, help="replay the capture this many times")
    return p


def scenario_from_args(a: argparse.Namespace) -> Scenario:
    samples_per_datagram = max(1, a.samples_per_datagram)
    if a.datagram_rate:
        total = a.datagram_rate * samples_per_datagram
    else:
        total = 100.0 if a.rate is None else a.rate
    agents = max(1, a.agents)
    return Scenario(
        agents=agents,
        agent_base=a.agent_base,
        ports=max(1, a.ports),
        flows=max(1, a.flows),
        zipf=a.zipf,
        samples_per_second=total / agents,
        sampling_rate=max(1, a.sampling_rate),
        sizes=_mix(a.sizes, int),
        protocols=_mix(a.protocols),
        ipv6_fraction=a.ipv6,
        vxlan_fraction=a.vxlan,
        src_net=a.src_net,
        dst_net=a.dst_net,
        src_net6=a.src_net6,
        dst_net6=a.dst_net6,
        vlans=tuple(int(v) for v in a.vlans.split(",")),
        tagged=a.tagged,
        expanded=a.expanded,
        polling_interval=a.polling,
        samples_per_datagram=samples_per_datagram,
        hosts=a.hosts or a.containers > 0,
        host_name=a.host_name,
        host_cpu=a.host_cpu,
        containers=a.containers,
        services=tuple(a.services.split(",")),
        container_cpu=a.container_cpu,
        container_bytes_in=a.container_bytes,
        container_bytes_out=2 * a.container_bytes,
        container_flows=a.container_flows,
        discards_per_second=a.discards,
        seed=a.seed,
        start_time=0.0,
    )


_FLOW_SPEC = {
    "src": ("src", str),
    "dst": ("dst", str),
    "proto": ("proto", str),
    "sport": ("sport", int),
    "dport": ("dport", int),
    "size": ("frame_size", int),
    "pps": ("frames_per_second", float),
    "in": ("in_port", int),
    "out": ("out_port", int),
    "vlan": ("vlan", int),
}


def add_flow_spec(gen: TrafficGenerator, spec: str) -> Flow:
    """'src=a,dst=b,proto=udp,dport=53,size=1500,pps=1000' -> gen.add_flow(...)."""
    kw, agent = {}, 0
    for item in spec.split(","):
        name, _, value = item.strip().partition("=")
        if name == "agent":
            agent = int(value)
        elif name in _FLOW_SPEC:
            key, cast = _FLOW_SPEC[name]
            kw[key] = cast(value)
        else:
            raise ValueError(f"unknown flow field {name!r} in {spec!r}")
    if "proto" in kw and kw["proto"].isdigit():
        kw["proto"] = int(kw["proto"])
    if "src" not in kw or "dst" not in kw:
        raise ValueError(f"flow {spec!r} needs src= and dst=")
    return gen.add_flow(agent, **kw)


def main(argv: list[str] | None = None) -> int:
    a = build_parser().parse_args(argv)
    try:
        if a.pcap:
            n = replay_pcap(a.pcap, a.host, a.port, a.speed, a.rate or 0.0, a.loop)
            print(
                f"flowrt-gen: sent {n} datagrams from {a.pcap} to {a.host}:{a.port}",
                file=sys.stderr,
            )
            return 0
        gen = TrafficGenerator(scenario_from_args(a))
        for spec in a.flow:
            add_flow_spec(gen, spec)
        n = run_live(gen, a.host, a.port, a.duration, max_datagrams=a.count)
        print(
            f"flowrt-gen: sent {n} datagrams ({gen.flow_samples()} flow samples) from "
            f"{len(gen.agents)} agents to {a.host}:{a.port}",
            file=sys.stderr,
        )
    except (OSError, ValueError) as exc:
        print(f"flowrt-gen: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
