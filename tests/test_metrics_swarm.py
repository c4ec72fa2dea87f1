"""Accuracy: a synthetic Docker swarm (hosts vx<N>host, containers apache.K.xyz / nginx.K.xyz /
redis.K.xyz with known CPU and byte counters) sent over real UDP in real time; the exact
metric() queries of the seed's elb.js and swarmmetrics.js must give the right metricN and
values, also while replicas come and go.

Error: the generator's counters advance by exactly cpu x 1000 ms and bytes/s x dt per poll and
rates are computed over the agents' sysUpTime, so the expected values are exact; the test
allows a relative error of 1e-9 (float rounding). A container that stops sending counts until
it has missed 3 polls (3 x 0.5 s + 1 s here); one that reports a non-running state stops
counting at once.
"""

from __future__ import annotations

import time
import urllib.parse

import pytest

from engine.sflow import encode
from engine.sflow.gen import Scenario, TrafficGenerator, _Container, container_mac

POLL = 0.5
HOSTS = 4
PER_HOST = 9  # 3 apache + 3 nginx + 3 redis on each host

# the queries exactly as the seed scripts write them (JS '\\.' is Python '\\.')
ELB_METRICS = "avg:vir_cpu_utilization,avg:vir_bytes_in,avg:vir_bytes_out"
SERVICE_METRICS = ["avg:vir_cpu_utilization", "avg:vir_bytes_in", "avg:vir_bytes_out"]
CLUSTER_METRICS = ["avg:load_one", "max:cpu_steal", "sum:node_domains"]
CLUSTER_FILTER = {"node_domains": ["*"], "host_name": ["vx*host*"]}


def elb_filter(service):
    return {"vir_host_name": [service + "\\.*"], "vir_cpu_state": ["running"]}


class Swarm:
    def __init__(self, eng):
        self.eng = eng
        self.gen = TrafficGenerator(
            Scenario(
                agents=HOSTS,
                hosts=True,
                containers=PER_HOST,
                ports=1,
                flows=2,
                samples_per_second=2,
                polling_interval=POLL,
                seed=3,
            )
        )
        self.sent = 0
        self.next_index = 100

    def run(self, seconds: float) -> None:
        """Step the simulated swarm in real time (the engine ages data by its own clock)."""
        start = time.monotonic()
        for i in range(int(round(seconds / POLL))):
            self.sent += self.eng.send(self.gen.step(POLL))
            delay = start + (i + 1) * POLL - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        self.eng.wait_datagrams(self.sent)

    def query(self, metrics, flt):
        return self.eng.call(
            self.eng.engine.subsystems["metrics"].query_metric, "ALL", metrics, flt
        )

    def replicas(self, service: str) -> int:
        return sum(
            1 for a in self.gen.agents for c in a.containers if c.name.startswith(service + ".")
        )

    def add(self, host: int, service: str) -> str:
        agent = self.gen.agents[host]
        self.next_index += 1
        name = f"{service}.{self.next_index}.new{self.next_index}"
        agent.containers.append(
            _Container(
                self.next_index, name, bytes(16), container_mac(agent.number, self.next_index)
            )
        )
        return name

    def remove(self, host: int, service: str, report_shutoff: bool = False) -> str:
        agent = self.gen.agents[host]
        c = next(c for c in agent.containers if c.name.startswith(service + "."))
        agent.containers.remove(c)
        if report_shutoff:
            # one last poll saying the container is shut off (vcpu_state 5)
            c.seq += 1
            uptime = int((self.gen.now - agent.scenario.start_time) * 1000)
            recs = [
                encode.record(
                    "0:2000",
                    encode.COUNTER_RECORDS["0:2000"](
                        {"hostname": c.name, "UUID": c.uuid, "machine_type": 3, "os_name": 2}
                    ),
                ),
                encode.record("0:2002", encode.u32(2) + encode.u32(1)),
                encode.record(
                    "0:2101",
                    encode.COUNTER_RECORDS["0:2101"](
                        {"vcpu_state": 5, "vcpu_cpu_mS": int(c.cpu_ms), "vcpu_cpuCount": 1}
                    ),
                ),
            ]
            agent.seq += 1
            self.sent += self.eng.send(
                encode.datagram(
                    agent.address,
                    agent.seq,
                    uptime,
                    [encode.counter_sample(c.seq, 3, c.index, recs)],
                )
            )
        return c.name


def check_service(res, replicas):
    assert [r["metricName"] for r in res] == SERVICE_METRICS
    assert res[0]["metricN"] == replicas
    assert res[0]["metricValue"] == pytest.approx(10.0, rel=1e-9)  # 0.1 of one CPU
    assert res[1]["metricValue"] == pytest.approx(100_000.0, rel=1e-9)
    assert res[2]["metricValue"] == pytest.approx(200_000.0, rel=1e-9)


