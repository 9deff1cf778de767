"""Issue 18, item 1: the service identity's credentials never travel with a user's token.

A kubeconfig whose user is a client certificate is odh-core's service identity. The API
server tries x509 before bearer tokens, so a request made with a user's token that also
presented that certificate would act as the certificate's identity. The upstream here is a
real TLS server that asks for client certificates (optional, as kube-apiserver does) and
records the one each request showed.
"""
from __future__ import annotations

import datetime as dt
import json
import ssl
from pathlib import Path
from typing import Any

import pytest
import tornado.web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from odh_core.kube import SERVICE_ACCOUNT
from odh_core.testing import LoopbackServer
from odh_sandbox.kube.tls import make_tls

USER_TOKEN = "user-token-of-alice"


def client_certificate(ca_dir: Path, common_name: str) -> tuple[str, str]:
    """A client certificate signed by the CA `make_tls` left in `ca_dir`."""
    ca_cert = x509.load_pem_x509_certificate((ca_dir / "ca.crt").read_bytes())
    ca_key: Any = serialization.load_pem_private_key((ca_dir / "ca.key").read_bytes(), None)
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name),
                                     x509.NameAttribute(NameOID.ORGANIZATION_NAME,
                                                        "system:masters")]))
            .issuer_name(ca_cert.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    cert_file, key_file = ca_dir / "client.crt", ca_dir / "client.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return str(cert_file), str(key_file)


class Recorder(tornado.web.RequestHandler):
    """Answers like a tiny API server and records (path, client cert CN, Authorization)."""

    def initialize(self, seen: list[tuple[str, str | None, str | None]]) -> None:
        self.seen = seen

    def _record(self) -> None:
        cert = self.request.get_ssl_certificate()
        cn = None
        if cert:
            cn = next(v for rdn in cert["subject"] for k, v in rdn if k == "commonName")
        self.seen.append((self.request.path, cn, self.request.headers.get("Authorization")))

    async def get(self, path: str) -> None:
        self._record()
        self.set_header("Content-Type", "application/json")
        if self.get_query_argument("watch", "") == "true":
            self.write(json.dumps({"type": "ADDED", "object": {"kind": "Namespace",
                                                                "metadata": {"name": "x"}}})
                       + "\n")
            self.finish()
            return
        self.finish(json.dumps({"kind": "NamespaceList", "apiVersion": "v1", "items": []}))

    def post(self, path: str) -> None:
        self._record()
        self.set_header("Content-Type", "application/json")
        self.set_status(201)
        if path.endswith("selfsubjectreviews"):
            self.finish(json.dumps({"kind": "SelfSubjectReview", "status": {"userInfo": {
                "username": "alice", "groups": ["system:authenticated"]}}}))
        else:  # access reviews: nobody is an admin here
            self.finish(json.dumps({"kind": "SelfSubjectAccessReview",
                                    "status": {"allowed": False}}))


@pytest.fixture
async def recording_apiserver(tmp_path: Path):
    files = make_tls(tmp_path / "pki")
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(files.cert_file, files.key_file)
    ctx.load_verify_locations(files.ca_file)
    ctx.verify_mode = ssl.CERT_OPTIONAL  # as kube-apiserver: x509 if shown, else bearer
    seen: list[tuple[str, str | None, str | None]] = []
    app = tornado.web.Application([(r"(/.*)", Recorder, {"seen": seen})])
    server = LoopbackServer(app, ssl_options=ctx)
    cert, key = client_certificate(tmp_path / "pki", "kubernetes-admin")
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "admin",
        "clusters": [{"name": "c", "cluster": {"server": f"https://127.0.0.1:{server.port}",
                                                "certificate-authority": files.ca_file}}],
        "users": [{"name": "admin", "user": {"client-certificate": cert,
                                              "client-key": key}}],
        "contexts": [{"name": "admin", "context": {"cluster": "c", "user": "admin"}}]}))
    async with server:
        yield {"kubeconfig": str(kubeconfig), "seen": seen}


@pytest.fixture
def odh_plugins():
    return ["k8s"]


@pytest.fixture
def odh_config(recording_apiserver):
    return {"kubernetes": {"kubeconfig": recording_apiserver["kubeconfig"]},
            "sandbox": {"mode": "off"}, "server": {"grace_period": 1}}


async def test_user_requests_never_carry_the_kubeconfig_client_certificate(
        odh_server, recording_apiserver):
    seen = recording_apiserver["seen"]
    auth = {"Authorization": f"Bearer {USER_TOKEN}"}
    resp = await odh_server.fetch("/api/k8s/api/v1/namespaces", headers=auth)
    assert resp.status == 200, resp.text
    resp = await odh_server.fetch("/api/k8s/api/v1/namespaces?watch=true", headers=auth)
    assert resp.status == 200, resp.text
    resp = await odh_server.fetch("/api/status", headers=auth)  # identity + admin review
    # (whatever /api/status answers here, it made its calls as the user)
    user_calls = [s for s in seen if s[2] == f"Bearer {USER_TOKEN}"]
    paths = {p for p, _, _ in user_calls}
    assert "/apis/authentication.k8s.io/v1/selfsubjectreviews" in paths
    assert "/api/v1/namespaces" in paths
    assert [s for s in user_calls if s[1] is not None] == []

    # The recorder does see the certificate when odh-core acts as its service identity:
    # the assertion above is about the user's requests, not a recorder that sees nothing.
    await odh_server.app.kube.get("/api/v1/namespaces", token=SERVICE_ACCOUNT)
    assert seen[-1][1] == "kubernetes-admin"
    assert seen[-1][2] is None
