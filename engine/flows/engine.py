"""FlowEngine: the flows subsystem object (``engine.subsystems["flows"]``). API: see
engine/flows/__init__.py."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import OrderedDict
from typing import Callable

from .. import log
from ..errors import InvalidDefinition, UnknownName
from ..fanout import fronted, gather, replicate, sync
from ..jsonvalues import whole
from ..metrics.filters import compile_filter
from ..metrics.selection import Selection, as_selection
from ..sflow import attributes as _attributes
from . import keyfuncs  # noqa: F401  (registers the built-in key functions)
from . import filters, pipeline, topn
from .cache import FlowTable
from .groups import GroupStore, MapStore
from .intervals import IntervalFeed, IntervalTotals
from .ipfix import ExportTable
from .journal import Journal
from .spec import FlowSpec, check_name, plain, to_number
from .thresholds import Threshold

# datasourceInfo's sampling rates: a data source's samples whose sequence number is below 16
# or a multiple of 16 are noted - chosen by the sample itself, so the answer is the same
# whichever other agents' samples this process sees (docs/ingest.md, "Workers")
NOTE_FIRST = 16
NOTE_MASK = 15
TOPN_PENDING = 8  # activeFlows aggregations a worker keeps between the phases of a query

# /flowkeys/json lists keys from a subset of samples: recording ~35 keys costs ~1 us, and the
# full dict of a sample ~0.6 us more than the subset the definitions read. 1 sample in 16 is
# recorded, with or without definitions (with them: also the first 1000).
KEYS_SEEN_SAMPLE = 16
KEYS_SEEN_ACTIVE = 16
# entries of unreported caches one housekeeping tick scans (FlowEngine.tick)
SWEEP_BUDGET = 200_000


def parse_agents(agents):
    """Agent selector without a metric store (unit tests): None for every agent, else a set
    of addresses (str "a,b" / "a;b" or an iterable). TOPOLOGY, EDGE and CORE select nothing,
    as in MetricStore.select_agents without a topology."""
    if agents is None:
        return None
    if isinstance(agents, str):
        parts = [a.strip() for a in agents.replace(";", ",").split(",")]
    else:
        parts = [str(a).strip() for a in agents]
    parts = [p for p in parts if p]
    if not parts or any(p.upper() == "ALL" for p in parts):
        return None
    return {p for p in parts if p.upper() not in ("TOPOLOGY", "EDGE", "CORE")}


class FlowEngine:
    def __init__(self, core):
        self.core = core
        props = getattr(core, "props", None)

        def prop_int(name, default):
            try:
                return props.get_int(name, default) if props is not None else default
            except (TypeError, ValueError):
                return default

        self.max_entries = prop_int("flows.cache.max", 100000)
        self.groups = GroupStore()
        self.maps = MapStore()
        self.tables: dict[str, FlowTable] = {}
        self.thresholds: dict[str, Threshold] = {}
        self.flow_journal = Journal(prop_int("flows.max", 1000), "name")
        self.event_journal = Journal(prop_int("events.max", 1000), "thresholdID")
        self.intervals = IntervalFeed()  # per-interval totals (history): intervals.py
        self.keys_seen: dict[str, float] = {}
        self.sources: dict[tuple, list] = {}  # (agent, ds) -> [rate, seq0, pool0, seq, pool, t]
        self.enrichers: list[tuple[Callable, frozenset | None]] = []
        # the per-sample pipelines and what they read, rebuilt lazily (_changed)
        self._pipe_flow = self._pipe_drop = None
        self._enrichers_on: list[Callable] = []
        self._wanted_set: frozenset | None = None
        self._agent_on = False
        self._c_fast = False  # no enricher but the agent's: the C batch ingest may run
        self._stale = False
        self._sweep_turn = 0
        self._next_sources_sweep = 0.0
        self._skip = 0
        self.errors = 0
        self._task = None
        # activeFlows queries between phases (engine/flows/topn.py): qid -> (agg, sent, now)
        self._topn: OrderedDict = OrderedDict()
        self._topn_ids = itertools.count(1)  # thread-safe: queries may come from any thread
        # a worker's flow records and events go to the front's journals (docs/ingest.md)
        self._uplink = None
        if getattr(core, "role", None) == "worker":
            self._uplink = lambda item: core.publish("journal", item)
        # interval subscribers (history) of the front, fed by the workers: relay id -> (callback,
        # interval, select); in a worker: relay id -> the callback that sends them up
        self._relays: dict[int, tuple] = {}
        self._relaying: dict[int, Callable] = {}
        self._relay_ids = itertools.count(1)
        on_publish = getattr(core, "on_publish", None)
        if on_publish is not None:
            on_publish("journal", self._journal_in)
            on_publish("intervals", self._intervals_in)
        self.add_enricher(_agent_enricher, {"agent"})
        if core is not None:
            core.flow_handlers.append(self.on_flow_sample)
            core.other_handlers.append(self.on_other_sample)
            metrics = getattr(core, "subsystems", {}).get("metrics")
            if metrics is not None and hasattr(metrics, "add_provider"):
                metrics.add_provider(self)

    # -- lifecycle ---------------------------------------------------------------------------
    async def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._ticker())

    def closing(self) -> None:
        """Engine stopping: long-polls on /flows/json and /events/json answer now."""
        self.flow_journal.close()
        self.event_journal.close()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):
                pass
            self._task = None
        now = time.time()
        if self._relaying:
            # a worker: the running interval's totals go to the front's subscribers (the
            # front's history flushes its own at its stop, after the workers stopped)
            try:
                self.flush_intervals(now)
            except Exception as exc:
                log.log.error("flow intervals at stop failed: %r", exc)
        # IPFIX: what the caches counted and did not report yet, then the sockets close
        for table in list(self.tables.values()):
            if table.exporter is not None:
                try:
                    table.close(now)  # type: ignore[attr-defined]  # only an ExportTable has an exporter
                except Exception as exc:
                    log.log.error("flow %s: IPFIX export at stop failed: %r", table.name, exc)

    async def _ticker(self) -> None:
        while True:
            # once a second, and at each interval boundary (history): the samples of an
            # interval are those that arrived before it ended, within the loop's latency
            await asyncio.sleep(min(1.0, max(0.01, self.intervals.next_boundary - time.time())))
            try:
                self.tick(time.time())
            except Exception as exc:
                log.log.error("flows housekeeping failed: %r", exc, exc_info=exc)

    def tick(self, now: float) -> None:
        """Once a second: end idle flows, flush activeTimeout records, re-arm and check
        thresholds on counter metrics, forget flow keys not seen for an hour; at an interval
        boundary, hand the definitions' totals to the interval subscribers (first: they read
        the caches as they are, ended flows included).

        Caches whose ended flows are reported (logged, IPFIX, interval totals) are swept
        every tick. The others only free memory by sweeping (queries skip idle flows anyway),
        so they take turns: each tick sweeps the next ones until SWEEP_BUDGET entries have
        been scanned (at least one cache), which keeps a tick's work bounded however many
        definitions and agents there are."""
        if self.intervals.due(now):
            try:
                self.intervals.publish(self.tables, now)
            except Exception as exc:
                log.log.error("flow intervals failed: %r", exc, exc_info=exc)
        tables = list(self.tables.values())
        quiet = [t for t in tables if not t.reports]
        chosen = [t for t in tables if t.reports]
        if quiet:
            budget, n = SWEEP_BUDGET, 0
            start = self._sweep_turn % len(quiet)
            while n < len(quiet):
                table = quiet[(start + n) % len(quiet)]
                n += 1
                chosen.append(table)
                budget -= len(table.entries)
                if budget <= 0:
                    break
            self._sweep_turn = start + n
        for table in chosen:
            try:  # one definition's failure must not stop the others' housekeeping
                table.sweep(now)
                if table.exporter is not None:
                    table.exporter.flush(now)  # IPFIX: what sweep reported (flows/ipfix.py)
            except Exception as exc:
                self.errors += 1
                if self.errors <= 10 or self.errors % 10000 == 0:
                    log.log.error("flow %s: housekeeping failed: %r", table.name, exc, exc_info=exc)
        if fronted(self.core):
            return  # thresholds are checked where the samples are: in the workers
        metrics = self._metrics()
        for th in list(self.thresholds.values()):
            table = self.tables.get(th.metric)
            if table is not None:
                th.rearm_flows(table, now)
            elif metrics is not None and hasattr(metrics, "entries"):
                try:
                    entries = metrics.entries(None, th.metric, th.filter, now)
                except Exception as exc:
                    log.fine(f"threshold {th.name}: metric query failed: {exc!r}")
                    continue
                th.counter_check(entries, now)
            else:
                th.rearm_flows(None, now)
        if len(self.keys_seen) > 256 or int(now) % 60 == 0:
            old = now - 3600
            for k in [k for k, t in self.keys_seen.items() if t < old]:
                del self.keys_seen[k]
        if now >= self._next_sources_sweep:
            # sampling-rate records of data sources not heard from for an hour (spoofed or
            # gone agents), a pass over them once a minute
            self._next_sources_sweep = now + 60.0
            old = now - 3600
            for k in [k for k, info in self.sources.items() if info[5] < old]:
                del self.sources[k]

    def _metrics(self):
        core = self.core
        return getattr(core, "subsystems", {}).get("metrics") if core is not None else None

    def select_agents(self, agents):
        """Agent selector -> None (every agent) or a Selection / set of addresses: the metric
        store's select_agents, so that activeFlows, flowValue and metric queries resolve "ALL",
        lists, host names and TOPOLOGY / EDGE / CORE (down to data sources) alike (ValueError
        for a malformed selector)."""
        if agents is None or isinstance(agents, (set, frozenset, Selection)):
            return agents
        metrics = self._metrics()
        if metrics is not None and hasattr(metrics, "select_agents"):
            return metrics.select_agents(agents)
        return parse_agents(agents)

    # -- sample path -------------------------------------------------------------------------
    def on_flow_sample(self, sample, now: float) -> None:
        if self._stale:
            self._fresh()
        process = self._pipe_flow
        skip = self._skip = self._skip + 1
        if process is None:
            seq = sample.seq
            if seq < NOTE_FIRST or not seq & NOTE_MASK:
                self._note_source(sample, now)
            if skip % KEYS_SEEN_SAMPLE:
                return
            seen = self.keys_seen
            for k in sample.attributes():
                seen[k] = now
            return
        seq = sample.seq
        if seq < NOTE_FIRST or not seq & NOTE_MASK:
            self._note_source(sample, now)
        if skip < 1000 or not skip % KEYS_SEEN_ACTIVE:
            # /flowkeys/json lists every key: these samples decode (and cache) the full dict
            attrs = sample.attributes()
            seen = self.keys_seen
            for k in attrs:
                seen[k] = now
        else:
            # the others decode only what the definitions and enrichers read: a dict of its
            # own, so other handlers calling sample.attributes() still get every key
            attrs = _attributes.flow_attributes_subset(sample, self._wanted_set)
        enrichers = self._enrichers_on
        if enrichers:
            for fn in enrichers:
                fn(sample, attrs)
        process(attrs, sample.agent, sample.data_source, sample.sampling_rate, now)

    def _wanted_names(self, enrichers) -> frozenset | None:
        """The attribute names the flow definitions and ``enrichers`` read: every name their
        keys, filters and values reference (nested key-function arguments and ``uses``
        included; names nobody decodes are harmless) and each enricher's ``reads`` (an
        enricher without one needs the full dict: None). None also without the C decoder: the
        Python subset is cut from the full dict, which costs more than using that dict."""
        if _attributes.flow_attributes_subset is _attributes.python_flow_attributes_subset:
            return None
        names: set = set()
        for table in self.tables.values():
            if not table.spec.dropped:
                names |= table.spec.referenced_names()
        for fn in enrichers:
            reads = getattr(fn, "reads", None)
            if reads is None:
                return None
            names |= reads
        return frozenset(names)

    def _note_source(self, sample, now: float) -> None:
        """Sampling rate and (from sequence numbers and sample pools, so that looking at a
        subset of samples is enough) the effective sampling rate of a data source."""
        key = (sample.agent, sample.data_source)
        info = self.sources.get(key)
        if info is None or sample.seq < info[3]:
            self.sources[key] = [
                sample.sampling_rate,
                sample.seq,
                sample.sample_pool,
                sample.seq,
                sample.sample_pool,
                now,
            ]
        else:
            info[0], info[3], info[4], info[5] = (
                sample.sampling_rate,
                sample.seq,
                sample.sample_pool,
                now,
            )

    def datasource_info(self, agent: str, data_source: str) -> dict | None:
        """Metric-store hook behind datasourceInfo(): samplingRate, effectiveSamplingRate."""
        info = self.sources.get((agent, data_source))
        if info is None:
            return None
        out = {"samplingRate": info[0]}
        dseq = info[3] - info[1]
        if dseq > 0:
            out["effectiveSamplingRate"] = int(round(((info[4] - info[2]) & 0xFFFFFFFF) / dseq))
        return out

    def on_other_sample(self, sample, now: float) -> None:
        kind = sample.kind
        if self._stale:
            self._fresh()
        if kind == "rtflow":
            # sFlow-RT custom flows (4300:1003): named attributes, counted like packet samples
            process = self._pipe_flow
            attrs = sample.attributes()
        elif kind == "discard":
            process = self._pipe_drop
            attrs = sample.attributes()
            if "reason" not in attrs and getattr(sample, "reason", None) is not None:
                attrs["reason"] = sample.reason
        else:
            return
        self.keys_seen.update(dict.fromkeys(attrs, now))
        if process is None:
            return
        for fn in self._enrichers_on:
            fn(sample, attrs)
        process(attrs, sample.agent, sample.data_source, sample.sampling_rate or 1, now)

    def process(
        self,
        attrs: dict,
        agent: str,
        data_source: str,
        sampling_rate: int,
        now: float,
        dropped: bool = False,
    ) -> None:
        """Run the active definitions over one sample's attributes (unit/bench entry point)."""
        self._skip += 1
        if self._skip < 1000 or not self._skip % KEYS_SEEN_ACTIVE:
            self.keys_seen.update(dict.fromkeys(attrs, now))
        process = self._process_drop if dropped else self._process_flow
        if process is None:
            return
        for fn in self._active_enrichers:
            fn(None, attrs)
        process(attrs, agent, data_source, sampling_rate, now)

    # The pipelines cover every definition, so building them costs O(definitions). A change
    # (a definition, a flow threshold, an enricher) only marks them stale; the next sample or
    # query that needs them rebuilds once, so a script defining 10,000 flows in a loop costs
    # one rebuild rather than 10,000 (docs/flows.md, "Defining many flows").
    def _changed(self) -> None:
        self._stale = True
        if self.core is not None:
            path = getattr(self.core, "ingest_path", None)
            if path is not None:
                path.invalidate()

    def _fresh(self) -> None:
        if self._stale:
            self._stale = False
            self._rebuild()

    def _rebuild(self) -> None:
        flows: list[FlowTable] = []
        drops: list[FlowTable] = []
        names: set[str] = set()
        for t in self.tables.values():
            (drops if t.spec.dropped else flows).append(t)
            names |= t.spec.referenced_names()
        try:
            process_flow = pipeline.build(flows, self._definition_failed)
            process_drop = pipeline.build(drops, self._definition_failed)
        except Exception:
            # FlowSpec checks what it can up front; should a definition still be one the
            # pipeline cannot take, it goes, alone: every other one keeps counting
            if not self._drop_unbuildable():
                raise
            return self._rebuild()
        self._process_flow = process_flow
        self._process_drop = process_drop
        self._active_enrichers = [fn for fn, keys in self.enrichers if keys is None or keys & names]
        self._wanted = self._wanted_names(self._active_enrichers)
        self._agent_on = _agent_enricher in self._enrichers_on
        self._c_fast = all(fn is _agent_enricher for fn in self._enrichers_on)

    def _drop_unbuildable(self) -> int:
        """Remove (and log) every definition the pipeline fails to build on its own; returns
        how many."""
        removed = 0
        for name, table in list(self.tables.items()):
            try:
                pipeline.build([table], self._definition_failed)
            except Exception as exc:
                log.severe(f"flow {name}: removed, the sample pipeline cannot take it ({exc!r})")
                del self.tables[name]
                self.intervals.retire(table)
                table.clear(time.time())
                removed += 1
        return removed

    # what _rebuild made (reading one brings a stale pipeline up to date first)
    @property
    def _process_flow(self):
        self._fresh()
        return self._pipe_flow

    @_process_flow.setter
    def _process_flow(self, value) -> None:
        self._pipe_flow = value

    @property
    def _process_drop(self):
        self._fresh()
        return self._pipe_drop

    @_process_drop.setter
    def _process_drop(self, value) -> None:
        self._pipe_drop = value

    @property
    def _active_enrichers(self) -> list:
        self._fresh()
        return self._enrichers_on

    @_active_enrichers.setter
    def _active_enrichers(self, value) -> None:
        self._enrichers_on = value

    @property
    def _wanted(self) -> frozenset | None:
        self._fresh()
        return self._wanted_set

    @_wanted.setter
    def _wanted(self, value) -> None:
        self._wanted_set = value

    def c_ingest_config(self):
        """For the C batch ingest (engine/ingest.py): (C pipeline or None, attribute subset,
        agent enricher on, keys_seen, sources) while flow samples may go straight from the
        decoder into the C pipeline, else None (an enricher other than the agent's, or the
        generated Python pipeline in use)."""
        self._fresh()
        process = self._pipe_flow
        if not self._c_fast or (process is not None and not pipeline.is_c_pipeline(process)):
            return None
        return process, self._wanted_set, self._agent_on, self.keys_seen, self.sources

    def _definition_failed(self, table, exc: Exception) -> None:
        self.errors += 1
        if self.errors <= 10 or self.errors % 10000 == 0:
            log.log.error("flow %s: sample update failed: %r", table.name, exc)

    def add_enricher(self, fn: Callable, keys=None) -> Callable[[], None]:
        item = (fn, frozenset(keys) if keys is not None else None)
        self.enrichers.append(item)
        self._changed()

        def remove():
            try:
                self.enrichers.remove(item)
            except ValueError:
                pass
            self._changed()

        return remove

    # -- flows -------------------------------------------------------------------------------
    def set_flow(self, name: str, spec: dict) -> None:
        fs = FlowSpec(name, spec, self.core if self.core is not None else self)
        now = time.time()
        old = self.tables.get(name)
        # the front holds no flows: the workers export them
        make = ExportTable if fs.ipfix_collectors and not fronted(self.core) else FlowTable
        try:
            # the new table first: an exporting definition replaced keeps the exporting
            # socket open (one IPFIX transport session, one unbroken sequence)
            table = make(fs, self.max_entries, self._emit_record, now)
        except ValueError:
            if old is None or old.exporter is None:
                raise
            self.intervals.retire(old)
            old.clear(now)  # every template id in use: the old one's is needed
            table = make(fs, self.max_entries, self._emit_record, now)
        else:
            if old is not None:
                self.intervals.retire(old)
                old.clear(now)
        if self.intervals.wants(fs):
            table.intervals = IntervalTotals()
        table.set_thresholds([th for th in self.thresholds.values() if th.metric == name])
        self.tables[name] = table
        # the pipelines are rebuilt lazily (_changed): a definition they cannot take is
        # dropped then, alone (_rebuild), so it never stops the others from counting
        self._changed()
        replicate(self.core, "flows", "set_flow", name, spec)

    def clear_flow(self, name: str) -> bool:
        table = self.tables.pop(name, None)
        if table is None:
            return False
        self.intervals.retire(table)
        table.clear(time.time())
        self._changed()
        replicate(self.core, "flows", "clear_flow", name)
        return True

    def replica_state(self) -> list:
        """The calls that give a (re)started worker these definitions (docs/ingest.md)."""
        out: list[tuple[str, tuple, dict]] = [
            ("set_groups", (n, spec), {}) for n, spec in self.groups.all().items()
        ]
        out += [("set_map", (n, spec), {}) for n, spec in self.maps.all().items()]
        out += [("set_flow", (n, t.spec.raw), {}) for n, t in self.tables.items()]
        out += [("set_threshold", (n, th.spec), {}) for n, th in self.thresholds.items()]
        out += [
            ("relay_intervals", (rid, interval, select), {})
            for rid, (_, interval, select) in self._relays.items()
        ]
        return out

    def _gather(self, method: str, *args) -> list:
        return gather(self.core, "flows", self, method, *args)

    def get_flow(self, name: str):
        t = self.tables.get(name)
        return None if t is None else self._flow_json(t)

    def flows_json(self) -> dict:
        return {n: self._flow_json(t) for n, t in self.tables.items()}

    def _flow_json(self, table) -> dict:
        """The definition as GET shows it; an exporting one adds its read-only ``ipfixStats``
        (ignored when PUT back, like every attribute FlowSpec does not know), summed over the
        processes that export."""
        out = table.spec.as_json()
        if table.spec.ipfix_collectors:
            stats = [st for st in self._gather("ipfix_stats", table.name) if st is not None]
            if stats:
                merged = dict(stats[0])
                for st in stats[1:]:
                    for k, v in st.items():
                        if k != "templateId":
                            merged[k] = merged.get(k, 0) + v
                out["ipfixStats"] = merged
        return out

    def ipfix_stats(self, name: str):
        table = self.tables.get(name)
        return None if table is None or table.exporter is None else table.exporter.stats()

    def active_flows(
        self,
        agents,
        name: str,
        max_flows: int = 100,
        min_value=None,
        agg_mode=None,
        now: float | None = None,
        key_filter: str | None = None,
    ) -> list:
        """``key_filter``: a filter expression over the definition's own key expressions
        (plus ``agent`` and ``datasource``), e.g. ``ipsource=10.0.0.1`` for keys
        ``ipsource,ipdestination``; raises ValueError when it does not parse. ``max_flows``
        and ``min_value`` may be numbers or numeric strings (REST query values, JS args).
        With workers the answer is the exact top N of the merged flows (engine/flows/topn.py)."""
        table = self.tables.get(name)
        if table is None:
            raise UnknownName(f"no flow {name}")
        mode = (agg_mode or table.spec.agg_mode or "max").lower()
        if mode not in ("max", "sum", "edge", "core", "agent"):
            raise InvalidDefinition("aggMode must be max, sum, edge or core")
        if mode == "agent":
            mode = "max"
        if key_filter:
            _key_filter(key_filter)  # refused here, before any worker is asked
        k = int(to_number(max_flows, "maxFlows", 100))
        floor = to_number(min_value, "minValue", None)
        now = time.time() if now is None else now
        qid = next(self._topn_ids)
        query = (agents, name, mode, now, key_filter or None)

        def ask(request):
            return self._gather("topn_partial", qid, query, request)

        rows = topn.top_rows(ask, k, floor, mode in ("sum", "edge"))
        return [table.row_json(r) for r in rows]

    def topn_partial(self, qid: int, query: tuple, request: tuple):
        """One phase of activeFlows here (engine/flows/topn.py): (process id, rows, done)."""
        agents, name, mode, now, key_filter = query
        pid = getattr(self.core, "worker_id", 0)
        cached = self._topn.get(qid)
        table = self.tables.get(name)
        if cached is None:
            if table is None:
                return pid, [], True
            selected = self.select_agents(agents)
            if mode in ("edge", "core"):
                selected = self._mode_ports(mode, selected)
            agg = table.aggregate(
                selected, mode, now, _key_filter(key_filter) if key_filter else None
            )
            cached = (agg, set(), now)
        agg, sent, now = cached
        kind = request[0]
        if kind == "top":
            k, floor = request[1], request[2]
            items = agg.items()
            if floor is not None:
                items = [kv for kv in items if kv[1][0] >= floor]
            chosen = topn.with_ties(list(items), k, _first_value)
        elif kind == "above":
            threshold = request[1]
            chosen = [kv for kv in agg.items() if kv[1][0] >= threshold and kv[0] not in sent]
        else:  # exact
            keys = request[1].get(pid, ())
            chosen = [(key, agg[key]) for key in keys if key in agg]
        rows = [table.row(key, a, now) for key, a in chosen] if table is not None else []
        sent.update(key for key, _ in chosen)
        done = len(sent) >= len(agg)
        if kind == "exact" or done:
            self._topn.pop(qid, None)
        elif qid not in self._topn:
            self._topn[qid] = cached
            while len(self._topn) > TOPN_PENDING:
                self._topn.popitem(last=False)
        return pid, rows, done

    def _mode_ports(self, mode: str, selected):
        """aggMode ``edge`` sums over EDGE data sources only (each packet is counted once, at
        the port where it enters the fabric) and ``core`` takes the largest value among CORE
        (inter-switch link) ports: the selection narrowed to those ports. Without a topology
        they are sum and max over every selected port (docs/topology.md)."""
        subsystems = getattr(self.core, "subsystems", None) or {}
        topo = subsystems.get("topology")
        ports = topo.port_selection(mode) if topo is not None else None
        if ports is None:
            return selected
        if selected is None:
            return ports
        narrowed = as_selection(selected)
        assert narrowed is not None  # as_selection() keeps only None as None
        return narrowed.intersection(ports)

    def _split_metric(self, name: str):
        """ "<dataSource>.<flowName>" -> (ds, table), longest flow name first."""
        for fname in sorted(self.tables, key=len, reverse=True):
            if name.endswith("." + fname) and len(name) > len(fname) + 1:
                return name[: -len(fname) - 1], self.tables[fname]
        return None, None

    def flow_value(self, agents, name: str, key: str, now: float | None = None):
        """The largest value of ``key`` at data source ``ds`` of ``<ds>.<flowName>``; None if
        the flow or the key is not active there."""
        ds, table = self._split_metric(name)
        if table is None:
            return None
        found = self._locations(agents, table.name, ds, key, now)
        return found[0]["value"] if found else None

    def flow_locations(self, agents, name: str, key: str, now: float | None = None):
        """Where flow ``key`` of flow ``name`` (or ``<dataSource>.<flowName>``: that data
        source only) is active, largest first: [{agent, dataSource, value}]; None for an
        unknown flow name."""
        table = self.tables.get(name)
        ds = None
        if table is None:
            ds, table = self._split_metric(name)
            if table is None:
                return None
        return self._locations(agents, table.name, ds, key, now)

    def _locations(self, agents, name: str, ds, key: str, now) -> list:
        now = time.time() if now is None else now
        parts = self._gather("locations_partial", agents, name, ds, key, now)
        if len(parts) == 1:
            return parts[0]
        out = [loc for p in parts for loc in p]
        out.sort(key=lambda r: r["value"], reverse=True)
        return out

    def locations_partial(self, agents, name: str, ds, key: str, now: float) -> list:
        table = self.tables.get(name)
        if table is None:
            return []
        return table.locations(self.select_agents(agents), ds, key, now)

    def flow_keys(self, now: float | None = None) -> dict:
        now = time.time() if now is None else now
        seen: dict = {}
        for part in self._gather("keys_partial"):
            for k, t in part.items():
                if t > seen.get(k, 0.0):
                    seen[k] = t
        return {k: max(0, int((now - t) * 1000)) for k, t in sorted(seen.items())}

    def keys_partial(self) -> dict:
        return dict(self.keys_seen)

    def _emit_record(self, table, fk: tuple, value: float, start: float, end: float) -> None:
        rec = {
            "name": table.name,
            "agent": fk[0],
            "dataSource": fk[1],
            "flowKeys": table.key_string(fk),
            "value": whole(value),
            "start": int(start * 1000),
            "end": int(end * 1000),
        }
        if self._uplink is not None:
            self._uplink(("flows", rec))
        else:
            self.flow_journal.append(rec, "flowID")

    def _journal_in(self, item) -> None:
        """A worker's flow record or event, numbered here like our own."""
        kind, rec = item
        if kind == "flows":
            self.flow_journal.append(rec, "flowID")
        else:
            self.event_journal.append(rec, "eventID")

    def flows_since(self, name=None, flow_id: int = -1, max_flows: int = 100) -> list:
        sync(self.core)  # with workers: the records made so far are here
        return self.flow_journal.since(int(flow_id), _names(name), int(max_flows), "flowID")

    async def wait_flows(
        self, name=None, flow_id: int = -1, max_flows: int = 100, timeout: float = 0.0
    ) -> list:
        sync(self.core)
        return await self.flow_journal.wait(
            int(flow_id), _names(name), int(max_flows), float(timeout), "flowID"
        )

    def subscribe_flows(self, callback: Callable, names=None) -> Callable[[], None]:
        return self.flow_journal.subscribe(callback, names)

    def subscribe_intervals(
        self, callback: Callable, interval: float, select: Callable
    ) -> Callable[[], None]:
        """Per-interval totals of the definitions ``select(spec)`` picks (falsy: no; else the
        most rows wanted, an int or True): at every multiple of ``interval`` seconds,
        ``callback(name, start, end, [(agent, dataSource, key, value)])``
        (engine/flows/intervals.py). One interval length for every subscriber (ValueError
        otherwise). Returns unsubscribe()."""
        now = time.time()
        self.intervals.subscribe(callback, interval, select, now)
        self._follow_intervals()
        # with workers the totals are made there: each worker subscribes a relay that sends
        # its rows (for its agents) here, to this callback (``select`` must pickle)
        rid = next(self._relay_ids)
        self._relays[rid] = (callback, interval, select)
        replicate(self.core, "flows", "relay_intervals", rid, interval, select)

        def unsubscribe():
            self.intervals.unsubscribe(callback)
            self._follow_intervals()
            if self._relays.pop(rid, None) is not None:
                replicate(self.core, "flows", "unrelay_intervals", rid)

        return unsubscribe

    def relay_intervals(self, rid: int, interval: float, select: Callable) -> None:
        """A worker: send the front's subscriber ``rid`` our per-interval totals."""

        def relay(name, start, end, rows):
            self.core.publish("intervals", (rid, name, start, end, rows))

        self.unrelay_intervals(rid)
        self._relaying[rid] = relay
        self.intervals.subscribe(relay, interval, select, time.time())
        self._follow_intervals()

    def unrelay_intervals(self, rid: int) -> None:
        relay = self._relaying.pop(rid, None)
        if relay is not None:
            self.intervals.unsubscribe(relay)
            self._follow_intervals()

    def _intervals_in(self, item) -> None:
        """A worker's rows for subscriber ``rid`` (rows of its agents: the union over the
        workers is the interval's rows; a row limit applies per worker)."""
        rid, name, start, end, rows = item
        found = self._relays.get(rid)
        if found is not None:
            try:
                found[0](name, start, end, rows)
            except Exception as exc:
                log.log.error("flow interval subscriber %r failed: %r", found[0], exc, exc_info=exc)

    def _follow_intervals(self) -> None:
        """Give the tables subscribers want an IntervalTotals, take it from the others."""
        for table in self.tables.values():
            wanted = self.intervals.wants(table.spec)
            if wanted and table.intervals is None:
                table.intervals = IntervalTotals(table.entries)
            elif not wanted and table.intervals is not None:
                table.intervals = None

    def flush_intervals(self, now: float | None = None) -> None:
        """Publish what the definitions counted since the last boundary now (engine stop)."""
        if self.intervals.subscribers:
            self.intervals.publish(self.tables, time.time() if now is None else now, final=True)

    # -- groups and maps ---------------------------------------------------------------------
    def set_groups(self, name: str, groups) -> None:
        """Define or replace a group set; raises ValueError(reason) for invalid input."""
        self.groups.set(check_name(name), groups)
        replicate(self.core, "flows", "set_groups", name, groups)

    def get_groups(self, name: str):
        return self.groups.get(name)

    def groups_json(self) -> dict:
        return self.groups.all()

    def clear_groups(self, name: str) -> bool:
        replicate(self.core, "flows", "clear_groups", name)
        return self.groups.delete(name)

    def set_map(self, name: str, mapping) -> None:
        """Define or replace a map; raises ValueError(reason) for invalid input."""
        self.maps.set(check_name(name), mapping)
        replicate(self.core, "flows", "set_map", name, mapping)

    def get_map(self, name: str):
        return self.maps.get(name)

    def maps_json(self) -> dict:
        return self.maps.all()

    def clear_map(self, name: str) -> bool:
        replicate(self.core, "flows", "clear_map", name)
        return self.maps.delete(name)

    # -- thresholds and events ---------------------------------------------------------------
    def set_threshold(self, name: str, spec: dict) -> None:
        th = Threshold(name, spec)
        th.fire = self._fire
        if th.filter:
            # compiled once here, so a bad filter value is refused (400) rather than ignored
            th.compiled_filter = compile_filter(th.filter)
            th.location_ok = self._location_matches
        old = self.thresholds.get(name)
        self.thresholds[name] = th
        self._attach_thresholds({th.metric} | ({old.metric} if old else set()))
        replicate(self.core, "flows", "set_threshold", name, spec)

    def clear_threshold(self, name: str) -> bool:
        th = self.thresholds.pop(name, None)
        if th is None:
            return False
        self._attach_thresholds({th.metric})
        replicate(self.core, "flows", "clear_threshold", name)
        return True

    def get_threshold(self, name: str):
        th = self.thresholds.get(name)
        return None if th is None else th.as_json()

    def thresholds_json(self) -> dict:
        return {n: th.as_json() for n, th in self.thresholds.items()}

    def _attach_thresholds(self, metrics: set) -> None:
        changed = False
        for m in metrics:
            table = self.tables.get(m)
            if table is not None:
                table.set_thresholds([th for th in self.thresholds.values() if th.metric == m])
                changed = True
        if changed:
            self._changed()

    def threshold_triggered(
        self, threshold_id: str, agent: str, metric: str, flow_key: str | None = None
    ) -> bool:
        """Whether the threshold is triggered at that agent and data source (and flow key):
        thresholds are kept where the agent's samples are."""
        if threshold_id not in self.thresholds:
            return False
        return any(self._gather("triggered_partial", threshold_id, agent, metric, flow_key))

    def triggered_partial(
        self, threshold_id: str, agent: str, metric: str, flow_key: str | None = None
    ) -> bool:
        th = self.thresholds.get(threshold_id)
        if th is None:
            return False
        if metric.endswith("." + th.metric):
            ds = metric[: -len(th.metric) - 1]
        else:
            ds = metric.rsplit(".", 1)[0] if "." in metric else metric
        if th.by_flow and flow_key is not None:
            table = self.tables.get(th.metric)
            for key, st in th.states.items():
                fk = st[0]
                if (
                    key[0] == agent
                    and key[1] == ds
                    and fk is not None
                    and table is not None
                    and table.key_string(fk) == flow_key
                ):
                    return True
            return False
        return any(k[0] == agent and k[1] == ds for k in th.states)

    def _location_matches(self, th: Threshold, agent: str, ds: str) -> bool:
        # One filter language for queries and thresholds: the metric store's (patterns,
        # numeric equality, lookup in the parent/host data source).
        metrics = self._metrics()
        if metrics is None:
            return True
        try:
            return metrics.filter_matches(agent, ds, th.compiled_filter)
        except ValueError:
            return False

    def _fire(self, th: Threshold, agent: str, ds: str, value: float, table, fk, now: float):
        evt = {
            "thresholdID": th.name,
            "metric": th.metric,
            "agent": agent,
            "dataSource": ds,
            "value": value,
            "threshold": plain(th.level),
            "timestamp": int(now * 1000),
        }
        if table is not None and fk is not None:
            evt["flowKey"] = table.key_string(fk)
            if len(table.vfuncs) > 1:
                e = table.entries.get(fk)
                if e is not None:
                    evt["values"] = table.extra_values(e, now)
        if self._uplink is not None:
            self._uplink(("events", evt))
        else:
            self.event_journal.append(evt, "eventID")

    def events_since(self, threshold_id=None, event_id: int = -1, max_events: int = 100) -> list:
        sync(self.core)
        return self.event_journal.since(
            int(event_id), _names(threshold_id), int(max_events), "eventID"
        )

    async def wait_events(
        self, threshold_id=None, event_id: int = -1, max_events: int = 100, timeout: float = 0.0
    ) -> list:
        sync(self.core)
        return await self.event_journal.wait(
            int(event_id), _names(threshold_id), int(max_events), float(timeout), "eventID"
        )

    def subscribe_events(self, callback: Callable, names=None) -> Callable[[], None]:
        return self.event_journal.subscribe(callback, names)

    # -- metric provider (flow names are metrics) --------------------------------------------
    def metric_names(self, now: float) -> dict:
        out = {}
        for name, table in self.tables.items():
            last = 0.0
            idle = table.idle
            for e in table.entries.values():
                if e[1] > last:
                    last = e[1]
            if last and now - last <= idle:
                out[name] = max(0, int((now - last) * 1000))
        return out

    def metric_entries(self, agents, name: str, now: float):
        table = self.tables.get(name)
        if table is None:
            return []
        try:
            from ..metrics.provider import MetricEntry
        except ImportError:  # metrics subsystem absent: plain tuples
            MetricEntry = None  # type: ignore[misc, assignment]
        out: list = []
        for agent, ds, value, last, top in table.metric_entries(self.select_agents(agents), now):
            age = max(0, int((now - last) * 1000))
            if MetricEntry is not None:
                out.append(MetricEntry(agent, ds, name, value, age, top))
            else:
                out.append((agent, ds, name, value, age, top))
        return out


def _first_value(item) -> float:
    return item[1][0]


def _key_filter(text: str):
    """An activeFlows filter expression compiled to a predicate; ValueError when it does not
    parse."""
    try:
        return filters.compile_lookup(filters.parse(text))
    except filters.FilterError as exc:
        raise ValueError(str(exc)) from None


def _names(name):
    if name is None or name == "":
        return None
    if isinstance(name, str):
        return frozenset(n.strip() for n in name.split(",") if n.strip())
    return frozenset(name)


def _agent_enricher(sample, attrs) -> None:
    if sample is not None:
        attrs["agent"] = sample.agent


_agent_enricher.reads = frozenset()  # type: ignore[attr-defined]  # attributes it needs decoded (FlowEngine._wanted_for)
