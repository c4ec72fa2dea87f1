"""http2() with mutual TLS (the seed's Docker API pattern: certs = folder of key.pem, cert.pem,
ca.pem) against a loopback HTTPS server that requires a client certificate."""

from __future__ import annotations

import json
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

import trustme

from conftest import RunningEngine


class Docker(BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def do_GET(self):
        peer = self.connection.getpeercert()
        cn = [v for rdn in peer.get("subject", ()) for k, v in rdn if k == "commonName"]
        body = json.dumps(
            [{"Spec": {"Name": "apache", "Mode": {"Replicated": {"Replicas": 2}}}, "client": cn}]
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def docker_api(tmp_path):
    ca = trustme.CA()
    server_cert = ca.issue_cert("127.0.0.1")
    client_cert = ca.issue_cert("flowrt-client", common_name="flowrt-client")
    certs = tmp_path / "tls"
    certs.mkdir()
    ca.cert_pem.write_to_path(str(certs / "ca.pem"))
    client_cert.private_key_pem.write_to_path(str(certs / "key.pem"))
    client_cert.cert_chain_pems[0].write_to_path(str(certs / "cert.pem"))
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_cert.configure_cert(ctx)
    ca.configure_trust(ctx)
    ctx.verify_mode = ssl.CERT_REQUIRED
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Docker)
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield f"https://127.0.0.1:{srv.server_address[1]}", certs
    srv.shutdown()
    srv.server_close()


def test_http2_mutual_tls(docker_api, tmp_path):
    url, certs = docker_api
    app = tmp_path / "home" / "apps" / "tls" / "scripts"
    app.mkdir(parents=True)
    (app / "tls.js").write_text(f"""
var certs = '{certs}/';
setHttpHandler(function (req) {{
  var ok = http2({{url: '{url}/services', certs: certs}});
  var plain = null;
  try {{ http2({{url: '{url}/services'}}); }} catch (e) {{ plain = String(e); }}
  return {{status: ok.status, services: JSON.parse(ok.body), plain: plain}};
}});
""")
    # the client certificates live outside the engine home: allowed by script.certs
    eng = RunningEngine({"script.certs": str(certs)}, home=tmp_path / "home").start()
    try:
        rt = eng.engine.subsystems["runtime"]
        eng.wait_for(lambda: rt.scripts["tls~tls.js"].started, 10)
        r = eng.get_json("/app/tls/scripts/tls.js/json")
        assert r["status"] == 200
        assert r["services"][0]["Spec"]["Name"] == "apache"
        assert r["services"][0]["client"] == ["flowrt-client"]
        assert r["plain"] and "Error" in r["plain"]  # without certs the server is not trusted
    finally:
        eng.stop()
