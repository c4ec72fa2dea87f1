"""Hosts and virtual machines learned from host sFlow, for the ``host:<key>:<attribute>`` key
function (``host:macsource:vir_host_name``: the name of the container that sent the packet).

Counter samples of host data sources (class 2, ``2.1``) and of virtual machines / containers
(class 3, or any with a host_parent record) carry host_descr (0:2000: hostname, uuid, machine
type, OS, release) and host_adapters (0:2001: each adapter's MACs). Each such sample becomes a
``HostRecord`` (engine/hosts/table.py) of (agent, data source): the identity under its metric
names (``host_name`` ..., ``vir_host_name`` ... for a virtual machine), the adapter MACs, the
agent's address for a host (Host sFlow agents send from the host's own address) and the parent
data source for a virtual machine. A record lives as long as the data source's counters do: it
expires with the metric store's data source (missed polls, docs/metrics.md) and is swept when
its time has passed even if no counters arrive at all.

``attach(engine)`` returns the ``HostLearner`` (``engine.subsystems["hosts"]``); its ``table``'s
``update``/``expire`` calls are the whole interface for keeping a table in step elsewhere (see
table.py). With sFlow workers (docs/ingest.md, "Workers") a host's counters reach one worker
and the flows of its MACs another: each learned record and each removal goes through the
engine's shared table ``hosts`` (engine/shared.py) to every other process, which applies it
to its own table (a copy there has no expiry of its own: it goes when its owner removes it, or
when its worker dies).
"""

from __future__ import annotations

import asyncio
import time

from .. import log
from ..metrics.counters import RECORD_MAPS
from . import keyfunc  # noqa: F401  (registers the host: key function)
from .table import HostRecord, HostTable

__all__ = ["HostRecord", "HostTable", "HostLearner", "attach"]

SWEEP_EVERY = 5.0
DEFAULT_TIMEOUT = 60.0
_DESCR, _ADAPTERS, _PARENT = "0:2000", "0:2001", "0:2002"
_DESCR_MAP = RECORD_MAPS[_DESCR]


class HostLearner:
    """Turns host counter samples into HostTable updates; the table is ``.table``."""

    # it does nothing with interface counter samples (data source class 0), so the C ingest
    # path may take those into the metric store without calling it (engine/ingest.py)
    skips_interfaces = True

    def __init__(self, engine=None):
        self.engine = engine
        self.table = HostTable()
        self.store = None
        self._next_sweep = 0.0
        self._task = None
        shared = getattr(engine, "shared", None)
        self.shared = shared("hosts") if shared is not None else None
        if self.shared is not None:
            self.shared.listeners.append(self._remote)

    def attach_store(self, store) -> None:
        """Follow the metric store: its data sources' expiry times, and their removal."""
        self.store = store
        listeners = getattr(store, "drop_listeners", None)
        if listeners is not None:
            listeners.append(self.expire)

    # -- this process's records and the others' -----------------------------------------------
    def expire(self, agent: str, data_source: str) -> bool:
        """A data source of ours went: its record goes, here and elsewhere."""
        gone = self.table.expire(agent, data_source)
        if gone and self.shared is not None:
            self.shared.delete((agent, data_source))
        return gone

    def sweep(self, now: float) -> None:
        for r in [r for r in self.table.records.values() if r.expires < now]:
            self.expire(r.agent, r.data_source)

    def _publish(self, record: HostRecord) -> None:
        if self.shared is not None:
            value = record.to_dict()
            del value["expires"]  # a copy goes when the owner says so, not by its clock
            self.shared.set(record.key, value)

    def _remote(self, changes: dict) -> None:
        """Records another worker learned (value) or removed (None)."""
        for key, value in changes.items():
            if value is None:
                self.table.expire(*key)
            else:
                self.table.update(HostRecord.from_dict(value))

    # -- sample path -------------------------------------------------------------------------
    def on_counter_sample(self, sample, now: float) -> None:
        if sample.ds_class == 0:  # an interface: never a host record
            return
        records = sample.records()
        descr = adapters = parent = None
        for rec in records:
            tag = rec.get("counterBlock_tag")
            if tag == _DESCR:
                descr = rec
            elif tag == _ADAPTERS:
                adapters = rec
            elif tag == _PARENT:
                parent = rec
        if descr is None and adapters is None:
            return
        self.learn(sample.agent, sample.data_source, sample.ds_class, descr, adapters, parent, now)
        if now >= self._next_sweep:
            self._next_sweep = now + SWEEP_EVERY
            self.sweep(now)

    def learn(
        self, agent: str, data_source: str, ds_class, descr, adapters, parent, now: float
    ) -> HostRecord:
        """One sample's host_descr / host_adapters / host_parent records (decoded dicts) ->
        the record of (agent, data source)."""
        parent_ds = None
        if parent is not None:
            cls, idx = parent.get("parent_dsClass"), parent.get("parent_dsIndex")
            if cls is not None and idx is not None:
                parent_ds = str(idx) if cls == 0 else f"{cls}.{idx}"
        virtual = ds_class == 3 or parent is not None
        if virtual and parent_ds is None:
            parent_ds = "2.1"  # a virtual machine without host_parent runs on the host
        attributes: dict = {}
        if descr is not None:
            _DESCR_MAP.apply(descr, None, 0.0, attributes, virtual)
        macs = ()
        if adapters is not None:
            macs = tuple(
                m for a in adapters.get("adaptor_list") or () for m in a.get("mac_list") or ()
            )
        record = HostRecord(
            agent=agent,
            data_source=data_source,
            attributes=attributes,
            macs=macs,
            addresses=() if virtual else (agent,),
            parent=parent_ds,
            expires=self._expires(agent, data_source, now),
        )
        self.table.update(record)
        self._publish(record)
        return record

    def _expires(self, agent: str, data_source: str, now: float) -> float:
        store = self.store
        a = store.agents.get(agent) if store is not None else None
        ds = a.sources.get(data_source) if a is not None else None
        if ds is not None and ds.expires >= now:
            return ds.expires
        return now + (getattr(store, "timeout", None) or DEFAULT_TIMEOUT)

    # -- lifecycle ---------------------------------------------------------------------------
    async def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._sweeper())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):
                pass
            self._task = None

    async def _sweeper(self) -> None:
        # records must go when their hosts stop even if no counter sample arrives at all
        while True:
            await asyncio.sleep(SWEEP_EVERY)
            try:
                self.sweep(time.time())
            except Exception as exc:
                log.log.error("host table sweep failed: %r", exc, exc_info=exc)


def attach(engine) -> HostLearner:
    learner = HostLearner(engine)
    store = engine.subsystems.get("metrics")
    if store is not None:
        learner.attach_store(store)
    # after the metric store's handler: the data source's expiry is then current
    engine.counter_handlers.append(learner.on_counter_sample)
    return learner
