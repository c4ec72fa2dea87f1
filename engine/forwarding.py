"""sFlow forwarding (``engine.subsystems["forwarding"]``): re-send every received datagram,
unchanged, to other collectors (REST /forwarding/{name}/json, JS setForward/clearForward).

A definition is ``{"address": ip, "port": 6343, "agents": [ip, ...]}``; ``agents`` (optional)
keeps only datagrams whose sFlow agent address (datagram header) is listed. Sending uses one
non-blocking UDP socket per address family: a full socket buffer (EAGAIN/ENOBUFS) or any other
send error counts a drop for that definition instead of stalling the sample path. With no
definition, no datagram handler is registered, so collection pays nothing.
"""

from __future__ import annotations

import socket

from jsapi.registry import js_global

from . import log
from .fanout import fronted, gather, replicate
from .flows.spec import check_name
from .udp_sockets import FamilySockets, destination_ip

DEFAULT_PORT = 6343

# sFlow v2, v4 and v5 all start: version, agent address type (1 IPv4, 2 IPv6), agent address
_AGENT_BYTES = {1: 4, 2: 16}


def agent_address(data: bytes) -> bytes | None:
    """The packed agent address of an sFlow v2/v4/v5 datagram (None when not one)."""
    if len(data) < 12 or data[0] or data[1] or data[2] or data[3] not in (2, 4, 5):
        return None
    if data[4] or data[5] or data[6]:
        return None
    n = _AGENT_BYTES.get(data[7])
    if n is None or len(data) < 8 + n:
        return None
    return bytes(data[8 : 8 + n])


class Forward:
    """One forwarding definition and its counters."""

    __slots__ = (
        "name",
        "address",
        "port",
        "agents",
        "family",
        "dest",
        "agent_set",
        "datagrams",
        "bytes",
        "drops",
    )

    def __init__(self, name: str, spec):
        if not isinstance(spec, dict):
            raise ValueError("forwarding must be a JSON object")
        unknown = set(spec) - {"address", "port", "agents"}
        if unknown:
            raise ValueError(f"unknown forwarding field(s): {', '.join(sorted(unknown))}")
        ip = destination_ip(spec.get("address"), "address")
        port = spec.get("port")
        if port is None:
            port = DEFAULT_PORT
        elif isinstance(port, str) and port.strip().isdigit():
            port = int(port)
        if not isinstance(port, int) or isinstance(port, bool) or not 1 <= port <= 65535:
            raise ValueError(f"port must be a number from 1 to 65535, not {spec.get('port')!r}")
        agents = spec.get("agents")
        if agents is not None:
            if not isinstance(agents, list):
                raise ValueError("agents must be a list of IP addresses")
            parsed = [destination_ip(a, "agent") for a in agents]
            self.agents: list[str] | None = [str(a) for a in parsed]
            self.agent_set: frozenset | None = frozenset(a.packed for a in parsed)
        else:
            self.agents = None
            self.agent_set = None
        self.name = name
        self.address = str(ip)
        self.port = port
        self.family = socket.AF_INET if ip.version == 4 else socket.AF_INET6
        self.dest = (self.address, port)
        self.datagrams = self.bytes = self.drops = 0

    def spec(self) -> dict:
        """The definition (without counters), as set_forward takes it."""
        out = {"address": self.address, "port": self.port}
        if self.agents is not None:
            out["agents"] = list(self.agents)
        return out

    def as_json(self) -> dict:
        out = self.spec()
        out["datagrams"] = self.datagrams
        out["bytes"] = self.bytes
        out["drops"] = self.drops
        return out


class Forwarding:
    def __init__(self, engine):
        self.engine = engine
        self.forwards: dict[str, Forward] = {}
        self._targets: tuple = ()  # (Forward, socket) pairs the handler walks
        self._sockets = FamilySockets()
        self._errors_logged = 0

    # -- definitions ---------------------------------------------------------------------------
    def set_forward(self, name: str, spec) -> None:
        """Define or replace forwarding ``name``; ValueError says what is wrong with spec."""
        check_name(name)
        fwd = Forward(name, spec)
        old = self.forwards.get(name)
        if old is not None and (old.dest, old.agents) == (fwd.dest, fwd.agents):
            fwd.datagrams, fwd.bytes, fwd.drops = old.datagrams, old.bytes, old.drops
        self.forwards[name] = fwd
        self._changed()
        replicate(self.engine, "forwarding", "set_forward", name, spec)

    def clear_forward(self, name: str) -> bool:
        if self.forwards.pop(name, None) is None:
            return False
        self._changed()
        replicate(self.engine, "forwarding", "clear_forward", name)
        return True

    def replica_state(self) -> list:
        """The calls that give a (re)started worker these definitions (docs/ingest.md)."""
        return [("set_forward", (n, f.spec()), {}) for n, f in self.forwards.items()]

    def get_forward(self, name: str):
        if name not in self.forwards:
            return None
        return self.forwards_json().get(name)

    def forwards_json(self) -> dict:
        """Every definition with its counters, summed over the processes that forward (with
        workers, each forwards what it receives)."""
        out = {n: f.as_json() for n, f in self.forwards.items()}
        if fronted(self.engine):
            for n in out:
                out[n].update(datagrams=0, bytes=0, drops=0)
            for part in gather(self.engine, "forwarding", self, "counters_partial"):
                for n, counts in part.items():
                    if n in out:
                        for field, value in zip(("datagrams", "bytes", "drops"), counts):
                            out[n][field] += value
        return out

    def counters_partial(self) -> dict:
        return {n: (f.datagrams, f.bytes, f.drops) for n, f in self.forwards.items()}

    def _changed(self) -> None:
        """Rebuild the handler's target tuple; on the datagram path only while defined."""
        self._sockets.keep(f.family for f in self.forwards.values())
        self._targets = tuple((f, self._sockets.get(f.family)) for f in self.forwards.values())
        self.engine.use_handler("datagram", self.on_datagram, bool(self._targets))

    # -- the per-datagram path -----------------------------------------------------------------
    def on_datagram(self, data: bytes, src: str, now: float) -> None:
        agent = False  # not read yet: only definitions with an agents list need it
        for fwd, sock in self._targets:
            agent_set = fwd.agent_set
            if agent_set is not None:
                if agent is False:
                    agent = agent_address(data)
                if agent not in agent_set:
                    continue
            try:
                sock.sendto(data, fwd.dest)
            except OSError as exc:  # EAGAIN/ENOBUFS (buffer full), unreachable, ...
                fwd.drops += 1
                if self._errors_logged < 10:
                    self._errors_logged += 1
                    log.fine(f"forwarding {fwd.name} to {fwd.dest}: {exc}")
                continue
            fwd.datagrams += 1
            fwd.bytes += len(data)

    # -- lifecycle -----------------------------------------------------------------------------
    async def stop(self) -> None:
        self.forwards.clear()
        self._changed()


def attach(engine) -> Forwarding:
    return Forwarding(engine)


# -- JavaScript globals (spec 3.7) ---------------------------------------------------------------
@js_global("setForward", requires=("forwarding",), loop=True)
def _set_forward(script, name, address, port=None, agents=None):
    spec = {"address": address}
    if port is not None:
        spec["port"] = port
    if agents is not None:
        spec["agents"] = agents
    script.engine.subsystems["forwarding"].set_forward(str(name), spec)
    return True


@js_global("clearForward", requires=("forwarding",), loop=True)
def _clear_forward(script, name):
    return script.engine.subsystems["forwarding"].clear_forward(str(name))
