"""Flow-cache benchmark.

Times for 1 and 2 are CPU time of this process (time.process_time), so that other load on a
shared machine inflates them less than wall-clock time would.

1. Cost per sample of the flow caches (FlowEngine.process on decoded attribute dicts) with 1, 5
   and 20 active definitions (mixed keys, filters, key functions), with the C pipeline and the
   generated Python one (--pipeline).
2. End-to-end ingest (Engine.ingest: datagram decode + attributes + flows) in samples/s with
   0 and 5 definitions, single process.
3. With --udp: the real collector (UDP socket; receive thread or asyncio, --receiver) with 5
   definitions, fed by a separate sender process (one sendmmsg per ms) at fixed offered rates
   for a few seconds each; reports samples processed during the send and in all vs sent (the
   difference was dropped by the kernel's socket buffer or the receive queue), the receive
   queue's high water mark and the CPU per datagram of the receive and engine threads.

4. With --sfacctd: the same offered loads, same datagrams, against pmacct's sfacctd (Debian
   package pmacct) with 5 memory-plugin aggregations similar to the 5 definitions; processed
   samples are read back as the packet total of one plugin (renormalization off).

Run: .venv/bin/python bench/bench_flows.py [--samples N] [--pipeline c|python|both]
     [--udp [--receiver thread|asyncio|both]] [--sfacctd]
"""
from __future__ import annotations

import argparse
import asyncio
import gc
import json
import multiprocessing
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from engine import props
from engine.core import Engine
from engine.flows import pipeline
from engine.flows.engine import FlowEngine
from engine.sflow import decode_datagram
from engine.sflow.gen import Scenario, TrafficGenerator

# the 5 definitions of issue 13's figures (docs/ingest.md, "Measured")
ISSUE_DEFS = [
    ("f1", {"keys": "ipsource,ipdestination,ipprotocol,or:tcpsourceport:udpsourceport,"
                    "or:tcpdestinationport:udpdestinationport", "value": "frames"}),
    ("f2", {"keys": "ipsource,ipdestination", "value": "bytes"}),
    ("f3", {"keys": "macsource,macdestination,vlan", "value": "frames"}),
    ("f4", {"keys": "or:tcpdestinationport:udpdestinationport,ipprotocol", "value": "bytes"}),
    ("f5", {"keys": "agent,inputifindex,outputifindex", "value": "frames"}),
]
DEFS = [
    ("pair", {"keys": "ipsource,ipdestination", "value": "bytes"}),
    ("total", {"value": "frames"}),
    ("tcp5", {"keys": "ipsource,ipdestination,tcpsourceport,tcpdestinationport", "value": "bytes",
              "filter": "ipprotocol=6"}),
    ("nets", {"keys": "group:ipsource:nets,group:ipdestination:nets", "value": "frames"}),
    ("srcnet", {"keys": "mask:ipsource:24", "value": "bytes", "filter": "ipprotocol=6,17&bytes!=64"}),
    # 5 above; 15 more below
    ("ports", {"keys": "or:tcpdestinationport:udpdestinationport", "value": "frames",
               "filter": "ipprotocol=6,17"}),
    ("macs", {"keys": "macsource,macdestination", "value": "bytes"}),
    ("svc", {"keys": "map:tcpdestinationport:svc", "value": "bytes"}),
    ("stack", {"keys": "prefix:stack:.:2", "value": "frames"}),
    ("big", {"keys": "ipdestination", "value": "bytes", "filter": "range:bytes:1000=true"}),
    ("fanin", {"keys": "ipdestination", "value": "count:ipsource"}),
    ("syn", {"keys": "ipdestination", "value": "frames", "filter": "tcpflags~.......1."}),
    ("udp", {"keys": "ipsource,udpsourceport", "value": "bytes", "filter": "ipprotocol=17"}),
    ("vlan", {"keys": "vlansource", "value": "bytes"}),
    ("dscp", {"keys": "ipdscpname", "value": "bytes"}),
    ("avgsize", {"keys": "ipsource", "value": "avg:bytes", "values": ["max:bytes"]}),
    ("ifpair", {"keys": "inputifindex,outputifindex", "value": "bytes"}),
    ("web", {"keys": "ipsource", "value": "bytes",
             "filter": "tcpdestinationport=80,443,8080|udpdestinationport=443"}),
    ("ttl", {"keys": "ipttl", "value": "frames", "filter": "ipprotocol!=1"}),
    ("concat", {"keys": "concat:-:ipsource:ipprotocol", "value": "bytes"}),
]
GROUPS = {"src": ["10.1.0.0/16"], "dst": ["10.2.0.0/16"], "other": ["0.0.0.0/0"]}
MAP = {"web": ["80", "443", "8080"], "dns": ["53"], "db": ["3306", "6379"]}