# The metric() calls of elb.js and swarmmetrics.js, verbatim, run by the real JS runtime.
SCRIPT = r"""
var service = 'apache';
var hostpat = service+'\\.*';
var clustermetrics = ['avg:load_one', 'max:cpu_steal', 'sum:node_domains'];
var servicemetrics = ['avg:vir_cpu_utilization', 'avg:vir_bytes_in', 'avg:vir_bytes_out'];
setHttpHandler(function(req) {
  var res = metric(
    'ALL', 'avg:vir_cpu_utilization,avg:vir_bytes_in,avg:vir_bytes_out',
    {'vir_host_name':[hostpat],'vir_cpu_state':['running']}
  );
  var vals = metric(
    'ALL', clustermetrics,
    {'node_domains':['*'],'host_name':['vx*host*']}
  );
  var name = 'nginx';
  var svc = metric(
    'ALL', servicemetrics,
    {'vir_host_name':[name+'\\.*'],'vir_cpu_state':['running']}
  );
  return {elb: res, n: res[0].metricN, cluster: vals, nodes: vals[0].metricN || 0, nginx: svc};
});
"""


def test_elb_and_swarmmetrics_queries(make_engine, tmp_path):
    script = tmp_path / "swarmq.js"
    script.write_text(SCRIPT)
    eng = make_engine({"script.file": str(script)})
    swarm = Swarm(eng)
    swarm.run(3 * POLL)

    # elb.js
    res = swarm.query(ELB_METRICS, elb_filter("apache"))
    check_service(res, 12)
    assert res[0]["metricN"] == swarm.replicas("apache")
    # ... and the same calls made by JavaScript in V8 (a script's setHttpHandler)
    js = eng.get_json("/script/swarmq.js/json")
    check_service(js["elb"], 12)
    assert js["n"] == 12 and js["nodes"] == HOSTS
    assert js["cluster"][0]["metricValue"] == pytest.approx(1.0, rel=1e-9)
    assert js["cluster"][2]["metricValue"] == HOSTS * PER_HOST
    check_service(js["nginx"], 12)
    # swarmmetrics.js, per service and for the cluster
    for service in ("apache", "nginx", "redis"):
        check_service(swarm.query(SERVICE_METRICS, elb_filter(service)), 12)
    assert swarm.query(SERVICE_METRICS, elb_filter("memcached"))[0]["metricN"] == 0
    vals = swarm.query(CLUSTER_METRICS, CLUSTER_FILTER)
    assert [v["metricName"] for v in vals] == CLUSTER_METRICS
    assert vals[0]["metricN"] == HOSTS
    assert vals[0]["metricValue"] == pytest.approx(1.0, rel=1e-9)  # 0.25 x 4 CPUs
    assert vals[1]["metricValue"] == 0
    assert vals[2]["metricValue"] == HOSTS * PER_HOST

    # the same elb.js query over REST (filter as query parameters)
    q = urllib.parse.urlencode([("vir_host_name", "apache\\.*"), ("vir_cpu_state", "running")])
    check_service(eng.get_json(f"/metric/ALL/{','.join(SERVICE_METRICS)}/json?{q}"), 12)

    # replicas come and go: 2 new apache containers, 1 stops silently, 1 reports shutoff
    swarm.add(1, "apache")
    swarm.add(2, "apache")
    gone_silent = swarm.remove(0, "apache")
    swarm.remove(3, "apache", report_shutoff=True)
    removed_at = time.time()
    swarm.run(2 * POLL)
    # ask as of at most 2 s after the removal, so a slow machine cannot let the silent one
    # miss its 3 polls (2.5 s) before the question is asked
    store = eng.engine.subsystems["metrics"]
    res = eng.call(
        store.query_metric,
        "ALL",
        ELB_METRICS,
        elb_filter("apache"),
        min(time.time(), removed_at + 2.0),
    )
    # the shut-off one is excluded at once; the silent one still counts (not yet 3 missed polls)
    check_service(res, 12 + 2 - 1)
    assert swarm.replicas("apache") == 12
    vals = swarm.query(CLUSTER_METRICS, CLUSTER_FILTER)
    assert vals[2]["metricValue"] == HOSTS * PER_HOST + 2 - 2  # hosts report domains
    # after 3 missed polls the silent one is gone: metricN == configured replicas (elb.js test)
    deadline = time.monotonic() + 3 * POLL + 3
    while True:
        swarm.run(POLL)
        res = swarm.query(ELB_METRICS, elb_filter("apache"))
        if res[0]["metricN"] == swarm.replicas("apache") or time.monotonic() > deadline:
            break
    check_service(res, swarm.replicas("apache"))
    js = eng.get_json("/script/swarmq.js/json")
    check_service(js["elb"], swarm.replicas("apache"))
    dump = eng.call(eng.engine.subsystems["metrics"].query_dump, "ALL", "vir_host_name")
    assert gone_silent not in {d["metricValue"] for d in dump}
    check_service(swarm.query(SERVICE_METRICS, elb_filter("nginx")), 12)
