"""host:<key>:<attribute>: hosts and containers learned from host sFlow (the generator's host
and container counters), looked up by MAC or IP in flow keys; the table's expiry with the
counters; and an app script in the style of pphaal/ovs-2015's status.js over real UDP."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from engine import props
from engine.core import Engine
from engine.hosts import HostRecord, HostTable
from engine.sflow.gen import Scenario, TrafficGenerator

JS = Path(__file__).parent / "js" / "hosts"


# -- the table ----------------------------------------------------------------------------------


def test_table_update_lookup_expire():
    t = HostTable()
    host = HostRecord(
        "10.0.0.1",
        "2.1",
        {"host_name": "vx0host", "os_name": "linux"},
        macs=("02:00:00:00:00:01", "020000000002"),
        addresses=("10.0.0.1",),
    )
    vm = HostRecord(
        "10.0.0.1", "3.1", {"vir_host_name": "apache.1.abc"}, macs=("06000000000a",), parent="2.1"
    )
    t.update(host)
    t.update(vm)
    assert t.attribute("020000000001", "host_name") == "vx0host"  # MAC spelt with colons above
    assert t.attribute("02:00:00:00:00:02", "os_name") == "linux"  # any spelling looks up
    assert t.attribute("10.0.0.1", "host_name") == "vx0host"
    assert t.attribute("06000000000A", "vir_host_name") == "apache.1.abc"
    assert t.attribute("06000000000A", "host_name") == "vx0host"  # the container's host answers
    assert t.attribute("06000000000A", "uuid") is None
    assert t.attribute("0600000000FF", "host_name") is None
    # a container that reports a MAC its host lists too is the more specific answer
    t.update(
        HostRecord(
            "10.0.0.1", "3.2", {"vir_host_name": "nginx.1.x"}, macs=("020000000002",), parent="2.1"
        )
    )
    t.update(
        HostRecord(
            "10.0.0.1", "2.1", dict(host.attributes), macs=host.macs, addresses=host.addresses
        )
    )
    assert t.attribute("020000000002", "vir_host_name") == "nginx.1.x"
    assert t.expire("10.0.0.1", "3.2") and not t.expire("10.0.0.1", "3.2")
    assert t.attribute("020000000002", "host_name") == "vx0host"  # the host's claim returns
    # a new record replaces the old one: addresses it no longer lists are forgotten
    t.update(
        HostRecord(
            "10.0.0.1", "2.1", {"host_name": "renamed"}, macs=("020000000001",), expires=100.0
        )
    )
    assert t.attribute("020000000002", "host_name") is None
    assert t.attribute("020000000001", "host_name") == "renamed"
    assert t.sweep(99.0) == 0 and t.sweep(101.0) == 1
    assert t.attribute("020000000001", "host_name") is None
    assert t.attribute("06000000000A", "host_name") is None  # parent gone, own name stays
    assert t.attribute("06000000000A", "vir_host_name") == "apache.1.abc"


def test_records_are_plain_and_round_trip():
    """What a worker process receives: a dict that rebuilds the same record."""
    r = HostRecord(
        "2001:db8::1",
        "3.7",
        {"vir_host_name": "c"},
        macs=("aa-bb-cc-dd-ee-ff",),
        addresses=("2001:DB8::1",),
        parent="2.1",
        expires=12.5,
    )
    d = r.to_dict()
    assert d == {
        "agent": "2001:db8::1",
        "dataSource": "3.7",
        "attributes": {"vir_host_name": "c"},
        "macs": ["AABBCCDDEEFF"],
        "addresses": ["2001:db8::1"],
        "parent": "2.1",
        "expires": 12.5,
    }
    other = HostTable()
    other.update(HostRecord.from_dict(d))
    assert other.attribute("AABBCCDDEEFF", "vir_host_name") == "c"
    assert other.attribute("2001:db8::1", "vir_host_name") == "c"


# -- learned from the generator's host counters -------------------------------------------------


def _engine():
    return Engine(props.Properties(dict(props.DEFAULTS)))


def _feed(eng, gen, seconds):
    for _ in range(int(seconds)):
        for dg in gen.step(1.0):
            eng.ingest(dg, "127.0.0.1", gen.now)


def test_learned_from_host_and_container_counters():
    gen = TrafficGenerator(
        Scenario(
            agents=2,
            hosts=True,
            containers=3,
            container_flows=True,
            polling_interval=1.0,
            samples_per_second=50,
            flows=6,
            seed=4,
            start_time=time.time(),
        )
    )
    eng = _engine()
    _feed(eng, gen, 3)
    table = eng.subsystems["hosts"].table
    assert len(table) == 2 * (1 + 3)  # each host and its containers
    for number, agent in enumerate(gen.agents):
        port_mac = f"02{number:04x}{1:06x}".upper()  # host adapter of port 1
        assert table.attribute(port_mac, "host_name") == f"vx{number}host"
        assert table.attribute(agent.address, "host_name") == f"vx{number}host"
        assert table.attribute(port_mac, "machine_type") == "x86_64"
        assert table.attribute(port_mac, "os_release") == "6.1.0-flowrt"
        for c in agent.containers:
            assert table.attribute(c.mac.upper(), "vir_host_name") == c.name
            assert table.attribute(c.mac.upper(), "host_name") == f"vx{number}host"
            assert table.attribute(c.mac.upper(), "vir_os_name") == "linux"
    # a flow keyed by container names: every generated flow runs between two containers
    fe = eng.subsystems["flows"]
    fe.set_flow(
        "docker",
        {
            "keys": "host:macsource:vir_host_name,host:macdestination:vir_host_name",
            "value": "frames",
            "t": 1,
        },
    )
    _feed(eng, gen, 3)
    keys = {f["key"] for f in fe.active_flows("ALL", "docker", 100, now=gen.now)}
    names = {a.address: [c.name for c in a.containers] for a in gen.agents}
    want = set()
    for a in gen.agents:
        n = len(a.containers)
        for f in a.flows:
            want.add(f"{names[a.address][f.index % n]},{names[a.address][(f.index + 1) % n]}")
    assert keys == want


def test_records_expire_when_counters_stop():
    """A container that stops reporting is forgotten when its data source expires; a host that
    stops altogether too, even when no counter sample arrives any more."""
    gen = TrafficGenerator(
        Scenario(
            agents=2,
            hosts=True,
            containers=2,
            polling_interval=1.0,
            samples_per_second=5,
            flows=2,
            seed=5,
            start_time=time.time(),
        )
    )
    eng = _engine()
    _feed(eng, gen, 3)
    table = eng.subsystems["hosts"].table
    gone = gen.agents[0].containers.pop()
    assert table.attribute(gone.mac.upper(), "vir_host_name") == gone.name
    _feed(eng, gen, 8)  # 3 missed polls + 1 s, and the sweep
    assert table.attribute(gone.mac.upper(), "vir_host_name") is None
    kept = gen.agents[0].containers[0]
    assert table.attribute(kept.mac.upper(), "vir_host_name") == kept.name
    assert len(table) == 2 * 3 - 1
    # everything stops: the records go by time alone
    n = len(table)
    assert table.sweep(gen.now + 2.9) == 0  # 3 polls of 1 s + 1 s after the last one
    assert table.sweep(gen.now + 5.1) == n and len(table) == 0


def test_definition_time_errors():
    eng = _engine()
    fe = eng.subsystems["flows"]
    fe.set_flow("ok", {"keys": "host:macsource:host_name", "value": "bytes"})
    for keys in ("host:macsource", "host:macsource:host_name:x", "host:macsource:Bad-Name!"):
        with pytest.raises(ValueError, match="host:"):
            fe.set_flow("bad", {"keys": keys, "value": "bytes"})


# -- an app script over real UDP ----------------------------------------------------------------


@pytest.fixture(scope="module")
def ovs(tmp_path_factory):
    from conftest import RunningEngine

    home = tmp_path_factory.mktemp("home")
    shutil.copytree(JS, home / "apps" / "hosts")
    eng = RunningEngine({}, home=home).start()
    eng.wait_for(
        lambda: all(s.started for s in eng.engine.subsystems["runtime"].scripts.values()), 20
    )
    gen = TrafficGenerator(
        Scenario(
            agents=2,
            hosts=True,
            containers=3,
            container_flows=True,
            polling_interval=1.0,
            samples_per_second=200,
            flows=6,
            seed=8,
        )
    )
    host0 = gen.agents[0]
    gen.own = host0.add_flow(
        src=host0.address,
        dst="10.2.0.9",
        proto="tcp",
        sport=40000,
        dport=443,
        frames_per_second=20000,
    )
    for _ in range(4):
        eng.wait_datagrams(eng.engine.stats.datagrams + eng.send_paced(gen.step(1.0)))
    yield eng, gen
    eng.stop()


def test_ovs_style_script(ovs):
    eng, gen = ovs
    scripts = eng.get_json("/scripts/json")
    assert scripts["hosts~ovs.js"]["alive"], scripts
    flows = eng.wait_for(
        lambda: (lambda f: f if f["byip"] and f["docker"] else None)(
            eng.get_json("/app/hosts/scripts/ovs.js/flows/json")
        )
    )
    names = {c.name for a in gen.agents for c in a.containers}
    assert flows["docker"]
    for key in flows["docker"]:
        src, dst, ipsrc, ipdst = key.split("_SEP_")
        assert src in names and dst in names and ipsrc.startswith("10.1.")
    assert set(flows["servers"]) == {"vx0host,linux", "vx1host,linux"}
    assert flows["byip"] == ["vx0host,x86_64"]
    assert flows["unknown"] == ["outside"]
    rows = eng.get_json("/app/hosts/scripts/ovs.js/containers/json")
    assert len(rows) == 4 and all(name in names and cpu >= 0 for name, cpu in rows)


def test_host_keys_accepted_at_definition(ovs):
    """sFlow-RT accepts a flow keyed by host:macsource:host_name (204), and so does flowrt;
    a malformed host: key is 400 with the reason."""
    eng, _ = ovs
    assert (
        eng.request(
            "PUT", "/flow/hostkeys/json", {"keys": "host:macsource:host_name", "value": "bytes"}
        )[0]
        == 204
    )
    status, body = eng.request(
        "PUT", "/flow/badhost/json", {"keys": "host:macsource", "value": "bytes"}
    )
    assert status == 400 and "host:" in body["error"]
    assert eng.request("DELETE", "/flow/hostkeys/json")[0] == 204