def datagrams(n_samples: int) -> list[bytes]:
    gen = TrafficGenerator(Scenario(agents=4, flows=1000, samples_per_second=5000,
                                    sampling_rate=1000, seed=5))
    out, count = [], 0
    while count < n_samples:
        for dg in gen.step(0.1):
            out.append(dg)
            count += sum(1 for s in decode_datagram(dg).samples if s.kind == "flow")
    return out


def define(target, n: int) -> None:
    target.set_groups("nets", GROUPS)
    target.set_map("svc", MAP)
    if n < 0:
        target.set_flow("none", {"value": "frames", "filter": "ipprotocol=255"})
        return
    for name, spec in DEFS[:n]:
        target.set_flow(name, spec)


def bench_process(samples, n: int) -> float:
    fe = FlowEngine(None)
    define(fe, n)
    now = time.time()
    process = fe.process
    gc.collect()
    t0 = time.process_time()
    for attrs, agent, ds, rate in samples:
        process(attrs, agent, ds, rate, now)
    return (time.process_time() - t0) / len(samples)


def bench_ingest(dgs, n: int) -> tuple[float, int]:
    eng = Engine(props.Properties(dict(props.DEFAULTS)))
    fe = eng.subsystems["flows"]
    define(fe, n)
    ingest = eng.ingest
    gc.collect()
    t0 = time.process_time()
    for dg in dgs:
        ingest(dg, "127.0.0.1", time.time())
    dt = time.process_time() - t0
    return dt, eng.stats.flow_samples


def _sender(port: int, dgs: list, samples_per_dg: float, rate: float, seconds: float, q):
    """Offer `rate` flow samples/s for `seconds`: every ms the due datagrams go out with one
    sendmmsg (engine._net; plain send() without it), so the sender costs the 2-core machine
    little of the CPU the receiver needs."""
    from engine.sflow.gen import open_sender, send_paced
    sock = open_sender("127.0.0.1", port)
    sent = send_paced(sock, dgs, rate / samples_per_dg, seconds=seconds)
    sock.close()
    q.put(sent)


