"""Blog scenario: elb.js scales a Docker swarm service with its load.

The lab: the Docker API at https://10.0.0.134:2376 (TLS, client certificate from /tls/
required) with service apache; two Docker hosts (sFlow agents 10.0.0.11, 10.0.0.12) whose
apache containers follow the service's replica count and share the service's load evenly.
flowrt runs elb.js unmodified (``./start.sh -Dscript.file=elb.js``).

elb.js scales out while a container's average CPU is above 1 % or its bytes in+out above
100 kB/s, and in while CPU < 0.5 % and bytes < 50 kB/s. A total load of 3.2 % CPU and
360 kB/s settles at 4 replicas (3: 1.07 %, 120 kB/s -> up; 4: 0.8 %, 90 kB/s -> stay);
0.4 % and 40 kB/s brings it back to 1.
"""

from __future__ import annotations


import pytest

from lab import netns
from lab.scenario import LabScenario
from lab.servers import DockerAPI
from lab.swarm import Swarm
from waiting import wait_until

pytestmark = pytest.mark.skipif(netns.available() is not None, reason=str(netns.available()))

DOCKER = "10.0.0.134"
HOSTS = {"10.0.0.11": "vx1host1", "10.0.0.12": "vx2host1"}
HIGH = (3.2, 360_000)
LOW = (0.4, 40_000)


def wait(predicate, timeout, what):
    return wait_until(predicate, timeout, 0.1, what)


def polls_of(api, path="/services/apache"):
    return sum(1 for r in api.requests if r[1] == "GET" and r[2] == path)


def test_elb_scales_apache_replicas_with_load(tmp_path):
    with LabScenario(tmp_path, [DOCKER, *HOSTS]) as s:
        swarm = s.started(Swarm(s.lab.hosts_ns, HOSTS))
        api = DockerAPI(
            s.lab.hosts_ns,
            DOCKER,
            ssl_context=s.pki.server_context(DOCKER, require_client_cert=True),
            on_update=swarm.set_replicas,
        )
        api.add_service("apache", 1)
        s.started(api.start())
        swarm.set_replicas("apache", 1)
        swarm.set_load("apache", *HIGH)
        swarm.start()
        fr = s.start_flowrt(["elb.js"], tls=s.pki.tls_folder())

        # disabled (the script's default): it polls the Docker API every 2 s but never scales
        wait(lambda: polls_of(api) >= 4, 20, "elb.js polling the Docker API")
        assert not api.tls_failures, api.tls_failures  # it presented the /tls/ client cert
        assert api.updates == [] and api.replicas("apache") == 1

        # the blog's curl turns scaling on
        assert fr.curl("/script/elb.js/json?state=enabled") == '"enabled"'  # JSON, as sFlow-RT 3.0
        wait(lambda: api.replicas("apache") == 4, 45, "scale out to 4 replicas")
        fr.wait_log(r"INFO: apache set replicas=4", 5)
        n = polls_of(api)
        wait(lambda: polls_of(api) >= n + 3, 15, "three more polls")
        assert api.replicas("apache") == 4, "4 replicas carry the load: no further scaling"
        assert [r for _, _, r in api.updates] == [2, 3, 4]

        swarm.set_load("apache", *LOW)
        wait(lambda: api.replicas("apache") == 1, 45, "scale back to 1 replica")
        fr.wait_log(r"INFO: apache set replicas=1", 5)
        assert [r for _, _, r in api.updates] == [2, 3, 4, 3, 2, 1]
        lines = [l.split(": ", 1)[1] for l in fr.log_lines() if "set replicas=" in l]
        assert lines == [f"apache set replicas={r}" for r in (2, 3, 4, 3, 2, 1)]

        # disabled again: load rises, nothing changes
        assert fr.curl("/script/elb.js/json?state=disabled") == '"disabled"'
        swarm.set_load("apache", *HIGH)
        n = polls_of(api)
        wait(lambda: polls_of(api) >= n + 4, 15, "four polls while disabled")
        assert api.replicas("apache") == 1 and len(api.updates) == 6
        assert not [l for l in fr.log_lines() if "SEVERE" in l or "cannot" in l], fr.tail()
