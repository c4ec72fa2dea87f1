"""The lab the blog scenarios run in (tests/lab/): its pieces on their own, so a scenario
failure points at flowrt rather than at the lab. Also: tests/seed holds the user's scripts
byte for byte."""

from __future__ import annotations

import json
import socket
import ssl
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from lab import influx, netns
from lab.certs import LabPKI
from lab.flowrt import (
    TLS_MOUNT,
    ensure_tls_mountpoint,
    private_command,
    remove_tls_mountpoint,
    write_hosts,
)
from lab.scenario import SEED
from lab.servers import BLOCK, COMPROMISED, BlockLists, DockerAPI, SwitchACL
from paths import SEED_SCRIPTS

SCRIPTS = ["elb.js", "emerging.js", "swarmmetrics.js", "bgp.js"]
SHARED_SEED = SEED_SCRIPTS

needs_lab = pytest.mark.skipif(netns.available() is not None, reason=str(netns.available()))


def test_seed_scripts_are_the_users_documents():
    for name in SCRIPTS:
        assert (SEED / name).is_file(), name
    assert "https://10.0.0.134:2376" in (SEED / "elb.js").read_text()
    assert "rules.emergingthreats.net" in (SEED / "emerging.js").read_text()
    if not SHARED_SEED.is_dir():
        pytest.skip(f"{SHARED_SEED} not beside this checkout")
    for name in SCRIPTS:
        assert (SEED / name).read_bytes() == (SHARED_SEED / name).read_bytes(), name


@pytest.fixture
def lab():
    with netns.Lab(["10.0.0.134", "10.0.0.50", "10.0.0.80", "10.0.0.21"]) as lab:
        yield lab


def _open(url, ctx=None, data=None, method=None):
    req = urllib.request.Request(url, data=data, method=method)
    opener = urllib.request.build_opener(
        urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=ctx)
    )
    try:
        with opener.open(req, timeout=5) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


@needs_lab
def test_namespaces_are_private_and_removed():
    lab = netns.Lab(["10.0.0.134", "10.0.0.50"]).start()
    try:
        names = netns.ip("netns", "list").stdout
        assert lab.flowrt_ns in names and lab.hosts_ns in names
        # the veth lives only inside the lab: no link of the machine leads into it
        host_links = netns.ip("-o", "-d", "link", "show").stdout
        assert lab.flowrt_ns not in host_links and lab.hosts_ns not in host_links
        inside = netns.ip("-n", lab.hosts_ns, "-o", "-d", "link", "show", "eth0").stdout
        assert "veth" in inside and lab.flowrt_ns in inside  # its peer is flowrt's eth0

        # flowrt's namespace reaches the lab hosts over the veth
        def connect():
            with socket.create_connection(("10.0.0.50", 9), timeout=2):
                pass

        with pytest.raises(ConnectionRefusedError):  # the host answered: RST, no listener
            lab.in_flowrt(connect)
        addrs = lab.in_flowrt(socket.gethostbyname, "localhost")
        assert addrs == "127.0.0.1"
    finally:
        lab.stop()
    names = netns.ip("netns", "list").stdout
    assert lab.flowrt_ns not in names and lab.hosts_ns not in names


@needs_lab
def test_docker_api_requires_the_client_certificate(lab, tmp_path):
    pki = LabPKI(tmp_path)
    tls = pki.tls_folder()
    assert {p.name for p in tls.iterdir()} == {"key.pem", "cert.pem", "ca.pem"}
    updates = []
    api = DockerAPI(
        lab.hosts_ns,
        ssl_context=pki.server_context("10.0.0.134", require_client_cert=True),
        on_update=lambda name, n: updates.append((name, n)),
    )
    svc = api.add_service("apache", 1)
    api.start()
    try:
        with_cert = pki.client_context(tls)
        status, body = lab.in_flowrt(_open, "https://10.0.0.134:2376/services/apache", with_cert)
        assert status == 200 and json.loads(body)["Spec"]["Mode"]["Replicated"]["Replicas"] == 1
        status, body = lab.in_flowrt(_open, "https://10.0.0.134:2376/services", with_cert)
        assert [s["Spec"]["Name"] for s in json.loads(body)] == ["apache"]
        with pytest.raises((urllib.error.URLError, ssl.SSLError, ConnectionError)):
            lab.in_flowrt(_open, "https://10.0.0.134:2376/services", pki.client_context())
        assert api.wait_tls_failures()

        spec = dict(svc["Spec"], Mode={"Replicated": {"Replicas": 3}})
        url = f"https://10.0.0.134:2376/v1.24/services/{svc['ID']}/update?version="
        stale = lab.in_flowrt(_open, url + "1", with_cert, json.dumps(spec).encode(), "POST")
        assert stale[0] == 500 and api.replicas("apache") == 1
        ok = lab.in_flowrt(_open, url + "11", with_cert, json.dumps(spec).encode(), "POST")
        assert ok[0] == 200 and api.replicas("apache") == 3 and updates == [("apache", 3)]
        assert lab.in_flowrt(_open, url + "11", with_cert, b"{}", "POST")[0] == 400
    finally:
        api.stop()


