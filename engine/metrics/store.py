"""MetricStore: the latest metrics of every (agent, data source) and the queries over them.

Sample path: update() maps a counter sample's records to metrics (engine.metrics.counters),
computing rates against the previous sample of the same data source, and merges them into the
data source's ``values``. An index ``metric name -> {data source: value}`` lets a query over
every agent read one metric's values without visiting each data source.

A data source is current until it misses 3 polls (3 x its measured polling interval + 1 s) on
the wall clock or on its agent's sysUpTime, or for ``metrics.timeout`` seconds (default 60)
while its interval is unknown; stale data sources are skipped by queries at once and removed by
a sweep every few seconds (at once when the agent's clock shows them stale).
"""

from __future__ import annotations

import ipaddress
import itertools
import time
from itertools import islice
from typing import Callable

from .. import log
from ..fanout import gather, replicate
from ..shared import SharedTable
from .aggregate import (  # noqa: F401  (re-exported)
    SELECTIONS,
    MetricSpec,
    ds_order,
    parse_metric,
    sort_key,
    split_list,
    split_qualifier,
    summarize,
)
from .counters import RECORD_MAPS, RTMETRIC_COUNTER_MOD, _derive_if, _round_float
from .filters import compile_filter, matches
from .partial import merge as merge_statistic, partial as partial_statistic
from .provider import MetricEntry
from .selection import Selection

DEFAULT_TIMEOUT = 60.0
MISSED_POLLS = 3
SWEEP_EVERY = 5.0
_PARENT_TAG = "0:2002"
_RTMETRIC_TAG = "4300:1002"
_INF = float("inf")
_NUMBER_TYPES = {int, float}


def flatten_agents(agents) -> list:
    """An agent array with nested arrays flattened: apps pass a REST query value, itself an
    array, inside one (sflow-test: ``agents([req.query.agent])``); sFlow-RT's Java conversion
    reads such an element as its text, i.e. its items joined."""
    out = []
    for x in agents:
        if isinstance(x, (list, tuple)):
            out.extend(flatten_agents(x))
        else:
            out.append(x)
    return out


class DataSource:
    __slots__ = (
        "agent",
        "id",
        "ds_class",
        "values",
        "prev",
        "last",
        "uptime",
        "seq",
        "samples",
        "interval",
        "expires",
        "parent",
        "sub",
        "deadline",
    )

    def __init__(self, agent: "AgentState", ds_id: str, ds_class):
        self.agent = agent
        self.id = ds_id
        self.ds_class = ds_class
        self.values: dict = {}
        self.prev: dict = {}  # record tag -> (record, time, uptime, seq) of the previous sample
        self.last = 0.0  # time of the latest sample
        self.uptime: int | None = None  # agent sysUpTime (ms) at the latest sample
        self.seq = None
        self.samples = 0
        self.interval: float | None = None  # measured polling interval, seconds
        self.expires = 0.0
        self.parent: str | None = None  # data source id of the host_parent (virtual machines)
        self.sub = None  # sub-agent whose datagrams carry it (whose clock it follows)
        self.deadline: float | None = None  # agent clock (ms) after which it has missed 3 polls


class AgentState:
    __slots__ = ("address", "sources", "host", "clocks", "clock_next")

    def __init__(self, address: str):
        self.address = address
        self.sources: dict[str, DataSource] = {}
        self.host: DataSource | None = None  # the data source carrying host_descr (2.1 ...)
        self.clocks: dict = {}  # sub-agent -> its latest sysUpTime (ms)
        self.clock_next: dict = {}  # sub-agent -> no data source of it is stale before this


class _RTMetricMap:
    """4300:1002 samples: named metrics; counters become rates, the rest are kept as sent."""

    needs_prev = True

    @staticmethod
    def apply(rec: dict, prev: dict | None, dt: float, out: dict, virtual: bool) -> None:
        typed = rec["typed"]
        prev_typed = prev["typed"] if prev is not None else None
        for name, (mtype, value) in typed.items():
            mod = RTMETRIC_COUNTER_MOD.get(mtype)
            if mod is None:
                out[name] = _round_float(value) if mtype == 5 else value
            elif prev_typed is not None and dt > 0:
                p = prev_typed.get(name)
                if p is None or p[0] != mtype:
                    continue
                d = value - p[1]
                if d < 0:
                    d += mod
                    if d >= mod >> 1:
                        continue
                out[name] = d / dt


_MAPS: dict = dict(RECORD_MAPS)  # and the class below
_MAPS[_RTMETRIC_TAG] = _RTMetricMap


def counter_plans() -> dict:
    """Record tag -> how the C counter path (engine/sflow/_counters.c) turns that record into
    metrics, for the records it takes: a fixed layout of numbers (counter_records.FIXED_LAYOUTS)
    mapped by a RecordMap of gauges, floats, counters and enums, derived by nothing or by
    _derive_if. A sample with any other record stays with update()."""
    from ..sflow.counter_records import FIXED_LAYOUTS

    plans = {}
    for shown, m in RECORD_MAPS.items():
        enterprise, fmt = (int(x) for x in shown.split(":"))
        tag = (enterprise << 12) | fmt
        layout = FIXED_LAYOUTS.get(tag)
        if layout is None or m.strings or m.derive not in (None, _derive_if):
            continue
        names, codes = layout
        if len(names) > 48:  # _counters.c MAX_FIELDS
            continue
        idx = {n: i for i, n in enumerate(names)}
        fields = [t[0] for t in m.gauges + m.floats + m.counters + m.enums]
        if any(f not in idx for f in fields):
            continue
        derive = 1 if m.derive is _derive_if else 0
        if derive and not {"ifStatus", "ifSpeed"} <= idx.keys():
            continue
        plans[tag] = (
            shown,
            names,
            codes,
            bool(m.needs_prev),
            tuple((idx[src], dst, unknown) for src, dst, unknown in m.gauges),
            tuple((idx[src], dst) for src, dst in m.floats),
            tuple(
                (idx[src], src, dst, mod == 1 << 64, unknown, half)
                for src, dst, mod, unknown, half in m.counters
            ),
            tuple((idx[src], dst, table) for src, dst, table in m.enums),
            derive,
            idx.get("ifStatus", -1),
            idx.get("ifSpeed", -1),
        )
    # every plan's metric names are its own: the C path then never writes a name twice in one
    # sample (it takes only samples whose record tags differ), as a dict would merge them
    made = {}
    for tag, plan in plans.items():
        names = [f[1] for f in plan[4] + plan[5] + plan[7]] + [f[2] for f in plan[6]]
        if plan[8]:
            names += [
                "ifadminstatus",
                "ifoperstatus",
                "ifinutilization",
                "ifoututilization",
                "ifinpkts",
                "ifoutpkts",
            ]
        made[tag] = names
    seen: dict = {}
    for names in made.values():
        for n in names:
            seen[n] = seen.get(n, 0) + 1
    return {tag: plan for tag, plan in plans.items() if all(seen[n] == 1 for n in made[tag])}


