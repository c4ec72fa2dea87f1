"""Host location: where each MAC address is seen entering the network, learned from flow
samples taken on edge ports (ports not on a topology link), with the IPv4/IPv6 source
addresses it used. One flow sample in 16 is looked at: enough to find every active host
within seconds while keeping the per-sample cost to a counter test. Learning starts when a
topology is installed or a location is first asked for, so engines that never use it pay
nothing on the sample path."""

from __future__ import annotations

import time

from ..fanout import gather, replicate
from ..sflow import attributes as _attributes

SAMPLE_EVERY = 16  # look at 1 flow sample in this many
TIMEOUT = 1800.0  # seconds a location is kept after its last sample
MAX_MACS = 100_000  # bound on learned MACs; beyond it new MACs wait for a sweep
SWEEP_EVERY = 60.0
# what on_flow_sample reads: decoding only these keeps the 1-in-16 look cheap
LOCATE_KEYS = frozenset({"macsource", "vlansource", "vlan", "ipsource", "ip6source"})


class HostLocator:
    __slots__ = ("topology", "engine", "started", "macs", "ips", "ip6s", "_n", "_next_sweep")

    def __init__(self, topology, engine=None):
        self.topology = topology
        self.engine = engine
        self.started = False
        self.macs: dict[str, dict[tuple[str, str], dict]] = {}
        self.ips: dict[str, str] = {}  # IPv4 source -> MAC last seen with it
        self.ip6s: dict[str, str] = {}
        self._n = 0
        self._next_sweep = 0.0

    def start(self) -> None:
        """Join the engine's flow-sample handlers (once); with workers, in every worker."""
        if not self.started and self.engine is not None and hasattr(self.engine, "use_handler"):
            self.engine.use_handler("flow", self.on_flow_sample)
            self.started = True
            replicate(self.engine, "topology", "learn_hosts")

    # -- sample path -------------------------------------------------------------------------
    def on_flow_sample(self, sample, now: float) -> None:
        self._n += 1
        if self._n % SAMPLE_EVERY:
            return
        if sample.input_format != 0 or not sample.input or sample.input >= 0x3FFFFFFF:
            return
        # shared: reuse the sample's full dict if another consumer already built it
        attrs = _attributes.flow_attributes_subset(sample, LOCATE_KEYS, True)
        mac = attrs.get("macsource")
        if not mac:
            return
        agent, ifindex = sample.agent, str(sample.input)
        if self.topology.link_name_of(agent, ifindex) is not None:
            return  # inter-switch link: not where the host is
        if now >= self._next_sweep:
            self.sweep(now)
        where = self.macs.get(mac)
        if where is None:
            if len(self.macs) >= MAX_MACS:
                return
            where = self.macs[mac] = {}
        rec = where.get((agent, ifindex))
        if rec is None:
            rec = where[(agent, ifindex)] = {}
        rec["last"] = now
        vlan = attrs.get("vlansource", attrs.get("vlan"))
        if vlan is not None:
            rec["vlan"] = vlan
        ip = attrs.get("ipsource")
        if ip is not None:
            rec["ipaddress"] = ip
            self.ips[ip] = mac
        ip6 = attrs.get("ip6source")
        if ip6 is not None:
            rec["ip6address"] = ip6
            self.ip6s[ip6] = mac

    def sweep(self, now: float) -> None:
        self._next_sweep = now + SWEEP_EVERY
        limit = now - TIMEOUT
        for mac in list(self.macs):
            where = self.macs[mac]
            for key in [k for k, r in where.items() if r["last"] < limit]:
                del where[key]
            if not where:
                del self.macs[mac]
        for table in (self.ips, self.ip6s):
            for ip in [ip for ip, mac in table.items() if mac not in self.macs]:
                del table[ip]

    # -- queries ---------------------------------------------------------------------------
    # Locations are learned where the samples are: with workers, each worker knows the hosts
    # its agents saw; a query merges what they know (docs/ingest.md, "Workers").
    def _gather(self, method: str, *args) -> list:
        return gather(self.engine, "topology.locator", self, method, *args)

    def locate_mac(self, mac, now: float | None = None) -> list[dict]:
        self.start()
        now = time.time() if now is None else now
        mac = str(mac).replace(":", "").replace("-", "").upper()
        found = sorted(
            (item for part in self._gather("mac_partial", mac, now) for item in part),
            key=lambda item: (item[0], item[1]),
        )
        out = []
        for agent, ifindex, rec in found:
            loc = {"mac": mac, "agent": agent, "ifindex": ifindex}
            port = self.topology.interface_to_port(agent, ifindex)
            if port is not None:
                loc["node"], loc["port"] = port["node"], port["port"]
            for field in ("vlan", "ipaddress", "ip6address"):
                if field in rec:
                    loc[field] = rec[field]
            loc["lastSeen"] = int((now - rec["last"]) * 1000)
            out.append(loc)
        return out

    def mac_partial(self, mac: str, now: float) -> list:
        """[(agent, ifIndex, record)] where ``mac`` was seen within TIMEOUT."""
        return [
            (agent, ifindex, rec)
            for (agent, ifindex), rec in self.macs.get(mac, {}).items()
            if rec["last"] >= now - TIMEOUT
        ]

    def locate_ip(self, ip, v6: bool = False) -> list[dict]:
        self.start()
        seen = [p for p in self._gather("ip_partial", ip, v6) if p is not None]
        if not seen:
            return []
        mac = max(seen, key=lambda p: p[1])[0]  # the MAC the address was seen with last
        return self.locate_mac(mac)

    def ip_partial(self, ip, v6: bool):
        """(MAC last seen with the address, when) or None."""
        mac = (self.ip6s if v6 else self.ips).get(str(ip).lower() if v6 else str(ip))
        if not mac:
            return None
        return mac, max((r["last"] for r in self.macs.get(mac, {}).values()), default=0.0)

    def located_macs(self, agent=None, ifindex=None) -> list[str]:
        self.start()
        agent = None if agent in (None, "") else str(agent)
        ifindex = None if ifindex in (None, "") else str(ifindex)
        return sorted(
            {mac for part in self._gather("macs_partial", agent, ifindex) for mac in part}
        )

    def macs_partial(self, agent, ifindex) -> list[str]:
        return [
            mac
            for mac, where in self.macs.items()
            if any(
                (agent is None or a == agent) and (ifindex is None or i == ifindex)
                for a, i in where
            )
        ]
