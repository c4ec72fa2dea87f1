"""The ingest path of one engine: datagrams -> decode -> agents -> sample handlers (flow
caches, counters, ...). A self-contained unit: whatever receives datagrams (the collector, a
pcap replay, a worker process) hands them to ``ingest`` or ``ingest_batch`` and this does the
rest (docs/ingest.md, "One datagram").

Two implementations of one behaviour:
  * ``ingest_python``: the reference, one datagram at a time; the only path with
    FLOWRT_NO_ACCEL=1 or without the C extensions;
  * the C batch path (``engine.sflow._accel.Ingest``, engine/sflow/_ingest.c): a batch of
    datagrams in one call; a flow sample whose only reader is the flow pipeline goes from the
    datagram bytes into the flow caches without a Python object per sample. It hands anything
    it does not do itself to the same Python code (a whole odd datagram to ingest_python,
    counter and other samples to the handler lists), so both give the same agents, counters,
    flow caches and analyzer counts (tests/test_ingest_batch.py).
"""

from __future__ import annotations

from . import log
from .sflow import DecodeError, decode_datagram
from .sflow import attributes as _attributes
from .sflow import datagram as _datagram


class IngestPath:
    def __init__(self, engine):
        self.engine = engine
        self._c = None  # the C Ingest, made on first use where it can run
        self._c_checked = False

    # -- entry points ------------------------------------------------------------------------
    def ingest(self, data, src: str, now: float) -> None:
        """One datagram. Never raises for bad input: it is counted."""
        c = self._c_ingest()
        if c is None:
            self.ingest_python(data, src, now)
        else:
            c.run(((data, src, now),))

    def ingest_batch(self, batch) -> None:
        """A list of (data, src, now), in order: the collector's drained queue."""
        c = self._c_ingest()
        if c is None:
            ingest = self.ingest_python
            for data, src, now in batch:
                ingest(data, src, now)
        else:
            c.run(batch)

    def counts(self) -> dict | None:
        """How samples went in this process (the C Ingest's counts: c_flow_samples,
        c_counter_samples, python_flow_samples, python_datagrams), None while the C path has
        not run. With workers: ``engine.gather("ingest_path", "counts")``, one per worker."""
        return None if self._c is None else self._c.counts()

    def invalidate(self) -> None:
        """Handler lists, flow definitions or enrichers changed: the C path reads its
        configuration again before the next sample (also in the middle of a batch)."""
        if self._c is not None:
            self._c.invalidate()

    # -- the reference -----------------------------------------------------------------------
    def ingest_python(self, data, src: str, now: float) -> None:
        """Decode one datagram and hand its samples on, in Python."""
        eng = self.engine
        stats = eng.stats
        stats.datagrams += 1
        stats.bytes += len(data)
        for handler in eng.datagram_handlers:
            try:
                handler(data, src, now)
            except Exception as exc:  # a forwarding/export bug must not stop collection
                eng._handler_failed(handler, exc)
        try:
            dg = decode_datagram(data)
        except DecodeError as exc:
            self.decode_failed(src, exc)
            return
        agent = eng.agents.get(dg.agent, now)
        if agent is None:
            return  # refused: the agent table is full (counted there)
        agent.datagram(dg.sub_agent, dg.seq, dg.uptime, src, now)
        samples = dg.samples
        if not samples:
            return
        agent.samples_seen(samples)  # per-data-source sequence numbers, gaps, drops
        # sample counts are added once per datagram
        nflow = ncounter = ndiscard = 0
        flow_handlers = eng.flow_handlers
        for sample in samples:
            kind = sample.kind
            if kind == "flow":
                nflow += 1
                handlers = flow_handlers
            elif kind == "counter":
                ncounter += 1
                handlers = eng.counter_handlers
            else:
                if kind == "discard":
                    ndiscard += 1
                else:
                    stats.other_samples += 1
                handlers = eng.other_handlers
            for handler in handlers:
                try:
                    handler(sample, now)
                except Exception as exc:
                    if self.handler_failed(handler, agent, exc):
                        break
        stats.flow_samples += nflow
        stats.counter_samples += ncounter
        stats.discard_samples += ndiscard

    # -- what both paths call back -------------------------------------------------------------
    def decode_failed(self, src: str, exc: DecodeError) -> None:
        """A datagram that does not decode: counted for its sender."""
        self.engine.stats.decode_errors += 1
        self.engine.agents.decode_error(src)
        log.fine(f"decode error from {src}: {exc}")

    def handler_failed(self, handler, agent, exc: Exception) -> bool:
        """A sample handler raised. A DecodeError (a malformed record found late) counts against
        the agent and skips the sample's other handlers (True); another exception is a bug in
        the handler, logged, and the others go on."""
        if isinstance(exc, DecodeError):
            self.engine.stats.decode_errors += 1
            agent.decode_errors += 1
            log.fine(f"decode error in sample from {agent.agent}: {exc}")
            return True
        self.engine._handler_failed(handler, exc)
        return False

    # -- the C path ----------------------------------------------------------------------------
    def _c_ingest(self):
        """The C Ingest while it can stand in for ingest_python: the accelerator loaded and on,
        the agent table holding AgentRecords, no datagram handler (forwarding, tenants take
        the datagram bytes one by one)."""
        eng = self.engine
        if eng.datagram_handlers or _datagram._walk is not _accel_walk():
            return None
        c = self._c
        if c is None and not self._c_checked:
            self._c_checked = True
            c = self._c = self._make_c()
        if c is None or eng.agents.record is not getattr(_attributes.accel, "AgentRecord", None):
            return None
        return c

    def _make_c(self):
        accel = _attributes.accel
        from .flows import pipeline

        if accel is None or not hasattr(accel, "Ingest") or pipeline.fastpath is None:
            return None
        eng = self.engine
        return accel.Ingest(
            self.config,
            self.ingest_python,
            self.decode_failed,
            self.handler_failed,
            eng.agents.admit,
            eng.agents.by_address,
            eng.stats,
            pipeline.fastpath._C_API,
        )

    def config(self) -> tuple:
        """What the C path needs to know, read at the start of every batch and after
        invalidate(): the handler lists, whether flow samples may take the C pipeline path
        (the flows subsystem is their only reader; FlowEngine.c_ingest_config) and counter
        samples the C metrics path (the metric store is their only reader, or the others skip
        interface samples and only those take it; MetricStore.c_counter_config)."""
        eng = self.engine
        fh, ch = eng.flow_handlers, eng.counter_handlers
        flows = eng.subsystems.get("flows")
        metrics = eng.subsystems.get("metrics")
        fast = None
        if flows is not None and len(fh) == 1 and fh[0] == flows.on_flow_sample:
            fast = flows.c_ingest_config()
        counters, interfaces_only = None, False
        if metrics is not None and ch and ch[0] == metrics.handle_sample:
            # the other counter readers may only be ones that skip interface samples (the
            # host learner): the C path then takes interface samples only
            others = ch[1:]
            if all(
                getattr(getattr(h, "__self__", None), "skips_interfaces", False) for h in others
            ):
                counters, interfaces_only = metrics.c_counter_config(), bool(others)
        if fast is None:
            return (
                fh,
                ch,
                eng.other_handlers,
                False,
                None,
                None,
                None,
                False,
                None,
                None,
                counters,
                interfaces_only,
            )
        pipeline, wanted, agent_on, keys_seen, sources = fast
        return (
            fh,
            ch,
            eng.other_handlers,
            True,
            flows,
            pipeline,
            wanted,
            agent_on,
            keys_seen,
            sources,
            counters,
            interfaces_only,
        )


def _accel_walk():
    accel = _attributes.accel
    return accel.decode_datagram if accel is not None else None