_COUNTER_PLANS: dict | None = None


class MetricStore:
    def __init__(self, engine=None, timeout: float | None = None):
        self.engine = engine
        if timeout is None:
            timeout = DEFAULT_TIMEOUT
            props = getattr(engine, "props", None)
            if props is not None:
                raw = props.get_str("metrics.timeout") if hasattr(props, "get_str") else None
                if raw not in (None, ""):
                    try:
                        timeout = float(raw)
                        if not timeout > 0:
                            raise ValueError
                    except ValueError:
                        timeout = DEFAULT_TIMEOUT
                        log.warning(
                            f"metrics.timeout={raw!r} is not a positive number of seconds, "
                            f"using {DEFAULT_TIMEOUT:g}"
                        )
        self.timeout = timeout
        self.agents: dict[str, AgentState] = {}
        # metric name -> {data source: current value}; queries over every agent read the
        # values from here instead of visiting each data source's own dict
        self.index: dict[str, dict[DataSource, object]] = {}
        self.name_seen: dict[str, float] = {}
        self.providers: list = []
        # callback(agent, data_source, values, now) after each counter sample (history)
        self.update_subscribers: list = []
        self.selectors: dict[str, Callable] = {}
        # Interface and host names, the cross-agent state the topology maps nodes and ports
        # with: (agent, ifIndex data source) -> ifname and (agent, "") -> host_name, shared
        # by every worker (engine/shared.py). Its version changes whenever a name appears,
        # changes or goes, here or (with workers) in another worker.
        shared = getattr(engine, "shared", None)
        self.names: SharedTable = shared("names") if shared is not None else SharedTable("names")
        # update subscribers of the front, fed by the workers (subscribe_updates)
        self._relays: dict = {}
        self._relaying: dict = {}
        self._relay_ids = itertools.count(1)
        on_publish = getattr(engine, "on_publish", None)
        if on_publish is not None:
            on_publish("metric_updates", self._updates_in)
        self.counter_samples = 0
        self.ignored_samples = 0  # duplicates and out-of-order samples
        # called with (agent, data source id) when a data source is removed (expired)
        self.drop_listeners: list = []
        self._next_sweep = 0.0
        self._min_expires = _INF  # no data source expires before this (lower bound)
        self._next_query_sweep = 0.0
        self._c_config: tuple | None = None

    @property
    def names_version(self) -> int:
        """Changes whenever an ifname or host_name appears, changes or goes (the topology and
        BGP sources cache their port mappings against it)."""
        return self.names.version

    def _gather(self, method: str, *args) -> list:
        """``method`` in every process holding data sources: [local result] in process, one
        per worker on the front (docs/ingest.md, "Workers")."""
        return gather(self.engine, "metrics", self, method, *args)

    # -- wiring ------------------------------------------------------------------------------
    def add_provider(self, provider) -> None:
        self.providers.append(provider)

    def subscribe_updates(self, callback) -> Callable[[], None]:
        """``callback(agent, data_source, values: dict, now)`` after every counter sample that
        produced metrics (``values``: this sample's metrics, name -> value; do not keep or
        change the dict). Runs on the sample path: it must be quick; an exception in it is
        logged. Returns unsubscribe()."""
        self.update_subscribers = self.update_subscribers + [callback]
        # with workers the samples are there: each sends this callback its updates
        rid = next(self._relay_ids)
        self._relays[rid] = callback
        replicate(self.engine, "metrics", "relay_updates", rid)

        def unsubscribe():
            self.update_subscribers = [cb for cb in self.update_subscribers if cb is not callback]
            if self._relays.pop(rid, None) is not None:
                replicate(self.engine, "metrics", "unrelay_updates", rid)

        return unsubscribe

    def relay_updates(self, rid: int) -> None:
        """A worker: send the front's update subscriber ``rid`` every sample's metrics."""

        def relay(agent, data_source, values, now):
            self.engine.publish("metric_updates", (rid, agent, data_source, dict(values), now))

        self.unrelay_updates(rid)
        self._relaying[rid] = relay
        self.update_subscribers = self.update_subscribers + [relay]

    def unrelay_updates(self, rid: int) -> None:
        relay = self._relaying.pop(rid, None)
        if relay is not None:
            self.update_subscribers = [cb for cb in self.update_subscribers if cb is not relay]

    def _updates_in(self, item) -> None:
        rid, agent, data_source, values, now = item
        callback = self._relays.get(rid)
        if callback is not None:
            try:
                callback(agent, data_source, values, now)
            except Exception as exc:
                log.log.error("metric update subscriber %r failed: %r", callback, exc)

    def replica_state(self) -> list:
        """The calls that give a (re)started worker the update relays (docs/ingest.md)."""
        return [("relay_updates", (rid,), {}) for rid in self._relays]

    def add_agent_selector(self, name: str, fn) -> None:
        """``fn()`` returns a Selection (agent -> None or a data-source predicate) or an
        iterable of agent addresses (every data source of each)."""
        self.selectors[name.upper()] = fn

    def c_counter_config(self) -> tuple:
        """For the C batch ingest (engine/ingest.py): what it needs to take counter samples
        into this store itself (engine/sflow/_counters.c follows update() rule for rule)."""
        global _COUNTER_PLANS
        if self._c_config is None:
            if _COUNTER_PLANS is None:
                _COUNTER_PLANS = counter_plans()
            # one tuple for the store's life: the C side keeps what it made of it
            self._c_config = (
                self,
                _COUNTER_PLANS,
                DataSource,
                AgentState,
                _round_float,
                MISSED_POLLS,
                _INF,
            )
        return self._c_config

    def handle_sample(self, sample, now: float) -> None:
        uptime = sub = None
        engine = self.engine
        if engine is not None:
            stats = engine.agents.by_address.get(sample.agent)
            if stats is not None:  # the datagram carrying this sample
                uptime, sub = stats.uptime, stats.sub_agent
        self.update(
            sample.agent,
            sample.data_source,
            sample.ds_class,
            sample.seq,
            sample.records(),
            now,
            uptime,
            sub,
        )

    def handle_other(self, sample, now: float) -> None:
        if sample.kind != "rtmetric":
            return
        uptime = sub = None
        if self.engine is not None:
            stats = self.engine.agents.by_address.get(sample.agent)
            if stats is not None:
                uptime, sub = stats.uptime, stats.sub_agent
        rec = {"counterBlock_tag": _RTMETRIC_TAG, "typed": sample.metrics_typed}
        self.update(sample.agent, sample.datasource, None, None, [rec], now, uptime, sub)

    # -- sample path -------------------------------------------------------------------------
    def update(
        self,
        agent: str,
        data_source: str,
        ds_class,
        seq,
        records: list[dict],
        now: float,
        uptime: int | None = None,
        sub_agent=None,
    ) -> None:
        """One counter sample: records are dicts with sflowtool names and counterBlock_tag;
        `uptime` is the sysUpTime (ms) of the datagram carrying it, `sub_agent` its sub-agent.

        Time is the agent's (docs/metrics.md, "Time: the agent's clock"): a rate is the
        increase divided by the difference of the two samples' sysUpTime, the polling interval
        is measured the same way, and a data source that missed 3 polls on its agent's clock
        goes, so the same datagrams give the same metrics whether they arrive in real time or
        replayed fast. Arrival times are used only where the agent's clock says nothing."""
        if now >= self._next_sweep:
            self.sweep(now)
        a = self.agents.get(agent)
        if a is None:
            a = self.agents[agent] = AgentState(agent)
        ds = a.sources.get(data_source)
        if ds is not None and ds.expires < now:
            self._drop(ds)
            ds = None
        if ds is None:
            ds = a.sources[data_source] = DataSource(a, data_source, ds_class)
        else:
            gap = 1
            if seq is not None and ds.seq is not None:
                last = ds.seq
                if seq == last:
                    self.ignored_samples += 1
                    return
                if seq < last:
                    if seq < 5 or last - seq > 1000:
                        ds.prev.clear()  # the agent restarted: counters start again
                        gap = 0
                    else:
                        self.ignored_samples += 1
                        return
                else:
                    gap = seq - last
            elapsed = 0.0
            if uptime is not None and ds.uptime is not None:
                if uptime < ds.uptime:
                    ds.prev.clear()
                    gap = 0
                else:
                    elapsed = (uptime - ds.uptime) / 1000.0
            if elapsed <= 0 and (ds.interval is None or uptime is None):
                elapsed = now - ds.last  # no agent clock to go by
            # the agent's clock (sysUpTime) measures the interval, missed polls divided out
            if 0 < gap <= 1000 and elapsed > 0:
                ds.interval = elapsed / gap
        self.counter_samples += 1
        virtual = ds_class == 3
        if not virtual:
            for rec in records:
                if rec.get("counterBlock_tag") == _PARENT_TAG:
                    virtual = True
                    break
        prev_map = ds.prev
        out: dict = {}
        interval = ds.interval
        for rec in records:
            tag = rec.get("counterBlock_tag")
            m = _MAPS.get(tag)
            if m is None:
                if tag == _PARENT_TAG:
                    cls, idx = rec.get("parent_dsClass"), rec.get("parent_dsIndex")
                    if cls is not None and idx is not None:
                        ds.parent = str(idx) if cls == 0 else f"{cls}.{idx}"
                continue
            p = prev_map.get(tag)
            if p is not None:
                prec, ptime, puptime, pseq = p
                if uptime is not None and puptime is not None and uptime > puptime:
                    dt = (uptime - puptime) / 1000.0
                elif interval and seq is not None and pseq is not None and seq > pseq:
                    dt = (seq - pseq) * interval  # clock stuck: the polls in between
                else:
                    dt = now - ptime
                if dt <= 0:
                    prec = None
            else:
                prec, dt = None, 0.0
            m.apply(rec, prec, dt, out, virtual)
            if m.needs_prev:
                prev_map[tag] = (rec, now, uptime, seq)
        ds.seq = seq
        ds.uptime = uptime
        ds.last = now
        ds.samples += 1
        patience = MISSED_POLLS * interval + 1.0 if interval else self.timeout
        expires = ds.expires = now + patience
        if expires < self._min_expires:
            self._min_expires = expires
        if uptime is not None:
            ds.sub = sub_agent
            # a data source seen once has no polling interval yet: only the wall clock (the
            # metrics.timeout) retires it, so a slow first poll cannot erase it
            ds.deadline = uptime + patience * 1000.0 if interval else None
            self._agent_clock(a, sub_agent, uptime, ds.deadline)
        if not out:
            return
        names_changed = False
        if "ifname" in out or "host_name" in out:
            vals = ds.values
            names_changed = out.get("ifname", vals.get("ifname")) != vals.get("ifname") or out.get(
                "host_name", vals.get("host_name")
            ) != vals.get("host_name")
        index = self.index
        try:
            for name, value in out.items():
                index[name][ds] = value
        except KeyError:  # a metric name seen for the first time
            for name, value in out.items():
                entry = index.get(name)
                if entry is None:
                    entry = index[name] = {}
                entry[ds] = value
        ds.values.update(out)
        self.name_seen.update(dict.fromkeys(out, now))
        if "host_name" in out and (a.host is None or a.host is ds or a.host.expires < now):
            if a.host is not ds:
                names_changed = True
            a.host = ds
        if names_changed:
            self._publish_names(a, ds)
        if self.update_subscribers:
            self._notify(agent, data_source, out, now)

    def _notify(self, agent: str, data_source: str, out: dict, now: float) -> None:
        """A counter sample's metrics to the update subscribers (history; with workers, the
        relays to the front's): also called by the C counter path (_counters.c)."""
        for callback in self.update_subscribers:
            try:
                callback(agent, data_source, out, now)
            except Exception as exc:
                log.log.error("metric update subscriber %r failed: %r", callback, exc)

    def _publish_names(self, a: AgentState, ds: DataSource | None) -> None:
        """The names table entries of an agent's host and of data source ``ds``."""
        names = self.names
        if ds is not None:
            ifname = ds.values.get("ifname")
            if ifname is None:
                names.delete((a.address, ds.id))
            else:
                names.set((a.address, ds.id), ifname)
        host = a.host.values.get("host_name") if a.host is not None else None
        if host is None:
            names.delete((a.address, ""))
        else:
            names.set((a.address, ""), host)

    def _agent_clock(self, a: AgentState, sub, uptime: int, deadline: float | None) -> None:
        """The agent (sub-agent) clock reached `uptime`: data sources of it whose deadline
        passed (3 missed polls while it went on sending others) go, at once, as they would by
        the wall clock when the datagrams arrive in real time. `deadline` is the one just
        refreshed; clock_next is a lower bound of the others', so this scans an agent's data
        sources only about once every 3 polls."""
        clocks = a.clocks
        if clocks.get(sub, uptime) > uptime:
            a.clock_next[sub] = _INF  # restarted: the old deadlines are another epoch
        clocks[sub] = uptime
        nxt = a.clock_next.get(sub, _INF)
        if deadline is not None and deadline < nxt:
            a.clock_next[sub] = nxt = deadline
        if uptime <= nxt:
            return
        soonest = _INF
        for other in tuple(a.sources.values()):
            d = other.deadline
            if other.sub != sub or d is None:
                continue
            if d < uptime and other.uptime <= uptime:  # type: ignore[operator]  # has a deadline: has an uptime
                self._drop(other)
            elif d < soonest:
                soonest = d
        a.clock_next[sub] = soonest

    def _drop(self, ds: DataSource) -> None:
        a = ds.agent
        if a.sources.get(ds.id) is ds:
            del a.sources[ds.id]
        if a.host is ds:
            a.host = None
        if "ifname" in ds.values or "host_name" in ds.values:
            self.names.delete((a.address, ds.id))
            self._publish_names(a, None)
        index = self.index
        for name in ds.values:
            entry = index.get(name)
            if entry is not None:
                entry.pop(ds, None)
                if not entry:
                    del index[name]
                    self.name_seen.pop(name, None)
        ds.values = {}
        for listener in self.drop_listeners:
            try:
                listener(a.address, ds.id)
            except Exception as exc:
                log.log.error("data source removal listener %r failed: %r", listener, exc)

    def sweep(self, now: float | None = None) -> int:
        """Remove stale data sources (and agents left without any); returns how many."""
        now = time.time() if now is None else now
        self._next_sweep = now + SWEEP_EVERY
        dropped = 0
        soonest = _INF
        for address, a in list(self.agents.items()):
            for ds in list(a.sources.values()):
                if ds.expires < now:
                    self._drop(ds)
                    dropped += 1
                elif ds.expires < soonest:
                    soonest = ds.expires
            if not a.sources:
                del self.agents[address]
        self._min_expires = soonest
        return dropped

    def _all_fresh(self, now: float) -> bool:
        """True when no data source in the store is stale at `now` (so queries need not check
        each one). Stale ones are swept out here, at most once a second."""
        if now < self._min_expires:
            return True
        if now >= self._next_query_sweep:
            self._next_query_sweep = now + 1.0
            self.sweep(now)
            return now < self._min_expires
        return False

    # -- lookups -----------------------------------------------------------------------------
    def _lookup(self, ds: DataSource, name: str, now: float):
        """A metric of a data source; for names it lacks, its parent's or its agent's host
        data source's value (so filters like host_name apply to interfaces and containers)."""
        v = ds.values.get(name)
        if v is not None:
            return v
        a = ds.agent
        if ds.parent is not None:
            p = a.sources.get(ds.parent)
            if p is not None and p.expires >= now:
                v = p.values.get(name)
                if v is not None:
                    return v
        h = a.host
        if h is not None and h is not ds and h.expires >= now:
            return h.values.get(name)
        return None

    def _lookup_at(self, agent: str, ds_id: str, name: str, now: float):
        a = self.agents.get(agent)
        if a is None:
            return None
        ds = a.sources.get(ds_id)
        if ds is not None and ds.expires >= now:
            return self._lookup(ds, name, now)
        h = a.host
        if h is not None and h.expires >= now:
            return h.values.get(name)
        return None

    def _filter_ok(self, flt, agent: str, ds_id: str, now: float) -> bool:
        return matches(flt, lambda n: self._lookup_at(agent, ds_id, n, now))

    def filter_matches(
        self, agent: str, data_source: str, filter, now: float | None = None
    ) -> bool:
        """Does (agent, data source) pass a metric filter ({name: [values]}, or the list
        compile_filter() returns), with the same lookup and matching rules as queries?"""
        now = time.time() if now is None else now
        flt = filter if isinstance(filter, list) else compile_filter(filter)
        return flt is None or self._filter_ok(flt, agent, data_source, now)

    def select_agents(self, agents) -> Selection | None:
        """Agent selector -> None for every agent (and data source), else a Selection: the
        selected agents, each mapped to None (all its data sources) or a predicate over data
        source ids (TOPOLOGY/EDGE/CORE, from the selectors the topology registers)."""
        if agents is None or isinstance(agents, Selection):
            return agents
        if isinstance(agents, str):
            items = [p.strip() for p in agents.replace(";", ",").split(",")]
        elif isinstance(agents, (list, tuple, set)):
            items = []
            for x in flatten_agents(agents):
                if not isinstance(x, str):
                    raise ValueError(f"bad agent {x!r}")
                items.extend(p.strip() for p in x.replace(";", ",").split(","))
        else:
            raise ValueError("agents must be 'ALL', an address, a list of addresses or an array")
        items = [i for i in items if i]
        if not items:
            raise ValueError("no agent given")
        out: set[str] = set()
        ports: list[Selection] = []
        for item in items:
            upper = item.upper()
            if upper == "ALL":
                return None
            if upper in self.selectors:
                ports.append(Selection.coerce(self.selectors[upper]()))
                continue
            if upper in ("TOPOLOGY", "EDGE", "CORE"):
                continue  # no topology installed: selects nothing
            if item in self.agents:
                out.add(item)
                continue
            try:
                out.add(str(ipaddress.ip_address(item)))
                continue
            except ValueError:
                pass
            for address, a in self.agents.items():  # a host name
                h = a.host
                if h is not None and h.values.get("host_name") == item:
                    out.add(address)
        selection = Selection.of_agents(out)
        for sel in ports:
            selection = selection.union(sel) if selection else sel
        return selection

    def _sources(self, selected: Selection | None, name: str, ds_id: str | None, now: float):
        """(data sources, values): the current data sources having counter metric `name`."""
        entry = self.index.get(name)
        if not entry:
            return [], []
        if selected is None:
            if ds_id is None:
                if self._all_fresh(now):
                    # a live keys view, not a list: no pass over every data source object
                    # unless the caller needs one (callers do not yield before using it)
                    return entry.keys(), list(entry.values())
                dss = [ds for ds in tuple(entry) if ds.expires >= now]
            else:
                dss = [ds for ds in tuple(entry) if ds.id == ds_id and ds.expires >= now]
        else:
            dss = []
            agents = self.agents
            for address, wanted in selected.items():
                a = agents.get(address)
                if a is None:
                    continue
                if ds_id is not None:
                    ds = a.sources.get(ds_id)
                    if (
                        ds is not None
                        and ds.expires >= now
                        and ds in entry
                        and (wanted is None or wanted(ds_id))
                    ):
                        dss.append(ds)
                    continue
                for ds in tuple(a.sources.values()):
                    if ds.expires >= now and ds in entry and (wanted is None or wanted(ds.id)):
                        dss.append(ds)
        get = entry.get
        vals = [get(ds) for ds in dss]
        if None in vals:  # dropped meanwhile
            pairs = [(ds, v) for ds, v in zip(dss, vals) if v is not None]
            dss, vals = [p[0] for p in pairs], [p[1] for p in pairs]
        return dss, vals

    def _provider_entries(self, selected, name: str, ds_id: str | None, flt, now: float) -> list:
        out = []
        # providers may select by agent only: the data-source part is applied here
        has = selected.has if selected is not None and selected.restricted else None
        for p in self.providers:
            for e in p.metric_entries(selected, name, now) or ():
                if ds_id is not None and e.data_source != ds_id:
                    continue
                if has is not None and not has(e.agent, e.data_source):
                    continue
                if flt is not None and not flt.entry_ok(e.agent, e.data_source, now):
                    continue
                out.append(e)
        return out

    def _counter_sources(self, selected, spec: MetricSpec, flt: "_FilterRun | None", now: float):
        """(data sources, values) of a counter metric after the filter."""
        dss, vals = self._sources(selected, spec.name, spec.ds, now)
        if flt is not None and dss:
            ok = flt.ds_ok
            dss = list(dss)
            keep = [i for i, ds in enumerate(dss) if ok(ds, now)]
            dss = [dss[i] for i in keep]
            vals = [vals[i] for i in keep]
        return dss, vals

    def _filter_run(self, filter) -> "_FilterRun | None":
        compiled = compile_filter(filter)
        return None if compiled is None else _FilterRun(self, compiled)

    # -- public queries ----------------------------------------------------------------------
    def entries(
        self, agents, name: str, filter=None, now: float | None = None
    ) -> list[MetricEntry]:
        """Every current (agent, dataSource) value of one metric (counter or provider)."""
        now = time.time() if now is None else now
        selected = self.select_agents(agents)
        base, ds_id = split_qualifier(name)
        return self._metric_entries(
            selected, MetricSpec(name, "max", base, ds_id), self._filter_run(filter), now
        )

    # Each public query is a partial (what this process computes from its own data sources,
    # called through _gather) and a merge of the partials (one in process, one per worker on
    # the front), so that 1 and N workers give one answer (docs/ingest.md, "Workers").
    def query_metric(self, agents, metrics, filter=None, now: float | None = None) -> list[dict]:
        now = time.time() if now is None else now
        texts = split_list(metrics)
        specs = [parse_metric(m) for m in texts]
        compile_filter(filter)  # a bad filter is refused here, not per worker
        parts = self._gather("metric_partials", agents, texts, filter, now)
        return [merge_statistic(spec, [p[i] for p in parts], now) for i, spec in enumerate(specs)]

    def metric_partials(self, agents, texts: list, filter, now: float) -> list:
        specs = [parse_metric(m) for m in texts]
        selected = self.select_agents(agents)
        flt = self._filter_run(filter)
        return [self._statistic_partial(spec, selected, flt, now) for spec in specs]

    def _statistic_partial(self, spec: MetricSpec, selected, flt, now: float):
        # Hot for metric('ALL', ...) over thousands of agents: whole-list operations (C loops)
        # instead of per-value Python calls (engine/metrics/partial.py).
        name = spec.name
        sources, vals = self._counter_sources(selected, spec, flt, now)
        lasts = [ds.last for ds in sources]
        n_counter = len(sources)
        pentries = (
            self._provider_entries(selected, name, spec.ds, flt, now) if self.providers else ()
        )
        if pentries:
            vals = list(vals) + [e.value for e in pentries]
            lasts += [now - e.last_update_ms / 1000.0 for e in pentries]

        listed: list = []

        def where(i: int):
            if i < n_counter:
                if not listed:  # a live keys view: listed once if ties need many lookups
                    listed.append(sources if isinstance(sources, list) else list(sources))
                ds = listed[0][i]
                return ds.agent.address, ds.id, None
            e = pentries[i - n_counter]
            return e.agent, e.data_source, e.top_keys

        return partial_statistic(spec.agg, vals, lasts, where)

    def _metric_entries(self, selected, spec: MetricSpec, flt, now: float) -> list[MetricEntry]:
        name = spec.name
        dss, vals = self._counter_sources(selected, spec, flt, now)
        out = [
            MetricEntry(ds.agent.address, ds.id, name, v, _ms(now - ds.last), None)
            for ds, v in zip(dss, vals)
        ]
        if self.providers:
            out.extend(self._provider_entries(selected, name, spec.ds, flt, now))
        return out

    def query_table(self, agents, columns, filter=None, now: float | None = None) -> list[list]:
        now = time.time() if now is None else now
        cols, base, sort_col, sort_n = _table_columns(columns)
        compile_filter(filter)
        parts = self._gather("table_partial", agents, columns, filter, now)
        if len(parts) == 1:
            return parts[0]
        return _merge_rows([r for p in parts for r in p], base, sort_col, sort_n)

    def table_partial(self, agents, columns, filter, now: float) -> list[list]:
        cols, base, sort_col, sort_n = _table_columns(columns)
        selected = self.select_agents(agents)
        flt = self._filter_run(filter)
        base_spec = cols[base][0]
        bname = base_spec.name
        # one row candidate per (agent, data source) having the base column: DataSource
        # objects for counters, MetricEntry for provider metrics; cells are built only for
        # the rows that are returned
        refs, base_vals = self._counter_sources(selected, base_spec, flt, now)
        refs = list(refs)
        if self.providers:
            refs.extend(self._provider_entries(selected, bname, base_spec.ds, flt, now))
        provider_maps: dict[int, dict] = {}
        if sort_col is None:
            order = sorted(range(len(refs)), key=lambda i: _ref_sort(refs[i]))
            limit = None
        else:
            if sort_col == base:
                svals = base_vals + [r.value for r in refs[len(base_vals) :]]
            else:
                sspec = cols[sort_col][0]
                svals = []
                for r in refs:
                    agent, ds_id = _ref_where(r)
                    raw = self._cell_raw(
                        agent, sspec.ds or ds_id, sspec, now, provider_maps, sort_col
                    )
                    svals.append(None if raw is None else raw[1])
            order = _sorted_positions(svals, sort_n, lambda i: _ref_sort(refs[i]))
            limit = abs(sort_n) if sort_n else None
        rows = []
        for i in order:
            r = refs[i]
            agent, ds_id = _ref_where(r)
            row: list = []
            for c, (spec, nullable) in enumerate(cols):
                if c == base:
                    cell = _ref_dict(r, bname, now)
                else:
                    raw = self._cell_raw(agent, spec.ds or ds_id, spec, now, provider_maps, c)
                    cell = None if raw is None else _raw_dict(agent, spec.name, raw)
                if cell is None and not nullable:
                    break  # no row for this data source
                row.append(cell)
            else:
                rows.append(row)
                if limit is not None and len(rows) >= limit:
                    break
        return rows

    def _cell_raw(
        self,
        agent: str,
        ds_id: str,
        spec: MetricSpec,
        now: float,
        provider_maps: dict[int, dict],
        col,
    ):
        """(dataSource, value, lastUpdate ms, topKeys) of a table cell, or None."""
        name = spec.name
        a = self.agents.get(agent)
        if a is not None:
            ds = a.sources.get(ds_id)
            if ds is not None and ds.expires >= now:
                owner = ds if name in ds.values else None
                if owner is None and ds.parent is not None:
                    p = a.sources.get(ds.parent)
                    if p is not None and p.expires >= now and name in p.values:
                        owner = p
                if owner is None and spec.ds is None:
                    h = a.host
                    if h is not None and h.expires >= now and name in h.values:
                        owner = h
                if owner is not None:
                    return owner.id, owner.values[name], _ms(now - owner.last), None
        if self.providers:
            m = provider_maps.get(col)
            if m is None:
                m = provider_maps[col] = {}
                for e in self._provider_entries(None, name, spec.ds, None, now):
                    m[(e.agent, e.data_source)] = e
            e = m.get((agent, ds_id))
            if e is not None:
                return e.data_source, e.value, e.last_update_ms, e.top_keys
        return None

    def query_dump(self, agents, metrics, filter=None, now: float | None = None) -> list[dict]:
        now = time.time() if now is None else now
        items = split_list(metrics, ",;")
        if not any(i.upper() == "ALL" for i in items):
            for text in items:
                parse_metric(text)
                if ":" in text:
                    raise ValueError(f"dump metric {text!r}: aggregations are not allowed")
        compile_filter(filter)
        parts = self._gather("dump_partial", agents, items, filter, now)
        many = len(parts) > 1
        if isinstance(parts[0], dict):  # ALL: counters, then each provider metric
            out = [e for p in parts for e in p["counters"]]
            if many:
                out.sort(key=lambda e: (e["agent"], _ds_sort(e["dataSource"]), e["metricName"]))
            for name in sorted({n for p in parts for n in p["providers"]}):
                out.extend(_by_location([p["providers"].get(name, ()) for p in parts], many))
            return out
        return [e for i in range(len(items)) for e in _by_location([p[i] for p in parts], many)]

    def dump_partial(self, agents, items: list, filter, now: float):
        selected = self.select_agents(agents)
        flt = self._filter_run(filter)
        if any(i.upper() == "ALL" for i in items):
            counters = []
            for address in sorted(
                self.agents if selected is None else self.agents.keys() & selected.keys()
            ):
                a = self.agents[address]
                wanted = None if selected is None else selected[address]
                for ds in sorted(tuple(a.sources.values()), key=lambda d: _ds_sort(d.id)):
                    if ds.expires < now or (wanted is not None and not wanted(ds.id)):
                        continue
                    if flt is not None and not flt.ds_ok(ds, now):
                        continue
                    age = int((now - ds.last) * 1000)
                    for name, value in sorted(ds.values.items()):
                        counters.append(
                            {
                                "agent": address,
                                "dataSource": ds.id,
                                "metricName": name,
                                "metricValue": value,
                                "lastUpdate": age,
                            }
                        )
            providers = {
                name: [
                    _metric_dict(e)
                    for e in sorted(
                        self._provider_entries(selected, name, None, flt, now),
                        key=lambda e: (e.agent, _ds_sort(e.data_source)),
                    )
                ]
                for name in sorted(self._provider_names(now))
            }
            return {"counters": counters, "providers": providers}
        out = []
        for text in items:
            entries = self._metric_entries(selected, parse_metric(text), flt, now)
            entries.sort(key=lambda e: (e.agent, _ds_sort(e.data_source)))
            out.append([_metric_dict(e) for e in entries])
        return out

    def _provider_names(self, now: float) -> dict[str, int]:
        names: dict[str, int] = {}
        for p in self.providers:
            for name, age in (p.metric_names(now) or {}).items():
                if name not in names or age < names[name]:
                    names[name] = age
        return names

    def metric_names(self, now: float | None = None) -> dict[str, int]:
        now = time.time() if now is None else now
        parts = self._gather("names_partial", now)
        if len(parts) == 1:
            return parts[0]
        out: dict[str, int] = {}
        for p in parts:
            for name, age in p.items():
                if name not in out or age < out[name]:
                    out[name] = age
        return out

    def names_partial(self, now: float) -> dict[str, int]:
        if now >= self._next_sweep:
            self.sweep(now)
        out = {
            name: int((now - seen) * 1000)
            for name, seen in tuple(self.name_seen.items())
            if self.index.get(name)
        }
        for name, age in self._provider_names(now).items():
            if name not in out or age < out[name]:
                out[name] = age
        return out

    def agent_metrics(self, agent: str, now: float | None = None) -> dict | None:
        """/metric/{agent}/json: "dataSource.metric" -> value of the selected agent(s); None
        when no selected agent is known."""
        now = time.time() if now is None else now
        parts = self._gather("agent_metrics_partial", agent, now)
        if not any(p[0] for p in parts):
            return {} if any(p[1] for p in parts) else None
        out: dict = {}
        groups = [g for p in parts for g in p[2]]
        if len(parts) > 1:
            groups.sort(key=lambda g: g[0])
        for _, items in groups:
            out.update(items)
        provided = [t for p in parts for t in p[3]]
        if len(parts) > 1:
            provided.sort(key=lambda t: t[0])
        out.update((key, value) for _, key, value in provided)
        return out

    def agent_metrics_partial(self, agent: str, now: float):
        """(known, agent seen at all, [(agent, [(key, value)])], [(metric, key, value)])."""
        selected = self.select_agents(agent)
        groups = []
        known = False
        for address in sorted(selected if selected is not None else self.agents):
            a = self.agents.get(address)
            if a is None:
                continue
            known = True
            wanted = None if selected is None else selected[address]
            items = []
            for ds in sorted(tuple(a.sources.values()), key=lambda d: _ds_sort(d.id)):
                if ds.expires < now or (wanted is not None and not wanted(ds.id)):
                    continue
                for name, value in sorted(ds.values.items()):
                    items.append((f"{ds.id}.{name}", value))
            groups.append((address, items))
        provided = []
        if self.providers:
            has = selected.has if selected is not None and selected.restricted else None
            for name in sorted(self._provider_names(now)):
                for p in self.providers:
                    for e in p.metric_entries(selected, name, now) or ():
                        if has is not None and not has(e.agent, e.data_source):
                            continue
                        known = True
                        provided.append((name, f"{e.data_source}.{e.name}", e.value))
        seen = (
            not known
            and self.engine is not None
            and any(a in self.engine.agents.by_address for a in (selected or ()))
        )
        return known, seen, groups, provided

    def datasource_info(
        self, agent: str, data_source: str, now: float | None = None
    ) -> dict | None:
        now = time.time() if now is None else now
        info: dict = {}
        for part in self._gather("datasource_info_partial", agent, data_source, now):
            if part:
                info.update(part)
        return info or None

    def datasource_info_partial(self, agent: str, data_source: str, now: float) -> dict | None:
        info: dict = {}
        a = self.agents.get(agent)
        ds = a.sources.get(data_source) if a is not None else None
        if ds is not None and ds.expires >= now:
            info["counterSamples"] = ds.samples
            if ds.interval:
                info["effectivePollingInterval"] = int(round(ds.interval * 1000))
            info["lastUpdate"] = int((now - ds.last) * 1000)
        for p in self.providers:
            fn = getattr(p, "datasource_info", None)
            if fn is not None:
                extra = fn(agent, data_source)
                if extra:
                    info.update(extra)
        return info or None

    def host_name(self, agent: str):
        """The host_name an agent reports (its host data source), from the names table (on
        the front: as of the last exchange with the workers, e.g. the query just made)."""
        return self.names.get((agent, ""))

    def memory_stats(self) -> dict:
        return {
            "agents": len(self.agents),
            "dataSources": sum(len(a.sources) for a in self.agents.values()),
            "metricNames": len(self.index),
        }


