"""The BGP subsystem: listener, neighbors, route pushing, traffic sources and the queries that the
REST API (engine/rest/bgp.py) and the JavaScript globals (bgp*) share."""

from __future__ import annotations

import asyncio
import re
import socket
import time
from typing import Any, Callable

from .. import log
from ..errors import UnknownName
from ..fanout import gather, replicate
from ..sflow import attributes as _attributes
from . import message as m
from .flowkeys import BGP_KEYS, bgp_attributes, fill
from .rib import NeighborState, PushedRoute, normalize_address, parse_prefix
from .session import DEFAULT_HOLD, Session, close_soon
from .traffic import DST, SRC, Source, prefix_values, top_prefixes

WILDCARD_AGENTS = {"ALL", "EDGE", "CORE", "TOPOLOGY", "*"}
# wildcard sources that follow the installed topology: the Topology method giving the
# (agent, data source) Selection whose samples they account (docs/bgp.md "Sources")
TOPOLOGY_SCOPES = {
    "EDGE": "edge_selection",
    "CORE": "core_selection",
    "TOPOLOGY": "topology_selection",
}
ADDRESS_KEYS = frozenset({"ipsource", "ipdestination", "ip6source", "ip6destination"})
MAC_KEYS = frozenset({"macsource", "macdestination"})
_MAC = re.compile(r"[0-9A-F]{12}")
_MAC_SEPARATORS = re.compile(r"[:.\-]")
DIRECTIONS = {
    "destination": DST,
    "egress": DST,
    "dst": DST,
    "source": SRC,
    "ingress": SRC,
    "src": SRC,
}


STOP_GRACE = 0.3  # seconds the Cease NOTIFICATIONs of an engine stop get to leave

APPLICABLE_MAX = 10_000  # agents, and data sources per agent, in the scope cache


class _NoStore:
    names_version = 0


