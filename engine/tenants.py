"""sFlow tenants (``engine.subsystems["tenants"]``): forward only selected samples to another
collector (REST /tenant/{name}/json; sFlow-RT documents no JavaScript equivalent).

A definition is ``{"collectorAddress": ip, "collectorPort": 6343, "filters": {"cidr": [...],
"mac": [...], "ifindex": ["agent_ifIndex", ...], "ifname": ["agent_ifName", ...]}}``. Filters of
different kinds are OR'ed: a flow (or discard) sample is selected when its packet's outer
IPv4/IPv6 source or destination is in a cidr, its source or destination MAC is listed, or its
input or output ifIndex on that agent is listed (directly, or by an ifName the agent reported in
its counters); a counter sample when its data source (class 0, an ifIndex) is listed.

Each received sFlow v5 datagram with selected samples becomes one datagram per tenant: the
same header (agent, sub-agent, uptime), the tenant's own datagram sequence number per (agent,
sub-agent) so the receiver sees no gaps, and the selected samples copied byte for byte (their
spans come from the decoder's record offsets: a sample's fixed fields have a size given by its
format). With no tenant no handler is registered, so collection pays nothing.
"""

from __future__ import annotations

import asyncio
import bisect
import ipaddress
import re
import socket
import struct
from typing import Any

from . import log
from .fanout import fronted, gather, replicate
from .flows.spec import check_name
from .sflow import DecodeError
from .sflow import attributes as _attributes
from .sflow.sample_layouts import SAMPLE_LAYOUTS
from .udp_sockets import FamilySockets, destination_ip

DEFAULT_PORT = 6343
FILTER_KINDS = ("cidr", "mac", "ifindex", "ifname")

# sample tag -> (sample format, bytes of its fixed fields between the 8-byte sample header and
# its records), from the decoder's declarations; only these (sFlow v5 flow, counter and
# discard samples) can be forwarded
_SPANS = {tag: (x.format, x.size) for tag, x in SAMPLE_LAYOUTS.items()}
_TAG_LEN = struct.Struct(">2I")
_U32 = struct.Struct(">I")
_V5 = b"\0\0\0\5"
_MAC = re.compile(r"^[0-9A-F]{2}([:-]?)(?:[0-9A-F]{2}\1){4}[0-9A-F]{2}$")
_V4_KEYS = ("ipsource", "ipdestination")
_V6_KEYS = ("ip6source", "ip6destination")
_MAC_KEYS = ("macsource", "macdestination")
_CACHE_MAX = 65536


def _port(value) -> int:
    if value is None:
        return DEFAULT_PORT
    text = value.strip() if isinstance(value, str) else None
    port = int(text) if text and text.isascii() and text.isdigit() else value
    if not isinstance(port, int) or isinstance(port, bool) or not 1 <= port <= 65535:
        raise ValueError(f"collectorPort must be a number from 1 to 65535, not {value!r}")
    return port


def _mac(value) -> str:
    text = value.strip().upper() if isinstance(value, str) else None
    if text is None or not _MAC.match(text):
        raise ValueError(
            f"mac {value!r} is not a MAC address (12 hex digits, optionally "
            f"separated by ':' or '-')"
        )
    return text.replace(":", "").replace("-", "")


def _agent_name(text: str) -> str:
    """An agent address as the decoder names it (inet_ntop): for IPv6 that differs from
    ipaddress's str() on IPv4-mapped and -compatible forms (::ffff:192.0.2.1)."""
    ip = ipaddress.ip_address(text)
    if ip.version == 4:
        return str(ip)
    return socket.inet_ntop(socket.AF_INET6, ip.packed)