class _FilterRun:
    """A compiled filter applied during one query: remembers each data source's verdict (the
    metrics of one query usually share data sources), each value's match and each inherited
    (parent or host) value, so thousands of data sources cost a few dict lookups each."""

    __slots__ = ("store", "compiled", "checks", "verdicts")

    def __init__(self, store: MetricStore, compiled):
        self.store = store
        self.compiled = compiled
        # (name, matcher, index getter, value -> bool, agent or (agent, parent) -> inherited value)
        self.checks: list[tuple] = [
            (name, matcher, (store.index.get(name) or {}).get, {}, {}) for name, matcher in compiled
        ]
        self.verdicts: dict = {}

    def ds_ok(self, ds: DataSource, now: float) -> bool:
        ok = self.verdicts.get(ds)
        if ok is not None:
            return ok
        ok = True
        for name, matcher, get, seen, inherited in self.checks:
            v = get(ds)
            if v is None:
                parent = ds.parent
                where = ds.agent if parent is None else (ds.agent, parent)
                if where in inherited:
                    v = inherited[where]
                else:
                    v = inherited[where] = self.store._lookup(ds, name, now)
                if v is None:
                    ok = False
                    break
            r = seen.get(v)
            if r is None:
                r = seen[v] = matcher(v)
            if not r:
                ok = False
                break
        self.verdicts[ds] = ok
        return ok

    def entry_ok(self, agent: str, ds_id: str, now: float) -> bool:
        return self.store._filter_ok(self.compiled, agent, ds_id, now)


