"""Blog scenario: swarmmetrics.js exports Docker swarm cluster and service metrics to InfluxDB.

The lab: the Docker API at https://10.0.0.134:2376 (TLS, client certificate from /tls/) lists
three services; three swarm hosts vx1host1..vx3host1 (sFlow agents 10.0.0.11-13) run their
containers, and a host outside the swarm (build1, 10.0.0.14) runs one container the cluster
filter must leave out. A real InfluxDB 1.x listens at 10.0.0.50:8086 with database docker.
flowrt runs swarmmetrics.js unmodified; every 10 s it writes swarm.services, nodes, the cluster
metrics and, per service, replicas_configured, replicas_measured and the service metrics. The
test reads them back from InfluxDB.

The expected values are exact: the hosts' counters advance by exactly rate x interval per poll.
"""

from __future__ import annotations

import time

import pytest

from lab import influx, netns
from lab.agents import DockerHost, Sender
from lab.scenario import LabScenario
from lab.servers import DockerAPI
from lab.swarm import FLOWRT_SFLOW, Swarm
from waiting import wait_until

pytestmark = [
    pytest.mark.skipif(netns.available() is not None, reason=str(netns.available())),
    pytest.mark.skipif(influx.INFLUXD is None, reason="needs influxd (Debian package influxdb)"),
]

DOCKER, INFLUX = "10.0.0.134", "10.0.0.50"
SWARM_HOSTS = {"10.0.0.11": "vx1host1", "10.0.0.12": "vx2host1", "10.0.0.13": "vx3host1"}
OTHER_HOST = ("10.0.0.14", "build1")
LOAD_ONE = {"vx1host1": 0.5, "vx2host1": 1.25, "vx3host1": 2.0, "build1": 8.0}
STEAL = {"vx1host1": 0, "vx2host1": 5, "vx3host1": 2, "build1": 40}
# service: (configured replicas, running containers, total cpu %, total bytes/s)
SERVICES = {
    "apache": (3, 3, 30.0, 600_000),
    "nginx": (2, 2, 5.0, 80_000),
    "redis": (2, 1, 1.5, 3_000),
}  # redis: one task not running yet


def wait(predicate, timeout, what):
    return wait_until(predicate, timeout, 0.2, what)


def last(db, measurement, **tags):
    points = [
        p for p in db.series("docker", measurement) if all(p.get(k) == v for k, v in tags.items())
    ]
    assert points, f"no {measurement} {tags} points in InfluxDB"
    return points[-1]["value"]


def test_swarmmetrics_writes_cluster_and_service_metrics_to_influxdb(tmp_path):
    with LabScenario(tmp_path, [DOCKER, INFLUX, *SWARM_HOSTS, OTHER_HOST[0]]) as s:
        db = s.started(influx.InfluxDB(s.lab.hosts_ns, tmp_path / "influxdb", INFLUX, 8086).start())
        db.create_database("docker")
        api = DockerAPI(
            s.lab.hosts_ns,
            DOCKER,
            ssl_context=s.pki.server_context(DOCKER, require_client_cert=True),
        )
        for name, (configured, *_) in SERVICES.items():
            api.add_service(name, configured)
        s.started(api.start())

        swarm = s.started(Swarm(s.lab.hosts_ns, SWARM_HOSTS))
        for h in swarm.hosts:
            h.load_one, h.steal = LOAD_ONE[h.host_name], STEAL[h.host_name]
        # a Docker host outside the swarm's naming (host_name filter 'vx*host*' leaves it out)
        other = DockerHost(
            Sender(s.lab.hosts_ns, OTHER_HOST[0], FLOWRT_SFLOW),
            *OTHER_HOST,
            load_one=LOAD_ONE["build1"],
            steal=STEAL["build1"],
        )
        other.add(
            "apache.9.buildcache", cpu=90.0, bytes_in=5e6, bytes_out=5e6
        )  # not running for the swarm
        other.containers["apache.9.buildcache"].state = 3  # paused: vir_cpu_state filter drops it
        swarm.hosts.append(other)  # polled, but not scheduled onto
        for name, (_, running, cpu, nbytes) in SERVICES.items():
            swarm.set_replicas(name, running)
            swarm.set_load(name, cpu, nbytes)
        swarm.start()

        fr = s.start_flowrt(["swarmmetrics.js"], tls=s.pki.tls_folder())

        # two 10 s rounds (the first may come before flowrt has two polls of every host)
        wait(lambda: len(db.series("docker", "swarm.services")) >= 2, 40, "two rounds of points")
        time.sleep(1.0)  # the round's service points are written right after swarm.services
        assert not api.tls_failures, api.tls_failures
        assert [r for r in api.requests if r[1] == "GET" and r[2] == "/services"]

        names = set(db.measurements("docker"))
        assert {
            "swarm.services",
            "nodes",
            "avg:load_one",
            "max:cpu_steal",
            "sum:node_domains",
            "replicas_configured",
            "replicas_measured",
            "avg:vir_cpu_utilization",
            "avg:vir_bytes_in",
            "avg:vir_bytes_out",
        } <= names, names

        assert last(db, "swarm.services") == 3
        assert last(db, "nodes") == 3
        assert last(db, "avg:load_one") == pytest.approx((0.5 + 1.25 + 2.0) / 3, rel=1e-6)
        assert last(db, "max:cpu_steal") == pytest.approx(5.0, rel=1e-6)
        assert last(db, "sum:node_domains") == sum(r for _, r, _, _ in SERVICES.values())

        for name, (configured, running, cpu, nbytes) in SERVICES.items():
            assert last(db, "replicas_configured", service=name) == configured
            assert last(db, "replicas_measured", service=name) == running
            assert last(db, "avg:vir_cpu_utilization", service=name) == pytest.approx(
                cpu / running, rel=1e-6
            )
            assert last(db, "avg:vir_bytes_in", service=name) == pytest.approx(
                nbytes / running / 2, rel=1e-6
            )
            assert last(db, "avg:vir_bytes_out", service=name) == pytest.approx(
                nbytes / running / 2, rel=1e-6
            )
        assert not [l for l in fr.log_lines() if "WARNING" in l or "SEVERE" in l], fr.tail()