class BgpSpeaker:
    def __init__(self, engine):
        self.engine = engine
        props = engine.props
        self.enabled = (props.get_str("bgp.start", "no") or "no").lower() in ("yes", "true", "1")
        # A worker (docs/ingest.md, "Workers") keeps a replica of the front's neighbors,
        # tables and sources for the bgp* keys and prefix traffic of its samples; the front
        # runs the sessions.
        self.replica = getattr(engine, "role", None) == "worker"
        self.port = int(props.get_str("bgp.port", "1179") or 1179)
        self.hostname = props.get_str("bgp.hostname", "") or None
        self.hold_time = int(props.get_str("bgp.holdtime", str(DEFAULT_HOLD)) or DEFAULT_HOLD)
        self.neighbors: dict[str, NeighborState] = {}
        self.sources: dict[str, list[Source]] = {}
        self.wildcard_sources: list[Source] = []
        self.intern = m.Interner()
        self.server = None
        self.listen_port = 0
        self.unknown_connections = 0
        self.transports: set = set()  # every accepted connection, until it is lost
        self.refusals = log.RateLimited(60.0)  # one log line per refused peer a minute
        self._warned_disabled = False
        self._remove_enricher = None
        # bgpSetNextHops: next hop -> MAC as given (canonical text), and the per-sample form
        # MAC -> tuple of next hops (one member may have an IPv4 and an IPv6 next hop)
        self.next_hops: dict[str, str] = {}
        self.mac_nexthops: dict[str, tuple] = {}
        # on_flow_sample joins engine.flow_handlers only while some source is configured
        # (_sources_changed), so an engine without BGP accounting pays nothing per sample;
        # it decodes only the attributes it reads (None: the sample's full dict)
        self._reads: frozenset | None = None
        # EDGE / CORE / TOPOLOGY sources: their Source.scope is the topology's cached
        # Selection, taken again only when the topology is set or the store's learned
        # ifname/host_name mapping changes (the two version numbers the topology keys its
        # own cache by), so a sample costs two integer compares and one Selection.has
        self._topo: Any = None  # the topology subsystem (attached after us)
        self._store: Any = _NoStore  # the metric store, for names_version
        self._scoped = False  # some wildcard source follows the topology
        self._filtering = False  # ... and a topology is installed
        self._topo_version = self._names_version = -1
        # agent -> data source -> the wildcard sources accounting its samples, filled as
        # samples arrive and emptied with every refresh: two dict lookups per sample
        self._applicable: dict[str, dict[str, list]] = {}

    # -- lifecycle ----------------------------------------------------------------------------
    async def start(self) -> None:
        self._wire_enricher()
        if not self.enabled or self.replica:
            return
        loop = asyncio.get_running_loop()
        sock = _listen_socket(self.hostname, self.port)
        self.server = await loop.create_server(self._accept, sock=sock)
        self.listen_port = sock.getsockname()[1]
        log.info(f"Listening, BGP port {self.listen_port}")

    def _wire_enricher(self) -> None:
        """bgp* keys are computed only while an active flow definition asks for one of them."""
        flows = self.engine.subsystems.get("flows")
        add = getattr(flows, "add_enricher", None)
        if add is not None and self._remove_enricher is None:
            self._remove_enricher = add(self.enrich, set(BGP_KEYS))

    def enrich(self, sample, attrs: dict) -> None:
        """Flow-engine enricher: add bgp* keys the agent did not send itself (an agent's
        extended_gateway data describes its actual forwarding decision, so it wins)."""
        if sample is None:
            return
        srcs = self.sources.get(sample.agent) or self.wildcard_sources
        if srcs:
            fill(srcs[0].router4, srcs[0].router6, attrs, attrs, self.mac_nexthops)

    # what fill() reads: the addresses, the MACs (to pick among a prefix's paths after
    # bgpSetNextHops), and the bgp* keys an agent may have sent itself (they win, and their
    # presence decides how the table's keys are merged)
    enrich.reads = ADDRESS_KEYS | MAC_KEYS | frozenset(BGP_KEYS)  # type: ignore[attr-defined]

    async def stop(self) -> None:
        """Cease every session and close the listener; within STOP_GRACE seconds, whatever
        the peers do (a router that stopped reading cannot hold the stop)."""
        if self._remove_enricher is not None:
            self._remove_enricher()
            self._remove_enricher = None
        if self.server is not None:
            self.server.close()
        for n in self.neighbors.values():
            if n.session is not None:
                n.session.close("stopping")
        if self.transports:
            await asyncio.sleep(STOP_GRACE)  # time to flush the Cease NOTIFICATIONs
            for transport in list(self.transports):
                transport.abort()
        if self.server is not None:
            try:
                await asyncio.wait_for(self.server.wait_closed(), STOP_GRACE)
            except asyncio.TimeoutError:
                pass
            self.server = None

    def _accept(self):
        return _Acceptor(self)

    def attach_session(self, transport, peer: str, port: int):
        """A TCP connection arrived: hand it to its neighbor's new Session, or refuse it."""
        try:
            address = normalize_address(peer)
        except ValueError:
            address = peer
        n = self.neighbors.get(address)
        if n is None:
            # RFC 4486 section 4: a connection the speaker disallows (the peer is not
            # configured) gets Cease / Connection Rejected before it is closed
            self.unknown_connections += 1
            self.refusals(
                address,
                log.warning,
                f"BGP connection from {address} refused: not a configured neighbor "
                f"(notification {m.ERR_CEASE}/{m.CEASE_REJECTED})",
            )
            transport.write(m.notification(m.ERR_CEASE, m.CEASE_REJECTED))
            close_soon(transport)
            return None
        old = n.session
        if old is not None and not old.closed:
            # the router only reconnects when it has given up on the old connection
            old.close(
                "replaced by a new connection", send=m.notification(m.ERR_CEASE, m.CEASE_COLLISION)
            )
        s = Session(self, n, port)
        n.session = s
        s.connection_made(transport)
        return s

    def families_for(self, n: NeighborState) -> set:
        fams = set()
        if n.options.get("ipv4", True):
            fams.add((m.AFI_IPV4, m.SAFI_UNICAST))
        if n.options.get("ipv6", True):
            fams.add((m.AFI_IPV6, m.SAFI_UNICAST))
        if n.options.get("flowspec"):
            fams.add((m.AFI_IPV4, m.SAFI_FLOWSPEC))
        if n.options.get("flowspec6"):
            fams.add((m.AFI_IPV6, m.SAFI_FLOWSPEC))
        return fams

    def add_path_families(self, n: NeighborState) -> set:
        """Families we offer to receive with ADD-PATH: the unicast ones, with multipath:true."""
        if not n.options.get("multipath"):
            return set()
        return {f for f in self.families_for(n) if f[1] == m.SAFI_UNICAST}

    # -- session callbacks --------------------------------------------------------------------
    def handle_update(self, session: Session, body: bytes) -> None:
        n = session.neighbor
        self._apply_update(n, body, session.as4, session.add_path_rx)
        replicate(
            self.engine, "bgp", "replica_update", n.address, body, session.as4, session.add_path_rx
        )

    def replica_update(self, address: str, body: bytes, as4: bool, add_path_rx) -> None:
        """A worker: the UPDATE the front's session just applied, applied to our copy."""
        n = self.neighbors.get(address)
        if n is not None:
            self._apply_update(n, body, as4, add_path_rx)

    def replica_clear(self, address: str) -> None:
        n = self.neighbors.get(address)
        if n is not None:
            n.rib4.clear()
            n.rib6.clear()

    def opened(self, n: NeighborState, v4: bool, v6: bool, peer_as: int, peer_id) -> None:
        """A session opened: its tables keep every path (ADD-PATH receive) or one per prefix;
        the peer's AS and id (the bgpas key)."""
        n.rib4.set_multipath(v4)
        n.rib6.set_multipath(v6)
        n.peer_as, n.peer_id = peer_as, peer_id
        replicate(self.engine, "bgp", "replica_opened", n.address, v4, v6, peer_as, peer_id)

    def replica_opened(self, address: str, v4: bool, v6: bool, peer_as: int, peer_id) -> None:
        n = self.neighbors.get(address)
        if n is not None:
            self.opened(n, v4, v6, peer_as, peer_id)

    def replica_peer(self, address: str, peer_as: int, peer_id) -> None:
        n = self.neighbors.get(address)
        if n is not None:
            n.peer_as, n.peer_id = peer_as, peer_id

    def replica_rib(self, address: str, rib4, rib6) -> None:
        """A (re)started worker: the front's tables of a neighbor (Rib.snapshot())."""
        n = self.neighbors.get(address)
        if n is not None:
            n.rib4.restore(rib4)
            n.rib6.restore(rib6)

    def replica_state(self) -> list:
        """The calls that give a (re)started worker the neighbors, their tables, the next hops
        and the sources (docs/ingest.md)."""
        out: list[tuple] = []
        for n in self.neighbors.values():
            out.append(("add_neighbor", (n.address, n.local_as, n.router_id, n.options), {}))
            out.append(("replica_peer", (n.address, n.peer_as, n.peer_id), {}))
            out.append(("replica_rib", (n.address, n.rib4.snapshot(), n.rib6.snapshot()), {}))
        if self.next_hops:
            out.append(("set_next_hops", (dict(self.next_hops),), {}))
        for src in self.all_sources():
            out.append(
                (
                    "add_source",
                    (
                        src.agent,
                        {"router": _address_of(src.router4), "router6": _address_of(src.router6)},
                        src.t,
                        src.value,
                    ),
                    {},
                )
            )
        return out

    def _apply_update(self, n: NeighborState, body: bytes, as4: bool, add_path_rx) -> None:
        u = m.decode_update(body, as4, self.intern, add_path_rx)
        if u.errors and not self.replica:
            n.malformed_updates += 1
            if n.malformed_updates <= 10 or n.malformed_updates % 1000 == 0:  # a broken peer
                log.warning(
                    f"BGP malformed UPDATE #{n.malformed_updates} from {n.address}: "
                    f"{'; '.join(u.errors)}"
                    + (" (treat-as-withdraw)" if u.treat_as_withdraw else "")
                )
        if u.withdrawn4:
            n.rib4.withdraw(u.withdrawn4)
        if u.withdrawn6:
            n.rib6.withdraw(u.withdrawn6)
        if u.treat_as_withdraw:
            if u.nlri4:
                n.rib4.withdraw(u.nlri4)
            if u.nlri4_mp:
                n.rib4.withdraw(u.nlri4_mp)
            if u.nlri6:
                n.rib6.withdraw(u.nlri6)
        else:
            # each family with its own attribute set: they differ in the next hop when an
            # UPDATE carries both NEXT_HOP routes and MP_REACH_NLRI ones
            if u.attrs4 is not None:
                n.rib4.announce(u.nlri4, u.attrs4)
            if u.attrs4_mp is not None:
                n.rib4.announce(u.nlri4_mp, u.attrs4_mp)
            if u.attrs6 is not None:
                n.rib6.announce(u.nlri6, u.attrs6)

    def session_up(self, session: Session) -> None:
        n = session.neighbor
        self._callback(n.on_open, n)

    def session_down(self, session: Session, reason: str, was_established: bool) -> None:
        n = session.neighbor
        if n.session is session:
            n.session = None
        if was_established:
            log.info(f"BGP close {n.address} {reason}")
            n.rib4.clear()  # Adj-RIB-In dies with its session (a replacement starts empty)
            n.rib6.clear()
            replicate(self.engine, "bgp", "replica_clear", n.address)
            self._callback(n.on_close, n)

    def _callback(self, fn, n: NeighborState) -> None:
        if fn is None:
            return
        try:
            fn(n.address)
        except Exception as exc:
            log.warning(f"BGP callback for {n.address} failed: {exc}")

    def send_pushed(self, session: Session, afi: int, safi: int) -> None:
        n = session.neighbor
        if safi == m.SAFI_UNICAST:
            for r in n.pushed.values():
                if r.afi == afi:
                    self._send_route(session, r)
        elif safi == m.SAFI_FLOWSPEC:
            from .flowspec import send_flow

            for rule in n.flows.values():
                if rule.afi == afi:
                    send_flow(session, rule)
        session.send(m.end_of_rib(afi, safi))

    def _send_route(self, session: Session, r: PushedRoute, withdraw: bool = False) -> None:
        if (r.afi, m.SAFI_UNICAST) not in session.families or session.state != "established":
            return
        n = session.neighbor
        nlri = m.encode_prefix(r.packed, r.plen)
        if r.afi == m.AFI_IPV4:
            if withdraw:
                session.send(m.encode_update_v4(b"", [], [nlri]))
            else:
                attrs = m.encode_attrs(r.attrs, session.as4, session.ibgp, n.local_as)
                session.send(m.encode_update_v4(attrs, [nlri]))
        else:
            if withdraw:
                session.send(m.encode_mp_unreach(m.AFI_IPV6, m.SAFI_UNICAST, nlri))
            else:
                nh = socket.inet_pton(socket.AF_INET6, r.attrs.nexthop)
                if r.attrs.nexthop_ll:
                    nh += socket.inet_pton(socket.AF_INET6, r.attrs.nexthop_ll)
                mp = m.mp_reach_value(m.AFI_IPV6, m.SAFI_UNICAST, nh, nlri)
                attrs = m.encode_attrs(r.attrs, session.as4, session.ibgp, n.local_as, mp=mp)
                session.send(m.encode_update_v4(attrs, []))

    # -- neighbors (bgpAddNeighbor / bgpRemoveNeighbor) ---------------------------------------
    def add_neighbor(
        self,
        peer,
        local_as,
        router_id=None,
        options=None,
        on_open: Callable | None = None,
        on_close: Callable | None = None,
    ) -> bool:
        address = normalize_address(peer)
        asn = _as_number(local_as)
        if not 0 < asn <= 0xFFFFFFFF:
            raise ValueError(f"bad AS number {local_as}")
        if router_id not in (None, ""):
            socket.inet_aton(str(router_id))  # raises OSError for a bad id
            if str(router_id).count(".") != 3:
                raise ValueError(f"bad router id {router_id}")
        opts = _options(options)
        if not self.enabled and not self._warned_disabled and not self.replica:
            self._warned_disabled = True
            log.warning("bgpAddNeighbor: BGP is not running; set bgp.start=yes")
        old = self.neighbors.get(address)
        n = NeighborState(
            address,
            asn,
            str(router_id) if router_id not in (None, "") else None,
            opts,
            on_open,
            on_close,
        )
        if old is not None:  # reconfiguring keeps routes pushed so far, restarts the session
            n.pushed, n.flows = old.pushed, old.flows
            if old.session is not None:
                old.session.close("neighbor reconfigured")
            self._rebind_sources(old, n)
            _release(old)
        self.neighbors[address] = n
        # the callbacks are the front's (scripts run there)
        replicate(self.engine, "bgp", "add_neighbor", address, asn, router_id, options)
        return True

    def remove_neighbor(self, peer) -> bool:
        address = normalize_address(peer)
        n = self.neighbors.pop(address, None)
        if n is None:
            return False
        if n.session is not None:
            n.session.close("neighbor removed")
        self._rebind_sources(n, None)
        _release(n)
        replicate(self.engine, "bgp", "remove_neighbor", address)
        return True

    def neighbor(self, router) -> NeighborState | None:
        try:
            return self.neighbors.get(normalize_address(router))
        except ValueError:
            return None

    def _rebind_sources(self, old, new) -> None:
        for src in self.all_sources():
            if src.router4 is old:
                src.router4 = new
            if src.router6 is old:
                src.router6 = new

    # -- sources (bgpAddSource) ---------------------------------------------------------------
    def all_sources(self):
        for lst in self.sources.values():
            yield from lst
        yield from self.wildcard_sources

    def add_source(self, agent, router, t=None, value=None) -> bool:
        if isinstance(router, dict):
            r4, r6 = router.get("router"), router.get("router6")
        else:
            r4 = r6 = router
        n4 = self.neighbor(r4) if r4 else None
        n6 = self.neighbor(r6) if r6 else None
        if n4 is None and n6 is None:
            raise ValueError(f"no BGP neighbor {router}")
        t = 60.0 if t in (None, "") else float(t)
        if t <= 0:
            raise ValueError("t must be positive")
        value = str(value or "bytes")
        agent = str(agent).strip()
        if agent.upper() in WILDCARD_AGENTS:
            agent = agent.upper()
        src = Source(agent, n4, n6, t, value, time.time())
        if agent in WILDCARD_AGENTS:
            self.wildcard_sources = [s for s in self.wildcard_sources if s.agent != agent] + [src]
        else:
            agent = normalize_address(agent)
            src.agent = agent
            self.sources[agent] = [src]
        self._sources_changed()
        replicate(self.engine, "bgp", "add_source", agent, router, t, value)
        return True

    def remove_source(self, agent) -> bool:
        text = str(agent).strip()
        try:
            if text.upper() in WILDCARD_AGENTS:
                text = text.upper()
                before = len(self.wildcard_sources)
                self.wildcard_sources = [s for s in self.wildcard_sources if s.agent != text]
                return len(self.wildcard_sources) != before
            return self.sources.pop(normalize_address(text), None) is not None
        finally:
            self._sources_changed()
            replicate(self.engine, "bgp", "remove_source", agent)

    def _sources_changed(self) -> None:
        """On the flow-sample path only while there is a source."""
        # the C decoder builds just these; the Python one would cut them from the full dict
        native = _attributes.flow_attributes_subset is not _attributes.python_flow_attributes_subset
        self._reads = ADDRESS_KEYS | {s.value for s in self.all_sources()} if native else None
        self._scoped = any(s.agent in TOPOLOGY_SCOPES for s in self.wildcard_sources)
        self._refresh_scopes()
        self.engine.use_handler(
            "flow", self.on_flow_sample, bool(self.sources or self.wildcard_sources)
        )

    def _refresh_scopes(self) -> None:
        """Give each EDGE / CORE / TOPOLOGY source the topology's current port Selection, or
        None (every sample) while no topology with a node or link is installed."""
        topo = self._topo
        if topo is None:
            subsystems = getattr(self.engine, "subsystems", None) or {}
            topo = self._topo = subsystems.get("topology")
            store = subsystems.get("metrics")
            self._store = store if hasattr(store, "names_version") else _NoStore
        if topo is None:  # an engine without the topology subsystem
            self._scoped = self._filtering = False
            for s in self.wildcard_sources:
                s.scope = None
            return
        # versions first: the selections taken below are built for (at least) these
        self._topo_version, self._names_version = topo.version, self._store.names_version
        self._applicable = {}
        installed = bool(topo.nodes or topo.links)
        filtering = False
        for s in self.wildcard_sources:
            method = TOPOLOGY_SCOPES.get(s.agent) if installed else None
            s.scope = getattr(topo, method)() if method else None
            filtering = filtering or s.scope is not None
        self._filtering = filtering

    # -- the per-sample path ------------------------------------------------------------------
    def on_flow_sample(self, sample, now: float) -> None:
        srcs = self.sources.get(sample.agent)
        if srcs is None:
            srcs = self.wildcard_sources
            if self._scoped:
                if (
                    self._topo.version != self._topo_version
                    or self._store.names_version != self._names_version
                ):
                    self._refresh_scopes()
                if self._filtering:  # EDGE: only samples taken at an edge port count
                    by_ds = self._applicable.get(sample.agent)
                    srcs = None if by_ds is None else by_ds.get(sample.data_source)
                    if srcs is None:
                        srcs = self._applicable_at(sample.agent, sample.data_source)
            if not srcs:
                return
        attrs = _attributes.flow_attributes_subset(sample, self._reads, True)  # read only
        rate = sample.sampling_rate or 1
        for src in srcs:
            v = attrs.get(src.value)
            if v is None:
                continue
            if src.scaled:
                v = v * rate
            dst = attrs.get("ipdestination")
            if dst is not None:
                n, acc, a = src.router4, src.acc4, attrs.get("ipsource")
            else:
                dst = attrs.get("ip6destination")
                if dst is None:
                    continue
                n, acc, a = src.router6, src.acc6, attrs.get("ip6source")
            if n is None:
                continue
            match = (n.rib4 if acc is src.acc4 else n.rib6).match
            d = match(dst)
            s = match(a) if a is not None else None
            acc.add(now, v, s[0] if s is not None else None, d[0] if d is not None else None)

    def _applicable_at(self, agent: str, ds: str) -> list:
        """The wildcard sources whose scope takes samples of (agent, data source), cached."""
        cache = self._applicable
        by_ds = cache.get(agent)
        if by_ds is None:
            if len(cache) >= APPLICABLE_MAX:  # bounded, even against spoofed agents
                cache.clear()
            by_ds = cache[agent] = {}
        elif len(by_ds) >= APPLICABLE_MAX:
            by_ds.clear()
        srcs = by_ds[ds] = [
            s for s in self.wildcard_sources if s.scope is None or s.scope.has(agent, ds)
        ]
        return srcs

    def flow_attributes(self, agent: str, attrs: dict) -> dict:
        """bgp* flow keys for a sample from `agent` (empty when the agent has no source)."""
        srcs = self.sources.get(agent) or self.wildcard_sources
        if not srcs:
            return {}
        src = srcs[0]
        return bgp_attributes(src.router4, src.router6, attrs, self.mac_nexthops)

    # -- bgpSetNextHops -----------------------------------------------------------------------
    def set_next_hops(self, mapping) -> bool:
        """bgpSetNextHops({nexthop: mac, ...}): replaces the whole mapping (null or {} clears
        it). MACs may be written with ':', '-' or '.' separators, in either case. Raises
        ValueError (nothing changed) on a bad argument."""
        if mapping is None:
            mapping = {}
        if not isinstance(mapping, dict):
            raise ValueError(
                "bgpSetNextHops: the argument must be an object mapping next-hop "
                f"addresses to MAC addresses, not {_js_type(mapping)}"
            )
        next_hops: dict[str, str] = {}
        by_mac: dict[str, list] = {}
        for nh, mac in mapping.items():
            addr = _nexthop_text(nh)
            if not isinstance(mac, str):
                raise ValueError(
                    f"bgpSetNextHops: the MAC address for next hop {nh} must be a "
                    f"string like '001122334455', not {_js_type(mac)}"
                )
            norm = _MAC_SEPARATORS.sub("", mac.strip()).upper()
            if not _MAC.fullmatch(norm):
                raise ValueError(
                    f"bgpSetNextHops: bad MAC address '{mac}' for next hop {nh} "
                    "(expected 12 hex digits, e.g. '001122334455')"
                )
            next_hops[addr] = norm  # two spellings of one address: the last one wins
        for addr, mac in next_hops.items():
            by_mac.setdefault(mac, []).append(addr)
        self.next_hops = next_hops
        self.mac_nexthops = {mac: tuple(nhs) for mac, nhs in by_mac.items()}
        replicate(self.engine, "bgp", "set_next_hops", dict(next_hops))
        return True

    # -- queries ------------------------------------------------------------------------------
    def top_prefixes(
        self,
        router,
        max_prefixes=100,
        min_value=0,
        direction="destination",
        include_covered=False,
        min_prefix=0,
        prune_covered=False,
        family: int = 4,
    ) -> dict:
        n = self.neighbor(router)
        if n is None:
            raise UnknownName(f"no BGP neighbor {router}")
        d = DIRECTIONS.get(str(direction or "destination").lower())
        if d is None:
            raise ValueError(f"direction must be destination or source, not {direction}")
        v6 = family == 6
        rib = n.rib6 if v6 else n.rib4
        # traffic is accounted where the samples are (with workers: in each of them)
        values: dict = {}
        total = 0.0
        for part_values, part_total in gather(
            self.engine, "bgp", self, "prefix_values_partial", n.address, v6, d, time.time()
        ):
            total += part_total
            if not values:
                values = part_values
                continue
            for k, v in part_values.items():
                values[k] = values.get(k, 0.0) + v
        out = {
            "as": n.peer_as,
            "direction": "destination" if d == DST else "source",
            "id": n.peer_id or n.address,
            "learnedPrefixesAdded": rib.added,
            "learnedPrefixesRemoved": rib.removed,
            "nPrefixes": len(rib),
            "pushedPrefixesAdded": n.pushed_added,
            "pushedPrefixesRemoved": n.pushed_removed,
            "startTime": n.start_time,
            "state": n.state,
        }
        out.update(
            top_prefixes(
                rib,
                values,
                total,
                int(max_prefixes),
                float(min_value or 0),
                int(min_prefix or 0),
                _bool(include_covered),
                _bool(prune_covered),
            )
        )
        return out

    def prefix_values_partial(self, address: str, v6: bool, direction: int, now: float):
        """(rate per prefix, total) of the sources accounting to this neighbor."""
        n = self.neighbors.get(address)
        if n is None:
            return {}, 0.0
        accs = [
            (s.acc6 if v6 else s.acc4)
            for s in self.all_sources()
            if (s.router6 if v6 else s.router4) is n
        ]
        return prefix_values(accs, direction, now)

    def prefix_info(self, router, address) -> dict | None:
        n = self.neighbor(router)
        if n is None:
            raise UnknownName(f"no BGP neighbor {router}")
        addr = normalize_address(address)
        rib = n.rib6 if ":" in addr else n.rib4
        found = rib.lookup(addr)
        if found is None:
            return None
        prefix, attrs = found
        j = attrs.json()
        j["prefix"] = prefix
        if rib.paths is not None:  # multipath: every path, best first, with its path id
            paths = []
            for path_id, a in rib.all_paths(prefix):
                p = a.json()
                p["pathid"] = path_id
                mac = self.next_hops.get(a.nexthop)
                if mac is not None:
                    p["mac"] = mac
                paths.append(p)
            j["paths"] = paths
            j = {k: j[k] for k in sorted(j)}  # alphabetical, as the other keys
        return j

    # -- pushed routes (bgpAddRoute / routepusher) --------------------------------------------
    def add_route(self, router, route: dict) -> bool:
        n = self.neighbor(router)
        if n is None:
            return False
        r = _pushed_route(route)
        old = n.pushed.get(r.prefix)
        n.pushed[r.prefix] = r
        if old is None:
            n.pushed_added += 1
        s = n.session
        if s is not None and s.state == "established":
            self._send_route(s, r)
        return True

    def remove_route(self, router, prefix) -> bool:
        n = self.neighbor(router)
        if n is None:
            return False
        _, _, _, canon = parse_prefix(prefix)
        r = n.pushed.pop(canon, None)
        if r is None:
            return False
        n.pushed_removed += 1
        s = n.session
        if s is not None and s.state == "established":
            self._send_route(s, r, withdraw=True)
        return True

    def route_count(self, router) -> int:
        n = self.neighbor(router)
        return 0 if n is None else len(n.pushed)

    def pushed_routes(self, router) -> list[str] | None:
        n = self.neighbor(router)
        return None if n is None else sorted(n.pushed)

    def pushed_route(self, router, prefix) -> dict | None:
        n = self.neighbor(router)
        if n is None:
            return None
        r = n.pushed.get(parse_prefix(prefix)[3])
        return None if r is None else r.json()

    # -- FlowSpec (bgpAddFlow / bgpRemoveFlow / bgpFlowCount) ---------------------------------
    def add_flow(self, router, spec: dict) -> bool:
        from .flowspec import compile_flow, send_flow

        n = self.neighbor(router)
        if n is None:
            return False
        rule = compile_flow(spec)
        n.flows[rule.key] = rule
        s = n.session
        if s is not None and s.state == "established":
            send_flow(s, rule)
        return True

    def remove_flow(self, router, spec: dict) -> bool:
        from .flowspec import compile_flow, send_flow

        n = self.neighbor(router)
        if n is None:
            return False
        rule = n.flows.pop(compile_flow(spec).key, None)
        if rule is None:
            return False
        s = n.session
        if s is not None and s.state == "established":
            send_flow(s, rule, withdraw=True)
        return True

    def flow_count(self, router) -> int:
        n = self.neighbor(router)
        return 0 if n is None else len(n.flows)

    def flows(self, router) -> list | None:
        n = self.neighbor(router)
        return None if n is None else [r.spec for r in n.flows.values()]