def _nth(seq, i: int):
    return seq[i] if isinstance(seq, list) else next(islice(seq, i, None))


def _ms(seconds: float) -> int:
    return int(seconds * 1000) if seconds > 0 else 0


def _ref_where(r) -> tuple[str, str]:
    if type(r) is DataSource:
        return r.agent.address, r.id
    return r.agent, r.data_source


def _ref_sort(r):
    agent, ds_id = _ref_where(r)
    return agent, _ds_sort(ds_id)


def _ref_dict(r, name: str, now: float) -> dict:
    if type(r) is DataSource:
        return {
            "agent": r.agent.address,
            "dataSource": r.id,
            "metricName": name,
            "metricValue": r.values[name],
            "lastUpdate": _ms(now - r.last),
        }
    return _metric_dict(r)


def _raw_dict(agent: str, name: str, raw) -> dict:
    d = {
        "agent": agent,
        "dataSource": raw[0],
        "metricName": name,
        "metricValue": raw[1],
        "lastUpdate": raw[2],
    }
    if raw[3] is not None:
        d["topKeys"] = raw[3]
    return d


def _metric_dict(e: MetricEntry) -> dict:
    d = {
        "agent": e.agent,
        "dataSource": e.data_source,
        "metricName": e.name,
        "metricValue": e.value,
        "lastUpdate": e.last_update_ms,
    }
    if e.top_keys is not None:
        d["topKeys"] = e.top_keys
    return d