@needs_lab
def test_block_lists_and_switch_acl(lab, tmp_path):
    pki = LabPKI(tmp_path)
    lists = BlockLists(
        lab.hosts_ns,
        "10.0.0.80",
        pki.server_context("rules.emergingthreats.net"),
        ["203.0.113.66"],
        ["192.0.2.0/24"],
    ).start()
    acl = SwitchACL(lab.hosts_ns, "10.0.0.21").start()
    try:
        ctx = ssl.create_default_context(cafile=str(pki.ca_file))
        ctx.check_hostname = False  # no /etc/hosts entry here: fetch by address
        status, body = lab.in_flowrt(
            _open, COMPROMISED.replace("rules.emergingthreats.net", "10.0.0.80"), ctx
        )
        assert status == 200 and body == b"203.0.113.66\n"
        status, body = lab.in_flowrt(
            _open, BLOCK.replace("rules.emergingthreats.net", "10.0.0.80"), ctx
        )
        assert status == 200 and body.decode().splitlines()[-1] == "192.0.2.0/24"

        rules = ["[iptables]", "-A FORWARD -s 10.0.0.1 -j DROP"]
        put = lab.in_flowrt(
            _open, "http://10.0.0.21:8080/acl/emrg0", None, json.dumps(rules).encode(), "PUT"
        )
        assert put[0] == 200 and acl.acls == {"emrg0": rules}
        assert lab.in_flowrt(_open, "http://10.0.0.21:8080/acl/x", None, b"[1]", "PUT")[0] == 400
        assert json.loads(lab.in_flowrt(_open, "http://10.0.0.21:8080/acl")[1]) == ["emrg0"]
    finally:
        lists.stop()
        acl.stop()


@needs_lab
def test_tls_and_hosts_exist_only_for_the_command(lab, tmp_path):
    pki = LabPKI(tmp_path)
    tls = pki.tls_folder()
    hosts = write_hosts(tmp_path / "hosts", {"rules.emergingthreats.net": "10.0.0.80"})
    created = not TLS_MOUNT.exists()
    token = ensure_tls_mountpoint()
    try:
        argv, env = private_command(
            lab.flowrt_ns,
            [
                "sh",
                "-c",
                'cat /tls/cert.pem; getent hosts rules.emergingthreats.net; echo "$SSL_CERT_FILE"',
            ],
            tls=tls,
            hosts_file=hosts,
            ca_bundle=pki.ca_file,
        )
        out = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=30)
        assert out.returncode == 0, out.stderr
        assert (tls / "cert.pem").read_text() in out.stdout
        assert "10.0.0.80" in out.stdout and str(pki.ca_file) in out.stdout
        # the machine itself sees neither
        if created:
            assert not any(TLS_MOUNT.iterdir())
        assert "emergingthreats" not in Path("/etc/hosts").read_text()
    finally:
        remove_tls_mountpoint(token)
    if created and not list(Path("/run/flowrt-lab-tls").glob("user-*")):
        assert not TLS_MOUNT.exists()  # the last lab user removed the mount point it made


@needs_lab
@pytest.mark.skipif(influx.INFLUXD is None, reason="needs influxd (Debian package influxdb)")
def test_influxdb_in_the_lab(lab, tmp_path):
    db = influx.InfluxDB(lab.hosts_ns, tmp_path / "influx").start()
    try:
        db.create_database("docker")
        status, _ = lab.in_flowrt(
            _open,
            "http://10.0.0.50:8086/write?db=docker",
            None,
            b"swarm.services value=3\nreplicas_measured,service=apache value=2",
            "POST",
        )
        assert status == 204
        assert db.series("docker", "swarm.services")[0]["value"] == 3
        point = db.series("docker", "replicas_measured")[0]
        assert point["service"] == "apache" and point["value"] == 2
        assert sorted(db.measurements("docker")) == ["replicas_measured", "swarm.services"]
    finally:
        db.stop()
    assert db.proc.returncode is not None
