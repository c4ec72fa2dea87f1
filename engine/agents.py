"""Per-agent bookkeeping behind /agents/json: datagram and sample counts, sequence gaps.

An agent's record is an ``AgentRecord`` (C, engine/sflow/_agents.c) where the decoder
accelerator is built, else an ``AgentStats`` (below, the reference: the rules are stated here
and tests/test_agents_table.py holds the two to the same answers).

The table is bounded (docs/ingest.md, "Agents"): an agent that sends nothing for
``agents.timeout`` seconds (default 120) is forgotten, and while ``agents.max`` agents (default
20000) are known, datagrams from any other agent are refused (counted, not decoded further),
so spoofed agent addresses cannot grow it without limit. With worker processes the bound
holds for all of them together (each worker's table reads the others' counts from shared
memory, ``share()``).
"""

from __future__ import annotations

import time

from . import log
from .sflow import attributes as _sflow

DEFAULT_TIMEOUT = 120.0  # seconds: two missed polls at the longest usual interval (60 s)
DEFAULT_MAX = 20000


class AgentStats:
    __slots__ = (
        "agent",
        "sources",
        "datagrams",
        "datagrams_lost",
        "datagrams_out_of_order",
        "datagrams_duplicate",
        "decode_errors",
        "last_seq",
        "sub_seq",
        "uptime",
        "sub_agent",
        "first_seen",
        "last_seen",
        "samples",
        "ds_seq",
    )

    def __init__(self, agent: str, now: float):
        self.agent = agent
        self.sources: set[str] = set()
        self.datagrams = 0
        self.datagrams_lost = 0
        self.datagrams_out_of_order = 0
        self.datagrams_duplicate = 0
        self.decode_errors = 0
        self.sub_seq: dict[int, int] = {}  # sub-agent id -> last datagram sequence number
        self.uptime = 0  # sysUpTime (ms) and sub-agent of the latest datagram
        self.sub_agent = 0
        self.first_seen = now
        self.last_seen = now
        # kind -> [samples, lost, duplicates, out_of_order, drops]
        self.samples = {
            "flow": [0, 0, 0, 0, 0],
            "counter": [0, 0, 0, 0, 0],
            "notification": [0, 0, 0, 0, 0],
        }
        # kind -> {data source: last sample sequence number}
        self.ds_seq: dict[str, dict[str, int]] = {"flow": {}, "counter": {}, "notification": {}}

    def datagram(self, sub_agent: int, seq: int, uptime: int, src: str, now: float) -> None:
        self.datagrams += 1
        self.last_seen = now
        self.uptime = uptime
        self.sub_agent = sub_agent
        self.sources.add(src)
        last = self.sub_seq.get(sub_agent)
        if last is not None:
            if seq == last:
                self.datagrams_duplicate += 1
            elif seq == last + 1:
                pass
            elif seq > last:
                self.datagrams_lost += seq - last - 1
            elif seq < 5 or last - seq > 1000:
                pass  # agent restarted: its sequence numbers start again
            else:
                self.datagrams_out_of_order += 1
                return
        self.sub_seq[sub_agent] = seq

    def samples_seen(self, samples: list) -> None:
        """sample() for each of a datagram's samples (discards count as notifications, other
        kinds are not tracked), in one call, as it runs for every sample received: in C
        (_accel.track_samples, the same rules) when the decoder accelerator is loaded."""
        track = _sflow.track_samples
        if track is not None:
            seqs, counts = self.ds_seq, self.samples
            done = track(
                samples,
                seqs["flow"],
                counts["flow"],
                seqs["counter"],
                counts["counter"],
                seqs["notification"],
                counts["notification"],
            )
            if done >= len(samples):
                return
            samples = samples[done:]  # something the C code does not know: Python decides
        self.samples_seen_py(samples)

    def samples_seen_py(self, samples) -> None:
        """The Python samples_seen: sample counts and drops summed in locals, the usual
        in-sequence case costs one lookup and one store."""
        fs, cs, ns = self.ds_seq["flow"], self.ds_seq["counter"], self.ds_seq["notification"]
        nf = nc = nn = flow_drops = notification_drops = 0
        for s in samples:
            kind = s.kind
            if kind == "flow":
                nf += 1
                flow_drops += s.drops
                seqs = fs
            elif kind == "counter":
                nc += 1
                seqs = cs
            elif kind == "discard":
                nn += 1
                notification_drops += s.drops
                seqs = ns
            else:
                continue
            ds = s.data_source
            seq = s.seq
            last = seqs.get(ds)
            if last is not None and seq != last + 1:
                counts = self.samples[
                    "flow" if seqs is fs else "counter" if seqs is cs else "notification"
                ]
                if seq == last:
                    counts[2] += 1
                elif seq > last:
                    counts[1] += seq - last - 1
                elif last - seq < 1000 and seq > 5:
                    counts[3] += 1
                    continue
            seqs[ds] = seq
        if nf:
            counts = self.samples["flow"]
            counts[0] += nf
            counts[4] += flow_drops
        if nc:
            self.samples["counter"][0] += nc
        if nn:
            counts = self.samples["notification"]
            counts[0] += nn
            counts[4] += notification_drops

    def to_json(self, now: float) -> dict:
        f, c, n = self.samples["flow"], self.samples["counter"], self.samples["notification"]
        return {
            "sFlowDatagramsLost": self.datagrams_lost,
            "sFlowDatagramSource": sorted(self.sources),
            "sFlowDatagramsReceived": self.datagrams,
            "sFlowDatagramsOutOfOrder": self.datagrams_out_of_order,
            "sFlowDatagramsDuplicates": self.datagrams_duplicate,
            "sFlowDecodeErrors": self.decode_errors,
            "sFlowFlowSamples": f[0],
            "sFlowFlowDrops": f[4],
            "sFlowFlowLostSamples": f[1],
            "sFlowFlowDuplicateSamples": f[2],
            "sFlowFlowOutOfOrderSamples": f[3],
            "sFlowFlowDatasources": len(self.ds_seq["flow"]),
            "sFlowCounterSamples": c[0],
            "sFlowCounterLostSamples": c[1],
            "sFlowCounterDuplicateSamples": c[2],
            "sFlowCounterOutOfOrderSamples": c[3],
            "sFlowCounterDatasources": len(self.ds_seq["counter"]),
            "sFlowNotificationSamples": n[0],
            "sFlowNotificationDrops": n[4],
            "sFlowNotificationLostSamples": n[1],
            "sFlowNotificationDuplicateSamples": n[2],
            "sFlowNotificationOutOfOrderSamples": n[3],
            "sFlowNotificationDatasources": len(self.ds_seq["notification"]),
            "firstSeen": int((now - self.first_seen) * 1000),
            "lastSeen": int((now - self.last_seen) * 1000),
            "uptime": self.uptime,
        }


