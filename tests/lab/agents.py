"""sFlow agents of the lab: Docker hosts with containers (counters), and switches (flow samples),
sending real UDP from their own lab address to flowrt's sFlow port inside the lab.

Counters are exact: each poll advances sysUpTime by exactly the polling interval and every
counter by rate x interval, so flowrt's rates (computed over the agents' uptime) are the
configured values whatever the scheduling jitter of this machine.
"""

from __future__ import annotations

import socket
import threading
import time
import uuid as uuidlib

from engine.sflow import encode, packets
from engine.sflow.encode import COUNTER_RECORDS, counter_sample, datagram, record

from .netns import in_netns

VCPU_RUNNING, VCPU_SHUTOFF = 1, 5


class Sender:
    """A UDP socket bound to a lab address, sending to flowrt's sFlow port."""

    def __init__(self, ns: str, source: str, collector: tuple[str, int]):
        def make():
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind((source, 0))
            return s

        self.sock = in_netns(ns, make)
        self.collector = collector
        self.sent = 0

    def send(self, data: bytes) -> None:
        self.sock.sendto(data, self.collector)
        self.sent += 1

    def close(self) -> None:
        self.sock.close()

    stop = close


class Container:
    __slots__ = (
        "index",
        "name",
        "uuid",
        "cpu",
        "bytes_in",
        "bytes_out",
        "cpu_ms",
        "octets_in",
        "octets_out",
        "seq",
        "state",
    )

    def __init__(
        self, index: int, name: str, cpu: float = 0.0, bytes_in: float = 0.0, bytes_out: float = 0.0
    ):
        self.index, self.name = index, name
        self.uuid = uuidlib.uuid4().bytes
        self.cpu = cpu  # percent of one CPU
        self.bytes_in = bytes_in  # bytes per second
        self.bytes_out = bytes_out
        self.cpu_ms = self.octets_in = self.octets_out = 0.0
        self.seq = 0
        self.state = VCPU_RUNNING


class DockerHost:
    """A Docker host as Host sFlow sees it: host counters (2000, 2003, 2100) for data source
    2.1 and, per container, 2000/2002/2101/2102/2104 for data source 3.<index>."""

    def __init__(
        self,
        sender: Sender,
        agent: str,
        host_name: str,
        load_one: float = 0.5,
        steal: int = 0,
        cpus: int = 4,
    ):
        self.sender, self.agent, self.host_name = sender, agent, host_name
        self.load_one, self.steal, self.cpus = load_one, steal, cpus
        self.host_uuid = uuidlib.uuid4().bytes
        self.containers: dict[str, Container] = {}
        self.gone: list[Container] = []
        self.uptime = 0  # ms, advanced by exactly the interval per poll
        self.seq = 0
        self.host_seq = 0
        self.cpu_user = self.cpu_idle = self.cpu_steal = 0
        self.next_index = 1

    def add(self, name: str, **rates) -> Container:
        c = Container(self.next_index, name, **rates)
        self.next_index += 1
        self.containers[name] = c
        return c

    def remove(self, name: str) -> None:
        """The container stops: its next poll reports it shut off, then it is gone."""
        c = self.containers.pop(name)
        c.state = VCPU_SHUTOFF
        self.gone.append(c)

    def poll(self, interval_ms: int) -> None:
        self.uptime += interval_ms
        dt = interval_ms / 1000.0
        samples = [self._host_sample(interval_ms)]
        for c in list(self.containers.values()):
            c.cpu_ms += c.cpu * 10.0 * dt  # percent of one CPU -> ms per second
            c.octets_in += c.bytes_in * dt
            c.octets_out += c.bytes_out * dt
            samples.append(self._container_sample(c))
        for c in self.gone:
            samples.append(self._container_sample(c))
        self.gone.clear()
        for i in range(0, len(samples), 6):  # a few samples per datagram, under the MTU
            self.seq += 1
            self.sender.send(datagram(self.agent, self.seq, self.uptime, samples[i : i + 6]))

    def _host_sample(self, interval_ms: int) -> bytes:
        # CPU times advance by fixed shares of cpus x interval: steal% = steal exactly
        total = self.cpus * interval_ms
        steal = total * self.steal // 100
        user = total // 4
        self.cpu_steal += steal
        self.cpu_user += user
        self.cpu_idle += total - steal - user
        self.host_seq += 1
        running = sum(1 for c in self.containers.values() if c.state == VCPU_RUNNING)
        recs = [
            record(
                "0:2000",
                COUNTER_RECORDS["0:2000"](
                    {
                        "hostname": self.host_name,
                        "UUID": self.host_uuid,
                        "machine_type": 3,
                        "os_name": 2,
                        "os_release": "4.4.0-21-generic",
                    }
                ),
            ),
            record(
                "0:2003",
                COUNTER_RECORDS["0:2003"](
                    {
                        "cpu_load_one": self.load_one,
                        "cpu_load_five": self.load_one,
                        "cpu_load_fifteen": self.load_one,
                        "cpu_proc_run": 1,
                        "cpu_proc_total": 200,
                        "cpu_num": self.cpus,
                        "cpu_speed": 2400,
                        "cpu_uptime": self.uptime // 1000,
                        "cpu_user": self.cpu_user,
                        "cpu_idle": self.cpu_idle,
                        "cpu_steal": self.cpu_steal,
                    }
                ),
            ),
            record(
                "0:2100",
                COUNTER_RECORDS["0:2100"](
                    {
                        "vnode_mhz": 2400,
                        "vnode_cpus": self.cpus,
                        "vnode_memory": 16 << 30,
                        "vnode_memory_free": 8 << 30,
                        "vnode_num_domains": running,
                    }
                ),
            ),
        ]
        return counter_sample(self.host_seq, 2, 1, recs)

    def _container_sample(self, c: Container) -> bytes:
        c.seq += 1
        recs = [
            record(
                "0:2000",
                COUNTER_RECORDS["0:2000"](
                    {
                        "hostname": c.name,
                        "UUID": c.uuid,
                        "machine_type": 3,
                        "os_name": 2,
                        "os_release": "4.4.0-21-generic",
                    }
                ),
            ),
            record("0:2002", encode.u32(2) + encode.u32(1)),  # parent: host data source 2.1
            record(
                "0:2101",
                COUNTER_RECORDS["0:2101"](
                    {"vcpu_state": c.state, "vcpu_cpu_mS": int(c.cpu_ms), "vcpu_cpuCount": 1}
                ),
            ),
            record(
                "0:2102",
                COUNTER_RECORDS["0:2102"]({"vmem_memory": 64 << 20, "vmem_maxMemory": 1 << 30}),
            ),
            record(
                "0:2104",
                COUNTER_RECORDS["0:2104"](
                    {
                        "vnio_bytes_in": int(c.octets_in),
                        "vnio_pkts_in": int(c.octets_in) // 1000,
                        "vnio_bytes_out": int(c.octets_out),
                        "vnio_pkts_out": int(c.octets_out) // 1000,
                    }
                ),
            ),
        ]
        return counter_sample(c.seq, 3, c.index, recs)