_ds_sort = ds_order


def _is_int(text: str) -> bool:
    try:
        int(text)
        return True
    except ValueError:
        return False


def _table_columns(columns):
    """Parsed table() columns: ([(spec, nullable)], base column, sort column, sort N);
    ValueError for a bad column list."""
    cols: list[tuple] = []  # (spec, nullable)
    sort_col, sort_n = None, None
    for text in split_list(columns):
        nullable = False
        if text.startswith("null:"):
            nullable, text = True, text[5:]
        elif text.startswith("sort:"):
            rest = text[5:]
            head, colon, tail = rest.rpartition(":")
            if colon and _is_int(tail):
                text, n = head, int(tail)
            else:
                text, n = rest, None
            if sort_col is not None:
                raise ValueError("only one sort: column allowed")
            sort_col, sort_n = len(cols), n
        spec = parse_metric(text)
        if ":" in text:
            raise ValueError(f"table column {text!r}: aggregations are not allowed")
        cols.append((spec, nullable))
    base = next((i for i, (_, nullable) in enumerate(cols) if not nullable), None)
    if base is None:
        raise ValueError("a table needs at least one column without null:")
    return cols, base, sort_col, sort_n


def _sorted_positions(svals: list, sort_n, where) -> list:
    """Positions of ``svals`` in table sort order: present values ascending (descending for
    N < 0), numbers in natural order or, with strings among them, numbers before strings;
    equal values by ``where(i)`` (agent, data source); missing (None) values last, by where."""
    present = [i for i, v in enumerate(svals) if v is not None]
    if set(map(type, (svals[i] for i in present))) <= _NUMBER_TYPES:
        key = svals.__getitem__
    else:
        key = lambda i: sort_key(svals[i])
    descending = sort_n is not None and sort_n < 0
    order = sorted(present, key=key, reverse=descending)
    # runs of equal values: by place, whatever order the data sources arrived in
    out = []
    i, n = 0, len(order)
    while i < n:
        j = i + 1
        v = svals[order[i]]
        while j < n and svals[order[j]] == v:
            j += 1
        out.extend(order[i:j] if j - i == 1 else sorted(order[i:j], key=where))
        i = j
    out += sorted((i for i, v in enumerate(svals) if v is None), key=where)
    return out


def _merge_rows(rows: list, base: int, sort_col, sort_n) -> list:
    """table() rows of several processes as one table, sorted and cut as the query says."""

    def where(i):
        cell = rows[i][base]
        return cell["agent"], _ds_sort(cell["dataSource"])

    if sort_col is None:
        rows.sort(key=lambda r: (r[base]["agent"], _ds_sort(r[base]["dataSource"])))
        return rows
    svals = [None if r[sort_col] is None else r[sort_col]["metricValue"] for r in rows]
    rows = [rows[i] for i in _sorted_positions(svals, sort_n, where)]
    return rows[: abs(sort_n)] if sort_n else rows


def _by_location(sections: list, many: bool) -> list:
    """Entry lists of several processes as one, sorted by agent and data source."""
    if not many:
        return list(sections[0])
    out = [e for section in sections for e in section]
    out.sort(key=lambda e: (e["agent"], _ds_sort(e["dataSource"])))
    return out
