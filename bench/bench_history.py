"""History (docs/history.md): what recording costs ingest, how fast the writer stores rows, and
how long a day's top-N takes over 10 M stored rows.

1. ingest: an in-process engine (Engine.ingest on its event loop, as the collector calls it)
   with the 5 bench definitions of bench_flows.py, each with ``history``, fed generator
   datagrams as fast as it takes them for --seconds, history off and then on (interval
   --interval s, 1 by default: 60 times the rows of the default 60 s). Reported: samples/s and
   CPU per sample of the ingest (main) thread; history's own CPU on that thread (the hooks that
   build rows) and in the writer thread (TSV formatting and the store call, holding the GIL);
   the share of those two in main + writer CPU (the goal: under 10%); rows written per second.
   With chDB the store's own threads (parsing, merges) run outside the GIL: shown apart.
2. writer: --rows flow rows put in the buffer at once, the time and writer-thread CPU to store
   them (rows/s), per store.
3. query: --query-rows rows (a day of 1-minute intervals, 5 agents, ~1,400 keys per interval)
   made by INSERT ... SELECT from numbers(); the median time of 5 runs of a 24-hour top-20
   (top_keys) and of a 24-hour stacked series of the top 10 keys (flow_series, 5-minute steps).

Stores: chDB (embedded, in a temp folder) and, with --server, Debian's clickhouse-server
started by hand on loopback ports (as the tests do; HTTP and native protocol).

    .venv/bin/python bench/bench_history.py                 # chDB only
    .venv/bin/python bench/bench_history.py --server        # also clickhouse-server 18.16
    .venv/bin/python bench/bench_history.py --only query --query-rows 10000000
Wall-clock figures on a shared machine are indicative; the CPU figures less so.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))
sys.path.insert(0, str(REPO / "tests"))

from bench_flows import DEFS, GROUPS, MAP  # noqa: E402
from engine import props  # noqa: E402
from engine.core import Engine  # noqa: E402
from engine.history import queries  # noqa: E402
from engine.history.backends import ChdbBackend, ServerSpec, open_server  # noqa: E402
from engine.history.schema import FLOWS, create_statements  # noqa: E402
from engine.history.writer import RowBuffer, Writer  # noqa: E402
from engine.sflow import decode_datagram  # noqa: E402
from engine.sflow.gen import Scenario, TrafficGenerator  # noqa: E402


def datagram_pool(n_samples: int) -> tuple[list[bytes], int]:
    gen = TrafficGenerator(
        Scenario(agents=4, flows=5000, samples_per_second=20000, sampling_rate=1000, seed=5)
    )
    out, count = [], 0
    while count < n_samples:
        for dg in gen.step(0.1):
            out.append(dg)
            count += sum(1 for s in decode_datagram(dg).samples if s.kind == "flow")
    return out, count


class Timed:
    """Wraps a hook: CPU time of the calling thread spent in it."""

    def __init__(self, fn):
        self.fn = fn
        self.seconds = 0.0
        self.calls = 0

    def __call__(self, *args, **kw):
        t0 = time.thread_time()
        self.calls += 1
        try:
            return self.fn(*args, **kw)
        finally:
            self.seconds += time.thread_time() - t0


def run_ingest(pool, pool_samples, seconds, history_props: dict | None, home: str) -> dict:
    values = dict(props.DEFAULTS)
    values.update(history_props or {"history.enabled": "no"})
    eng = Engine(props.Properties(values), home)
    fe = eng.subsystems["flows"]
    fe.set_groups("nets", GROUPS)
    fe.set_map("svc", MAP)
    for name, spec in DEFS[:5]:
        fe.set_flow(name, dict(spec, history=True))
    h = eng.subsystems["history"]
    hooks = [Timed(h._on_interval), Timed(h._on_metrics), Timed(h._on_event)]
    h._on_interval, h._on_metrics, h._on_event = hooks
    # the flows side of it: reading each interval's totals from the caches (intervals.py)
    publish = Timed(fe.intervals.publish)
    fe.intervals.publish = publish
    hooks.append(publish)

    async def main():
        await eng.start()
        ingest = eng.ingest
        gc.collect()
        samples = 0
        t_wall, t_cpu, t_proc = time.perf_counter(), time.thread_time(), time.process_time()
        w0 = h.writer.cpu_seconds if h.writer else 0.0
        end = t_wall + seconds
        i = 0
        n = len(pool)
        while time.perf_counter() < end:
            for _ in range(500):
                ingest(pool[i], "127.0.0.1", time.time())
                i += 1
                if i == n:
                    i = 0
                    samples += pool_samples
            await asyncio.sleep(0)  # the ticker and the rest of the loop run here
        samples += pool_samples * i // n
        wall = time.perf_counter() - t_wall
        main_cpu = time.thread_time() - t_cpu
        proc_cpu = time.process_time() - t_proc
        await asyncio.sleep(0)
        out = {
            "samples": samples,
            "wall": wall,
            "main_cpu": main_cpu,
            "proc_cpu": proc_cpu,
            "hooks": sum(t.seconds for t in hooks),
            "boundaries": publish.calls,
            "entries": sum(len(t.entries) for t in fe.tables.values()),
        }
        if h.writer is not None:
            out.update(
                writer_cpu=h.writer.cpu_seconds - w0,
                written=h.writer.written,
                dropped=h.buffer.dropped,
                buffered=h.buffer.count,
            )
        await eng.stop()
        return out

    return asyncio.run(main())


def bench_ingest(args, stores) -> None:
    pool, pool_samples = datagram_pool(args.pool)
    print(
        f"\n1. ingest, 5 definitions with history, interval {args.interval:g} s, "
        f"{args.seconds:g} s per run ({len(pool)} datagrams, {pool_samples} samples cycled)"
    )
    with tempfile.TemporaryDirectory() as home:
        run_ingest(pool, pool_samples, min(2.0, args.seconds), None, home)  # warm-up
        base = run_ingest(pool, pool_samples, args.seconds, None, home)
    print(
        f"  history off        : {base['samples'] / base['wall']:>9,.0f} samples/s, "
        f"main thread {base['main_cpu'] / base['samples'] * 1e6:.2f} us CPU/sample"
    )
    for label, store_props in stores:
        with tempfile.TemporaryDirectory() as home:
            p = {
                "history.enabled": "yes",
                "history.interval": str(args.interval),
                "history.flush": "1",
                "history.node": "bench",
                "history.keys": str(args.keys),
                **store_props,
            }
            r = run_ingest(pool, pool_samples, args.seconds, p, home)
        own = r["hooks"] + r["writer_cpu"]
        share = own / (r["main_cpu"] + r["writer_cpu"])
        per_boundary = r["hooks"] / max(1, r["boundaries"])
        store = max(0.0, r["proc_cpu"] - r["main_cpu"] - r["writer_cpu"])
        print(
            f"  history {label:11s}: {r['samples'] / r['wall']:>9,.0f} samples/s, "
            f"main thread {r['main_cpu'] / r['samples'] * 1e6:.2f} us CPU/sample; "
            f"{(r['written'] + r['buffered']) / r['wall']:,.0f} rows/s recorded "
            f"({r['written']:,} written, {r['dropped']} dropped)\n"
            f"  {'':19s}  history CPU: intervals + hooks {r['hooks']:.3f} s "
            f"({per_boundary * 1000:.0f} ms per boundary, {r['entries']:,} cache entries) "
            f"+ writer thread {r['writer_cpu']:.3f} s = {share:.1%} of main + writer; "
            f"at a 60 s interval {(per_boundary / 60 + r['writer_cpu'] / r['wall'] / 60 * args.interval) / (r['main_cpu'] / r['wall']):.2%}; "
            f"other threads (the store's own, collector) {store:.3f} s"
        )


def flow_rows(n: int, t0: int) -> list[tuple]:
    return [
        (
            t0 + (i // 5000) * 60,
            60,
            "bench",
            "pair",
            f"192.0.2.{i % 5}",
            "1",
            f"10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255},10.2.0.{i % 200}",
            float(1000 + i % 7919),
        )
        for i in range(n)
    ]


def bench_writer(args, backends) -> None:
    print(f"\n2. writer: {args.rows:,} flow rows buffered at once, batches of 100,000")
    rows = flow_rows(args.rows, int(time.time()) - 3600)
    for label, backend in backends:
        buf = RowBuffer(args.rows + 1)
        w = Writer([backend], buf, "flowrt_bench_w", None, 0, 100_000, 0.05, 1.0)
        w.start()
        time.sleep(0.5)  # tables made
        t0 = time.perf_counter()
        buf.add("flows", rows)
        while w.written < args.rows and w.healthy():
            time.sleep(0.01)
        dt = time.perf_counter() - t0
        print(
            f"  {label:11s}: {w.written / dt:>9,.0f} rows/s, writer thread "
            f"{w.cpu_seconds / max(w.written, 1) * 1e6:.2f} us CPU/row"
            + ("" if w.healthy() else f"  FAILED: {w.last_error}")
        )
        w.stop()
        backend.execute("DROP DATABASE IF EXISTS flowrt_bench_w")


def bench_query(args, backends) -> None:
    n = args.query_rows
    per_interval = max(1, n // 1440)
    print(
        f"\n3. query: {n:,} rows over 24 h ({per_interval:,} per 1-minute interval, "
        f"5 agents); median of 5 runs"
    )
    db = "flowrt_bench_q"
    now = int(time.time()) // 60 * 60
    start = now - 86400
    for label, backend in backends:
        for sql in create_statements(db, None):
            backend.execute(sql)
        backend.execute(
            f"TRUNCATE TABLE {db}.flows_local"
            if label == "chDB"
            else f"DROP TABLE IF EXISTS {db}.flows_local"
        )
        for sql in create_statements(db, None):
            backend.execute(sql)
        t0 = time.perf_counter()
        backend.execute(
            f"INSERT INTO {db}.flows_local ({', '.join(FLOWS.column_names)}) SELECT "
            f"toDateTime({start} + intDiv(number, {per_interval}) * 60), 60, 'bench', 'pair', "
            f"concat('192.0.2.', toString(number % 5)), '1', "
            f"concat('10.1.', toString(intDiv(number % {per_interval}, 256)), '.', "
            f"toString(number % 256), ',10.2.0.', toString(number % 7)), "
            f"toFloat64(1000 + (number % {per_interval}) * 7 + number % 13) "
            f"FROM numbers({n})"
        )
        load = time.perf_counter() - t0
        run = backend.query

        def timed(fn):
            times = []
            for _ in range(5):
                t = time.perf_counter()
                out = fn()
                times.append(time.perf_counter() - t)
            return statistics.median(times), out

        top_t, top = timed(lambda: queries.top_keys(run, db, "pair", None, start, now + 60, 20))
        ser_t, ser = timed(
            lambda: queries.flow_series(run, db, "pair", None, start, now + 60, 300, 60, None, 10)
        )
        assert len(top) == 20 and len(ser["keys"]) == 10
        print(
            f"  {label:11s}: load {load:6.2f} s ({n / load:,.0f} rows/s); 24 h top-20 "
            f"{top_t * 1000:7.1f} ms; 24 h top-10 series (5 min) {ser_t * 1000:7.1f} ms"
        )
        backend.execute(f"DROP DATABASE IF EXISTS {db}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--only", choices=("ingest", "writer", "query"))
    ap.add_argument(
        "--server",
        action="store_true",
        help="also Debian's clickhouse-server, started on loopback ports",
    )
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--interval", type=float, default=1.0)
    ap.add_argument("--keys", type=int, default=1000)
    ap.add_argument("--pool", type=int, default=200_000, help="samples in the datagram pool")
    ap.add_argument("--rows", type=int, default=500_000)
    ap.add_argument("--query-rows", type=int, default=10_000_000)
    args = ap.parse_args()

    server = None
    tmp = tempfile.TemporaryDirectory()
    try:
        stores = [("chDB", {})]
        if args.server:
            from clickhouse_support import shards

            [server] = shards(Path(tmp.name), 1)
            stores += [
                ("HTTP 18.16", {"history.clickhouse": server.http_url}),
                ("native", {"history.clickhouse": server.native_url}),
            ]
        if args.only in (None, "ingest"):
            bench_ingest(args, stores)
        if args.only in (None, "writer", "query"):
            chdb = ChdbBackend(Path(tmp.name) / "chdb")
            backends = [("chDB", chdb)]
            if server is not None:
                backends += [
                    (
                        "HTTP 18.16",
                        open_server(ServerSpec("http", "127.0.0.1", server.http_port), 60),
                    ),
                    ("native", open_server(ServerSpec("native", "127.0.0.1", server.tcp_port), 60)),
                ]
            try:
                if args.only in (None, "writer"):
                    bench_writer(args, backends)
                if args.only in (None, "query"):
                    bench_query(args, backends[:2])
            finally:
                chdb.close()
    finally:
        if server is not None:
            server.stop()
        tmp.cleanup()


if __name__ == "__main__":
    main()