class _Acceptor(asyncio.Protocol):
    """Forwards the new connection to a Session once we know which neighbor it belongs to."""

    def __init__(self, speaker: BgpSpeaker):
        self.speaker = speaker
        self.session: Session | None = None

    def connection_made(self, transport) -> None:
        self.transport = transport
        self.speaker.transports.add(transport)
        peer = transport.get_extra_info("peername") or ("", 0)
        self.session = self.speaker.attach_session(transport, peer[0], peer[1])

    def data_received(self, data: bytes) -> None:
        if self.session is not None:
            self.session.data_received(data)

    def connection_lost(self, exc) -> None:
        self.speaker.transports.discard(self.transport)
        if self.session is not None:
            self.session.connection_lost(exc)


def _listen_socket(host: str | None, port: int) -> socket.socket:
    """One socket for both families when no host is given (so port 0 means one port)."""
    if host:
        info = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
        sock = socket.socket(info[0], socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(info[4])
    else:
        try:
            sock = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            sock.bind(("::", port))
        except OSError:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("0.0.0.0", port))
    sock.listen(16)
    sock.setblocking(False)
    return sock


def _nexthop_text(nh) -> str:
    """A next-hop address as the decoder spells route next hops (inet_ntop), so the per-sample
    comparison is a plain string match. Raises ValueError."""
    text = nh.strip() if isinstance(nh, str) else ""
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            return socket.inet_ntop(family, socket.inet_pton(family, text))
        except OSError:
            continue
    raise ValueError(
        f"bgpSetNextHops: bad next-hop address '{nh}' (expected an IPv4 or IPv6 address)"
    )