def record_type():
    """The agent record class: the C AgentRecord where the accelerator is loaded (and
    FLOWRT_NO_ACCEL not set), else AgentStats."""
    rec = getattr(_sflow.accel, "AgentRecord", None)
    return rec if rec is not None else AgentStats


class AgentTable:
    """Agent address -> record, bounded in number (``max_agents``) and in time (``timeout``)."""

    def __init__(
        self, max_agents: int = DEFAULT_MAX, timeout: float = DEFAULT_TIMEOUT, record=None
    ):
        # never rebound: the C ingest path (engine/ingest.py) holds this dict
        self.by_address: dict = {}
        self.record = record or record_type()
        self.max_agents = max(1, int(max_agents))
        self.timeout = float(timeout) if timeout and timeout > 0 else DEFAULT_TIMEOUT
        self.refused = 0  # datagrams refused while the table was full
        self.expired = 0  # agents forgotten after `timeout` without a datagram
        self._next_expiry = 0.0
        self._warned = float("-inf")
        # In a worker (share()): how many agents the other workers hold, and where this
        # table's own count goes for them to read.
        self._others = None
        self._publish = None
        # Undecodable datagrams from senders that are not (yet) known agents: counted by source
        # address, but kept out of /agents/json so stray traffic does not pose as an agent.
        self.errors_by_source: dict[str, int] = {}

    @classmethod
    def from_props(cls, props) -> "AgentTable":
        """``agents.max`` and ``agents.timeout`` (a WARNING for values that are not numbers)."""

        def number(name, default, cast):
            raw = props.get_str(name, "") if props is not None else ""
            if raw in (None, ""):
                return default
            try:
                value = cast(raw)
                if value > 0:
                    return value
            except ValueError:
                pass
            log.warning(f"{name}={raw!r} is not a positive number, using {default:g}")
            return default

        return cls(
            number("agents.max", DEFAULT_MAX, int), number("agents.timeout", DEFAULT_TIMEOUT, float)
        )

    def share(self, others, publish) -> None:
        """In a worker process: ``agents.max`` bounds the agents of all workers together, as
        it bounds one process's (docs/ingest.md, "Agents"). ``others()`` is how many agents
        the other workers hold now, ``publish(n)`` tells them this table's count."""
        self._others, self._publish = others, publish
        publish(len(self.by_address))

    def known(self) -> int:
        """Agents held against ``agents.max``: this table's, plus the other workers'."""
        others = self._others
        return len(self.by_address) + (others() if others is not None else 0)

    def decode_error(self, src: str) -> None:
        stats = self.by_address.get(src)
        if stats is not None:
            stats.decode_errors += 1
        elif len(self.errors_by_source) < 10000 or src in self.errors_by_source:
            self.errors_by_source[src] = self.errors_by_source.get(src, 0) + 1

    def get(self, agent: str, now: float | None = None):
        """The agent's record, created for a new agent; None (the datagram is refused and
        counted) for a new agent while the table is full."""
        stats = self.by_address.get(agent)
        return stats if stats is not None else self.admit(agent, now)

    def admit(self, agent: str, now: float | None = None):
        """A new agent's record, or None when the table is full (its datagram is refused)."""
        now = time.time() if now is None else now
        by_address = self.by_address
        if self.known() >= self.max_agents:
            self.expire(now, force=True)
            known = self.known()
            if known >= self.max_agents:
                self.refused += 1
                if now - self._warned >= 60.0:
                    self._warned = now
                    log.warning(
                        f"{known} sFlow agents known (agents.max): datagrams "
                        f"from new agents such as {agent} are refused"
                    )
                return None
        stats = by_address[agent] = self.record(agent, float(now))
        if self._publish is not None:
            self._publish(len(by_address))
        return stats

    def expire(self, now: float | None = None, force: bool = False) -> int:
        """Forget agents not heard from for ``timeout`` seconds; returns how many. The pass
        over the table runs only once one can be due: agents' last datagram times only move
        forward, so the oldest one found by a pass bounds when the next can expire."""
        now = time.time() if now is None else now
        if not force and now < self._next_expiry:
            return 0
        old = now - self.timeout
        gone, oldest = [], float("inf")
        for a, r in self.by_address.items():
            seen = r.last_seen
            if seen < old:
                gone.append(a)
            elif seen < oldest:
                oldest = seen
        for a in gone:
            del self.by_address[a]
        self._next_expiry = oldest + self.timeout
        self.expired += len(gone)
        if gone and self._publish is not None:
            self._publish(len(self.by_address))
        return len(gone)

    def current(self, now: float | None = None) -> dict:
        """``by_address`` without the agents due to be forgotten."""
        self.expire(now)
        return self.by_address

    def to_json(self, selected: list[str] | None = None, now: float | None = None) -> dict:
        now = time.time() if now is None else now
        by_address = self.current(now)
        names = selected if selected else sorted(by_address)
        return {a: by_address[a].to_json(now) for a in names if a in by_address}