def _agent_port(value, kind: str) -> tuple[str, str]:
    """``agent_port`` -> (normalized agent address, port text); the agent is an IP address,
    which never holds '_', so the first '_' separates them (ifNames may contain '_')."""
    if not isinstance(value, str) or "_" not in value:
        raise ValueError(
            f"{kind} {value!r} must be agent_port, e.g. 10.0.0.1_"
            + ("2" if kind == "ifindex" else "eth3")
        )
    agent, _, port = value.partition("_")
    try:
        agent = _agent_name(agent.strip())
    except ValueError:
        raise ValueError(f"{kind} {value!r}: agent {agent!r} is not an IP address") from None
    if kind == "ifindex":
        if not (port.isascii() and port.isdigit()) or int(port) > 0xFFFFFFFF:
            raise ValueError(f"ifindex {value!r}: {port!r} is not an ifIndex (0-4294967295)")
    elif not port:
        raise ValueError(f"ifname {value!r}: empty interface name")
    return agent, port


class Prefixes:
    """Every tenant's CIDRs of one address family as one sorted list of elementary intervals,
    each with the mask of the tenants whose prefixes cover it: one bisect per address,
    however many tenants and prefixes."""

    __slots__ = ("family", "starts", "masks")

    def __init__(self, family: int, ranges):
        """ranges: (first, last, bit) integer address ranges."""
        self.family = family
        events = sorted(
            [(lo, bit, 1) for lo, _, bit in ranges] + [(hi + 1, bit, -1) for _, hi, bit in ranges]
        )
        counts: dict[int, int] = {}
        starts: list[int] = []
        masks: list[int] = []
        mask = 0
        i, n = 0, len(events)
        while i < n:
            pos = events[i][0]
            while i < n and events[i][0] == pos:
                _, bit, step = events[i]
                c = counts[bit] = counts.get(bit, 0) + step
                mask = mask | bit if c > 0 else mask & ~bit
                i += 1
            if not masks or masks[-1] != mask:
                starts.append(pos)
                masks.append(mask)
        self.starts = starts
        self.masks = masks

    def mask(self, address: str) -> int:
        try:
            n = int.from_bytes(socket.inet_pton(self.family, address), "big")
        except (OSError, ValueError, TypeError):
            return 0
        i = bisect.bisect_right(self.starts, n) - 1
        return self.masks[i] if i >= 0 else 0