def _thread_cpu(tid: int) -> float:
    """CPU seconds (user + system) of one thread of this process."""
    try:
        with open(f"/proc/self/task/{tid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def bench_udp(dgs: list, samples_per_dg: float, rates, seconds: float = 4.0,
              receiver: str = "thread") -> None:
    from engine import collector

    async def run():
        values = dict(props.DEFAULTS)
        values.update({"sflow.hostname": "127.0.0.1", "sflow.port": "0",
                       "sflow.rcvpktsbuffer": str(8 * 1024 * 1024), "sflow.receiver": receiver})
        eng = Engine(props.Properties(values))
        define(eng.subsystems["flows"], 5)
        await eng.start()
        transport, port = await collector.start(eng)
        queue = eng.receive_queue
        print(f"  receiver: {'thread' if queue is not None else 'asyncio'}")
        loop = asyncio.get_running_loop()
        main_tid = os.getpid()
        recv_tid = queue.native_id if queue is not None else None
        for rate in rates:
            before = eng.stats.flow_samples
            dg_before = eng.stats.datagrams
            drops_before = eng.kernel_drops.read()
            qdrops_before = eng.queue_drops()
            if queue is not None:
                queue.reset_high_water()
                recv_cpu0 = _thread_cpu(recv_tid)
            main_cpu0 = _thread_cpu(main_tid)
            q = multiprocessing.Queue()
            p = multiprocessing.Process(target=_sender,
                                        args=(port, dgs, samples_per_dg, rate, seconds, q))
            p.start()
            # what was processed by the time the sender stops (its clock starts after the fork)
            await asyncio.sleep(seconds)
            during = eng.stats.flow_samples - before
            backlog = queue.stats()["queued"] if queue is not None else 0
            await loop.run_in_executor(None, p.join)
            # drain the socket buffer / receive queue: wait until ingest stops moving
            last, stable = -1, 0
            while stable < 3:
                await asyncio.sleep(0.2)
                stable = stable + 1 if eng.stats.datagrams == last else 0
                last = eng.stats.datagrams
            sent_dgs = q.get()
            got = eng.stats.flow_samples - before
            dgs_in = max(eng.stats.datagrams - dg_before, 1)
            sent = sent_dgs * samples_per_dg
            main_us = (_thread_cpu(main_tid) - main_cpu0) / dgs_in * 1e6
            extra = ""
            if queue is not None:
                recv_us = (_thread_cpu(recv_tid) - recv_cpu0) / dgs_in * 1e6
                hw = queue.stats()["high_water"]
                extra = (f", queue drops +{eng.queue_drops() - qdrops_before}, queued at the end "
                         f"{backlog} dgs, high water {hw}; CPU/datagram: receive thread "
                         f"{recv_us:.1f} us")
            else:
                extra = "; CPU/datagram:"
            print(f"  offered {rate:>9,.0f} samples/s: processed {during / seconds:>9,.0f}/s while "
                  f"sending ({got / seconds:>9,.0f}/s with backlog), {max(0.0, 1 - got / sent):6.1%} "
                  f"lost (kernel drops +{eng.kernel_drops.read() - drops_before}{extra}, "
                  f"engine thread {main_us:.1f} us)", flush=True)
        transport.close()
        await eng.stop()
    asyncio.run(run())


UDP_RATES = (40_000, 80_000, 160_000, 240_000, 320_000)
SFACCTD_AGGREGATES = ["src_host, dst_host", "proto", "src_host, dst_host, src_port, dst_port, proto",
                      "src_mac, dst_mac", "dst_port"]


def _sfacctd_packets(pipe: Path) -> int:
    out = subprocess.run(["pmacct", "-p", str(pipe), "-s", "-O", "json"], capture_output=True,
                         text=True, timeout=30).stdout
    return sum(json.loads(line)["packets"] for line in out.splitlines() if line.startswith("{"))