def agents_json(engine, selector=None, now: float | None = None) -> dict:
    """/agents/json and agents(): every agent, or those a selector picks, written as for the
    metric queries (docs/metrics.md): addresses (IPv6 in any spelling), host names, ``ALL``,
    ``TOPOLOGY`` / ``EDGE`` / ``CORE`` (the agents they select ports of), as a comma or
    semicolon list or a list of such items. ValueError for a malformed selector. With workers
    each reports its own agents (an agent lives in one worker); the answer is their union."""
    if selector is None:
        items = []
    elif isinstance(selector, (list, tuple, set, frozenset)):
        items = [str(a) for a in selector]
    else:
        items = [str(selector)]
    items = [p.strip() for a in items for p in a.replace(";", ",").split(",") if p.strip()]
    now = time.time() if now is None else now
    merged: dict = {}
    for part in engine.gather(None, "agents_partial", items, now):
        merged.update(part)
    return {a: merged[a] for a in sorted(merged)}


def local_agents(engine, items: list[str], now: float) -> dict:
    """The agents of this process that a parsed selector (``items``, [] = every agent) picks."""
    table: AgentTable = engine.agents
    table.expire(now)
    if not items:
        return table.to_json(None, now)
    store = (getattr(engine, "subsystems", None) or {}).get("metrics")
    if store is not None and hasattr(store, "select_agents"):
        selected = store.select_agents(items)
        if selected is None:
            return table.to_json(None, now)
        items = sorted(selected)
    return {a: table.by_address[a].to_json(now) for a in items if a in table.by_address}