def _js_type(v) -> str:
    """How a JavaScript user would name the type of a converted argument."""
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "a boolean"
    if isinstance(v, (int, float)):
        return "a number"
    if isinstance(v, str):
        return "a string"
    if isinstance(v, list):
        return "an array"
    return "an object"


def _release(n: NeighborState) -> None:
    """Let a script forget the onOpen/onClose functions of a neighbor that is gone (JS
    callbacks have release(); plain Python callables do not)."""
    for cb in (n.on_open, n.on_close):
        release = getattr(cb, "release", None)
        if release is not None:
            try:
                release()
            except Exception:
                pass


def _as_number(v) -> int:
    """'65162', 65162 or 65162.0 (numbers arrive from JavaScript as floats) -> 65162."""
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    return int(str(v).strip())


def _bool(v) -> bool:
    if isinstance(v, str):
        return v.strip().lower() in ("true", "yes", "1")
    return bool(v)


def _options(options) -> dict:
    if options is None:
        return {}
    if not isinstance(options, dict):
        raise ValueError("options must be an object")
    out: dict = {}
    for k in ("ipv4", "ipv6", "flowspec", "flowspec6", "multipath"):
        if k in options:
            out[k] = _bool(options[k])
    if options.get("peerAS") not in (None, ""):
        out["peer_as"] = _as_number(options["peerAS"])
    return out