def bench_sfacctd(dgs: list, samples_per_dg: float, rates, seconds: float = 4.0) -> None:
    if not shutil.which("sfacctd") or not shutil.which("pmacct"):
        print("  sfacctd/pmacct not installed (apt-get install pmacct)")
        return
    with tempfile.TemporaryDirectory() as tmp:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        sock.close()
        names = [chr(ord("a") + i) for i in range(len(SFACCTD_AGGREGATES))]
        conf = ["daemonize: false", "sfacctd_ip: 127.0.0.1", f"sfacctd_port: {port}",
                "sfacctd_renormalize: false", f"sfacctd_pipe_size: {8 * 1024 * 1024}",
                "plugins: " + ", ".join(f"memory[{n}]" for n in names)]
        for n, agg in zip(names, SFACCTD_AGGREGATES):
            # buffers as pmacct's docs advise for high rates (the defaults drop much earlier)
            conf += [f"aggregate[{n}]: {agg}", f"imt_path[{n}]: {tmp}/{n}.pipe",
                     f"plugin_buffer_size[{n}]: 102400", f"plugin_pipe_size[{n}]: 102400000"]
        Path(tmp, "sfacctd.conf").write_text("\n".join(conf) + "\n")
        proc = subprocess.Popen(["sfacctd", "-f", f"{tmp}/sfacctd.conf"], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            time.sleep(2)
            pipe = Path(tmp, "a.pipe")
            for rate in rates:
                before = _sfacctd_packets(pipe)
                q = multiprocessing.Queue()
                p = multiprocessing.Process(target=_sender,
                                            args=(port, dgs, samples_per_dg, rate, seconds, q))
                p.start()
                p.join()
                # plugins receive data in buffers: wait until the count stops moving
                last, stable_since = -1, time.monotonic()
                deadline = time.monotonic() + 15
                while time.monotonic() < deadline:
                    now_count = _sfacctd_packets(pipe)
                    if now_count != last:
                        last, stable_since = now_count, time.monotonic()
                    elif time.monotonic() - stable_since > 2.0:
                        break
                    time.sleep(0.5)
                sent = q.get() * samples_per_dg
                got = last - before
                print(f"  offered {rate:>9,.0f} samples/s: processed {got / seconds:>9,.0f}/s, "
                      f"{max(0.0, 1 - got / sent):6.1%} lost")
        finally:
            # sfacctd forks a process per plugin into its own session: stop that group
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


def _pipelines(choice: str) -> list[str]:
    kinds = {"c": ["C"], "python": ["Python"], "both": ["C", "Python"]}[choice]
    if "C" in kinds and pipeline.fastpath is None:
        print("C pipeline not available (not built, or FLOWRT_NO_ACCEL set)")
        kinds = ["Python"]
    return kinds


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--samples", type=int, default=100_000)
    ap.add_argument("--udp", action="store_true")
    ap.add_argument("--sfacctd", action="store_true")
    ap.add_argument("--rates", default=",".join(str(r) for r in UDP_RATES),
                    help="offered flow samples/s for --udp/--sfacctd, comma separated")
    ap.add_argument("--receiver", choices=("thread", "asyncio", "both"), default="thread",
                    help="collector receive path for --udp (sflow.receiver)")
    ap.add_argument("--pipeline", choices=("c", "python", "both"), default="both",
                    help="flow pipeline(s) to time: the C one (engine/flows/_fastpath.c) and/or "
                         "the generated Python one; --udp/--sfacctd use the first")
    args = ap.parse_args()
    rates = [int(float(r)) for r in args.rates.split(",") if r.strip()]
    dgs = datagrams(args.samples)
    samples = []
    for dg in dgs:
        for s in decode_datagram(dg).samples:
            if s.kind == "flow":
                samples.append((s.attributes(), s.agent, s.data_source, s.sampling_rate))
    print(f"{len(samples)} flow samples in {len(dgs)} datagrams "
          f"({len(samples) / len(dgs):.1f} per datagram)")
    kinds = _pipelines(args.pipeline)
    print("flow-cache cost per sample (FlowEngine.process, attributes already decoded):")
    for n in (1, 5, 20):
        for kind in kinds:
            pipeline.use_accelerator(kind == "C")
            best = min(bench_process(samples, n) for _ in range(3))
            print(f"  {n:2d} definitions, {kind:6s} pipeline: {best * 1e6:6.2f} us/sample  "
                  f"({1 / best:,.0f} samples/s)")
    print("end-to-end Engine.ingest (decode + attributes + flow caches), one core:")
    for n in (0, -1, 5):
        for kind in (kinds if n > 0 else kinds[:1]):
            pipeline.use_accelerator(kind == "C")
            best = None
            for _ in range(3):
                dt, count = bench_ingest(dgs, n)
                best = dt if best is None or dt < best else best
            label = ("1 never-matching definition (decode + attributes)" if n < 0
                     else f"{n} definitions, {kind} pipeline" if n else "0 definitions")
            print(f"  {label}: {count / best:,.0f} samples/s  ({best / count * 1e6:.2f} us/sample)")
    pipeline.use_accelerator(kinds[0] == "C")
    if args.udp:
        for receiver in (("thread", "asyncio") if args.receiver == "both" else (args.receiver,)):
            print(f"UDP collector (sflow.receiver={receiver}), 5 definitions, one engine process:")
            bench_udp(dgs, len(samples) / len(dgs), rates, receiver=receiver)
    if args.sfacctd:
        print("pmacct sfacctd, 5 memory-plugin aggregations, same datagrams:")
        bench_sfacctd(dgs, len(samples) / len(dgs), rates)


if __name__ == "__main__":
    main()