class Tenant:
    """One tenant definition, its compiled filters, sequence numbers and counters."""

    __slots__ = (
        "name",
        "address",
        "port",
        "family",
        "dest",
        "filters",
        "nets",
        "macs",
        "static_ports",
        "ifnames",
        "named_ports",
        "ports",
        "seqs",
        "pending",
        "samples",
        "datagrams",
        "bytes",
        "drops",
    )

    def __init__(self, name: str, spec):
        if not isinstance(spec, dict):
            raise ValueError("tenant must be a JSON object")
        unknown = set(spec) - {"collectorAddress", "collectorPort", "filters"}
        if unknown:
            raise ValueError(f"unknown tenant field(s): {', '.join(sorted(unknown))}")
        ip = destination_ip(spec.get("collectorAddress"), "collectorAddress")
        self.port = _port(spec.get("collectorPort"))
        self.address = str(ip)
        self.family = socket.AF_INET if ip.version == 4 else socket.AF_INET6
        self.dest = (self.address, self.port)
        self.name = name
        filters = spec.get("filters")
        if filters is None:
            filters = {}
        if not isinstance(filters, dict):
            raise ValueError(
                "filters must be a JSON object with cidr, mac, ifindex and ifname lists"
            )
        unknown = set(filters) - set(FILTER_KINDS)
        if unknown:
            raise ValueError(
                f"unknown filter(s): {', '.join(sorted(unknown))} "
                f"(known: {', '.join(FILTER_KINDS)})"
            )
        lists = {}
        for kind in FILTER_KINDS:
            values = filters.get(kind)
            if values is None:
                values = []
            if not isinstance(values, list):
                raise ValueError(f"filters.{kind} must be a list of strings")
            lists[kind] = values
        nets = []
        for value in lists["cidr"]:
            if not isinstance(value, str):
                raise ValueError(f"cidr {value!r} must be a string like 10.0.0.0/24")
            try:
                nets.append(ipaddress.ip_network(value.strip(), strict=False))
            except ValueError:
                raise ValueError(f"cidr {value!r} is not an IPv4 or IPv6 prefix") from None
        macs = [_mac(v) for v in lists["mac"]]
        ifindex = [_agent_port(v, "ifindex") for v in lists["ifindex"]]
        ifname = [_agent_port(v, "ifname") for v in lists["ifname"]]
        # as given, normalized (GET answers these)
        self.filters = {
            "cidr": [str(n) for n in nets],
            "mac": macs,
            "ifindex": [f"{a}_{int(p)}" for a, p in ifindex],
            "ifname": [f"{a}_{p}" for a, p in ifname],
        }
        self.nets = nets
        self.macs = frozenset(macs)
        self.static_ports: dict[str, set[int]] = {}
        for agent, port in ifindex:
            self.static_ports.setdefault(agent, set()).add(int(port))
        self.ifnames: dict[str, set[str]] = {}
        for agent, port in ifname:
            self.ifnames.setdefault(agent, set()).add(port)
        self.named_ports: dict[str, set[int]] = {a: set() for a in self.ifnames}
        self.ports: dict[str, frozenset[int]] = {}  # agent -> ifIndexes, both kinds merged
        for agent in set(self.static_ports) | set(self.ifnames):
            self._merge(agent)
        self.seqs: dict[bytes, int] = {}  # (address type, agent, sub-agent) bytes -> last seq
        self.pending: list[tuple[int, int]] = []  # sample spans selected in the current datagram
        self.samples = self.datagrams = self.bytes = self.drops = 0

    def _merge(self, agent: str) -> None:
        ports = self.static_ports.get(agent, set()) | self.named_ports.get(agent, set())
        if ports:
            self.ports[agent] = frozenset(ports)
        else:
            self.ports.pop(agent, None)

    def learn(self, agent: str, ifindex: int, name) -> bool:
        """The agent's ifIndex is now called ``name``; True when that changes what the tenant
        selects. None (no name known: the counter sample had no port name record and the
        metrics store had forgotten the interface) changes nothing: the last name holds."""
        named = self.named_ports.get(agent)
        if named is None or name is None:
            return False
        wanted = name in self.ifnames[agent]
        if wanted == (ifindex in named):
            return False
        if wanted:
            named.add(ifindex)
        else:
            named.discard(ifindex)
        self._merge(agent)
        return True

    def spec(self) -> dict:
        """The definition (without counters), as set_tenant takes it."""
        return {
            "collectorAddress": self.address,
            "collectorPort": self.port,
            "filters": {k: list(v) for k, v in self.filters.items() if v},
        }

    def as_json(self) -> dict:
        out = self.spec()
        out.update(
            samples=self.samples, datagrams=self.datagrams, bytes=self.bytes, drops=self.drops
        )
        return out