def _pushed_route(route: dict) -> PushedRoute:
    if not isinstance(route, dict):
        raise ValueError("route must be an object")
    if not route.get("prefix"):
        raise ValueError("route needs a prefix")
    afi, packed, plen, canon = parse_prefix(route["prefix"])
    nexthop = route.get("nexthop")
    if not nexthop:
        raise ValueError("route needs a nexthop")
    nh = normalize_address(nexthop)
    if (":" in nh) != (afi == m.AFI_IPV6):
        raise ValueError(f"next hop {nh} does not match the family of {canon}")
    ll = route.get("nexthoplinklocal")
    origin = str(route.get("origin", "IGP")).upper()
    if origin not in m.ORIGINS:
        raise ValueError(f"origin must be IGP, EGP or INCOMPLETE, not {origin}")
    std, large = m.parse_communities(route.get("communities", ""))
    med = route.get("med")
    lp = route.get("localpref")
    attrs = m.PathAttrs(
        origin=m.ORIGINS.index(origin),
        aspath=m.parse_aspath(route.get("aspath", "")),
        nexthop=nh,
        nexthop_ll=normalize_address(ll) if ll else None,
        med=None if med in (None, "") else m.u32(med, "med"),
        localpref=None if lp in (None, "") else m.u32(lp, "localpref"),
        communities=std,
        large_communities=large,
    )
    return PushedRoute(afi, packed, plen, canon, attrs)


def _address_of(n: NeighborState | None):
    return None if n is None else n.address
