"""Certificates for the lab, from a CA made for the test run (trustme).

- Docker API (elb.js, swarmmetrics.js): a server certificate for IP 10.0.0.134 and a client
  certificate; flowrt finds key.pem, cert.pem and ca.pem in /tls/ (Docker's layout, the
  scripts' ``certs:'/tls/'``). The server requires the client certificate.
- Block lists (emerging.js): a server certificate for rules.emergingthreats.net; flowrt
  trusts the test CA through SSL_CERT_FILE (a PEM bundle holding the CA).
"""

from __future__ import annotations

import ssl
from pathlib import Path

import trustme


class LabPKI:
    def __init__(self, folder: Path):
        self.dir = Path(folder)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.ca = trustme.CA(organization_name="flowrt lab CA")
        self.ca_file = self.dir / "lab-ca.pem"
        self.ca.cert_pem.write_to_path(str(self.ca_file))

    def tls_folder(self, name: str = "tls") -> Path:
        """A folder with Docker's client files: key.pem, cert.pem, ca.pem."""
        folder = self.dir / name
        folder.mkdir(exist_ok=True)
        client = self.ca.issue_cert("flowrt-docker-client")
        client.private_key_pem.write_to_path(str(folder / "key.pem"))
        client.cert_chain_pems[0].write_to_path(str(folder / "cert.pem"))
        self.ca.cert_pem.write_to_path(str(folder / "ca.pem"))
        return folder

    def server_context(self, *identities: str, require_client_cert: bool = False) -> ssl.SSLContext:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.ca.issue_cert(*identities).configure_cert(ctx)
        if require_client_cert:
            self.ca.configure_trust(ctx)
            ctx.verify_mode = ssl.CERT_REQUIRED
        return ctx

    def client_context(self, tls: Path | None = None) -> ssl.SSLContext:
        """What a Docker client with the /tls/ files uses (for the lab's self-tests)."""
        ctx = ssl.create_default_context(cafile=str(self.ca_file))
        if tls is not None:
            ctx.load_cert_chain(str(tls / "cert.pem"), str(tls / "key.pem"))
        return ctx