class Tenants:
    """The tenants and the sample handlers. Filters are indexed across tenants, each tenant a
    bit of an int mask, so a sample costs the same few dict lookups however many tenants
    there are: ports per agent -> mask, MAC -> mask, and per address string the mask of the
    tenants whose cidrs hold it (computed on first sight, cached)."""

    def __init__(self, engine):
        self.engine = engine
        self.tenants: dict[str, Tenant] = {}
        self._order: tuple[Tenant, ...] = ()  # bit i of a mask = _order[i]
        self._ifname_agents: dict[str, tuple[int, ...]] = {}  # agent -> bits learning ifNames
        self._port_masks: dict[str, dict[int, int]] = {}  # agent -> ifIndex -> mask
        self._mac_masks: dict[str, int] = {}
        self._addr_masks: dict[str, int] = {}  # address string -> mask (cache)
        self._addr_keys: tuple[str, ...] = ()  # attribute names holding addresses to test
        self._prefixes: dict[int, Prefixes] = {}  # 4/6 -> every tenant's cidrs
        self._wanted: frozenset | None = None  # attribute subset to decode, None: none
        self._sockets = FamilySockets()
        self._buf: Any = None  # the datagram (bytes-like) whose samples are being seen
        self._off = -1  # record offset of the last of its samples seen
        self._v5 = False  # _buf is an sFlow v5 datagram
        self._pending: list[Tenant] = []  # tenants with selected samples of _buf
        self._scheduled = False
        self._loop = None  # the engine's event loop, once started
        self._errors_logged = 0

    # -- definitions ---------------------------------------------------------------------------
    def set_tenant(self, name: str, spec) -> None:
        """Define or replace tenant ``name``; ValueError says what is wrong with spec."""
        check_name(name)
        tenant = Tenant(name, spec)
        try:
            # opened before anything changes: _changed() then cannot fail half-way
            self._sockets.get(tenant.family)
        except OSError as exc:  # no descriptors left, no IPv6 in the kernel, ...
            raise ValueError(
                f"collectorAddress {tenant.address}: cannot open a UDP socket "
                f"({exc.strerror or exc})"
            ) from None
        self._flush()
        old = self.tenants.get(name)
        if old is not None and old.dest == tenant.dest:
            # the receiver keeps seeing one sequence per agent
            tenant.seqs = old.seqs
            if old.filters == tenant.filters:
                tenant.samples, tenant.datagrams = old.samples, old.datagrams
                tenant.bytes, tenant.drops = old.bytes, old.drops
        self._resolve_names(tenant)
        self.tenants[name] = tenant
        self._changed()
        replicate(self.engine, "tenants", "set_tenant", name, spec)

    def clear_tenant(self, name: str) -> bool:
        self._flush()
        if self.tenants.pop(name, None) is None:
            return False
        self._changed()
        replicate(self.engine, "tenants", "clear_tenant", name)
        return True

    def replica_state(self) -> list:
        """The calls that give a (re)started worker these tenants (docs/ingest.md)."""
        return [("set_tenant", (n, t.spec()), {}) for n, t in self.tenants.items()]

    def get_tenant(self, name: str):
        if name not in self.tenants:
            return None
        return self.tenants_json().get(name)

    def tenants_json(self) -> dict:
        """Every tenant with its counters, summed over the processes that forward (with
        workers, each forwards the samples of its agents)."""
        out = {n: t.as_json() for n, t in self.tenants.items()}
        if fronted(self.engine):
            fields = ("samples", "datagrams", "bytes", "drops")
            for n in out:
                out[n].update(dict.fromkeys(fields, 0))
            for part in gather(self.engine, "tenants", self, "counters_partial"):
                for n, counts in part.items():
                    if n in out:
                        for field, value in zip(fields, counts):
                            out[n][field] += value
        return out

    def counters_partial(self) -> dict:
        return {n: (t.samples, t.datagrams, t.bytes, t.drops) for n, t in self.tenants.items()}

    def _metrics_agents(self) -> dict:
        return getattr(self.engine.subsystems.get("metrics"), "agents", None) or {}

    def _resolve_names(self, tenant: Tenant) -> None:
        """ifName filters against the names the agents reported so far (metrics store)."""
        agents = self._metrics_agents()
        for agent in tenant.ifnames:
            state = agents.get(agent)
            if state is None:
                continue
            for ds in list(state.sources.values()):
                if ds.ds_class == 0 and ds.id.isdigit():
                    tenant.learn(agent, int(ds.id), ds.values.get("ifname"))

    def _changed(self) -> None:
        """Rebuild the indexes; the handlers are on the sample path only while tenants exist."""
        order = self._order = tuple(self.tenants.values())
        families = {t.family for t in order}
        self._sockets.keep(families)
        for family in families:
            self._sockets.get(family)
        learners: dict[str, list[int]] = {}
        macs: dict[str, int] = {}
        wanted: set[str] = set()
        ranges: dict[int, list] = {4: [], 6: []}
        for i, t in enumerate(order):
            for agent in t.ifnames:
                learners.setdefault(agent, []).append(i)
            for mac in t.macs:
                macs[mac] = macs.get(mac, 0) | 1 << i
            for net in t.nets:
                ranges[net.version].append(
                    (int(net.network_address), int(net.broadcast_address), 1 << i)
                )
        self._ifname_agents = {a: tuple(bits) for a, bits in learners.items()}
        self._mac_masks = macs
        self._prefixes = {
            v: Prefixes(socket.AF_INET if v == 4 else socket.AF_INET6, r)
            for v, r in ranges.items()
            if r
        }
        self._addr_keys = (_V4_KEYS if 4 in self._prefixes else ()) + (
            _V6_KEYS if 6 in self._prefixes else ()
        )
        self._addr_masks = {}
        wanted.update(self._addr_keys)
        if macs:
            wanted.update(_MAC_KEYS)
        self._wanted = frozenset(wanted) if wanted else None
        self._port_masks = {}
        for agent in {a for t in order for a in t.ports}:
            self._index_ports(agent)
        self._buf, self._off = None, -1
        use = self.engine.use_handler
        # counter samples are selected by data source only and teach ifName filters; every
        # tenant sees them, as a datagram is sent when its last sample (often one) is seen
        for kind, handler in (
            ("flow", self.on_flow_sample),
            ("counter", self.on_counter_sample),
            ("other", self.on_other_sample),
        ):
            use(kind, handler, bool(order))

    def _index_ports(self, agent: str) -> None:
        masks: dict[int, int] = {}
        for i, t in enumerate(self._order):
            for index in t.ports.get(agent, ()):
                masks[index] = masks.get(index, 0) | 1 << i
        if masks:
            self._port_masks[agent] = masks
        else:
            self._port_masks.pop(agent, None)

    def _addr_mask(self, address: str) -> int:
        prefixes = self._prefixes.get(6 if ":" in address else 4)
        mask = prefixes.mask(address) if prefixes is not None else 0
        cache = self._addr_masks
        if len(cache) >= _CACHE_MAX:
            cache.clear()
        cache[address] = mask
        return mask

    # -- the per-sample path -------------------------------------------------------------------
    def _boundary(self, buf) -> None:
        if self._pending:
            self._flush()
        self._buf = buf
        self._v5 = buf[:4] == _V5

    def _add(self, mask: int, sample) -> None:
        # the sample's bytes: its fixed fields' size by format, then its records; checked
        # against the sample header (v2/v4 samples live in a private re-framed buffer)
        fmt = _SPANS.get(sample.tag)
        if fmt is None or not self._v5:
            return
        start = sample.rec_off - fmt[1] - 8
        end = sample.rec_end
        if start < 28 or _TAG_LEN.unpack_from(sample.buf, start) != (fmt[0], end - start - 8):
            return
        span = (start, end)
        order = self._order
        while mask:
            low = mask & -mask
            tenant = order[low.bit_length() - 1]
            if not tenant.pending:
                self._pending.append(tenant)
            tenant.pending.append(span)
            mask ^= low
        if not self._scheduled:
            self._schedule()

    def _schedule(self) -> None:
        # the datagram's last sample flushes; this covers a datagram whose last sample is one
        # no handler here sees (unknown type, decode error): at most once per loop iteration.
        # Without a loop (ingest called directly, benchmarks) the next datagram flushes.
        loop = self._loop
        if loop is not None:
            self._scheduled = True
            loop.call_soon(self._idle_flush)

    def _idle_flush(self) -> None:
        self._scheduled = False
        self._flush()

    def on_flow_sample(self, sample, now: float) -> None:
        buf = sample.buf
        off = sample.rec_off
        if buf is not self._buf or off <= self._off:  # a new datagram (or the same bytes again)
            self._boundary(buf)
        self._off = off
        mask = 0
        ports = self._port_masks.get(sample.agent)
        if ports is not None:
            if sample.input_format == 0:
                mask = ports.get(sample.input, 0)
            if sample.output_format == 0:
                mask |= ports.get(sample.output, 0)
        wanted = self._wanted
        error = None
        if wanted is not None:
            try:
                attrs = _attributes.flow_attributes_subset(sample, wanted, True)
            except DecodeError as exc:  # counted by the engine once re-raised
                attrs, error = {}, exc
            masks = self._addr_masks
            for key in self._addr_keys:
                a = attrs.get(key)
                if a is not None:
                    m = masks.get(a)
                    mask |= self._addr_mask(a) if m is None else m
            macs: dict = self._mac_masks  # looked up with attribute values, maybe None
            if macs:
                mask |= macs.get(attrs.get("macsource"), 0) | macs.get(
                    attrs.get("macdestination"), 0
                )
        if mask:
            self._add(mask, sample)
        if sample.rec_end == len(buf) and self._pending:
            self._flush()
        if error is not None:
            raise error

    def on_other_sample(self, sample, now: float) -> None:
        if sample.kind == "discard":
            self.on_flow_sample(sample, now)

    def on_counter_sample(self, sample, now: float) -> None:
        buf = sample.buf
        off = sample.rec_off
        if buf is not self._buf or off <= self._off:
            self._boundary(buf)
        self._off = off
        if sample.ds_class == 0:
            agent = sample.agent
            learners = self._ifname_agents.get(agent)
            if learners is not None:
                self._learn(agent, sample, learners)
            ports = self._port_masks.get(agent)
            if ports is not None:
                mask = ports.get(sample.ds_index, 0)
                if mask:
                    self._add(mask, sample)
        if sample.rec_end == len(buf) and self._pending:
            self._flush()

    def _learn(self, agent: str, sample, learners) -> None:
        # the metrics store handled this sample just before (it was attached first)
        state = self._metrics_agents().get(agent)
        ds = state.sources.get(sample.data_source) if state is not None else None
        name = ds.values.get("ifname") if ds is not None else None
        changed = False
        for i in learners:
            changed |= self._order[i].learn(agent, sample.ds_index, name)
        if changed:
            self._index_ports(agent)

    # -- sending -------------------------------------------------------------------------------
    def _flush(self) -> None:
        pending = self._pending
        if not pending:
            return
        self._pending = []
        buf = self._buf
        # v5 header: version, address type, agent (4 or 16), sub-agent, seq, uptime, count
        hdr = 12 if buf[7] == 1 else 24
        key = bytes(buf[4 : hdr + 4])
        head = bytes(buf[: hdr + 4])
        uptime = bytes(buf[hdr + 8 : hdr + 12])
        sockets = self._sockets.by_family
        for tenant in pending:
            spans = tenant.pending
            tenant.pending = []
            seq = tenant.seqs.get(key, 0) + 1
            if seq > 0xFFFFFFFF:
                seq = 1
            # a datagram the kernel refuses still uses its number: the receiver sees the loss
            tenant.seqs[key] = seq
            parts = [head, _U32.pack(seq), uptime, _U32.pack(len(spans))]
            parts.extend(buf[s:e] for s, e in spans)
            data = b"".join(parts)
            try:
                sockets[tenant.family].sendto(data, tenant.dest)
            except (OSError, KeyError) as exc:  # EAGAIN/ENOBUFS, EMSGSIZE, unreachable, ...
                tenant.drops += 1
                if self._errors_logged < 10:
                    self._errors_logged += 1
                    log.fine(f"tenant {tenant.name} to {tenant.dest}: {exc!r}")
                continue
            tenant.datagrams += 1
            tenant.samples += len(spans)
            tenant.bytes += len(data)

    # -- lifecycle -----------------------------------------------------------------------------
    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()

    async def stop(self) -> None:
        self._flush()
        self.tenants.clear()
        self._changed()


def attach(engine) -> Tenants:
    return Tenants(engine)
