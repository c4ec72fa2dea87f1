"""A Docker swarm for elb.js and swarmmetrics.js: Docker hosts (sFlow agents in the lab) whose
containers follow the Docker API test server's replica counts, with a service's load shared
evenly by its replicas (so scaling out lowers each container's utilisation, as in the blog)."""

from __future__ import annotations

import itertools
import string
import random

from .agents import DockerHost, Poller, Sender

FLOWRT_SFLOW = ("10.0.0.162", 6343)


class Swarm:
    def __init__(
        self,
        ns: str,
        hosts: dict[str, str],
        interval: float = 1.0,
        collector: tuple[str, int] = FLOWRT_SFLOW,
        seed: int = 1,
    ):
        """hosts: agent address -> host name (e.g. {'10.0.0.11': 'vx1host1'})."""
        self.hosts = [
            DockerHost(Sender(ns, addr, collector), addr, name) for addr, name in hosts.items()
        ]
        self.poller = Poller(self.hosts, interval)
        self.load: dict[str, tuple[float, float]] = {}  # service -> (cpu %, bytes/s) in total
        self.slots: dict[str, list[tuple[int, DockerHost, str]]] = {}
        self.rng = random.Random(seed)
        self._rr = itertools.cycle(range(len(self.hosts)))

    def start(self) -> "Swarm":
        self.poller.start()
        return self

    def stop(self) -> None:
        self.poller.stop()
        for h in self.hosts:
            h.sender.close()

    def _task(self) -> str:
        return "".join(self.rng.choice(string.ascii_lowercase + string.digits) for _ in range(25))

    def set_replicas(self, service: str, n: int) -> None:
        """Start or stop containers of the service (Docker's scheduler doing an update)."""
        with self.poller.lock:
            slots = self.slots.setdefault(service, [])
            while len(slots) < n:
                slot = len(slots) + 1
                host = self.hosts[next(self._rr)]
                name = f"{service}.{slot}.{self._task()}"
                host.add(name)
                slots.append((slot, host, name))
            while len(slots) > n:
                _, host, name = slots.pop()
                host.remove(name)
            self._spread(service)

    def set_load(self, service: str, cpu: float, bytes_per_second: float) -> None:
        """Total load of a service: cpu in percent of one CPU, network bytes/s (half in, half
        out), shared evenly by its running containers."""
        with self.poller.lock:
            self.load[service] = (cpu, bytes_per_second)
            self._spread(service)

    def _spread(self, service: str) -> None:
        slots = self.slots.get(service, [])
        cpu, nbytes = self.load.get(service, (0.0, 0.0))
        for _, host, name in slots:
            c = host.containers[name]
            c.cpu = cpu / len(slots)
            c.bytes_in = c.bytes_out = nbytes / len(slots) / 2

    def replicas(self, service: str) -> int:
        return len(self.slots.get(service, []))

    def per_container(self, service: str) -> tuple[float, float, float]:
        """(cpu %, bytes in/s, bytes out/s) of each of the service's containers."""
        slots = self.slots.get(service, [])
        cpu, nbytes = self.load.get(service, (0.0, 0.0))
        n = len(slots) or 1
        return cpu / n, nbytes / n / 2, nbytes / n / 2
