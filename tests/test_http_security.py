"""Opt-in HTTPS and access control for the REST API and UI (docs/security.md), with real
clients (curl, urllib, aiohttp) against a certificate the test makes (trustme), and the HTTP
connection counters of /analyzer/json (issue 14 item 12)."""

from __future__ import annotations

import asyncio
import base64
import json
import shutil
import socket
import ssl
import subprocess
import urllib.error
import urllib.request

import aiohttp
import pytest
import trustme

from conftest import free_port
from test_start import start_engine, stop_engine

TOKEN = "s3cret-token-for-tests"
CURL = shutil.which("curl")


@pytest.fixture(scope="module")
def ca():
    return trustme.CA()


@pytest.fixture
def pem(ca, tmp_path):
    """(certificate chain file, key file, CA file) for 127.0.0.1 and localhost."""
    cert = ca.issue_cert("127.0.0.1", "localhost")
    chain, key, cafile = tmp_path / "server.pem", tmp_path / "server.key", tmp_path / "ca.pem"
    cert.private_key_pem.write_to_path(str(key))
    chain.write_bytes(b"".join(blob.bytes() for blob in cert.cert_chain_pems))
    ca.cert_pem.write_to_path(str(cafile))
    return chain, key, cafile


def fetch(url, cafile=None, headers=None, method="GET", body=None):
    """(status, body text, response headers) with urllib; error statuses returned."""
    ctx = ssl.create_default_context(cafile=str(cafile)) if cafile else None
    req = urllib.request.Request(
        url,
        headers=headers or {},
        method=method,
        data=None if body is None else json.dumps(body).encode(),
    )
    if body is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=10, context=ctx) as r:
            return r.status, r.read().decode(), dict(r.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(), dict(exc.headers)


def curl(*args) -> tuple[int, str]:
    """curl's HTTP status and body."""
    out = subprocess.run(
        [CURL, "-sS", "-o", "-", "-w", "\n%{http_code}", *args],
        capture_output=True,
        text=True,
        timeout=30,
    )
    body, _, code = out.stdout.rpartition("\n")
    return int(code or 0), body


def basic(user, password) -> dict:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def test_https_with_a_real_certificate(make_engine, pem):
    chain, key, cafile = pem
    eng = make_engine({"http.tls.certificate": str(chain), "http.tls.key": str(key)})
    base = eng.http_url
    assert base.startswith("https://")
    status, text, _ = fetch(base + "/version", cafile)
    assert status == 200 and text
    # the certificate is checked: without the CA the client refuses
    with pytest.raises(urllib.error.URLError):
        fetch(base + "/version")
    # plain HTTP on the HTTPS port gets nothing useful
    with pytest.raises((urllib.error.URLError, ConnectionError, http_client_errors())):
        fetch(base.replace("https://", "http://") + "/version")
    if CURL:
        code, body = curl("--cacert", str(cafile), base + "/analyzer/json")
        assert code == 200 and "sFlowAgents" in json.loads(body)
        code, _ = curl(base + "/version")  # no CA: curl refuses too
        assert code == 0

    async def with_aiohttp():
        ctx = ssl.create_default_context(cafile=str(cafile))
        async with aiohttp.ClientSession() as session:
            async with session.put(
                base + "/flow/tls/json", json={"keys": "ipsource"}, ssl=ctx
            ) as r:
                assert r.status == 204
            async with session.get(base + "/flow/tls/json", ssl=ctx) as r:
                assert (await r.json())["keys"] == "ipsource"

    asyncio.run(with_aiohttp())


def http_client_errors():
    import http.client

    return http.client.HTTPException


SELF_CALLS = """
setHttpHandler(function (req) {
  // relative URLs reach this engine whatever http.tls.* and http.auth.* say
  return {agents: JSON.parse(http('/analyzer/json')).sFlowAgents,
          flow: JSON.parse(http2({url: '/flow/json'}).body)};
});
"""


def test_token_and_basic_auth(make_engine, pem, tmp_path):
    chain, key, cafile = pem
    (tmp_path / "self.js").write_text(SELF_CALLS)
    eng = make_engine(
        {
            "http.tls.certificate": str(chain),
            "http.tls.key": str(key),
            "http.auth.token": TOKEN,
            "http.auth.user": "admin",
            "http.auth.password": "pa:ss word",
            "script.file": "self.js",
        }
    )
    base = eng.http_url
    status, text, headers = fetch(base + "/analyzer/json", cafile)
    assert status == 401 and json.loads(text)["error"] == "authentication required"
    assert headers["WWW-Authenticate"].startswith("Basic realm=")
    for good in (
        {"Authorization": f"Bearer {TOKEN}"},
        basic("anyone", TOKEN),
        basic("admin", "pa:ss word"),
    ):
        assert fetch(base + "/analyzer/json", cafile, good)[0] == 200, good
    for bad in (
        {"Authorization": "Bearer nope"},
        basic("admin", "wrong"),
        basic("other", "pa:ss word"),
        {"Authorization": "Basic !!!"},
        {"Authorization": f"Token {TOKEN}"},
        {"X-Flowrt-Internal": "guess"},
    ):
        assert fetch(base + "/analyzer/json", cafile, bad)[0] == 401, bad
    # every route: REST changes, the UI, scripts
    for path in ("/html/index.html", "/flow/json", "/script/self.js/x/json", "/api-docs"):
        assert fetch(base + path, cafile)[0] == 401, path
    assert fetch(base + "/flow/x/json", cafile, method="PUT", body={"keys": "ipsource"})[0] == 401
    assert (
        fetch(
            base + "/flow/x/json",
            cafile,
            {"Authorization": f"Bearer {TOKEN}"},
            method="PUT",
            body={"keys": "ipsource"},
        )[0]
        == 204
    )
    if CURL:
        assert curl("--cacert", str(cafile), "-u", "admin:pa:ss word", base + "/version")[0] == 200
        assert (
            curl(
                "--cacert",
                str(cafile),
                "-H",
                f"Authorization: Bearer {TOKEN}",
                base + "/prometheus/analyzer/txt",
            )[0]
            == 200
        )
        assert curl("--cacert", str(cafile), base + "/version")[0] == 401
    # the script's own calls to the engine get in, over HTTPS, without credentials
    rt = eng.engine.subsystems["runtime"]
    eng.wait_for(lambda: rt.scripts["self.js"].started, 20)
    status, text, _ = fetch(base + "/script/self.js/x/json", cafile, basic("admin", "pa:ss word"))
    assert status == 200 and json.loads(text) == {
        "agents": 0,
        "flow": {
            "x": json.loads(fetch(base + "/flow/x/json", cafile, basic("admin", "pa:ss word"))[1])
        },
    }


def test_anonymous_read(make_engine):
    eng = make_engine({"http.auth.token": TOKEN, "http.auth.anonymous": "read"})
    base = eng.http_url
    for path in (
        "/analyzer/json",
        "/flow/json",
        "/html/index.html",
        "/metrics/json",
        "/app/none/html/",
    ):
        assert fetch(base + path)[0] in (200, 404), path
    # changes need credentials, and so do script handlers (a GET may act there)
    assert fetch(base + "/flow/x/json", method="PUT", body={"keys": "ipsource"})[0] == 401
    assert fetch(base + "/flow/x/json", method="DELETE")[0] == 401
    assert fetch(base + "/script/any.js/x/json")[0] == 401
    assert fetch(base + "/app/any/scripts/s.js/x/json")[0] == 401
    assert (
        fetch(
            base + "/flow/x/json",
            headers={"Authorization": f"Bearer {TOKEN}"},
            method="PUT",
            body={"keys": "ipsource"},
        )[0]
        == 204
    )


def test_readonly_still_applies_with_credentials(make_engine):
    eng = make_engine({"http.auth.token": TOKEN, "http.readonly": "yes"})
    status, text, _ = fetch(
        eng.http_url + "/flow/x/json",
        headers={"Authorization": f"Bearer {TOKEN}"},
        method="PUT",
        body={"keys": "ipsource"},
    )
    assert status == 403 and "http.readonly" in json.loads(text)["error"]


@pytest.mark.parametrize(
    "props, message",
    [
        ({"http.tls.certificate": "nosuch.pem"}, "both http.tls.certificate and http.tls.key"),
        ({"http.tls.certificate": "nosuch.pem", "http.tls.key": "nosuch.key"}, "cannot load"),
        ({"http.auth.user": "admin"}, "http.auth.user needs http.auth.password"),
        ({"http.auth.token": "x", "http.auth.anonymous": "all"}, "http.auth.anonymous"),
    ],
)
def test_bad_security_properties_stop_the_start(tmp_path, props, message):
    http = free_port("tcp")
    args = [f"-Dhttp.port={http}", f"-Dsflow.port={free_port('udp')}", "-Dhttp.hostname=127.0.0.1"]
    args += [f"-D{k}={v}" for k, v in props.items()]
    import os
    import subprocess as sp

    env = dict(os.environ, FLOWRT_HOME=str(tmp_path))
    env.pop("RTPROP", None)
    from conftest import REPO

    out = sp.run(
        [str(REPO / "start.sh"), *args], env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 1, out.stdout[-2000:]
    assert "SEVERE: cannot start" in out.stdout and message in out.stdout, out.stdout[-2000:]


def test_start_sh_serves_https(tmp_path, pem):
    chain, key, cafile = pem
    http = free_port("tcp")
    proc, lines = start_engine(
        tmp_path,
        [
            f"-Dhttp.port={http}",
            f"-Dsflow.port={free_port('udp')}",
            "-Dhttp.hostname=127.0.0.1",
            f"-Dhttp.tls.certificate={chain}",
            f"-Dhttp.tls.key={key}",
            f"-Dhttp.auth.token={TOKEN}",
        ],
    )
    try:
        assert any(l.endswith(f"Listening, HTTP port {http} (HTTPS)") for l in lines), lines
        assert not any("clear text" in l for l in lines)
        status, _, _ = fetch(
            f"https://localhost:{http}/version", cafile, {"Authorization": f"Bearer {TOKEN}"}
        )
        assert status == 200
    finally:
        assert stop_engine(proc) == 0


def test_credentials_without_tls_are_warned_about(tmp_path):
    http = free_port("tcp")
    proc, lines = start_engine(
        tmp_path,
        [
            f"-Dhttp.port={http}",
            f"-Dsflow.port={free_port('udp')}",
            "-Dhttp.hostname=127.0.0.1",
            f"-Dhttp.auth.token={TOKEN}",
        ],
    )
    try:
        assert any("WARNING" in l and "clear text" in l for l in lines), lines
    finally:
        stop_engine(proc)


def test_http_connection_counters(make_engine):
    """Item 12: httpConnectionsCurrent / httpConnectionsTotal count TCP connections for real
    (/analyzer/json, /prometheus/analyzer/txt; the status page shows them)."""
    eng = make_engine()
    a0 = eng.get_json("/analyzer/json")
    socks = []
    for _ in range(5):  # five keep-alive connections, each with one request
        s = socket.create_connection(("127.0.0.1", eng.http_port))
        s.sendall(b"GET /version HTTP/1.1\r\nHost: x\r\n\r\n")
        assert b"200" in s.recv(4096)
        socks.append(s)
    a1 = eng.get_json("/analyzer/json")
    assert a1["httpConnectionsCurrent"] >= 6  # five open plus this request's own
    assert a1["httpConnectionsTotal"] >= a0["httpConnectionsTotal"] + 6
    for s in socks:
        s.close()
    eng.wait_for(lambda: eng.get_json("/analyzer/json")["httpConnectionsCurrent"] <= 2)
    a2 = eng.get_json("/analyzer/json")
    assert a2["httpConnectionsTotal"] >= a1["httpConnectionsTotal"] + 1
    with urllib.request.urlopen(eng.http_url + "/prometheus/analyzer/txt", timeout=10) as r:
        text = r.read().decode()
    total = [l for l in text.splitlines() if l.startswith("sflow_analyzer_http_connections_total ")]
    assert total and int(float(total[0].split()[1])) >= a2["httpConnectionsTotal"]