class Poller(threading.Thread):
    """Polls hosts every `interval` seconds of real time until stopped."""

    def __init__(self, hosts: list[DockerHost], interval: float = 1.0):
        super().__init__(name="lab-poller", daemon=True)
        self.hosts, self.interval = hosts, interval
        self.lock = threading.Lock()  # held while polling: callers change containers under it
        self.halt = threading.Event()
        self.polls = 0

    def run(self) -> None:
        ms = int(self.interval * 1000)
        while not self.halt.is_set():
            with self.lock:
                for h in self.hosts:
                    h.poll(ms)
                self.polls += 1
            self.halt.wait(self.interval)

    def stop(self) -> None:
        self.halt.set()
        self.join(5)


def flow_sample_bytes(
    seq: int,
    src: str,
    dst: str,
    *,
    proto: int = 6,
    sport: int = 40000,
    dport: int = 443,
    size: int = 1000,
    rate: int = 100,
    inport: int = 1,
    outport: int = 2,
) -> bytes:
    """A flow sample with a sampled Ethernet/IPv4 header (record 0:1)."""
    frame = packets.frame("0242ac110002", "0242ac110003", src, dst, proto, size, sport, dport)
    header = frame[:128]
    hdr = (
        encode.u32(1)
        + encode.u32(size)
        + encode.u32(packets.FCS_LEN)
        + encode.u32(len(header))
        + encode.pad(header)
    )
    return encode.flow_sample(
        seq, 0, inport, rate, seq * rate, 0, inport, outport, [encode.record("0:1", hdr)]
    )


class Switch:
    """A switch agent sending flow samples of the given flows."""

    def __init__(self, sender: Sender, agent: str):
        self.sender, self.agent = sender, agent
        self.seq = 0
        self.sample_seq = 0
        self.uptime = 1000

    def send_flows(self, flows: list[dict], dt_ms: int = 1000) -> None:
        """flows: dicts of flow_sample_bytes keyword arguments plus src, dst and `samples`
        (how many samples of it to send now)."""
        self.uptime += dt_ms
        samples = []
        for f in flows:
            f = dict(f)
            n = f.pop("samples", 1)
            for _ in range(n):
                self.sample_seq += 1
                samples.append(flow_sample_bytes(self.sample_seq, **f))
        for i in range(0, len(samples), 8):
            self.seq += 1
            self.sender.send(datagram(self.agent, self.seq, self.uptime, samples[i : i + 8]))


class Paced(threading.Thread):
    """Calls tick(now) once per `period` seconds on an absolute schedule: when the machine is
    busy, late ticks are caught up, so the average rate of whatever tick() sends stays exact."""

    def __init__(self, period: float, tick):
        super().__init__(name="lab-paced", daemon=True)
        self.period, self.tick = period, tick
        self.halt = threading.Event()
        self.first: float | None = None
        self.ticks = 0

    def run(self) -> None:
        self.first = time.time()
        while not self.halt.is_set():
            now = time.time()
            due = int((now - self.first) / self.period) + 1
            while self.ticks < due and not self.halt.is_set():
                self.tick(now)
                self.ticks += 1
            self.halt.wait(max(0.0, self.first + self.ticks * self.period - time.time()))

    def stop(self) -> None:
        self.halt.set()
        self.join(5)
